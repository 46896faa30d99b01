//! One etcd member: tikv's `raft` (a port of etcd's raft package) driven by the engine.
//!
//! Why raft-rs and not a Raft of our own: the behaviour under test is etcd's, and raft-rs carries
//! etcd raft's rules (pre-vote, check-quorum and the leader lease, ReadIndex, leader transfer,
//! log matching and commit rules) line for line. The member does what `etcdserver` does around
//! the library: it ticks Raft once per heartbeat interval, persists entries and hard state
//! before sending the messages that depend on them (the "fsync" is instantaneous here: the
//! simulated disk never lags), applies committed entries to the [`KvStore`], answers the client
//! whose request it proposed once the entry is applied, and serves linearizable reads through
//! ReadIndex.
//!
//! Determinism: raft-rs draws each randomised election timeout from a thread RNG. Whenever
//! Raft could have reset it (its term or role changed), the member overwrites it with a draw
//! from its own seeded stream in the same `[T, 2T)` range, before the next tick can read it.
//! raft-rs keeps its progress maps in FxHash maps, whose iteration order depends only on the
//! inserted ids, so message order is a function of the seed too.
//!
//! Durability: [`MemStorage`] plays the disk. A crash drops the Raft node, the applied state and
//! every pending request; a restart rebuilds the node from the stored hard state and log and
//! re-applies committed entries from index 1 (etcd replays its WAL the same way; it keeps a
//! snapshot of the state machine too, which only shortens the replay).

use std::collections::{BTreeMap, BTreeSet};

mod leases;
mod shutdown;
mod watch;
use std::fmt;

use raft::eraftpb::{ConfState, Entry, EntryType, HardState};
use raft::storage::MemStorage;
use raft::{RawNode, StateRole, Storage};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::MODEL_NAME;
use super::config::EtcdSimConfig;
use super::facts::{EtcdLeader, EtcdRole, RoleState};
use super::lessor::Lessor;
use super::messages::{
    ConnPing, ConnPong, EtcdError, EtcdRequest, EtcdResponse, LeaseRenew, LeaseRequest,
    LeaseResponse, LeaseResult, RaftMessage, ReadMode, TransferLeadership, WatchCancel,
    WatchCreate, WatchEvents,
};
use crate::engine::{ActorId, Ctx, Endpoint, Event, Model, Port, SimDuration, SimTime};
use crate::models::kv::{KvEvent, KvOp, KvStore};
use leases::{apply_kv, revoke_keys};

/// Timer tag of the Raft tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MemberTimer {
    /// raft-rs `RawNode::tick`, every heartbeat interval.
    Tick,
}

/// A client request waiting for its entry to be applied or its read index to be reached: who
/// asked (actor and port, where the answer goes) and the client's id for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct RequestKey {
    client: u32,
    port: u32,
    id: u64,
}

impl RequestKey {
    fn new(from: Endpoint, id: u64) -> Self {
        RequestKey {
            client: from.actor.0,
            port: from.port.0,
            id,
        }
    }

    fn reply_to(self) -> Endpoint {
        Endpoint::new(ActorId(self.client), Port(self.port))
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut b = self.client.to_be_bytes().to_vec();
        b.extend_from_slice(&self.port.to_be_bytes());
        b.extend_from_slice(&self.id.to_be_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let client = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
        let port = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
        let id = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        Some(RequestKey { client, port, id })
    }
}

/// What a normal log entry carries: the operation, which member proposed it and for which
/// client request (so only that member answers, and only when a client asked).
#[derive(Debug, Serialize, Deserialize)]
struct Proposal {
    origin: u64,
    request: Option<RequestKey>,
    op: EntryOp,
}

/// An operation that goes through the log.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum EntryOp {
    /// A key-value write, its put attached to `lease` if given.
    Kv { op: KvOp, lease: Option<i64> },
    /// A lease grant.
    Grant { lease: i64, ttl_ns: u64 },
    /// A lease revocation (a client's, or the leader's on expiry).
    Revoke { lease: i64 },
}

/// Which answer a client's request expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    /// An [`EtcdResponse`].
    Kv,
    /// A [`LeaseResponse`].
    Lease,
}

