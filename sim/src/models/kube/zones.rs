//! The node controller's disruption rules (`pkg/controller/nodelifecycle`, 1.29-1.32): each
//! zone's state from its nodes' Ready conditions, and the rate at which it may add NoExecute
//! taints there.
//!
//! - `ComputeZoneState`: no ready node and some not ready is **FullDisruption**; more than 2
//!   not ready and at least `--unhealthy-zone-threshold` (0.55) of the zone not ready is
//!   **PartialDisruption**; anything else is **Normal**. A node counts as not ready when its
//!   Ready condition is False or Unknown.
//! - Rates: Normal `--node-eviction-rate` (0.1/s); PartialDisruption
//!   `--secondary-node-eviction-rate` (0.01/s) in a zone of more than
//!   `--large-cluster-size-threshold` (50) nodes and **0** in a smaller one (no new NoExecute
//!   taints: the "unhealthy zone" halt); FullDisruption the normal rate, unless every zone is
//!   fully disrupted, when the controller removes every NoExecute taint and taints nothing.
//! - Each zone's queue takes nodes through a token bucket (`flowcontrol`'s, burst
//!   `EvictionRateLimiterBurst` = 1, starting full), tried every `NodeEvictionPeriod`
//!   (100 ms); a rate of 0 is `NewFakeNeverRateLimiter`, which never accepts.

use std::collections::BTreeMap;

use crate::engine::{SimDuration, SimTime};

/// `--node-eviction-rate` default, per second.
pub const EVICTION_QPS: f64 = 0.1;
/// `--secondary-node-eviction-rate` default, per second.
pub const SECONDARY_EVICTION_QPS: f64 = 0.01;
/// `--large-cluster-size-threshold` default.
pub const LARGE_CLUSTER_THRESHOLD: usize = 50;
/// `--unhealthy-zone-threshold` default.
pub const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;
/// `scheduler.NodeEvictionPeriod`: how often the tainting queues are tried.
pub const NODE_EVICTION_PERIOD: SimDuration = SimDuration::from_millis(100);
/// Not-ready nodes a zone needs beyond which it can be partially disrupted (`notReady > 2`).
const PARTIAL_MIN_NOT_READY: usize = 2;

/// A zone's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ZoneState {
    /// Tainting at the normal rate.
    Normal,
    /// Too many nodes down: tainting slowed, or stopped in a small zone.
    PartialDisruption,
    /// No node ready.
    FullDisruption,
}

impl ZoneState {
    /// `ComputeZoneState` for a zone with `ready` and `not_ready` nodes.
    pub fn compute(ready: usize, not_ready: usize, unhealthy_threshold: f64) -> ZoneState {
        let total = ready + not_ready;
        if ready == 0 && not_ready > 0 {
            ZoneState::FullDisruption
        } else if not_ready > PARTIAL_MIN_NOT_READY
            && not_ready as f64 / total as f64 >= unhealthy_threshold
        {
            ZoneState::PartialDisruption
        } else {
            ZoneState::Normal
        }
    }

    /// As the controller logs it.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneState::Normal => "Normal",
            ZoneState::PartialDisruption => "PartialDisruption",
            ZoneState::FullDisruption => "FullDisruption",
        }
    }

    /// The tainting rate in a zone of `size` nodes in this state (`setLimiterInZone`); a
    /// fully disrupted zone while some zone is not gets the normal rate (`HealthyQPSFunc`).
    pub fn qps(self, size: usize) -> f64 {
        match self {
            ZoneState::Normal | ZoneState::FullDisruption => EVICTION_QPS,
            // ReducedQPSFunc.
            ZoneState::PartialDisruption if size > LARGE_CLUSTER_THRESHOLD => {
                SECONDARY_EVICTION_QPS
            }
            ZoneState::PartialDisruption => 0.0,
        }
    }
}

