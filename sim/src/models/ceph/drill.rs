//! An OSD drill plan (`topology::osd_drill::OsdPlan`) run in the simulator: the simulated half
//! of the Ceph differential test. `provision::drill::ceph_schedule` walks the same plan on
//! real Ceph; both fill an [`OsdRecord`] and the test compares the figures computed from them.
//!
//! As the real runner does: the client writes one object per interval from the start; after a
//! calm spell each phase kills, terminates or pauses the `ceph-osd` of its hosts, holds, starts
//! or resumes them, then waits (bounded) until every hit OSD is up and every PG active+clean,
//! and a calm spell more. The record's PG view is each PG's own state as its primary recorded
//! it, without the manager's reporting delay that the real watcher sees.

use std::collections::BTreeMap;

use std::time::Duration;

use topology::Cluster;
use topology::osd_drill::{OsdPlan, OsdRecord, PhaseTimes, RecoverySeen, WriteSeen};

use super::checks::CephActors;
use super::client::CephClient;
use super::facts::{OsdMapCommitted, PgStateFact, Recovered};
use super::layout::CephSimConfig;
use super::setup::add_ceph;
use crate::engine::{LogEntry, NullSink, SimConfig, SimDuration, SimTime, Simulation};

/// Granularity at which the runner looks at the cluster.
const POLL: SimDuration = SimDuration::from_millis(250);
/// Time the simulated cluster runs before the drill's clock starts (the real bed is healthy and
/// settled when its drill starts).
const WARM_UP: SimDuration = SimDuration::from_secs(30);

/// Time from `start` to `t` in the record's unit (zero for times before `start`).
fn since(start: SimTime, t: SimTime) -> Duration {
    Duration::from_nanos(t.saturating_since(start).as_nanos())
}

/// A simulated run of a plan.
#[allow(missing_debug_implementations)]
pub struct SimOsdDrill {
    /// What happened, from the drill's start.
    pub record: OsdRecord,
    /// The finished simulation (trace, violations).
    pub sim: Simulation,
    /// Its Ceph actors.
    pub actors: CephActors,
}

/// What the runner has read of the log so far: each PG's latest state, each map's up set.
#[derive(Default)]
struct Reader {
    seen: usize,
    /// Bytes per client object (turns a transfer's bytes into objects).
    object_bytes: u64,
    pg_states: BTreeMap<super::layout::PgId, String>,
    up: Vec<i32>,
}

impl Reader {
    /// Reads the log entries not read yet into `record`, times from `start`.
    fn read(&mut self, log: &[LogEntry], start: SimTime, record: &mut OsdRecord) {
        for e in &log[self.seen..] {
            let Some(fact) = e.fact_record() else {
                continue;
            };
            let at = since(start, e.time);
            if let Some(m) = fact.get::<OsdMapCommitted>() {
                self.up = m.up.clone();
                if e.time >= start {
                    record.maps.push((at, m.up.clone()));
                }
            } else if let Some(r) = fact.get::<Recovered>() {
                // Backfills move whole PGs (their base data too): not objects written meanwhile.
                if e.time >= start && r.how == "recovery" {
                    let objects = r.bytes.div_ceil(self.object_bytes.max(1));
                    record.recovery.push((at, RecoverySeen::Moved(objects)));
                }
            } else if let Some(p) = fact.get::<PgStateFact>() {
                self.pg_states.insert(p.pg, p.state.clone());
                if e.time >= start {
                    record.clean.push((at, self.all_clean()));
                }
            }
        }
        self.seen = log.len();
    }

    fn all_clean(&self) -> bool {
        self.pg_states.values().all(|s| s == "active+clean")
    }
}

/// Runs `plan` on `cluster`'s Ceph with seed `seed`.
pub fn run_osd_drill(seed: u64, cluster: &Cluster, plan: &OsdPlan) -> Result<SimOsdDrill, String> {
    let mut sim = Simulation::new(SimConfig::new(seed));
    for h in &cluster.spec.hosts {
        sim.add_host(&h.name).map_err(|e| e.to_string())?;
    }
    let cfg = CephSimConfig {
        write_interval: SimDuration::from(plan.write_interval),
        object_bytes: plan.object_bytes,
        ..CephSimConfig::default()
    };
    let actors = add_ceph(&mut sim, cluster, &cfg).map_err(|e| e.to_string())?;
    let pgs: usize = actors
        .layout
        .pools
        .iter()
        .map(|p| p.pool.pg_num as usize)
        .sum();
    sim.run_until(SimTime::ZERO + WARM_UP, &mut NullSink);
    let start = sim.now();
    let mut record = OsdRecord::default();
    let mut reader = Reader {
        object_bytes: plan.object_bytes,
        ..Reader::default()
    };
    let advance = |sim: &mut Simulation, d: SimDuration| {
        let to = sim.now() + d;
        sim.run_until(to, &mut NullSink);
    };
    advance(&mut sim, SimDuration::from(plan.calm));
    for phase in &plan.phases {
        let osds: Vec<i32> = actors
            .layout
            .osds
            .iter()
            .filter(|o| phase.hosts.contains(&o.host))
            .map(|o| o.id)
            .collect();
        let fault = since(start, sim.now());
        for host in &phase.hosts {
            sim.schedule_fault(sim.now(), phase.fault.fault(host))
                .map_err(|e| e.to_string())?;
        }
        advance(&mut sim, SimDuration::from(phase.hold));
        let repair = since(start, sim.now());
        for host in &phase.hosts {
            sim.schedule_fault(sim.now(), phase.fault.repair(host))
                .map_err(|e| e.to_string())?;
        }
        let deadline = sim.now() + SimDuration::from(plan.recovery_timeout);
        loop {
            advance(&mut sim, POLL);
            reader.read(sim.log(), start, &mut record);
            let healthy = osds.iter().all(|o| reader.up.contains(o))
                && reader.pg_states.len() >= pgs
                && reader.all_clean();
            if healthy || sim.now() >= deadline {
                break;
            }
        }
        advance(&mut sim, SimDuration::from(plan.calm));
        reader.read(sim.log(), start, &mut record);
        record.phases.push(PhaseTimes {
            name: phase.name.clone(),
            osds,
            fault,
            repair,
            end: since(start, sim.now()),
        });
    }
    sim.finish(&mut NullSink);
    record.writes = writes_of(&sim, &actors, start);
    Ok(SimOsdDrill {
        record,
        sim,
        actors,
    })
}

/// The client's writes issued from `start` on.
fn writes_of(sim: &Simulation, actors: &CephActors, start: SimTime) -> Vec<WriteSeen> {
    let Some(client) = sim.model::<CephClient>(actors.client) else {
        return Vec::new();
    };
    client
        .writes
        .values()
        .filter(|w| w.issued >= start)
        .map(|w| WriteSeen {
            issued: since(start, w.issued),
            answered: w.acked.map(|(t, _)| since(start, t)),
            failed: false,
        })
        .collect()
}
