//! keepalived's VRRP for the API VIP: which control-plane host gets which priority (what
//! `spofless render` writes into each keepalived.conf), how far a failing health check lowers
//! it, and the VRRPv2 timers those priorities imply (what the simulator plays out).
//!
//! keepalived 2.2 speaks VRRPv2 unless `version 3` is set (keepalived.conf(5), `vrrp_version`
//! default 2). RFC 3768 section 6.1: `Skew_Time = (256 - Priority) / 256` seconds and
//! `Master_Down_Interval = 3 * Advertisement_Interval + Skew_Time`. Measured with keepalived
//! 2.2.7 in network namespaces (advert 1 s): priority 200 preempted 3.24 s after it started
//! (3 + 56/256 = 3.22 s), priority 190 took over 0.26 s after a priority-0 advert
//! (66/256 = 0.258 s).

use std::time::Duration;

use crate::{Cluster, Host, Role};

/// Priority of the first host in `apiEndpoint.priority`; each later host is one step lower.
/// VRRP priorities are 1-254 for backups (RFC 5798 5.2.4; 255 is reserved for the address
/// owner), so 200 leaves room for 19 steps.
pub const TOP_PRIORITY: u32 = 200;
/// Gap between consecutive priorities.
pub const PRIORITY_STEP: u32 = 10;
/// The number of advertisements a backup misses before it takes over (RFC 3768's factor 3;
/// keepalived's `down_timer_adverts` default).
pub const DOWN_TIMER_ADVERTS: u32 = 3;

/// Control-plane hosts in VRRP priority order: `apiEndpoint.priority` first, then any other
/// control-plane host in file order.
pub fn priority_order(cluster: &Cluster) -> Vec<&Host> {
    let mut order: Vec<&Host> = cluster
        .spec
        .api_endpoint
        .priority
        .iter()
        .filter_map(|n| cluster.host(n))
        .filter(|h| h.has_role(Role::ControlPlane))
        .collect();
    for h in cluster.hosts_with(Role::ControlPlane) {
        if !order.iter().any(|o| o.name == h.name) {
            order.push(h);
        }
    }
    order
}

/// The configured priority of the host at `rank` in [`priority_order`].
pub fn base_priority(rank: usize) -> u32 {
    let rank = u32::try_from(rank).unwrap_or(u32::MAX);
    TOP_PRIORITY
        .saturating_sub(PRIORITY_STEP.saturating_mul(rank))
        .max(1)
}

/// How much a failing `track_script` lowers a host's priority among `hosts` control-plane
/// hosts: one step per host puts a failing host below every healthy one.
pub fn track_weight(hosts: usize) -> u32 {
    PRIORITY_STEP.saturating_mul(u32::try_from(hosts).unwrap_or(u32::MAX))
}

/// The priority a host advertises: its base, less the weight while its check fails (never
/// below 1: 0 means "I am leaving").
pub fn effective_priority(base: u32, check_failing: bool, weight: u32) -> u32 {
    if check_failing {
        base.saturating_sub(weight).max(1)
    } else {
        base
    }
}

/// VRRPv2's `Skew_Time` for `priority`: `(256 - priority) / 256` s.
pub fn skew_time(priority: u32) -> Duration {
    let p = u64::from(priority.min(256));
    Duration::from_micros((256 - p) * 1_000_000 / 256)
}

/// VRRPv2's `Master_Down_Interval`: [`DOWN_TIMER_ADVERTS`] advertisement intervals plus the
/// skew time.
pub fn master_down_interval(advert_interval: Duration, priority: u32) -> Duration {
    advert_interval * DOWN_TIMER_ADVERTS + skew_time(priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_step_down_and_a_failing_check_drops_below_every_healthy_host() {
        let bases: Vec<u32> = (0..3).map(base_priority).collect();
        assert_eq!(bases, [200, 190, 180]);
        let w = track_weight(3);
        assert!(effective_priority(bases[0], true, w) < bases[2]);
        assert_eq!(effective_priority(bases[1], false, w), 190);
        assert_eq!(effective_priority(5, true, w), 1);
    }

    #[test]
    fn vrrpv2_timers_follow_rfc_3768() {
        let advert = Duration::from_secs(1);
        assert_eq!(skew_time(200), Duration::from_micros(218_750));
        assert_eq!(skew_time(190), Duration::from_micros(257_812));
        assert_eq!(
            master_down_interval(advert, 200),
            Duration::from_micros(3_218_750)
        );
        assert!(skew_time(254) < skew_time(1));
    }

    #[test]
    fn priority_order_follows_the_topology_then_file_order() {
        let cluster = crate::default_cluster().expect("default topology");
        let names: Vec<&str> = priority_order(&cluster)
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(names, ["micklethefickle", "cloudserver1", "cloudserver2"]);
    }
}
