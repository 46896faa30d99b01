//! The libvirt lab as a [`FaultTarget`]: topology's faults on the lab's guests.
//!
//! A host crash powers the guest off (libvirt destroy), a restart thaws or boots it. Process
//! faults go into the guest over SSH with its pinned key, through the same code that serves any
//! [`Host`](crate::host::Host) ([`super::host::apply_on_host`]). The lab can cut a guest's
//! whole link and nothing finer, so a partition is expressible only when every group but the
//! largest is a single guest (each such guest loses its link); one-way cuts, slow and lossy
//! links, disks and drains are refused.

use topology::fault::Fault;

use super::host::apply_on_host;
use super::{FaultTarget, InjectError, partition_groups};
use crate::lab::LabError;
use crate::lab::ops::Lab;

/// The lab, ready to take faults.
#[derive(Debug)]
pub struct LabFaults<'a> {
    lab: &'a Lab,
}

impl<'a> LabFaults<'a> {
    /// Faults on `lab`'s recorded guests.
    pub fn new(lab: &'a Lab) -> Self {
        LabFaults { lab }
    }

    fn failed(&self, fault: &Fault) -> impl Fn(LabError) -> InjectError + use<'_> {
        let (target, fault) = (self.target_name(), fault.to_string());
        move |source| InjectError::Lab {
            target: target.clone(),
            fault: fault.clone(),
            source: Box::new(source),
        }
    }

    fn process_fault(&self, host: &str, fault: &Fault) -> Result<(), InjectError> {
        let guests = self.lab.guests().map_err(self.failed(fault))?;
        let rt = crate::lab::guest::runtime().map_err(self.failed(fault))?;
        rt.block_on(async {
            let h = guests.host(host).await.map_err(self.failed(fault))?;
            let r = apply_on_host(&h, fault).await;
            let _ = h.close().await;
            r
        })
    }
}

impl FaultTarget for LabFaults<'_> {
    fn target_name(&self) -> String {
        format!("lab {}", self.lab.spec.name)
    }

    fn apply(&mut self, fault: &Fault) -> Result<(), InjectError> {
        let target = self.target_name();
        tracing::info!(target_name = %target, %fault, "injecting");
        match fault {
            Fault::HostCrash { host } => self.lab.crash(host).map_err(self.failed(fault)),
            Fault::HostRestart { host } => self.lab.boot(host).map_err(self.failed(fault)),
            Fault::ProcessStop { host, .. }
            | Fault::ProcessTerminate { host, .. }
            | Fault::ProcessStart { host, .. }
            | Fault::ProcessPause { host, .. }
            | Fault::ProcessResume { host, .. } => self.process_fault(host, fault),
            Fault::Partition { groups } => {
                let hosts: Vec<String> = self.lab.spec.vms.iter().map(|v| v.host.clone()).collect();
                let mut groups = partition_groups(groups, &hosts);
                groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
                if groups.iter().skip(1).any(|g| g.len() > 1) {
                    return Err(InjectError::unsupported(
                        &target,
                        fault,
                        "the lab cuts a guest's whole link; two groups of several guests each \
                         need per-pair filtering, which only the test bed has",
                    ));
                }
                for g in groups.iter().skip(1) {
                    for h in g {
                        self.lab.set_link(h, false).map_err(self.failed(fault))?;
                    }
                }
                Ok(())
            }
            Fault::Heal => {
                for vm in &self.lab.spec.vms {
                    self.lab
                        .set_link(&vm.host, true)
                        .map_err(self.failed(fault))?;
                }
                Ok(())
            }
            Fault::OneWay { .. } | Fault::LinkSlow { .. } | Fault::LinkLossy { .. } => {
                Err(InjectError::unsupported(
                    &target,
                    fault,
                    "the lab can only take a guest's whole link down",
                ))
            }
            Fault::DiskLoss { .. } => Err(InjectError::unsupported(
                &target,
                fault,
                "the lab does not detach guest disks",
            )),
            Fault::Drain { .. }
            | Fault::Uncordon { .. }
            | Fault::OutOfService { .. }
            | Fault::InService { .. } => Err(InjectError::unsupported(
                &target,
                fault,
                "draining needs Kubernetes, which the lab does not run yet",
            )),
        }
    }
}
