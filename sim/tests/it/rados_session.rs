//! The RADOS session (`sim::models::ceph::rados`) embedded in a process other than the Ceph
//! client, on a port other than the first, against the simulated monitors and OSDs of the
//! default topology: it subscribes to the map, writes to a PG's acting primary, waits while the
//! PG is below `min_size`, follows the PG to a new primary after a failure, and loses its
//! writes in flight when its process dies.

use std::sync::Arc;

use sim::engine::{
    Ctx, Event, HostId, Model, NullSink, Port, SimConfig, SimDuration, SimTime, Simulation,
    route_to,
};
use sim::models::ceph::checks::CephActors;
use sim::models::ceph::defaults::heartbeat_wait_millis;
use sim::models::ceph::layout::{CephLayout, CephSimConfig, PgId};
use sim::models::ceph::pool::OsdStates;
use sim::models::ceph::rados::{Commit, RadosEvent, RadosSession};
use sim::models::ceph::setup::add_ceph;
use topology::fault::Fault;

/// Not port 1: the session does not assume where its owner puts it.
const PORT: Port = Port(7);
/// Not `ceph-client`: the monitors serve whoever subscribed.
const MODEL: &str = "kubelet";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WriteAt(usize);

/// A process with one RADOS session that writes to `pg` at each planned time.
#[derive(Debug)]
struct Volumes {
    session: RadosSession,
    pg: PgId,
    plan: Vec<SimDuration>,
    /// (planned write index, write id) in issue order.
    issued: Vec<(usize, u64)>,
    /// (when heard, the commit).
    committed: Vec<(SimTime, Commit)>,
    newest_map: u64,
}

impl Volumes {
    fn new(layout: Arc<CephLayout>, pg: PgId, plan: Vec<SimDuration>) -> Self {
        Volumes {
            session: RadosSession::new(layout),
            pg,
            plan,
            issued: Vec::new(),
            committed: Vec::new(),
            newest_map: 0,
        }
    }

    fn commit_of(&self, planned: usize) -> Option<&(SimTime, Commit)> {
        let tid = self.issued.iter().find(|(i, _)| *i == planned)?.1;
        self.committed.iter().find(|(_, c)| c.tid == tid)
    }
}

impl Model for Volumes {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let event = match route_to(&mut self.session, PORT, ctx, event) {
            Ok(reports) => {
                for report in reports {
                    match report {
                        RadosEvent::Committed(c) => self.committed.push((ctx.now(), c)),
                        RadosEvent::NewMap { epoch } => self.newest_map = epoch,
                    }
                }
                return;
            }
            Err(event) => event,
        };
        match event {
            Event::Start { .. } => {
                self.session.start(&mut ctx.scoped(PORT));
                // Timers die with the process: arm the writes still ahead.
                let now = ctx.now();
                for (i, at) in self.plan.iter().enumerate() {
                    let at = SimTime::ZERO + *at;
                    if at > now {
                        ctx.set_timer(at.saturating_since(now), WriteAt(i));
                    }
                }
            }
            Event::Timer { tag, .. } => {
                if let Some(WriteAt(i)) = tag.downcast_ref::<WriteAt>() {
                    let tid = self.session.write(&mut ctx.scoped(PORT), self.pg);
                    self.issued.push((*i, tid));
                }
            }
            Event::Message { .. } | Event::Refused { .. } | Event::Closed { .. } => {}
            Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        self.session.reset();
    }
}

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

/// A host outside the topology, so its faults touch no Ceph daemon.
const HOST: &str = "worker9";

/// The default topology's Ceph with a [`Volumes`] process on [`HOST`] writing to `pg`.
fn world(
    seed: u64,
    pg: impl Fn(&CephLayout) -> PgId,
    plan: &[u64],
) -> (Simulation, CephActors, sim::engine::ActorId) {
    let cluster = topology::default_cluster().expect("default topology");
    let mut sim = Simulation::new(SimConfig::new(seed));
    for h in &cluster.spec.hosts {
        sim.add_host(&h.name).expect("host");
    }
    let actors = add_ceph(&mut sim, &cluster, &CephSimConfig::default()).expect("ceph");
    let h: HostId = sim.add_host(HOST).expect("host");
    let pg = pg(&actors.layout);
    let plan = plan.iter().map(|s| SimDuration::from_secs(*s)).collect();
    let vols = Volumes::new(actors.layout.clone(), pg, plan);
    let id = sim.add_actor(h, MODEL, Box::new(vols)).expect("actor");
    (sim, actors, id)
}

fn volumes(sim: &Simulation, id: sim::engine::ActorId) -> &Volumes {
    sim.model::<Volumes>(id).expect("volumes")
}

/// A PG whose up set (all OSDs up) holds both `a` and `b`, or whose primary is `a` when `b`
/// is `None`.
fn pg_with(layout: &CephLayout, a: i32, b: Option<i32>) -> PgId {
    let n = layout.osds.len();
    layout
        .map_all(&OsdStates::all_up_in(n))
        .into_iter()
        .find(|(_, m)| match b {
            Some(b) => m.up.contains(&a) && m.up.contains(&b),
            None => m.acting_primary == Some(a),
        })
        .map(|(pg, _)| pg)
        .expect("such a PG")
}

fn osd_stop(host: &str) -> Fault {
    Fault::ProcessStop {
        host: host.into(),
        process: "ceph-osd".into(),
    }
}

fn osd_start(host: &str) -> Fault {
    Fault::ProcessStart {
        host: host.into(),
        process: "ceph-osd".into(),
    }
}

