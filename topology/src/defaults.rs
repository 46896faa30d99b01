//! Upstream defaults for every knob the topology exposes.
//!
//! An unset knob in `cluster.yaml` takes the value the upstream project ships, so the
//! simulator predicts what a stock installation does. Each constant names its source; the
//! renderer's `--explain` prints them beside the value in force.

/// etcd `--heartbeat-interval`: 100 ms (etcd docs, "Tuning": time parameters).
pub const ETCD_HEARTBEAT_INTERVAL_MS: u32 = 100;
/// etcd `--election-timeout`: 1000 ms (etcd docs, "Tuning"). Raft randomises each member's
/// timeout in [T, 2T).
pub const ETCD_ELECTION_TIMEOUT_MS: u32 = 1000;
/// etcd `--pre-vote`: true since etcd v3.5 (it was false in v3.4, e.g. Debian 12's 3.4.23).
pub const ETCD_PRE_VOTE: bool = true;
/// etcd `--snapshot-count`: 100 000 applied entries between snapshots. This is the default of
/// etcd 3.4 (the Debian 12 package the lab runs) and of 3.5; it was raised from 10 000 in v3.2
/// (etcd "Configuration flags", `--snapshot-count`).
pub const ETCD_SNAPSHOT_COUNT: u64 = 100_000;
/// etcd client port (IANA-assigned, etcd docs "Configuration flags").
pub const ETCD_CLIENT_PORT: u16 = 2379;
/// etcd peer port (IANA-assigned, etcd docs "Configuration flags").
pub const ETCD_PEER_PORT: u16 = 2380;

/// kube-apiserver `--secure-port`: 6443 (kubeadm default).
pub const APISERVER_PORT: u16 = 6443;
/// Port the load balancer in front of the API servers listens on. kubeadm's
/// "ha-considerations" guide uses 8443 for haproxy so it never clashes with a local
/// apiserver on 6443 on the same host.
pub const API_VIP_PORT: u16 = 8443;
/// haproxy `inter`: 2000 ms between health checks (haproxy configuration manual, 5.2).
pub const HAPROXY_CHECK_INTERVAL_S: u32 = 2;
/// haproxy `fall`: 3 consecutive failed checks mark a server down (haproxy manual, 5.2).
pub const HAPROXY_CHECK_FALL: u32 = 3;
/// haproxy `rise`: 2 consecutive good checks mark a server up (haproxy manual, 5.2).
pub const HAPROXY_CHECK_RISE: u32 = 2;
/// keepalived `advert_int`: 1 s between VRRP advertisements (keepalived.conf(5)).
pub const VRRP_ADVERT_INTERVAL_S: u32 = 1;
/// keepalived `virtual_router_id` used by kubeadm's HA guide example: 51.
pub const VRRP_VIRTUAL_ROUTER_ID: u8 = 51;

/// `--leader-elect-lease-duration`: 15 s (kube-scheduler and kube-controller-manager).
pub const LEADER_LEASE_DURATION_S: u32 = 15;
/// `--leader-elect-renew-deadline`: 10 s. The default of both kube-scheduler and
/// kube-controller-manager (k8s.io/component-base `LeaderElectionConfiguration`, documented
/// in each command's reference page): the leader gives up after failing to renew this long.
pub const LEADER_RENEW_DEADLINE_S: u32 = 10;
/// `--leader-elect-retry-period`: 2 s. The default of both kube-scheduler and
/// kube-controller-manager (k8s.io/component-base `LeaderElectionConfiguration`): the wait
/// between acquire and renew attempts.
pub const LEADER_RETRY_PERIOD_S: u32 = 2;

