//! What the filters need to know about the placed pods, counted once per pod before any node
//! is looked at, as upstream's PreFilter steps do (`podtopologyspread/filtering.go`
//! `calPreFilterState`, `interpodaffinity/filtering.go` `getExistingAntiAffinityCounts` and
//! `getIncomingAffinityAntiAffinityCounts`): then each node's spread and anti-affinity
//! verdicts are a few lookups. The counts are the ones the scheduler always computed per
//! node; only the order of the work changed.

use super::fast_hash::{FastMap, FastSet};
use super::filters::counts_for_spread;
use super::snapshot::Snapshot;
use super::{Pod, SpreadConstraint, Strength};

/// Per node-name slot: the bound, not terminating pods matching `selector` in `namespace`
/// (what spreading counts).
pub(super) fn matching_per_slot(
    snapshot: &Snapshot<'_>,
    namespace: &str,
    selector: &std::collections::BTreeMap<String, String>,
) -> Vec<i64> {
    let mut counts = vec![0; snapshot.infos.len()];
    // An empty selector matches nothing (`Pod::matches`): skip the scan.
    if selector.is_empty() {
        return counts;
    }
    for b in &snapshot.placed {
        if !b.placed.terminating && b.placed.pod.matches(namespace, selector) {
            counts[b.slot] += 1;
        }
    }
    counts
}

/// Per value of `c`'s key: the matching pods (`per_slot`) on the nodes that count for `c`
/// with that value. What `matching_in_domain` summed over all nodes for one value, here for
/// every value in one pass.
pub(super) fn domain_counts<'s>(
    snapshot: &Snapshot<'s>,
    pod: &Pod,
    c: &SpreadConstraint,
    per_slot: &[i64],
) -> FastMap<&'s str, i64> {
    let mut counts = FastMap::default();
    for (i, n) in snapshot.nodes.iter().enumerate() {
        if let Some(v) = n.labels.get(&c.topology_key)
            && counts_for_spread(pod, c, n)
        {
            *counts.entry(v.as_str()).or_default() += per_slot[snapshot.slot_of[i]];
        }
    }
    counts
}

/// One DoNotSchedule constraint, counted.
#[derive(Debug)]
pub(super) struct RequiredSpread<'s> {
    /// Matching pods per domain value.
    pub counts: FastMap<&'s str, i64>,
    /// The least loaded domain's count: over the values of the counted nodes that carry
    /// every required key (0 when there is none).
    pub min: i64,
    /// 1 when the pod matches its own selector.
    pub own: i64,
}

/// The per-pod state the filters read.
#[derive(Debug)]
pub(super) struct PreFilter<'s> {
    /// One per DoNotSchedule constraint, in the pod's order.
    pub spread: Vec<RequiredSpread<'s>>,
    /// One per required anti-affinity term of the pod, in its order: the values of the
    /// term's key held by some node with a pod the term matches (terminating ones too).
    pub own_anti: Vec<FastSet<&'s str>>,
    /// Topology key -> values where a bound pod's required anti-affinity term matches the
    /// incoming pod.
    pub existing_anti: FastMap<&'s str, FastSet<&'s str>>,
}

impl<'s> PreFilter<'s> {
    /// Counts everything `pod`'s filters ask about.
    pub fn new(snapshot: &'s Snapshot<'_>, pod: &'s Pod) -> Self {
        PreFilter {
            spread: required_spread(snapshot, pod),
            own_anti: own_anti(snapshot, pod),
            existing_anti: existing_anti(snapshot, pod),
        }
    }
}

fn required_spread<'s>(snapshot: &'s Snapshot<'_>, pod: &Pod) -> Vec<RequiredSpread<'s>> {
    let required: Vec<&SpreadConstraint> = pod.spread.iter().filter(|c| c.required).collect();
    required
        .iter()
        .map(|c| {
            let per_slot = matching_per_slot(snapshot, &pod.namespace, &c.selector);
            let counts = domain_counts(snapshot, pod, c, &per_slot);
            let min = snapshot
                .nodes
                .iter()
                .filter(|n| {
                    required
                        .iter()
                        .all(|r| n.labels.contains_key(&r.topology_key))
                        && counts_for_spread(pod, c, n)
                })
                .filter_map(|n| counts.get(n.labels.get(&c.topology_key)?.as_str()))
                .copied()
                .min()
                .unwrap_or(0);
            RequiredSpread {
                counts,
                min,
                own: i64::from(pod.matches(&pod.namespace, &c.selector)),
            }
        })
        .collect()
}

fn is_required(strength: Strength) -> bool {
    strength == Strength::Required
}

fn own_anti<'s>(snapshot: &'s Snapshot<'_>, pod: &Pod) -> Vec<FastSet<&'s str>> {
    pod.anti_affinity
        .iter()
        .filter(|t| is_required(t.strength))
        .map(|term| {
            let mut values = FastSet::default();
            for b in &snapshot.placed {
                if b.placed.pod.matches(&pod.namespace, &term.selector) {
                    values.extend(
                        snapshot
                            .named(b.slot)
                            .filter_map(|m| snapshot.nodes[m].labels.get(&term.topology_key))
                            .map(String::as_str),
                    );
                }
            }
            values
        })
        .collect()
}

fn existing_anti<'s>(snapshot: &'s Snapshot<'_>, pod: &Pod) -> FastMap<&'s str, FastSet<&'s str>> {
    let mut domains: FastMap<&str, FastSet<&str>> = FastMap::default();
    for b in snapshot.with_terms() {
        let theirs = &b.placed.pod;
        for term in theirs
            .anti_affinity
            .iter()
            .filter(|t| is_required(t.strength))
        {
            if !pod.matches(&theirs.namespace, &term.selector) {
                continue;
            }
            let key = term.topology_key.as_str();
            for m in snapshot.named(b.slot) {
                if let Some(v) = snapshot.nodes[m].labels.get(key) {
                    domains.entry(key).or_default().insert(v);
                }
            }
        }
    }
    domains
}
