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

/// Seconds a monitor lease lasts; a peon that hears no renewal for this long
/// calls an election (`mon_lease`, Ceph default 5 s).
pub const MON_LEASE_SECS: u64 = 5;

/// Milliseconds between lease renewals by the leader: `mon_lease` times
/// `mon_lease_renew_interval_factor` (Ceph default 0.6), i.e. 3 s.
pub const MON_LEASE_RENEW_MILLIS: u64 = 3_000;

/// Milliseconds the leader waits for lease acks from a majority before it
/// calls an election: `mon_lease` times `mon_lease_ack_timeout_factor` (Ceph
/// default 2.0), i.e. 10 s.
pub const MON_LEASE_ACK_TIMEOUT_MILLIS: u64 = 10_000;

/// Seconds an elector waits for acks before it declares victory with the
/// majority it has or starts over (`mon_election_timeout`, Ceph default 5 s).
pub const MON_ELECTION_TIMEOUT_SECS: u64 = 5;

/// Seconds between monitor ticks, which is when the leader checks down OSDs
/// against the down-out interval (`mon_tick_interval`, Ceph default 5 s).
pub const MON_TICK_INTERVAL_SECS: u64 = 5;

/// Backfills an OSD takes part in at once, as primary and as target
/// (`osd_max_backfills`, Ceph default 1).
pub const OSD_MAX_BACKFILLS: usize = 1;

/// Recovery ops in flight per OSD on HDDs (`osd_recovery_max_active` is 0,
/// meaning `osd_recovery_max_active_hdd`, Ceph default 3). The model moves one
/// PG at a time per reservation and folds this parallelism into the per-OSD
/// bandwidth assumption below.
pub const OSD_RECOVERY_MAX_ACTIVE_HDD: usize = 3;

/// Heartbeat peers an OSD keeps at least, adding neighbours by id when it
/// shares PGs with fewer (`osd_heartbeat_min_peers`, Ceph default 10).
pub const OSD_HEARTBEAT_MIN_PEERS: usize = 10;

/// RBD object size in bytes, the unit of a client write in the model:
/// `rbd_default_order` 22, i.e. 4 MiB objects.
pub const RBD_OBJECT_BYTES: u64 = 4 << 20;

/// Seconds after which Ceph reports an op as slow (`osd_op_complaint_time`,
/// Ceph default 30 s); the model's bound on a write stalled by an OSD that
/// died but is not yet marked down.
pub const OSD_OP_COMPLAINT_TIME_SECS: u64 = 30;

/// The wait before the next OSD heartbeat, as `OSD::heartbeat_entry` draws it:
/// `0.5 + (rand() % 10) / 10 * osd_heartbeat_interval` seconds, given the
/// draw `r` in 0..10. Returns milliseconds.
pub fn heartbeat_wait_millis(r: u64) -> u64 {
    500 + (r % 10) * OSD_HEARTBEAT_INTERVAL_SECS * 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_waits_span_half_a_second_to_just_under_the_interval() {
        assert_eq!(heartbeat_wait_millis(0), 500);
        assert_eq!(heartbeat_wait_millis(9), 5_900);
        assert_eq!(heartbeat_wait_millis(19), 5_900);
    }

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