/// kube-controller-manager `--node-monitor-period`: 5 s.
pub const NODE_MONITOR_PERIOD_S: u32 = 5;
/// kube-controller-manager `--node-monitor-grace-period`: 50 s since Kubernetes v1.32
/// (kubernetes/kubernetes#126287, raised so it exceeds the 40 s node lease)...
pub const NODE_MONITOR_GRACE_PERIOD_S: u32 = 50;
/// ...and 40 s before.
pub const NODE_MONITOR_GRACE_PERIOD_BEFORE_1_32_S: u32 = 40;
/// The first minor release (1.x) with the 50 s grace period.
pub const NODE_MONITOR_GRACE_PERIOD_RAISED_IN_MINOR: u32 = 32;

/// Upstream's `--node-monitor-grace-period` default for Kubernetes `(major, minor)` (the
/// newest default when the release is unknown).
pub fn node_monitor_grace_period_s(release: Option<(u32, u32)>) -> u32 {
    match release {
        Some((1, minor)) if minor < NODE_MONITOR_GRACE_PERIOD_RAISED_IN_MINOR => {
            NODE_MONITOR_GRACE_PERIOD_BEFORE_1_32_S
        }
        _ => NODE_MONITOR_GRACE_PERIOD_S,
    }
}
/// kubelet `nodeLeaseDurationSeconds`: 40 s; the kubelet renews every quarter of it (10 s).
pub const NODE_LEASE_DURATION_S: u32 = 40;
/// kubelet `nodeStatusUpdateFrequency`: 10 s.
pub const NODE_STATUS_UPDATE_FREQUENCY_S: u32 = 10;
/// kube-apiserver `--default-not-ready-toleration-seconds`: 300 s (DefaultTolerationSeconds
/// admission plugin adds this NoExecute toleration to every pod).
pub const NOT_READY_TOLERATION_S: u32 = 300;
/// kube-apiserver `--default-unreachable-toleration-seconds`: 300 s.
pub const UNREACHABLE_TOLERATION_S: u32 = 300;
/// attach-detach controller `maxWaitForUnmountDuration`: 6 min before it force-detaches a
/// volume from a node that stopped reporting.
pub const FORCE_DETACH_AFTER_S: u32 = 360;

/// Ceph `osd_pool_default_size`: 3 replicas.
pub const CEPH_POOL_SIZE: u8 = 3;
/// Ceph `osd_pool_default_min_size` is 0, meaning "size - size/2" (2 for size 3).
pub const fn ceph_default_min_size(size: u8) -> u8 {
    size - size / 2
}
/// Ceph `osd_pool_default_pg_num`: 32 (Pacific and later).
pub const CEPH_POOL_PG_NUM: u32 = 32;
/// Ceph `osd_heartbeat_grace`: 20 s without a heartbeat before peers report an OSD down.
pub const CEPH_OSD_HEARTBEAT_GRACE_S: u32 = 20;
/// Ceph `osd_heartbeat_interval`: 6 s between OSD peer pings.
pub const CEPH_OSD_HEARTBEAT_INTERVAL_S: u32 = 6;
/// Ceph `mon_osd_down_out_interval`: 600 s after which a down OSD is marked out and its data
/// re-replicated elsewhere.
pub const CEPH_DOWN_OUT_INTERVAL_S: u32 = 600;
/// Ceph `mon_osd_min_down_reporters`: 2 reporters before the mon marks an OSD down.
pub const CEPH_MIN_DOWN_REPORTERS: u32 = 2;
/// Rook's default mon count for a production CephCluster: 3.
pub const ROOK_MON_COUNT: u8 = 3;
/// Ceph managers: 2. Rook's production example `deploy/examples/cluster.yaml` sets
/// `mgr.count: 2` ("when higher availability of the mgr is needed": one active, one
/// standby); the CephCluster CRD's own default is 1, which leaves no standby, so we follow the
/// example rather than the CRD.
pub const ROOK_MGR_COUNT: u8 = 2;
/// Name of the default replicated pool: `replicapool`, as Rook's example CephBlockPool and
/// RBD StorageClass (`deploy/examples/csi/rbd/storageclass.yaml`) call it.
pub const CEPH_POOL_NAME: &str = "replicapool";
/// Recovery bandwidth assumed per OSD when estimating backfill time, in MiB/s. Our choice, not
/// a Ceph option: Ceph throttles recovery by `osd_max_backfills` (1) and
/// `osd_recovery_max_active` (0 = 3 for HDD), which on a 1 Gbit/s network works out to
/// roughly this order, so the estimate is neither optimistic nor alarmist.
pub const CEPH_RECOVERY_MIBPS: u32 = 100;

