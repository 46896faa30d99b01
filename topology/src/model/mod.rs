//! The typed cluster model: what `cluster.yaml` says, after serde and before validation.
//!
//! The file is Kubernetes-style (`apiVersion`, `kind: Cluster`, `metadata`, `spec`). Every
//! field has an upstream default (see [`crate::defaults`]), so a minimal file names the hosts
//! and little else. Types here hold data only; rules live in `validate` and `analysis`.

mod components;
mod host;
mod lab;
mod net;
mod workload;

pub use components::{
    ApiEndpoint, ApiEndpointMethod, Calico, CalicoEncapsulation, CephSpec, ControlPlane, CoreDns,
    EtcdSpec, FailureDomain, HealthCheck, Ingress, IngressController, LeaderElection, MetalLb,
    MetalLbMode, NodeLifecycle, Pool, Vrrp, parse_kubernetes_release,
};
pub use host::{DeviceClass, Disk, Host, Resources, Role};
pub use lab::{Accelerator, EMULATED_ETCD_TIMER_FACTOR, LabSettings};
pub use net::{Cidr, CidrError, IpRange, NetworkSpec};
pub use workload::{
    AntiAffinity, Hpa, IntOrPercent, Pdb, Probe, ProbeAction, Probes, ReplicaPolicy,
    TopologySpread, UnsatisfiableAction, VolumeAccessMode, VolumeClaim, Workload, WorkloadKind,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `apiVersion` every topology file carries.
pub const API_VERSION: &str = "spofless.dev/v1alpha1";
/// The only `kind` a topology file may have.
pub const KIND: &str = "Cluster";

/// A whole cluster: the root of `cluster.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    /// Always `spofless.dev/v1alpha1`.
    pub api_version: String,
    /// Always `Cluster`.
    pub kind: String,
    /// Name and labels of the cluster.
    pub metadata: Metadata,
    /// Hosts and the high-availability components placed on them.
    pub spec: ClusterSpec,
}

/// Kubernetes-style object metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Cluster name; used for the etcd cluster token, kubeadm's clusterName and lab names.
    pub name: String,
}

/// Everything that decides how the cluster behaves when something fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Subnets and the DNS domain hosts live under.
    pub network: NetworkSpec,
    /// Every machine in the cluster with its roles.
    pub hosts: Vec<Host>,
    /// How clients reach the API servers (VIP and load balancer).
    pub api_endpoint: ApiEndpoint,
    /// Kubernetes release and control-plane timers.
    #[serde(default)]
    pub control_plane: ControlPlane,
    /// The external etcd cluster on the hosts with the `etcd` role.
    #[serde(default)]
    pub etcd: EtcdSpec,
    /// Rook/Ceph storage on the hosts with `ceph-*` roles.
    #[serde(default)]
    pub ceph: CephSpec,
    /// Calico CNI.
    #[serde(default)]
    pub calico: Calico,
    /// MetalLB load balancer for Services of type LoadBalancer.
    #[serde(default)]
    pub metallb: MetalLb,
    /// Cluster DNS.
    #[serde(default)]
    pub coredns: CoreDns,
    /// HA ingress controller.
    #[serde(default)]
    pub ingress: Ingress,
    /// Applications whose availability the analysis also judges.
    #[serde(default)]
    pub workloads: Vec<Workload>,
    /// How `spofless lab up` runs the hosts as local VMs.
    #[serde(default, skip_serializing_if = "LabSettings::is_default")]
    pub lab: LabSettings,
}

impl Cluster {
    /// Hosts that carry `role`, in file order.
    pub fn hosts_with(&self, role: Role) -> impl Iterator<Item = &Host> {
        self.spec.hosts.iter().filter(move |h| h.has_role(role))
    }

    /// The host called `name`, if any.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.spec.hosts.iter().find(|h| h.name == name)
    }

    /// Fully qualified name of a host: its `fqdn`, or `name.domain`.
    pub fn fqdn(&self, host: &Host) -> String {
        host.fqdn
            .clone()
            .unwrap_or_else(|| format!("{}.{}", host.name, self.spec.network.domain))
    }
}
