//! Control-plane invariants.
//!
//! [`SingleLeaderPerLease`]: never two processes leading one Lease at once. A process leads
//! from its `leading` fact until its `stopped` fact, or until it dies or is paused (the engine
//! logs that as the actor going down: a frozen leader does nothing as leader until it runs
//! again, and when it does it first checks its renew deadline).
//!
//! [`NoTaintInUnhealthyZone`]: the node controller adds no new NoExecute taint (the step that
//! evicts pods) in a partially disrupted zone of at most 50 nodes, restated here from the
//! `--unhealthy-zone-threshold` rule rather than from the controller's own verdict.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{LeaderChange, NodeReady, NodeTaint};
use super::zones::LARGE_CLUSTER_THRESHOLD;
use crate::checks::invariant::{Invariant, WorldView};
use crate::engine::{ActorId, LogEntry, LogKind, Observer, Record, SimTime};

/// Never two leaders of one Lease at once.
#[derive(Debug, Default)]
pub struct SingleLeaderPerLease {
    /// Per lease: the leading (actor, identity).
    leaders: BTreeMap<String, Vec<(ActorId, String)>>,
}

impl Invariant for SingleLeaderPerLease {
    fn name(&self) -> &str {
        "kube-single-leader-per-lease"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        match &entry.kind {
            LogKind::ActorDown(actor) => {
                for leaders in self.leaders.values_mut() {
                    leaders.retain(|(a, _)| a != actor);
                }
                None
            }
            LogKind::Record {
                observer: Observer::Actor(actor),
                record: Record::Fact(fact),
            } => {
                let change: &LeaderChange = fact.get()?;
                let leaders = self.leaders.entry(change.lease.clone()).or_default();
                leaders.retain(|(_, id)| *id != change.identity);
                if !change.leading {
                    return None;
                }
                leaders.push((ActorId(*actor), change.identity.clone()));
                (leaders.len() > 1).then(|| {
                    let names: Vec<&str> = leaders.iter().map(|(_, i)| i.as_str()).collect();
                    format!(
                        "lease {} has {} leaders at once: {}",
                        change.lease,
                        leaders.len(),
                        names.join(", ")
                    )
                })
            }
            _ => None,
        }
    }

    fn finish(&mut self, _end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        None
    }
}

/// No new NoExecute taint while the node's zone is partially disrupted: more than two of its
/// nodes and at least the unhealthy-zone threshold of them not Ready, in a zone of at most
/// `--large-cluster-size-threshold` nodes. A swap of one NoExecute taint for the other (which
/// upstream does directly) is not new.
#[derive(Debug)]
pub struct NoTaintInUnhealthyZone {
    threshold: f64,
    zone_of: BTreeMap<String, String>,
    /// Registered nodes and whether they are Ready, per the facts.
    ready: BTreeMap<String, bool>,
    /// Nodes with a NoExecute taint.
    tainted: BTreeSet<String>,
}

impl NoTaintInUnhealthyZone {
    /// The check for `cluster`'s nodes and zones with `threshold`.
    pub fn new(cluster: &topology::Cluster, threshold: f64) -> Self {
        NoTaintInUnhealthyZone {
            threshold,
            zone_of: super::zones::node_zones(cluster),
            ready: BTreeMap::new(),
            tainted: BTreeSet::new(),
        }
    }

    fn zone(&self, node: &str) -> &str {
        self.zone_of.get(node).map_or("", String::as_str)
    }

    fn check(&self, node: &str) -> Option<String> {
        let zone = self.zone(node);
        let (mut total, mut down) = (0usize, 0usize);
        for (n, ready) in &self.ready {
            if self.zone(n) == zone {
                total += 1;
                down += usize::from(!ready);
            }
        }
        let unhealthy = down > 2 && down as f64 >= self.threshold * total as f64;
        (unhealthy && total <= LARGE_CLUSTER_THRESHOLD).then(|| {
            format!(
                "NoExecute taint added on {node} while {down} of the {total} nodes of its zone are not Ready (unhealthy-zone threshold {})",
                self.threshold
            )
        })
    }
}

impl Invariant for NoTaintInUnhealthyZone {
    fn name(&self) -> &str {
        "kube-no-new-eviction-in-unhealthy-zone"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        let LogKind::Record {
            record: Record::Fact(fact),
            ..
        } = &entry.kind
        else {
            return None;
        };
        if let Some(r) = fact.get::<NodeReady>() {
            self.ready.insert(r.node.clone(), r.ready);
            return None;
        }
        let t: &NodeTaint = fact.get()?;
        if t.effect != "NoExecute" {
            return None;
        }
        if !t.added {
            self.tainted.remove(&t.node);
            return None;
        }
        let swap = !self.tainted.insert(t.node.clone());
        if swap { None } else { self.check(&t.node) }
    }

    fn finish(&mut self, _end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        None
    }
}
