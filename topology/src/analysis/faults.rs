//! The faults the static analysis tries, alone and in pairs.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::model::{Cluster, Role};

/// One fault of the static analysis.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StaticFault {
    /// The host is powered off or crashed.
    HostDown {
        /// Host name.
        host: String,
    },
    /// The host runs but a partition cuts it off from every other host.
    HostIsolated {
        /// Host name.
        host: String,
    },
    /// One OSD's disk is lost for good.
    DiskLost {
        /// Host name.
        host: String,
        /// Device path.
        device: String,
    },
    /// kube-apiserver stops on a control-plane host while the host stays up.
    ApiserverStopped {
        /// Host name.
        host: String,
    },
}

impl fmt::Display for StaticFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaticFault::HostDown { host } => write!(f, "{host} down"),
            StaticFault::HostIsolated { host } => write!(f, "{host} cut off"),
            StaticFault::DiskLost { host, device } => write!(f, "{host}:{device} lost"),
            StaticFault::ApiserverStopped { host } => write!(f, "apiserver on {host} stopped"),
        }
    }
}

/// Every single fault worth trying on `cluster`, in a fixed order.
pub fn single_faults(cluster: &Cluster) -> Vec<StaticFault> {
    let hosts = &cluster.spec.hosts;
    let mut out: Vec<StaticFault> = hosts
        .iter()
        .map(|h| StaticFault::HostDown {
            host: h.name.clone(),
        })
        .collect();
    out.extend(hosts.iter().map(|h| StaticFault::HostIsolated {
        host: h.name.clone(),
    }));
    for h in cluster.hosts_with(Role::CephOsd) {
        out.extend(h.disks.iter().map(|d| StaticFault::DiskLost {
            host: h.name.clone(),
            device: d.device.clone(),
        }));
    }
    out.extend(
        cluster
            .hosts_with(Role::ControlPlane)
            .map(|h| StaticFault::ApiserverStopped {
                host: h.name.clone(),
            }),
    );
    out
}

/// What a set of faults leaves broken, in the terms the component rules need.
#[derive(Debug, Default, Clone)]
pub struct Damage {
    /// Hosts the rest of the cluster cannot reach (down or cut off).
    pub unreachable: BTreeSet<String>,
    /// Hosts cut off but running (their processes may still act on their own side).
    pub isolated: BTreeSet<String>,
    /// Lost OSD disks as (host, device).
    pub lost_disks: BTreeSet<(String, String)>,
    /// Hosts whose apiserver is stopped.
    pub apiserver_stopped: BTreeSet<String>,
}

impl Damage {
    /// The combined damage of `faults`.
    pub fn of(faults: &[&StaticFault]) -> Damage {
        let mut d = Damage::default();
        for f in faults {
            match f {
                StaticFault::HostDown { host } => {
                    d.unreachable.insert(host.clone());
                }
                StaticFault::HostIsolated { host } => {
                    d.unreachable.insert(host.clone());
                    d.isolated.insert(host.clone());
                }
                StaticFault::DiskLost { host, device } => {
                    d.lost_disks.insert((host.clone(), device.clone()));
                }
                StaticFault::ApiserverStopped { host } => {
                    d.apiserver_stopped.insert(host.clone());
                }
            }
        }
        d
    }

    /// Whether the rest of the cluster can reach `host`.
    pub fn reachable(&self, host: &str) -> bool {
        !self.unreachable.contains(host)
    }
}
