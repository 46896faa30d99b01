//! The libvirt lab as a [`FaultTarget`]: topology's faults on the lab's guests.
//!
//! A host crash powers the guest off (libvirt destroy), a restart thaws or boots it. Process
//! faults go into the guest over SSH with its pinned key, through the same code that serves any
//! [`Host`](crate::host::Host) ([`super::host::apply_on_host`]), on a connection kept from one
//! fault to the next (an emulated guest takes seconds to complete an SSH handshake, which a
//! drill timing from the fault cannot afford; [`LabFaults::connect`] opens them ahead). The lab can cut a guest's
//! whole link and nothing finer, so a partition is expressible only when every group but the
//! largest is a single guest (each such guest loses its link); one-way cuts, slow and lossy
//! links, disks and drains are refused.

use std::collections::BTreeMap;

use topology::fault::Fault;

use super::host::apply_on_host;
use super::{FaultTarget, InjectError, partition_groups};
use crate::host::SshHost;
use crate::lab::LabError;
use crate::lab::guest::{Guests, runtime};
use crate::lab::ops::Lab;

/// The lab, ready to take faults.
pub struct LabFaults<'a> {
    lab: &'a Lab,
    /// The runtime the kept connections live on, and the connections by host.
    kept: Option<(tokio::runtime::Runtime, Guests, BTreeMap<String, SshHost>)>,
}

impl std::fmt::Debug for LabFaults<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabFaults")
            .field("lab", &self.lab.spec.name)
            .field(
                "connected",
                &self
                    .kept
                    .as_ref()
                    .map(|(_, _, c)| c.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

impl<'a> LabFaults<'a> {
    /// Faults on `lab`'s recorded guests.
    pub fn new(lab: &'a Lab) -> Self {
        LabFaults { lab, kept: None }
    }

    /// Opens (or keeps) a connection to each of `hosts`, so their first process fault does not
    /// wait for an SSH handshake.
    pub fn connect(&mut self, hosts: &[String]) -> Result<(), LabError> {
        for h in hosts {
            self.connection(h)?;
        }
        Ok(())
    }

    fn connection(&mut self, host: &str) -> Result<(), LabError> {
        if self.kept.is_none() {
            self.kept = Some((runtime()?, self.lab.guests()?, BTreeMap::new()));
        }
        let Some((rt, guests, conns)) = &mut self.kept else {
            unreachable!("set above");
        };
        if !conns.contains_key(host) {
            let h = rt.block_on(guests.host(host))?;
            conns.insert(host.to_owned(), h);
        }
        Ok(())
    }

    fn failed(&self, fault: &Fault) -> impl Fn(LabError) -> InjectError + use<'_> {
        let (target, fault) = (self.target_name(), fault.to_string());
        move |source| InjectError::Lab {
            target: target.clone(),
            fault: fault.clone(),
            source: Box::new(source),
        }
    }

    fn process_fault(&mut self, host: &str, fault: &Fault) -> Result<(), InjectError> {
        let (target, text) = (self.target_name(), fault.to_string());
        let failed = |source| InjectError::Lab {
            target: target.clone(),
            fault: text.clone(),
            source: Box::new(source),
        };
        self.connection(host).map_err(failed)?;
        let Some((rt, _, conns)) = &mut self.kept else {
            unreachable!("connection() keeps it");
        };
        let r = rt.block_on(async {
            match conns.get(host) {
                Some(h) => apply_on_host(h, fault).await,
                None => unreachable!("connection() keeps it"),
            }
        });
        if let Err(InjectError::Host { .. }) = &r {
            // A broken connection (the guest rebooted) is not kept; the next fault reconnects.
            if let Some(h) = conns.remove(host) {
                let _ = rt.block_on(h.close());
            }
        }
        r
    }
}

impl LabFaults<'_> {
    /// Drops the kept connection to `host` (its guest is going down or coming up).
    fn forget(&mut self, host: &str) {
        if let Some((_, _, conns)) = &mut self.kept {
            conns.remove(host);
        }
    }
}

impl Drop for LabFaults<'_> {
    fn drop(&mut self) {
        if let Some((rt, _, conns)) = self.kept.take() {
            for (_, h) in conns {
                let _ = rt.block_on(h.close());
            }
        }
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
            Fault::HostCrash { host } => {
                self.forget(host);
                self.lab.crash(host).map_err(self.failed(fault))
            }
            Fault::HostRestart { host } => {
                self.forget(host);
                self.lab.boot(host).map_err(self.failed(fault))
            }
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
