//! The Ceph OSD drill as data: the plan that real Ceph daemons and the simulator's Ceph model
//! both walk, what each records while it runs, and the figures computed from that record by
//! one function, so the two halves differ only in what they observed.
//!
//! A phase hits the OSDs of some hosts (SIGKILL, SIGTERM or SIGSTOP), holds the fault,
//! repairs it (the OSDs started again, or SIGCONT), then waits until every PG is active+clean again and
//! the cluster has been calm a little, bounded. A client writes one object per interval
//! throughout.

use std::time::Duration;

use serde::Serialize;

use crate::fault::Fault;

/// The OSD daemon's process name, as faults name processes.
pub const OSD_PROCESS: &str = "ceph-osd";

/// What a phase does to its OSDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OsdFault {
    /// SIGKILL the OSD processes; the repair starts them again.
    Kill,
    /// SIGTERM them (a graceful stop: an OSD asks to be marked down first); the repair starts
    /// them again.
    Terminate,
    /// SIGSTOP them; the repair sends SIGCONT.
    Pause,
}

impl OsdFault {
    /// The fault on `host`'s OSD process.
    pub fn fault(self, host: &str) -> Fault {
        let (host, process) = (host.to_owned(), OSD_PROCESS.to_owned());
        match self {
            Self::Kill => Fault::ProcessStop { host, process },
            Self::Terminate => Fault::ProcessTerminate { host, process },
            Self::Pause => Fault::ProcessPause { host, process },
        }
    }

    /// What undoes [`OsdFault::fault`]: start the process again, or resume it.
    pub fn repair(self, host: &str) -> Fault {
        let (host, process) = (host.to_owned(), OSD_PROCESS.to_owned());
        match self {
            Self::Kill | Self::Terminate => Fault::ProcessStart { host, process },
            Self::Pause => Fault::ProcessResume { host, process },
        }
    }
}

/// One phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsdPhase {
    /// Name, e.g. `kill-one`.
    pub name: String,
    /// The fault.
    pub fault: OsdFault,
    /// Hosts whose OSDs it hits.
    pub hosts: Vec<String>,
    /// How long the fault holds before the repair.
    pub hold: Duration,
}

/// A whole OSD drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsdPlan {
    /// In order.
    pub phases: Vec<OsdPhase>,
    /// Quiet time before the first phase and after each phase's return to active+clean.
    pub calm: Duration,
    /// Bound on the wait for active+clean after a repair.
    pub recovery_timeout: Duration,
    /// Time between client writes.
    pub write_interval: Duration,
    /// Bytes per client write (one object).
    pub object_bytes: u64,
}

impl OsdPlan {
    /// The storage-failure schedule on OSD hosts `a` and `b` (both must differ and hold
    /// OSDs): `kill-one` (`a`'s OSD SIGKILLed for 20 s, then started), `stop-one` (the same
    /// OSD SIGTERMed for 20 s, then started), `pause-one` (`b`'s
    /// paused for 40 s: past the 20 s heartbeat grace, so it is marked down before it wakes),
    /// `kill-two` (both SIGKILLed for 20 s: PGs holding both fall below `min_size` 2).
    pub fn storage_schedule(a: &str, b: &str) -> Self {
        let phase = |name: &str, fault, hosts: &[&str], hold: u64| OsdPhase {
            name: name.to_owned(),
            fault,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            hold: Duration::from_secs(hold),
        };
        OsdPlan {
            phases: vec![
                phase("kill-one", OsdFault::Kill, &[a], 20),
                phase("stop-one", OsdFault::Terminate, &[a], 20),
                phase("pause-one", OsdFault::Pause, &[b], 40),
                phase("kill-two", OsdFault::Kill, &[a, b], 20),
            ],
            calm: Duration::from_secs(5),
            recovery_timeout: Duration::from_secs(120),
            write_interval: Duration::from_millis(200),
            object_bytes: 64 << 10,
        }
    }
}

/// One client write as a drill saw it, times from the drill's start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WriteSeen {
    /// When it was sent.
    pub issued: Duration,
    /// When it was acknowledged (or failed), if it was answered.
    pub answered: Option<Duration>,
    /// Whether the answer was an error.
    pub failed: bool,
}

/// When one phase's steps happened, from the drill's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseTimes {
    /// The phase's name.
    pub name: String,
    /// The OSD ids it hit.
    pub osds: Vec<i32>,
    /// Fault applied.
    pub fault: Duration,
    /// Repair applied.
    pub repair: Duration,
    /// Phase over (clean and calm, or the bound ran out).
    pub end: Duration,
}

/// Everything one run of an [`OsdPlan`] recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OsdRecord {
    /// Each OSDMap epoch: when the leader made it, and its up OSDs.
    pub maps: Vec<(Duration, Vec<i32>)>,
    /// When PG states were seen, and whether every PG was active+clean.
    pub clean: Vec<(Duration, bool)>,
    /// Every client write.
    pub writes: Vec<WriteSeen>,
    /// The phases as they ran.
    pub phases: Vec<PhaseTimes>,
    /// How much data recovery moved, as each side can tell it (printed, not judged): real Ceph
    /// gives the object copies its manager counts degraded, whenever that count changes; the
    /// simulator gives each finished recovery transfer's objects. Together they show whether a
    /// difference in the time back to clean is in the amount to recover or in its pace.
    pub recovery: Vec<(Duration, RecoverySeen)>,
}

/// One reading of [`OsdRecord::recovery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecoverySeen {
    /// Object copies degraded now (real Ceph's `degraded_objects`).
    Degraded(u64),
    /// A recovery transfer finished, moving this many objects (the simulator).
    Moved(u64),
}

