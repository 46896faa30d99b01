//! The default profile's scores, each normalized to 0-100 and weighted as
//! `default_plugins.go` weighs them; a plugin that skips (nothing to score) gives 0.

use std::collections::{BTreeMap, BTreeSet};

use super::filters::{counts_for_spread, matching_in_domain};
use super::{
    HOSTNAME_LABEL, Node, Placed, Pod, Resources, SpreadConstraint, Strength, TaintEffect,
    ZONE_LABEL, matches,
};

/// `MaxNodeScore`.
const MAX: i64 = 100;
/// Plugin weights of the default profile.
const TAINT_TOLERATION: i64 = 3;
const POD_TOPOLOGY_SPREAD: i64 = 2;
const INTER_POD_AFFINITY: i64 = 2;
const RESOURCES_FIT: i64 = 1;
const BALANCED_ALLOCATION: i64 = 1;
/// `systemDefaultConstraints`: (key, maxSkew), both ScheduleAnyway.
const SYSTEM_DEFAULT_SPREAD: [(&str, u32); 2] = [(HOSTNAME_LABEL, 3), (ZONE_LABEL, 5)];

/// (node, weighted total) for each feasible node, in order. (NodeAffinity has no preferred
/// terms to score and ImageLocality no image sizes: both give 0.)
pub fn totals(
    pod: &Pod,
    feasible: &[&Node],
    nodes: &[Node],
    placed: &[Placed],
) -> Vec<(String, i64)> {
    let parts = [
        (TAINT_TOLERATION, taint_toleration(pod, feasible)),
        (POD_TOPOLOGY_SPREAD, spread(pod, feasible, nodes, placed)),
        (
            INTER_POD_AFFINITY,
            inter_pod_affinity(pod, feasible, nodes, placed),
        ),
        (RESOURCES_FIT, least_allocated(pod, feasible, placed)),
        (
            BALANCED_ALLOCATION,
            balanced_allocation(pod, feasible, placed),
        ),
    ];
    feasible
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let total = parts.iter().map(|(w, s)| w * s[i]).sum();
            (n.name.clone(), total)
        })
        .collect()
}

/// TaintToleration: PreferNoSchedule taints not tolerated, fewer is better
/// (`DefaultNormalizeScore` reversed).
pub(super) fn taint_toleration(pod: &Pod, feasible: &[&Node]) -> Vec<i64> {
    let counts: Vec<i64> = feasible
        .iter()
        .map(|n| {
            n.taints
                .iter()
                .filter(|t| {
                    t.effect == TaintEffect::PreferNoSchedule
                        && !pod.tolerations.iter().any(|tol| {
                            tol.effect
                                .is_none_or(|e| e == TaintEffect::PreferNoSchedule)
                                && tol.tolerates(t)
                        })
                })
                .count() as i64
        })
        .collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|c| if max == 0 { MAX } else { MAX - MAX * c / max })
        .collect()
}

/// The ScheduleAnyway constraints spreading scores: the pod's own, or the system defaults
/// over its owner's selector when it has none at all.
fn scored_constraints(pod: &Pod) -> (Vec<SpreadConstraint>, bool) {
    if pod.spread.is_empty() {
        let defaults = SYSTEM_DEFAULT_SPREAD
            .iter()
            .filter(|_| !pod.owner_selector.is_empty())
            .map(|(key, skew)| SpreadConstraint {
                max_skew: *skew,
                topology_key: (*key).to_owned(),
                required: false,
                selector: pod.owner_selector.clone(),
                honor_taints: false,
            })
            .collect();
        (defaults, false)
    } else {
        let own = pod.spread.iter().filter(|c| !c.required).cloned().collect();
        (own, true)
    }
}

