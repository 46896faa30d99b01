//! Raft's safety and liveness properties as engine invariants, judged from outside the members:
//! the log's leader records and each member's durable state (read through the world view, the
//! way a test harness would inspect real members' data directories).
//!
//! - [`SingleLeaderPerTerm`]: Raft's Election Safety: at most one leader per term.
//! - [`CommitHasMajority`]: an index a member has committed is held, with the same term, in the
//!   durable logs of a majority (Raft's commit rule; with Leader Completeness this is what makes
//!   an acknowledged write survive any minority of crashes).
//! - [`CommittedLogsAgree`]: State Machine Safety: two members never commit different entries at
//!   the same index.
//! - [`LeaderRestored`]: liveness: while a majority of members runs and can talk, a leader
//!   those members follow appears within [`EtcdSimConfig::reelection_bound`].
//! - [`ClientHistoryLinearizable`]: what the clients saw, judged at the end of the run by the
//!   Wing-Gong/Lowe checker; this is also the "no acknowledged write lost" check, since every
//!   later read must see the last acknowledged write.

use std::collections::BTreeMap;

use super::client::EtcdClient;
use super::config::EtcdSimConfig;
use super::member::EtcdMember;
use super::{CLIENT_MODEL_NAME, LEADER_KEY, MODEL_NAME};
use crate::checks::invariant::{Invariant, WorldView};
use crate::checks::linearizability::{CheckConfig, History, Verdict, check};
use crate::engine::{ActorId, LogEntry, LogKind, Record, SimDuration, SimTime};

/// The members' actor ids, in Raft-id order.
fn members(world: &WorldView<'_>) -> Vec<ActorId> {
    world.directory.actors_named(MODEL_NAME).collect()
}

/// The members' models (with their durable state, crashed or not), in Raft-id order.
fn member_models<'a>(world: &'a WorldView<'_>) -> Vec<&'a EtcdMember> {
    world
        .directory
        .actors_named(MODEL_NAME)
        .filter_map(|a| world.model::<EtcdMember>(a))
        .collect()
}

/// Parses a leader record value `"<host> term <n>"`.
pub fn parse_leader(value: &str) -> Option<(&str, u64)> {
    let (host, term) = value.rsplit_once(" term ")?;
    Some((host, term.parse().ok()?))
}

/// At most one leader per term.
#[derive(Debug, Default)]
pub struct SingleLeaderPerTerm {
    leaders: BTreeMap<u64, String>,
}

impl Invariant for SingleLeaderPerTerm {
    fn name(&self) -> &str {
        "etcd-single-leader-per-term"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        let LogKind::Record {
            record: Record::State { key, value },
            ..
        } = &entry.kind
        else {
            return None;
        };
        if key != LEADER_KEY {
            return None;
        }
        let (host, term) = parse_leader(value)?;
        match self.leaders.get(&term) {
            Some(other) if other != host => Some(format!(
                "{host} became leader in term {term}, which {other} already leads"
            )),
            Some(_) => None,
            None => {
                self.leaders.insert(term, host.to_owned());
                None
            }
        }
    }

    fn finish(&mut self, _end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        None
    }
}

/// Every member's commit index is backed by a majority of durable logs.
#[derive(Debug, Default)]
pub struct CommitHasMajority;

impl CommitHasMajority {
    fn check(world: &WorldView<'_>) -> Option<String> {
        let members = member_models(world);
        let majority = members.len() / 2 + 1;
        for m in &members {
            let commit = m.durable_hard_state().commit;
            if commit == 0 {
                continue;
            }
            let Some(term) = m.durable_term(commit) else {
                return Some(format!(
                    "member {} committed index {commit} beyond its own log (last {})",
                    m.raft_id(),
                    m.durable_last_index()
                ));
            };
            let holders = members
                .iter()
                .filter(|o| o.durable_term(commit) == Some(term))
                .count();
            if holders < majority {
                return Some(format!(
                    "member {} committed index {commit} (term {term}) held by only {holders} of {} logs",
                    m.raft_id(),
                    members.len()
                ));
            }
        }
        None
    }
}

impl Invariant for CommitHasMajority {
    fn name(&self) -> &str {
        "etcd-commit-has-majority"
    }

    fn observe(&mut self, _entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        Self::check(world)
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        Self::check(world)
    }
}

/// No two members commit different entries at one index.
#[derive(Debug, Default)]
pub struct CommittedLogsAgree;

