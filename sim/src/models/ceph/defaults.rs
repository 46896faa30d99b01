//! Ceph defaults that decide failure behaviour, each with its source, plus the pure rules built
//! on them: when the monitors mark an OSD down, and when they mark it out.
//!
//! The knobs a topology can set (`spec.ceph`: `osdHeartbeatGraceSeconds`,
//! `downOutIntervalSeconds`, `minDownReporters`, `recoveryMibps`) and the pool defaults are not
//! repeated here: [`FailureKnobs`] reads them from the topology, whose `topology::defaults`
//! cite upstream, so the simulator and the rendered cluster cannot disagree. What follows are
//! the Ceph settings the topology does not carry.

use topology::CephSpec;

/// CRUSH type at which failure reporters count as distinct (`mon_osd_reporter_subtree_level`,
/// Ceph default "host"): two OSDs on one host reporting a peer count once.
pub const MON_OSD_REPORTER_SUBTREE_LEVEL: &str = "host";

/// Ratio of up OSDs below which the monitors mark no more OSDs down (`mon_osd_min_up_ratio`,
/// Ceph default 0.3), as `OSDMonitor::can_mark_down` checks it; kept as a fraction
/// (numerator, denominator) so the test is exact integer arithmetic.
pub const MON_OSD_MIN_UP_RATIO: (usize, usize) = (3, 10);

/// Whether an OSD whose connection to a peer is refused reports that peer failed at once
/// (`osd_fast_fail_on_connection_refused`, Ceph default true). `OSD::ms_handle_refused` then
/// sends `MOSDFailure` with `FLAG_IMMEDIATE` and `failed_for = osd_heartbeat_grace + 1`, and
/// `OSDMonitor::prepare_failure` answers an immediate report with `force_failure`: marked down
/// in the next map, with no grace and no reporter count. A refusal needs the peer's host up
/// (its kernel answers the reconnect with RST), so it covers a killed or crashed OSD process,
/// not a crashed host or a cut network.
pub const OSD_FAST_FAIL_ON_CONNECTION_REFUSED: bool = true;

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

/// Milliseconds a monitor service damps proposals by: a change made within this long of the
/// last commit waits until this long after it (`paxos_propose_interval`, Ceph default 1.0 s).
pub const PAXOS_PROPOSE_INTERVAL_MILLIS: u64 = 1_000;

/// Milliseconds a change waits at least before it is proposed, to gather others made at
/// about the same time, when the last commit is older than [`PAXOS_PROPOSE_INTERVAL_MILLIS`]
/// (`paxos_min_wait`, Ceph default 0.05 s).
pub const PAXOS_MIN_WAIT_MILLIS: u64 = 50;

/// How long the leader waits before proposing a pending OSDMap change, as
/// `PaxosService::should_propose` decides it: [`PAXOS_MIN_WAIT_MILLIS`] if the last commit
/// was more than [`PAXOS_PROPOSE_INTERVAL_MILLIS`] ago (or this leader has seen none), else
/// the rest of that interval. This damping is why a killed OSD, reported at once by its peers,
/// still takes up to about a second to appear down in the map.
///
/// Upstream proposes without delay while the service has committed at most one version
/// ("quick startup", `get_last_committed() <= 1`): that covers a brand-new cluster's first
/// map only. The simulated cluster starts in service (its first map stands for a settled
/// cluster that has long passed that point), so the clause never applies here.
pub fn propose_delay_millis(since_last_commit_millis: Option<u64>) -> u64 {
    match since_last_commit_millis {
        Some(since) if since <= PAXOS_PROPOSE_INTERVAL_MILLIS => {
            PAXOS_PROPOSE_INTERVAL_MILLIS - since
        }
        _ => PAXOS_MIN_WAIT_MILLIS,
    }
}

/// Milliseconds between the active manager's reports to the monitors (`mgr_tick_period`, Ceph
/// default 2 s): `DaemonServer::tick` sends an `MMonMgrReport` every tick and
/// `MgrStatMonitor::prepare_report` always proposes, so an idle healthy cluster commits a Paxos
/// version about every 2 s. Paxos' `last_commit_time` is shared by every monitor service, so
/// these commits are what an OSDMap change is damped against ([`propose_delay_millis`]): a
/// failure reported within a second of one waits for the rest of that second.
pub const MGR_TICK_PERIOD_MILLIS: u64 = 2_000;

