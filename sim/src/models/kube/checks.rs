//! Control-plane invariants.
//!
//! [`SingleLeaderPerLease`]: never two processes leading one Lease at once. A process leads
//! from its `leading` fact until its `stopped` fact, or until it dies or is paused (the engine
//! logs that as the actor going down: a frozen leader does nothing as leader until it runs
//! again, and when it does it first checks its renew deadline).

use std::collections::BTreeMap;

use super::facts::LeaderChange;
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
