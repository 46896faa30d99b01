//! Control-plane invariants.
//!
//! [`SingleLeaderPerLease`]: never two processes leading one Lease at once. A process leads
//! from its `leading` fact until its `stopped` fact, or until it dies or is paused (the engine
//! logs that as the actor going down: a frozen leader does nothing as leader until it runs
//! again, and when it does it first checks its renew deadline).
//!
//! [`NoTaintInUnhealthyZone`]: the node controller adds no new NoExecute taint (the step that
//! evicts pods) in a partially disrupted zone of at most 50 nodes, restated here from the
//! `--unhealthy-zone-threshold` rule rather than from the controller's own verdict, over the
//! Ready conditions etcd holds (the most advanced member's applied state): a write that took
//! effect though its writer never heard back counts, as it does for the controller.
//!
//! [`BudgetsHold`]: a voluntary eviction never leaves a workload with fewer Ready pods than
//! its PodDisruptionBudget's `desiredHealthy`, counted in the snapshot the eviction read
//! against the topology's budget, not from the disruption controller's status.

use std::collections::{BTreeMap, BTreeSet};

use super::api::{ApiObject, Kind, collection_prefix};
use super::facts::{EvictionGranted, LeaderChange, NodeTaint};
use super::objects::{Condition, NodeRecord};
use super::zones::LARGE_CLUSTER_THRESHOLD;
use crate::checks::invariant::{Invariant, WorldView};
use crate::engine::{ActorId, LogEntry, LogKind, Observer, Record, SimTime};
use crate::models::etcd::member::EtcdMember;

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
    /// Nodes with a NoExecute taint.
    tainted: BTreeSet<String>,
}

/// Registered nodes and whether they are Ready, as the most advanced etcd member has applied
/// them.
fn stored_readiness(world: &WorldView<'_>) -> BTreeMap<String, bool> {
    let newest = (0..world.models.len())
        .filter_map(|i| world.model::<EtcdMember>(ActorId(i as u32)))
        .max_by_key(|m| m.applied());
    let Some(store) = newest.and_then(EtcdMember::store) else {
        return BTreeMap::new();
    };
    let prefix = collection_prefix(Kind::Node, "");
    store
        .range(&prefix)
        .into_iter()
        .filter_map(|kv| {
            let name = kv.key.strip_prefix(&prefix)?.to_owned();
            let node = NodeRecord::decode(&kv.value)?;
            Some((name, node.ready == Condition::True))
        })
        .collect()
}

impl NoTaintInUnhealthyZone {
    /// The check for `cluster`'s nodes and zones with `threshold`.
    pub fn new(cluster: &topology::Cluster, threshold: f64) -> Self {
        NoTaintInUnhealthyZone {
            threshold,
            zone_of: super::zones::node_zones(cluster),
            tainted: BTreeSet::new(),
        }
    }

    fn zone(&self, node: &str) -> &str {
        self.zone_of.get(node).map_or("", String::as_str)
    }

    fn check(&self, node: &str, ready: &BTreeMap<String, bool>) -> Option<String> {
        let zone = self.zone(node);
        let (mut total, mut down) = (0usize, 0usize);
        for (n, ready) in ready {
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

    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        let fact = entry.fact_record()?;
        let t: &NodeTaint = fact.get()?;
        if t.effect != "NoExecute" {
            return None;
        }
        if !t.added {
            self.tainted.remove(&t.node);
            return None;
        }
        let swap = !self.tainted.insert(t.node.clone());
        if swap {
            None
        } else {
            self.check(&t.node, &stored_readiness(world))
        }
    }

    fn finish(&mut self, _end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        None
    }
}

/// A voluntary eviction (the Eviction API's) never takes a Ready pod when the snapshot it
/// read had no Ready pod to spare above the budget's `desiredHealthy` (the topology's budget
/// at the workload's replicas, not the disruption controller's status). An eviction of a pod
/// that was not Ready (allowed while the budget holds) is not counted against it.
#[derive(Debug)]
pub struct BudgetsHold {
    /// Per workload (`namespace/name`) with a budget: `desiredHealthy` at its replica count.
    desired: BTreeMap<String, u32>,
}

impl BudgetsHold {
    /// The check for `cluster`'s budgets.
    pub fn new(cluster: &topology::Cluster) -> Self {
        BudgetsHold {
            desired: cluster
                .spec
                .workloads
                .iter()
                .filter_map(|w| {
                    let desired = w.pdb.as_ref()?.desired_healthy(w.replicas);
                    Some((format!("{}/{}", w.namespace, w.name), desired))
                })
                .collect(),
        }
    }
}

impl Invariant for BudgetsHold {
    fn name(&self) -> &str {
        "kube-disruption-budgets-hold"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        let fact = entry.fact_record()?;
        let e = fact.get::<EvictionGranted>()?;
        // Before the operator's budget exists the eviction API has nothing to honour.
        if e.budgets == 0 {
            return None;
        }
        let namespace = super::api::split_name(&e.pod).0;
        let desired = *self.desired.get(&format!("{namespace}/{}", e.workload))?;
        let left = e.ready_before.saturating_sub(1);
        (e.was_ready && left < desired).then(|| {
            format!(
                "the eviction of {} left {left} Ready pods of {}; its PodDisruptionBudget needs {desired}",
                e.pod, e.workload
            )
        })
    }

    fn finish(&mut self, _end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FactRecord;

    fn entry(fact: FactRecord) -> LogEntry {
        LogEntry {
            time: SimTime::ZERO,
            kind: LogKind::Record {
                observer: Observer::Actor(0),
                record: Record::Fact(fact),
            },
        }
    }

    #[test]
    fn an_eviction_below_the_budget_is_caught() {
        let cluster = topology::default_cluster().expect("default topology");
        // web: 3 replicas, minAvailable 2.
        let mut check = BudgetsHold::new(&cluster);
        let dir = crate::engine::Directory::default();
        let net = crate::net::Network::new(0, crate::net::LinkConfig::default());
        let view = WorldView {
            directory: &dir,
            host_up: &[],
            actor_running: &[],
            net: &net,
            models: &[],
        };
        let mut evict = |was_ready: bool, ready_before: u32| {
            let fact = FactRecord::new(EvictionGranted {
                pod: "default/web-a".into(),
                workload: "web".into(),
                was_ready,
                ready_before,
                budgets: 1,
            });
            check.observe(&entry(fact), &view)
        };
        assert_eq!(evict(true, 3), None, "3 Ready, one may go");
        assert_eq!(
            evict(false, 2),
            None,
            "a pod that was not Ready takes nothing"
        );
        let broken = evict(true, 2).expect("the second leaves 1 of 2");
        assert!(broken.contains("left 1 Ready pods of web"), "{broken}");
    }
}