/// Milliseconds between a daemon's cluster-log flushes to the monitors
/// (`mon_client_log_interval`, Ceph default 1 s). The manager logs a `pgmap vN` line at debug
/// level with every report (`DaemonServer::send_report`), and Pacific's monitors commit every
/// entry (`LogMonitor`), so each report brings a second Paxos commit up to a second later:
/// an idle cluster commits about once a second, and a failure report almost always waits for
/// part of the propose interval.
pub const MON_CLIENT_LOG_INTERVAL_MILLIS: u64 = 1_000;

/// Milliseconds a stopping OSD waits for the map that marks it down before it exits anyway
/// (`osd_mon_shutdown_timeout`, Ceph default 5 s; `OSD::prepare_to_stop`).
pub const OSD_MON_SHUTDOWN_TIMEOUT_MILLIS: u64 = 5_000;

/// Milliseconds from an OSD process's start to its boot message (`OSD::init` up to
/// `start_boot`: reading its config, mounting bluestore, loading PGs, two `osd crush`
/// commands to the monitors). Not a Ceph option but a cost: measured as 2.2 s for Ceph 16.2.15
/// on a file-backed bluestore OSD on two idle cores (osd log: "ceph version" to
/// "start_boot"); the Ceph differential test (`tests/tests/ceph_differential.rs`) holds the
/// whole restart-to-up time against the real one.
pub const OSD_INIT_MILLIS: u64 = 2_200;

/// Milliseconds an OSD on a rotational disk waits between starting recovery or backfill ops
/// (`osd_recovery_sleep_hdd`, Ceph default 0.1 s): with Pacific's default op queue
/// (`osd_op_queue` = wpq; the mclock scheduler, experimental in Pacific, zeroes these sleeps)
/// each op is scheduled a sleep after the last (`recovery_schedule_time`), so such an OSD
/// recovers at most ten objects a second whatever their size. A file-backed test OSD reports
/// itself `hdd`, as a virtio disk does.
pub const OSD_RECOVERY_SLEEP_HDD_MILLIS: u64 = 100;

/// The same for a non-rotational OSD (`osd_recovery_sleep_ssd`, Ceph default 0: only the
/// bandwidth bounds it).
pub const OSD_RECOVERY_SLEEP_SSD_MILLIS: u64 = 0;

/// The recovery sleep of an OSD whose disk has device class `class`
/// (`OSD::get_osd_recovery_sleep`: hdd when its store is rotational, ssd otherwise; the
/// `_hybrid` value for a rotational store with a solid-state DB needs a second device, which
/// the topology does not describe).
pub fn recovery_sleep_millis(class: topology::DeviceClass) -> u64 {
    match class {
        topology::DeviceClass::Hdd => OSD_RECOVERY_SLEEP_HDD_MILLIS,
        topology::DeviceClass::Ssd | topology::DeviceClass::Nvme => OSD_RECOVERY_SLEEP_SSD_MILLIS,
    }
}

/// Backfills an OSD takes part in at once, as primary (local reservations) and as target
/// (remote reservations) (`osd_max_backfills`, Ceph default 1). The default of
/// [`super::layout::CephSimConfig::osd_max_backfills`].
pub const OSD_MAX_BACKFILLS: usize = 1;

/// Heartbeat peers an OSD keeps at least, adding neighbours by id when it
/// shares PGs with fewer (`osd_heartbeat_min_peers`, Ceph default 10).
pub const OSD_HEARTBEAT_MIN_PEERS: usize = 10;

/// RBD object size in bytes, the unit of a client write in the model:
/// `rbd_default_order` 22, i.e. 4 MiB objects.
pub const RBD_OBJECT_BYTES: u64 = 4 << 20;

/// The failure-detection settings of one cluster, read from its topology (`spec.ceph`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureKnobs {
    /// `osd_heartbeat_grace` in seconds.
    pub heartbeat_grace_secs: u64,
    /// `mon_osd_down_out_interval` in seconds.
    pub down_out_interval_secs: u64,
    /// `mon_osd_min_down_reporters`.
    pub min_down_reporters: usize,
}

impl FailureKnobs {
    /// The knobs `spec` sets (its defaults are Ceph's).
    pub fn from_spec(spec: &CephSpec) -> Self {
        FailureKnobs {
            heartbeat_grace_secs: u64::from(spec.osd_heartbeat_grace_seconds),
            down_out_interval_secs: u64::from(spec.down_out_interval_seconds),
            min_down_reporters: spec.min_down_reporters as usize,
        }
    }

