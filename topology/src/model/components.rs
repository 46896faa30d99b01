//! The HA components and the knobs that decide how each behaves when something fails.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::net::IpRange;
use super::workload::{
    AntiAffinity, Pdb, Probe, ProbeAction, Probes, ReplicaPolicy, TopologySpread, Workload,
    WorkloadKind,
};
use crate::defaults;

/// How clients reach the API servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiEndpoint {
    /// The virtual IP kubeadm uses as `controlPlaneEndpoint`; must sit in the node subnet.
    pub vip: IpAddr,
    /// Port the load balancer listens on at the VIP.
    #[serde(default = "api_vip_port")]
    pub port: u16,
    /// What holds the VIP and balances behind it.
    #[serde(default)]
    pub method: ApiEndpointMethod,
    /// Control-plane hosts in VRRP priority order: the first is the preferred VIP holder
    /// (the seed's "primary", then "fallback 1", "fallback 2"). Empty means file order.
    #[serde(default)]
    pub priority: Vec<String>,
    /// Health check that moves traffic (and the VIP) off a failed API server. Without one, a
    /// stopped apiserver on the VIP holder keeps receiving traffic.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// VRRP settings for keepalived.
    #[serde(default)]
    pub vrrp: Vrrp,
}

fn api_vip_port() -> u16 {
    defaults::API_VIP_PORT
}

/// The mechanism behind the API VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApiEndpointMethod {
    /// keepalived (VRRP) holds the VIP; haproxy on each control-plane host balances to every
    /// apiserver (kubeadm's "ha-considerations" option 1).
    #[default]
    KeepalivedHaproxy,
    /// No VIP: clients use the first control-plane host's address directly.
    None,
}

/// An HTTP health check against the API servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct HealthCheck {
    /// Path probed on each apiserver.
    pub path: String,
    /// Seconds between checks.
    pub interval_seconds: u32,
    /// Consecutive failures before a backend is taken out.
    pub fall: u32,
    /// Consecutive successes before a backend is put back.
    pub rise: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: defaults::API_HEALTH_CHECK_PATH.to_owned(),
            interval_seconds: defaults::HAPROXY_CHECK_INTERVAL_S,
            fall: defaults::HAPROXY_CHECK_FALL,
            rise: defaults::HAPROXY_CHECK_RISE,
        }
    }
}

/// keepalived VRRP settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Vrrp {
    /// VRRP virtual router id (1-255), unique on the L2 segment.
    pub virtual_router_id: u8,
    /// Seconds between advertisements; a backup takes over after about 3 of them.
    pub advert_interval_seconds: u32,
}

impl Default for Vrrp {
    fn default() -> Self {
        Vrrp {
            virtual_router_id: defaults::VRRP_VIRTUAL_ROUTER_ID,
            advert_interval_seconds: defaults::VRRP_ADVERT_INTERVAL_S,
        }
    }
}

/// Kubernetes release and control-plane timers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ControlPlane {
    /// Kubernetes version kubeadm installs.
    pub kubernetes_version: String,
    /// Leader election of kube-scheduler and kube-controller-manager.
    pub leader_election: LeaderElection,
    /// Node lifecycle controller and kubelet lease timers.
    pub node_lifecycle: NodeLifecycle,
}

impl ControlPlane {
    /// `(major, minor)` of [`ControlPlane::kubernetes_version`], if it is an exact release.
    pub fn kubernetes_release(&self) -> Option<(u32, u32)> {
        parse_kubernetes_release(&self.kubernetes_version)
    }

    /// `--node-monitor-grace-period` in seconds: as written, or upstream's default for the
    /// release.
    pub fn node_monitor_grace_period_seconds(&self) -> u32 {
        self.node_lifecycle
            .node_monitor_grace_period_seconds
            .unwrap_or_else(|| defaults::node_monitor_grace_period_s(self.kubernetes_release()))
    }
}

/// `(major, minor)` of an exact Kubernetes release such as `v1.34.2`, `1.30.0` or
/// `v1.35.0-alpha.1` (kubeadm wants an exact version; a pre-release suffix only ever follows
/// the patch number). `None` for anything else.
pub fn parse_kubernetes_release(version: &str) -> Option<(u32, u32)> {
    let v = version.strip_prefix('v').unwrap_or(version);
    // At most three parts: a pre-release suffix may hold dots of its own (`0-alpha.1`).
    let mut parts = v.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?;
    let patch_ok = patch
        .split('-')
        .next()
        .is_some_and(|n| n.parse::<u32>().is_ok());
    patch_ok.then_some((major, minor))
}

impl Default for ControlPlane {
    fn default() -> Self {
        ControlPlane {
            kubernetes_version: defaults::KUBERNETES_VERSION.to_owned(),
            leader_election: LeaderElection::default(),
            node_lifecycle: NodeLifecycle::default(),
        }
    }
}