impl EntryOp {
    fn reply(&self) -> Reply {
        match self {
            EntryOp::Kv { .. } => Reply::Kv,
            EntryOp::Grant { .. } | EntryOp::Revoke { .. } => Reply::Lease,
        }
    }
}

/// Sends the error answer of the kind `reply` to the client that asked.
fn reply_error(ctx: &mut Ctx<'_>, key: RequestKey, reply: Reply, error: EtcdError) {
    if reply == Reply::Kv {
        ctx.send(
            key.reply_to(),
            EtcdResponse {
                id: key.id,
                result: Err(error),
            },
        );
    } else {
        ctx.send(
            key.reply_to(),
            LeaseResponse {
                id: key.id,
                result: Err(error),
            },
        );
    }
}

/// One write this member answered with success: when it was proposed here and when the answer
/// went out. Test instrumentation for the minority-partition invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteAck {
    /// When this member accepted the proposal.
    pub proposed: SimTime,
    /// When it sent the success answer.
    pub acked: SimTime,
}

/// Bugs the invariants' own tests plant in a member, to show the invariants catch them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlantedBug {
    /// None: the member behaves as etcd does.
    #[default]
    None,
    /// A member whose Raft accepted a proposal answers the client at once with the result of
    /// applying it to a scratch copy of its state, before any quorum has it (an
    /// "ack before commit" bug, which lets a minority acknowledge writes).
    AckOnPropose,
    /// Once a member has seen a leader, it silently ignores client writes in every later term
    /// (a bug that leaves a re-elected cluster with a leader but without write service).
    IgnoreWritesAfterLeaderChange,
    /// The member's storage layer records every entry it appends as committed (hard state
    /// `commit` = last index) before a quorum has it: a leader cut off from its followers then
    /// holds "committed" entries no majority has, which a restart would apply.
    CommitOnAppend,
}

/// Everything that dies with the process.
struct Running {
    node: RawNode<MemStorage>,
    store: KvStore,
    applied: u64,
    /// Writes that arrived while Raft knew no leader, with when: etcd blocks the proposal
    /// until a leader is known or the request times out (raft `node.Propose` waits while
    /// `propc` is nil, `raft/node.go`).
    awaiting_leader: Vec<(RequestKey, EntryOp, SimTime)>,
    /// Writes proposed here (with when they arrived), answered when applied.
    proposals: BTreeMap<RequestKey, (EntryOp, SimTime)>,
    /// Linearizable reads waiting for their ReadIndex, with when they arrived.
    reads_awaiting_index: BTreeMap<RequestKey, (KvOp, SimTime)>,
    /// Reads whose index is known, waiting until `applied` reaches it.
    reads_awaiting_apply: Vec<(u64, RequestKey, KvOp, SimTime)>,
    /// The leader this member last knew of (0: none), for etcd's leader-changed notice.
    last_lead: u64,
    /// After SIGTERM: when the member exits whatever is still pending (etcd bounds its
    /// graceful stop and its leadership transfer by `ReqTimeout`).
    terminating: Option<SimTime>,
    /// Every change applied so far, in revision order: etcd's MVCC history, which watches
    /// replay from their start revision (never compacted within a run; the apiserver compacts
    /// every 5 minutes, which no watch here reaches back past).
    history: Vec<KvEvent>,
    /// Open watches, by the client endpoint and its watch id: the key prefix.
    watchers: BTreeMap<(Endpoint, u64), String>,
    /// Leases, from the applied grants and revocations.
    lessor: Lessor,
    /// Expired leases whose revocation this leader proposed and has not applied yet.
    revoking: BTreeSet<i64>,
    /// Lease ids granted through this member so far (ids are this member's Raft id and a
    /// counter, as etcd's id generator combines member id and a counter).
    granted: u64,
    /// (term, role) after the last call into Raft, to spot timeout resets.
    last_term_role: (u64, StateRole),
}

