//! What the control-plane models state about themselves, as typed facts (see `engine::fact`).

use serde::Serialize;

use crate::engine::{Fact, fact_json};

/// A leader-election candidate started or stopped leading `lease`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaderChange {
    /// The Lease (`kube-scheduler`, `kube-controller-manager`).
    pub lease: String,
    /// The candidate's identity (`holderIdentity`).
    pub identity: String,
    /// Whether it leads from now on.
    pub leading: bool,
}

impl Fact for LeaderChange {
    fn kind(&self) -> &'static str {
        "kube/leader"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// The node lifecycle controller (in the controller-manager leader) set `node`'s Ready
/// condition: `true` when its lease renews, `false` (Unknown) when the grace period passed
/// without a renewal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeReady {
    /// The node.
    pub node: String,
    /// Ready (true) or Unknown (false).
    pub ready: bool,
}

impl Fact for NodeReady {
    fn kind(&self) -> &'static str {
        "kube/node-ready"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}
