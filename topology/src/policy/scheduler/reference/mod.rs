//! The scheduler as it was before the snapshot (`filters.rs` and `scores.rs` copied
//! verbatim but for their imports, a `matches` function for the private `Pod::matches`, and
//! `Rejection` without its unread node): every filter and score rescans `placed`, and the
//! spread filter recounts every domain for every node. Kept as the oracle the equivalence proptest
//! compares [`super::schedule`] with, and as the baseline `benches/scheduler.rs` times (it
//! includes this folder by path, so nothing here may use the scheduler's private items:
//! `super::` is whatever module declares `reference`, holding the public types).

mod filters;
mod scores;

use std::collections::BTreeMap;

use super::{
    HOSTNAME_LABEL, Node, Outcome, Placed, Pod, Resources, SpreadConstraint, Strength, Taint,
    TaintEffect, UNSCHEDULABLE_TAINT, ZONE_LABEL,
};
use filters::Rejection;

/// `Pod::matches` (private to the scheduler, so repeated here).
fn matches(pod: &Pod, namespace: &str, selector: &BTreeMap<String, String>) -> bool {
    pod.namespace == namespace
        && !selector.is_empty()
        && selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
}

/// The old `schedule`.
pub fn schedule(pod: &Pod, nodes: &[Node], placed: &[Placed]) -> Outcome {
    let mut feasible = Vec::new();
    let mut rejections = Vec::new();
    for node in nodes {
        match filters::run(pod, node, nodes, placed) {
            Ok(()) => feasible.push(node),
            Err(r) => rejections.push(r),
        }
    }
    match feasible.as_slice() {
        [] => Outcome::Unschedulable {
            message: fit_error(nodes.len(), &rejections),
        },
        [only] => Outcome::Scheduled {
            node: only.name.clone(),
            totals: Vec::new(),
        },
        _ => {
            let totals = scores::totals(pod, &feasible, nodes, placed);
            let best = totals.iter().map(|(_, t)| *t).max().unwrap_or(0);
            let node = totals
                .iter()
                .find(|(_, t)| *t == best)
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            Outcome::Scheduled { node, totals }
        }
    }
}

/// The old `fit_error`.
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
