//! MetalLB: the address pool for Services of type LoadBalancer and how it is announced. L2
//! mode (the default) leaves BGP port 179 to Calico. BGP mode is refused: a BGPAdvertisement
//! announces nothing without a BGPPeer, and the topology has no knob naming the routers to
//! peer with (their addresses and AS numbers), so a rendered BGP setup would silently leave
//! every LoadBalancer address unreachable.

use serde::Serialize;
use topology::{Cluster, MetalLbMode};

use super::{CustomObject, Layer, LayerKind, Rollout, meta};
use crate::render::error::RenderError;
use crate::render::yaml::to_yaml;

/// MetalLB release whose native manifest the layer references.
pub const METALLB_VERSION: &str = "v0.15.2";
/// Namespace the MetalLB native manifest installs into.
pub const NAMESPACE: &str = "metallb-system";
/// MetalLB's controller Deployment (metallb-native.yaml), which serves the validating webhook
/// every IPAddressPool and advertisement passes through.
pub const CONTROLLER_DEPLOYMENT: &str = "controller";
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

/// The `10-metallb-operator` layer (MetalLB's native manifest: CRDs, controller, speakers)
/// and the `11-metallb` layer (pool and advertisement), in apply order.
pub fn layers(cluster: &Cluster) -> Result<[Layer; 2], RenderError> {
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
        MetalLbMode::Bgp => {
            return Err(RenderError::Unsupported {
                what: "spec.metallb.mode: bgp".to_owned(),
                hint: "BGP mode needs BGPPeer objects (router address, peer AS), and the \
                       topology has no knob for BGP peers; use mode: l2"
                    .to_owned(),
            });
        }
    };
    let adv = CustomObject {
        api_version: "metallb.io/v1beta1",
        kind,
        metadata: meta(POOL_NAME, Some(NAMESPACE), None),
        spec: AdvertisementSpec {
            ip_address_pools: vec![POOL_NAME.to_owned()],
        },
    };
    Ok([
        Layer {
            dir: "10-metallb-operator",
            kind: LayerKind::Operator {
                remote: vec![format!(
                    "https://raw.githubusercontent.com/metallb/metallb/{METALLB_VERSION}/config/manifests/metallb-native.yaml"
                )],
                // The pool is refused until the controller's webhook answers.
                wait_for: vec![Rollout {
                    namespace: NAMESPACE,
                    deployment: CONTROLLER_DEPLOYMENT,
                }],
            },
        },
        Layer {
            dir: "11-metallb",
            kind: LayerKind::Resources(vec![
                (
                    "ipaddresspool.yaml".to_owned(),
                    to_yaml("MetalLB IPAddressPool", &pool)?,
                ),
                (file.to_owned(), to_yaml(kind, &adv)?),
            ]),
        },
    ])
}
