//! The namespace test bed as a [`FaultTarget`]: topology's faults on hosts in network namespaces.
//!
//! Processes are the test bed's daemons, named by their program's file name (`/usr/bin/etcd`
//! is `etcd`): stop is SIGKILL, start runs the same command again, pause and resume are SIGSTOP
//! and SIGCONT. A host crash takes the host's link down (peers hear silence, as from a dead
//! machine) and kills its daemons; a restart brings both back. Partitions and one-way cuts are
//! blackhole routes, slow and lossy links tc netem on both ends, heal removes every network
//! fault. Disks and Kubernetes drains do not exist here and are refused.

use topology::fault::Fault;

use super::{FaultTarget, InjectError, partition_groups};
use crate::testbed::{DaemonState, Impairment, NetnsError, Testbed};

/// How long a SIGTERMed daemon may take to exit before it is killed: systemd's
/// `DefaultTimeoutStopSec` (90 s), the bound `systemctl stop` applies on a real host.
const TERMINATE_GRACE: std::time::Duration = std::time::Duration::from_secs(90);

impl Testbed {
    fn apply_fault(&mut self, fault: &Fault) -> Result<(), InjectError> {
        let target = self.target_name();
        let failed = |source: NetnsError| match source {
            NetnsError::Unsupported { what, reason } => InjectError::Unsupported {
                target: target.clone(),
                fault: fault.to_string(),
                reason: format!("{reason} ({what})"),
            },
            source => InjectError::Testbed {
                target: target.clone(),
                fault: fault.to_string(),
                source: Box::new(source),
            },
        };
        let processes = |lab: &Testbed, host: &str, process: &str| {
            let ids = lab.daemons_named(host, process).map_err(failed)?;
            if ids.is_empty() {
                return Err(InjectError::NoSuchProcess {
                    target: target.clone(),
                    fault: fault.to_string(),
                    host: host.to_owned(),
                    process: process.to_owned(),
                });
            }
            Ok(ids)
        };
        match fault {
            Fault::HostCrash { host } => self.crash(host).map_err(failed),
            Fault::HostRestart { host } => self.boot(host).map_err(failed),
            Fault::ProcessStop { host, process } => {
                for id in processes(self, host, process)? {
                    self.kill(id).map_err(failed)?;
                }
                Ok(())
            }
            Fault::ProcessTerminate { host, process } => {
                for id in processes(self, host, process)? {
                    self.terminate(id, TERMINATE_GRACE).map_err(failed)?;
                }
                Ok(())
            }
            Fault::ProcessStart { host, process } => {
                for id in processes(self, host, process)? {
                    if matches!(self.state(id).map_err(failed)?, DaemonState::Exited(_)) {
                        self.restart(id).map_err(failed)?;
                    }
                }
                Ok(())
            }
            Fault::ProcessPause { host, process } => {
                for id in processes(self, host, process)? {
                    self.pause(id).map_err(failed)?;
                }
                Ok(())
            }
            Fault::ProcessResume { host, process } => {
                for id in processes(self, host, process)? {
                    self.resume(id).map_err(failed)?;
                }
                Ok(())
            }
            Fault::Partition { groups } => {
                let hosts: Vec<String> = self.host_names().into_iter().map(str::to_owned).collect();
                for h in groups.iter().flatten() {
                    self.address(h).map_err(failed)?;
                }
                let groups = partition_groups(groups, &hosts);
                for (i, a) in groups.iter().enumerate() {
                    for b in groups.iter().skip(i + 1) {
                        for x in a {
                            for y in b {
                                self.block(x, y).map_err(failed)?;
                                self.block(y, x).map_err(failed)?;
                            }
                        }
                    }
                }
                Ok(())
            }
            Fault::OneWay { from, to } => self.block(from, to).map_err(failed),
            Fault::Heal => self.heal().map_err(failed),
            Fault::LinkSlow { a, b, latency } => {
                let loss = self
                    .impairment(a, b)
                    .map_err(failed)?
                    .map_or(0.0, |i| i.loss);
                let how = Impairment {
                    delay: *latency,
                    loss,
                };
                self.impair(a, b, how).map_err(failed)
            }
            Fault::LinkLossy { a, b, loss } => {
                let delay = self
                    .impairment(a, b)
                    .map_err(failed)?
                    .map_or(std::time::Duration::ZERO, |i| i.delay);
                let how = Impairment { delay, loss: *loss };
                self.impair(a, b, how).map_err(failed)
            }
            Fault::DiskLoss { .. } => Err(InjectError::unsupported(
                &target,
                fault,
                "test-bed hosts have no disks of their own (they share this machine's)",
            )),
            Fault::Drain { .. }
            | Fault::Uncordon { .. }
            | Fault::OutOfService { .. }
            | Fault::InService { .. } => Err(InjectError::unsupported(
                &target,
                fault,
                "the test bed runs no Kubernetes to drain",
            )),
        }
    }
}

impl FaultTarget for Testbed {
    fn target_name(&self) -> String {
        format!("test bed {}", self.prefix())
    }

    fn apply(&mut self, fault: &Fault) -> Result<(), InjectError> {
        tracing::info!(target_name = %self.target_name(), %fault, "injecting");
        self.apply_fault(fault)
    }
}
