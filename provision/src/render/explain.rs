//! `spofless render --explain`: for each rendered setting that a topology knob decides, the
//! knob's path, the value in force, the upstream default, and where the value lands.
//!
//! The table is built from the same `Cluster` the renderers read and the same constants
//! (`topology::defaults`) the topology's defaults come from, so a reader can see at a glance
//! which settings differ from a stock installation.

use std::fmt;

use topology::Cluster;
use topology::defaults as d;

pub use super::addons::rook::ROOK_MAX_MGR_COUNT;
use super::addons::rook::{mgr_count, mon_count};
use super::etcd::{
    DEFAULT_ELECTION_TIMEOUT_MS, DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_SNAPSHOT_COUNT,
};

/// etcd's own `--pre-vote` default in the release the hosts run: `false` in etcd 3.4 (Debian
/// 12's `etcd-server`, "Configuration flags"); etcd 3.5 turned it on.
pub const ETCD_34_PRE_VOTE_DEFAULT: bool = false;

/// One explained setting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explained {
    /// Path of the knob in `cluster.yaml`, e.g. `spec.controlPlane.leaderElection.leaseDurationSeconds`.
    pub knob: String,
    /// The value in force.
    pub value: String,
    /// What upstream ships when nobody sets it.
    pub upstream_default: String,
    /// Where the value ends up (component and flag/field).
    pub target: String,
}

impl Explained {
    /// Whether the value in force differs from the upstream default.
    pub fn differs(&self) -> bool {
        self.value != self.upstream_default
    }
}

impl fmt::Display for Explained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} (upstream default {}, {}){}",
            self.knob,
            self.value,
            self.upstream_default,
            self.target,
            if self.differs() { " [changed]" } else { "" }
        )
    }
}

struct Table(Vec<Explained>);

impl Table {
    fn add(
        &mut self,
        knob: &str,
        value: impl fmt::Display,
        default: impl fmt::Display,
        target: &str,
    ) {
        self.0.push(Explained {
            knob: knob.to_owned(),
            value: value.to_string(),
            upstream_default: default.to_string(),
            target: target.to_owned(),
        });
    }
}