/// client-go's token bucket with a burst of one, kept in integer time: the credit is the time
/// accrued towards the next token, capped at one token's worth (`1 / qps`).
#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    qps: f64,
    /// `1 / qps`; `None` for a rate of 0.
    per_token: Option<SimDuration>,
    credit: SimDuration,
    at: SimTime,
}

impl TokenBucket {
    /// A full bucket refilling at `qps` (0: never accepts).
    pub fn new(qps: f64, now: SimTime) -> Self {
        let per_token = (qps > 0.0).then(|| SimDuration::from_nanos((1e9 / qps).round() as u64));
        TokenBucket {
            qps,
            per_token,
            credit: per_token.unwrap_or(SimDuration::ZERO),
            at: now,
        }
    }

    /// Its rate.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// `SwapLimiter`: a new bucket at `qps`, full unless this one was empty.
    pub fn swap(&mut self, qps: f64, now: SimTime) {
        let empty = !self.full(now);
        *self = TokenBucket::new(qps, now);
        if empty {
            self.credit = SimDuration::ZERO;
        }
    }

    fn refill(&mut self, now: SimTime) {
        if let Some(per) = self.per_token {
            self.credit = (self.credit + now.saturating_since(self.at)).min(per);
        }
        self.at = now;
    }

    fn full(&self, now: SimTime) -> bool {
        let mut b = *self;
        b.refill(now);
        b.per_token.is_some_and(|per| b.credit >= per)
    }

    /// `TryAccept`: takes a token if there is one.
    pub fn try_accept(&mut self, now: SimTime) -> bool {
        self.refill(now);
        match self.per_token {
            Some(per) if self.credit >= per => {
                self.credit = SimDuration::ZERO;
                true
            }
            _ => false,
        }
    }
}

/// Each host's zone key: `nodetopology.GetZoneKey` over its `topology.kubernetes.io/region`
/// and `zone` labels, empty when both are absent.
pub fn node_zones(cluster: &topology::Cluster) -> BTreeMap<String, String> {
    cluster
        .spec
        .hosts
        .iter()
        .map(|h| {
            let get = |k: &str| h.labels.get(k).map(String::as_str).unwrap_or("");
            let (region, zone) = (
                get("topology.kubernetes.io/region"),
                get(topology::policy::scheduler::ZONE_LABEL),
            );
            let key = if region.is_empty() && zone.is_empty() {
                String::new()
            } else {
                format!("{region}:\u{0}:{zone}")
            };
            (h.name.clone(), key)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_states_follow_compute_zone_state() {
        let t = UNHEALTHY_ZONE_THRESHOLD;
        // Two of three down is Normal (not more than two); three of five is Partial.
        assert_eq!(ZoneState::compute(1, 2, t), ZoneState::Normal);
        assert_eq!(ZoneState::compute(2, 3, t), ZoneState::PartialDisruption);
        assert_eq!(ZoneState::compute(1, 3, t), ZoneState::PartialDisruption);
        assert_eq!(ZoneState::compute(3, 3, t), ZoneState::Normal);
        assert_eq!(ZoneState::compute(0, 3, t), ZoneState::FullDisruption);
        assert_eq!(ZoneState::compute(5, 0, t), ZoneState::Normal);
        assert_eq!(ZoneState::PartialDisruption.qps(5), 0.0);
        assert_eq!(
            ZoneState::PartialDisruption.qps(LARGE_CLUSTER_THRESHOLD + 1),
            SECONDARY_EVICTION_QPS
        );
    }

    #[test]
    fn the_bucket_accepts_one_at_once_then_one_per_period() {
        let t0 = SimTime::ZERO;
        let mut b = TokenBucket::new(EVICTION_QPS, t0);
        assert!(b.try_accept(t0));
        assert!(!b.try_accept(t0 + SimDuration::from_secs(9)));
        assert!(b.try_accept(t0 + SimDuration::from_secs(10)));
        let mut never = TokenBucket::new(0.0, t0);
        assert!(!never.try_accept(t0 + SimDuration::from_secs(1000)));
    }
}
