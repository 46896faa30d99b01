//! Render: pure functions from the topology (plus the secret state directory) to artifacts.
//!
//! Every renderer returns [`RenderedFile`] values; writing them to disk or to a host is the
//! caller's job, so renders are testable as plain values and deterministic for equal inputs.

use std::fmt;
use std::path::PathBuf;

use crate::secrets::Secret;

pub mod etcd;

pub mod addons;
pub mod bundle;
pub mod ceph_lab;
pub mod error;
pub mod explain;
pub mod kubeadm;
pub mod kustomize;
pub mod lab_time;
pub mod node;
pub mod tree;
pub mod vip;
mod yaml;

pub use bundle::{Rendered, render};
pub use error::RenderError;
pub use tree::Tree;

/// The contents of a rendered file: public text, or a secret whose `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub enum FileContents {
    /// Text that may be shown and logged (configs, units, certificates).
    Public(String),
    /// A secret (private key, token): never shown.
    Secret(Secret),
}

impl FileContents {
    /// The bytes to write. For a secret this exposes it: write it, never log it.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Public(text) => text.as_bytes(),
            Self::Secret(secret) => secret.expose().as_bytes(),
        }
    }

    /// The text if it is public, `None` for a secret.
    pub fn public_text(&self) -> Option<&str> {
        match self {
            Self::Public(text) => Some(text),
            Self::Secret(_) => None,
        }
    }

    /// Whether this is a secret.
    pub fn is_secret(&self) -> bool {
        matches!(self, Self::Secret(_))
    }
}

impl fmt::Debug for FileContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Public(text) => f.debug_tuple("Public").field(text).finish(),
            Self::Secret(secret) => f.debug_tuple("Secret").field(secret).finish(),
        }
    }
}

/// One file a host needs: where it goes, its permission bits, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Absolute path on the target host.
    pub path: PathBuf,
    /// Unix permission bits (0o644 for public files, 0o600 for secrets).
    pub mode: u32,
    /// The contents.
    pub contents: FileContents,
}
