//! Cluster add-ons as kustomize-ready layers: Calico, MetalLB, CoreDNS, the ingress
//! controller, Rook/Ceph, and the topology's workloads.
//!
//! Core Kubernetes objects are built from k8s-openapi's types, custom resources from the typed
//! specs in each module wrapped in [`CustomObject`]. The helpers here turn the topology's
//! replica rules ([`topology::ReplicaPolicy`]) into affinity, spread, tolerations and PDBs the
//! same way for every component, so the simulator and the rendered cluster agree.

pub mod calico;
pub mod coredns;
pub mod ingress;
pub mod metallb;
pub mod rook;
pub mod workloads;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, ExecAction, HTTPGetAction, PodAffinityTerm, PodAntiAffinity, Probe, TCPSocketAction,
    Toleration, TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use topology::{
    AntiAffinity, Cluster, IntOrPercent, Pdb, ProbeAction, ReplicaPolicy, UnsatisfiableAction,
};

use super::error::RenderError;
use super::kubeadm::CONTROL_PLANE_TAINT;

/// Node label key the scheduler's hostname anti-affinity and spread use.
pub const HOSTNAME_TOPOLOGY_KEY: &str = topology::policy::scheduler::HOSTNAME_LABEL;
/// The pod labels and preferred anti-affinity weight are the scheduler policy's, so what
/// render writes is what `check` and the simulator place.
pub use topology::policy::scheduler::cluster::{NAME_LABEL, app_labels};
/// Weight of the preferred anti-affinity term (the maximum the API allows, 100), as the API's
/// `int32`.
pub const PREFERRED_ANTI_AFFINITY_WEIGHT: i32 =
    topology::policy::scheduler::cluster::PREFERRED_ANTI_AFFINITY_WEIGHT as i32;

/// One kustomize layer: a directory of manifests applied together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Directory name under `manifests/`, ordered by its numeric prefix.
    pub dir: &'static str,
    /// What the layer holds, which decides its apply stage.
    pub kind: LayerKind,
}

/// What a layer holds. CRDs (and the operators serving them) and the custom resources of those
/// CRDs are never in one layer: on a fresh cluster `kubectl apply` of such a layer fails with
/// "no matches for kind" because the API server learns the kind only once the CRD is
/// Established. Operator layers form the first apply stage, resource layers the second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerKind {
    /// Stage 1: upstream CRD and operator manifests referenced by URL (not re-rendered).
    Operator {
        /// Manifest URLs, in order.
        remote: Vec<String>,
        /// Deployments that must be Available before stage 2 (admission webhooks that
        /// validate stage 2's objects).
        wait_for: Vec<Rollout>,
    },
    /// Stage 1: an operator installed from a Helm chart with rendered values.
    Helm {
        /// The release.
        release: HelmRelease,
        /// Values file name and contents (written into the layer directory).
        values: (String, String),
    },
    /// Stage 2: rendered objects (file name, YAML), in the order kustomize should list them.
    Resources(Vec<(String, String)>),
}

/// A Deployment to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// Namespace.
    pub namespace: &'static str,
    /// Deployment name.
    pub deployment: &'static str,
}

/// A Helm release installed by the apply script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmRelease {
    /// Release name.
    pub name: &'static str,
    /// Chart name in the repository.
    pub chart: &'static str,
    /// Chart repository URL.
    pub repo: &'static str,
    /// Chart version.
    pub version: &'static str,
    /// Namespace (created if missing).
    pub namespace: &'static str,
}

/// A custom resource with a typed spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomObject<S> {
    /// Group/version of the CRD.
    pub api_version: &'static str,
    /// Kind of the CRD.
    pub kind: &'static str,
    /// Name, namespace, labels.
    pub metadata: ObjectMeta,
    /// The typed spec.
    pub spec: S,
}

/// Every add-on layer for `cluster`, in directory order (operators before their resources).
pub fn render_layers(cluster: &Cluster) -> Result<Vec<Layer>, RenderError> {
    let mut layers = Vec::new();
    layers.extend(calico::layers(cluster)?);
    layers.extend(metallb::layers(cluster)?);
    layers.push(coredns::layer(cluster)?);
    layers.push(ingress::layer(cluster)?);
    layers.extend(rook::layers(cluster)?);
    layers.push(workloads::layer(cluster)?);
    Ok(layers)
}

/// Metadata with a name, optional namespace and labels.
pub fn meta(
    name: &str,
    namespace: Option<&str>,
    labels: Option<BTreeMap<String, String>>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels,
        ..ObjectMeta::default()
    }
}

/// A selector matching `labels`.
pub fn selector(labels: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.clone()),
        ..LabelSelector::default()
    }
}

