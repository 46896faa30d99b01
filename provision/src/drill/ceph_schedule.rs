//! Walks a `topology::osd_drill::OsdPlan` on a real [`CephLab`]: the writer and the watcher
//! (`ceph_probe`) run from the client namespace for the whole drill; each phase SIGKILLs,
//! SIGTERMs or SIGSTOPs its hosts' OSD processes, holds, starts them again (or SIGCONTs them), waits for
//! every PG to be active+clean (bounded by the plan) and a calm spell. The probes' logs become
//! an [`OsdRecord`], times from the drill's start, the same shape the simulator's run fills.

use std::path::Path;
use std::time::Duration;

use topology::fault::Fault;
use topology::osd_drill::{OsdPlan, OsdRecord, PhaseTimes, RecoverySeen, WriteSeen};

use super::ceph_lab::{BedOsd, CLIENT_HOST, CephLab, CephLabError};
use super::ceph_probe::{
    PYTHON, WatcherLine, WriterLine, now, parse_lines, watcher_args, writer_args,
};
use crate::testbed::{DaemonId, DaemonSpec, DaemonState, wait_until};

/// How often the watcher polls the monitors and the manager.
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// How long the writer waits for writes still out when told to stop.
const DRAIN: Duration = Duration::from_secs(30);
/// Bound on the probes connecting, and on their exit after the stop.
const PROBE_BOUND: Duration = Duration::from_secs(60);

/// A real run of a plan: the record, and the probes' raw logs for a failing test to show.
#[derive(Debug, Clone)]
pub struct RealOsdRun {
    /// What happened, from the drill's start.
    pub record: OsdRecord,
    /// The writer's log.
    pub writer_log: String,
    /// The watcher's log.
    pub watcher_log: String,
}

fn secs_since(t0: f64, t: f64) -> Duration {
    Duration::from_secs_f64((t - t0).max(0.0))
}

fn spawn_probe(lab: &mut CephLab, args: Vec<String>) -> Result<DaemonId, CephLabError> {
    let spec = DaemonSpec {
        program: PYTHON.into(),
        args,
        env: Vec::new(),
    };
    Ok(lab.bed().spawn(CLIENT_HOST, spec)?)
}

/// Does `fault` (one of an OSD drill's process faults) to the OSD daemon `osd`. A SIGTERM does
/// not wait for the exit: the drill times the stop from the signal, as the simulator does.
fn act(lab: &mut CephLab, osd: DaemonId, fault: &Fault) -> Result<(), CephLabError> {
    let bed = lab.bed();
    match fault {
        Fault::ProcessStop { .. } => bed.kill(osd)?,
        Fault::ProcessTerminate { .. } => bed.sigterm(osd)?,
        Fault::ProcessPause { .. } => bed.pause(osd)?,
        Fault::ProcessStart { .. } => bed.restart(osd)?,
        Fault::ProcessResume { .. } => bed.resume(osd)?,
        other => {
            return Err(CephLabError::Step {
                step: format!("OSD drill fault {other}"),
                detail: "not a process fault".to_owned(),
            });
        }
    }
    Ok(())
}

