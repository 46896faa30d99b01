//! Log-based recovery of a returning OSD in the engine-driven Ceph model: a stopped OSD that
//! comes back before it is marked out holds a complete but stale copy of its PGs. Where it is
//! a replica, the primary pushes it the objects written meanwhile; where it is the primary
//! itself, it pulls them from a replica (`PrimaryLogPG::recover_primary`), under the same
//! reservations and with one `osd_recovery_sleep` per object, and its PGs are not clean
//! until then.

use std::time::Duration;

use sim::engine::{
    LogKind, NullSink, Observer, Record, SimConfig, SimDuration, SimTime, Simulation,
};
use sim::models::ceph::defaults::recovery_sleep_millis;
use sim::models::ceph::facts::{PgCounts, Recovered};
use sim::models::ceph::layout::CephSimConfig;
use sim::models::ceph::setup::add_ceph;
use topology::fault::{Fault, FaultPlan, TimedFault};

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

fn osd_process(host: &str, up: bool) -> Fault {
    let (host, process) = (host.to_owned(), "ceph-osd".to_owned());
    if up {
        Fault::ProcessStart { host, process }
    } else {
        Fault::ProcessStop { host, process }
    }
}

#[test]
fn a_returning_primary_pulls_what_it_missed_and_its_pgs_are_clean_only_after() {
    let cluster = topology::default_cluster().expect("default topology");
    let host = "cloudserver1";
    let (stop, back, end) = (60, 90, 240);
    let mut sim = Simulation::new(SimConfig::new(11));
    for h in &cluster.spec.hosts {
        sim.add_host(&h.name).expect("host");
    }
    let actors = add_ceph(&mut sim, &cluster, &CephSimConfig::default()).expect("ceph");
    let plan = FaultPlan::new(vec![
        TimedFault {
            at: Duration::from_secs(stop),
            fault: osd_process(host, false),
        },
        TimedFault {
            at: Duration::from_secs(back),
            fault: osd_process(host, true),
        },
    ]);
    sim.schedule_plan(&plan).expect("plan");
    sim.run_until(secs(end), &mut NullSink);
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let layout = &actors.layout;
    let osds = layout.osds_on(host);
    // OSD host actors come in the order their hosts first appear among the OSDs.
    let mut hosts: Vec<&str> = Vec::new();
    for o in &layout.osds {
        if !hosts.contains(&o.host.as_str()) {
            hosts.push(&o.host);
        }
    }
    let index = hosts.iter().position(|h| *h == host).expect("an OSD host");
    let host_actor = actors.osd_hosts[index].0;
    // Recovery transfers recorded by the returning host's primaries into its own OSDs: the
    // pulls. (Before the fix a stale primary had its missing objects at once: none.)
    let mut pulls: Vec<(SimTime, Recovered)> = Vec::new();
    let mut last_counts: Option<(SimTime, String)> = None;
    for e in sim.log() {
        let LogKind::Record {
            observer,
            record: Record::Fact(f),
        } = &e.kind
        else {
            continue;
        };
        if let Some(c) = f.get::<PgCounts>() {
            last_counts = Some((e.time, c.summary.clone()));
        }
        if let Some(r) = f.get::<Recovered>()
            && r.how == "recovery"
            && *observer == Observer::Actor(host_actor)
            && osds.contains(&r.osd)
        {
            pulls.push((e.time, r.clone()));
        }
    }
    assert!(!pulls.is_empty(), "the returning primary pulled nothing");
    // Each pull lasts its bytes over the recovery bandwidth or one recovery sleep per object
    // (whichever is longer) from the OSD's return at the earliest.
    let class = layout
        .osds
        .iter()
        .find(|o| o.host == host)
        .expect("osd")
        .class;
    let sleep_ns = u128::from(recovery_sleep_millis(class)) * 1_000_000;
    for (t, r) in &pulls {
        assert!(r.bytes > 0, "{r:?}");
        let objects = u128::from(r.bytes.div_ceil(layout.config.object_bytes));
        let by_bandwidth =
            u128::from(r.bytes) * 1_000_000_000 / u128::from(layout.recovery_bytes_per_sec);
        let lasts = SimDuration::from_nanos(by_bandwidth.max(objects * sleep_ns) as u64);
        assert!(lasts > SimDuration::ZERO);
        assert!(
            *t >= secs(back) + lasts,
            "pg {:?} pulled at {t} ({} bytes, {lasts}), the OSD came back at {}",
            r.pg,
            r.bytes,
            secs(back)
        );
    }
    // Clean only once the last pull is done.
    let (clean_at, summary) = last_counts.expect("PG counts");
    let last_pull = pulls.iter().map(|(t, _)| *t).max().expect("pulls");
    assert_eq!(summary, format!("active+clean={}", layout.pgs().count()));
    assert!(
        clean_at >= last_pull,
        "all clean at {clean_at}, last pull at {last_pull}"
    );
    eprintln!(
        "{} pulls by the returning primary, {} .. {}; all clean at {clean_at}",
        pulls.len(),
        pulls.first().map_or(SimTime::ZERO, |p| p.0),
        last_pull
    );
}
