//! Majority quorum, as Raft (etcd) and Paxos (Ceph monitors) count it: a group of `n` voters
//! acts while more than half of them can talk to each other. Every place that asks "is this a
//! majority?" (the analysis's etcd and monitor verdicts, the simulator's invariants, its etcd
//! lane and its monitors' elections) asks here.

/// Smallest majority of `voters`: `voters / 2 + 1` (raft-rs `ProgressTracker::quorum`,
/// Ceph `MonMap` "majority"). One for an empty group, so no empty set is ever a majority.
pub const fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

/// Whether `reachable` voters out of `voters` form a majority.
pub const fn has_quorum(reachable: usize, voters: usize) -> bool {
    reachable >= majority(voters)
}

/// How many of `voters` may fail while the rest keep a majority (0 for fewer than 3).
pub const fn tolerated_failures(voters: usize) -> usize {
    voters.saturating_sub(majority(voters))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majorities_of_small_groups() {
        let table: Vec<(usize, usize, usize)> = (0..=7)
            .map(|n| (n, majority(n), tolerated_failures(n)))
            .collect();
        assert_eq!(
            table,
            [
                (0, 1, 0),
                (1, 1, 0),
                (2, 2, 0),
                (3, 2, 1),
                (4, 3, 1),
                (5, 3, 2),
                (6, 4, 2),
                (7, 4, 3)
            ]
        );
    }

    #[test]
    fn half_is_not_a_quorum() {
        assert!(!has_quorum(2, 4));
        assert!(has_quorum(3, 4));
        assert!(has_quorum(2, 3));
        assert!(!has_quorum(1, 3));
        assert!(!has_quorum(0, 0), "an empty group never acts");
    }
}
