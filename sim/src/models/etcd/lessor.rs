//! etcd's lessor (`lease/lessor.go`, 3.4 and 3.5): leases with a TTL, the keys attached to
//! them, and who decides when one expires.
//!
//! Grants and revocations go through Raft and are applied on every member; expiry is the
//! leader's alone (the "primary" lessor). The leader renews a lease on each keepalive, checks
//! for expired leases and proposes their revocation, which deletes the attached keys on every
//! member. Followers keep no deadline (a demoted lessor sets every expiry to "forever"); a new
//! leader promotes its lessor by giving every lease its full TTL plus one election timeout
//! (`Promote(extend)` with `extend` = the election timeout, `etcdserver/server.go`), since
//! lease checkpointing is off by default (`--experimental-enable-lease-checkpoint`).

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{SimDuration, SimTime};

/// etcd's minimum lease TTL: a grant asks for at least `minLeaseTTL`, which is
/// `(3 * electionTicks) / 2` heartbeats (`lease/lessor.go`, `NewLessor`; 1.5 s at the defaults),
/// so that a lease outlives a leader election. The model applies it as etcd does.
pub fn min_ttl(election_timeout: SimDuration) -> SimDuration {
    SimDuration::from_nanos(election_timeout.as_nanos() * 3 / 2)
}

/// One lease.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Lease {
    ttl: SimDuration,
    keys: BTreeSet<String>,
    /// When it expires; `None` on a follower (demoted lessor: never by itself).
    expiry: Option<SimTime>,
}

/// A member's leases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lessor {
    leases: BTreeMap<i64, Lease>,
    primary: bool,
}

impl Lessor {
    /// Applies a grant (from the log): the lease exists from now on; on the leader its clock
    /// starts now.
    pub fn grant(&mut self, id: i64, ttl: SimDuration, now: SimTime) {
        let expiry = self.primary.then(|| now + ttl);
        self.leases.insert(
            id,
            Lease {
                ttl,
                keys: BTreeSet::new(),
                expiry,
            },
        );
    }

    /// Whether lease `id` exists.
    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Applies a revocation (from the log): the lease is gone; returns its keys, which the
    /// member deletes in the same revision, or `None` when there was no such lease.
    pub fn revoke(&mut self, id: i64) -> Option<Vec<String>> {
        self.leases
            .remove(&id)
            .map(|l| l.keys.into_iter().collect())
    }

    /// A put of `key` applied: the key leaves any lease it was attached to, and joins `lease`
    /// if given (a put without a lease detaches, as etcd's `Put` with lease 0 does).
    pub fn attach(&mut self, key: &str, lease: Option<i64>) {
        for l in self.leases.values_mut() {
            l.keys.remove(key);
        }
        if let Some(l) = lease.and_then(|id| self.leases.get_mut(&id)) {
            l.keys.insert(key.to_owned());
        }
    }

    /// A delete of `key` applied: it belongs to no lease any more.
    pub fn detach(&mut self, key: &str) {
        for l in self.leases.values_mut() {
            l.keys.remove(key);
        }
    }

    /// The leader renews lease `id` (a keepalive): its clock starts over. Returns the TTL, or
    /// `None` when the lease does not exist or this lessor is not the primary.
    pub fn renew(&mut self, id: i64, now: SimTime) -> Option<SimDuration> {
        if !self.primary {
            return None;
        }
        let l = self.leases.get_mut(&id)?;
        l.expiry = Some(now + l.ttl);
        Some(l.ttl)
    }

    /// This member became leader: every lease gets its full TTL plus `extend` from now.
    pub fn promote(&mut self, now: SimTime, extend: SimDuration) {
        self.primary = true;
        for l in self.leases.values_mut() {
            l.expiry = Some(now + extend + l.ttl);
        }
    }

    /// This member stopped leading: no lease expires by its clock.
    pub fn demote(&mut self) {
        self.primary = false;
        for l in self.leases.values_mut() {
            l.expiry = None;
        }
    }

    /// Whether this lessor decides expiry.
    pub fn is_primary(&self) -> bool {
        self.primary
    }

    /// Leases whose expiry has passed, by id.
    pub fn expired(&self, now: SimTime) -> Vec<i64> {
        self.leases
            .iter()
            .filter(|(_, l)| l.expiry.is_some_and(|e| e <= now))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The keys attached to lease `id`.
    #[cfg(test)]
    fn keys(&self, id: i64) -> Vec<String> {
        self.leases
            .get(&id)
            .map(|l| l.keys.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_millis(ms)
    }

    #[test]
    fn only_the_primary_expires_leases_and_a_promotion_restarts_their_clocks() {
        let ttl = SimDuration::from_secs(10);
        let mut l = Lessor::default();
        l.grant(7, ttl, t(0));
        assert_eq!(
            l.expired(t(60_000)),
            Vec::<i64>::new(),
            "a follower never expires"
        );
        l.promote(t(1000), SimDuration::from_secs(1));
        assert_eq!(l.expired(t(11_999)), Vec::<i64>::new());
        assert_eq!(l.expired(t(12_000)), [7]);
        assert_eq!(l.renew(7, t(11_000)), Some(ttl));
        assert_eq!(l.expired(t(20_999)), Vec::<i64>::new());
        l.demote();
        assert_eq!(l.renew(7, t(21_000)), None);
        assert_eq!(l.expired(t(99_000)), Vec::<i64>::new());
    }

    #[test]
    fn keys_follow_their_last_put_and_go_with_the_revocation() {
        let mut l = Lessor::default();
        l.grant(1, SimDuration::from_secs(5), t(0));
        l.grant(2, SimDuration::from_secs(5), t(0));
        l.attach("a", Some(1));
        l.attach("b", Some(1));
        l.attach("b", Some(2));
        l.attach("c", Some(1));
        l.attach("c", None);
        l.detach("a");
        assert_eq!(l.keys(1), Vec::<String>::new());
        assert_eq!(l.revoke(2), Some(vec!["b".to_owned()]));
        assert_eq!(l.revoke(2), None);
        assert!(l.contains(1) && !l.contains(2));
        assert_eq!(
            min_ttl(SimDuration::from_secs(1)),
            SimDuration::from_millis(1500)
        );
    }
}
