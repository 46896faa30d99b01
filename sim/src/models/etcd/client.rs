//! A workload client: a process that issues puts, linearizable (or serializable) gets and
//! compare-and-swap txns on a few keys through an embedded [`EtcdSession`] (clientv3's
//! endpoint handling, retries and connection states), with a per-call deadline, and records
//! every call in a [`History`] for the linearizability checker: an answered call is `ok`, a
//! read that failed or a write that never reached etcd is `failed` (it changed nothing), and a
//! write that reached a member and got no answer that rules it out is `indeterminate` (it may
//! still commit, as real etcd's `context deadline exceeded` may).
//!
//! The workload mixes operations on a few keys, so concurrent clients contend on the same keys
//! the way controllers do.

use std::collections::BTreeMap;

use rand::Rng;

use super::MODEL_NAME;
use super::messages::{ReadMode, TransferLeadership};
use super::session::{CallId, EtcdSession, SessionConfig, SessionEvent};
use crate::checks::linearizability::{History, Operation, Outcome};
use topology::component::Component;
use topology::workload::{OpMix, WorkloadClient};

use crate::engine::{ActorId, Ctx, Event, Model, Port, SimDuration, SimTime, Status, route_to};
use crate::models::kv::KvOp;

/// The port the client's session lives on.
const SESSION_PORT: Port = Port(1);

/// The client's own timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientTimer {
    /// Think time is over: issue the next operation.
    NextOp,
}

/// Per-request deadline of the workload. Not an etcd value: clientv3 sets no deadline of its
/// own (the caller's context decides), and `etcdctl`'s `--command-timeout` default is 5 s.
/// 1.5 s is this project's choice for the differential test's clients, the `etcdctl
/// --command-timeout` (and dial timeout) its real half passes, so simulated and real clients
/// give up at the same moment. It sits above one election timeout (1 s) so a request is not
/// abandoned by an ordinary leader election's first half, and well below etcdctl's 5 s so the
/// clients notice outages.
pub const DEFAULT_REQUEST_TIMEOUT: SimDuration = SimDuration::from_millis(1500);

/// Pause between one answer and the next request: about what spawning `etcdctl` costs in the
/// real schedule, which issues a few dozen calls per second per client.
pub const DEFAULT_THINK_TIME: SimDuration = SimDuration::from_millis(25);

/// The differential test's op mix, shared by its simulated clients and its real `etcdctl`
/// workload (`provision::drill::WorkloadMix` gets these values from the test): percent of
/// requests that are linearizable gets; the rest are writes.
pub const WORKLOAD_READ_PERCENT: u32 = 50;
/// Of the differential workload's requests, every `WORKLOAD_CAS_EVERY`-th one (by the client's
/// request counter, counting reads too) that is a write is a compare-and-swap txn instead of a
/// blind put: about one request in twenty at a 50 % read share.
pub const WORKLOAD_CAS_EVERY: u64 = 10;
/// Keys the workloads touch: `spf/k0` .. `spf/k2`. Few keys, so concurrent clients contend on
/// the same keys the way controllers do.
pub const WORKLOAD_KEYS: u32 = 3;

/// What a client does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Per-request deadline.
    pub timeout: SimDuration,
    /// Pause between an answer and the next request.
    pub think: SimDuration,
    /// When the first request goes out.
    pub start_after: SimDuration,
    /// Keys `spf/k0` .. `spf/k{keys-1}`.
    pub keys: u32,
    /// How gets are served.
    pub read_mode: ReadMode,
    /// Percent of requests that are gets; the rest are writes.
    pub read_percent: u32,
    /// A write whose request number is a multiple of `cas_every` less one is a
    /// compare-and-swap txn (guarded by the last value this client saw for the key, or by
    /// "the key does not exist" when it saw none); the other writes are puts. 0: no txns.
    pub cas_every: u64,
    /// Talk only to the member at this position (Raft id - 1): a client pinned to one
    /// endpoint, as a process that was given a single `--endpoints` URL is.
    pub pin_endpoint: Option<usize>,
    /// Stop issuing requests at this time (the history ends cleanly before the run does).
    pub stop_at: Option<SimDuration>,
    /// Calls the client keeps in flight at once (each followed by its own think time).
    pub concurrency: u32,
    /// How the client's etcd session uses the endpoints.
    pub session: SessionConfig,
}

