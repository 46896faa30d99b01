//! kubeadm configuration, in the config API the topology's Kubernetes release reads
//! (`kubeadm.k8s.io/v1beta4` from v1.31, `v1beta3` for v1.22-v1.30; see [`KubeadmApi`]): the
//! first control-plane host's `InitConfiguration` + `ClusterConfiguration` (+ the cluster-wide
//! `KubeletConfiguration`), and a `JoinConfiguration` for every other host.
//!
//! The cluster uses the external etcd rendered by `render::etcd` (client certificate
//! `apiserver-etcd-client`, etcd CA), the API VIP as `controlPlaneEndpoint`, and the
//! topology's leader-election, node-monitor and toleration timers as component flags. The
//! bootstrap token and certificate key are secrets passed in by the caller; the files holding
//! them are rendered with mode 0600. Joining nodes pin the cluster CA by its public-key hash.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use topology::defaults::APISERVER_PORT;
use topology::{ApiEndpointMethod, Cluster, Host, Role};

use super::error::RenderError;
use super::node::{CONTAINERD_SOCKET, kubelet_configuration};
use super::tree::SECRET_MODE;
use super::yaml::{join_documents, to_yaml};
use super::{FileContents, RenderedFile};
use crate::secrets::Secret;

/// The kubeadm config API of Kubernetes v1.31+ (kubeadm v1.31 release notes: "v1beta4 is
/// introduced"; v1beta3 is deprecated).
pub const KUBEADM_V1BETA4: &str = "kubeadm.k8s.io/v1beta4";
/// The kubeadm config API of Kubernetes v1.22-v1.30 (introduced in kubeadm v1.22).
pub const KUBEADM_V1BETA3: &str = "kubeadm.k8s.io/v1beta3";
/// First Kubernetes minor release (1.x) whose kubeadm reads v1beta4.
pub const V1BETA4_SINCE_MINOR: u32 = 31;
/// First Kubernetes minor release (1.x) whose kubeadm reads v1beta3 (the topology's
/// validation refuses anything older with the same constant).
pub const V1BETA3_SINCE_MINOR: u32 = topology::defaults::OLDEST_KUBERNETES_MINOR;
/// The topology knob the kubeadm API version is derived from, named in errors.
pub const KUBERNETES_VERSION_KNOB: &str = "spec.controlPlane.kubernetesVersion";
/// kubeadm's path for the etcd CA (`constants.EtcdCACertName` under the PKI dir).
pub const ETCD_CA_PATH: &str = "/etc/kubernetes/pki/etcd/ca.crt";
/// kubeadm's path for the apiserver's etcd client certificate.
pub const APISERVER_ETCD_CLIENT_CERT: &str = "/etc/kubernetes/pki/apiserver-etcd-client.crt";
/// kubeadm's path for the apiserver's etcd client key.
pub const APISERVER_ETCD_CLIENT_KEY: &str = "/etc/kubernetes/pki/apiserver-etcd-client.key";
/// kubeadm's cluster CA certificate; kubeadm uses a CA it finds here instead of making one.
pub const CLUSTER_CA_CERT: &str = "/etc/kubernetes/pki/ca.crt";
/// kubeadm's cluster CA key.
pub const CLUSTER_CA_KEY: &str = "/etc/kubernetes/pki/ca.key";
/// Where spofless puts the init file on the first control-plane host.
pub const INIT_CONFIG_PATH: &str = "/etc/kubernetes/spofless/kubeadm-init.yaml";
/// Where spofless puts the join file on every other host.
pub const JOIN_CONFIG_PATH: &str = "/etc/kubernetes/spofless/kubeadm-join.yaml";
/// Bootstrap token lifetime: kubeadm's `DefaultTokenDuration` (24 h).
pub const BOOTSTRAP_TOKEN_TTL: &str = "24h0m0s";
/// Groups kubeadm gives its default bootstrap token (`NodeBootstrapTokenAuthGroup`).
pub const BOOTSTRAP_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// The taint kubeadm puts on control-plane nodes (the scheduler policy's).
pub use topology::policy::scheduler::CONTROL_PLANE_TAINT;
/// Prefix of the node labels spofless gives each host for its roles (`spofless.dev/ceph-mon`).
pub const ROLE_LABEL_PREFIX: &str = "spofless.dev/";

/// The kubeadm config API a Kubernetes release reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeadmApi {
    /// `kubeadm.k8s.io/v1beta3`: `extraArgs` are a string map.
    V1Beta3,
    /// `kubeadm.k8s.io/v1beta4`: `extraArgs` are a list of `{name, value}` (so a flag may
    /// repeat).
    V1Beta4,
}

