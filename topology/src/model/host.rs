//! Hosts: the machines, their addresses, roles, resources and disks.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One machine of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Host {
    /// Short host name, unique in the cluster (also the Kubernetes node name).
    pub name: String,
    /// Fully qualified name; defaults to `name.<spec.network.domain>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// Address on the node subnet; etcd, the API servers and Ceph bind here.
    pub address: IpAddr,
    /// What the host runs.
    pub roles: Vec<Role>,
    /// Allocatable resources the scheduler sees.
    #[serde(default)]
    pub resources: Resources,
    /// Raw disks handed to Ceph as OSDs (one OSD per disk).
    #[serde(default)]
    pub disks: Vec<Disk>,
    /// Extra Kubernetes node labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Host {
    /// Whether the host carries `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// What a host runs. Control-plane hosts carry kubeadm's
/// `node-role.kubernetes.io/control-plane:NoSchedule` taint.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// kube-apiserver, kube-scheduler, kube-controller-manager, keepalived and haproxy.
    ControlPlane,
    /// A member of the external etcd cluster.
    Etcd,
    /// Schedulable for ordinary workloads.
    Worker,
    /// A Ceph monitor.
    CephMon,
    /// A Ceph manager.
    CephMgr,
    /// Ceph OSDs, one per disk in `disks`.
    CephOsd,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 6] = [
        Role::ControlPlane,
        Role::Etcd,
        Role::Worker,
        Role::CephMon,
        Role::CephMgr,
        Role::CephOsd,
    ];

    /// The spelling used in `cluster.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Etcd => "etcd",
            Role::Worker => "worker",
            Role::CephMon => "ceph-mon",
            Role::CephMgr => "ceph-mgr",
            Role::CephOsd => "ceph-osd",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Allocatable resources of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Resources {
    /// CPU cores.
    pub cpu: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
}

impl Default for Resources {
    /// kubeadm's documented minimum for a control-plane node: 2 CPUs, 2 GiB.
    fn default() -> Self {
        Resources {
            cpu: crate::defaults::HOST_CPU,
            memory_mib: crate::defaults::HOST_MEMORY_MIB,
        }
    }
}

/// A raw block device that becomes one Ceph OSD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Disk {
    /// Device path on the host, e.g. `/dev/vdb`.
    pub device: String,
    /// Capacity in GiB (CRUSH weight = TiB, as Ceph sets it).
    pub size_gib: u64,
    /// Ceph device class.
    #[serde(default)]
    pub device_class: DeviceClass,
}

/// Ceph device classes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceClass {
    /// Rotational disk.
    Hdd,
    /// Solid-state disk (Ceph's default class for non-rotational devices).
    #[default]
    Ssd,
    /// NVMe device.
    Nvme,
}

impl DeviceClass {
    /// The class name Ceph uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Hdd => "hdd",
            DeviceClass::Ssd => "ssd",
            DeviceClass::Nvme => "nvme",
        }
    }
}
