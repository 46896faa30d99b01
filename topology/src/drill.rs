//! Fault drills as data: the phase plan that both a real run (real members in network
//! namespaces, later the lab) and the simulator's mirror of it walk, and what each phase
//! observes, in one shape so the two compare field by field.
//!
//! A [`PhasePlan`] is a list of phases of fixed length; a phase may carry one [`PhaseFault`]
//! aimed at a [`Target`] chosen when the phase starts (the leader, the first member that is not
//! the leader, or a fixed member). Each runner walks the plan the same way: note the leader,
//! pick the target, apply the fault, wait for a new leader when the fault took the leader away,
//! repair at the end of the phase, wait until the cluster is healthy again.

use std::time::Duration;

use serde::Serialize;

/// How one client call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// Answered successfully.
    Ok,
    /// Rejected: for a write, known not to have taken effect.
    Failed,
    /// No answer in time: a write may or may not have taken effect.
    Indeterminate,
}

/// Calls of one phase by kind and result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhaseCounts {
    /// Writes (puts and txns) answered.
    pub writes_ok: u32,
    /// Writes rejected before they were proposed.
    pub writes_failed: u32,
    /// Writes without an answer.
    pub writes_indeterminate: u32,
    /// Reads answered.
    pub reads_ok: u32,
    /// Reads that failed or went unanswered (a read has no effect to be unsure about).
    pub reads_failed: u32,
}

impl PhaseCounts {
    /// Counts one call.
    pub fn add(&mut self, write: bool, result: CallResult) {
        match (write, result) {
            (true, CallResult::Ok) => self.writes_ok += 1,
            (true, CallResult::Failed) => self.writes_failed += 1,
            (true, CallResult::Indeterminate) => self.writes_indeterminate += 1,
            (false, CallResult::Ok) => self.reads_ok += 1,
            (false, _) => self.reads_failed += 1,
        }
    }

    /// Every call.
    pub fn total(&self) -> u32 {
        self.writes() + self.reads_ok + self.reads_failed
    }

    /// Writes sent.
    pub fn writes(&self) -> u32 {
        self.writes_ok + self.writes_failed + self.writes_indeterminate
    }

    /// The figures the differential test compares: the share of writes answered, and the calls
    /// left unanswered or rejected.
    pub fn answered_share_and_misses(&self) -> (f64, u32) {
        (
            f64::from(self.writes_ok) / f64::from(self.writes().max(1)),
            self.writes_failed + self.writes_indeterminate + self.reads_failed,
        )
    }
}

/// Which member a phase's fault hits, chosen when the phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The current leader.
    Leader,
    /// The first member (in member order) that is not the leader.
    FirstFollower,
    /// The member at this position, whoever leads.
    Member(usize),
}

/// A phase's fault, repaired at the end of the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseFault {
    /// SIGKILL the member's process; restart it.
    Kill(Target),
    /// SIGSTOP it; SIGCONT.
    Pause(Target),
    /// Take its host's link down; bring it back.
    CutLink(Target),
    /// Block traffic between it and every other member, both ways, while its clients still
    /// reach it (a minority partition); unblock. The phase's calls count from the cut on.
    CutFromPeers(Target),
}

impl PhaseFault {
    /// The member it hits.
    pub fn target(self) -> Target {
        match self {
            PhaseFault::Kill(t)
            | PhaseFault::Pause(t)
            | PhaseFault::CutLink(t)
            | PhaseFault::CutFromPeers(t) => t,
        }
    }

    /// Whether the phase starts once the fault is in place (so no call sent before it counts
    /// against it), rather than before the fault.
    pub fn starts_after_fault(self) -> bool {
        matches!(self, PhaseFault::CutFromPeers(_))
    }
}

/// One phase of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phase {
    /// Name, e.g. `kill-leader`.
    pub name: String,
    /// Its fault, if any.
    pub fault: Option<PhaseFault>,
}

/// A drill: phases of one length, and a bound on every wait for a leader or for health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhasePlan {
    /// Length of each phase.
    pub phase: Duration,
    /// Bound on waiting for a new leader or for health after a fault.
    pub recovery_timeout: Duration,
    /// In order.
    pub phases: Vec<Phase>,
}

/// Length of each phase of the etcd schedule: long enough for an election (about 1-2 s with
/// the rendered 1000 ms election timeout) and a few seconds of service after it.
pub const ETCD_PHASE: Duration = Duration::from_secs(4);
/// Bound on waiting for a new leader or for health in the etcd schedule.
pub const ETCD_RECOVERY_TIMEOUT: Duration = Duration::from_secs(20);

impl PhasePlan {
    /// The etcd fault schedule: `baseline`; `kill-leader`; `stop-member` (pause the first
    /// follower); `cut-member` (its link); `partition-member` (member `partitioned` cut from
    /// its peers, its pinned client still reaching it); `cut-leader`; `healed`.
    pub fn etcd_schedule(partitioned: usize) -> Self {
        let phase = |name: &str, fault| Phase {
            name: name.to_owned(),
            fault,
        };
        PhasePlan {
            phase: ETCD_PHASE,
            recovery_timeout: ETCD_RECOVERY_TIMEOUT,
            phases: vec![
                phase("baseline", None),
                phase("kill-leader", Some(PhaseFault::Kill(Target::Leader))),
                phase(
                    "stop-member",
                    Some(PhaseFault::Pause(Target::FirstFollower)),
                ),
                phase(
                    "cut-member",
                    Some(PhaseFault::CutLink(Target::FirstFollower)),
                ),
                phase(
                    "partition-member",
                    Some(PhaseFault::CutFromPeers(Target::Member(partitioned))),
                ),
                phase("cut-leader", Some(PhaseFault::CutLink(Target::Leader))),
                phase("healed", None),
            ],
        }
    }

