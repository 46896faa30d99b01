//! The topology's workloads: each controller with its probes, anti-affinity, spread and
//! tolerations, a Service, and its PDB and HPA (autoscaling/v2, CPU utilisation) when the
//! topology asks for them. StatefulSets with volumes get a headless Service and one Ceph RBD
//! claim per replica from `volumeClaimTemplates`, and all of them go to
//! `stateful-storage-ha.yaml` (the seed's file name); other workloads get `<name>.yaml`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements, Service,
    ServicePort, ServiceSpec, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use topology::{Cluster, VolumeAccessMode, VolumeClaim, Workload, WorkloadKind};

use super::rook::storage_class_name;
use super::{
    Layer, LayerKind, anti_affinity, app_labels, meta, pdb, probe, selector, spread, tolerations,
};
use crate::render::error::RenderError;
use crate::render::yaml::{join_documents, to_yaml};

/// File holding every StatefulSet with volumes (the seed's name for its stateful example).
pub const STATEFUL_FILE: &str = "stateful-storage-ha.yaml";

fn claim_spec(v: &VolumeClaim) -> PersistentVolumeClaimSpec {
    let mode = match v.access_mode {
        VolumeAccessMode::ReadWriteOnce => "ReadWriteOnce",
        VolumeAccessMode::ReadWriteOncePod => "ReadWriteOncePod",
    };
    PersistentVolumeClaimSpec {
        access_modes: Some(vec![mode.to_owned()]),
        storage_class_name: Some(storage_class_name(&v.pool)),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([(
                "storage".to_owned(),
                Quantity(format!("{}Gi", v.size_gib)),
            )])),
            limits: None,
        }),
        ..PersistentVolumeClaimSpec::default()
    }
}

fn pod_template(w: &Workload, labels: &BTreeMap<String, String>) -> PodTemplateSpec {
    let policy = w.policy();
    let container = Container {
        name: w.name.clone(),
        image: Some(w.image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("app".to_owned()),
            container_port: i32::from(w.port),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity(format!("{}m", w.cpu_millis))),
                ("memory".to_owned(), Quantity(format!("{}Mi", w.memory_mib))),
            ])),
            ..ResourceRequirements::default()
        }),
        readiness_probe: w.probes.readiness.as_ref().map(|p| probe(p, w.port)),
        liveness_probe: w.probes.liveness.as_ref().map(|p| probe(p, w.port)),
        startup_probe: w.probes.startup.as_ref().map(|p| probe(p, w.port)),
        volume_mounts: (!w.volumes.is_empty()).then(|| {
            w.volumes
                .iter()
                .map(|v| VolumeMount {
                    name: v.name.clone(),
                    mount_path: v.mount_path.clone(),
                    ..VolumeMount::default()
                })
                .collect()
        }),
        ..Container::default()
    };
    // Deployments mount one shared claim per volume; StatefulSets get theirs from templates.
    let volumes = (w.kind == WorkloadKind::Deployment && !w.volumes.is_empty()).then(|| {
        w.volumes
            .iter()
            .map(|v| Volume {
                name: v.name.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: format!("{}-{}", w.name, v.name),
                    read_only: None,
                }),
                ..Volume::default()
            })
            .collect()
    });
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            affinity: anti_affinity(&policy, labels),
            topology_spread_constraints: spread(&policy, labels),
            tolerations: tolerations(&policy),
            containers: vec![container],
            volumes,
            ..PodSpec::default()
        }),
    }
}

fn replicas(w: &Workload) -> Option<i32> {
    Some(i32::try_from(w.replicas).unwrap_or(i32::MAX))
}

