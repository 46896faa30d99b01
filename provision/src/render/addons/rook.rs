//! Rook/Ceph: the operator's Helm values, the CephCluster (mons and mgrs on the hosts with
//! those roles, one OSD per topology disk), and `storage-ha.yaml` with a CephBlockPool and a
//! StorageClass per topology pool.
//!
//! Mons never share a host (`allowMultiplePerNode: false`), so losing one host costs at most
//! one mon; pools replicate across hosts (`failureDomain: host`) and refuse unsafe sizes
//! (`requireSafeReplicaSize`). Every Ceph daemon tolerates the control-plane taint because the
//! seed puts mons and OSDs on the control-plane hosts.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Toleration,
};
use k8s_openapi::api::storage::v1::StorageClass;
use serde::Serialize;
use topology::{Cluster, FailureDomain, Pool, Role};

use super::{CustomObject, HelmRelease, Layer, LayerKind, control_plane_toleration, meta};
use crate::render::error::RenderError;
use crate::render::kubeadm::ROLE_LABEL_PREFIX;
use crate::render::yaml::{join_documents, to_yaml};

/// Rook release the Helm values are written for.
pub const ROOK_VERSION: &str = "v1.18.3";
/// Rook's Helm chart repository (Rook "Helm Charts" docs: `helm repo add rook-release
/// https://charts.rook.io/release`).
pub const HELM_REPO: &str = "https://charts.rook.io/release";
/// The operator chart in that repository.
pub const HELM_CHART: &str = "rook-ceph";
/// Ceph image (Squid) the CephCluster runs.
pub const CEPH_IMAGE: &str = "quay.io/ceph/ceph:v19.2.3";
/// Namespace of the operator and the cluster (Rook's examples).
pub const NAMESPACE: &str = "rook-ceph";
/// Where mons keep their stores on each host (Rook's default `dataDirHostPath`).
pub const DATA_DIR_HOST_PATH: &str = "/var/lib/rook";
/// Ceph RBD CSI provisioner name Rook registers (`<operator namespace>.rbd.csi.ceph.com`).
pub const RBD_PROVISIONER: &str = "rook-ceph.rbd.csi.ceph.com";
/// Replicas of the CSI provisioner Deployment (Rook chart default 2).
pub const CSI_PROVISIONER_REPLICAS: u32 = 2;

/// Rook's CephCluster allows at most this many mgrs (Rook `CephCluster.spec.mgr.count`
/// validation: "maximum: 5", but only one is active; Rook's HA examples use 2). We render the
/// number of `ceph-mgr` hosts, capped here.
pub const ROOK_MAX_MGR_COUNT: usize = 2;

/// Mons the CephCluster asks for: one per `ceph-mon` host, or Rook's default count (3, placed
/// by Rook itself) when no host carries the role. The renderer and `--explain` both call this.
pub fn mon_count(cluster: &Cluster) -> usize {
    match cluster.hosts_with(Role::CephMon).count() {
        0 => usize::from(topology::defaults::ROOK_MON_COUNT),
        n => n,
    }
}

/// Mgrs the CephCluster asks for: one per `ceph-mgr` host up to [`ROOK_MAX_MGR_COUNT`], or
/// Rook's default (2) when no host carries the role. The renderer and `--explain` both call this.
pub fn mgr_count(cluster: &Cluster) -> usize {
    match cluster.hosts_with(Role::CephMgr).count() {
        0 => usize::from(topology::defaults::ROOK_MGR_COUNT),
        n => n.min(ROOK_MAX_MGR_COUNT),
    }
}

/// StorageClass name for pool `pool`.
pub fn storage_class_name(pool: &str) -> String {
    format!("ceph-block-{pool}")
}

/// Placement of one daemon type.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Hosts the daemons may run on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    /// Taints tolerated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

/// Daemon count and co-location rule for mons and mgrs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonCount {
    /// How many.
    pub count: usize,
    /// Whether two may share a host.
    pub allow_multiple_per_node: bool,
}

/// One OSD device.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Device name (`vdb`) or full path.
    pub name: String,
    /// Per-device settings.
    pub config: BTreeMap<String, String>,
}

/// One storage node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageNode {
    /// Kubernetes node name.
    pub name: String,
    /// Its OSD devices.
    pub devices: Vec<Device>,
}

/// `CephCluster.spec.storage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Only the listed nodes.
    pub use_all_nodes: bool,
    /// Only the listed devices.
    pub use_all_devices: bool,
    /// Nodes and devices.
    pub nodes: Vec<StorageNode>,
}