/// Lease-based leader election (`--leader-elect-*` flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LeaderElection {
    /// How long a lease is valid without renewal.
    pub lease_duration_seconds: u32,
    /// How long the leader keeps retrying renewal before it gives up leadership.
    pub renew_deadline_seconds: u32,
    /// Interval between acquire/renew attempts.
    pub retry_period_seconds: u32,
}

impl Default for LeaderElection {
    fn default() -> Self {
        LeaderElection {
            lease_duration_seconds: defaults::LEADER_LEASE_DURATION_S,
            renew_deadline_seconds: defaults::LEADER_RENEW_DEADLINE_S,
            retry_period_seconds: defaults::LEADER_RETRY_PERIOD_S,
        }
    }
}

/// Node lifecycle timers: how long until a silent node is NotReady and its pods evicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NodeLifecycle {
    /// `--node-monitor-period`.
    pub node_monitor_period_seconds: u32,
    /// `--node-monitor-grace-period`: silence before the node is marked NotReady/Unknown.
    /// Unset: upstream's default for `kubernetesVersion` (50 s from v1.32, 40 s before); read
    /// it through [`ControlPlane::node_monitor_grace_period_seconds`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_monitor_grace_period_seconds: Option<u32>,
    /// kubelet `nodeLeaseDurationSeconds`.
    pub node_lease_duration_seconds: u32,
    /// `--default-not-ready-toleration-seconds`.
    pub not_ready_toleration_seconds: u32,
    /// `--default-unreachable-toleration-seconds`: how long pods stay bound to an unreachable
    /// node before eviction.
    pub unreachable_toleration_seconds: u32,
}

impl Default for NodeLifecycle {
    fn default() -> Self {
        NodeLifecycle {
            node_monitor_period_seconds: defaults::NODE_MONITOR_PERIOD_S,
            node_monitor_grace_period_seconds: None,
            node_lease_duration_seconds: defaults::NODE_LEASE_DURATION_S,
            not_ready_toleration_seconds: defaults::NOT_READY_TOLERATION_S,
            unreachable_toleration_seconds: defaults::UNREACHABLE_TOLERATION_S,
        }
    }
}

/// The external etcd cluster; members are the hosts with the `etcd` role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct EtcdSpec {
    /// `--heartbeat-interval` in milliseconds.
    pub heartbeat_interval_ms: u32,
    /// `--election-timeout` in milliseconds.
    pub election_timeout_ms: u32,
    /// `--pre-vote`.
    pub pre_vote: bool,
    /// `--snapshot-count`.
    pub snapshot_count: u64,
}

impl Default for EtcdSpec {
    fn default() -> Self {
        EtcdSpec {
            heartbeat_interval_ms: defaults::ETCD_HEARTBEAT_INTERVAL_MS,
            election_timeout_ms: defaults::ETCD_ELECTION_TIMEOUT_MS,
            pre_vote: defaults::ETCD_PRE_VOTE,
            snapshot_count: defaults::ETCD_SNAPSHOT_COUNT,
        }
    }
}

/// Rook/Ceph. Mons, mgrs and OSDs sit on the hosts with the matching roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CephSpec {
    /// Replicated pools.
    pub pools: Vec<Pool>,
    /// `osd_heartbeat_grace` in seconds.
    pub osd_heartbeat_grace_seconds: u32,
    /// `mon_osd_down_out_interval` in seconds.
    pub down_out_interval_seconds: u32,
    /// `mon_osd_min_down_reporters`.
    pub min_down_reporters: u32,
    /// Recovery bandwidth per OSD in MiB/s used to estimate backfill time.
    pub recovery_mibps: u32,
}

impl Default for CephSpec {
    fn default() -> Self {
        CephSpec {
            pools: vec![Pool::default()],
            osd_heartbeat_grace_seconds: defaults::CEPH_OSD_HEARTBEAT_GRACE_S,
            down_out_interval_seconds: defaults::CEPH_DOWN_OUT_INTERVAL_S,
            min_down_reporters: defaults::CEPH_MIN_DOWN_REPORTERS,
            recovery_mibps: defaults::CEPH_RECOVERY_MIBPS,
        }
    }
}

/// A replicated Ceph pool (Rook CephBlockPool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pool {
    /// Pool name; also the StorageClass's pool.
    pub name: String,
    /// Replicas per object.
    #[serde(default = "pool_size")]
    pub size: u8,
    /// Replicas that must be up for I/O; defaults to `size - size/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<u8>,
    /// CRUSH failure domain: no two replicas share one.
    #[serde(default)]
    pub failure_domain: FailureDomain,
    /// Placement groups.
    #[serde(default = "pool_pg_num")]
    pub pg_num: u32,
    /// Restrict the pool to one device class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_class: Option<super::DeviceClass>,
    /// Data stored in the pool, in GiB, for recovery-time estimates.
    #[serde(default)]
    pub data_gib: u64,
}