    /// Whether failure reports mark an OSD down (`OSDMonitor::check_failure`): reports whose
    /// heartbeat silence has lasted at least the grace count once per distinct reporter
    /// subtree ([`MON_OSD_REPORTER_SUBTREE_LEVEL`]); `min_down_reporters` are needed.
    /// `reports` holds (reporter's subtree, seconds the target has been silent).
    pub fn reports_mark_down<H: Ord>(&self, reports: &[(H, u64)]) -> bool {
        let subtrees: std::collections::BTreeSet<&H> = reports
            .iter()
            .filter(|(_, silent)| *silent >= self.heartbeat_grace_secs)
            .map(|(h, _)| h)
            .collect();
        subtrees.len() >= self.min_down_reporters
    }

    /// Whether an OSD that has been down `down_for_secs` is marked out.
    pub fn marked_out(&self, down_for_secs: u64) -> bool {
        down_for_secs >= self.down_out_interval_secs
    }
}

/// `osd_beacon_report_interval`, Ceph default 300 s: a running OSD sends the monitors an
/// `MOSDBeacon` this often (`OSD::maybe_send_beacon`), and one at once when it boots.
pub const OSD_BEACON_REPORT_INTERVAL_SECS: u64 = 300;

/// `mon_osd_report_timeout`, Ceph default 900 s: the leader marks an up OSD down when it has
/// not had a beacon from it for `max(this, 2 x beacon interval)`, and never within this long of
/// becoming leader (`OSDMonitor::handle_osd_timeouts`). The backstop for OSDs nobody is left
/// to report.
pub const MON_OSD_REPORT_TIMEOUT_SECS: u64 = 900;

/// `OSDMonitor::can_mark_down`: the monitors mark no OSD down while the share of up OSDs
/// (counting the ones already marked down in the pending map) is below
/// [`MON_OSD_MIN_UP_RATIO`].
pub fn can_mark_down(up: usize, total: usize) -> bool {
    let (num, den) = MON_OSD_MIN_UP_RATIO;
    total > 0 && up * den >= num * total
}

/// The wait before the next OSD heartbeat, as `OSD::heartbeat_entry` draws it:
/// `0.5 + (rand() % 10) / 10 * osd_heartbeat_interval` seconds, given the
/// draw `r` in 0..10. Returns milliseconds.
pub fn heartbeat_wait_millis(r: u64) -> u64 {
    500 + (r % 10) * u64::from(topology::defaults::CEPH_OSD_HEARTBEAT_INTERVAL_S) * 100
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
    fn proposals_are_damped_as_paxos_service_should_propose_does() {
        // Within the interval of the last commit: the rest of the interval.
        assert_eq!(propose_delay_millis(Some(0)), 1_000);
        assert_eq!(propose_delay_millis(Some(300)), 700);
        assert_eq!(propose_delay_millis(Some(1_000)), 0);
        // Longer ago, or never seen by this leader: the minimum wait.
        assert_eq!(propose_delay_millis(Some(1_001)), PAXOS_MIN_WAIT_MILLIS);
        assert_eq!(propose_delay_millis(None), PAXOS_MIN_WAIT_MILLIS);
    }

    #[test]
    fn down_needs_two_subtrees_after_grace() {
        let k = FailureKnobs::from_spec(&CephSpec::default());
        assert!(!k.reports_mark_down(&[("a", 25), ("a", 30)]));
        assert!(!k.reports_mark_down(&[("a", 25), ("b", 19)]));
        assert!(k.reports_mark_down(&[("a", 25), ("b", 20)]));
        assert!(!k.marked_out(599));
        assert!(k.marked_out(600));
    }

    #[test]
    fn knobs_follow_the_topology() {
        let spec = CephSpec {
            osd_heartbeat_grace_seconds: 40,
            down_out_interval_seconds: 60,
            min_down_reporters: 1,
            ..CephSpec::default()
        };
        let k = FailureKnobs::from_spec(&spec);
        assert!(!k.reports_mark_down(&[("a", 39)]));
        assert!(k.reports_mark_down(&[("a", 40)]));
        assert!(k.marked_out(60) && !k.marked_out(59));
    }

    #[test]
    fn min_up_ratio_keeps_the_last_osds_up() {
        // 2 of 5 up is 0.4 >= 0.3: may mark one more down; 1 of 5 (0.2) may not.
        assert!(can_mark_down(2, 5));
        assert!(!can_mark_down(1, 5));
        assert!(can_mark_down(3, 10) && !can_mark_down(2, 10));
        assert!(!can_mark_down(0, 0));
    }
}