impl KubeadmApi {
    /// The API for `kubernetesVersion` (`v1.34.2`, `1.30`, ...): v1beta4 from 1.31, v1beta3 for
    /// 1.22-1.30; anything older or unparsable is a [`RenderError::KubernetesVersion`].
    pub fn for_version(version: &str) -> Result<Self, RenderError> {
        let err = |reason: String| RenderError::KubernetesVersion {
            knob: KUBERNETES_VERSION_KNOB,
            version: version.to_owned(),
            reason,
        };
        let (major, minor) = topology::parse_kubernetes_release(version).ok_or_else(|| {
            err("expected a release like v1.34.2 (kubeadm needs an exact version)".to_owned())
        })?;
        match (major, minor) {
            (1, m) if m >= V1BETA4_SINCE_MINOR => Ok(Self::V1Beta4),
            (1, m) if m >= V1BETA3_SINCE_MINOR => Ok(Self::V1Beta3),
            (1, _) => Err(err(format!(
                "kubeadm before v1.{V1BETA3_SINCE_MINOR} reads only the v1beta2 config API, \
                 which spofless does not render; use v1.{V1BETA3_SINCE_MINOR} or newer"
            ))),
            _ => Err(err("only Kubernetes 1.x is supported".to_owned())),
        }
    }

    /// The `apiVersion` string.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V1Beta3 => KUBEADM_V1BETA3,
            Self::V1Beta4 => KUBEADM_V1BETA4,
        }
    }

    /// `args` in this API's `extraArgs` shape.
    pub fn extra_args(self, args: Vec<Arg>) -> ExtraArgs {
        match self {
            Self::V1Beta4 => ExtraArgs::List(args),
            Self::V1Beta3 => ExtraArgs::Map(args.into_iter().map(|a| (a.name, a.value)).collect()),
        }
    }
}

/// The topology's Kubernetes release without the leading `v` (`1.34.2`), as tools such as
/// kubernetes-validate take it.
pub fn kubernetes_release(cluster: &Cluster) -> &str {
    let v = &cluster.spec.control_plane.kubernetes_version;
    v.strip_prefix('v').unwrap_or(v)
}

/// Secrets kubeadm needs, generated once by the caller.
#[derive(Debug, Clone)]
pub struct KubeadmSecrets {
    /// Bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub token: Secret,
    /// 32-byte hex key encrypting the uploaded control-plane certificates.
    pub certificate_key: Secret,
    /// `sha256:<hex>` of the cluster CA's SubjectPublicKeyInfo.
    pub ca_cert_hash: String,
}

/// One `extraArgs` entry (v1beta4 lists these; v1beta3 maps name to value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arg {
    /// Flag name without dashes.
    pub name: String,
    /// Flag value.
    pub value: String,
}

fn arg(name: &str, value: impl ToString) -> Arg {
    Arg {
        name: name.to_owned(),
        value: value.to_string(),
    }
}

/// `extraArgs` / `kubeletExtraArgs` in the shape of the chosen [`KubeadmApi`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ExtraArgs {
    /// v1beta4: `[{name, value}]`.
    List(Vec<Arg>),
    /// v1beta3: `{name: value}`.
    Map(BTreeMap<String, String>),
}