impl ClientConfig {
    /// What this client sends, in the form the real workload clients take it
    /// (`provision::drill::WorkloadMix`), so a real run sends what the simulated one does.
    pub fn op_mix(&self) -> OpMix {
        OpMix {
            read_percent: self.read_percent,
            cas_every: self.cas_every,
            keys: self.keys,
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: DEFAULT_REQUEST_TIMEOUT,
            think: DEFAULT_THINK_TIME,
            start_after: SimDuration::ZERO,
            keys: WORKLOAD_KEYS,
            read_mode: ReadMode::Linearizable,
            read_percent: 40,
            cas_every: WORKLOAD_CAS_EVERY,
            pin_endpoint: None,
            stop_at: None,
            concurrency: 1,
            session: SessionConfig::default(),
        }
    }
}

/// A call not answered yet.
#[derive(Clone, Debug)]
struct OpenCall {
    op: KvOp,
    call: SimTime,
}

/// A workload client.
#[derive(Debug)]
pub struct EtcdClient {
    config: ClientConfig,
    session: EtcdSession,
    /// Calls in flight, by session handle.
    open: BTreeMap<CallId, OpenCall>,
    /// Requests issued so far (the workload's request counter).
    issued: u64,
    /// The recorded calls (test instrumentation: kept across crashes).
    operations: Vec<Operation>,
    /// The request choice and the last value seen per key, for CAS guards.
    workload: WorkloadClient,
    name: String,
    /// This client's actor id, the `client` of its history entries.
    me: u32,
    writes_up: Option<bool>,
}

impl EtcdClient {
    /// A client with `config`.
    pub fn new(config: ClientConfig) -> Self {
        let workload = WorkloadClient::new(OpMix {
            read_percent: config.read_percent,
            cas_every: config.cas_every,
            keys: config.keys,
        });
        EtcdClient {
            session: EtcdSession::new(config.session),
            config,
            open: BTreeMap::new(),
            issued: 0,
            operations: Vec::new(),
            workload,
            name: String::new(),
            me: 0,
            writes_up: None,
        }
    }

    /// Every call so far, as a history for the checker (the ones still in flight included).
    pub fn history(&self) -> History {
        History::new(self.calls().collect())
    }

    /// Every call so far: the answered or abandoned ones, then those still waiting for their
    /// answer as open calls (a write that may yet commit, a read that changed nothing). A
    /// history without them can show a read of a value no recorded write wrote: a run that
    /// ends while a put is in flight, after the put committed and another client read it.
    pub fn calls(&self) -> impl Iterator<Item = Operation> + '_ {
        self.operations
            .iter()
            .cloned()
            .chain(self.open.values().map(|c| open_call(self.me, c)))
    }

    /// What this client does.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The recorded calls.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    fn next_op(&mut self, ctx: &mut Ctx<'_>) -> KvOp {
        let k = ctx.rng().random_range(0..self.workload.mix().key_count());
        let roll = ctx.rng().random_range(0..100u32);
        self.workload.op(ctx.me().0, self.issued, k, roll)
    }

    fn issue(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(stop) = self.config.stop_at
            && ctx.now().since_start() >= stop
        {
            return;
        }
        let op = self.next_op(ctx);
        self.issued += 1;
        let id = self.session.call(
            &mut ctx.scoped(SESSION_PORT),
            op.clone(),
            self.config.read_mode,
            self.config.timeout,
        );
        self.open.insert(
            id,
            OpenCall {
                op,
                call: ctx.now(),
            },
        );
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, id: CallId, outcome: Outcome) {
        let Some(call) = self.open.remove(&id) else {
            return;
        };
        if let Outcome::Ok(result) = &outcome {
            self.workload.remember(&call.op, result);
        }
        if !call.op.is_read() {
            let up = matches!(outcome, Outcome::Ok(_));
            if self.writes_up != Some(up) {
                self.writes_up = Some(up);
                let (status, why) = if up {
                    (Status::Up, "writes answered".to_owned())
                } else {
                    (Status::Down, "write failed or timed out".to_owned())
                };
                ctx.availability(Component::EtcdWrites(self.name.clone()), status, why);
            }
        }
        self.operations.push(Operation {
            client: ctx.me().0,
            op: call.op,
            call_time: call.call.as_nanos(),
            return_time: Some(ctx.now().as_nanos()),
            outcome,
        });
        ctx.set_timer(self.config.think, ClientTimer::NextOp);
    }

    fn on_session(&mut self, ctx: &mut Ctx<'_>, event: SessionEvent) {
        match event {
            SessionEvent::Done { call, result } => {
                let read = self.open.get(&call).is_some_and(|c| c.op.is_read());
                let outcome = match result {
                    Ok(result) => Outcome::Ok(result),
                    Err(f) if !read && f.may_have_applied => Outcome::Indeterminate,
                    Err(_) => Outcome::Failed,
                };
                self.finish(ctx, call, outcome);
            }
            // The workload opens no watches and takes no leases.
            SessionEvent::Watch { .. }
            | SessionEvent::LeaseDone { .. }
            | SessionEvent::LeaseLost { .. } => {}
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        let dir = ctx.directory();
        self.name = dir.host_name(ctx.host()).to_owned();
        self.me = ctx.me().0;
        let mut endpoints: Vec<ActorId> = dir.actors_named(MODEL_NAME).collect();
        if let Some(pin) = self.config.pin_endpoint {
            endpoints = endpoints.get(pin).copied().into_iter().collect();
        }
        // Start with the member on this host, if any (an apiserver's local etcd).
        if let Some(local) = dir.actor_on(ctx.host(), MODEL_NAME)
            && let Some(pos) = endpoints.iter().position(|a| *a == local)
        {
            endpoints.rotate_left(pos);
        }
        if endpoints.is_empty() {
            return;
        }
        self.session
            .start(&mut ctx.scoped(SESSION_PORT), &endpoints);
        for _ in 0..self.config.concurrency.max(1) {
            ctx.set_timer(self.config.start_after, ClientTimer::NextOp);
        }
    }
}