/// Calico's default BGP AS number: 64512.
pub const CALICO_AS_NUMBER: u32 = 64512;
/// Calico BGP: on. The operator's `Installation.spec.calicoNetwork.bgp` defaults to
/// `Enabled` (Calico "Installation reference").
pub const CALICO_BGP: bool = true;
/// Calico node-to-node mesh: on. `BGPConfiguration.spec.nodeToNodeMeshEnabled` defaults to
/// true (Calico "BGP configuration" resource reference).
pub const CALICO_NODE_TO_NODE_MESH: bool = true;
/// Pod traffic encapsulation: none. Our choice, not Calico's: the operator's default IP pool
/// uses `IPIP` (Calico "Configure default IP pools": Encapsulation IPIP). Every host here sits
/// on one L2 subnet and peers over BGP, so each node learns a direct route to every other
/// node's pod block and packets need no tunnel; dropping IP-in-IP saves 20 bytes of MTU per
/// packet and the encapsulation CPU.
pub const CALICO_ENCAPSULATION: crate::model::CalicoEncapsulation =
    crate::model::CalicoEncapsulation::None;
/// Calico's default pod CIDR (`CALICO_IPV4POOL_CIDR`): 192.168.0.0/16.
pub const CALICO_POD_CIDR: &str = "192.168.0.0/16";
/// kubeadm's default service CIDR (`networking.serviceSubnet`): 10.96.0.0/12.
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
/// kubeadm's default cluster domain: cluster.local.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// kubeadm deploys CoreDNS with 2 replicas.
pub const COREDNS_REPLICAS: u32 = 2;
/// CoreDNS image kubeadm v1.34 deploys (`constants.CoreDNSVersion = "v1.12.1"`).
pub const COREDNS_IMAGE: &str = "registry.k8s.io/coredns/coredns:v1.12.1";
/// Namespace kubeadm deploys CoreDNS into.
pub const COREDNS_NAMESPACE: &str = "kube-system";
/// kubeadm's CoreDNS Deployment name.
pub const COREDNS_NAME: &str = "coredns";
/// CoreDNS's DNS port.
pub const COREDNS_PORT: u16 = 53;
/// kubeadm's CoreDNS container requests: 100m CPU, 70 MiB memory.
pub const COREDNS_CPU_MILLIS: u32 = 100;
/// See [`COREDNS_CPU_MILLIS`].
pub const COREDNS_MEMORY_MIB: u64 = 70;

/// MetalLB announcement mode: L2. Our choice: MetalLB has no default mode (an address pool is
/// announced only once an L2Advertisement or BGPAdvertisement names it). BGP mode would run a
/// second BGP speaker on every node beside Calico's, and both want TCP port 179.
pub const METALLB_MODE: crate::model::MetalLbMode = crate::model::MetalLbMode::L2;

/// Ingress controller replicas: 2. Our choice, not upstream: Traefik's Helm chart defaults to
/// `deployment.replicas: 1`, a single point of failure. Two replicas with required
/// anti-affinity on two workers survive the loss of either.
pub const INGRESS_REPLICAS: u32 = 2;
/// The Traefik image the renderer deploys.
pub const TRAEFIK_IMAGE: &str = "docker.io/traefik:v3.5.3";
/// Name (and namespace) of the Traefik Deployment, Service and ServiceAccount.
pub const INGRESS_NAME: &str = "traefik";
/// Traefik's `web` entry point (the Service's port 80 targets it).
pub const INGRESS_PORT: u16 = 8000;

