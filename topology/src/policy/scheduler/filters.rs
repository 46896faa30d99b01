//! The default profile's filters, in its order (`default_plugins.go`); a node keeps the
//! reasons of the first plugin that rejects it (`RunFilterPlugins` stops there). Each reads
//! the node, its [`NodeInfo`] and what [`PreFilter`] counted for the pod: none looks at the
//! placed pods themselves, so a node costs the same however many there are.

use std::collections::BTreeMap;

use super::fast_hash::FastSet;
use super::prefilter::PreFilter;
use super::snapshot::{NodeInfo, Snapshot};
use super::{Node, Pod, SpreadConstraint, Strength, TaintEffect, UNSCHEDULABLE_TAINT};

/// Why one node was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The node.
    pub node: String,
    /// The rejecting plugin's reasons, as `FitError` counts them.
    pub reasons: Vec<String>,
    /// `UnschedulableAndUnresolvable`: evicting pods would not help.
    pub unresolvable: bool,
}

type Verdict = Result<(), (Vec<String>, bool)>;

fn reject(reason: &str, unresolvable: bool) -> Verdict {
    Err((vec![reason.to_owned()], unresolvable))
}

/// Every filter on the node at position `i`, in order; each reads only the node, its
/// [`NodeInfo`] and the pod's [`PreFilter`] state.
pub fn run(
    snapshot: &Snapshot<'_>,
    pre: &PreFilter<'_>,
    pod: &Pod,
    i: usize,
) -> Result<(), Rejection> {
    let node = &snapshot.nodes[i];
    let info = &snapshot.infos[snapshot.slot_of[i]];
    let verdict = node_unschedulable(pod, node)
        .and_then(|()| node_name(pod, node))
        .and_then(|()| taint_toleration(pod, node))
        .and_then(|()| node_affinity(pod, node))
        .and_then(|()| node_ports(pod, info))
        .and_then(|()| resources_fit(pod, node, info))
        .and_then(|()| spread(pod, node, pre))
        .and_then(|()| anti_affinity(pod, node, pre));
    verdict.map_err(|(reasons, unresolvable)| Rejection {
        node: node.name.clone(),
        reasons,
        unresolvable,
    })
}

/// NodeUnschedulable: a cordoned node takes only pods tolerating its taint.
fn node_unschedulable(pod: &Pod, node: &Node) -> Verdict {
    if !node.unschedulable {
        return Ok(());
    }
    let taint = super::Taint {
        key: UNSCHEDULABLE_TAINT.to_owned(),
        value: String::new(),
        effect: TaintEffect::NoSchedule,
    };
    if !pod.tolerations.iter().any(|t| t.tolerates(&taint)) {
        return reject("node(s) were unschedulable", true);
    }
    Ok(())
}

/// NodeName.
fn node_name(pod: &Pod, node: &Node) -> Verdict {
    match &pod.node_name {
        Some(n) if *n != node.name => reject("node(s) didn't match the requested node name", true),
        _ => Ok(()),
    }
}

/// The first NoSchedule or NoExecute taint of `node` that `pod` does not tolerate.
fn untolerated<'n>(pod: &Pod, node: &'n Node) -> Option<&'n super::Taint> {
    node.taints.iter().find(|t| {
        t.effect != TaintEffect::PreferNoSchedule
            && !pod.tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

/// TaintToleration: the first NoSchedule or NoExecute taint not tolerated.
fn taint_toleration(pod: &Pod, node: &Node) -> Verdict {
    match untolerated(pod, node) {
        Some(t) => reject(
            &format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value),
            true,
        ),
        None => Ok(()),
    }
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// NodeAffinity, as far as `nodeSelector` goes.
fn node_affinity(pod: &Pod, node: &Node) -> Verdict {
    if selects(&pod.node_selector, &node.labels) {
        Ok(())
    } else {
        reject("node(s) didn't match Pod's node affinity/selector", true)
    }
}

/// NodePorts: a host port (TCP, every address) already taken on the node.
fn node_ports(pod: &Pod, info: &NodeInfo) -> Verdict {
    let taken = pod.host_ports.iter().any(|port| info.ports.contains(port));
    if taken {
        reject(
            "node(s) didn't have free ports for the requested pod ports",
            false,
        )
    } else {
        Ok(())
    }
}

/// NodeResourcesFit: pod count, then CPU and memory against allocatable minus the requests of
/// the pods there (a request equal to what is left fits).
fn resources_fit(pod: &Pod, node: &Node, info: &NodeInfo) -> Verdict {
    let mut reasons = Vec::new();
    if info.pods + 1 > node.max_pods as usize {
        reasons.push("Too many pods".to_owned());
    }
    let want = pod.requests();
    let used = info.requested;
    let free = |alloc: u64, used: u64| alloc.saturating_sub(used);
    if want.milli_cpu > 0 && want.milli_cpu > free(node.allocatable.milli_cpu, used.milli_cpu) {
        reasons.push("Insufficient cpu".to_owned());
    }
    if want.memory > 0 && want.memory > free(node.allocatable.memory, used.memory) {
        reasons.push("Insufficient memory".to_owned());
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err((reasons, false))
    }
}

/// Whether `node` counts for constraint `c` of `pod` (`matchNodeInclusionPolicies`):
/// `nodeAffinityPolicy: Honor` (the default), it must match the pod's node selector; with
/// `nodeTaintsPolicy: Honor` the pod must also tolerate its NoSchedule and NoExecute taints.
pub fn counts_for_spread(pod: &Pod, c: &SpreadConstraint, node: &Node) -> bool {
    selects(&pod.node_selector, &node.labels)
        && (!c.honor_taints || untolerated(pod, node).is_none())
}

/// PodTopologySpread's filter over the DoNotSchedule constraints: the skew this node would
/// reach against the least loaded domain must stay within `maxSkew`.
fn spread(pod: &Pod, node: &Node, pre: &PreFilter<'_>) -> Verdict {
    let required = pod.spread.iter().filter(|c| c.required);
    for (c, counted) in required.zip(&pre.spread) {
        let Some(value) = node.labels.get(&c.topology_key) else {
            return reject(
                "node(s) didn't match pod topology spread constraints (missing required label)",
                true,
            );
        };
        let here = counted.counts.get(value.as_str()).copied().unwrap_or(0);
        if here + counted.own - counted.min > i64::from(c.max_skew) {
            return reject(
                "node(s) didn't match pod topology spread constraints",
                false,
            );
        }
    }
    Ok(())
}

/// InterPodAffinity's filter: the pod's required anti-affinity, then the existing pods'
/// required anti-affinity against it.
fn anti_affinity(pod: &Pod, node: &Node, pre: &PreFilter<'_>) -> Verdict {
    let hit = |key: &str, values: &FastSet<&str>| {
        node.labels
            .get(key)
            .is_some_and(|v| values.contains(v.as_str()))
    };
    let required = pod
        .anti_affinity
        .iter()
        .filter(|t| t.strength == Strength::Required);
    if required
        .zip(&pre.own_anti)
        .any(|(t, values)| hit(&t.topology_key, values))
    {
        return reject("node(s) didn't match pod anti-affinity rules", false);
    }
    if pre
        .existing_anti
        .iter()
        .any(|(key, values)| hit(key, values))
    {
        return reject(
            "node(s) didn't satisfy existing pods anti-affinity rules",
            false,
        );
    }
    Ok(())
}
