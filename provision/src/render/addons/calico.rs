//! Calico through the Tigera operator: an `Installation` with BGP on or off as the topology
//! says, the cluster-wide `BGPConfiguration` (AS number, node-to-node mesh) and the pod
//! `IPPool` (CIDR, encapsulation). The Installation asks the operator for no pools of its own
//! (`ipPools: []`, which makes the operator wait for pools created out of band), so the
//! IPPool rendered here is the single source of the pod network's settings.

use serde::Serialize;
use topology::{CalicoEncapsulation, Cluster};

use super::{CustomObject, Layer, LayerKind, meta};
use crate::render::error::RenderError;
use crate::render::yaml::to_yaml;

/// Calico release whose operator manifests the layer references.
pub const CALICO_VERSION: &str = "v3.30.3";
/// Calico's default IPAM block size for IPv4 pools: /26 (Calico IPPool reference).
pub const IPV4_BLOCK_SIZE: u8 = 26;
/// Replicas of Calico's own control-plane pods (calico-kube-controllers, typha); the operator
/// defaults to 2 on clusters with more than one node.
pub const CONTROL_PLANE_REPLICAS: u32 = 2;

/// `operator.tigera.io/v1` Installation spec (the fields spofless sets).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationSpec {
    /// Network settings.
    pub calico_network: CalicoNetwork,
    /// Replicas of calico-kube-controllers and friends.
    pub control_plane_replicas: u32,
}

/// `Installation.spec.calicoNetwork`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalicoNetwork {
    /// `Enabled` or `Disabled`.
    pub bgp: &'static str,
    /// Always empty: the IPPool below is the only pool.
    pub ip_pools: Vec<()>,
    /// Which host address Calico uses: the one in the node subnet.
    #[serde(rename = "nodeAddressAutodetectionV4")]
    pub node_address_autodetection_v4: Autodetect,
}

/// Address autodetection by CIDR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Autodetect {
    /// Node subnets.
    pub cidrs: Vec<String>,
}

/// `crd.projectcalico.org/v1` BGPConfiguration spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpConfigurationSpec {
    /// Default AS number of every node.
    pub as_number: u32,
    /// Full mesh between nodes.
    pub node_to_node_mesh_enabled: bool,
    /// Log level.
    pub log_severity_screen: &'static str,
}

/// `crd.projectcalico.org/v1` IPPool spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPoolSpec {
    /// Pod CIDR.
    pub cidr: String,
    /// IPAM block size.
    pub block_size: u8,
    /// `Never`, `Always` or `CrossSubnet`.
    pub ipip_mode: &'static str,
    /// `Never`, `Always` or `CrossSubnet`.
    pub vxlan_mode: &'static str,
    /// SNAT traffic leaving the pod network.
    pub nat_outgoing: bool,
    /// Nodes allowed to use the pool.
    pub node_selector: &'static str,
}

fn modes(e: CalicoEncapsulation) -> (&'static str, &'static str) {
    match e {
        CalicoEncapsulation::None => ("Never", "Never"),
        CalicoEncapsulation::IPIP => ("Always", "Never"),
        CalicoEncapsulation::IPIPCrossSubnet => ("CrossSubnet", "Never"),
        CalicoEncapsulation::VXLAN => ("Never", "Always"),
    }
}

/// The `00-calico-operator` layer (Calico's CRDs and the Tigera operator, upstream) and the
/// `01-calico` layer (Installation, BGPConfiguration, IPPool), in apply order.
pub fn layers(cluster: &Cluster) -> Result<[Layer; 2], RenderError> {
    let c = &cluster.spec.calico;
    if !c.bgp && c.encapsulation != CalicoEncapsulation::VXLAN {
        return Err(RenderError::Unsupported {
            what: "spec.calico.bgp: false".to_owned(),
            hint: "without BGP pod routes must be carried by VXLAN: set spec.calico.encapsulation: VXLAN".to_owned(),
        });
    }
    let net = &cluster.spec.network;
    let installation = CustomObject {
        api_version: "operator.tigera.io/v1",
        kind: "Installation",
        metadata: meta("default", None, None),
        spec: InstallationSpec {
            calico_network: CalicoNetwork {
                bgp: if c.bgp { "Enabled" } else { "Disabled" },
                ip_pools: Vec::new(),
                node_address_autodetection_v4: Autodetect {
                    cidrs: vec![net.node_subnet.to_string()],
                },
            },
            control_plane_replicas: CONTROL_PLANE_REPLICAS,
        },
    };
    let bgp = CustomObject {
        api_version: "crd.projectcalico.org/v1",
        kind: "BGPConfiguration",
        metadata: meta("default", None, None),
        spec: BgpConfigurationSpec {
            as_number: c.as_number,
            node_to_node_mesh_enabled: c.node_to_node_mesh,
            log_severity_screen: "Info",
        },
    };
    let (ipip, vxlan) = modes(c.encapsulation);
    let pool = CustomObject {
        api_version: "crd.projectcalico.org/v1",
        kind: "IPPool",
        metadata: meta("default-ipv4-ippool", None, None),
        spec: IpPoolSpec {
            cidr: net.pod_subnet.to_string(),
            block_size: IPV4_BLOCK_SIZE,
            ipip_mode: ipip,
            vxlan_mode: vxlan,
            nat_outgoing: true,
            node_selector: "all()",
        },
    };
    let base = format!(
        "https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests"
    );
    Ok([
        Layer {
            dir: "00-calico-operator",
            kind: LayerKind::Operator {
                // operator-crds.yaml holds the operator.tigera.io and crd.projectcalico.org
                // CRDs; Calico's install guide creates it before tigera-operator.yaml.
                remote: vec![
                    format!("{base}/operator-crds.yaml"),
                    format!("{base}/tigera-operator.yaml"),
                ],
                wait_for: Vec::new(),
            },
        },
        Layer {
            dir: "01-calico",
            kind: LayerKind::Resources(vec![
                (
                    "installation.yaml".to_owned(),
                    to_yaml("Calico Installation", &installation)?,
                ),
                (
                    "bgpconfiguration.yaml".to_owned(),
                    to_yaml("Calico BGPConfiguration", &bgp)?,
                ),
                ("ippool.yaml".to_owned(), to_yaml("Calico IPPool", &pool)?),
            ]),
        },
    ])
}
