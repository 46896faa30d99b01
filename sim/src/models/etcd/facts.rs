//! What etcd members state about themselves, as typed facts the checks and the availability
//! lane match on (see `engine::fact`): who won an election in which term, and each member's
//! role. Before these were `"<host> term <n>"` strings the checks parsed back, and a changed
//! format made `SingleLeaderPerTerm` pass without looking at anything.

use serde::Serialize;

use crate::engine::{Fact, fact_json};

/// Member `host` became leader in `term`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EtcdLeader {
    /// The winner's host name.
    pub host: String,
    /// Its term.
    pub term: u64,
}

impl Fact for EtcdLeader {
    fn kind(&self) -> &'static str {
        "etcd/leader"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// What a member is doing now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum RoleState {
    /// A Raft role (`follower`, `candidate`, `pre-candidate`, `leader`) in a term.
    InTerm {
        /// The role's name, as `member::role_name` gives it.
        role: &'static str,
        /// The term.
        term: u64,
    },
    /// The member could not go on (failed to start, or its log append failed).
    Failed {
        /// Why.
        reason: String,
    },
}

/// Member `host`'s role changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EtcdRole {
    /// The member's host name.
    pub host: String,
    /// Its new role.
    pub role: RoleState,
}

impl Fact for EtcdRole {
    fn kind(&self) -> &'static str {
        "etcd/role"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}