    /// One leader loss as a drill on a running cluster: `baseline`, then `name` with `fault`
    /// on the leader, then `healed`, all with the cluster's `election_timeout`. A phase lasts
    /// two election timeouts (the longest randomised timeout a follower draws) plus
    /// [`ETCD_PHASE`] of service after it, so the election fits in the phase; every wait is
    /// bounded by [`ETCD_RECOVERY_TIMEOUT`] per second of election timeout (20 s at etcd's
    /// default 1000 ms, the etcd schedule's bound).
    pub fn leader_loss(name: &str, fault: PhaseFault, election_timeout: Duration) -> Self {
        let phase = |name: &str, fault| Phase {
            name: name.to_owned(),
            fault,
        };
        let scale = election_timeout.as_secs_f64().max(1.0);
        PhasePlan {
            phase: election_timeout * 2 + ETCD_PHASE,
            recovery_timeout: ETCD_RECOVERY_TIMEOUT.mul_f64(scale),
            phases: vec![
                phase("baseline", None),
                phase(name, Some(fault)),
                phase("healed", None),
            ],
        }
    }

    /// The fixed member a `CutFromPeers` phase isolates, if any: the member the pinned client
    /// talks to.
    pub fn partitioned_member(&self) -> Option<usize> {
        self.phases.iter().find_map(|p| match p.fault {
            Some(PhaseFault::CutFromPeers(Target::Member(m))) => Some(m),
            _ => None,
        })
    }

    /// Phase names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.phases.iter().map(|p| p.name.as_str()).collect()
    }
}

impl Target {
    /// The member position this target names, given the current leader's position (if any)
    /// among `members` members.
    pub fn resolve(self, leader: Option<usize>, members: usize) -> Option<usize> {
        match self {
            Target::Leader => leader,
            Target::FirstFollower => (0..members).find(|i| Some(*i) != leader),
            Target::Member(m) => (m < members).then_some(m),
        }
    }
}

/// Name (host) of workload client `i` of a drill with `clients` failing-over clients: `client0`
/// .. for those, `pinned` for the one pinned client (number `clients`). The simulator's client
/// lanes (`etcd-writes/<name>`) and a real run's observed ones use these names.
pub fn client_name(i: u32, clients: u32) -> String {
    if i >= clients {
        PINNED_CLIENT.to_owned()
    } else {
        format!("client{i}")
    }
}

/// Name of the client pinned to the partitioned member.
pub const PINNED_CLIENT: &str = "pinned";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_loss_drill_fits_the_slowest_election_in_its_phase() {
        let default = PhasePlan::leader_loss(
            "kill-leader",
            PhaseFault::Kill(Target::Leader),
            Duration::from_millis(1000),
        );
        assert_eq!(default.names(), ["baseline", "kill-leader", "healed"]);
        assert_eq!(default.phase, Duration::from_secs(6));
        assert_eq!(default.recovery_timeout, ETCD_RECOVERY_TIMEOUT);
        let stretched = PhasePlan::leader_loss(
            "cut-leader",
            PhaseFault::CutLink(Target::Leader),
            Duration::from_secs(10),
        );
        assert_eq!(stretched.phase, Duration::from_secs(24));
        assert_eq!(stretched.recovery_timeout, Duration::from_secs(200));
        assert_eq!(
            stretched.phases[1].fault,
            Some(PhaseFault::CutLink(Target::Leader))
        );
    }

    #[test]
    fn the_etcd_schedule_targets_resolve_as_both_runners_pick_them() {
        let plan = PhasePlan::etcd_schedule(2);
        assert_eq!(
            plan.names(),
            [
                "baseline",
                "kill-leader",
                "stop-member",
                "cut-member",
                "partition-member",
                "cut-leader",
                "healed"
            ]
        );
        assert_eq!(plan.partitioned_member(), Some(2));
        assert_eq!(Target::Leader.resolve(Some(1), 3), Some(1));
        assert_eq!(Target::FirstFollower.resolve(Some(0), 3), Some(1));
        assert_eq!(Target::FirstFollower.resolve(Some(1), 3), Some(0));
        assert_eq!(Target::FirstFollower.resolve(None, 3), Some(0));
        assert_eq!(Target::Member(2).resolve(Some(0), 3), Some(2));
        assert_eq!(Target::Member(3).resolve(Some(0), 3), None);
        let starts_after: Vec<bool> = plan
            .phases
            .iter()
            .map(|p| p.fault.is_some_and(PhaseFault::starts_after_fault))
            .collect();
        assert_eq!(
            starts_after,
            [false, false, false, false, true, false, false]
        );
        assert_eq!(
            (client_name(0, 2), client_name(2, 2)),
            ("client0".into(), "pinned".into())
        );
    }

    #[test]
    fn calls_land_in_their_bucket() {
        let mut c = PhaseCounts::default();
        c.add(true, CallResult::Ok);
        c.add(true, CallResult::Failed);
        c.add(true, CallResult::Indeterminate);
        c.add(false, CallResult::Ok);
        c.add(false, CallResult::Indeterminate);
        assert_eq!((c.writes(), c.total()), (3, 5));
        assert_eq!((c.reads_ok, c.reads_failed), (1, 1));
        assert_eq!(c.answered_share_and_misses(), (1.0 / 3.0, 3));
    }
}