/// `ceph.rook.io/v1` CephCluster spec (the fields spofless sets).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CephClusterSpec {
    /// Ceph image.
    pub ceph_version: BTreeMap<String, String>,
    /// Host path for mon stores and config.
    pub data_dir_host_path: &'static str,
    /// Mons.
    pub mon: DaemonCount,
    /// Mgrs.
    pub mgr: DaemonCount,
    /// OSDs.
    pub storage: Storage,
    /// Placement per daemon type (`all`, `mon`, `mgr`, `osd`).
    pub placement: BTreeMap<String, Placement>,
    /// Ceph options (`[global]` section), from the topology's Ceph timers.
    pub ceph_config: BTreeMap<String, BTreeMap<String, String>>,
    /// Rook manages PDBs for OSDs and mons.
    pub disruption_management: BTreeMap<String, bool>,
}

/// `ceph.rook.io/v1` CephBlockPool spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CephBlockPoolSpec {
    /// CRUSH failure domain.
    pub failure_domain: &'static str,
    /// Replication.
    pub replicated: Replicated,
    /// Restrict to a device class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_class: Option<&'static str>,
    /// Pool properties set with `ceph osd pool set`.
    pub parameters: BTreeMap<String, String>,
}

/// `CephBlockPool.spec.replicated`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replicated {
    /// Replicas.
    pub size: u8,
    /// Refuse size 1.
    pub require_safe_replica_size: bool,
}

fn role_affinity(cluster: &Cluster, role: Role) -> Option<NodeAffinity> {
    cluster.hosts_with(role).next()?;
    Some(NodeAffinity {
        required_during_scheduling_ignored_during_execution: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: format!("{ROLE_LABEL_PREFIX}{role}"),
                    operator: "In".to_owned(),
                    values: Some(vec!["true".to_owned()]),
                }]),
                ..NodeSelectorTerm::default()
            }],
        }),
        ..NodeAffinity::default()
    })
}

fn device_name(device: &str) -> String {
    match device.strip_prefix("/dev/") {
        Some(rest) if !rest.contains('/') => rest.to_owned(),
        _ => device.to_owned(),
    }
}

fn cluster_spec(cluster: &Cluster) -> CephClusterSpec {
    let ceph = &cluster.spec.ceph;
    let mons = mon_count(cluster);
    let mgrs = mgr_count(cluster);
    let nodes = cluster
        .hosts_with(Role::CephOsd)
        .filter(|h| !h.disks.is_empty())
        .map(|h| StorageNode {
            name: h.name.clone(),
            devices: h
                .disks
                .iter()
                .map(|d| Device {
                    name: device_name(&d.device),
                    config: BTreeMap::from([(
                        "deviceClass".to_owned(),
                        d.device_class.as_str().to_owned(),
                    )]),
                })
                .collect(),
        })
        .collect();
    let mut placement = BTreeMap::from([(
        "all".to_owned(),
        Placement {
            node_affinity: None,
            tolerations: vec![control_plane_toleration()],
        },
    )]);
    for (key, role) in [
        ("mon", Role::CephMon),
        ("mgr", Role::CephMgr),
        ("osd", Role::CephOsd),
    ] {
        if let Some(aff) = role_affinity(cluster, role) {
            placement.insert(
                key.to_owned(),
                Placement {
                    node_affinity: Some(aff),
                    tolerations: vec![control_plane_toleration()],
                },
            );
        }
    }
    let global = BTreeMap::from([
        (
            "osd_heartbeat_grace".to_owned(),
            ceph.osd_heartbeat_grace_seconds.to_string(),
        ),
        (
            "mon_osd_down_out_interval".to_owned(),
            ceph.down_out_interval_seconds.to_string(),
        ),
        (
            "mon_osd_min_down_reporters".to_owned(),
            ceph.min_down_reporters.to_string(),
        ),
    ]);
    CephClusterSpec {
        ceph_version: BTreeMap::from([("image".to_owned(), CEPH_IMAGE.to_owned())]),
        data_dir_host_path: DATA_DIR_HOST_PATH,
        mon: DaemonCount {
            count: mons,
            allow_multiple_per_node: false,
        },
        mgr: DaemonCount {
            count: mgrs,
            allow_multiple_per_node: false,
        },
        storage: Storage {
            use_all_nodes: false,
            use_all_devices: false,
            nodes,
        },
        placement,
        ceph_config: BTreeMap::from([("global".to_owned(), global)]),
        disruption_management: BTreeMap::from([("managePodBudgets".to_owned(), true)]),
    }
}

fn block_pool(pool: &Pool) -> CustomObject<CephBlockPoolSpec> {
    CustomObject {
        api_version: "ceph.rook.io/v1",
        kind: "CephBlockPool",
        metadata: meta(&pool.name, Some(NAMESPACE), None),
        spec: CephBlockPoolSpec {
            failure_domain: match pool.failure_domain {
                FailureDomain::Host => "host",
                FailureDomain::Osd => "osd",
            },
            replicated: Replicated {
                size: pool.size,
                require_safe_replica_size: pool.size > 1,
            },
            device_class: pool.device_class.map(|c| c.as_str()),
            parameters: BTreeMap::from([
                ("min_size".to_owned(), pool.effective_min_size().to_string()),
                ("pg_num".to_owned(), pool.pg_num.to_string()),
            ]),
        },
    }
}

