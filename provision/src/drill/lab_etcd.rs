//! The applied lab's etcd as an [`EtcdTarget`]: the members are guests, faults go through the
//! one injector ([`LabFaults`]: SIGKILL and SIGSTOP over SSH, a guest's link for a cut) and
//! probes run `etcdctl` on this machine, inside the isolated lab's namespace when there is one,
//! with a client certificate of the lab's PKI.
//!
//! A kill is the vocabulary's stop: SIGKILL, and the unit held stopped so systemd's
//! `Restart=on-failure` does not bring the member back before the phase repairs it (see
//! [`crate::inject::host`]), as the simulator's stopped process stays stopped. The lab cuts a
//! guest's whole link and nothing finer, so cutting one member from its peers while its
//! clients still reach it is refused.

use topology::drill::PhaseFault;
use topology::fault::Fault;

use super::etcd_lab::{EtcdClient, EtcdLabError};
use super::etcd_target::EtcdTarget;
use crate::inject::lab::LabFaults;
use crate::inject::{FaultTarget, InjectError};
use crate::lab::LabError;
use crate::lab::ops::Lab;
use crate::testbed::NetnsError;

/// The etcd process on a member guest (the fault vocabulary's name, and the unit's).
const ETCD_PROCESS: &str = "etcd";

/// An applied lab's etcd members.
#[derive(Debug)]
pub struct LabEtcd<'a> {
    faults: LabFaults<'a>,
    members: Vec<(String, String)>,
    client: EtcdClient,
}

impl<'a> LabEtcd<'a> {
    /// The members `members` (name and client URL, in member order) of `lab`, probed by
    /// `client`, each with an SSH connection opened ahead for its faults.
    pub fn new(
        lab: &'a Lab,
        members: Vec<(String, String)>,
        client: EtcdClient,
    ) -> Result<Self, LabError> {
        let mut faults = LabFaults::new(lab);
        let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
        faults.connect(&names)?;
        Ok(LabEtcd {
            faults,
            members,
            client,
        })
    }

    fn inject(&mut self, fault: Fault) -> Result<(), EtcdLabError> {
        Ok(self.faults.apply(&fault)?)
    }
}

fn process(member: &str) -> (String, String) {
    (member.to_owned(), ETCD_PROCESS.to_owned())
}

impl EtcdTarget for LabEtcd<'_> {
    fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|(n, _)| n.clone()).collect()
    }

    fn endpoint(&self, member: &str) -> Option<String> {
        self.members
            .iter()
            .find(|(n, _)| n == member)
            .map(|(_, url)| url.clone())
    }

    fn client(&self) -> Result<EtcdClient, NetnsError> {
        Ok(self.client.clone())
    }

    fn apply(&mut self, fault: PhaseFault, member: &str) -> Result<(), EtcdLabError> {
        let (host, process) = process(member);
        match fault {
            PhaseFault::Kill(_) => self.inject(Fault::ProcessStop { host, process }),
            PhaseFault::Pause(_) => self.inject(Fault::ProcessPause { host, process }),
            PhaseFault::CutLink(_) => self.inject(Fault::Partition {
                groups: vec![vec![host]],
            }),
            PhaseFault::CutFromPeers(_) => Err(InjectError::unsupported(
                &self.faults.target_name(),
                &Fault::Partition {
                    groups: vec![vec![host]],
                },
                "the lab cuts a guest's whole link; cutting a member from its peers while \
                 its clients still reach it needs the test bed's per-pair filters",
            )
            .into()),
        }
    }

    fn repair(&mut self, fault: PhaseFault, member: &str) -> Result<(), EtcdLabError> {
        let (host, process) = process(member);
        match fault {
            PhaseFault::Kill(_) => self.inject(Fault::ProcessStart { host, process }),
            PhaseFault::Pause(_) => self.inject(Fault::ProcessResume { host, process }),
            PhaseFault::CutLink(_) | PhaseFault::CutFromPeers(_) => self.inject(Fault::Heal),
        }
    }

    fn heal(&mut self) -> Result<(), EtcdLabError> {
        self.inject(Fault::Heal)
    }
}
