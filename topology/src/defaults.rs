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
/// etcd `--snapshot-count`: 100 000 applied entries between snapshots (etcd v3.2+).
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
/// `--leader-elect-renew-deadline`: 10 s.
pub const LEADER_RENEW_DEADLINE_S: u32 = 10;
/// `--leader-elect-retry-period`: 2 s.
pub const LEADER_RETRY_PERIOD_S: u32 = 2;

/// kube-controller-manager `--node-monitor-period`: 5 s.
pub const NODE_MONITOR_PERIOD_S: u32 = 5;
/// kube-controller-manager `--node-monitor-grace-period`: 50 s since Kubernetes v1.32
/// (40 s before; raised so it exceeds the 40 s node lease).
pub const NODE_MONITOR_GRACE_PERIOD_S: u32 = 50;
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
/// Rook's default mgr count when HA is wanted: 2 (one active, one standby).
pub const ROOK_MGR_COUNT: u8 = 2;
/// Recovery bandwidth assumed per OSD when estimating backfill time, in MiB/s. Not a Ceph
/// option: Ceph throttles recovery by `osd_max_backfills` (1) and `osd_recovery_max_active`
/// (0 = 3 for HDD), which on a 1 Gbit/s network works out to roughly this order.
pub const CEPH_RECOVERY_MIBPS: u32 = 100;

/// Calico's default BGP AS number: 64512.
pub const CALICO_AS_NUMBER: u32 = 64512;
/// Calico's default pod CIDR (`CALICO_IPV4POOL_CIDR`): 192.168.0.0/16.
pub const CALICO_POD_CIDR: &str = "192.168.0.0/16";
/// kubeadm's default service CIDR (`networking.serviceSubnet`): 10.96.0.0/12.
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
/// kubeadm's default cluster domain: cluster.local.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// kubeadm deploys CoreDNS with 2 replicas.
pub const COREDNS_REPLICAS: u32 = 2;

/// Kubernetes release the renderer targets (kubeadm v1beta4 API, k8s-openapi feature).
pub const KUBERNETES_VERSION: &str = "v1.34.2";

/// Kubernetes probe `periodSeconds` default: 10 s.
pub const PROBE_PERIOD_S: u32 = 10;
/// Kubernetes probe `failureThreshold` default: 3.
pub const PROBE_FAILURE_THRESHOLD: u32 = 3;
/// Kubernetes probe `timeoutSeconds` default: 1 s.
pub const PROBE_TIMEOUT_S: u32 = 1;
/// Kubernetes probe `initialDelaySeconds` default: 0 s.
pub const PROBE_INITIAL_DELAY_S: u32 = 0;
