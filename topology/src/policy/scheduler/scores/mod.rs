//! The default profile's scores, each normalized to 0-100 and weighted as
//! `default_plugins.go` weighs them; a plugin that skips (nothing to score) gives 0.
//!
//! The node-local plugins (LeastAllocated, BalancedAllocation, TaintToleration) are computed
//! in one pass over the feasible nodes, straight into the totals, and PodTopologySpread and
//! InterPodAffinity only allocate when they have something to score: on thousands of nodes,
//! a vector per plugin allocated, walked and freed per cycle cost more than the scoring.

mod affinity;
mod spread;

pub(super) use affinity::inter_pod_affinity;
pub(super) use spread::spread;

use super::snapshot::Snapshot;
use super::{Node, Pod, TaintEffect};

/// `MaxNodeScore`.
const MAX: i64 = 100;
/// Plugin weights of the default profile.
const TAINT_TOLERATION: i64 = 3;
const POD_TOPOLOGY_SPREAD: i64 = 2;
const INTER_POD_AFFINITY: i64 = 2;
const RESOURCES_FIT: i64 = 1;
const BALANCED_ALLOCATION: i64 = 1;

/// The weighted total of each feasible node (`feasible` are positions in the snapshot's
/// nodes), in order. (NodeAffinity has no preferred terms to score and ImageLocality no
/// image sizes: both give 0.)
pub fn totals(snapshot: &Snapshot<'_>, pod: &Pod, feasible: &[usize]) -> Vec<i64> {
    // PreferNoSchedule taints not tolerated per feasible node, allocated at the first node
    // that has one (most clusters have none).
    let mut untolerated: Vec<i64> = Vec::new();
    let mut totals: Vec<i64> = feasible
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let count = prefer_no_schedule_untolerated(pod, &snapshot.nodes[i]);
            if count > 0 {
                untolerated.resize(feasible.len(), 0);
                untolerated[k] = count;
            }
            RESOURCES_FIT * least_allocated(snapshot, pod, i)
                + BALANCED_ALLOCATION * balanced_allocation(snapshot, pod, i)
        })
        .collect();
    // TaintToleration: fewer is better (`DefaultNormalizeScore` reversed); with none
    // anywhere, every node gets MAX.
    let max = untolerated.iter().copied().max().unwrap_or(0);
    for (k, t) in totals.iter_mut().enumerate() {
        let count = untolerated.get(k).copied().unwrap_or(0);
        *t += TAINT_TOLERATION
            * if max == 0 {
                MAX
            } else {
                MAX - MAX * count / max
            };
    }
    for (weight, scores) in [
        (POD_TOPOLOGY_SPREAD, spread(snapshot, pod, feasible)),
        (
            INTER_POD_AFFINITY,
            inter_pod_affinity(snapshot, pod, feasible),
        ),
    ] {
        for (t, s) in totals.iter_mut().zip(scores.into_iter().flatten()) {
            *t += weight * s;
        }
    }
    totals
}

/// TaintToleration's count on one node: its PreferNoSchedule taints `pod` does not
/// tolerate with a toleration for that effect (or for every effect).
fn prefer_no_schedule_untolerated(pod: &Pod, node: &Node) -> i64 {
    node.taints
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
}

/// NodeResourcesFit's LeastAllocated on the node at position `i`, over CPU and memory
/// (weights 1 and 1), with the non-zero defaults for missing requests:
/// `(allocatable - requested) x 100 / allocatable`, the pod's requests included.
pub(super) fn least_allocated(snapshot: &Snapshot<'_>, pod: &Pod, i: usize) -> i64 {
    let one = |req: u64, cap: u64| -> i64 {
        if cap == 0 || req > cap {
            0
        } else if let Some(free) = (cap - req).checked_mul(100) {
            // The same quotient as in u128, without its slow division.
            (free / cap) as i64
        } else {
            // In u128: allocatable comes from the file and times 100 can pass u64::MAX.
            ((u128::from(cap - req) * 100) / u128::from(cap)) as i64
        }
    };
    let r = snapshot.infos[snapshot.slot_of[i]]
        .non_zero
        .saturating_add(pod.non_zero_requests());
    let a = snapshot.nodes[i].allocatable;
    let (mut sum, mut scored) = (0, 0);
    for (req, cap) in [(r.milli_cpu, a.milli_cpu), (r.memory, a.memory)] {
        if cap > 0 {
            sum += one(req, cap);
            scored += 1;
        }
    }
    if scored == 0 { 0 } else { sum / scored }
}

/// NodeResourcesBalancedAllocation on the node at position `i`: `(1 - std of the requested
/// fractions) x 100`, fractions of the real requests with the pod's, capped at 1; for two
/// resources the std is half their difference.
pub(super) fn balanced_allocation(snapshot: &Snapshot<'_>, pod: &Pod, i: usize) -> i64 {
    let fraction = |req: u64, cap: u64| (req as f64 / cap as f64).min(1.0);
    let r = snapshot.infos[snapshot.slot_of[i]]
        .requested
        .saturating_add(pod.requests());
    let a = snapshot.nodes[i].allocatable;
    // With one resource (the other's allocatable 0) or none, the std is 0.
    let std = if a.milli_cpu > 0 && a.memory > 0 {
        (fraction(r.milli_cpu, a.milli_cpu) - fraction(r.memory, a.memory)).abs() / 2.0
    } else {
        0.0
    };
    ((1.0 - std) * MAX as f64) as i64
}
