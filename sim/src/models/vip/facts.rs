//! What the VIP models state about themselves, as typed facts.

use serde::Serialize;

use crate::engine::{Fact, fact_json};

/// keepalived on `host` became VRRP master and claimed the VIP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VipMaster {
    /// The new master's host.
    pub host: String,
}

impl Fact for VipMaster {
    fn kind(&self) -> &'static str {
        "vip/master"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}