#[test]
fn a_session_on_any_port_of_any_process_subscribes_and_commits() {
    let plan: Vec<u64> = (10..30).collect();
    let (mut sim, a, id) = world(1, |l| pg_with(l, 0, None), &plan);
    sim.run_until(secs(40), &mut NullSink);
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let v = volumes(&sim, id);
    // The map reached port 7: the session knows the monitors' epoch and every OSD up.
    let mon_map = sim
        .model::<sim::models::ceph::mon::CephMon>(a.mons[0])
        .expect("mon")
        .map()
        .epoch;
    assert_eq!(v.session.map().epoch, mon_map);
    assert!((0..5).all(|o| v.session.map().is_up(o)));
    assert_eq!(v.committed.len(), plan.len(), "{:?}", v.committed);
    let mut last = 0;
    for (i, _) in plan.iter().enumerate() {
        let (heard, c) = v.commit_of(i).expect("committed");
        assert_eq!(c.pg, v.pg);
        assert!(c.version > last, "versions of one PG only grow");
        last = c.version;
        assert!(c.primary_sent <= *heard);
        assert_eq!(c.inactive_wait, SimDuration::ZERO);
        assert_eq!(c.quorum_wait, SimDuration::ZERO);
        // One LAN round trip plus replication: well under a second on a healthy cluster.
        assert!(*heard - secs(plan[i]) < SimDuration::from_secs(1), "{c:?}");
    }
    assert_eq!(v.session.outstanding().count(), 0);
}

#[test]
fn a_write_below_min_size_waits_for_its_pg_and_then_commits() {
    // osd.2 (cloudserver2) and osd.3 (cloudserver3) both hold the PG: with both stopped one
    // copy is left, below min_size 2, and the PG goes inactive until they return.
    let (mut sim, a, id) = world(3, |l| pg_with(l, 2, Some(3)), &[100]);
    assert_eq!(a.layout.osd_host(2), "cloudserver2");
    assert_eq!(a.layout.osd_host(3), "cloudserver3");
    for h in ["cloudserver2", "cloudserver3"] {
        sim.schedule_fault(secs(60), osd_stop(h)).expect("fault");
        sim.schedule_fault(secs(400), osd_start(h)).expect("fault");
    }
    sim.run_until(secs(399), &mut NullSink);
    assert_eq!(
        volumes(&sim, id).committed.len(),
        0,
        "committed below min_size"
    );
    assert_eq!(volumes(&sim, id).session.outstanding().count(), 1);
    sim.run_until(secs(700), &mut NullSink);
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let (heard, c) = volumes(&sim, id)
        .commit_of(0)
        .expect("committed after the return");
    assert!(*heard > secs(400), "{heard}");
    // It waited in the inactive PG's queue, as the primaries report it: at most from the
    // write to the commit, and most of the 300 s until the OSDs returned.
    assert!(c.inactive_wait <= *heard - secs(100), "{c:?}");
    assert!(c.inactive_wait > SimDuration::from_secs(200), "{c:?}");
}

#[test]
fn a_write_to_a_silent_primary_follows_its_pg_to_the_new_primary() {
    // osd.0's process is frozen at 60 s (a stopped one would refuse connections and be
    // marked down at once); a write to a PG it is primary of goes to it at 61 s and gets no
    // answer. Once the monitors mark osd.0 down (its peers report it after the heartbeat
    // grace) the new map names another primary and the session resends there.
    let (mut sim, a, id) = world(5, |l| pg_with(l, 0, None), &[61]);
    let host = a.layout.osd_host(0).to_owned();
    let paused = Fault::ProcessPause {
        host: host.clone(),
        process: "ceph-osd".into(),
    };
    sim.schedule_fault(secs(60), paused).expect("fault");
    sim.run_until(secs(200), &mut NullSink);
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let v = volumes(&sim, id);
    let (heard, _) = v.commit_of(0).expect("committed on the new primary");
    // Its peers last heard it at most one (longest) heartbeat wait before the stop.
    let grace = SimDuration::from_secs(a.layout.knobs.heartbeat_grace_secs);
    let interval = SimDuration::from_millis(heartbeat_wait_millis(9));
    assert!(
        *heard + interval >= secs(60) + grace,
        "answered before osd.0 could be marked down: {heard}"
    );
    assert!(*heard < secs(200));
    let primary = a
        .layout
        .map_all(&v.session.map().states)
        .into_iter()
        .find(|(pg, _)| *pg == v.pg)
        .and_then(|(_, m)| m.acting_primary);
    assert!(primary.is_some_and(|p| p != 0), "{primary:?}");
    assert!(!v.session.map().is_up(0));
    assert!(v.newest_map > 1, "no new map reached the session");
}

#[test]
fn a_crashed_process_loses_its_writes_in_flight_and_resubscribes() {
    // The PG is held inactive (as above) when the write goes out; the process's host restarts
    // before the PG returns, so the write dies with it and is never committed; writes after
    // the restart commit through the re-opened monitor session.
    let (mut sim, _, id) = world(3, |l| pg_with(l, 2, Some(3)), &[100, 500]);
    for h in ["cloudserver2", "cloudserver3"] {
        sim.schedule_fault(secs(60), osd_stop(h)).expect("fault");
        sim.schedule_fault(secs(400), osd_start(h)).expect("fault");
    }
    sim.schedule_fault(secs(200), Fault::HostCrash { host: HOST.into() })
        .expect("fault");
    sim.schedule_fault(secs(210), Fault::HostRestart { host: HOST.into() })
        .expect("fault");
    sim.run_until(secs(700), &mut NullSink);
    let v = volumes(&sim, id);
    assert!(v.commit_of(0).is_none(), "a write outlived its process");
    let (heard, _) = v.commit_of(1).expect("the later write commits");
    assert!(*heard > secs(500));
}
