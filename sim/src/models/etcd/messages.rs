//! What travels between simulated etcd members and their clients: Raft messages (raft-rs's
//! protobuf `Message`, wrapped so the trace prints a short deterministic line), client requests
//! and responses, and the administrative leader-transfer request (`etcdctl move-leader`).

use std::fmt;

use raft::eraftpb::{self, MessageType};

use crate::engine::{Message, SimDuration, message_kind};
use crate::models::kv::{KvError, KvOp, KvResult};

/// A Raft message between members.
#[derive(Clone)]
pub struct RaftMessage(pub eraftpb::Message);

impl fmt::Debug for RaftMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0;
        write!(
            f,
            "{:?} {}->{} term {} logterm {} index {} commit {} entries {}{}",
            m.msg_type,
            m.from,
            m.to,
            m.term,
            m.log_term,
            m.index,
            m.commit,
            m.entries.len(),
            if m.reject { " reject" } else { "" }
        )
    }
}

impl Message for RaftMessage {
    fn kind(&self) -> &'static str {
        match self.0.msg_type {
            MessageType::MsgHup => "MsgHup",
            MessageType::MsgBeat => "MsgBeat",
            MessageType::MsgPropose => "MsgPropose",
            MessageType::MsgAppend => "MsgAppend",
            MessageType::MsgAppendResponse => "MsgAppendResponse",
            MessageType::MsgRequestVote => "MsgRequestVote",
            MessageType::MsgRequestVoteResponse => "MsgRequestVoteResponse",
            MessageType::MsgSnapshot => "MsgSnapshot",
            MessageType::MsgHeartbeat => "MsgHeartbeat",
            MessageType::MsgHeartbeatResponse => "MsgHeartbeatResponse",
            MessageType::MsgUnreachable => "MsgUnreachable",
            MessageType::MsgSnapStatus => "MsgSnapStatus",
            MessageType::MsgCheckQuorum => "MsgCheckQuorum",
            MessageType::MsgTransferLeader => "MsgTransferLeader",
            MessageType::MsgTimeoutNow => "MsgTimeoutNow",
            MessageType::MsgReadIndex => "MsgReadIndex",
            MessageType::MsgReadIndexResp => "MsgReadIndexResp",
            MessageType::MsgRequestPreVote => "MsgRequestPreVote",
            MessageType::MsgRequestPreVoteResponse => "MsgRequestPreVoteResponse",
        }
    }
}

/// How a read is served (etcd `--consistency` / `WithSerializable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadMode {
    /// Linearizable (etcd's default): the member confirms with a ReadIndex round that the
    /// leader is still the leader and waits until it has applied that index.
    Linearizable,
    /// Serializable: the member answers from its own state at once, possibly stale, even
    /// without a leader.
    Serializable,
}

/// A client request to one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdRequest {
    /// Client-chosen id, echoed in the response.
    pub id: u64,
    /// The operation.
    pub op: KvOp,
    /// How reads (`Get`, `Range`) are served; writes always go through Raft.
    pub read: ReadMode,
    /// For a put: the lease the key is attached to (etcd `PutRequest.lease`); none detaches.
    pub lease: Option<i64>,
}

/// Why a member answered a request with an error. Each variant is the etcd error a real
/// member returns in that situation (`etcdserver/errors.go`, `api/v3rpc/rpctypes/error.go`,
/// 3.4 and 3.5).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// Raft refused the proposal (raft `ErrProposalDropped`, "raft proposal dropped"): the
    /// leader is handing leadership over, or the member lost its leader between learning of it
    /// and proposing. Nothing entered the log.
    #[error("raft proposal dropped")]
    ProposalDropped,
    /// The member knew no leader for its whole request timeout, so the write never reached
    /// Raft (etcd blocks a proposal while raft has no leader, then its context expires:
    /// `context deadline exceeded`, gRPC DeadlineExceeded). Nothing entered the log.
    #[error("context deadline exceeded")]
    DeadlineExceeded,
    /// The proposal or read was handed to Raft and no answer came within the request timeout
    /// (`ErrTimeout` "etcdserver: request timed out", or `ErrTimeoutDueToLeaderFail` when the
    /// leader changed meanwhile; gRPC Unavailable). A write may still commit.
    #[error("etcdserver: request timed out")]
    Timeout,
    /// A linearizable read was waiting for its read index when the member learnt of a new
    /// leader (`ErrLeaderChanged` "etcdserver: leader changed", gRPC Unavailable).
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    /// A put named a lease that does not exist (`ErrLeaseNotFound`, "etcdserver: requested
    /// lease not found", gRPC NotFound), or a keepalive or revoke found none. Nothing applied.
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A keepalive reached a member that knows no leader to renew it (`ErrNoLeader`,
    /// "etcdserver: no leader", gRPC Unavailable).
    #[error("etcdserver: no leader")]
    NoLeader,
    /// The member is shutting down and its gRPC server takes no new call (GracefulStop sends
    /// GOAWAY; the client sees gRPC Unavailable on a call the server never started).
    #[error("grpc: the server has been stopped")]
    Stopping,
    /// The request itself is invalid (etcd rejects it before Raft).
    #[error(transparent)]
    Invalid(#[from] KvError),
}

impl EtcdError {
    /// Whether the error reaches the client as gRPC `Unavailable`, the code clientv3's retry
    /// interceptor retries repeatable calls on (`isSafeRetryImmutableRPC`).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            EtcdError::Timeout
                | EtcdError::LeaderChanged
                | EtcdError::Stopping
                | EtcdError::NoLeader
        )
    }

    /// Whether the member never started the call (so any call, a write too, may be retried
    /// elsewhere).
    pub fn never_started(&self) -> bool {
        matches!(self, EtcdError::Stopping)
    }

    /// Whether a write answered with this error may still be applied.
    pub fn may_have_applied(&self) -> bool {
        matches!(self, EtcdError::Timeout)
    }
}

