//! A running etcd cluster a drill can probe and fault, wherever it runs: the namespace test bed
//! ([`EtcdLab`]) or the libvirt lab's guests (`lab_etcd`, with the `libvirt` feature). The
//! fault schedule ([`super::etcd_schedule`]) walks its plan through this trait only, so the
//! differential test and `spofless drill` share one runner.
//!
//! Probes go through `etcdctl` with a client certificate ([`EtcdClient`]); health and the
//! leader are read the way an operator reads them (`endpoint health`, `endpoint status`).

use std::time::{Duration, Instant};

use topology::drill::PhaseFault;

use super::etcd_lab::{EtcdClient, EtcdLab, EtcdLabError};
use crate::exec::Output;
use crate::render::etcd::{CLIENT_PORT, url};
use crate::testbed::{DaemonId, NetnsError, wait_until};

/// An etcd cluster under a drill.
pub trait EtcdTarget {
    /// Member names, in member order.
    fn member_names(&self) -> Vec<String>;

    /// The client URL of `member`.
    fn endpoint(&self, member: &str) -> Option<String>;

    /// A sendable `etcdctl` runner that reaches every member (for workload threads running
    /// while faults are injected).
    fn client(&self) -> Result<EtcdClient, NetnsError>;

    /// Applies a phase's `fault` to `member`.
    fn apply(&mut self, fault: PhaseFault, member: &str) -> Result<(), EtcdLabError>;

    /// Repairs `fault` on `member`.
    fn repair(&mut self, fault: PhaseFault, member: &str) -> Result<(), EtcdLabError>;

    /// Undoes every cut the drill may have left (also after a failed phase).
    fn heal(&mut self) -> Result<(), EtcdLabError>;

    /// Every member's client URL, in member order.
    fn endpoints(&self) -> Vec<String> {
        self.member_names()
            .iter()
            .filter_map(|m| self.endpoint(m))
            .collect()
    }

    /// Runs `etcdctl` against `endpoints` (see [`EtcdClient::etcdctl`]).
    fn etcdctl(
        &self,
        endpoints: &[String],
        args: &[&str],
        command_timeout: Duration,
    ) -> Result<Output, NetnsError> {
        self.client()?.etcdctl(endpoints, args, command_timeout)
    }

    /// Waits (bounded) until `endpoint health` reports every endpoint in `endpoints` healthy.
    fn wait_healthy(
        &self,
        endpoints: &[String],
        timeout: Duration,
    ) -> Result<Duration, NetnsError> {
        let start = Instant::now();
        wait_until(
            "etcd endpoint health",
            timeout,
            Duration::from_millis(200),
            || {
                let out = self
                    .etcdctl(endpoints, &["endpoint", "health"], Duration::from_secs(2))
                    .ok()?;
                let healthy = format!("{}{}", out.stdout_str(), out.stderr_str())
                    .matches("is healthy")
                    .count();
                (out.success() && healthy == endpoints.len()).then_some(())
            },
        )?;
        Ok(start.elapsed())
    }

    /// The current leader as seen through `endpoint status` on `endpoints`: the member whose
    /// own id equals the leader id it reports. `None` if no reachable member claims to lead.
    fn leader(&self, endpoints: &[String], timeout: Duration) -> Option<String> {
        let out = self
            .etcdctl(endpoints, &["endpoint", "status", "-w", "json"], timeout)
            .ok()?;
        let json: serde_json::Value = serde_json::from_str(out.stdout_str().trim()).ok()?;
        json.as_array()?.iter().find_map(|e| {
            let status = e.get("Status")?;
            let me = status.get("header")?.get("member_id")?.as_u64()?;
            let leader = status.get("leader")?.as_u64()?;
            let endpoint = e.get("Endpoint")?.as_str()?;
            (me == leader).then(|| {
                self.member_names()
                    .into_iter()
                    .find(|m| self.endpoint(m).as_deref() == Some(endpoint))
            })?
        })
    }
}

impl EtcdLab {
    fn member_daemon(&self, member: &str) -> Result<DaemonId, NetnsError> {
        self.daemon(member).ok_or(NetnsError::UnknownHost {
            name: member.to_owned(),
        })
    }

    fn peers_of(&self, member: &str) -> Vec<String> {
        self.member_names()
            .into_iter()
            .filter(|m| m != member)
            .collect()
    }
}

/// The namespace bed: signals to the member's daemon, its link, nftables blocks between
/// member namespaces.
impl EtcdTarget for EtcdLab {
    fn member_names(&self) -> Vec<String> {
        self.members().iter().map(|m| m.name.clone()).collect()
    }

    fn endpoint(&self, member: &str) -> Option<String> {
        self.members()
            .iter()
            .find(|m| m.name == member)
            .map(|m| url(m.address, CLIENT_PORT))
    }

    fn client(&self) -> Result<EtcdClient, NetnsError> {
        EtcdLab::client(self)
    }

    fn apply(&mut self, fault: PhaseFault, member: &str) -> Result<(), EtcdLabError> {
        match fault {
            PhaseFault::Kill(_) => {
                let d = self.member_daemon(member)?;
                self.lab().kill(d)?;
            }
            PhaseFault::Pause(_) => {
                let d = self.member_daemon(member)?;
                self.lab().pause(d)?;
            }
            PhaseFault::CutLink(_) => self.lab().link_down(member)?,
            PhaseFault::CutFromPeers(_) => {
                for peer in self.peers_of(member) {
                    self.lab().block(member, &peer)?;
                    self.lab().block(&peer, member)?;
                }
            }
        }
        Ok(())
    }

    fn repair(&mut self, fault: PhaseFault, member: &str) -> Result<(), EtcdLabError> {
        match fault {
            PhaseFault::Kill(_) => {
                let d = self.member_daemon(member)?;
                self.lab().restart(d)?;
            }
            PhaseFault::Pause(_) => {
                let d = self.member_daemon(member)?;
                self.lab().resume(d)?;
            }
            PhaseFault::CutLink(_) => self.lab().link_up(member)?,
            PhaseFault::CutFromPeers(_) => {
                for peer in self.peers_of(member) {
                    self.lab().unblock(member, &peer)?;
                    self.lab().unblock(&peer, member)?;
                }
            }
        }
        Ok(())
    }

    fn heal(&mut self) -> Result<(), EtcdLabError> {
        Ok(self.lab().heal()?)
    }
}
