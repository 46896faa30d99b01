//! Which faults of a plan would change nothing when they come: a resume of a process that is
//! not paused, a restart of a host that is up, a start of a process that is running, a pause of
//! one that is not running, a crash of a host that is already down, a stop of a process that is
//! already stopped. The simulator's engine and the real hosts both treat these as no-ops, so a
//! plan that contains one says less than its author meant; `sim run` reports them and the
//! random-plan generator leaves them out.
//!
//! The rules follow what a host and its processes do, and are the engine's own (its fault
//! outcomes `already-down`, `already-up`, `already-running`, `not-running`, `not-paused`): a host
//! crash kills every process on it and thaws paused ones (a crashed process is not frozen); a
//! restart starts every process on it that was not stopped by hand; a stop marks a process
//! stopped even on a crashed host (so the restart leaves it down). Network and disk faults are
//! never judged here.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Fault, FaultPlan, TimedFault};

/// A fault that would change nothing when it comes, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct NoOp {
    /// The fault and its time.
    pub fault: TimedFault,
    /// Why it does nothing, in the engine's words (`not-paused`, `already-up`, ...).
    pub reason: &'static str,
}

impl std::fmt::Display for NoOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {} changes nothing ({})",
            self.fault.fault,
            super::span::format(self.fault.at),
            self.reason.replace('-', " ")
        )
    }
}

/// Host and process states as the plan's faults leave them; everything starts up and running.
#[derive(Debug, Default)]
struct States {
    hosts_down: BTreeSet<String>,
    stopped: BTreeSet<(String, String)>,
    paused: BTreeSet<(String, String)>,
}

impl States {
    /// Applies `fault`; `Some(reason)` when it changes nothing.
    fn apply(&mut self, fault: &Fault) -> Option<&'static str> {
        let key = |host: &str, process: &str| (host.to_owned(), process.to_owned());
        match fault {
            Fault::HostCrash { host } => {
                if !self.hosts_down.insert(host.clone()) {
                    return Some("already-down");
                }
                self.paused.retain(|(h, _)| h != host);
            }
            Fault::HostRestart { host } => {
                if !self.hosts_down.remove(host) {
                    return Some("already-up");
                }
            }
            // systemd follows SIGTERM with SIGCONT, so a paused process terminates too.
            Fault::ProcessStop { host, process } | Fault::ProcessTerminate { host, process } => {
                self.paused.remove(&key(host, process));
                if !self.stopped.insert(key(host, process)) {
                    return Some("already-stopped");
                }
            }
            Fault::ProcessStart { host, process } => {
                if !self.stopped.remove(&key(host, process)) {
                    return Some("already-running");
                }
            }
            Fault::ProcessPause { host, process } => {
                let k = key(host, process);
                if self.hosts_down.contains(host)
                    || self.stopped.contains(&k)
                    || !self.paused.insert(k)
                {
                    return Some("not-running");
                }
            }
            Fault::ProcessResume { host, process } => {
                if !self.paused.remove(&key(host, process)) {
                    return Some("not-paused");
                }
            }
            Fault::DiskLoss { .. }
            | Fault::Partition { .. }
            | Fault::OneWay { .. }
            | Fault::Heal
            | Fault::LinkSlow { .. }
            | Fault::LinkLossy { .. }
            | Fault::Drain { .. }
            | Fault::Uncordon { .. }
            | Fault::OutOfService { .. }
            | Fault::InService { .. } => {}
        }
        None
    }
}

impl States {
    /// For an undo that would find nothing to undo (a restart of a host that is up, a start of
    /// a running process, a resume of one that is not paused), the same undo aimed at the
    /// first host or process that is down, stopped or paused, if any.
    fn retarget(&self, fault: &Fault) -> Option<Fault> {
        match fault {
            Fault::HostRestart { .. } => self
                .hosts_down
                .first()
                .map(|host| Fault::HostRestart { host: host.clone() }),
            Fault::ProcessStart { .. } => {
                self.stopped
                    .first()
                    .map(|(host, process)| Fault::ProcessStart {
                        host: host.clone(),
                        process: process.clone(),
                    })
            }
            Fault::ProcessResume { .. } => {
                self.paused
                    .first()
                    .map(|(host, process)| Fault::ProcessResume {
                        host: host.clone(),
                        process: process.clone(),
                    })
            }
            _ => None,
        }
    }
}

impl FaultPlan {
    /// The faults that would change nothing when they come, in the order they would apply.
    pub fn no_ops(&self) -> Vec<NoOp> {
        let mut states = States::default();
        self.sorted()
            .into_iter()
            .filter_map(|fault| {
                states
                    .apply(&fault.fault)
                    .map(|reason| NoOp { fault, reason })
            })
            .collect()
    }

    /// The plan with every fault made to count: an undo with nothing to undo is aimed at
    /// something there is to undo (the first crashed host, stopped or paused process), and any
    /// other no-op is dropped. Random plans go through this, so they exercise restarts and
    /// resumes instead of wasting faults, and it is deterministic, so shrinking still works.
    pub fn effective(&self) -> FaultPlan {
        let mut states = States::default();
        let mut kept = Vec::new();
        for mut timed in self.sorted() {
            if states.apply(&timed.fault).is_some() {
                let Some(fault) = states.retarget(&timed.fault) else {
                    continue;
                };
                if states.apply(&fault).is_some() {
                    continue;
                }
                timed.fault = fault;
            }
            kept.push(timed);
        }
        FaultPlan::new(kept)
    }