/// `ClusterConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfiguration {
    api_version: &'static str,
    kind: &'static str,
    cluster_name: String,
    kubernetes_version: String,
    control_plane_endpoint: String,
    networking: Networking,
    etcd: Etcd,
    api_server: Component,
    controller_manager: Component,
    scheduler: Component,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Networking {
    dns_domain: String,
    pod_subnet: String,
    service_subnet: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Etcd {
    external: ExternalEtcd,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalEtcd {
    endpoints: Vec<String>,
    ca_file: &'static str,
    cert_file: &'static str,
    key_file: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Component {
    #[serde(rename = "certSANs", skip_serializing_if = "Vec::is_empty")]
    cert_s_a_ns: Vec<String>,
    extra_args: ExtraArgs,
}

/// `InitConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitConfiguration {
    api_version: &'static str,
    kind: &'static str,
    bootstrap_tokens: Vec<BootstrapToken>,
    certificate_key: String,
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: LocalApiEndpoint,
    node_registration: NodeRegistration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct BootstrapToken {
    token: String,
    ttl: &'static str,
    usages: Vec<&'static str>,
    groups: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct LocalApiEndpoint {
    advertise_address: String,
    bind_port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeRegistration {
    name: String,
    cri_socket: &'static str,
    taints: Vec<Taint>,
    kubelet_extra_args: ExtraArgs,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Taint {
    key: &'static str,
    effect: &'static str,
}

/// `JoinConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinConfiguration {
    api_version: &'static str,
    kind: &'static str,
    discovery: Discovery,
    node_registration: NodeRegistration,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_plane: Option<JoinControlPlane>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Discovery {
    bootstrap_token: BootstrapTokenDiscovery,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct BootstrapTokenDiscovery {
    api_server_endpoint: String,
    token: String,
    ca_cert_hashes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct JoinControlPlane {
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: LocalApiEndpoint,
    certificate_key: String,
}

/// The host that runs `kubeadm init`: the first in VIP priority order.
pub fn init_host(cluster: &Cluster) -> Result<&Host, RenderError> {
    topology::policy::vrrp::priority_order(cluster)
        .into_iter()
        .next()
        .ok_or_else(|| RenderError::Missing {
            what: "control-plane host".to_owned(),
            hint: "give at least one host the control-plane role".to_owned(),
        })
}

/// `host:port` clients use for the API: the VIP, or the init host without one.
pub fn control_plane_endpoint(cluster: &Cluster) -> Result<String, RenderError> {
    let api = &cluster.spec.api_endpoint;
    let (ip, port) = match api.method {
        ApiEndpointMethod::KeepalivedHaproxy => (api.vip, api.port),
        ApiEndpointMethod::None => (init_host(cluster)?.address, APISERVER_PORT),
    };
    Ok(match ip {
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
    })
}

fn secs(n: u32) -> String {
    format!("{n}s")
}

/// The `ClusterConfiguration` from the topology.
pub fn cluster_configuration(cluster: &Cluster) -> Result<ClusterConfiguration, RenderError> {
    let s = &cluster.spec;
    let api = KubeadmApi::for_version(&s.control_plane.kubernetes_version)?;
    let le = &s.control_plane.leader_election;
    let nl = &s.control_plane.node_lifecycle;
    let leader = |mut args: Vec<Arg>| {
        args.push(arg("leader-elect", "true"));
        args.push(arg(
            "leader-elect-lease-duration",
            secs(le.lease_duration_seconds),
        ));
        args.push(arg(
            "leader-elect-renew-deadline",
            secs(le.renew_deadline_seconds),
        ));
        args.push(arg(
            "leader-elect-retry-period",
            secs(le.retry_period_seconds),
        ));
        args
    };
    let mut sans = vec![s.api_endpoint.vip.to_string()];
    for h in cluster.hosts_with(Role::ControlPlane) {
        sans.push(h.name.clone());
        sans.push(cluster.fqdn(h));
        sans.push(h.address.to_string());
    }
    let endpoints = cluster
        .hosts_with(Role::Etcd)
        .map(|h| super::etcd::url(h.address, super::etcd::CLIENT_PORT))
        .collect();
    Ok(ClusterConfiguration {
        api_version: api.api_version(),
        kind: "ClusterConfiguration",
        cluster_name: cluster.metadata.name.clone(),
        kubernetes_version: s.control_plane.kubernetes_version.clone(),
        control_plane_endpoint: control_plane_endpoint(cluster)?,
        networking: Networking {
            dns_domain: s.network.cluster_domain.clone(),
            pod_subnet: s.network.pod_subnet.to_string(),
            service_subnet: s.network.service_subnet.to_string(),
        },
        etcd: Etcd {
            external: ExternalEtcd {
                endpoints,
                ca_file: ETCD_CA_PATH,
                cert_file: APISERVER_ETCD_CLIENT_CERT,
                key_file: APISERVER_ETCD_CLIENT_KEY,
            },
        },
        api_server: Component {
            cert_s_a_ns: sans,
            extra_args: api.extra_args(vec![
                arg(
                    "default-not-ready-toleration-seconds",
                    nl.not_ready_toleration_seconds,
                ),
                arg(
                    "default-unreachable-toleration-seconds",
                    nl.unreachable_toleration_seconds,
                ),
            ]),
        },
        controller_manager: Component {
            cert_s_a_ns: Vec::new(),
            extra_args: api.extra_args(leader(vec![
                arg(
                    "node-monitor-grace-period",
                    secs(s.control_plane.node_monitor_grace_period_seconds()),
                ),
                arg("node-monitor-period", secs(nl.node_monitor_period_seconds)),
            ])),
        },
        scheduler: Component {
            cert_s_a_ns: Vec::new(),
            extra_args: api.extra_args(leader(Vec::new())),
        },
    })
}

/// Node labels for `host`: one `spofless.dev/<role>=true` per role, then the host's own.
pub fn node_labels(host: &Host) -> String {
    let mut labels: Vec<String> = host
        .roles
        .iter()
        .map(|r| format!("{ROLE_LABEL_PREFIX}{r}=true"))
        .collect();
    labels.extend(host.labels.iter().map(|(k, v)| format!("{k}={v}")));
    labels.join(",")
}

fn registration(api: KubeadmApi, host: &Host) -> NodeRegistration {
    let tainted = host.has_role(Role::ControlPlane) && !host.has_role(Role::Worker);
    NodeRegistration {
        name: host.name.clone(),
        cri_socket: CONTAINERD_SOCKET,
        taints: if tainted {
            vec![Taint {
                key: CONTROL_PLANE_TAINT,
                effect: "NoSchedule",
            }]
        } else {
            Vec::new()
        },
        kubelet_extra_args: api.extra_args(vec![
            arg("node-ip", host.address),
            arg("node-labels", node_labels(host)),
        ]),
    }
}

fn local_endpoint(host: &Host) -> LocalApiEndpoint {
    LocalApiEndpoint {
        advertise_address: host.address.to_string(),
        bind_port: APISERVER_PORT,
    }
}

/// The kubeadm file of every host: init for the init host, join for the rest.
pub fn render(
    cluster: &Cluster,
    secrets: &KubeadmSecrets,
) -> Result<Vec<(String, RenderedFile)>, RenderError> {
    let api = KubeadmApi::for_version(&cluster.spec.control_plane.kubernetes_version)?;
    let first = init_host(cluster)?;
    let endpoint = control_plane_endpoint(cluster)?;
    let mut out = Vec::new();
    for host in &cluster.spec.hosts {
        let (path, text) = if host.name == first.name {
            let init = InitConfiguration {
                api_version: api.api_version(),
                kind: "InitConfiguration",
                bootstrap_tokens: vec![BootstrapToken {
                    token: secrets.token.expose().to_owned(),
                    ttl: BOOTSTRAP_TOKEN_TTL,
                    usages: vec!["signing", "authentication"],
                    groups: vec![BOOTSTRAP_TOKEN_GROUP],
                }],
                certificate_key: secrets.certificate_key.expose().to_owned(),
                local_api_endpoint: local_endpoint(host),
                node_registration: registration(api, host),
            };
            let docs = [
                to_yaml("InitConfiguration", &init)?,
                to_yaml("ClusterConfiguration", &cluster_configuration(cluster)?)?,
                to_yaml("KubeletConfiguration", &kubelet_configuration(cluster))?,
            ];
            (INIT_CONFIG_PATH, join_documents(&docs))
        } else {
            let join = JoinConfiguration {
                api_version: api.api_version(),
                kind: "JoinConfiguration",
                discovery: Discovery {
                    bootstrap_token: BootstrapTokenDiscovery {
                        api_server_endpoint: endpoint.clone(),
                        token: secrets.token.expose().to_owned(),
                        ca_cert_hashes: vec![secrets.ca_cert_hash.clone()],
                    },
                },
                node_registration: registration(api, host),
                control_plane: host.has_role(Role::ControlPlane).then(|| JoinControlPlane {
                    local_api_endpoint: local_endpoint(host),
                    certificate_key: secrets.certificate_key.expose().to_owned(),
                }),
            };
            (JOIN_CONFIG_PATH, to_yaml("JoinConfiguration", &join)?)
        };
        out.push((
            host.name.clone(),
            RenderedFile {
                path: PathBuf::from(path),
                mode: SECRET_MODE,
                contents: FileContents::Secret(Secret::new(text)),
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn api_version_follows_the_kubernetes_release() {
        for (v, want) in [
            ("v1.34.2", KubeadmApi::V1Beta4),
            ("1.31.0", KubeadmApi::V1Beta4),
            ("v1.40.1", KubeadmApi::V1Beta4),
            ("v1.30.14", KubeadmApi::V1Beta3),
            ("1.22.0", KubeadmApi::V1Beta3),
            ("v1.35.0-alpha.1", KubeadmApi::V1Beta4),
        ] {
            assert_eq!(KubeadmApi::for_version(v).unwrap(), want, "{v}");
        }
        for bad in ["v1.21.14", "v2.0.0", "latest", "v1", "v1.x.0", ""] {
            let err = KubeadmApi::for_version(bad).unwrap_err();
            assert!(
                matches!(&err, RenderError::KubernetesVersion { knob, version, .. }
                    if *knob == KUBERNETES_VERSION_KNOB && version == bad),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(KUBERNETES_VERSION_KNOB), "{err}");
        }
    }

    #[test]
    fn extra_args_take_the_shape_of_the_api() {
        let args = vec![arg("b", 2), arg("a", 1)];
        let list = to_yaml("args", &KubeadmApi::V1Beta4.extra_args(args.clone())).unwrap();
        assert_eq!(
            list,
            "- name: b\n  value: \"2\"\n- name: a\n  value: \"1\"\n"
        );
        let map = to_yaml("args", &KubeadmApi::V1Beta3.extra_args(args)).unwrap();
        assert_eq!(map, "a: \"1\"\nb: \"2\"\n");
    }
}