/// Every knob-driven setting the renderer writes, in a fixed order.
pub fn explain(cluster: &Cluster) -> Vec<Explained> {
    let mut t = Table(Vec::new());
    let s = &cluster.spec;
    let api = &s.api_endpoint;
    t.add(
        "spec.apiEndpoint.vip",
        api.vip,
        "none (required)",
        "kubeadm controlPlaneEndpoint host, keepalived virtual_ipaddress",
    );
    t.add(
        "spec.apiEndpoint.port",
        api.port,
        d::API_VIP_PORT,
        "kubeadm controlPlaneEndpoint port, haproxy frontend bind",
    );
    let order = topology::policy::vrrp::priority_order(cluster)
        .iter()
        .map(|h| h.name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    t.add(
        "spec.apiEndpoint.priority",
        format!("[{order}]"),
        "file order of control-plane hosts",
        "keepalived priority (first = MASTER)",
    );
    let hc = api.health_check.clone().unwrap_or_default();
    let hc_on = if api.health_check.is_some() {
        ""
    } else {
        " (no healthCheck set: defaults used)"
    };
    t.add(
        "spec.apiEndpoint.healthCheck.path",
        &hc.path,
        "/readyz",
        &format!("haproxy option httpchk GET, keepalived check script{hc_on}"),
    );
    t.add(
        "spec.apiEndpoint.healthCheck.intervalSeconds",
        hc.interval_seconds,
        d::HAPROXY_CHECK_INTERVAL_S,
        "haproxy default-server inter, keepalived vrrp_script interval",
    );
    t.add(
        "spec.apiEndpoint.healthCheck.fall",
        hc.fall,
        d::HAPROXY_CHECK_FALL,
        "haproxy default-server fall, keepalived vrrp_script fall",
    );
    t.add(
        "spec.apiEndpoint.healthCheck.rise",
        hc.rise,
        d::HAPROXY_CHECK_RISE,
        "haproxy default-server rise, keepalived vrrp_script rise",
    );
    t.add(
        "spec.apiEndpoint.vrrp.virtualRouterId",
        api.vrrp.virtual_router_id,
        d::VRRP_VIRTUAL_ROUTER_ID,
        "keepalived virtual_router_id",
    );
    t.add(
        "spec.apiEndpoint.vrrp.advertIntervalSeconds",
        api.vrrp.advert_interval_seconds,
        d::VRRP_ADVERT_INTERVAL_S,
        "keepalived advert_int",
    );

    let cp = &s.control_plane;
    t.add(
        "spec.controlPlane.kubernetesVersion",
        &cp.kubernetes_version,
        d::KUBERNETES_VERSION,
        "kubeadm ClusterConfiguration.kubernetesVersion",
    );
    let le = &cp.leader_election;
    t.add(
        "spec.controlPlane.leaderElection.leaseDurationSeconds",
        le.lease_duration_seconds,
        d::LEADER_LEASE_DURATION_S,
        "kube-controller-manager and kube-scheduler --leader-elect-lease-duration",
    );
    t.add(
        "spec.controlPlane.leaderElection.renewDeadlineSeconds",
        le.renew_deadline_seconds,
        d::LEADER_RENEW_DEADLINE_S,
        "kube-controller-manager and kube-scheduler --leader-elect-renew-deadline",
    );
    t.add(
        "spec.controlPlane.leaderElection.retryPeriodSeconds",
        le.retry_period_seconds,
        d::LEADER_RETRY_PERIOD_S,
        "kube-controller-manager and kube-scheduler --leader-elect-retry-period",
    );
    let nl = &cp.node_lifecycle;
    t.add(
        "spec.controlPlane.nodeLifecycle.nodeMonitorPeriodSeconds",
        nl.node_monitor_period_seconds,
        d::NODE_MONITOR_PERIOD_S,
        "kube-controller-manager --node-monitor-period",
    );
    t.add(
        "spec.controlPlane.nodeLifecycle.nodeMonitorGracePeriodSeconds",
        cp.node_monitor_grace_period_seconds(),
        d::node_monitor_grace_period_s(cp.kubernetes_release()),
        "kube-controller-manager --node-monitor-grace-period",
    );
    t.add(
        "spec.controlPlane.nodeLifecycle.nodeLeaseDurationSeconds",
        nl.node_lease_duration_seconds,
        d::NODE_LEASE_DURATION_S,
        "KubeletConfiguration.nodeLeaseDurationSeconds",
    );
    t.add(
        "spec.controlPlane.nodeLifecycle.notReadyTolerationSeconds",
        nl.not_ready_toleration_seconds,
        d::NOT_READY_TOLERATION_S,
        "kube-apiserver --default-not-ready-toleration-seconds",
    );
    t.add(
        "spec.controlPlane.nodeLifecycle.unreachableTolerationSeconds",
        nl.unreachable_toleration_seconds,
        d::UNREACHABLE_TOLERATION_S,
        "kube-apiserver --default-unreachable-toleration-seconds",
    );
    t.add(
        "(no knob) kubelet nodeStatusUpdateFrequency",
        format!("{}s", d::NODE_STATUS_UPDATE_FREQUENCY_S),
        format!("{}s", d::NODE_STATUS_UPDATE_FREQUENCY_S),
        "KubeletConfiguration.nodeStatusUpdateFrequency",
    );

    let etcd = &s.etcd;
    t.add(
        "spec.etcd.heartbeatIntervalMs",
        etcd.heartbeat_interval_ms,
        DEFAULT_HEARTBEAT_INTERVAL_MS,
        "etcd --heartbeat-interval (ETCD_HEARTBEAT_INTERVAL in /etc/default/etcd)",
    );
    t.add(
        "spec.etcd.electionTimeoutMs",
        etcd.election_timeout_ms,
        DEFAULT_ELECTION_TIMEOUT_MS,
        "etcd --election-timeout (ETCD_ELECTION_TIMEOUT in /etc/default/etcd)",
    );
    t.add(
        "spec.etcd.preVote",
        etcd.pre_vote,
        ETCD_34_PRE_VOTE_DEFAULT,
        "etcd --pre-vote (ETCD_PRE_VOTE in /etc/default/etcd; etcd 3.5+ defaults it to true)",
    );
    t.add(
        "spec.etcd.snapshotCount",
        etcd.snapshot_count,
        DEFAULT_SNAPSHOT_COUNT,
        "etcd --snapshot-count (ETCD_SNAPSHOT_COUNT in /etc/default/etcd)",
    );

    let net = &s.network;
    t.add(
        "spec.network.podSubnet",
        net.pod_subnet,
        d::CALICO_POD_CIDR,
        "kubeadm networking.podSubnet, Calico IPPool cidr",
    );
    t.add(
        "spec.network.serviceSubnet",
        net.service_subnet,
        d::SERVICE_CIDR,
        "kubeadm networking.serviceSubnet",
    );
    t.add(
        "spec.network.clusterDomain",
        &net.cluster_domain,
        d::CLUSTER_DOMAIN,
        "kubeadm networking.dnsDomain, KubeletConfiguration.clusterDomain",
    );

    let c = &s.calico;
    t.add(
        "spec.calico.bgp",
        c.bgp,
        true,
        "Calico Installation.spec.calicoNetwork.bgp",
    );
    t.add(
        "spec.calico.asNumber",
        c.as_number,
        d::CALICO_AS_NUMBER,
        "Calico BGPConfiguration.spec.asNumber",
    );
    t.add(
        "spec.calico.nodeToNodeMesh",
        c.node_to_node_mesh,
        true,
        "Calico BGPConfiguration.spec.nodeToNodeMeshEnabled",
    );
    t.add(
        "spec.calico.encapsulation",
        format!("{:?}", c.encapsulation),
        "IPIP (Calico manifest) / VXLANCrossSubnet (operator)",
        "Calico IPPool ipipMode/vxlanMode",
    );

    let m = &s.metallb;
    t.add(
        "spec.metallb.mode",
        format!("{:?}", m.mode).to_lowercase(),
        "none (an advertisement must be created)",
        "MetalLB L2Advertisement or BGPAdvertisement",
    );
    let pool = m
        .address_pool
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    t.add(
        "spec.metallb.addressPool",
        format!("[{pool}]"),
        "none",
        "MetalLB IPAddressPool.spec.addresses",
    );

    let dns = &s.coredns;
    t.add(
        "spec.coredns.replicas",
        dns.replicas,
        d::COREDNS_REPLICAS,
        "CoreDNS Deployment.spec.replicas",
    );
    t.add(
        "spec.coredns.antiAffinity",
        format!("{:?}", dns.anti_affinity).to_lowercase(),
        "preferred (kubeadm's CoreDNS manifest)",
        "CoreDNS pod anti-affinity on kubernetes.io/hostname",
    );
    t.add(
        "spec.coredns.pdb",
        pdb_text(dns.pdb.as_ref()),
        "none (kubeadm creates no PDB)",
        "PodDisruptionBudget kube-system/coredns",
    );

    let ing = &s.ingress;
    t.add(
        "spec.ingress.controller",
        format!("{:?}", ing.controller).to_lowercase(),
        "traefik",
        "ingress controller Deployment",
    );
    t.add(
        "spec.ingress.replicas",
        ing.replicas,
        1,
        "ingress Deployment.spec.replicas (Traefik chart default 1)",
    );
    t.add(
        "spec.ingress.antiAffinity",
        format!("{:?}", ing.anti_affinity).to_lowercase(),
        "none",
        "ingress pod anti-affinity on kubernetes.io/hostname",
    );
    t.add(
        "spec.ingress.pdb",
        pdb_text(ing.pdb.as_ref()),
        "none",
        "PodDisruptionBudget for the ingress controller",
    );

    // The same functions the CephCluster renderer uses, so explain never disagrees with it.
    let mons = mon_count(cluster);
    let mgrs = mgr_count(cluster);
    t.add(
        "spec.hosts[roles contains ceph-mon] (count)",
        mons,
        d::ROOK_MON_COUNT,
        "CephCluster.spec.mon.count (allowMultiplePerNode false; Rook's default without ceph-mon hosts)",
    );
    t.add(
        "spec.hosts[roles contains ceph-mgr] (count, max 2)",
        mgrs,
        d::ROOK_MGR_COUNT,
        "CephCluster.spec.mgr.count (Rook's default without ceph-mgr hosts)",
    );
    let ceph = &s.ceph;
    t.add(
        "spec.ceph.osdHeartbeatGraceSeconds",
        ceph.osd_heartbeat_grace_seconds,
        d::CEPH_OSD_HEARTBEAT_GRACE_S,
        "CephCluster.spec.cephConfig.global.osd_heartbeat_grace",
    );
    t.add(
        "spec.ceph.downOutIntervalSeconds",
        ceph.down_out_interval_seconds,
        d::CEPH_DOWN_OUT_INTERVAL_S,
        "CephCluster.spec.cephConfig.global.mon_osd_down_out_interval",
    );
    t.add(
        "spec.ceph.minDownReporters",
        ceph.min_down_reporters,
        d::CEPH_MIN_DOWN_REPORTERS,
        "CephCluster.spec.cephConfig.global.mon_osd_min_down_reporters",
    );
    for (i, p) in ceph.pools.iter().enumerate() {
        let k = format!("spec.ceph.pools[{i}]");
        let target = format!("CephBlockPool {}", p.name);
        t.add(
            &format!("{k}.size"),
            p.size,
            d::CEPH_POOL_SIZE,
            &format!("{target} spec.replicated.size"),
        );
        t.add(
            &format!("{k}.minSize"),
            p.effective_min_size(),
            d::ceph_default_min_size(p.size),
            &format!("{target} spec.parameters.min_size"),
        );
        t.add(
            &format!("{k}.failureDomain"),
            format!("{:?}", p.failure_domain).to_lowercase(),
            "host",
            &format!("{target} spec.failureDomain"),
        );
        t.add(
            &format!("{k}.pgNum"),
            p.pg_num,
            d::CEPH_POOL_PG_NUM,
            &format!("{target} spec.parameters.pg_num"),
        );
    }

    for (i, w) in s.workloads.iter().enumerate() {
        let k = format!("spec.workloads[{i}]");
        let target = format!("{:?} {}/{}", w.kind, w.namespace, w.name);
        t.add(
            &format!("{k}.replicas"),
            w.replicas,
            1,
            &format!("{target} spec.replicas"),
        );
        t.add(
            &format!("{k}.antiAffinity"),
            format!("{:?}", w.anti_affinity).to_lowercase(),
            "none",
            &format!("{target} pod anti-affinity"),
        );
        t.add(
            &format!("{k}.pdb"),
            pdb_text(w.pdb.as_ref()),
            "none",
            &format!("PodDisruptionBudget {}/{}", w.namespace, w.name),
        );
        let hpa = w.hpa.as_ref().map_or_else(
            || "none".to_owned(),
            |h| {
                format!(
                    "{}..{} at {}% CPU",
                    h.min_replicas, h.max_replicas, h.target_cpu_utilization_percent
                )
            },
        );
        t.add(
            &format!("{k}.hpa"),
            hpa,
            "none",
            &format!("HorizontalPodAutoscaler {}/{}", w.namespace, w.name),
        );
        for (slot, probe) in [
            ("readiness", &w.probes.readiness),
            ("liveness", &w.probes.liveness),
            ("startup", &w.probes.startup),
        ] {
            if let Some(p) = probe {
                t.add(
                    &format!("{k}.probes.{slot}.periodSeconds"),
                    p.period_seconds,
                    d::PROBE_PERIOD_S,
                    &format!("{target} {slot}Probe.periodSeconds"),
                );
                t.add(
                    &format!("{k}.probes.{slot}.failureThreshold"),
                    p.failure_threshold,
                    d::PROBE_FAILURE_THRESHOLD,
                    &format!("{target} {slot}Probe.failureThreshold"),
                );
            }
        }
    }
    t.0
}

fn pdb_text(pdb: Option<&topology::Pdb>) -> String {
    match pdb {
        None => "none".to_owned(),
        Some(p) => match (&p.min_available, &p.max_unavailable) {
            (Some(n), _) => format!("minAvailable {n}"),
            (None, Some(n)) => format!("maxUnavailable {n}"),
            (None, None) => "empty".to_owned(),
        },
    }
}
