//! kustomize layout: `manifests/<layer>/kustomization.yaml` per add-on layer and a root
//! `manifests/kustomization.yaml` listing the layers in apply order, so `kubectl apply -k`
//! works per layer (as the apply step does, waiting for each layer's CRDs) or for everything.

use serde::Serialize;

use super::addons::Layer;
use super::error::RenderError;
use super::tree::Tree;
use super::yaml::to_yaml;

/// kustomize's config API version.
pub const KUSTOMIZE_API_VERSION: &str = "kustomize.config.k8s.io/v1beta1";
/// Directory of the manifests inside the output tree.
pub const MANIFESTS_DIR: &str = "manifests";

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

/// Adds every layer's files, its kustomization and the root kustomization to `tree`.
pub fn add_layers(tree: &mut Tree, layers: Vec<Layer>) -> Result<(), RenderError> {
    let mut root = Vec::new();
    for layer in layers {
        let dir = format!("{MANIFESTS_DIR}/{}", layer.dir);
        let mut resources = layer.remote.clone();
        for (name, text) in layer.files {
            resources.push(name.clone());
            tree.insert_text(format!("{dir}/{name}"), text)?;
        }
        for (name, text) in layer.extra {
            tree.insert_text(format!("{dir}/{name}"), text)?;
        }
        let k = to_yaml("Kustomization", &Kustomization::new(resources))?;
        tree.insert_text(format!("{dir}/kustomization.yaml"), k)?;
        root.push(layer.dir.to_owned());
    }
    let k = to_yaml("Kustomization", &Kustomization::new(root))?;
    tree.insert_text(format!("{MANIFESTS_DIR}/kustomization.yaml"), k)
}
