//! What every node needs before kubeadm runs: containerd with the systemd cgroup driver, the
//! kernel modules and sysctls Kubernetes networking relies on, swap off, and the kubelet
//! configuration carrying the topology's node-lease timers.
//!
//! The kubelet configuration is also embedded in the kubeadm init file (kubeadm uploads it to
//! the `kubelet-config` ConfigMap that joining nodes read); the per-node copy here is the same
//! document, kept so every node's settings can be inspected and validated on their own.

use std::path::PathBuf;

use serde::Serialize;
use topology::defaults::NODE_STATUS_UPDATE_FREQUENCY_S;
use topology::{Cluster, Host};

use super::error::RenderError;
use super::tree::PUBLIC_MODE;
use super::yaml::to_yaml;
use super::{FileContents, RenderedFile};

/// `apiVersion` of the kubelet configuration file (Kubernetes v1.34 still serves v1beta1).
pub const KUBELET_API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
/// containerd's CRI socket, the endpoint kubeadm and the kubelet use.
pub const CONTAINERD_SOCKET: &str = "unix:///run/containerd/containerd.sock";
/// Pause image kubeadm v1.34 expects (`kubeadm config images list`: registry.k8s.io/pause:3.10.1).
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10.1";
/// Kernel modules Kubernetes networking needs: overlayfs for container images, br_netfilter
/// so bridged pod traffic passes iptables (kubeadm "Installing a container runtime").
pub const KERNEL_MODULES: [&str; 2] = ["overlay", "br_netfilter"];
/// sysctls from kubeadm's "Installing a container runtime" prerequisites.
pub const SYSCTLS: [(&str, &str); 3] = [
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.ipv4.ip_forward", "1"),
];
/// The swap-off unit's path. The kubelet refuses to start with swap on (`failSwapOn: true`,
/// its default), so swap is turned off on every boot.
pub const SWAPOFF_UNIT_PATH: &str = "/etc/systemd/system/spofless-swapoff.service";
/// `swapoff` from util-linux on Debian 12 (merged /usr).
pub const SWAPOFF_BINARY: &str = "/usr/sbin/swapoff";
/// Where the per-node kubelet configuration copy goes.
pub const KUBELET_CONFIG_PATH: &str = "/etc/kubernetes/spofless/kubelet-config.yaml";

/// `KubeletConfiguration` (kubelet.config.k8s.io/v1beta1), the fields spofless sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    /// Always [`KUBELET_API_VERSION`].
    pub api_version: &'static str,
    /// Always `KubeletConfiguration`.
    pub kind: &'static str,
    /// `systemd`, matching containerd's `SystemdCgroup = true`.
    pub cgroup_driver: &'static str,
    /// CRI endpoint.
    pub container_runtime_endpoint: &'static str,
    /// In-cluster DNS domain.
    pub cluster_domain: String,
    /// Refuse to run with swap on.
    pub fail_swap_on: bool,
    /// Lease validity; the kubelet renews every quarter of it.
    pub node_lease_duration_seconds: u32,
    /// How often the kubelet posts node status (duration string).
    pub node_status_update_frequency: String,
}

/// The cluster-wide kubelet configuration from the topology.
pub fn kubelet_configuration(cluster: &Cluster) -> KubeletConfiguration {
    KubeletConfiguration {
        api_version: KUBELET_API_VERSION,
        kind: "KubeletConfiguration",
        cgroup_driver: "systemd",
        container_runtime_endpoint: CONTAINERD_SOCKET,
        cluster_domain: cluster.spec.network.cluster_domain.clone(),
        fail_swap_on: true,
        node_lease_duration_seconds: cluster
            .spec
            .control_plane
            .node_lifecycle
            .node_lease_duration_seconds,
        node_status_update_frequency: format!("{NODE_STATUS_UPDATE_FREQUENCY_S}s"),
    }
}

/// containerd config (version 2 format, read by containerd 1.6+ and migrated by 2.x).
pub fn containerd_config() -> String {
    format!(
        "# containerd for Kubernetes, rendered by spofless.\n\
         version = 2\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"{PAUSE_IMAGE}\"\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  \
         runtime_type = \"io.containerd.runc.v2\"\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  \
         SystemdCgroup = true\n"
    )
}

fn modules_load() -> String {
    let mut s = "# Kernel modules for Kubernetes, rendered by spofless.\n".to_owned();
    for m in KERNEL_MODULES {
        s.push_str(m);
        s.push('\n');
    }
    s
}

fn sysctl_conf() -> String {
    let mut s = "# Kubernetes networking sysctls, rendered by spofless.\n".to_owned();
    for (k, v) in SYSCTLS {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

fn swapoff_unit() -> String {
    format!(
        "[Unit]\n\
         Description=Turn swap off for the kubelet (rendered by spofless)\n\
         DefaultDependencies=no\n\
         After=swap.target\n\
         Before=kubelet.service\n\n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={SWAPOFF_BINARY} --all\n\
         RemainAfterExit=yes\n\n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// Every node-level file for `host`.
pub fn render_host(cluster: &Cluster, _host: &Host) -> Result<Vec<RenderedFile>, RenderError> {
    let kubelet = to_yaml("KubeletConfiguration", &kubelet_configuration(cluster))?;
    let f = |path: &str, text: String| RenderedFile {
        path: PathBuf::from(path),
        mode: PUBLIC_MODE,
        contents: FileContents::Public(text),
    };
    Ok(vec![
        f("/etc/containerd/config.toml", containerd_config()),
        f("/etc/modules-load.d/kubernetes.conf", modules_load()),
        f("/etc/sysctl.d/99-kubernetes.conf", sysctl_conf()),
        f(SWAPOFF_UNIT_PATH, swapoff_unit()),
        f(KUBELET_CONFIG_PATH, kubelet),
    ])
}
