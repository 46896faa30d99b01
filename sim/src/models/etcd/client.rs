//! An etcd client the way kube-apiserver and `etcdctl` use one: one request at a time against
//! one endpoint, a per-request deadline, and on an error or a timeout the next endpoint
//! (clientv3's balancer moves on from an endpoint that fails). Every call goes into a
//! [`History`] for the linearizability checker: an answered call is `ok`, a read or a rejected
//! request that failed is `failed` (it changed nothing), and a write whose deadline passed is
//! `indeterminate` (it may still commit, as real etcd's `context deadline exceeded` may).
//!
//! The workload mixes puts, linearizable (or serializable) gets and compare-and-swap txns on a
//! few keys, so concurrent clients contend on the same keys the way controllers do.

use rand::Rng;

use super::MODEL_NAME;
use super::messages::{EtcdRequest, EtcdResponse, ReadMode, TransferLeadership};
use crate::checks::linearizability::{History, Operation, Outcome};
use topology::component::Component;
use topology::workload::{OpMix, WorkloadClient};

use crate::engine::{ActorId, Ctx, Event, Model, SimDuration, SimTime, Status};
use crate::models::kv::KvOp;

/// Timer tags.
/// The client's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientTimer {
    /// Think time is over: issue the next operation.
    NextOp,
    /// Request `id` has waited its whole timeout.
    Deadline(u64),
}

/// Per-request deadline of the workload. Not an etcd value: etcd has no server-side request
/// deadline a client sees, and `etcdctl`'s own `--command-timeout` default is 5 s. 1.5 s is this
/// project's choice for the differential test's clients, the `etcdctl --command-timeout` (and
/// dial timeout) its real half passes, so simulated and real clients give up at the same moment.
/// It sits above one election timeout (1 s) so a request is not abandoned by an ordinary
/// leader election's first half, and well below etcdctl's 5 s so the clients notice outages.
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
    /// Pause between requests.
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
    /// Talk only to the member at this position (Raft id - 1) and never fail over: a client
    /// pinned to one endpoint, as a process that was given a single `--endpoints` URL is.
    pub pin_endpoint: Option<usize>,
    /// Stop issuing requests at this time (the history ends cleanly before the run does).
    pub stop_at: Option<SimDuration>,
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
        }
    }
}

/// The call in flight.
#[derive(Clone, Debug)]
struct InFlight {
    id: u64,
    op: KvOp,
    call: SimTime,
    endpoint: usize,
}

/// A workload client.
#[derive(Debug)]
pub struct EtcdClient {
    config: ClientConfig,
    endpoints: Vec<ActorId>,
    next_endpoint: usize,
    next_id: u64,
    in_flight: Option<InFlight>,
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
            config,
            endpoints: Vec::new(),
            next_endpoint: 0,
            next_id: 0,
            in_flight: None,
            operations: Vec::new(),
            workload,
            name: String::new(),
            me: 0,
            writes_up: None,
        }
    }

    /// Every call so far, as a history for the checker (the one still in flight included).
    pub fn history(&self) -> History {
        History::new(self.calls().collect())
    }

    /// Every call so far: the answered or abandoned ones, then the one still waiting for its
    /// answer as an open call (a write that may yet commit, a read that changed nothing). A
    /// history without it can show a read of a value no recorded write wrote: a run that ends
    /// while a put is in flight, after the put committed and another client read it.
    pub fn calls(&self) -> impl Iterator<Item = Operation> + '_ {
        self.operations
            .iter()
            .cloned()
            .chain(self.in_flight.as_ref().map(|c| open_call(self.me, c)))
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
        self.workload.op(ctx.me().0, self.next_id, k, roll)
    }

    fn issue(&mut self, ctx: &mut Ctx<'_>) {
        if self.endpoints.is_empty() {
            return;
        }
        if let Some(stop) = self.config.stop_at
            && ctx.now().since_start() >= stop
        {
            return;
        }
        let op = self.next_op(ctx);
        let id = self.next_id;
        self.next_id += 1;
        let endpoint = self.next_endpoint % self.endpoints.len();
        ctx.send(
            self.endpoints[endpoint],
            EtcdRequest {
                id,
                op: op.clone(),
                read: self.config.read_mode,
            },
        );
        ctx.set_timer(self.config.timeout, ClientTimer::Deadline(id));
        self.in_flight = Some(InFlight {
            id,
            op,
            call: ctx.now(),
            endpoint,
        });
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, outcome: Outcome) {
        let Some(call) = self.in_flight.take() else {
            return;
        };
        let failed = !matches!(outcome, Outcome::Ok(_));
        if failed && self.config.pin_endpoint.is_none() {
            // clientv3 moves on from an endpoint that errors or times out.
            self.next_endpoint = call.endpoint + 1;
        }
        if let Outcome::Ok(result) = &outcome {
            self.workload.remember(&call.op, result);
        }
        let is_write = !matches!(call.op, KvOp::Get { .. } | KvOp::Range { .. });
        if is_write {
            let up = !failed;
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
}

impl Model for EtcdClient {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => {
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
                self.endpoints = endpoints;
                ctx.set_timer(self.config.start_after, ClientTimer::NextOp);
            }
            Event::Timer { tag, .. } if tag.is(&ClientTimer::NextOp) => {
                if self.in_flight.is_none() {
                    self.issue(ctx);
                }
            }
            Event::Timer { tag, .. }
                if matches!(tag.downcast_ref(), Some(ClientTimer::Deadline(_))) =>
            {
                let Some(ClientTimer::Deadline(id)) = tag.downcast_ref::<ClientTimer>() else {
                    return;
                };
                if self.in_flight.as_ref().is_some_and(|c| c.id == *id) {
                    let is_read = self
                        .in_flight
                        .as_ref()
                        .is_some_and(|c| matches!(c.op, KvOp::Get { .. } | KvOp::Range { .. }));
                    let outcome = if is_read {
                        Outcome::Failed
                    } else {
                        Outcome::Indeterminate
                    };
                    self.finish(ctx, outcome);
                }
            }
            Event::Message { msg, .. } => {
                if let Some(resp) = msg.downcast_ref::<EtcdResponse>()
                    && self.in_flight.as_ref().is_some_and(|c| c.id == resp.id)
                {
                    let outcome = match &resp.result {
                        Ok(result) => Outcome::Ok(result.clone()),
                        Err(_) => Outcome::Failed,
                    };
                    self.finish(ctx, outcome);
                }
            }
            Event::Timer { .. }
            | Event::Refused { .. }
            | Event::Closed { .. }
            | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        // The process died with a call outstanding. The history is the test's record, so it
        // survives.
        if let Some(call) = self.in_flight.take() {
            self.operations.push(open_call(self.me, &call));
        }
    }
}

/// A call that never got its answer: a write may still commit (indeterminate), a read changed
/// nothing (failed).
fn open_call(client: u32, call: &InFlight) -> Operation {
    let is_read = matches!(call.op, KvOp::Get { .. } | KvOp::Range { .. });
    Operation {
        client,
        op: call.op.clone(),
        call_time: call.call.as_nanos(),
        return_time: None,
        outcome: if is_read {
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