fn pool_size() -> u8 {
    defaults::CEPH_POOL_SIZE
}
fn pool_pg_num() -> u32 {
    defaults::CEPH_POOL_PG_NUM
}

impl Pool {
    /// `min_size` in force: the configured one or Ceph's default.
    pub fn effective_min_size(&self) -> u8 {
        self.min_size
            .unwrap_or_else(|| defaults::ceph_default_min_size(self.size))
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            name: defaults::CEPH_POOL_NAME.to_owned(),
            size: defaults::CEPH_POOL_SIZE,
            min_size: None,
            failure_domain: FailureDomain::Host,
            pg_num: defaults::CEPH_POOL_PG_NUM,
            device_class: None,
            data_gib: 0,
        }
    }
}

/// CRUSH bucket type replicas are spread across.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailureDomain {
    /// One replica per OSD: two replicas may share a host.
    Osd,
    /// One replica per host (Rook's default for CephBlockPool).
    #[default]
    Host,
}

/// Calico CNI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Calico {
    /// Use BGP to distribute pod routes.
    pub bgp: bool,
    /// BGP AS number.
    pub as_number: u32,
    /// Full node-to-node BGP mesh.
    pub node_to_node_mesh: bool,
    /// Encapsulation of pod traffic.
    pub encapsulation: CalicoEncapsulation,
}

impl Default for Calico {
    fn default() -> Self {
        Calico {
            bgp: defaults::CALICO_BGP,
            as_number: defaults::CALICO_AS_NUMBER,
            node_to_node_mesh: defaults::CALICO_NODE_TO_NODE_MESH,
            encapsulation: defaults::CALICO_ENCAPSULATION,
        }
    }
}

/// Calico IP pool encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub enum CalicoEncapsulation {
    /// Plain routed traffic (BGP on one L2 segment).
    #[default]
    None,
    /// IP-in-IP.
    IPIP,
    /// IP-in-IP only across subnets.
    IPIPCrossSubnet,
    /// VXLAN.
    VXLAN,
}

/// MetalLB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MetalLb {
    /// Announcement mode. L2 avoids a second BGP speaker beside Calico's on each node.
    pub mode: MetalLbMode,
    /// Address pools for LoadBalancer Services.
    pub address_pool: Vec<IpRange>,
}

impl Default for MetalLb {
    fn default() -> Self {
        MetalLb {
            mode: defaults::METALLB_MODE,
            address_pool: Vec::new(),
        }
    }
}

/// MetalLB announcement mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetalLbMode {
    /// ARP/NDP announcement by one elected speaker per IP.
    #[default]
    L2,
    /// BGP announcement from every speaker. Validation refuses it: the model names no BGP
    /// peers, and beside Calico's BGP the two speakers would both want TCP port 179.
    Bgp,
}

/// CoreDNS. Its pods tolerate the control-plane taint, as kubeadm's manifest does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CoreDns {
    /// Replica count.
    pub replicas: u32,
    /// Pod anti-affinity on `kubernetes.io/hostname`.
    pub anti_affinity: AntiAffinity,
    /// Topology spread constraint on `kubernetes.io/hostname`.
    pub topology_spread: Option<TopologySpread>,
    /// PodDisruptionBudget.
    pub pdb: Option<Pdb>,
}

impl Default for CoreDns {
    /// kubeadm's CoreDNS has 2 replicas; we add required anti-affinity and a PDB, which kubeadm
    /// leaves out, so the default is free of single points of failure.
    fn default() -> Self {
        CoreDns {
            replicas: defaults::COREDNS_REPLICAS,
            anti_affinity: AntiAffinity::Required,
            topology_spread: None,
            pdb: Some(Pdb::min_available(1)),
        }
    }
}

impl CoreDns {
    /// The replica rules the analysis and the renderer share.
    pub fn policy(&self) -> ReplicaPolicy {
        ReplicaPolicy {
            replicas: self.replicas,
            anti_affinity: self.anti_affinity,
            topology_spread: self.topology_spread.clone(),
            tolerate_control_plane: true,
            pdb: self.pdb.clone(),
            per_node: false,
            hpa: None,
        }
    }

    /// CoreDNS as the Deployment `render` writes (kubeadm's, with this topology's replica
    /// rules): `kube-system/coredns`, readiness `GET /ready` on the `ready` plugin's port
    /// every 10 s, kubeadm's requests. The simulator runs it beside the topology's workloads.
    pub fn workload(&self) -> Workload {
        let mut w = system_deployment(
            defaults::COREDNS_NAMESPACE,
            defaults::COREDNS_NAME,
            defaults::COREDNS_IMAGE,
            defaults::COREDNS_PORT,
            &self.policy(),
            readiness("/ready", 3),
        );
        w.cpu_millis = defaults::COREDNS_CPU_MILLIS;
        w.memory_mib = defaults::COREDNS_MEMORY_MIB;
        w
    }
}