/// Path the API load balancer probes on each kube-apiserver: `/readyz`. Our choice: kubeadm's
/// "ha-considerations" haproxy example checks `/healthz`, which Kubernetes deprecated in
/// v1.16 in favour of `/livez` and `/readyz` ("Kubernetes API health endpoints"). `/readyz`
/// also fails while the apiserver cannot reach etcd, so traffic leaves it then too.
pub const API_HEALTH_CHECK_PATH: &str = "/readyz";

/// Oldest Kubernetes minor release (1.x) spofless renders for: kubeadm reads the
/// `kubeadm.k8s.io/v1beta3` config API from v1.22 (kubeadm v1.22 release notes); older kubeadm
/// only reads v1beta2, which spofless does not write.
pub const OLDEST_KUBERNETES_MINOR: u32 = 22;

/// Kubernetes release the renderer targets. Our choice, not an upstream default: the newest
/// patch release whose kubeadm `v1beta4` API and `k8s-openapi` types the renderer is built
/// and tested against.
pub const KUBERNETES_VERSION: &str = "v1.34.2";

/// Allocatable CPUs assumed for a host that does not say: 2, kubeadm's documented minimum
/// ("Installing kubeadm", before you begin: 2 CPUs or more for control-plane machines).
pub const HOST_CPU: u32 = 2;
/// Memory in MiB assumed for a host that does not say: 2048, kubeadm's documented minimum
/// ("Installing kubeadm": 2 GB or more of RAM per machine).
pub const HOST_MEMORY_MIB: u64 = 2048;

/// Namespace of a workload that names none: `default`, where the API server puts namespaced
/// objects created without `metadata.namespace`.
pub const WORKLOAD_NAMESPACE: &str = "default";
/// Replicas of a Deployment or StatefulSet that names none: 1 (`spec.replicas` defaults to 1
/// in the apps/v1 API).
pub const WORKLOAD_REPLICAS: u32 = 1;
/// Container port of a workload that names none: 8080. Our choice: Kubernetes has no default
/// `containerPort`; 8080 is the conventional unprivileged HTTP port.
pub const WORKLOAD_PORT: u16 = 8080;
/// CPU request in millicores of a workload that names none: 100. Our choice: Kubernetes
/// leaves requests unset (a BestEffort pod the scheduler does not account for); a small
/// request makes the placement analysis and the scheduler see every pod.
pub const WORKLOAD_CPU_MILLIS: u32 = 100;
/// Memory request in MiB of a workload that names none: 128. Our choice, for the same reason
/// as [`WORKLOAD_CPU_MILLIS`].
pub const WORKLOAD_MEMORY_MIB: u64 = 128;
/// HorizontalPodAutoscaler target CPU utilisation: 80 %. autoscaling/v1
/// `targetCPUUtilizationPercentage` falls back to "the default autoscaling policy" of 80 %
/// when unset, which is also what `kubectl autoscale` uses without `--cpu-percent`.
pub const HPA_TARGET_CPU_PERCENT: u32 = 80;

/// Probe `periodSeconds`: 10 s (core/v1 `Probe` API reference, "Configure Liveness,
/// Readiness and Startup Probes": "Defaults to 10 seconds. Minimum value is 1").
pub const PROBE_PERIOD_S: u32 = 10;
/// Probe `failureThreshold`: 3 (core/v1 `Probe`: "Defaults to 3. Minimum value is 1").
pub const PROBE_FAILURE_THRESHOLD: u32 = 3;
/// Probe `successThreshold`: 1 (core/v1 `Probe`: "Defaults to 1. Must be 1 for liveness and
/// startup"). The model has no field for it: every probe runs with this value.
pub const PROBE_SUCCESS_THRESHOLD: u32 = 1;
/// Probe `timeoutSeconds`: 1 s (core/v1 `Probe`: "Defaults to 1 second. Minimum value is 1").
pub const PROBE_TIMEOUT_S: u32 = 1;
/// Probe `initialDelaySeconds`: 0 s (core/v1 `Probe`: unset means the kubelet probes as soon
/// as the container starts).
pub const PROBE_INITIAL_DELAY_S: u32 = 0;