impl Model for EtcdClient {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let event = match route_to(&mut self.session, SESSION_PORT, ctx, event) {
            Ok(reports) => {
                let mut main = ctx.scoped(Port::MAIN);
                for report in reports {
                    self.on_session(&mut main, report);
                }
                return;
            }
            Err(event) => event,
        };
        match event {
            Event::Start { .. } => self.start(ctx),
            Event::Timer { tag, .. } if tag.is(&ClientTimer::NextOp) => self.issue(ctx),
            Event::Timer { .. }
            | Event::Message { .. }
            | Event::Refused { .. }
            | Event::Closed { .. }
            | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        // The process died with calls outstanding. The history is the test's record, so it
        // survives.
        let me = self.me;
        let open = std::mem::take(&mut self.open);
        self.operations
            .extend(open.values().map(|call| open_call(me, call)));
        self.session.reset();
    }
}

/// A call that never got its answer: a write may still commit (indeterminate), a read changed
/// nothing (failed).
fn open_call(client: u32, call: &OpenCall) -> Operation {
    Operation {
        client,
        op: call.op.clone(),
        call_time: call.call.as_nanos(),
        return_time: None,
        outcome: if call.op.is_read() {
            Outcome::Failed
        } else {
            Outcome::Indeterminate
        },
    }
}

/// The only timer of [`MoveLeader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MoveLeaderTimer {
    /// Time to ask for the transfer.
    Now,
}

/// Asks the cluster to move leadership to member `to` at `at` (`etcdctl move-leader`): sends
/// the request to every member; only the leader acts on it.
#[derive(Debug)]
pub struct MoveLeader {
    at: SimDuration,
    to: u64,
}

impl MoveLeader {
    /// Move leadership to Raft id `to` at `at`.
    pub fn new(at: SimDuration, to: u64) -> Self {
        MoveLeader { at, to }
    }
}

impl Model for MoveLeader {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { restarted: false } => {
                ctx.set_timer(self.at, MoveLeaderTimer::Now);
            }
            Event::Timer { .. } => {
                let members: Vec<ActorId> = ctx.directory().actors_named(MODEL_NAME).collect();
                for m in members {
                    ctx.send(m, TransferLeadership { to: self.to });
                }
            }
            Event::Start { .. }
            | Event::Message { .. }
            | Event::Refused { .. }
            | Event::Closed { .. }
            | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {}
}
