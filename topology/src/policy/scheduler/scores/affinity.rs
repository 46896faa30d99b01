//! InterPodAffinity's score (`interpodaffinity/scoring.go`), as far as preferred
//! anti-affinity goes.

use super::super::fast_hash::FastMap;
use super::super::snapshot::Snapshot;
use super::super::{AntiAffinityTerm, Pod, Strength};
use super::MAX;

/// The preferred terms among `terms`, with their weights.
fn preferred(terms: &[AntiAffinityTerm]) -> impl Iterator<Item = (&AntiAffinityTerm, i64)> {
    terms.iter().filter_map(|t| match t.strength {
        Strength::Preferred { weight } => Some((t, weight)),
        Strength::Required => None,
    })
}

/// InterPodAffinity's preferred terms: minus the weight of each of the pod's preferred
/// anti-affinity terms per matching pod in the node's domain, and of each existing pod's
/// preferred anti-affinity term matching this pod; scaled to 0-100 between min and max.
/// The weights are summed per (key, value) once, over the bound pods (only those with
/// terms for the second part), then each node adds those of its own labels. `None`:
/// nothing to score (0).
pub(in super::super) fn inter_pod_affinity(
    snapshot: &Snapshot<'_>,
    pod: &Pod,
    feasible: &[usize],
) -> Option<Vec<i64>> {
    // topology key -> value -> accumulated weight; `any` is whether an entry was made (an
    // entry of net weight 0 still makes the plugin score).
    let mut by_domain: FastMap<&str, FastMap<&str, i64>> = FastMap::default();
    let mut any = false;
    let mut add = |key, value, weight| {
        *by_domain.entry(key).or_default().entry(value).or_default() -= weight;
        any = true;
    };
    // A bound pod's domain is read from the first node with its name, as before.
    let labels = |slot: usize| &snapshot.nodes[snapshot.first[slot]].labels;
    if preferred(&pod.anti_affinity).next().is_some() {
        for b in &snapshot.placed {
            for (term, weight) in preferred(&pod.anti_affinity) {
                if b.placed.pod.matches(&pod.namespace, &term.selector)
                    && let Some(v) = labels(b.slot).get(&term.topology_key)
                {
                    add(term.topology_key.as_str(), v.as_str(), weight);
                }
            }
        }
    }
    for b in snapshot.with_terms() {
        for (term, weight) in preferred(&b.placed.pod.anti_affinity) {
            if pod.matches(&b.placed.pod.namespace, &term.selector)
                && let Some(v) = labels(b.slot).get(&term.topology_key)
            {
                add(term.topology_key.as_str(), v.as_str(), weight);
            }
        }
    }
    if !any {
        return None;
    }
    let raw: Vec<i64> = feasible
        .iter()
        .map(|&i| {
            let node = &snapshot.nodes[i];
            by_domain
                .iter()
                .filter_map(|(key, values)| values.get(node.labels.get(*key)?.as_str()))
                .sum()
        })
        .collect();
    let (min, max) = (
        raw.iter().copied().min().unwrap_or(0),
        raw.iter().copied().max().unwrap_or(0),
    );
    let normalized = raw.iter().map(|s| {
        if max > min {
            (MAX as f64 * (s - min) as f64 / (max - min) as f64) as i64
        } else {
            0
        }
    });
    Some(normalized.collect())
}