/// The figures a phase is judged on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OsdPhaseFigures {
    /// The phase's name.
    pub name: String,
    /// Fault to the first map with every hit OSD down (`None`: never within the phase).
    pub marked_down: Option<Duration>,
    /// Repair to the first map with every hit OSD up again.
    pub marked_up: Option<Duration>,
    /// Repair to the first view of every PG active+clean at or after `marked_up`.
    pub clean: Option<Duration>,
    /// Longest time a write sent during the phase waited for its answer (to the phase's end
    /// for one never answered).
    pub longest_stall: Duration,
    /// Writes sent during the phase.
    pub writes: u32,
    /// Of those, answered with an error.
    pub failed: u32,
    /// Of those, never answered by the phase's end.
    pub unanswered: u32,
}

impl OsdRecord {
    /// The [`OsdRecord::recovery`] readings from `phase`'s repair to its end, times from the
    /// repair.
    pub fn recovery_in(&self, phase: &PhaseTimes) -> Vec<(Duration, RecoverySeen)> {
        self.recovery
            .iter()
            .filter(|(t, _)| *t >= phase.repair && *t <= phase.end)
            .map(|(t, r)| (t.saturating_sub(phase.repair), *r))
            .collect()
    }

    /// The figures of every phase.
    pub fn figures(&self) -> Vec<OsdPhaseFigures> {
        self.phases.iter().map(|p| self.phase_figures(p)).collect()
    }

    fn first_map(
        &self,
        from: Duration,
        until: Duration,
        ok: impl Fn(&[i32]) -> bool,
    ) -> Option<Duration> {
        self.maps
            .iter()
            .find(|(t, up)| *t >= from && *t <= until && ok(up))
            .map(|(t, _)| *t)
    }

    fn phase_figures(&self, p: &PhaseTimes) -> OsdPhaseFigures {
        let all_down = |up: &[i32]| p.osds.iter().all(|o| !up.contains(o));
        let all_up = |up: &[i32]| p.osds.iter().all(|o| up.contains(o));
        let down_at = self.first_map(p.fault, p.end, all_down);
        let up_at = self.first_map(p.repair, p.end, all_up);
        let clean_at = up_at.and_then(|up| {
            self.clean
                .iter()
                .find(|(t, clean)| *clean && *t >= up && *t <= p.end)
                .map(|(t, _)| *t)
        });
        let mine: Vec<&WriteSeen> = self
            .writes
            .iter()
            .filter(|w| w.issued >= p.fault && w.issued < p.end)
            .collect();
        let longest_stall = mine
            .iter()
            .map(|w| w.answered.unwrap_or(p.end).saturating_sub(w.issued))
            .max()
            .unwrap_or_default();
        let count = |f: &dyn Fn(&WriteSeen) -> bool| mine.iter().filter(|w| f(w)).count() as u32;
        OsdPhaseFigures {
            name: p.name.clone(),
            marked_down: down_at.map(|t| t - p.fault),
            marked_up: up_at.map(|t| t - p.repair),
            clean: clean_at.map(|t| t - p.repair),
            longest_stall,
            writes: mine.len() as u32,
            failed: count(&|w| w.failed),
            unanswered: count(&|w| w.answered.is_none()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    #[test]
    fn figures_read_the_record_of_one_phase() {
        let record = OsdRecord {
            maps: vec![
                (s(1.0), vec![0, 1, 2]),
                (s(10.2), vec![1, 2]),
                (s(11.2), vec![1, 2]),
                (s(33.0), vec![0, 1, 2]),
            ],
            clean: vec![
                (s(9.0), true),
                (s(12.0), false),
                (s(31.0), true),
                (s(40.0), true),
            ],
            writes: vec![
                WriteSeen {
                    issued: s(9.9),
                    answered: Some(s(9.91)),
                    failed: false,
                },
                WriteSeen {
                    issued: s(10.0),
                    answered: Some(s(11.3)),
                    failed: false,
                },
                WriteSeen {
                    issued: s(10.2),
                    answered: Some(s(10.5)),
                    failed: true,
                },
                WriteSeen {
                    issued: s(40.0),
                    answered: None,
                    failed: false,
                },
            ],
            recovery: vec![
                (s(30.0), RecoverySeen::Degraded(12)),
                (s(31.0), RecoverySeen::Degraded(0)),
                (s(32.0), RecoverySeen::Moved(7)),
            ],
            phases: vec![PhaseTimes {
                name: "kill-one".into(),
                osds: vec![0],
                fault: s(10.0),
                repair: s(30.0),
                end: s(45.0),
            }],
        };
        let f = &record.figures()[0];
        assert_eq!(f.marked_down, Some(s(0.2)));
        assert_eq!(f.marked_up, Some(s(3.0)));
        // The clean view at 31 s predates the OSD's return; the one at 40 s counts.
        assert_eq!(f.clean, Some(s(10.0)));
        assert_eq!(
            f.longest_stall,
            s(5.0),
            "the unanswered write waits to the phase's end"
        );
        assert_eq!((f.writes, f.failed, f.unanswered), (3, 1, 1));
        assert_eq!(
            record.recovery_in(&record.phases[0]),
            vec![
                (s(0.0), RecoverySeen::Degraded(12)),
                (s(1.0), RecoverySeen::Degraded(0)),
                (s(2.0), RecoverySeen::Moved(7)),
            ]
        );
    }

    #[test]
    fn the_storage_schedule_hits_both_hosts_last() {
        let plan = OsdPlan::storage_schedule("a", "b");
        let names: Vec<&str> = plan.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["kill-one", "stop-one", "pause-one", "kill-two"]);
        assert_eq!(plan.phases[3].hosts, ["a", "b"]);
        assert!(
            plan.phases[2].hold > Duration::from_secs(20),
            "past the heartbeat grace"
        );
    }
}