/// One member of the etcd cluster.
pub struct EtcdMember {
    config: EtcdSimConfig,
    /// Raft id (1-based position among the cluster's members).
    id: u64,
    /// Durable: hard state and log.
    disk: MemStorage,
    /// Volatile.
    running: Option<Running>,
    /// Raft id -> actor, learnt from the directory at start.
    peers: BTreeMap<u64, ActorId>,
    host: String,
    /// Writes answered with success (test instrumentation: kept across crashes).
    acks: Vec<WriteAck>,
    /// The bug planted for an invariant's test, if any.
    planted: PlantedBug,
    /// The first term in which this member knew a leader (for [`PlantedBug`]).
    first_led_term: Option<u64>,
}

impl fmt::Debug for EtcdMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdMember")
            .field("id", &self.id)
            .field("host", &self.host)
            .field("hard_state", &self.durable_hard_state())
            .field("last_index", &self.durable_last_index())
            .field("running", &self.running.is_some())
            .finish()
    }
}

impl EtcdMember {
    /// Member `id` (1-based) of a cluster of `members` voters.
    pub fn new(config: EtcdSimConfig, id: u64, members: u64) -> Self {
        let voters: Vec<u64> = (1..=members).collect();
        let disk = MemStorage::new_with_conf_state(ConfState::from((voters.clone(), vec![])));
        EtcdMember {
            config,
            id,
            disk,
            running: None,
            peers: BTreeMap::new(),
            host: String::new(),
            acks: Vec::new(),
            planted: PlantedBug::None,
            first_led_term: None,
        }
    }

    /// The same member with `bug` planted (for the invariants' own tests).
    pub fn with_planted_bug(mut self, bug: PlantedBug) -> Self {
        self.planted = bug;
        self
    }

    /// Every write this member answered with success, in order.
    pub fn write_acks(&self) -> &[WriteAck] {
        &self.acks
    }

    /// Raft id.
    pub fn raft_id(&self) -> u64 {
        self.id
    }

    /// The persisted hard state (term, vote, commit).
    pub fn durable_hard_state(&self) -> HardState {
        self.disk.rl().hard_state().clone()
    }

    /// Index of the last persisted entry.
    pub fn durable_last_index(&self) -> u64 {
        self.disk.last_index().unwrap_or(0)
    }

    /// The durable log and hard state, for the invariants' own tests to write states Raft would
    /// never produce.
    #[cfg(test)]
    pub(crate) fn disk(&self) -> &MemStorage {
        &self.disk
    }

    /// Term of the persisted entry at `index`, if the log holds it.
    pub fn durable_term(&self, index: u64) -> Option<u64> {
        if index == 0 || index > self.durable_last_index() {
            return None;
        }
        self.disk.term(index).ok()
    }

