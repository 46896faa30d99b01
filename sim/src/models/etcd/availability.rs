//! The etcd lane of a timeline and its leader-election gaps, derived from the run's log.
//!
//! No single member can say when the cluster lost its leader: a crashed leader records nothing,
//! and a partitioned one believes it leads until check-quorum demotes it. So the `etcd` lane is
//! computed from ground truth in the log: it is up while the member that last won an election
//! is running, still records itself leader of that term, and sits in a network partition
//! group holding a majority of members; down otherwise. A down stretch after the first election
//! is a leader-election gap: from the fault that took the leader away to the next leader, the
//! same span the real-etcd schedule measures (fault to first `endpoint status` naming a new
//! leader).

use std::collections::{BTreeMap, BTreeSet};

use topology::component::Component;
use topology::fault::Fault;
use topology::policy::quorum::has_quorum;

use super::MODEL_NAME;
use super::facts::{EtcdLeader, EtcdRole, RoleState};
use crate::checks::timeline::{Interval, Timeline};
use crate::engine::{Directory, LogEntry, LogKind, Record, SimDuration, SimTime, Status};

/// Component name of the derived lane.
pub const COMPONENT: Component = Component::Etcd;

/// One stretch without a usable leader, after the cluster first had one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionGap {
    /// When the leader was lost.
    pub start: SimTime,
    /// How long until a new (or the same, re-reachable) leader served again; `None` if the run
    /// ended first.
    pub length: Option<SimDuration>,
}

#[derive(Debug, Default)]
struct Facts {
    /// Latest winner: host and term.
    leader: Option<(String, u64)>,
    /// Latest role record per host.
    roles: BTreeMap<String, RoleState>,
    /// Hosts whose etcd actor is running.
    running: BTreeSet<String>,
    /// Partition group index per host (absent: not partitioned).
    group_of: BTreeMap<String, usize>,
}

impl Facts {
    fn leader_serves(&self, members: &[String]) -> bool {
        let Some((host, term)) = &self.leader else {
            return false;
        };
        if !self.running.contains(host) {
            return false;
        }
        let leads = RoleState::InTerm {
            role: "leader",
            term: *term,
        };
        if self.roles.get(host) != Some(&leads) {
            return false;
        }
        let group = self.group_of.get(host);
        let reachable = members
            .iter()
            .filter(|m| self.group_of.get(*m) == group)
            .count();
        has_quorum(reachable, members.len())
    }
}

/// The `etcd` lane from the first leader until `end` (empty if no leader was ever elected).
pub fn leader_timeline(log: &[LogEntry], directory: &Directory, end: SimTime) -> Timeline {
    let actors: BTreeMap<u32, String> = directory
        .actors_named(MODEL_NAME)
        .filter_map(|a| {
            Some((
                a.0,
                directory.host_name(directory.actor_host(a)?).to_owned(),
            ))
        })
        .collect();
    let members: Vec<String> = actors.values().cloned().collect();
    let mut facts = Facts::default();
    let mut changes: Vec<(SimTime, Status)> = vec![(SimTime::ZERO, Status::Down)];
    for entry in log {
        match &entry.kind {
            LogKind::Record {
                record: Record::Fact(fact),
                ..
            } => {
                if let Some(EtcdLeader { host, term }) = fact.get() {
                    facts.leader = Some((host.clone(), *term));
                } else if let Some(EtcdRole { host, role }) = fact.get() {
                    facts.roles.insert(host.clone(), role.clone());
                }
            }
            LogKind::ActorUp(a) => {
                if let Some(h) = actors.get(&a.0) {
                    facts.running.insert(h.clone());
                }
            }
            LogKind::ActorDown(a) => {
                if let Some(h) = actors.get(&a.0) {
                    facts.running.remove(h);
                }
            }
            LogKind::Fault(Fault::Partition { groups }) => {
                facts.group_of = groups
                    .iter()
                    .enumerate()
                    .flat_map(|(i, g)| g.iter().map(move |h| (h.clone(), i)))
                    .collect();
                // Hosts not named form one more group.
                for m in &members {
                    facts.group_of.entry(m.clone()).or_insert(groups.len());
                }
            }
            LogKind::Fault(Fault::Heal) => facts.group_of.clear(),
            LogKind::Record { .. } | LogKind::Fault(_) => {}
        }
        let status = if facts.leader_serves(&members) {
            Status::Up
        } else {
            Status::Down
        };
        match changes.last() {
            Some((_, last)) if *last == status => {}
            Some((t, _)) if *t == entry.time => {
                changes.pop();
                if changes.last().map(|(_, s)| *s) != Some(status) {
                    changes.push((entry.time, status));
                }
            }
            _ => changes.push((entry.time, status)),
        }
    }
    // Before the first election the cluster is still forming: the lane starts at the first
    // leader, so bootstrap does not count as an outage.
    if let Some(first_up) = changes.iter().position(|(_, s)| *s == Status::Up) {
        changes.drain(..first_up);
    } else {
        changes.clear();
    }
    let intervals = changes
        .iter()
        .enumerate()
        .filter_map(|(i, (start, status))| {
            let stop = changes.get(i + 1).map_or(end, |n| n.0).min(end);
            (stop > *start).then_some(Interval {
                start: *start,
                end: stop,
                status: *status,
            })
        })
        .collect();
    Timeline {
        component: COMPONENT.to_string(),
        intervals,
    }
}

/// The leader-election gaps of an `etcd` lane: its down stretches after the first up one.
pub fn election_gaps(lane: &Timeline, end: SimTime) -> Vec<ElectionGap> {
    let Some(first_up) = lane.intervals.iter().position(|i| i.status == Status::Up) else {
        return Vec::new();
    };
    lane.intervals[first_up..]
        .iter()
        .filter(|i| i.status != Status::Up)
        .map(|i| ElectionGap {
            start: i.start,
            length: (i.end < end).then(|| i.end - i.start),
        })
        .collect()
}