fn service(w: &Workload, labels: &BTreeMap<String, String>) -> Service {
    Service {
        metadata: meta(&w.name, Some(&w.namespace), Some(labels.clone())),
        spec: Some(ServiceSpec {
            cluster_ip: (w.kind == WorkloadKind::StatefulSet).then(|| "None".to_owned()),
            selector: Some(labels.clone()),
            ports: Some(vec![ServicePort {
                name: Some("app".to_owned()),
                port: i32::from(w.port),
                target_port: Some(IntOrString::String("app".to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn hpa(w: &Workload, h: &topology::Hpa) -> HorizontalPodAutoscaler {
    let i = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    HorizontalPodAutoscaler {
        metadata: meta(&w.name, Some(&w.namespace), Some(app_labels(&w.name))),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: format!("{:?}", w.kind),
                name: w.name.clone(),
            },
            min_replicas: Some(i(h.min_replicas)),
            max_replicas: i(h.max_replicas),
            metrics: Some(vec![MetricSpec {
                type_: "Resource".to_owned(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".to_owned(),
                    target: MetricTarget {
                        type_: "Utilization".to_owned(),
                        average_utilization: Some(i(h.target_cpu_utilization_percent)),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        status: None,
    }
}

/// Every object of one workload, as YAML documents in apply order.
fn workload_docs(w: &Workload) -> Result<Vec<String>, RenderError> {
    let labels = app_labels(&w.name);
    let m = meta(&w.name, Some(&w.namespace), Some(labels.clone()));
    let what = format!("workload {}/{}", w.namespace, w.name);
    let mut docs = vec![to_yaml(&what, &service(w, &labels))?];
    match w.kind {
        WorkloadKind::Deployment => {
            for v in &w.volumes {
                let pvc = PersistentVolumeClaim {
                    metadata: meta(
                        &format!("{}-{}", w.name, v.name),
                        Some(&w.namespace),
                        Some(labels.clone()),
                    ),
                    spec: Some(claim_spec(v)),
                    status: None,
                };
                docs.push(to_yaml(&what, &pvc)?);
            }
            let d = Deployment {
                metadata: m,
                spec: Some(DeploymentSpec {
                    replicas: replicas(w),
                    selector: selector(&labels),
                    template: pod_template(w, &labels),
                    ..DeploymentSpec::default()
                }),
                status: None,
            };
            docs.push(to_yaml(&what, &d)?);
        }
        WorkloadKind::StatefulSet => {
            let templates = (!w.volumes.is_empty()).then(|| {
                w.volumes
                    .iter()
                    .map(|v| PersistentVolumeClaim {
                        metadata: ObjectMeta {
                            name: Some(v.name.clone()),
                            ..ObjectMeta::default()
                        },
                        spec: Some(claim_spec(v)),
                        status: None,
                    })
                    .collect()
            });
            let s = StatefulSet {
                metadata: m,
                spec: Some(StatefulSetSpec {
                    replicas: replicas(w),
                    service_name: Some(w.name.clone()),
                    selector: selector(&labels),
                    template: pod_template(w, &labels),
                    volume_claim_templates: templates,
                    ..StatefulSetSpec::default()
                }),
                status: None,
            };
            docs.push(to_yaml(&what, &s)?);
        }
        WorkloadKind::DaemonSet => {
            if !w.volumes.is_empty() {
                return Err(RenderError::Unsupported {
                    what: format!("spec.workloads `{}`: volumes on a DaemonSet", w.name),
                    hint: "one ReadWriteOnce claim cannot serve a pod on every node; use a StatefulSet".to_owned(),
                });
            }
            let d = DaemonSet {
                metadata: m,
                spec: Some(DaemonSetSpec {
                    selector: selector(&labels),
                    template: pod_template(w, &labels),
                    ..DaemonSetSpec::default()
                }),
                status: None,
            };
            docs.push(to_yaml(&what, &d)?);
        }
    }
    if let Some(budget) = &w.pdb {
        docs.push(to_yaml(
            &what,
            &pdb(&w.name, &w.namespace, &labels, budget),
        )?);
    }
    if let Some(h) = w.hpa.as_ref().filter(|_| w.kind != WorkloadKind::DaemonSet) {
        docs.push(to_yaml(&what, &hpa(w, h))?);
    }
    Ok(docs)
}

/// The `50-workloads` layer.
pub fn layer(cluster: &Cluster) -> Result<Layer, RenderError> {
    let mut files = Vec::new();
    let namespaces: BTreeSet<&str> = cluster
        .spec
        .workloads
        .iter()
        .map(|w| w.namespace.as_str())
        .filter(|n| *n != "default")
        .collect();
    if !namespaces.is_empty() {
        let docs = namespaces
            .iter()
            .map(|n| {
                to_yaml(
                    "Namespace",
                    &Namespace {
                        metadata: meta(n, None, None),
                        ..Namespace::default()
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        files.push(("namespaces.yaml".to_owned(), join_documents(&docs)));
    }
    let mut stateful = Vec::new();
    for w in &cluster.spec.workloads {
        let docs = workload_docs(w)?;
        if w.kind == WorkloadKind::StatefulSet && !w.volumes.is_empty() {
            stateful.extend(docs);
        } else {
            let name = if w.namespace == "default" {
                format!("{}.yaml", w.name)
            } else {
                format!("{}-{}.yaml", w.namespace, w.name)
            };
            files.push((name, join_documents(&docs)));
        }
    }
    if !stateful.is_empty() {
        files.push((STATEFUL_FILE.to_owned(), join_documents(&stateful)));
    }
    Ok(Layer {
        dir: "50-workloads",
        kind: LayerKind::Resources(files),
    })
}
