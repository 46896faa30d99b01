//! The one error type of the cluster renderer (everything in `render` except etcd, which has
//! its own). Each variant says what was being rendered so the CLI can tell the user what to fix.

use std::path::PathBuf;

use crate::pki::PkiError;
use crate::render::etcd::EtcdRenderError;
use crate::secrets::SecretError;

/// Errors while rendering or writing the artifact tree.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// serde-saphyr could not serialise an object.
    #[error("serialising {what} to YAML: {source}")]
    Yaml {
        /// What was being serialised.
        what: String,
        /// The serialiser's error.
        #[source]
        source: serde_saphyr::SerializeError,
    },
    /// The topology asks for something the renderer cannot express.
    #[error("{what}: {hint}")]
    Unsupported {
        /// The knob or component.
        what: String,
        /// How to fix the topology.
        hint: String,
    },
    /// The Kubernetes release has no kubeadm config API the renderer writes.
    #[error("{knob} {version:?}: {reason}")]
    KubernetesVersion {
        /// The knob (`spec.controlPlane.kubernetesVersion`).
        knob: &'static str,
        /// The version in the topology.
        version: String,
        /// Why it is refused.
        reason: String,
    },
    /// The topology lacks something the renderer needs (validation should have caught it).
    #[error("topology has no {what}: {hint}")]
    Missing {
        /// What is missing.
        what: String,
        /// How to fix the topology.
        hint: String,
    },
    /// Two renderers produced the same output path.
    #[error("two rendered files share the path {path}")]
    DuplicatePath {
        /// The clashing path, relative to the output directory.
        path: PathBuf,
    },
    /// An output path that is absolute or climbs out of the output directory.
    #[error("rendered path {path} must be relative and stay inside the output directory")]
    BadPath {
        /// The offending path.
        path: PathBuf,
    },
    /// Writing the tree failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Issuing certificates failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The secret state directory failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The etcd renderer rejected the cluster.
    #[error(transparent)]
    Etcd(#[from] EtcdRenderError),
}