    /// True while this member is running and believes it leads.
    pub fn is_leader(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| r.node.raft.state == StateRole::Leader)
    }

    /// The leader this member knows of (Raft id; 0 for none), if running.
    pub fn leader_id(&self) -> Option<u64> {
        self.running.as_ref().map(|r| r.node.raft.leader_id)
    }

    /// The current term, if running.
    pub fn term(&self) -> Option<u64> {
        self.running.as_ref().map(|r| r.node.raft.term)
    }

    /// The applied state machine, if running.
    pub fn store(&self) -> Option<&KvStore> {
        self.running.as_ref().map(|r| &r.store)
    }

    /// Index applied to the state machine (0 when down).
    pub fn applied(&self) -> u64 {
        self.running.as_ref().map_or(0, |r| r.applied)
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        let dir = ctx.directory();
        self.host = dir.host_name(ctx.host()).to_owned();
        self.peers = dir
            .actors_named(MODEL_NAME)
            .zip(1u64..)
            .map(|(actor, id)| (id, actor))
            .collect();
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        // A fresh process replays the log from the start: applied = 0.
        let node = match RawNode::new(
            &self.config.raft_config(self.id),
            self.disk.clone(),
            &logger,
        ) {
            Ok(node) => node,
            Err(e) => {
                ctx.fact(EtcdRole {
                    host: self.host.clone(),
                    role: RoleState::Failed {
                        reason: format!("failed to start: {e}"),
                    },
                });
                return;
            }
        };
        let term_role = (node.raft.term, node.raft.state);
        self.running = Some(Running {
            node,
            store: KvStore::new(),
            applied: 0,
            awaiting_leader: Vec::new(),
            proposals: BTreeMap::new(),
            reads_awaiting_index: BTreeMap::new(),
            reads_awaiting_apply: Vec::new(),
            last_lead: 0,
            terminating: None,
            history: Vec::new(),
            watchers: BTreeMap::new(),
            lessor: Lessor::default(),
            revoking: BTreeSet::new(),
            granted: 0,
            last_term_role: (u64::MAX, term_role.1),
        });
        // Real members' tickers are not phase-aligned: each starts whenever its process did.
        let phase = ctx
            .rng()
            .random_range(1..=self.config.heartbeat.as_nanos().max(1));
        ctx.set_timer(SimDuration::from_nanos(phase), MemberTimer::Tick);
        self.after_raft_call(ctx);
    }

    /// Overrides raft-rs's thread-RNG election timeout after any reset, records role changes,
    /// then handles everything Raft has ready.
    fn after_raft_call(&mut self, ctx: &mut Ctx<'_>) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        let now = (run.node.raft.term, run.node.raft.state);
        if self.first_led_term.is_none() && run.node.raft.leader_id != 0 {
            self.first_led_term = Some(now.0);
        }
        if now != run.last_term_role {
            let election = self.config.election_ticks();
            let draw = ctx.rng().random_range(election..2 * election);
            run.node.raft.set_randomized_election_timeout(draw);
            run.last_term_role = now;
            if now.1 == StateRole::Leader {
                run.lessor.promote(ctx.now(), self.config.election_timeout);
            } else if run.lessor.is_primary() {
                run.lessor.demote();
                run.revoking.clear();
            }
            ctx.fact(EtcdRole {
                host: self.host.clone(),
                role: RoleState::InTerm {
                    role: role_name(now.1),
                    term: now.0,
                },
            });
            if now.1 == StateRole::Leader {
                ctx.fact(EtcdLeader {
                    host: self.host.clone(),
                    term: now.0,
                });
            }
        }
        self.drain_ready(ctx);
        if self
            .running
            .as_ref()
            .is_some_and(|r| r.node.raft.leader_id != r.last_lead)
        {
            self.on_leader_known(ctx);
            self.drain_ready(ctx);
        }
    }

    fn send_all(&self, ctx: &mut Ctx<'_>, msgs: Vec<raft::eraftpb::Message>) {
        for m in msgs {
            if let Some(to) = self.peers.get(&m.to) {
                ctx.send(*to, RaftMessage(m));
            }
        }
    }

    fn drain_ready(&mut self, ctx: &mut Ctx<'_>) {
        // Bounded: each round consumes what Raft had ready; Raft produces more only in
        // response to what we persist, which converges within a few rounds.
        for _ in 0..64 {
            let Some(run) = self.running.as_mut() else {
                return;
            };
            if !run.node.has_ready() {
                return;
            }
            let mut ready = run.node.ready();
            let msgs = ready.take_messages();
            self.send_all(ctx, msgs);
            // Snapshots never occur: nothing compacts the log within a run (etcd's
            // --snapshot-count is 100 000 entries, far above a scenario's writes).
            let committed = ready.take_committed_entries();
            self.apply(ctx, committed);
            let Some(run) = self.running.as_mut() else {
                return;
            };
            if !ready.entries().is_empty()
                && let Err(e) = self.disk.wl().append(ready.entries())
            {
                ctx.fact(EtcdRole {
                    host: self.host.clone(),
                    role: RoleState::Failed {
                        reason: format!("log append failed: {e}"),
                    },
                });
            }
            if let Some(hs) = ready.hs() {
                self.disk.wl().set_hardstate(hs.clone());
            }
            for rs in ready.take_read_states() {
                if let Some(key) = RequestKey::from_bytes(&rs.request_ctx)
                    && let Some((op, since)) = run.reads_awaiting_index.remove(&key)
                {
                    run.reads_awaiting_apply.push((rs.index, key, op, since));
                }
            }
            let persisted = ready.take_persisted_messages();
            self.send_all(ctx, persisted);
            let Some(run) = self.running.as_mut() else {
                return;
            };
            let mut light = run.node.advance(ready);
            if let Some(commit) = light.commit_index() {
                self.disk.wl().mut_hard_state().commit = commit;
            }
            let msgs = light.take_messages();
            let committed = light.take_committed_entries();
            self.send_all(ctx, msgs);
            self.apply(ctx, committed);
            if let Some(run) = self.running.as_mut() {
                run.node.advance_apply();
            }
            if self.planted == PlantedBug::CommitOnAppend {
                let last = self.durable_last_index();
                let mut disk = self.disk.wl();
                let hs = disk.mut_hard_state();
                hs.commit = hs.commit.max(last);
            }
            self.serve_ready_reads(ctx);
        }
    }

    fn apply(&mut self, ctx: &mut Ctx<'_>, entries: Vec<Entry>) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        for entry in entries {
            run.applied = run.applied.max(entry.index);
            if entry.entry_type != EntryType::EntryNormal || entry.data.is_empty() {
                continue;
            }
            let Ok(p) = serde_json::from_slice::<Proposal>(&entry.data) else {
                continue;
            };
            let reply = p
                .request
                .filter(|_| p.origin == self.id)
                .and_then(|k| run.proposals.remove(&k).map(|(_, since)| (k, since)));
            match p.op {
                EntryOp::Kv { op, lease } => {
                    let result = apply_kv(ctx, run, &op, lease);
                    if let Some((key, proposed)) = reply {
                        if result.is_ok() {
                            self.acks.push(WriteAck {
                                proposed,
                                acked: ctx.now(),
                            });
                        }
                        ctx.send(key.reply_to(), EtcdResponse { id: key.id, result });
                    }
                }
                EntryOp::Grant { lease, ttl_ns } => {
                    let ttl = SimDuration::from_nanos(ttl_ns);
                    run.lessor.grant(lease, ttl, ctx.now());
                    if let Some((key, _)) = reply {
                        let result = Ok(LeaseResult::Granted { lease, ttl });
                        ctx.send(key.reply_to(), LeaseResponse { id: key.id, result });
                    }
                }
                EntryOp::Revoke { lease } => {
                    run.revoking.remove(&lease);
                    let result = match run.lessor.revoke(lease) {
                        Some(keys) => {
                            revoke_keys(ctx, run, keys);
                            Ok(LeaseResult::Revoked)
                        }
                        None => Err(EtcdError::LeaseNotFound),
                    };
                    if let Some((key, _)) = reply {
                        ctx.send(key.reply_to(), LeaseResponse { id: key.id, result });
                    }
                }
            }
        }
    }

    fn serve_ready_reads(&mut self, ctx: &mut Ctx<'_>) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        let applied = run.applied;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut run.reads_awaiting_apply)
            .into_iter()
            .partition(|(index, ..)| *index <= applied);
        run.reads_awaiting_apply = waiting;
        for (_, key, op, _) in ready {
            let result = run.store.apply(&op).map_err(EtcdError::from);
            ctx.send(key.reply_to(), EtcdResponse { id: key.id, result });
        }
    }

    /// What etcd does when a member learns of a new leader (`leaderChangedNotifier`, fired
    /// whenever raft's soft state names a leader other than the last one seen, including
    /// after none): linearizable reads still waiting for a read index fail with
    /// `ErrLeaderChanged` (their ReadIndex went to a leader that is gone, or was dropped for
    /// want of one), and writes held back for want of a leader go to Raft now.
    fn on_leader_known(&mut self, ctx: &mut Ctx<'_>) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        let lead = run.node.raft.leader_id;
        let changed = lead != raft::INVALID_ID && lead != run.last_lead;
        run.last_lead = lead;
        if changed {
            for (key, _) in std::mem::take(&mut run.reads_awaiting_index) {
                let result = Err(EtcdError::LeaderChanged);
                ctx.send(key.reply_to(), EtcdResponse { id: key.id, result });
            }
        }
        if lead != raft::INVALID_ID && !run.awaiting_leader.is_empty() {
            for (key, op, since) in std::mem::take(&mut run.awaiting_leader) {
                self.propose(ctx, Some(key), op, since);
            }
        }
    }

    /// Answers every request that has waited `request_timeout` (checked once per tick, so up
    /// to one heartbeat late): a write still held back for want of a leader was never
    /// proposed (`DeadlineExceeded`); a proposal or read handed to Raft gets `ErrTimeout`.
    fn expire_requests(&mut self, ctx: &mut Ctx<'_>) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        let timeout = self.config.request_timeout();
        let now = ctx.now();
        let expired = |since: SimTime| now.saturating_since(since) >= timeout;
        let mut answers = Vec::new();
        let mut lease_answers = Vec::new();
        run.awaiting_leader.retain(|(key, op, since)| {
            let keep = !expired(*since);
            if !keep {
                lease_answers.push((*key, op.clone(), EtcdError::DeadlineExceeded));
            }
            keep
        });
        run.proposals.retain(|key, (op, since)| {
            let keep = !expired(*since);
            if !keep {
                lease_answers.push((*key, op.clone(), EtcdError::Timeout));
            }
            keep
        });
        for (key, op, error) in lease_answers {
            reply_error(ctx, key, op.reply(), error);
        }
        run.reads_awaiting_index.retain(|key, (_, since)| {
            let keep = !expired(*since);
            if !keep {
                answers.push((*key, EtcdError::Timeout));
            }
            keep
        });
        run.reads_awaiting_apply.retain(|(_, key, _, since)| {
            let keep = !expired(*since);
            if !keep {
                answers.push((*key, EtcdError::Timeout));
            }
            keep
        });
        for (key, error) in answers {
            ctx.send(
                key.reply_to(),
                EtcdResponse {
                    id: key.id,
                    result: Err(error),
                },
            );
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_>, from: Endpoint, req: &EtcdRequest) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        if run.terminating.is_some() {
            // The gRPC server is stopping (GracefulStop): no new call is taken.
            ctx.send(
                from,
                EtcdResponse {
                    id: req.id,
                    result: Err(EtcdError::Stopping),
                },
            );
            return;
        }
        let key = RequestKey::new(from, req.id);
        let is_read = req.op.is_read();
        if is_read && req.read == ReadMode::Serializable {
            let result = run.store.apply(&req.op).map_err(EtcdError::from);
            ctx.send(from, EtcdResponse { id: req.id, result });
            return;
        }
        if is_read {
            // Without a leader raft drops the ReadIndex; the read then waits for the next
            // leader (which fails it with `LeaderChanged`) or its timeout, as in etcd 3.4's
            // `linearizableReadLoop`.
            run.reads_awaiting_index
                .insert(key, (req.op.clone(), ctx.now()));
            run.node.read_index(key.to_bytes());
        } else if self.planted == PlantedBug::IgnoreWritesAfterLeaderChange
            && self.first_led_term.is_some_and(|t| run.node.raft.term > t)
        {
            return;
        } else {
            let op = EntryOp::Kv {
                op: req.op.clone(),
                lease: req.lease,
            };
            if run.node.raft.leader_id == raft::INVALID_ID {
                run.awaiting_leader.push((key, op, ctx.now()));
                return;
            }
            self.propose(ctx, Some(key), op, ctx.now());
        }
        self.after_raft_call(ctx);
    }

    /// Hands a write or lease operation to Raft (which forwards it to the leader from a
    /// follower); `key` is the client request it answers, if any.
    fn propose(&mut self, ctx: &mut Ctx<'_>, key: Option<RequestKey>, op: EntryOp, since: SimTime) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        let proposal = Proposal {
            origin: self.id,
            request: key,
            op: op.clone(),
        };
        let data = serde_json::to_vec(&proposal).unwrap_or_default();
        match run.node.propose(Vec::new(), data) {
            Ok(()) if self.planted == PlantedBug::AckOnPropose => {
                if let (Some(key), EntryOp::Kv { op, .. }) = (key, &op) {
                    let result = run.store.clone().apply(op).map_err(EtcdError::from);
                    self.acks.push(WriteAck {
                        proposed: ctx.now(),
                        acked: ctx.now(),
                    });
                    ctx.send(key.reply_to(), EtcdResponse { id: key.id, result });
                }
            }
            Ok(()) => {
                if let Some(key) = key {
                    run.proposals.insert(key, (op, since));
                }
            }
            Err(_) => {
                if let Some(key) = key {
                    reply_error(ctx, key, op.reply(), EtcdError::ProposalDropped);
                }
            }
        }
    }
}

