//! What the control-plane models state about themselves, as typed facts (see `engine::fact`).

use serde::Serialize;

use crate::engine::{Fact, fact_json};

/// A leader-election candidate started or stopped leading `lease`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaderChange {
    /// The Lease (`kube-scheduler`, `kube-controller-manager`).
    pub lease: String,
    /// The candidate's identity (`holderIdentity`).
    pub identity: String,
    /// Whether it leads from now on.
    pub leading: bool,
}

impl Fact for LeaderChange {
    fn kind(&self) -> &'static str {
        "kube/leader"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The node lifecycle controller (in the controller-manager leader) set `node`'s Ready
/// condition: `true` when its lease renews, `false` (Unknown) when the grace period passed
/// without a renewal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeReady {
    /// The node.
    pub node: String,
    /// Ready (true) or Unknown (false).
    pub ready: bool,
}

impl Fact for NodeReady {
    fn kind(&self) -> &'static str {
        "kube/node-ready"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The node controller added or removed one of its taints on `node`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeTaint {
    /// The node.
    pub node: String,
    /// The taint's key (`node.kubernetes.io/unreachable`, `.../not-ready`).
    pub key: &'static str,
    /// `NoSchedule` or `NoExecute`.
    pub effect: &'static str,
    /// Added (true) or removed.
    pub added: bool,
}

impl Fact for NodeTaint {
    fn kind(&self) -> &'static str {
        "kube/node-taint"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The node controller marked `pod` not Ready because its node stopped being Ready
/// (`MarkPodsNotReady`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodNotReady {
    /// `namespace/name`.
    pub pod: String,
    /// Its node.
    pub node: String,
}

impl Fact for PodNotReady {
    fn kind(&self) -> &'static str {
        "kube/pod-not-ready"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The taint eviction controller deleted `pod`: its node's NoExecute taint outlasted the
/// pod's toleration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodEvicted {
    /// `namespace/name`.
    pub pod: String,
    /// Its node.
    pub node: String,
}

impl Fact for PodEvicted {
    fn kind(&self) -> &'static str {
        "kube/pod-evicted"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The node controller's verdict on a zone changed (`ComputeZoneState`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneDisruption {
    /// The zone key (empty: nodes without zone labels).
    pub zone: String,
    /// `Normal`, `PartialDisruption` or `FullDisruption`.
    pub state: &'static str,
    /// The NoExecute tainting rate now in force there, per second.
    pub eviction_qps: f64,
}

impl Fact for ZoneDisruption {
    fn kind(&self) -> &'static str {
        "kube/zone-disruption"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// An apiserver's `/readyz` answer changed (or it gave its first): 200 is ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiserverReady {
    /// Its host.
    pub host: String,
    /// `/readyz` answered 200.
    pub ready: bool,
}

impl Fact for ApiserverReady {
    fn kind(&self) -> &'static str {
        "kube/apiserver-ready"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// A pod was created that no node takes (`PodScheduled=False`, reason `Unschedulable`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodPending {
    /// `namespace/name`.
    pub pod: String,
    /// The FailedScheduling message.
    pub message: String,
}

impl Fact for PodPending {
    fn kind(&self) -> &'static str {
        "kube/pod-pending"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// A workload controller created `pod` (a replica, or a replacement).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodCreated {
    /// `namespace/name`.
    pub pod: String,
    /// The workload.
    pub workload: String,
}

impl Fact for PodCreated {
    fn kind(&self) -> &'static str {
        "kube/pod-created"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The scheduler bound `pod` to `node`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodScheduled {
    /// `namespace/name`.
    pub pod: String,
    /// The node.
    pub node: String,
}

impl Fact for PodScheduled {
    fn kind(&self) -> &'static str {
        "kube/pod-scheduled"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// `pod`'s kubelet reported it Ready (its containers run and its readiness probe passed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodReady {
    /// `namespace/name`.
    pub pod: String,
    /// Its workload.
    pub workload: String,
    /// The node.
    pub node: String,
}

impl Fact for PodReady {
    fn kind(&self) -> &'static str {
        "kube/pod-ready"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// `pod`'s kubelet found its containers gone after the host rebooted and reported it not
/// Ready; it starts them again (a new sandbox) and reports Ready once they pass readiness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodRestarting {
    /// `namespace/name`.
    pub pod: String,
    /// The node.
    pub node: String,
}

impl Fact for PodRestarting {
    fn kind(&self) -> &'static str {
        "kube/pod-restarting"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// `pod`'s object is gone: its kubelet stopped its containers after the deletion and removed
/// it (a node that never comes back never does this).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodGone {
    /// `namespace/name`.
    pub pod: String,
    /// The node.
    pub node: String,
}

impl Fact for PodGone {
    fn kind(&self) -> &'static str {
        "kube/pod-gone"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// `node`'s kube-proxy rewrote `service`'s rules: they now send to `endpoints` (pods,
/// `namespace/name`; none: the Service rejects on that node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyRules {
    /// The node.
    pub node: String,
    /// The Service, `namespace/name`.
    pub service: String,
    /// The pods its rules send to.
    pub endpoints: Vec<String>,
}

impl Fact for ProxyRules {
    fn kind(&self) -> &'static str {
        "kube/proxy-rules"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// `kubectl drain` cordoned `node` (or uncordon lifted it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeCordoned {
    /// The node.
    pub node: String,
    /// Cordoned (true) or uncordoned.
    pub cordoned: bool,
}

impl Fact for NodeCordoned {
    fn kind(&self) -> &'static str {
        "kube/node-cordoned"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The Eviction API granted the voluntary eviction of `pod` (a drain's): stated by the
/// apiserver once the eviction is written, with what its read saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EvictionGranted {
    /// `namespace/name`.
    pub pod: String,
    /// Its workload.
    pub workload: String,
    /// The evicted pod was Ready.
    pub was_ready: bool,
    /// The workload's Ready pods not being deleted in the same read, the evicted one included.
    pub ready_before: u32,
    /// The PodDisruptionBudgets selecting it in that read.
    pub budgets: u32,
}

impl Fact for EvictionGranted {
    fn kind(&self) -> &'static str {
        "kube/eviction-granted"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// A drain of `node` cannot evict `pod`: the Eviction API's answer, as `kubectl drain`
/// prints it before it retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DrainBlocked {
    /// The node being drained.
    pub node: String,
    /// `namespace/name`.
    pub pod: String,
    /// Why.
    pub message: String,
}

impl Fact for DrainBlocked {
    fn kind(&self) -> &'static str {
        "kube/drain-blocked"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// A drain of `node` finished: every pod it evicted is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DrainDone {
    /// The node.
    pub node: String,
    /// Pods evicted.
    pub pods: u32,
}

impl Fact for DrainDone {
    fn kind(&self) -> &'static str {
        "kube/drain-done"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The pod garbage collector deleted `pod` for good: it was Terminating on an out-of-service
/// node that is not Ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodForceDeleted {
    /// `namespace/name`.
    pub pod: String,
    /// The node.
    pub node: String,
}

impl Fact for PodForceDeleted {
    fn kind(&self) -> &'static str {
        "kube/pod-force-deleted"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The operator set or removed `node`'s out-of-service taint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeOutOfService {
    /// The node.
    pub node: String,
    /// Tainted (true) or untainted.
    pub out_of_service: bool,
}

impl Fact for NodeOutOfService {
    fn kind(&self) -> &'static str {
        "kube/node-out-of-service"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}
