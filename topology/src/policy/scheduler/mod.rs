//! kube-scheduler's default profile as a pure function: which node a pod goes to, or why it
//! stays Pending, in the words `kubectl describe` prints (read from kube-scheduler
//! v1.31.8-v1.34.1, `pkg/scheduler`).
//!
//! [`schedule`] runs the filters in the default profile's order, each node keeping the
//! reasons of the first plugin that rejects it ([`filters`]); if one node passes it is taken
//! without scoring, as upstream does; otherwise every node that passed is scored by the
//! default score plugins with their weights ([`scores`]) and the highest total wins.
//!
//! Like upstream, a cycle reads an indexed [`Snapshot`] of the cluster (per node its pods'
//! count, requests and host ports) and counts the placed pods a pod's spread constraints and
//! anti-affinity terms care about once ([`prefilter`], and the same in [`scores`]), so each
//! node then costs a few lookups: O(nodes + placed) per pod, where rescanning every placed
//! pod per node made large clusters quadratic or worse (`benches/scheduler.rs` has the
//! figures). The test-only `reference` module keeps the straightforward version, which a
//! proptest (`equivalence`) compares this one with.
//!
//! One deliberate difference: upstream picks uniformly at random among nodes tied on the
//! highest total (`selectHost`'s reservoir sampling). A simulator must be deterministic, so
//! here the first tied node in the order the nodes are given wins.
//!
//! Modelled: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity (nodeSelector),
//! NodePorts, NodeResourcesFit (LeastAllocated), PodTopologySpread (explicit constraints and
//! the system defaults), InterPodAffinity (anti-affinity, required and preferred, on any
//! topology key) and NodeResourcesBalancedAllocation. ImageLocality scores 0 everywhere
//! (no image sizes are known). ReadWriteOnce volumes are not the scheduler's business
//! upstream (only ReadWriteOncePod is); a second node's attach fails later, at the
//! attach/detach controller. Every pod has the same priority, so preemption never helps.

pub mod cluster;
mod fast_hash;
mod filters;
mod prefilter;
mod scores;
mod snapshot;

use std::collections::BTreeMap;

pub use filters::Rejection;
pub use snapshot::Snapshot;

/// `kubernetes.io/hostname`.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// `topology.kubernetes.io/zone`.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// kubeadm's control-plane taint.
pub const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";
/// The taint a cordoned node carries (`node.kubernetes.io/unschedulable`).
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
/// The taint an operator puts on a node known to be down (`node.kubernetes.io/out-of-service`,
/// NoExecute), with the value the Kubernetes docs use.
pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";
/// The value of [`OUT_OF_SERVICE_TAINT`] in the docs' example.
pub const OUT_OF_SERVICE_VALUE: &str = "nodeshutdown";
/// The kubelet's default `maxPods`.
pub const DEFAULT_MAX_PODS: u32 = 110;
/// `DefaultMilliCPURequest`: what scoring counts for a container without a CPU request.
pub const DEFAULT_MILLI_CPU_REQUEST: u64 = 100;
/// `DefaultMemoryRequest` (200 MiB): the same for memory.
pub const DEFAULT_MEMORY_REQUEST: u64 = 200 * 1024 * 1024;

/// A taint's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaintEffect {
    /// Not scheduled there.
    NoSchedule,
    /// Scheduled there only if nowhere better.
    PreferNoSchedule,
    /// Not scheduled there, and evicted.
    NoExecute,
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (often empty).
    pub value: String,
    /// Effect.
    pub effect: TaintEffect,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    /// The key it matches; `None` with `Exists` matches every key.
    pub key: Option<String>,
    /// `Some(v)`: operator `Equal` with value `v`; `None`: operator `Exists`.
    pub value: Option<String>,
    /// The effect it matches; `None` matches every effect.
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    /// `Toleration.ToleratesTaint`.
    pub fn tolerates(&self, t: &Taint) -> bool {
        self.effect.is_none_or(|e| e == t.effect)
            && self.key.as_ref().is_none_or(|k| *k == t.key)
            && self.value.as_ref().is_none_or(|v| *v == t.value)
    }

    /// Tolerates `key` with `effect`, whatever its value.
    pub fn exists(key: &str, effect: TaintEffect) -> Self {
        Toleration {
            key: Some(key.to_owned()),
            value: None,
            effect: Some(effect),
        }
    }
}

/// CPU and memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Millicores.
    pub milli_cpu: u64,
    /// Bytes.
    pub memory: u64,
}

impl Resources {
    /// Both sums, saturating (requests come from the file).
    pub fn saturating_add(self, other: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_add(other.milli_cpu),
            memory: self.memory.saturating_add(other.memory),
        }
    }
}

/// A node as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// Its labels (including `kubernetes.io/hostname`).
    pub labels: BTreeMap<String, String>,
    /// `status.allocatable` CPU and memory.
    pub allocatable: Resources,
    /// `status.allocatable.pods`.
    pub max_pods: u32,
    /// `spec.taints`, in order.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
}

