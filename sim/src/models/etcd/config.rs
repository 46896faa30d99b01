//! How a simulated etcd member runs Raft: the topology's timings turned into raft-rs ticks,
//! plus the settings etcd hard-codes in `etcdserver/raft.go`. Kept apart from the member so the
//! numbers, and where each comes from, are in one place.

use raft::{Config, ReadOnlyOption};
use topology::model::EtcdSpec;

use crate::engine::SimDuration;

/// `maxSizePerMsg` in etcd's `etcdserver/raft.go`: 1 MiB of entries per append message.
pub const ETCD_MAX_SIZE_PER_MSG: u64 = 1024 * 1024;

/// `maxInflightMsgs` in etcd's `etcdserver/raft.go`: 4096 / 8 = 512 append messages in flight
/// per follower.
pub const ETCD_MAX_INFLIGHT_MSGS: usize = 4096 / 8;

/// etcd sets `CheckQuorum: true` unconditionally (`etcdserver/raft.go`, `raft.Config`): a leader
/// that has not heard from a quorum within an election timeout steps down, and followers ignore
/// vote requests while they are within the lease of a live leader.
pub const ETCD_CHECK_QUORUM: bool = true;

/// Raft settings of one simulated member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtcdSimConfig {
    /// `--heartbeat-interval`: one Raft tick (etcd ticks its Raft node once per heartbeat
    /// interval, so `HeartbeatTick = 1`). Upstream default 100 ms.
    pub heartbeat: SimDuration,
    /// `--election-timeout`; Raft waits a random time in `[T, 2T)` before campaigning
    /// (etcd raft `resetRandomizedElectionTimeout`). Upstream default 1000 ms.
    pub election_timeout: SimDuration,
    /// `--pre-vote`: off in etcd 3.4, on by default since 3.5.
    pub pre_vote: bool,
}

impl Default for EtcdSimConfig {
    fn default() -> Self {
        EtcdSimConfig::from_spec(&EtcdSpec::default())
    }
}

impl EtcdSimConfig {
    /// The settings a member runs with under `spec`.
    pub fn from_spec(spec: &EtcdSpec) -> Self {
        EtcdSimConfig {
            heartbeat: SimDuration::from_millis(u64::from(spec.heartbeat_interval_ms)),
            election_timeout: SimDuration::from_millis(u64::from(spec.election_timeout_ms)),
            pre_vote: spec.pre_vote,
        }
    }

    /// Election timeout in ticks, as etcd computes `ElectionTicks`: election timeout divided by
    /// heartbeat interval (at least 2, which raft-rs requires above the heartbeat tick).
    pub fn election_ticks(&self) -> usize {
        let ticks = self.election_timeout.as_nanos() / self.heartbeat.as_nanos().max(1);
        usize::try_from(ticks).unwrap_or(usize::MAX).max(2)
    }

    /// The raft-rs configuration of member `id`. The randomised timeout range is the upstream
    /// `[election, 2 * election)`; the engine overrides raft-rs's own (thread-RNG) draw with one
    /// from the run's seeded stream every time Raft resets it.
    pub fn raft_config(&self, id: u64) -> Config {
        let election = self.election_ticks();
        Config {
            id,
            election_tick: election,
            heartbeat_tick: 1,
            min_election_tick: election,
            max_election_tick: 2 * election,
            check_quorum: ETCD_CHECK_QUORUM,
            pre_vote: self.pre_vote,
            max_size_per_msg: ETCD_MAX_SIZE_PER_MSG,
            max_inflight_msgs: ETCD_MAX_INFLIGHT_MSGS,
            // ReadOnlySafe is raft's default (`ReadOnlySafe` is the zero value of raft's
            // `ReadOnlyOption`) and etcd never changes it: `etcdserver/raft.go` leaves
            // `raft.Config.ReadOnlyOption` unset and no flag sets it. ReadIndex confirms
            // leadership with a heartbeat round instead of trusting the lease.
            read_only_option: ReadOnlyOption::Safe,
            ..Config::default()
        }
    }

    /// How long a member waits for a client's proposal or linearizable read before it gives
    /// up on it: etcd's `ReqTimeout()` = 5 s + 2 x election timeout ("5s for queue waiting,
    /// computation and disk IO delay + 2 * election timeout for possible leader election",
    /// `etcdserver/config.go`, 3.4 and 3.5): 7 s at the upstream defaults.
    pub fn request_timeout(&self) -> SimDuration {
        SimDuration::from_secs(5) + self.election_timeout + self.election_timeout
    }

    /// Longest a healthy majority may go without a leader after losing one: the worst
    /// randomised timeout (just under `2T`), measured from the last heartbeat (one heartbeat
    /// before the loss at worst), plus a pre-vote and a vote round and one retry after a split
    /// vote (another `2T`). The invariants and scenario tests hold the model to it.
    pub fn reelection_bound(&self) -> SimDuration {
        self.election_timeout
            + self.election_timeout
            + self.heartbeat
            + self.election_timeout
            + self.election_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_defaults_give_ten_ticks() {
        let c = EtcdSimConfig::default();
        assert_eq!(c.heartbeat, SimDuration::from_millis(100));
        assert_eq!(c.election_ticks(), 10);
        let rc = c.raft_config(1);
        assert_eq!((rc.min_election_tick, rc.max_election_tick), (10, 20));
        assert!(rc.check_quorum && rc.pre_vote);
        rc.validate().expect("raft-rs accepts the config");
        assert_eq!(c.request_timeout(), SimDuration::from_secs(7));
    }
}
