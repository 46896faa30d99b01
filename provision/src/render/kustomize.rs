//! kustomize layout and apply order.
//!
//! Every layer gets `manifests/<layer>/`, with a `kustomization.yaml` unless it is a Helm
//! release. A fresh cluster cannot take everything in one `kubectl apply -k`: a custom resource
//! is refused ("no matches for kind") until its CRD is Established, and MetalLB's objects until
//! its validating webhook answers, which needs the controller pod, which needs the pod network
//! (Calico's Installation) first. So CRDs and operators are layers of their own
//! ([`LayerKind::Operator`], [`LayerKind::Helm`]), never mixed with the objects they define, and
//! `manifests/apply.sh` applies the layers one by one in directory order, waiting after each
//! operator layer for its CRDs and any webhook Deployment:
//!
//! `00-calico-operator`, wait, `01-calico`, `10-metallb-operator`, wait (CRDs and the webhook),
//! `11-metallb`, `20-coredns`, `30-ingress`, `40-rook-operator` (Helm), wait, `41-rook`,
//! `50-workloads`.
//!
//! There is no root `manifests/kustomization.yaml` on purpose: applying every layer at once is
//! exactly the failure the split avoids.

use std::fmt::Write as _;

use serde::Serialize;

use super::addons::{Layer, LayerKind};
use super::error::RenderError;
use super::tree::{SCRIPT_MODE, Tree};
use super::yaml::to_yaml;
use super::{FileContents, RenderedFile};

/// kustomize's config API version.
pub const KUSTOMIZE_API_VERSION: &str = "kustomize.config.k8s.io/v1beta1";
/// Directory of the manifests inside the output tree.
pub const MANIFESTS_DIR: &str = "manifests";
/// The script applying the layers in order.
pub const APPLY_SCRIPT: &str = "apply.sh";
/// Seconds each `kubectl wait` gives CRDs and operator Deployments. Our choice: image pulls on
/// a fresh node take most of it.
pub const WAIT_TIMEOUT_S: u32 = 300;

/// A `Kustomization` with the one field spofless uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    /// Always [`KUSTOMIZE_API_VERSION`].
    pub api_version: &'static str,
    /// Always `Kustomization`.
    pub kind: &'static str,
    /// Files, directories or URLs, in order.
    pub resources: Vec<String>,
}

impl Kustomization {
    fn new(resources: Vec<String>) -> Self {
        Kustomization {
            api_version: KUSTOMIZE_API_VERSION,
            kind: "Kustomization",
            resources,
        }
    }
}

fn kustomization(tree: &mut Tree, dir: &str, resources: Vec<String>) -> Result<(), RenderError> {
    let k = to_yaml("Kustomization", &Kustomization::new(resources))?;
    tree.insert_text(format!("{dir}/kustomization.yaml"), k)
}

/// Adds every layer's files and kustomization, and `apply.sh` applying them in order.
pub fn add_layers(tree: &mut Tree, layers: Vec<Layer>) -> Result<(), RenderError> {
    let mut script = String::from(
        "#!/bin/sh\n\
         # Applies the rendered add-ons to a fresh cluster layer by layer, rendered by spofless.\n\
         # CRDs and operators come first, each followed by a wait: the API server accepts an\n\
         # object only once its CRD is Established (and MetalLB's only once its webhook answers).\n\
         # Operator layers use server-side apply: Calico's CRDs are too large for the\n\
         # last-applied annotation. Rendered objects use client-side apply, which takes over\n\
         # the fields kubeadm set on CoreDNS without a field-manager conflict.\n\
         set -eu\n\
         cd \"$(dirname \"$0\")\"\n",
    );
    let wait_crds =
        format!("kubectl wait --for=condition=Established --timeout={WAIT_TIMEOUT_S}s crd --all\n");
    for layer in layers {
        let dir = format!("{MANIFESTS_DIR}/{}", layer.dir);
        let _ = writeln!(script, "\n# {}", layer.dir);
        match layer.kind {
            LayerKind::Operator { remote, wait_for } => {
                kustomization(tree, &dir, remote)?;
                let _ = writeln!(script, "kubectl apply --server-side -k {}", layer.dir);
                script.push_str(&wait_crds);
                for w in wait_for {
                    let _ = writeln!(
                        script,
                        "kubectl wait --namespace {} --for=condition=Available \
                         --timeout={WAIT_TIMEOUT_S}s deployment/{}",
                        w.namespace, w.deployment
                    );
                }
            }
            LayerKind::Helm { release, values } => {
                let (name, text) = values;
                tree.insert_text(format!("{dir}/{name}"), text)?;
                // No `--wait`: the chart's CRDs are created by the install itself, and the
                // operator pod's readiness is not what the next layer needs.
                let _ = writeln!(
                    script,
                    "helm upgrade --install {} {} --repo {} --version {} --namespace {} \
                     --create-namespace --values {}/{name}",
                    release.name,
                    release.chart,
                    release.repo,
                    release.version,
                    release.namespace,
                    layer.dir,
                );
                script.push_str(&wait_crds);
            }
            LayerKind::Resources(files) => {
                let mut names = Vec::new();
                for (name, text) in files {
                    tree.insert_text(format!("{dir}/{name}"), text)?;
                    names.push(name);
                }
                kustomization(tree, &dir, names)?;
                let _ = writeln!(script, "kubectl apply -k {}", layer.dir);
            }
        }
    }
    let path = format!("{MANIFESTS_DIR}/{APPLY_SCRIPT}");
    tree.insert(
        path.clone(),
        RenderedFile {
            path: path.into(),
            mode: SCRIPT_MODE,
            contents: FileContents::Public(script),
        },
    )
}