/// Runs `plan` on `lab`, with the probes' stop files under `scratch`.
pub fn run_osd_plan(
    lab: &mut CephLab,
    plan: &OsdPlan,
    scratch: &Path,
) -> Result<RealOsdRun, CephLabError> {
    let stop = scratch.join("stop-probes");
    let _ = std::fs::remove_file(&stop);
    let conf = lab.conf().to_owned();
    let t0 = now();
    let watcher = spawn_probe(lab, watcher_args(&conf, WATCH_EVERY, &stop))?;
    let writer = spawn_probe(
        lab,
        writer_args(
            &conf,
            &lab.pool().name.clone(),
            plan.write_interval,
            plan.object_bytes,
            &stop,
            DRAIN,
        ),
    )?;
    wait_until(
        "the writer's first write",
        PROBE_BOUND,
        Duration::from_millis(100),
        || {
            let lines: Vec<WriterLine> = parse_lines(&lab.bed().log(writer));
            lines
                .iter()
                .any(|l| matches!(l, WriterLine::Write { .. }))
                .then_some(())
        },
    )?;
    std::thread::sleep(plan.calm);
    let n = lab.osds().len();
    let mut phases = Vec::new();
    for phase in &plan.phases {
        let hit: Vec<BedOsd> = lab
            .osds()
            .iter()
            .filter(|o| phase.hosts.contains(&o.host))
            .cloned()
            .collect();
        let fault = now();
        for o in &hit {
            act(lab, o.daemon, &phase.fault.fault(&o.host))?;
        }
        std::thread::sleep(phase.hold);
        let repair = now();
        for o in &hit {
            act(lab, o.daemon, &phase.fault.repair(&o.host))?;
        }
        if let Err(e) = lab.wait_clean(plan.recovery_timeout, Some(n)) {
            eprintln!("phase {}: {e}", phase.name);
        }
        std::thread::sleep(plan.calm);
        phases.push(PhaseTimes {
            name: phase.name.clone(),
            osds: hit.iter().map(|o| o.id).collect(),
            fault: secs_since(t0, fault),
            repair: secs_since(t0, repair),
            end: secs_since(t0, now()),
        });
    }
    std::fs::write(&stop, b"").map_err(|e| CephLabError::Step {
        step: "stopping the probes".into(),
        detail: e.to_string(),
    })?;
    for probe in [writer, watcher] {
        wait_until(
            "the probes to stop",
            DRAIN + PROBE_BOUND,
            Duration::from_millis(200),
            || matches!(lab.bed().state(probe), Ok(DaemonState::Exited(_))).then_some(()),
        )?;
    }
    let writer_log = lab.bed().log(writer);
    let watcher_log = lab.bed().log(watcher);
    let record = record_of(t0, &writer_log, &watcher_log, phases);
    Ok(RealOsdRun {
        record,
        writer_log,
        watcher_log,
    })
}

/// The record the probes' logs describe, times from `t0`.
fn record_of(t0: f64, writer: &str, watcher: &str, phases: Vec<PhaseTimes>) -> OsdRecord {
    let mut record = OsdRecord {
        phases,
        ..OsdRecord::default()
    };
    for line in parse_lines::<WriterLine>(writer) {
        match line {
            WriterLine::Write {
                issued, acked, rc, ..
            } => record.writes.push(WriteSeen {
                issued: secs_since(t0, issued),
                answered: Some(secs_since(t0, acked)),
                failed: rc != 0,
            }),
            WriterLine::Stopped { pending, .. } => {
                record
                    .writes
                    .extend(pending.iter().map(|(_, issued)| WriteSeen {
                        issued: secs_since(t0, *issued),
                        answered: None,
                        failed: false,
                    }));
            }
            WriterLine::Started { .. } => {}
        }
    }
    record.writes.sort_by_key(|w| w.issued);
    for line in parse_lines::<WatcherLine>(watcher) {
        match line {
            WatcherLine::Map { stamp, up, .. } => record.maps.push((secs_since(t0, stamp), up)),
            WatcherLine::Pgs { t, pgs, degraded } => {
                let clean = pgs.keys().all(|k| k == "active+clean") && !pgs.is_empty();
                record.clean.push((secs_since(t0, t), clean));
                record
                    .recovery
                    .push((secs_since(t0, t), RecoverySeen::Degraded(degraded)));
            }
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_logs_become_a_record() {
        let writer = "{\"started\": 100.0}\n\
            {\"n\": 0, \"issued\": 100.5, \"acked\": 100.6, \"rc\": 0}\n\
            {\"n\": 2, \"issued\": 101.0, \"acked\": 101.2, \"rc\": -5}\n\
            {\"stopped\": 110.0, \"sent\": 3, \"pending\": [[1, 100.7]]}\n";
        let watcher = "{\"t\": 100.1, \"epoch\": 9, \"stamp\": 99.0, \"up\": [0, 1], \"in\": [0, 1]}\n\
            {\"t\": 100.2, \"pgs\": {\"active+clean\": 32}}\n\
            {\"t\": 100.9, \"pgs\": {\"active+clean\": 30, \"peering\": 2}}\n";
        let r = record_of(100.0, writer, watcher, Vec::new());
        assert_eq!(r.writes.len(), 3);
        assert_eq!(
            r.writes[1].answered, None,
            "the pending write, in issue order"
        );
        assert!(r.writes[2].failed);
        assert_eq!(
            r.maps,
            vec![(Duration::ZERO, vec![0, 1])],
            "stamps before t0 clamp"
        );
        assert_eq!(
            r.clean.iter().map(|c| c.1).collect::<Vec<_>>(),
            [true, false]
        );
    }
}