/// A gRPC client's connection check: the handshake of a new connection (its answer is what
/// makes the connection READY) and, on a READY connection, the HTTP/2 keepalive PING. The
/// member's process answers it at once while it runs; a paused process does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnPing {
    /// Echoed in the answer.
    pub seq: u64,
}

/// The answer to a [`ConnPing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnPong {
    /// The ping's sequence number.
    pub seq: u64,
}

/// A member's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdResponse {
    /// The request's id.
    pub id: u64,
    /// The result, or why nothing was applied.
    pub result: Result<KvResult, EtcdError>,
}

/// Ask a member to hand leadership to `to` (etcd `MoveLeader`, `etcdctl move-leader`; etcd also
/// does this on graceful shutdown of a leader). Ignored by non-leaders, like raft's
/// `MsgTransferLeader` on a follower that does not know a leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferLeadership {
    /// Raft id of the member that should lead.
    pub to: u64,
}

/// Open a watch on every key under `prefix` (etcd `WatchCreateRequest` with a range end that
/// makes it a prefix watch), from `start_revision` (0: from the next write on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchCreate {
    /// Client-chosen id, echoed in every [`WatchEvents`].
    pub id: u64,
    /// Key prefix.
    pub prefix: String,
    /// First revision to report; events already applied from it on are sent at once.
    pub start_revision: i64,
}

/// Events for one watch, in revision order (etcd `WatchResponse`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvents {
    /// The watch's id.
    pub id: u64,
    /// The member's store revision when it sent this (the response header's revision): the
    /// watch has seen everything up to it. The first response of a watch always comes, events
    /// or not (etcd's `created` response).
    pub revision: i64,
    /// What changed.
    pub events: Vec<crate::models::kv::KvEvent>,
}

/// Close a watch (etcd `WatchCancelRequest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchCancel {
    /// The watch's id.
    pub id: u64,
}

/// What a lease call asks (etcd's `Lease` service).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOp {
    /// `LeaseGrant`: a new lease of at least `ttl` (raised to etcd's minimum TTL).
    Grant {
        /// Requested TTL.
        ttl: SimDuration,
    },
    /// `LeaseRevoke`: end the lease now and delete its keys.
    Revoke {
        /// The lease.
        lease: i64,
    },
    /// One `LeaseKeepAlive` round: the leader starts the lease's clock over.
    KeepAlive {
        /// The lease.
        lease: i64,
    },
}

/// A lease call to one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRequest {
    /// Client-chosen id, echoed in the response.
    pub id: u64,
    /// The call.
    pub op: LeaseOp,
}

/// What a lease call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseResult {
    /// The lease and its TTL.
    Granted {
        /// Its id.
        lease: i64,
        /// Its TTL.
        ttl: SimDuration,
    },
    /// The lease and its keys are gone.
    Revoked,
    /// Renewed: the lease lives `ttl` from now.
    Alive {
        /// Its TTL.
        ttl: SimDuration,
    },
}

/// A member's answer to a [`LeaseRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseResponse {
    /// The request's id.
    pub id: u64,
    /// The result, or why nothing happened.
    pub result: Result<LeaseResult, EtcdError>,
}

/// A follower passes a keepalive to the leader, whose lessor alone renews (etcd forwards it
/// over the peer HTTP API, `leasehttp.RenewHTTP`); the leader answers the client directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRenew {
    /// The lease.
    pub lease: i64,
    /// Where the answer goes.
    pub reply_to: crate::engine::Endpoint,
    /// The client's request id.
    pub id: u64,
}

message_kind!(
    EtcdRequest,
    ConnPing,
    ConnPong,
    EtcdResponse,
    TransferLeadership,
    WatchCreate,
    WatchEvents,
    WatchCancel,
    LeaseRequest,
    LeaseResponse,
    LeaseRenew
);