impl EtcdMember {}

/// Lower-case role name, as in the trace.
pub fn role_name(role: StateRole) -> &'static str {
    match role {
        StateRole::Follower => "follower",
        StateRole::Candidate => "candidate",
        StateRole::Leader => "leader",
        StateRole::PreCandidate => "pre-candidate",
    }
}

impl Model for EtcdMember {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        self.on_event(ctx, event);
        self.exit_when_done(ctx);
    }

    fn on_crash(&mut self) {
        self.running = None;
    }

    fn terminate(&mut self, ctx: &mut Ctx<'_>) -> bool {
        self.begin_shutdown(ctx)
    }
}

impl EtcdMember {
    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => self.start(ctx),
            Event::Timer { tag, .. } if tag.is(&MemberTimer::Tick) => {
                if let Some(run) = self.running.as_mut() {
                    run.node.tick();
                    ctx.set_timer(self.config.heartbeat, MemberTimer::Tick);
                    self.after_raft_call(ctx);
                    self.expire_requests(ctx);
                    self.revoke_expired(ctx);
                }
            }
            Event::Message {
                from,
                from_port,
                msg,
            } => {
                let from = Endpoint::new(from, from_port);
                if let Some(m) = msg.downcast_ref::<RaftMessage>() {
                    if let Some(run) = self.running.as_mut() {
                        // Stale or misdirected messages are rejected by Raft itself.
                        let _ = run.node.step(m.0.clone());
                        self.after_raft_call(ctx);
                    }
                } else if let Some(req) = msg.downcast_ref::<EtcdRequest>() {
                    self.on_request(ctx, from, req);
                } else if let Some(l) = msg.downcast_ref::<LeaseRequest>() {
                    self.on_lease_request(ctx, from, l);
                } else if let Some(r) = msg.downcast_ref::<LeaseRenew>() {
                    self.on_lease_renew(ctx, r);
                } else if let Some(w) = msg.downcast_ref::<WatchCreate>() {
                    self.on_watch_create(ctx, from, w);
                } else if let Some(c) = msg.downcast_ref::<WatchCancel>() {
                    if let Some(run) = self.running.as_mut() {
                        run.watchers.remove(&(from, c.id));
                    }
                } else if let Some(ping) = msg.downcast_ref::<ConnPing>() {
                    if self.running.is_some() {
                        ctx.send(from, ConnPong { seq: ping.seq });
                    }
                } else if let Some(t) = msg.downcast_ref::<TransferLeadership>()
                    && let Some(run) = self.running.as_mut()
                {
                    run.node.transfer_leader(t.to);
                    self.after_raft_call(ctx);
                }
            }
            Event::Refused { to, msg } => {
                // The watching client's process is gone: its stream with it.
                if let Some(w) = msg.downcast_ref::<WatchEvents>()
                    && let Some(run) = self.running.as_mut()
                {
                    run.watchers.remove(&(to, w.id));
                }
            }
            Event::Timer { .. } | Event::Closed { .. } | Event::Fault(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keys_round_trip() {
        let k = RequestKey {
            client: 7,
            port: 3,
            id: 1 << 40,
        };
        assert_eq!(RequestKey::from_bytes(&k.to_bytes()), Some(k));
        assert_eq!(RequestKey::from_bytes(&[1, 2]), None);
    }

    #[test]
    fn a_new_member_has_an_empty_durable_log() {
        let m = EtcdMember::new(EtcdSimConfig::default(), 2, 3);
        assert_eq!(m.durable_last_index(), 0);
        assert_eq!(m.durable_hard_state().term, 0);
        assert!(!m.is_leader());
        assert_eq!(m.raft_id(), 2);
    }
}