/// A readiness probe `GET path` every 10 s with `failure_threshold`, as `render` writes the
/// add-ons' probes.
fn readiness(path: &str, failure_threshold: u32) -> Probes {
    Probes {
        readiness: Some(Probe {
            action: ProbeAction::HttpGet {
                path: path.to_owned(),
            },
            initial_delay_seconds: 0,
            period_seconds: 10,
            timeout_seconds: defaults::PROBE_TIMEOUT_S,
            failure_threshold,
        }),
        liveness: None,
        startup: None,
    }
}

/// An add-on Deployment as a workload: no requests unless the caller sets them.
fn system_deployment(
    namespace: &str,
    name: &str,
    image: &str,
    port: u16,
    policy: &ReplicaPolicy,
    probes: Probes,
) -> Workload {
    Workload {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        kind: WorkloadKind::Deployment,
        image: image.to_owned(),
        port,
        replicas: policy.replicas,
        anti_affinity: policy.anti_affinity,
        topology_spread: policy.topology_spread.clone(),
        tolerate_control_plane: policy.tolerate_control_plane,
        pdb: policy.pdb.clone(),
        hpa: None,
        probes,
        volumes: Vec::new(),
        cpu_millis: 0,
        memory_mib: 0,
    }
}

/// The ingress controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Ingress {
    /// Which controller.
    pub controller: IngressController,
    /// Replica count.
    pub replicas: u32,
    /// Pod anti-affinity on `kubernetes.io/hostname`.
    pub anti_affinity: AntiAffinity,
    /// Topology spread constraint on `kubernetes.io/hostname`.
    pub topology_spread: Option<TopologySpread>,
    /// Also run on control-plane hosts.
    pub tolerate_control_plane: bool,
    /// PodDisruptionBudget.
    pub pdb: Option<Pdb>,
}

impl Default for Ingress {
    /// Our choice, not a chart default: two Traefik replicas with required anti-affinity and
    /// a PDB, on the workers only (the control plane stays for the control plane), so losing
    /// or draining one worker leaves one replica serving.
    fn default() -> Self {
        Ingress {
            controller: IngressController::Traefik,
            replicas: defaults::INGRESS_REPLICAS,
            anti_affinity: AntiAffinity::Required,
            topology_spread: None,
            tolerate_control_plane: false,
            pdb: Some(Pdb::min_available(1)),
        }
    }
}

impl Ingress {
    /// The replica rules the analysis and the renderer share.
    pub fn policy(&self) -> ReplicaPolicy {
        ReplicaPolicy {
            replicas: self.replicas,
            anti_affinity: self.anti_affinity,
            topology_spread: self.topology_spread.clone(),
            tolerate_control_plane: self.tolerate_control_plane,
            pdb: self.pdb.clone(),
            per_node: false,
            hpa: None,
        }
    }

    /// The controller as the Deployment `render` writes: `traefik/traefik`, readiness
    /// `GET /ping` every 10 s (one failure makes it unready), no requests. The simulator runs
    /// it beside the topology's workloads.
    pub fn workload(&self) -> Workload {
        system_deployment(
            defaults::INGRESS_NAME,
            defaults::INGRESS_NAME,
            defaults::TRAEFIK_IMAGE,
            defaults::INGRESS_PORT,
            &self.policy(),
            readiness("/ping", 1),
        )
    }
}

/// Ingress controllers the renderer can deploy. Traefik only: ingress-nginx was retired in
/// 2026, and the HAProxy Kubernetes Ingress Controller was dropped from the model because the
/// renderer ships no manifests for it, so a file asking for it is refused at load time instead
/// of passing `check` and failing at `render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IngressController {
    /// Traefik Proxy.
    #[default]
    Traefik,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_period_default_follows_the_kubernetes_release() {
        let mut cp = ControlPlane::default();
        let with = |cp: &mut ControlPlane, v: &str| {
            cp.kubernetes_version = v.to_owned();
            cp.node_monitor_grace_period_seconds()
        };
        assert_eq!(
            with(&mut cp, "v1.31.4"),
            defaults::NODE_MONITOR_GRACE_PERIOD_BEFORE_1_32_S
        );
        assert_eq!(
            with(&mut cp, "v1.32.0"),
            defaults::NODE_MONITOR_GRACE_PERIOD_S
        );
        cp.node_lifecycle.node_monitor_grace_period_seconds = Some(20);
        assert_eq!(with(&mut cp, "v1.30.0"), 20);
    }
}
