//! The API objects and requests the control-plane models exchange with kube-apiserver.
//!
//! The apiserver is a generic registry here as upstream: it stores each object's encoding in
//! etcd under `/registry/<resource>/[<namespace>/]<name>` (`minions` for Nodes, as upstream
//! keeps for history) with the key's mod revision as the object's `resourceVersion`, and
//! clients decode the types they know ([`ApiObject`]): `coordination.k8s.io/v1` Leases (leader
//! election, node heartbeats), Nodes (Ready condition and the node controller's taints),
//! Pods (owner, binding, Ready, tolerations, deletion) and workloads (kind, replicas).

use crate::engine::{SimDuration, SimTime, message_kind};

/// The kinds of object the models store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `coordination.k8s.io/v1` Lease.
    Lease,
    /// `v1` Node (cluster-scoped).
    Node,
    /// `v1` Pod.
    Pod,
    /// An `apps/v1` Deployment, StatefulSet or DaemonSet (one kind here: the controllers
    /// read only its kind and replica count).
    Workload,
    /// `policy/v1` PodDisruptionBudget.
    Pdb,
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice,
}

impl Kind {
    /// The registry's resource path segment.
    fn resource(self) -> &'static str {
        match self {
            Kind::Lease => "leases",
            Kind::Node => "minions",
            Kind::Pod => "pods",
            Kind::Workload => "workloads",
            Kind::Pdb => "poddisruptionbudgets",
            Kind::EndpointSlice => "endpointslices",
        }
    }
}

/// One object's identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    /// Its kind.
    pub kind: Kind,
    /// Its namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// `kind` `namespace/name`.
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        ObjectRef {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Where the object lives in etcd.
    pub fn key(&self) -> String {
        format!(
            "{}{}",
            collection_prefix(self.kind, &self.namespace),
            self.name
        )
    }
}

/// The etcd prefix of the objects of `kind` in `namespace` (empty: cluster-scoped).
pub fn collection_prefix(kind: Kind, namespace: &str) -> String {
    if namespace.is_empty() {
        format!("/registry/{}/", kind.resource())
    } else {
        format!("/registry/{}/{namespace}/", kind.resource())
    }
}

/// `namespace/name` (as a LIST of every namespace names objects) into its parts.
pub fn split_name(full: &str) -> (&str, &str) {
    full.split_once('/').unwrap_or(("", full))
}

/// A type the API stores: its kind and its encoding (a line of text; etcd holds protobuf
/// upstream).
pub trait ApiObject: Sized {
    /// Its kind.
    const KIND: Kind;
    /// The stored text.
    fn encode(&self) -> String;
    /// The object `text` encodes, if it is one.
    fn decode(text: &str) -> Option<Self>;
}

/// An object as read from the API: its value and `metadata.resourceVersion`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The object.
    pub object: T,
    /// `metadata.resourceVersion`.
    pub resource_version: i64,
}

/// An object as the apiserver returns it, still encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The encoding.
    pub value: String,
    /// `metadata.resourceVersion`.
    pub resource_version: i64,
}

impl Stored {
    /// The object alone, if it decodes as a `T`.
    pub fn object<T: ApiObject>(&self) -> Option<T> {
        T::decode(&self.value)
    }

    /// The object, if it decodes as a `T`.
    pub fn decode<T: ApiObject>(&self) -> Option<Versioned<T>> {
        Some(Versioned {
            object: T::decode(&self.value)?,
            resource_version: self.resource_version,
        })
    }
}

/// An answer decoded as a `T`; an undecodable object is a server error.
pub fn typed<T: ApiObject>(result: &Result<Stored, ApiError>) -> Result<Versioned<T>, ApiError> {
    match result {
        Ok(s) => s
            .decode()
            .ok_or_else(|| ApiError::Storage(format!("undecodable {:?}", T::KIND))),
        Err(e) => Err(e.clone()),
    }
}

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

impl ApiObject for LeaseRecord {
    const KIND: Kind = Kind::Lease;

    fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.holder,
            self.duration.as_nanos(),
            self.acquired.as_nanos(),
            self.renewed.as_nanos(),
            self.transitions
        )
    }

    fn decode(text: &str) -> Option<LeaseRecord> {
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

/// A Lease as read from the API.
pub type LeaseObject = Versioned<LeaseRecord>;

/// Namespace of the control plane's leader-election Leases.
pub const LEADER_NAMESPACE: &str = "kube-system";
/// Namespace of the nodes' heartbeat Leases (one per node, named after it).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiOp {
    /// GET an object.
    Get(ObjectRef),
    /// LIST the objects of a kind in a namespace (answered with an [`ApiListResponse`]).
    List {
        /// The kind.
        kind: Kind,
        /// The namespace (empty: cluster-scoped, or every namespace of a namespaced kind).
        namespace: String,
    },
    /// WATCH the objects of a kind in a namespace after revision `after` (a LIST's
    /// revision): answered by a stream of [`ApiWatchEvent`]s with the request's id, until an
    /// [`ApiResponse`] with that id (an error) ends it.
    Watch {
        /// The kind.
        kind: Kind,
        /// The namespace (empty: cluster-scoped, or every namespace).
        namespace: String,
        /// The revision the watcher has seen everything up to.
        after: i64,
    },
    /// DELETE the object now (the kubelet's final delete once a pod's containers are gone,
    /// or a force delete): the answer carries the deletion's revision.
    Delete(ObjectRef),
    /// POST the pod's `eviction` subresource: a graceful delete that honours its
    /// PodDisruptionBudget (see `eviction`).
    Evict(ObjectRef),
    /// Create the object (`resource_version` `None`) or update it if it is still at
    /// `resource_version` (optimistic concurrency).
    Put {
        /// Which.
        object: ObjectRef,
        /// Its new encoding.
        value: String,
        /// The version the update is based on.
        resource_version: Option<i64>,
    },
}

impl ApiOp {
    /// GET the `T` `namespace/name`.
    pub fn get<T: ApiObject>(namespace: &str, name: &str) -> ApiOp {
        ApiOp::Get(ObjectRef::new(T::KIND, namespace, name))
    }

    /// LIST the `T`s of `namespace`.
    pub fn list<T: ApiObject>(namespace: &str) -> ApiOp {
        ApiOp::List {
            kind: T::KIND,
            namespace: namespace.to_owned(),
        }
    }

    /// WATCH the `T`s of `namespace` after revision `after`.
    pub fn watch<T: ApiObject>(namespace: &str, after: i64) -> ApiOp {
        ApiOp::Watch {
            kind: T::KIND,
            namespace: namespace.to_owned(),
            after,
        }
    }

    /// DELETE the `T` `namespace/name`.
    pub fn delete<T: ApiObject>(namespace: &str, name: &str) -> ApiOp {
        ApiOp::Delete(ObjectRef::new(T::KIND, namespace, name))
    }

    /// Whether the request opens a stream rather than getting one answer.
    pub fn is_watch(&self) -> bool {
        matches!(self, ApiOp::Watch { .. })
    }

    /// Create (`resource_version` `None`) or update `object` as `namespace/name`.
    pub fn put<T: ApiObject>(
        namespace: &str,
        name: &str,
        object: &T,
        resource_version: Option<i64>,
    ) -> ApiOp {
        ApiOp::Put {
            object: ObjectRef::new(T::KIND, namespace, name),
            value: object.encode(),
            resource_version,
        }
    }
}

/// Why the API refused or failed a request, as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 404.
    NotFound,
    /// 409: the object changed since it was read, or already exists.
    Conflict,
    /// 429: the eviction would break a PodDisruptionBudget (the message says why).
    TooManyRequests(String),
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
    pub result: Result<Stored, ApiError>,
}

/// The apiserver's answer to a LIST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiListResponse {
    /// The request it answers.
    pub id: u64,
    /// (name, object) in name order, or why not. A name keeps its namespace prefix
    /// (`namespace/name`) when every namespace was listed.
    pub result: Result<Vec<(String, Stored)>, ApiError>,
    /// The store's revision the list was read at: where a watch takes over.
    pub revision: i64,
}

/// One change a watch reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedChange {
    /// The object's name, as a LIST of the same namespace names it.
    pub name: String,
    /// Its new state, or `None`: deleted.
    pub object: Option<Stored>,
    /// The revision of the write.
    pub revision: i64,
}

/// Changes on a watch stream, in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiWatchEvent {
    /// The WATCH request's id.
    pub id: u64,
    /// What changed.
    pub changes: Vec<WatchedChange>,
}

/// The watcher is gone: stop the stream `id` (haproxy closing both sides of a connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiWatchCancel {
    /// The WATCH request's id.
    pub id: u64,
}

/// An HTTP/2 PING on the connection carrying watch `id` (client-go's health check of an
/// idle connection): whoever holds the connection answers with [`ApiPong`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiPing {
    /// The WATCH request's id.
    pub id: u64,
}

/// The PING's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiPong {
    /// The WATCH request's id.
    pub id: u64,
}

message_kind!(
    ApiRequest,
    ApiResponse,
    ApiListResponse,
    ApiWatchEvent,
    ApiWatchCancel,
    ApiPing,
    ApiPong
);

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
