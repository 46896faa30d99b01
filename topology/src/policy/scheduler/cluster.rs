//! The cluster's nodes and its workloads' pods as the scheduler sees them, from the topology
//! and the way `render` writes them: kubeadm's control-plane taint, the hosts' labels and
//! resources, the workloads' `app.kubernetes.io/name` label and selector, requests,
//! tolerations, hostname anti-affinity (preferred at weight 100) and spread constraint.

use std::collections::BTreeMap;

use super::{
    AntiAffinityTerm, CONTROL_PLANE_TAINT, DEFAULT_MAX_PODS, HOSTNAME_LABEL, Node, Outcome, Placed,
    Pod, Resources, SpreadConstraint, Strength, Taint, TaintEffect, Toleration, schedule,
};
use crate::{AntiAffinity, Cluster, Role, UnsatisfiableAction, Workload, WorkloadKind};

/// Label key selecting a workload's pods (Kubernetes' recommended `app.kubernetes.io/name`).
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// Weight of a preferred anti-affinity term (the most the API allows).
pub const PREFERRED_ANTI_AFFINITY_WEIGHT: i64 = 100;
/// `node.kubernetes.io/not-ready`.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Every host as a node: allocatable from its resources, kubelet's default `maxPods`, its
/// labels plus `kubernetes.io/hostname`, and kubeadm's NoSchedule taint on control-plane
/// hosts that are not also workers.
pub fn nodes(cluster: &Cluster) -> Vec<Node> {
    cluster
        .spec
        .hosts
        .iter()
        .map(|h| {
            let mut labels = h.labels.clone();
            labels.insert(HOSTNAME_LABEL.to_owned(), h.name.clone());
            let tainted = h.has_role(Role::ControlPlane) && !h.has_role(Role::Worker);
            let taints = if tainted {
                vec![Taint {
                    key: CONTROL_PLANE_TAINT.to_owned(),
                    value: String::new(),
                    effect: TaintEffect::NoSchedule,
                }]
            } else {
                Vec::new()
            };
            Node {
                name: h.name.clone(),
                labels,
                allocatable: Resources {
                    milli_cpu: u64::from(h.resources.cpu) * 1000,
                    memory: h.resources.memory_mib.saturating_mul(1024 * 1024),
                },
                max_pods: DEFAULT_MAX_PODS,
                taints,
                unschedulable: false,
            }
        })
        .collect()
}

/// `{app.kubernetes.io/name: name}`.
pub fn app_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(NAME_LABEL.to_owned(), name.to_owned())])
}

/// One pod of `w` as its controller creates it, with the tolerations the DefaultTolerationSeconds
/// admission plugin adds (NoExecute `not-ready` and `unreachable`; a DaemonSet's pods get
/// them from the DaemonSet controller, without limit, which the filter does not tell apart).
pub fn workload_pod(w: &Workload) -> Pod {
    let policy = w.policy();
    let labels = app_labels(&w.name);
    let mut tolerations = vec![
        Toleration::exists(NOT_READY_TAINT, TaintEffect::NoExecute),
        Toleration::exists(UNREACHABLE_TAINT, TaintEffect::NoExecute),
    ];
    if policy.tolerate_control_plane {
        tolerations.push(Toleration::exists(
            CONTROL_PLANE_TAINT,
            TaintEffect::NoSchedule,
        ));
    }
    let anti_affinity = match policy.anti_affinity {
        AntiAffinity::None => None,
        AntiAffinity::Required => Some(Strength::Required),
        AntiAffinity::Preferred => Some(Strength::Preferred {
            weight: PREFERRED_ANTI_AFFINITY_WEIGHT,
        }),
    }
    .map(|strength| AntiAffinityTerm {
        selector: labels.clone(),
        topology_key: HOSTNAME_LABEL.to_owned(),
        strength,
    });
    let spread = policy.topology_spread.as_ref().map(|ts| SpreadConstraint {
        max_skew: ts.max_skew,
        topology_key: HOSTNAME_LABEL.to_owned(),
        required: ts.when_unsatisfiable == UnsatisfiableAction::DoNotSchedule,
        selector: labels.clone(),
        // render sets it: see `SpreadConstraint::honor_taints`.
        honor_taints: true,
    });
    let daemon = w.kind == WorkloadKind::DaemonSet;
    Pod {
        namespace: w.namespace.clone(),
        owner_selector: if daemon {
            BTreeMap::new()
        } else {
            labels.clone()
        },
        labels,
        cpu_request: Some(u64::from(w.cpu_millis)),
        memory_request: Some(w.memory_mib.saturating_mul(1024 * 1024)),
        tolerations,
        node_name: None,
        node_selector: BTreeMap::new(),
        host_ports: Vec::new(),
        anti_affinity: anti_affinity.into_iter().collect(),
        spread: spread.into_iter().collect(),
    }
}

/// Where a workload's pods went on the idle cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The workload's namespace.
    pub namespace: String,
    /// The workload.
    pub workload: String,
    /// Its DaemonSet-ness: one pod per node it fits, never Pending.
    pub daemon: bool,
    /// The nodes of the pods that were bound, in creation order.
    pub nodes: Vec<String>,
    /// Replicas no node takes (they come after the bound ones: once one identical replica
    /// fits nowhere, none after it does).
    pub pending: u32,
    /// The first Pending replica's FailedScheduling message.
    pub why: Option<String>,
}

/// Every workload's pods placed by [`schedule`] in workload order, one after another, as the
/// controllers create them on an idle cluster (a DaemonSet's pod on every node it fits,
/// pinned there as the DaemonSet controller does). `check` and the simulator both start from
/// this placement.
pub fn place_workloads(cluster: &Cluster) -> Vec<Placement> {
    let nodes = nodes(cluster);
    let mut placed: Vec<Placed> = Vec::new();
    let mut out = Vec::new();
    for w in &cluster.spec.workloads {
        let pod = workload_pod(w);
        let daemon = w.kind == WorkloadKind::DaemonSet;
        let mut p = Placement {
            namespace: w.namespace.clone(),
            workload: w.name.clone(),
            daemon,
            nodes: Vec::new(),
            pending: 0,
            why: None,
        };
        let mut bind = |placed: &mut Vec<Placed>, node: String| {
            placed.push(Placed {
                node: node.clone(),
                pod: pod.clone(),
                terminating: false,
            });
            p.nodes.push(node);
        };
        if daemon {
            for n in &nodes {
                let mut pinned = pod.clone();
                pinned.node_name = Some(n.name.clone());
                if let Outcome::Scheduled { node, .. } = schedule(&pinned, &nodes, &placed) {
                    bind(&mut placed, node);
                }
            }
        } else {
            for i in 0..w.replicas {
                match schedule(&pod, &nodes, &placed) {
                    Outcome::Scheduled { node, .. } => bind(&mut placed, node),
                    Outcome::Unschedulable { message } => {
                        // Nothing changed since, so the rest fit nowhere either.
                        p.pending = w.replicas - i;
                        p.why = Some(message);
                        break;
                    }
                }
            }
        }
        out.push(p);
    }
    out
}
