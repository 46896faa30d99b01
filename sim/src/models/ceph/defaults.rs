//! Ceph defaults that decide failure behaviour, each with its source, plus
//! the two pure rules built directly on them: when the monitors mark an OSD
//! down, and when they mark it out.

/// Replicas per object (`osd_pool_default_size`, Ceph default 3).
pub const OSD_POOL_DEFAULT_SIZE: usize = 3;

/// `osd_pool_default_min_size`: Ceph default 0, which means "size - size/2"
/// (`pg_pool_t` / `OSDMonitor::prepare_pool_size`); 2 for size 3.
pub const OSD_POOL_DEFAULT_MIN_SIZE_SETTING: usize = 0;

/// Default PG count of a new pool (`osd_pool_default_pg_num`, Ceph default 32).
pub const OSD_POOL_DEFAULT_PG_NUM: u32 = 32;

/// Seconds a down OSD stays "in" before the monitors mark it out and data
/// re-replicates (`mon_osd_down_out_interval`, Ceph default 600 s).
pub const MON_OSD_DOWN_OUT_INTERVAL_SECS: u64 = 600;

/// Seconds without heartbeat replies before a peer reports an OSD failed
/// (`osd_heartbeat_grace`, Ceph default 20 s).
pub const OSD_HEARTBEAT_GRACE_SECS: u64 = 20;

/// Interval between OSD peer heartbeats (`osd_heartbeat_interval`, Ceph
/// default 6 s).
pub const OSD_HEARTBEAT_INTERVAL_SECS: u64 = 6;

/// Distinct reporters needed before the monitors mark an OSD down
/// (`mon_osd_min_down_reporters`, Ceph default 2).
pub const MON_OSD_MIN_DOWN_REPORTERS: usize = 2;

/// CRUSH level at which failure reporters are counted as distinct
/// (`mon_osd_reporter_subtree_level`, Ceph default "host").
pub const MON_OSD_REPORTER_SUBTREE_LEVEL: &str = "host";

/// The `min_size` a pool of `size` replicas gets when
/// `osd_pool_default_min_size` is 0 (the default): `size - size / 2`.
pub fn default_min_size(size: usize) -> usize {
    size - size / 2
}

/// Whether failure reports mark an OSD down: reports whose heartbeat silence
/// has lasted at least [`OSD_HEARTBEAT_GRACE_SECS`] count once per distinct
/// reporter subtree (host); [`MON_OSD_MIN_DOWN_REPORTERS`] are needed.
/// `reports` holds (reporter's host, seconds the target has been silent).
pub fn failure_reports_mark_down<H: Ord>(reports: &[(H, u64)]) -> bool {
    let hosts: std::collections::BTreeSet<&H> = reports
        .iter()
        .filter(|(_, silent)| *silent >= OSD_HEARTBEAT_GRACE_SECS)
        .map(|(h, _)| h)
        .collect();
    hosts.len() >= MON_OSD_MIN_DOWN_REPORTERS
}

/// Whether an OSD that has been down `down_for_secs` is marked out.
pub fn down_osd_marked_out(down_for_secs: u64) -> bool {
    down_for_secs >= MON_OSD_DOWN_OUT_INTERVAL_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_size_of_default_pool_is_two() {
        assert_eq!(default_min_size(OSD_POOL_DEFAULT_SIZE), 2);
        assert_eq!(default_min_size(2), 1);
        assert_eq!(default_min_size(5), 3);
    }

    #[test]
    fn down_needs_two_hosts_after_grace() {
        assert!(!failure_reports_mark_down(&[("a", 25), ("a", 30)]));
        assert!(!failure_reports_mark_down(&[("a", 25), ("b", 19)]));
        assert!(failure_reports_mark_down(&[("a", 25), ("b", 20)]));
        assert!(!down_osd_marked_out(599));
        assert!(down_osd_marked_out(600));
    }
}
