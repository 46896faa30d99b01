//! PodTopologySpread's score (`podtopologyspread/scoring.go`): the ScheduleAnyway
//! constraints, or the system defaults for a pod with an owner and none of its own.

use super::super::fast_hash::{FastMap, FastSet};
use super::super::filters::counts_for_spread;
use super::super::prefilter::{domain_counts, matching_per_slot};
use super::super::snapshot::Snapshot;
use super::super::{HOSTNAME_LABEL, Node, Pod, SpreadConstraint, ZONE_LABEL};
use super::MAX;

/// `systemDefaultConstraints`: (key, maxSkew), both ScheduleAnyway.
const SYSTEM_DEFAULT_SPREAD: [(&str, u32); 2] = [(HOSTNAME_LABEL, 3), (ZONE_LABEL, 5)];

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
/// constraints whose key it has, lower is better: `100 x (max + min - s) / max`. The
/// matching pods are counted once per constraint (upstream's PreScore), per node name for
/// the hostname key and per domain value for the others. `None`: nothing to score (0).
pub(in super::super) fn spread(
    snapshot: &Snapshot<'_>,
    pod: &Pod,
    feasible: &[usize],
) -> Option<Vec<i64>> {
    let (constraints, require_all) = scored_constraints(pod);
    if constraints.is_empty() {
        return None;
    }
    let nodes: Vec<&Node> = feasible.iter().map(|&i| &snapshot.nodes[i]).collect();
    let ignored: Vec<bool> = nodes
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
                let values: FastSet<&str> = nodes
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
    let counted: Vec<(Vec<i64>, FastMap<&str, i64>)> = constraints
        .iter()
        .map(|c| {
            let per_slot = matching_per_slot(snapshot, &pod.namespace, &c.selector);
            let domains = if c.topology_key == HOSTNAME_LABEL {
                FastMap::default()
            } else {
                domain_counts(snapshot, pod, c, &per_slot)
            };
            (per_slot, domains)
        })
        .collect();
    let raw: Vec<Option<i64>> = feasible
        .iter()
        .zip(&nodes)
        .zip(&ignored)
        .map(|((&i, n), ignored)| {
            if *ignored {
                return None;
            }
            let mut score = 0.0;
            for ((c, w), (per_slot, domains)) in constraints.iter().zip(&weights).zip(&counted) {
                let Some(value) = n.labels.get(&c.topology_key) else {
                    continue;
                };
                let count = if c.topology_key == HOSTNAME_LABEL {
                    per_slot[snapshot.slot_of[i]]
                } else if counts_for_spread(pod, c, n) {
                    domains.get(value.as_str()).copied().unwrap_or(0)
                } else {
                    0
                };
                // The same float operations in the same order as upstream (and as before):
                // rounding makes any reordering visible.
                score += count as f64 * w + f64::from(c.max_skew) - 1.0;
            }
            Some(score.round() as i64)
        })
        .collect();
    let max = raw.iter().flatten().copied().max().unwrap_or(0).max(0);
    let min = raw.iter().flatten().copied().min().unwrap_or(0);
    let normalized = raw.iter().map(|s| match s {
        None => 0,
        Some(_) if max == 0 => MAX,
        Some(s) => MAX * (max + min - s) / max,
    });
    Some(normalized.collect())
}
