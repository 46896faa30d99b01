//! CoreDNS with the topology's replica count, hostname anti-affinity and PDB.
//!
//! kubeadm deploys CoreDNS with 2 replicas, only *preferred* anti-affinity and no PDB. Rather
//! than a partial patch (which neither kustomize nor a schema validator can check without
//! kubeadm's object), this layer renders the whole Deployment as kubeadm v1.34 ships it, with
//! the topology's rules in place; `kubectl apply --server-side --force-conflicts` takes it
//! over from kubeadm. Everything else (ConfigMap `coredns`, ServiceAccount, RBAC, the
//! `kube-dns` Service) stays as kubeadm created it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, KeyToPath, PodSpec,
    PodTemplateSpec, ResourceRequirements, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use topology::Cluster;

use super::{
    Layer, LayerKind, anti_affinity, control_plane_toleration, http_probe, meta, pdb, selector,
    spread,
};
use crate::render::error::RenderError;
use crate::render::yaml::to_yaml;

use topology::defaults::{COREDNS_CPU_MILLIS, COREDNS_MEMORY_MIB, COREDNS_NAME, COREDNS_PORT};
pub use topology::defaults::{COREDNS_IMAGE, COREDNS_NAMESPACE as NAMESPACE};
/// kubeadm's pod label for CoreDNS (kept for compatibility with the kube-dns Service).
pub const K8S_APP: (&str, &str) = ("k8s-app", "kube-dns");
/// CoreDNS `health` plugin port.
pub const HEALTH_PORT: i32 = 8080;
/// CoreDNS `ready` plugin port.
pub const READY_PORT: i32 = 8181;

fn port(name: &str, number: i32, protocol: &str) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some(protocol.to_owned()),
        ..ContainerPort::default()
    }
}

fn deployment(cluster: &Cluster) -> Deployment {
    let policy = cluster.spec.coredns.policy();
    let labels = BTreeMap::from([(K8S_APP.0.to_owned(), K8S_APP.1.to_owned())]);
    let mut liveness = http_probe("/health", IntOrString::Int(HEALTH_PORT), 10, 5);
    liveness.initial_delay_seconds = Some(60);
    liveness.timeout_seconds = Some(5);
    let readiness = http_probe("/ready", IntOrString::Int(READY_PORT), 10, 3);
    let container = Container {
        name: "coredns".to_owned(),
        image: Some(COREDNS_IMAGE.to_owned()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        args: Some(vec!["-conf".to_owned(), "/etc/coredns/Corefile".to_owned()]),
        ports: Some(vec![
            port("dns", i32::from(COREDNS_PORT), "UDP"),
            port("dns-tcp", i32::from(COREDNS_PORT), "TCP"),
            port("metrics", 9153, "TCP"),
        ]),
        resources: Some(ResourceRequirements {
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("170Mi".to_owned()),
            )])),
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity(format!("{COREDNS_CPU_MILLIS}m"))),
                (
                    "memory".to_owned(),
                    Quantity(format!("{COREDNS_MEMORY_MIB}Mi")),
                ),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_BIND_SERVICE".to_owned()]),
                drop: Some(vec!["ALL".to_owned()]),
            }),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        }),
        liveness_probe: Some(liveness),
        readiness_probe: Some(readiness),
        volume_mounts: Some(vec![VolumeMount {
            name: "config-volume".to_owned(),
            mount_path: "/etc/coredns".to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let tolerations = vec![
        Toleration {
            key: Some("CriticalAddonsOnly".to_owned()),
            operator: Some("Exists".to_owned()),
            ..Toleration::default()
        },
        control_plane_toleration(),
    ];
    Deployment {
        metadata: meta(COREDNS_NAME, Some(NAMESPACE), Some(labels.clone())),
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(policy.replicas).unwrap_or(i32::MAX)),
            selector: selector(&labels),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(1)),
                    max_surge: None,
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    priority_class_name: Some("system-cluster-critical".to_owned()),
                    service_account_name: Some("coredns".to_owned()),
                    affinity: anti_affinity(&policy, &labels),
                    topology_spread_constraints: spread(&policy, &labels),
                    tolerations: Some(tolerations),
                    node_selector: Some(BTreeMap::from([(
                        "kubernetes.io/os".to_owned(),
                        "linux".to_owned(),
                    )])),
                    containers: vec![container],
                    dns_policy: Some("Default".to_owned()),
                    volumes: Some(vec![Volume {
                        name: "config-volume".to_owned(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: "coredns".to_owned(),
                            items: Some(vec![KeyToPath {
                                key: "Corefile".to_owned(),
                                path: "Corefile".to_owned(),
                                mode: None,
                            }]),
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// The `20-coredns` layer.
pub fn layer(cluster: &Cluster) -> Result<Layer, RenderError> {
    let mut files = vec![(
        "deployment.yaml".to_owned(),
        to_yaml("CoreDNS Deployment", &deployment(cluster))?,
    )];
    if let Some(budget) = &cluster.spec.coredns.pdb {
        let labels = BTreeMap::from([(K8S_APP.0.to_owned(), K8S_APP.1.to_owned())]);
        files.push((
            "pdb.yaml".to_owned(),
            to_yaml(
                "CoreDNS PodDisruptionBudget",
                &pdb("coredns", NAMESPACE, &labels, budget),
            )?,
        ));
    }
    Ok(Layer {
        dir: "20-coredns",
        kind: LayerKind::Resources(files),
    })
}