fn storage_class(pool: &Pool, default: bool) -> StorageClass {
    let mut m = meta(&storage_class_name(&pool.name), None, None);
    if default {
        m.annotations = Some(BTreeMap::from([(
            "storageclass.kubernetes.io/is-default-class".to_owned(),
            "true".to_owned(),
        )]));
    }
    let secret = |k: &str, v: &str| {
        [
            (format!("csi.storage.k8s.io/{k}-name"), v.to_owned()),
            (
                format!("csi.storage.k8s.io/{k}-namespace"),
                NAMESPACE.to_owned(),
            ),
        ]
    };
    let mut params = BTreeMap::from([
        ("clusterID".to_owned(), NAMESPACE.to_owned()),
        ("pool".to_owned(), pool.name.clone()),
        ("imageFormat".to_owned(), "2".to_owned()),
        ("imageFeatures".to_owned(), "layering".to_owned()),
        ("csi.storage.k8s.io/fstype".to_owned(), "ext4".to_owned()),
    ]);
    params.extend(secret("provisioner-secret", "rook-csi-rbd-provisioner"));
    params.extend(secret(
        "controller-expand-secret",
        "rook-csi-rbd-provisioner",
    ));
    params.extend(secret("node-stage-secret", "rook-csi-rbd-node"));
    StorageClass {
        metadata: m,
        provisioner: RBD_PROVISIONER.to_owned(),
        parameters: Some(params),
        reclaim_policy: Some("Delete".to_owned()),
        allow_volume_expansion: Some(true),
        volume_binding_mode: Some("Immediate".to_owned()),
        ..StorageClass::default()
    }
}

/// Helm values for the `rook-ceph` operator chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorValues {
    /// Install the CRDs with the chart.
    pub crds: BTreeMap<String, bool>,
    /// Operator pod tolerations.
    pub tolerations: Vec<Toleration>,
    /// CSI driver settings.
    pub csi: CsiValues,
}

/// `csi:` section of the operator values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CsiValues {
    /// RBD (block) driver on.
    pub enable_rbd_driver: bool,
    /// CephFS driver off: no pool in the topology uses it.
    pub enable_cephfs_driver: bool,
    /// Provisioner replicas.
    pub provisioner_replicas: u32,
    /// Plugin DaemonSet tolerations: the node plugin must run wherever a volume may mount.
    pub plugin_tolerations: Vec<Toleration>,
    /// Provisioner tolerations.
    pub provisioner_tolerations: Vec<Toleration>,
}

/// The `40-rook-operator` layer (the operator chart's values; the chart installs Rook's CRDs)
/// and the `41-rook` layer (CephCluster, `storage-ha.yaml`), in apply order.
pub fn layers(cluster: &Cluster) -> Result<[Layer; 2], RenderError> {
    let ceph_cluster = CustomObject {
        api_version: "ceph.rook.io/v1",
        kind: "CephCluster",
        metadata: meta("rook-ceph", Some(NAMESPACE), None),
        spec: cluster_spec(cluster),
    };
    let mut docs = Vec::new();
    for (i, pool) in cluster.spec.ceph.pools.iter().enumerate() {
        docs.push(to_yaml("CephBlockPool", &block_pool(pool))?);
        docs.push(to_yaml("StorageClass", &storage_class(pool, i == 0))?);
    }
    let values = OperatorValues {
        crds: BTreeMap::from([("enabled".to_owned(), true)]),
        tolerations: vec![control_plane_toleration()],
        csi: CsiValues {
            enable_rbd_driver: true,
            enable_cephfs_driver: false,
            provisioner_replicas: CSI_PROVISIONER_REPLICAS,
            plugin_tolerations: vec![control_plane_toleration()],
            provisioner_tolerations: vec![control_plane_toleration()],
        },
    };
    let values_text = format!(
        "# Helm values for chart {HELM_CHART} {ROOK_VERSION} from {HELM_REPO} (namespace {NAMESPACE}),\n\
         # rendered by spofless; manifests/apply.sh installs the chart with them.\n{}",
        to_yaml("Rook operator values", &values)?
    );
    Ok([
        Layer {
            dir: "40-rook-operator",
            kind: LayerKind::Helm {
                release: HelmRelease {
                    name: "rook-ceph",
                    chart: HELM_CHART,
                    repo: HELM_REPO,
                    version: ROOK_VERSION,
                    namespace: NAMESPACE,
                },
                values: ("rook-ceph-operator-values.yaml".to_owned(), values_text),
            },
        },
        Layer {
            dir: "41-rook",
            kind: LayerKind::Resources(vec![
                (
                    "cephcluster.yaml".to_owned(),
                    to_yaml("CephCluster", &ceph_cluster)?,
                ),
                ("storage-ha.yaml".to_owned(), join_documents(&docs)),
            ]),
        },
    ])
}
