//! The default profile's filters, in its order (`default_plugins.go`); a node keeps the
//! reasons of the first plugin that rejects it (`RunFilterPlugins` stops there).

use std::collections::BTreeMap;

use super::{
    Node, Placed, Pod, Resources, SpreadConstraint, Strength, Taint, TaintEffect,
    UNSCHEDULABLE_TAINT, matches,
};

/// Why one node was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The rejecting plugin's reasons, as `FitError` counts them.
    pub reasons: Vec<String>,
    /// `UnschedulableAndUnresolvable`: evicting pods would not help.
    pub unresolvable: bool,
}

type Verdict = Result<(), (Vec<String>, bool)>;

fn reject(reason: &str, unresolvable: bool) -> Verdict {
    Err((vec![reason.to_owned()], unresolvable))
}

/// Every filter on `node`.
pub fn run(pod: &Pod, node: &Node, nodes: &[Node], placed: &[Placed]) -> Result<(), Rejection> {
    let on_node: Vec<&Placed> = placed.iter().filter(|p| p.node == node.name).collect();
    let checks: [&dyn Fn() -> Verdict; 8] = [
        &|| node_unschedulable(pod, node),
        &|| node_name(pod, node),
        &|| taint_toleration(pod, node),
        &|| node_affinity(pod, node),
        &|| node_ports(pod, &on_node),
        &|| resources_fit(pod, node, &on_node),
        &|| spread(pod, node, nodes, placed),
        &|| anti_affinity(pod, node, nodes, placed),
    ];
    for check in checks {
        if let Err((reasons, unresolvable)) = check() {
            return Err(Rejection {
                reasons,
                unresolvable,
            });
        }
    }
    Ok(())
}

/// NodeUnschedulable: a cordoned node takes only pods tolerating its taint.
fn node_unschedulable(pod: &Pod, node: &Node) -> Verdict {
    let taint = Taint {
        key: UNSCHEDULABLE_TAINT.to_owned(),
        value: String::new(),
        effect: TaintEffect::NoSchedule,
    };
    if node.unschedulable && !pod.tolerations.iter().any(|t| t.tolerates(&taint)) {
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

/// TaintToleration: the first NoSchedule or NoExecute taint not tolerated.
fn taint_toleration(pod: &Pod, node: &Node) -> Verdict {
    let untolerated = node.taints.iter().find(|t| {
        t.effect != TaintEffect::PreferNoSchedule
            && !pod.tolerations.iter().any(|tol| tol.tolerates(t))
    });
    match untolerated {
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
fn node_ports(pod: &Pod, on_node: &[&Placed]) -> Verdict {
    let taken = pod
        .host_ports
        .iter()
        .any(|port| on_node.iter().any(|p| p.pod.host_ports.contains(port)));
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
fn resources_fit(pod: &Pod, node: &Node, on_node: &[&Placed]) -> Verdict {
    let mut reasons = Vec::new();
    if on_node.len() + 1 > node.max_pods as usize {
        reasons.push("Too many pods".to_owned());
    }
    let want = pod.requests();
    let used = on_node.iter().fold(Resources::default(), |acc, p| {
        acc.saturating_add(p.pod.requests())
    });
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
        && (!c.honor_taints || taint_toleration(pod, node).is_ok())
}

/// Pods matching `c`'s selector in `pod`'s namespace on the counted nodes whose `c` key
/// label is `value`, not terminating.
pub fn matching_in_domain(
    pod: &Pod,
    c: &SpreadConstraint,
    value: &str,
    nodes: &[Node],
    placed: &[Placed],
) -> i64 {
    let (selector, key) = (&c.selector, &c.topology_key);
    nodes
        .iter()
        .filter(|n| counts_for_spread(pod, c, n) && n.labels.get(key).is_some_and(|v| v == value))
        .map(|n| {
            placed
                .iter()
                .filter(|p| {
                    p.node == n.name && !p.terminating && matches(&p.pod, &pod.namespace, selector)
                })
                .count() as i64
        })
        .sum()
}

/// PodTopologySpread's filter over the DoNotSchedule constraints: the skew this node would
/// reach against the least loaded domain must stay within `maxSkew`.
fn spread(pod: &Pod, node: &Node, nodes: &[Node], placed: &[Placed]) -> Verdict {
    for c in pod.spread.iter().filter(|c| c.required) {
        let Some(value) = node.labels.get(&c.topology_key) else {
            return reject(
                "node(s) didn't match pod topology spread constraints (missing required label)",
                true,
            );
        };
        // Domains: the values of every counted node with every required key.
        let mut domains: BTreeMap<&str, i64> = BTreeMap::new();
        for n in nodes {
            let has_all = pod
                .spread
                .iter()
                .filter(|c| c.required)
                .all(|c| n.labels.contains_key(&c.topology_key));
            if !counts_for_spread(pod, c, n) || !has_all {
                continue;
            }
            let v = &n.labels[&c.topology_key];
            let count = matching_in_domain(pod, c, v, nodes, placed);
            domains.insert(v.as_str(), count);
        }
        let min = domains.values().copied().min().unwrap_or(0);
        let here = matching_in_domain(pod, c, value, nodes, placed);
        let own = i64::from(matches(pod, &pod.namespace, &c.selector));
        if here + own - min > i64::from(c.max_skew) {
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
fn anti_affinity(pod: &Pod, node: &Node, nodes: &[Node], placed: &[Placed]) -> Verdict {
    let domain_has = |key: &str, matching: &dyn Fn(&Placed) -> bool| {
        let Some(value) = node.labels.get(key) else {
            return false;
        };
        placed.iter().any(|p| {
            matching(p)
                && nodes
                    .iter()
                    .any(|n| n.name == p.node && n.labels.get(key) == Some(value))
        })
    };
    for term in pod
        .anti_affinity
        .iter()
        .filter(|t| t.strength == Strength::Required)
    {
        if domain_has(&term.topology_key, &|p| {
            matches(&p.pod, &pod.namespace, &term.selector)
        }) {
            return reject("node(s) didn't match pod anti-affinity rules", false);
        }
    }
    for p in placed {
        for term in p
            .pod
            .anti_affinity
            .iter()
            .filter(|t| t.strength == Strength::Required)
        {
            let theirs = |q: &Placed| std::ptr::eq(q, p);
            if matches(pod, &p.pod.namespace, &term.selector)
                && domain_has(&term.topology_key, &theirs)
            {
                return reject(
                    "node(s) didn't satisfy existing pods anti-affinity rules",
                    false,
                );
            }
        }
    }
    Ok(())
}