/// Pod anti-affinity on the hostname between pods carrying `labels`, as the policy asks.
pub fn anti_affinity(
    policy: &ReplicaPolicy,
    labels: &BTreeMap<String, String>,
) -> Option<Affinity> {
    let term = PodAffinityTerm {
        label_selector: Some(selector(labels)),
        topology_key: HOSTNAME_TOPOLOGY_KEY.to_owned(),
        ..PodAffinityTerm::default()
    };
    let anti = match policy.anti_affinity {
        AntiAffinity::None => return None,
        AntiAffinity::Required => PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..PodAntiAffinity::default()
        },
        AntiAffinity::Preferred => PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    pod_affinity_term: term,
                    weight: PREFERRED_ANTI_AFFINITY_WEIGHT,
                },
            ]),
            ..PodAntiAffinity::default()
        },
    };
    Some(Affinity {
        pod_anti_affinity: Some(anti),
        ..Affinity::default()
    })
}

/// The policy's hostname topology spread constraint, with `nodeTaintsPolicy: Honor`: under
/// upstream's default (`Ignore`) every tainted control-plane node is an empty domain, so a
/// `DoNotSchedule` constraint of `maxSkew` 1 over two workers leaves a third replica Pending
/// (see `topology::policy::scheduler`).
pub fn spread(
    policy: &ReplicaPolicy,
    labels: &BTreeMap<String, String>,
) -> Option<Vec<TopologySpreadConstraint>> {
    let ts = policy.topology_spread.as_ref()?;
    Some(vec![TopologySpreadConstraint {
        label_selector: Some(selector(labels)),
        max_skew: i32::try_from(ts.max_skew).unwrap_or(i32::MAX),
        topology_key: HOSTNAME_TOPOLOGY_KEY.to_owned(),
        node_taints_policy: Some("Honor".to_owned()),
        when_unsatisfiable: match ts.when_unsatisfiable {
            UnsatisfiableAction::DoNotSchedule => "DoNotSchedule",
            UnsatisfiableAction::ScheduleAnyway => "ScheduleAnyway",
        }
        .to_owned(),
        ..TopologySpreadConstraint::default()
    }])
}

/// The toleration of kubeadm's control-plane taint.
pub fn control_plane_toleration() -> Toleration {
    Toleration {
        key: Some(CONTROL_PLANE_TAINT.to_owned()),
        operator: Some("Exists".to_owned()),
        effect: Some("NoSchedule".to_owned()),
        ..Toleration::default()
    }
}

/// Tolerations for the policy (the control-plane taint when it asks for it).
pub fn tolerations(policy: &ReplicaPolicy) -> Option<Vec<Toleration>> {
    policy
        .tolerate_control_plane
        .then(|| vec![control_plane_toleration()])
}

/// A Kubernetes IntOrString from a topology count or percentage.
pub fn int_or_string(v: &IntOrPercent) -> IntOrString {
    match v {
        IntOrPercent::Count(n) => IntOrString::Int(i32::try_from(*n).unwrap_or(i32::MAX)),
        IntOrPercent::Percent(_) => IntOrString::String(v.to_string()),
    }
}

/// A PodDisruptionBudget for pods carrying `labels`.
pub fn pdb(
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    pdb: &Pdb,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(name, Some(namespace), Some(labels.clone())),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: pdb.min_available.as_ref().map(int_or_string),
            max_unavailable: pdb.max_unavailable.as_ref().map(int_or_string),
            selector: Some(selector(labels)),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

fn i32_of(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A container probe from the topology, against `port`.
pub fn probe(p: &topology::Probe, port: u16) -> Probe {
    let port = IntOrString::Int(i32::from(port));
    let mut out = Probe {
        initial_delay_seconds: Some(i32_of(p.initial_delay_seconds)),
        period_seconds: Some(i32_of(p.period_seconds)),
        timeout_seconds: Some(i32_of(p.timeout_seconds)),
        failure_threshold: Some(i32_of(p.failure_threshold)),
        ..Probe::default()
    };
    match &p.action {
        ProbeAction::HttpGet { path } => {
            out.http_get = Some(HTTPGetAction {
                path: Some(path.clone()),
                port,
                ..HTTPGetAction::default()
            });
        }
        ProbeAction::TcpSocket {} => {
            out.tcp_socket = Some(TCPSocketAction { port, host: None });
        }
        ProbeAction::Exec { command } => {
            out.exec = Some(ExecAction {
                command: Some(command.clone()),
            });
        }
    }
    out
}

/// An HTTP GET probe on a named or numbered port (for the add-ons' fixed probes).
pub fn http_probe(path: &str, port: IntOrString, period_s: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port,
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_s),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(i32_of(topology::defaults::PROBE_TIMEOUT_S)),
        ..Probe::default()
    }
}
