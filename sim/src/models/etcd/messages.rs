//! What travels between simulated etcd members and their clients: Raft messages (raft-rs's
//! protobuf `Message`, wrapped so the trace prints a short deterministic line), client requests
//! and responses, and the administrative leader-transfer request (`etcdctl move-leader`).

use std::fmt;

use raft::eraftpb::{self, MessageType};

use crate::engine::Message;
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
}

impl Message for EtcdRequest {
    fn kind(&self) -> &'static str {
        "EtcdRequest"
    }
}

/// Errors a member returns without applying anything.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// Raft dropped the proposal or read: no leader is known (etcd `raft proposal dropped` /
    /// `etcdserver: no leader`).
    #[error("no leader")]
    NoLeader,
    /// The request itself is invalid (etcd rejects it before Raft).
    #[error(transparent)]
    Invalid(#[from] KvError),
}

/// A member's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdResponse {
    /// The request's id.
    pub id: u64,
    /// The result, or why nothing was applied.
    pub result: Result<KvResult, EtcdError>,
}

impl Message for EtcdResponse {
    fn kind(&self) -> &'static str {
        "EtcdResponse"
    }
}

/// Ask a member to hand leadership to `to` (etcd `MoveLeader`, `etcdctl move-leader`; etcd also
/// does this on graceful shutdown of a leader). Ignored by non-leaders, like raft's
/// `MsgTransferLeader` on a follower that does not know a leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferLeadership {
    /// Raft id of the member that should lead.
    pub to: u64,
}

impl Message for TransferLeadership {
    fn kind(&self) -> &'static str {
        "TransferLeadership"
    }
}
