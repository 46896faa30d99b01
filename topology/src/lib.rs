//! The vocabulary every spofless crate shares.
//!
//! A [`Cluster`] is parsed from `cluster.yaml` (Kubernetes-style YAML), validated with
//! diagnostics that point at file, line and column, and analysed statically for single points
//! of failure. The simulator and the provisioner both start from it.

pub mod analysis;
pub mod compare;
pub mod component;
pub mod defaults;
pub mod drill;
pub mod fault;
pub mod model;
pub mod osd_drill;
pub mod policy;
pub mod scenario;
pub mod timeline;

pub use model::*;
pub mod diagnostic;
pub mod load;
pub mod source_map;
pub mod validate;
pub mod wire;
pub mod workload;

pub use diagnostic::{Problem, Problems, SourceFile};
pub use load::{Loaded, embedded_source, load, load_valid};

/// The seed's topology (`examples/bolabaden.yaml`), compiled in as the default.
pub const DEFAULT_TOPOLOGY_YAML: &str = include_str!("../../examples/bolabaden.yaml");

/// The embedded default topology, parsed. It is tested to be valid, so failure here is a
/// build defect, reported rather than panicking.
pub fn default_cluster() -> Result<Cluster, Problems> {
    load_valid(&embedded_source())
}
