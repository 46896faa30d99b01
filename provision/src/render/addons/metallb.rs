//! MetalLB: the address pool for Services of type LoadBalancer and how it is announced. L2
//! mode (the default) leaves BGP port 179 to Calico; BGP mode renders a BGPAdvertisement and
//! expects the operator to peer MetalLB with the routers.

use serde::Serialize;
use topology::{Cluster, MetalLbMode};

use super::{CustomObject, Layer, meta};
use crate::render::error::RenderError;
use crate::render::yaml::to_yaml;

/// MetalLB release whose native manifest the layer references.
pub const METALLB_VERSION: &str = "v0.15.2";
/// Namespace the MetalLB native manifest installs into.
pub const NAMESPACE: &str = "metallb-system";
/// Name of the rendered pool.
pub const POOL_NAME: &str = "default";

/// `metallb.io/v1beta1` IPAddressPool spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAddressPoolSpec {
    /// Ranges `first-last` or CIDRs.
    pub addresses: Vec<String>,
    /// Hand out addresses without an explicit request.
    pub auto_assign: bool,
}

/// `metallb.io/v1beta1` L2Advertisement / BGPAdvertisement spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvertisementSpec {
    /// Pools announced.
    pub ip_address_pools: Vec<String>,
}

/// The `10-metallb` layer.
pub fn layer(cluster: &Cluster) -> Result<Layer, RenderError> {
    let m = &cluster.spec.metallb;
    if m.address_pool.is_empty() {
        return Err(RenderError::Missing {
            what: "spec.metallb.addressPool".to_owned(),
            hint: "list free addresses of the node subnet, e.g. [10.77.0.200-10.77.0.220]"
                .to_owned(),
        });
    }
    let pool = CustomObject {
        api_version: "metallb.io/v1beta1",
        kind: "IPAddressPool",
        metadata: meta(POOL_NAME, Some(NAMESPACE), None),
        spec: IpAddressPoolSpec {
            addresses: m.address_pool.iter().map(ToString::to_string).collect(),
            auto_assign: true,
        },
    };
    let (kind, file) = match m.mode {
        MetalLbMode::L2 => ("L2Advertisement", "l2advertisement.yaml"),
        MetalLbMode::Bgp => ("BGPAdvertisement", "bgpadvertisement.yaml"),
    };
    let adv = CustomObject {
        api_version: "metallb.io/v1beta1",
        kind,
        metadata: meta(POOL_NAME, Some(NAMESPACE), None),
        spec: AdvertisementSpec {
            ip_address_pools: vec![POOL_NAME.to_owned()],
        },
    };
    Ok(Layer {
        dir: "10-metallb",
        files: vec![
            (
                "ipaddresspool.yaml".to_owned(),
                to_yaml("MetalLB IPAddressPool", &pool)?,
            ),
            (file.to_owned(), to_yaml(kind, &adv)?),
        ],
        remote: vec![format!(
            "https://raw.githubusercontent.com/metallb/metallb/{METALLB_VERSION}/config/manifests/metallb-native.yaml"
        )],
        extra: Vec::new(),
    })
}
