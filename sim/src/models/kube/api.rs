//! The API objects and requests the control-plane models exchange with kube-apiserver: today
//! `coordination.k8s.io/v1` Leases, as leader election and node heartbeats use them, stored
//! in etcd under `/registry/leases/<namespace>/<name>` with the key's mod revision as the
//! object's `resourceVersion`.

use crate::engine::{SimDuration, SimTime, message_kind};

/// A Lease's spec, as leader election writes it (`LeaderElectionRecord`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `holderIdentity`.
    pub holder: String,
    /// `leaseDurationSeconds`.
    pub duration: SimDuration,
    /// `acquireTime`.
    pub acquired: SimTime,
    /// `renewTime`.
    pub renewed: SimTime,
    /// `leaseTransitions`.
    pub transitions: u32,
}

impl LeaseRecord {
    /// The record as stored (a line of text; etcd holds protobuf upstream).
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.holder,
            self.duration.as_nanos(),
            self.acquired.as_nanos(),
            self.renewed.as_nanos(),
            self.transitions
        )
    }

    /// The record `text` encodes, if it is one.
    pub fn decode(text: &str) -> Option<LeaseRecord> {
        let mut parts = text.split(' ');
        let holder = parts.next()?.to_owned();
        let mut num = || parts.next()?.parse::<u64>().ok();
        let duration = SimDuration::from_nanos(num()?);
        let acquired = SimTime::from_nanos(num()?);
        let renewed = SimTime::from_nanos(num()?);
        let transitions = u32::try_from(num()?).ok()?;
        Some(LeaseRecord {
            holder,
            duration,
            acquired,
            renewed,
            transitions,
        })
    }
}

/// A Lease as read from the API: its record and `resourceVersion`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseObject {
    /// The spec.
    pub record: LeaseRecord,
    /// `metadata.resourceVersion`.
    pub resource_version: i64,
}

/// Namespace of the control plane's leader-election Leases.
pub const LEADER_NAMESPACE: &str = "kube-system";
/// Namespace of the nodes' heartbeat Leases (one per node, named after it).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiOp {
    /// GET a Lease.
    GetLease {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// LIST the Leases of a namespace (answered with an [`ApiListResponse`]).
    ListLeases {
        /// The namespace.
        namespace: String,
    },
    /// Create the Lease (`resource_version` `None`) or update it if it is still at
    /// `resource_version` (optimistic concurrency).
    PutLease {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The new spec.
        record: LeaseRecord,
        /// The version the update is based on.
        resource_version: Option<i64>,
    },
}

/// Why the API refused or failed a request, as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 404.
    NotFound,
    /// 409: the object changed since it was read, or already exists.
    Conflict,
    /// 504: the storage call did not finish within the request's timeout.
    Timeout,
    /// 500: etcd answered with an error.
    Storage(String),
    /// The connection closed without an answer: haproxy had no server that took it.
    Unavailable,
}

/// A request to the apiserver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRequest {
    /// The client's request number.
    pub id: u64,
    /// What.
    pub op: ApiOp,
}

/// The apiserver's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResponse {
    /// The request it answers.
    pub id: u64,
    /// The object, or why not.
    pub result: Result<LeaseObject, ApiError>,
}

/// The apiserver's answer to a LIST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiListResponse {
    /// The request it answers.
    pub id: u64,
    /// (name, object) in name order, or why not.
    pub result: Result<Vec<(String, LeaseObject)>, ApiError>,
}

message_kind!(ApiRequest, ApiResponse, ApiListResponse);

/// Where the Lease `namespace/name` lives in etcd.
pub fn lease_key(namespace: &str, name: &str) -> String {
    format!("{}{name}", lease_prefix(namespace))
}

/// The etcd prefix of a namespace's Leases.
pub fn lease_prefix(namespace: &str) -> String {
    format!("/registry/leases/{namespace}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_encoding() {
        let r = LeaseRecord {
            holder: "cloudserver1_kube-scheduler".into(),
            duration: SimDuration::from_secs(15),
            acquired: SimTime::from_nanos(3),
            renewed: SimTime::from_nanos(7_000_000_000),
            transitions: 2,
        };
        assert_eq!(LeaseRecord::decode(&r.encode()), Some(r));
        assert_eq!(LeaseRecord::decode("junk"), None);
    }
}