impl CommittedLogsAgree {
    fn check(world: &WorldView<'_>) -> Option<String> {
        let members = member_models(world);
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let upto = a
                    .durable_hard_state()
                    .commit
                    .min(b.durable_hard_state().commit);
                for index in 1..=upto {
                    let (ta, tb) = (a.durable_term(index), b.durable_term(index));
                    if ta != tb {
                        return Some(format!(
                            "members {} and {} committed different entries at index {index} (terms {ta:?} and {tb:?})",
                            a.raft_id(),
                            b.raft_id()
                        ));
                    }
                }
            }
        }
        None
    }
}

impl Invariant for CommittedLogsAgree {
    fn name(&self) -> &str {
        "etcd-committed-logs-agree"
    }

    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        // The full comparison is linear in the log: run it when leadership changes.
        match &entry.kind {
            LogKind::Record {
                record: Record::State { key, .. },
                ..
            } if key == LEADER_KEY => Self::check(world),
            _ => None,
        }
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        Self::check(world)
    }
}

/// A leader returns within a bound whenever a majority can elect one.
#[derive(Debug)]
pub struct LeaderRestored {
    bound: SimDuration,
    /// Since when a majority has been up and connected without a leader among it.
    leaderless_since: Option<SimTime>,
}

impl LeaderRestored {
    /// Leaderless stretches of a healthy majority must end within `config`'s re-election bound.
    pub fn new(config: &EtcdSimConfig) -> Self {
        LeaderRestored {
            bound: config.reelection_bound(),
            leaderless_since: None,
        }
    }

    /// (a majority of members is running and mutually connected, one of them leads it).
    fn state(world: &WorldView<'_>) -> (bool, bool) {
        let ids = members(world);
        let majority = ids.len() / 2 + 1;
        let host = |a: ActorId| world.directory.actor_host(a);
        let running = |a: ActorId| world.actor_running.get(a.0 as usize).copied() == Some(true);
        let mut healthy = false;
        let mut led = false;
        for &a in ids.iter().filter(|a| running(**a)) {
            let Some(ha) = host(a) else { continue };
            let group: Vec<ActorId> = ids
                .iter()
                .copied()
                .filter(|b| running(*b))
                .filter(|b| {
                    host(*b).is_some_and(|hb| {
                        hb == ha || (world.net.connected(ha, hb) && world.net.connected(hb, ha))
                    })
                })
                .collect();
            if group.len() < majority {
                continue;
            }
            healthy = true;
            let top_term = group
                .iter()
                .filter_map(|b| world.model::<EtcdMember>(*b)?.term())
                .max();
            led |= group.iter().any(|b| {
                world
                    .model::<EtcdMember>(*b)
                    .is_some_and(|m| m.is_leader() && m.term() == top_term)
            });
        }
        (healthy, led)
    }
}

impl Invariant for LeaderRestored {
    fn name(&self) -> &str {
        "etcd-leader-restored"
    }

    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        let (healthy, led) = Self::state(world);
        match (healthy && !led, self.leaderless_since) {
            (true, None) => {
                self.leaderless_since = Some(entry.time);
                None
            }
            (false, Some(since)) => {
                self.leaderless_since = None;
                let gap = entry.time - since;
                (led && gap > self.bound).then(|| {
                    format!(
                        "a connected majority went {gap} without a leader (bound {})",
                        self.bound
                    )
                })
            }
            _ => None,
        }
    }

    fn finish(&mut self, end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        let since = self.leaderless_since?;
        let gap = end - since;
        (gap > self.bound).then(|| {
            format!(
                "a connected majority had no leader for the last {gap} of the run (bound {})",
                self.bound
            )
        })
    }
}

/// The merged client history is linearizable.
#[derive(Debug, Default)]
pub struct ClientHistoryLinearizable;

impl Invariant for ClientHistoryLinearizable {
    fn name(&self) -> &str {
        "etcd-linearizable"
    }

    fn observe(&mut self, _entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        None
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        let operations = world
            .directory
            .actors_named(CLIENT_MODEL_NAME)
            .filter_map(|a| world.model::<EtcdClient>(a))
            .flat_map(|c| c.operations().iter().cloned())
            .collect();
        match check(&History::new(operations), &CheckConfig::default()) {
            Ok(Verdict::Linearizable) => None,
            Ok(Verdict::NotLinearizable(v)) => Some(format!("client history: {v:?}")),
            Ok(Verdict::Unknown { keys }) => Some(format!(
                "the checker's budget ran out on keys {keys:?}: shorten the run or the workload"
            )),
            Err(e) => Some(format!("client history is malformed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_records_parse() {
        assert_eq!(
            parse_leader("cloudserver1 term 7"),
            Some(("cloudserver1", 7))
        );
        assert_eq!(parse_leader("no term here"), None);
        assert_eq!(parse_leader("a term x"), None);
    }
}