/// How a spread or anti-affinity rule binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strength {
    /// A filter: nodes breaking it are not feasible.
    Required,
    /// A score: nodes breaking it rank lower.
    Preferred {
        /// The term's weight (1-100).
        weight: i64,
    },
}

/// A pod anti-affinity term: no pod matching `selector` (in the pod's namespace) in the same
/// `topology_key` domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntiAffinityTerm {
    /// Labels the other pods must all have to count.
    pub selector: BTreeMap<String, String>,
    /// The domain's label (usually `kubernetes.io/hostname`).
    pub topology_key: String,
    /// Required or preferred.
    pub strength: Strength,
}

/// A topology spread constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpreadConstraint {
    /// `maxSkew`.
    pub max_skew: u32,
    /// `topologyKey`.
    pub topology_key: String,
    /// `DoNotSchedule` (required) or `ScheduleAnyway` (scored; the weight is unused).
    pub required: bool,
    /// `labelSelector`.
    pub selector: BTreeMap<String, String>,
    /// `nodeTaintsPolicy: Honor`: nodes whose taints the pod does not tolerate are no
    /// domains. Upstream's default is `Ignore`, under which a tainted control-plane node is
    /// an empty domain that a hard constraint must keep within `maxSkew` of.
    pub honor_taints: bool,
}

/// A pod to place, or one already placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The selector of its controller (ReplicaSet, StatefulSet) and of the Services that
    /// select it: what the default spread constraints count. Empty for a DaemonSet pod or a
    /// bare pod.
    pub owner_selector: BTreeMap<String, String>,
    /// Its one container's CPU request, `None` when it sets none.
    pub cpu_request: Option<u64>,
    /// Its one container's memory request in bytes, `None` when it sets none.
    pub memory_request: Option<u64>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// `spec.nodeName` set before scheduling.
    pub node_name: Option<String>,
    /// `spec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// Host ports (TCP on every address).
    pub host_ports: Vec<u16>,
    /// Anti-affinity terms.
    pub anti_affinity: Vec<AntiAffinityTerm>,
    /// Explicit spread constraints; none means the system defaults.
    pub spread: Vec<SpreadConstraint>,
}

impl Pod {
    /// The requests the filter and BalancedAllocation count (a missing request is 0).
    pub fn requests(&self) -> Resources {
        Resources {
            milli_cpu: self.cpu_request.unwrap_or(0),
            memory: self.memory_request.unwrap_or(0),
        }
    }

    /// The requests LeastAllocated counts: a missing request is `DefaultMilliCPURequest` /
    /// `DefaultMemoryRequest`.
    pub fn non_zero_requests(&self) -> Resources {
        Resources {
            milli_cpu: self.cpu_request.unwrap_or(DEFAULT_MILLI_CPU_REQUEST),
            memory: self.memory_request.unwrap_or(DEFAULT_MEMORY_REQUEST),
        }
    }

    fn matches(&self, namespace: &str, selector: &BTreeMap<String, String>) -> bool {
        self.namespace == namespace
            && !selector.is_empty()
            && selector.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}

/// A pod bound to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The node.
    pub node: String,
    /// The pod.
    pub pod: Pod,
    /// It is terminating (`deletionTimestamp` set): it still holds its resources but no
    /// longer counts for spreading.
    pub terminating: bool,
}

/// The verdict on one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Bound to `node`; `totals` are the weighted scores of the feasible nodes (empty when
    /// only one passed the filters and nothing was scored).
    Scheduled {
        /// The chosen node.
        node: String,
        /// (node, total score) of every feasible node, in the given order.
        totals: Vec<(String, i64)>,
    },
    /// No node fits: the `FailedScheduling` message.
    Unschedulable {
        /// As `kubectl describe pod` shows it.
        message: String,
    },
}

/// Schedules `pod` onto one of `nodes` (in this order for ties), with `placed` pods already
/// running. Indexes them afresh: to place many pods, keep a [`Snapshot`] instead.
pub fn schedule(pod: &Pod, nodes: &[Node], placed: &[Placed]) -> Outcome {
    Snapshot::with_placed(nodes, placed).schedule(pod)
}

/// `FitError.Error()`: "0/N nodes are available: <count> <reason>, ... ." with the reasons'
/// counts sorted as strings, then DefaultPreemption's verdict (every pod has the same
/// priority: no victims on nodes a preemption could help, "not helpful" on the others).
fn fit_error(n: usize, rejections: &[Rejection]) -> String {
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut unresolvable, mut resolvable) = (0, 0);
    for r in rejections {
        for reason in &r.reasons {
            *reasons.entry(reason.as_str()).or_default() += 1;
        }
        if r.unresolvable {
            unresolvable += 1;
        } else {
            resolvable += 1;
        }
    }
    let mut items: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
    items.sort();
    let mut preemption = Vec::new();
    if unresolvable > 0 {
        preemption.push(format!(
            "{unresolvable} Preemption is not helpful for scheduling"
        ));
    }
    if resolvable > 0 {
        preemption.push(format!(
            "{resolvable} No preemption victims found for incoming pod"
        ));
    }
    preemption.sort();
    format!(
        "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {}.",
        items.join(", "),
        preemption.join(", ")
    )
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