    /// Faults at or after `end`, which a run of that length never applies.
    pub fn after(&self, end: Duration) -> Vec<TimedFault> {
        self.sorted().into_iter().filter(|f| f.at >= end).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, fault: Fault) -> TimedFault {
        TimedFault {
            at: Duration::from_secs(secs),
            fault,
        }
    }

    fn proc(host: &str) -> (String, String) {
        (host.to_owned(), "etcd".to_owned())
    }

    #[test]
    fn a_resume_without_a_pause_is_a_no_op_and_says_so() {
        let (host, process) = proc("n1");
        let plan = FaultPlan::new(vec![at(
            30,
            Fault::ProcessResume {
                host: host.clone(),
                process: process.clone(),
            },
        )]);
        let no_ops = plan.no_ops();
        assert_eq!(no_ops.len(), 1);
        assert_eq!(no_ops[0].reason, "not-paused");
        assert_eq!(
            no_ops[0].to_string(),
            "ProcessResume n1/etcd at 30s changes nothing (not paused)"
        );
        assert!(plan.effective().faults.is_empty());
    }

    #[test]
    fn paired_faults_are_effective_and_repeats_are_not() {
        let (h, p) = proc("n1");
        let pause = Fault::ProcessPause {
            host: h.clone(),
            process: p.clone(),
        };
        let resume = Fault::ProcessResume {
            host: h.clone(),
            process: p.clone(),
        };
        let crash = Fault::HostCrash { host: h.clone() };
        let restart = Fault::HostRestart { host: h.clone() };
        let plan = FaultPlan::new(vec![
            at(1, pause.clone()),
            at(2, pause),
            at(3, resume.clone()),
            at(4, crash.clone()),
            at(5, crash),
            at(6, restart.clone()),
            at(7, restart),
            at(8, resume),
        ]);
        let reasons: Vec<_> = plan.no_ops().iter().map(|n| n.reason).collect();
        assert_eq!(
            reasons,
            ["not-running", "already-down", "already-up", "not-paused"]
        );
        assert_eq!(plan.effective().faults.len(), 4);
    }

    #[test]
    fn a_crash_thaws_paused_processes_and_a_stop_survives_the_restart() {
        let (h, p) = proc("n2");
        let plan = FaultPlan::new(vec![
            at(
                1,
                Fault::ProcessPause {
                    host: h.clone(),
                    process: p.clone(),
                },
            ),
            at(2, Fault::HostCrash { host: h.clone() }),
            at(
                3,
                Fault::ProcessStop {
                    host: h.clone(),
                    process: p.clone(),
                },
            ),
            at(4, Fault::HostRestart { host: h.clone() }),
            // Thawed by the crash, so nothing to resume; stopped, so nothing to pause.
            at(
                5,
                Fault::ProcessResume {
                    host: h.clone(),
                    process: p.clone(),
                },
            ),
            at(
                6,
                Fault::ProcessPause {
                    host: h.clone(),
                    process: p.clone(),
                },
            ),
            at(
                7,
                Fault::ProcessStart {
                    host: h.clone(),
                    process: p.clone(),
                },
            ),
            at(
                8,
                Fault::ProcessStart {
                    host: h,
                    process: p,
                },
            ),
        ]);
        let reasons: Vec<_> = plan.no_ops().iter().map(|n| n.reason).collect();
        assert_eq!(reasons, ["not-paused", "not-running", "already-running"]);
    }

    #[test]
    fn an_undo_with_nothing_to_undo_is_aimed_at_something_that_is_down() {
        let (h, p) = proc("n1");
        let plan = FaultPlan::new(vec![
            at(1, Fault::HostCrash { host: "n2".into() }),
            at(2, Fault::HostRestart { host: "n3".into() }),
            at(
                3,
                Fault::ProcessResume {
                    host: h.clone(),
                    process: p.clone(),
                },
            ),
            at(
                4,
                Fault::ProcessStop {
                    host: h.clone(),
                    process: p.clone(),
                },
            ),
            at(
                5,
                Fault::ProcessStart {
                    host: "n4".into(),
                    process: p.clone(),
                },
            ),
        ]);
        let effective = plan.effective();
        assert!(effective.no_ops().is_empty(), "{:?}", effective.no_ops());
        let faults: Vec<String> = effective
            .faults
            .iter()
            .map(|f| f.fault.to_string())
            .collect();
        assert_eq!(
            faults,
            [
                "HostCrash n2",
                "HostRestart n2",
                "ProcessStop n1/etcd",
                "ProcessStart n1/etcd"
            ]
        );
    }

    #[test]
    fn faults_after_the_end_are_listed() {
        let plan = FaultPlan::new(vec![
            at(5, Fault::Heal),
            at(60, Fault::HostCrash { host: "n1".into() }),
        ]);
        let late = plan.after(Duration::from_secs(10));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].at, Duration::from_secs(60));
        assert!(plan.after(Duration::from_secs(61)).is_empty());
    }
}