/// PodTopologySpread: per node `round(sum of cnt x ln(domains + 2) + maxSkew - 1)` over the
/// constraints whose key it has, lower is better: `100 x (max + min - s) / max`.
pub(super) fn spread(pod: &Pod, feasible: &[&Node], nodes: &[Node], placed: &[Placed]) -> Vec<i64> {
    let (constraints, require_all) = scored_constraints(pod);
    if constraints.is_empty() {
        return vec![0; feasible.len()];
    }
    let ignored: Vec<bool> = feasible
        .iter()
        .map(|n| {
            require_all
                && constraints
                    .iter()
                    .any(|c| !n.labels.contains_key(&c.topology_key))
        })
        .collect();
    let kept = ignored.iter().filter(|i| !**i).count();
    let weights: Vec<f64> = constraints
        .iter()
        .map(|c| {
            let size = if c.topology_key == HOSTNAME_LABEL {
                kept
            } else {
                let values: BTreeSet<&str> = feasible
                    .iter()
                    .zip(&ignored)
                    .filter(|(_, i)| !**i)
                    .map(|(n, _)| n.labels.get(&c.topology_key).map_or("", String::as_str))
                    .collect();
                values.len()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    let raw: Vec<Option<i64>> = feasible
        .iter()
        .zip(&ignored)
        .map(|(n, ignored)| {
            if *ignored {
                return None;
            }
            let mut score = 0.0;
            for (c, w) in constraints.iter().zip(&weights) {
                let Some(value) = n.labels.get(&c.topology_key) else {
                    continue;
                };
                let count = if c.topology_key == HOSTNAME_LABEL {
                    placed
                        .iter()
                        .filter(|p| {
                            p.node == n.name
                                && !p.terminating
                                && matches(&p.pod, &pod.namespace, &c.selector)
                        })
                        .count() as i64
                } else if counts_for_spread(pod, c, n) {
                    matching_in_domain(pod, c, value, nodes, placed)
                } else {
                    0
                };
                score += count as f64 * w + f64::from(c.max_skew) - 1.0;
            }
            Some(score.round() as i64)
        })
        .collect();
    let max = raw.iter().flatten().copied().max().unwrap_or(0).max(0);
    let min = raw.iter().flatten().copied().min().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => MAX,
            Some(s) => MAX * (max + min - s) / max,
        })
        .collect()
}

/// InterPodAffinity's preferred terms: minus the weight of each of the pod's preferred
/// anti-affinity terms per matching pod in the node's domain, and of each existing pod's
/// preferred anti-affinity term matching this pod; scaled to 0-100 between min and max.
pub(super) fn inter_pod_affinity(
    pod: &Pod,
    feasible: &[&Node],
    nodes: &[Node],
    placed: &[Placed],
) -> Vec<i64> {
    // (topology key, value) -> accumulated weight.
    let mut by_domain: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let node_labels = |name: &str| nodes.iter().find(|n| n.name == name).map(|n| &n.labels);
    for p in placed {
        let Some(labels) = node_labels(&p.node) else {
            continue;
        };
        for term in &pod.anti_affinity {
            if let Strength::Preferred { weight } = term.strength
                && matches(&p.pod, &pod.namespace, &term.selector)
                && let Some(v) = labels.get(&term.topology_key)
            {
                *by_domain.entry((&term.topology_key, v)).or_default() -= weight;
            }
        }
        for term in &p.pod.anti_affinity {
            if let Strength::Preferred { weight } = term.strength
                && matches(pod, &p.pod.namespace, &term.selector)
                && let Some(v) = labels.get(&term.topology_key)
            {
                *by_domain.entry((&term.topology_key, v)).or_default() -= weight;
            }
        }
    }
    if by_domain.is_empty() {
        return vec![0; feasible.len()];
    }
    let raw: Vec<i64> = feasible
        .iter()
        .map(|n| {
            by_domain
                .iter()
                .filter(|((k, v), _)| n.labels.get(*k).is_some_and(|x| x == v))
                .map(|(_, w)| *w)
                .sum()
        })
        .collect();
    let (min, max) = (
        raw.iter().copied().min().unwrap_or(0),
        raw.iter().copied().max().unwrap_or(0),
    );
    raw.iter()
        .map(|s| {
            if max > min {
                (MAX as f64 * (s - min) as f64 / (max - min) as f64) as i64
            } else {
                0
            }
        })
        .collect()
}

/// Requests on `node` including the incoming pod, by `requests`.
fn requested(
    pod: &Pod,
    node: &Node,
    placed: &[Placed],
    requests: impl Fn(&Pod) -> Resources,
) -> Resources {
    placed
        .iter()
        .filter(|p| p.node == node.name)
        .map(|p| requests(&p.pod))
        .chain(std::iter::once(requests(pod)))
        .fold(Resources::default(), Resources::saturating_add)
}

/// NodeResourcesFit's LeastAllocated over CPU and memory (weights 1 and 1), with the
/// non-zero defaults for missing requests: `(allocatable - requested) x 100 / allocatable`.
pub(super) fn least_allocated(pod: &Pod, feasible: &[&Node], placed: &[Placed]) -> Vec<i64> {
    let one = |req: u64, cap: u64| -> i64 {
        if cap == 0 || req > cap {
            0
        } else {
            // In u128: allocatable comes from the file and times 100 can pass u64::MAX.
            ((u128::from(cap - req) * 100) / u128::from(cap)) as i64
        }
    };
    feasible
        .iter()
        .map(|n| {
            let r = requested(pod, n, placed, Pod::non_zero_requests);
            let a = n.allocatable;
            let parts = [(r.milli_cpu, a.milli_cpu), (r.memory, a.memory)];
            let scored: Vec<i64> = parts
                .iter()
                .filter(|(_, cap)| *cap > 0)
                .map(|(req, cap)| one(*req, *cap))
                .collect();
            if scored.is_empty() {
                0
            } else {
                scored.iter().sum::<i64>() / scored.len() as i64
            }
        })
        .collect()
}

/// NodeResourcesBalancedAllocation: `(1 - std of the requested fractions) x 100`, fractions
/// of the real requests with the pod's, capped at 1; for two resources the std is half their
/// difference.
pub(super) fn balanced_allocation(pod: &Pod, feasible: &[&Node], placed: &[Placed]) -> Vec<i64> {
    feasible
        .iter()
        .map(|n| {
            let r = requested(pod, n, placed, Pod::requests);
            let a = n.allocatable;
            let fractions: Vec<f64> = [(r.milli_cpu, a.milli_cpu), (r.memory, a.memory)]
                .iter()
                .filter(|(_, cap)| *cap > 0)
                .map(|(req, cap)| (*req as f64 / *cap as f64).min(1.0))
                .collect();
            let std = match fractions.as_slice() {
                [a, b] => (a - b).abs() / 2.0,
                _ => 0.0,
            };
            ((1.0 - std) * MAX as f64) as i64
        })
        .collect()
}
