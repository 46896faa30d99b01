//! The ingress controller: Traefik Proxy (maintained; ingress-nginx was retired in 2026) as a
//! Deployment with the topology's replicas, hostname anti-affinity and PDB, exposed through a
//! LoadBalancer Service that MetalLB gives an address from its pool, plus its IngressClass and
//! the RBAC its Kubernetes Ingress provider needs.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, Namespace, PodSecurityContext,
    PodSpec, PodTemplateSpec, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec,
    Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use topology::{Cluster, IngressController};

use super::{
    Layer, LayerKind, anti_affinity, app_labels, http_probe, meta, pdb, selector, spread,
    tolerations,
};
use crate::render::error::RenderError;
use crate::render::yaml::{join_documents, to_yaml};

/// Namespace, ServiceAccount, Deployment and IngressClass name.
pub use topology::defaults::INGRESS_NAME as NAME;
/// Traefik Proxy image.
pub use topology::defaults::TRAEFIK_IMAGE;
/// Traefik's controller name for IngressClass (Traefik docs, "Kubernetes Ingress").
pub const CONTROLLER: &str = "traefik.io/ingress-controller";
/// Unprivileged container ports for the HTTP, HTTPS and ping entry points (the Traefik Helm
/// chart's defaults: 8000, 8443, 8080; ping moved to 9000 to stay clear of common apps).
pub const PORTS: [(&str, i32, i32); 2] = [("web", 8000, 80), ("websecure", 8443, 443)];
/// Port of Traefik's own entry point serving `/ping`.
pub const PING_PORT: i32 = 9000;
/// Non-root user the Traefik chart runs as.
pub const RUN_AS_USER: i64 = 65532;

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |xs: &[&str]| Some(xs.iter().map(|s| (*s).to_owned()).collect());
    PolicyRule {
        api_groups: v(groups),
        resources: v(resources),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

fn rbac() -> Result<String, RenderError> {
    let sa = ServiceAccount {
        metadata: meta(NAME, Some(NAME), None),
        ..ServiceAccount::default()
    };
    let role = ClusterRole {
        metadata: meta(NAME, None, None),
        rules: Some(vec![
            rule(
                &[""],
                &["services", "secrets", "nodes"],
                &["get", "list", "watch"],
            ),
            rule(
                &["discovery.k8s.io"],
                &["endpointslices"],
                &["list", "watch"],
            ),
            rule(
                &["networking.k8s.io"],
                &["ingresses", "ingressclasses"],
                &["get", "list", "watch"],
            ),
            rule(&["networking.k8s.io"], &["ingresses/status"], &["update"]),
        ]),
        ..ClusterRole::default()
    };
    let binding = ClusterRoleBinding {
        metadata: meta(NAME, None, None),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "ClusterRole".to_owned(),
            name: NAME.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: NAME.to_owned(),
            namespace: Some(NAME.to_owned()),
            api_group: None,
        }]),
    };
    Ok(join_documents(&[
        to_yaml("Traefik ServiceAccount", &sa)?,
        to_yaml("Traefik ClusterRole", &role)?,
        to_yaml("Traefik ClusterRoleBinding", &binding)?,
    ]))
}

fn deployment(cluster: &Cluster, labels: &BTreeMap<String, String>) -> Deployment {
    let policy = cluster.spec.ingress.policy();
    let mut args = vec![
        format!("--entryPoints.traefik.address=:{PING_PORT}"),
        "--ping=true".to_owned(),
        "--ping.entryPoint=traefik".to_owned(),
        "--providers.kubernetesingress=true".to_owned(),
        format!("--providers.kubernetesingress.ingressclass={NAME}"),
        format!("--providers.kubernetesingress.ingressendpoint.publishedservice={NAME}/{NAME}"),
        "--log.level=INFO".to_owned(),
    ];
    for (name, port, _) in PORTS {
        args.push(format!("--entryPoints.{name}.address=:{port}"));
    }
    let mut ports: Vec<ContainerPort> = PORTS
        .iter()
        .map(|(name, port, _)| ContainerPort {
            name: Some((*name).to_owned()),
            container_port: *port,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        })
        .collect();
    ports.push(ContainerPort {
        name: Some("traefik".to_owned()),
        container_port: PING_PORT,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    });
    let container = Container {
        name: NAME.to_owned(),
        image: Some(TRAEFIK_IMAGE.to_owned()),
        args: Some(args),
        ports: Some(ports),
        readiness_probe: Some(http_probe("/ping", IntOrString::Int(PING_PORT), 10, 1)),
        liveness_probe: Some(http_probe("/ping", IntOrString::Int(PING_PORT), 10, 3)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    Deployment {
        metadata: meta(NAME, Some(NAME), Some(labels.clone())),
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(policy.replicas).unwrap_or(i32::MAX)),
            selector: selector(labels),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.to_owned()),
                    affinity: anti_affinity(&policy, labels),
                    topology_spread_constraints: spread(&policy, labels),
                    tolerations: tolerations(&policy),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS_USER),
                        run_as_group: Some(RUN_AS_USER),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "tmp".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
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

fn service(labels: &BTreeMap<String, String>) -> Service {
    Service {
        metadata: meta(NAME, Some(NAME), Some(labels.clone())),
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".to_owned()),
            selector: Some(labels.clone()),
            ports: Some(
                PORTS
                    .iter()
                    .map(|(name, _, public)| ServicePort {
                        name: Some((*name).to_owned()),
                        port: *public,
                        target_port: Some(IntOrString::String((*name).to_owned())),
                        protocol: Some("TCP".to_owned()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// The `30-ingress` layer.
pub fn layer(cluster: &Cluster) -> Result<Layer, RenderError> {
    if cluster.spec.ingress.controller != IngressController::Traefik {
        return Err(RenderError::Unsupported {
            what: "spec.ingress.controller: haproxy".to_owned(),
            hint: "the renderer ships Traefik only; set spec.ingress.controller: traefik"
                .to_owned(),
        });
    }
    let labels = app_labels(NAME);
    let ns = Namespace {
        metadata: meta(NAME, None, None),
        ..Namespace::default()
    };
    let mut class_meta = meta(NAME, None, Some(labels.clone()));
    class_meta.annotations = Some(BTreeMap::from([(
        "ingressclass.kubernetes.io/is-default-class".to_owned(),
        "true".to_owned(),
    )]));
    let class = IngressClass {
        metadata: class_meta,
        spec: Some(IngressClassSpec {
            controller: Some(CONTROLLER.to_owned()),
            parameters: None,
        }),
    };
    let mut files = vec![
        (
            "namespace.yaml".to_owned(),
            to_yaml("Traefik Namespace", &ns)?,
        ),
        ("rbac.yaml".to_owned(), rbac()?),
        (
            "deployment.yaml".to_owned(),
            to_yaml("Traefik Deployment", &deployment(cluster, &labels))?,
        ),
        (
            "service.yaml".to_owned(),
            to_yaml("Traefik Service", &service(&labels))?,
        ),
        (
            "ingressclass.yaml".to_owned(),
            to_yaml("Traefik IngressClass", &class)?,
        ),
    ];
    if let Some(budget) = &cluster.spec.ingress.pdb {
        files.push((
            "pdb.yaml".to_owned(),
            to_yaml(
                "Traefik PodDisruptionBudget",
                &pdb(NAME, NAME, &labels, budget),
            )?,
        ));
    }
    Ok(Layer {
        dir: "30-ingress",
        kind: LayerKind::Resources(files),
    })
}
