//! An etcd client session as clientv3 (3.4 and 3.5) runs one, as a sub-machine that a model
//! embeds on a port of its own (the workload client today, an apiserver next).
//!
//! What it does, and where each rule comes from:
//! - **One connection per endpoint**, each in one of gRPC's states: connecting (a handshake is
//!   out), READY, or transient failure (waiting out the reconnect backoff). A dead process
//!   refuses the handshake; a paused one or a cut-off host never answers, and the attempt
//!   gives up after gRPC's minimum connect timeout. A READY connection is lost when the
//!   member's process dies (the kernel's reset, `Event::Closed`), when a request on it is
//!   refused, or when a keepalive ping goes unanswered; a paused member's connection stays
//!   READY (its sockets stay open) unless keepalive is on.
//! - **Round-robin per call over READY connections** (3.4's `etcd-picker-roundrobin-balanced`,
//!   3.5's gRPC `round_robin`), several calls in flight at once; with no READY connection a call
//!   waits for one (clientv3 sets `grpc.WaitForReady(true)`, `clientv3/options.go`).
//! - **Retries** as clientv3's unary interceptor makes them (`clientv3/retry_interceptor.go`,
//!   `retry.go`): up to [`UNARY_MAX_RETRIES`], each to the next picked endpoint, with
//!   `roundRobinQuorumBackoff(25 ms, 10 %)` between attempts. Reads (`Range`) are retried on any
//!   gRPC `Unavailable` answer; writes (`Put`, `DeleteRange`, `Txn`) only when the request
//!   never reached a server (here: it was refused, or its connection broke before it went out).
//! - **Deadlines are the caller's**: clientv3 sets none of its own. When one passes, a write
//!   that reached a member may still commit, and the failure says so.
//! - **Watches** from a revision, served by whichever member the stream lands on (from its own
//!   applied history) and resumed on another member from the first revision not yet reported
//!   when the stream breaks.
//!
//! [`Balancer::FailoverOnError`] is the other way a client can use endpoints, and the one the
//! differential test's real half uses: one `etcdctl --endpoints=<one member>` per call, moving
//! to the next member after a call fails or times out (no connections kept between calls).

use std::collections::{BTreeMap, VecDeque};

mod backoff;
mod conn;
mod lease;
mod watch;

use rand::Rng;

use super::messages::{
    ConnPing, ConnPong, EtcdError, EtcdRequest, EtcdResponse, LeaseOp, LeaseRequest, LeaseResponse,
    LeaseResult, ReadMode, WatchCreate, WatchEvents,
};
use crate::engine::{ActorId, Ctx, Event, SimDuration, SubMachine, TimerId};
use crate::models::kv::{KvEvent, KvOp, KvResult};

/// `defaultUnaryMaxRetries` in clientv3's `options.go` (3.4, 3.5): 100.
pub const UNARY_MAX_RETRIES: u32 = 100;
/// `defaultBackoffWaitBetween` in clientv3's `options.go`: 25 ms between retry rounds.
pub const RETRY_WAIT: SimDuration = SimDuration::from_millis(25);
/// `defaultBackoffJitterFraction` in clientv3's `options.go`: 0.10.
const RETRY_JITTER: f64 = 0.10;
/// gRPC's connection backoff (`grpc/doc/connection-backoff.md`, grpc-go
/// `backoff.DefaultConfig`): the first reconnect waits 1 s ...
pub const CONNECT_BACKOFF_BASE: SimDuration = SimDuration::from_secs(1);
/// ... each later one 1.6 times longer ...
const CONNECT_BACKOFF_MULTIPLIER: f64 = 1.6;
/// ... with ±20 % jitter ...
const CONNECT_BACKOFF_JITTER: f64 = 0.2;
/// ... up to 120 s.
pub const CONNECT_BACKOFF_MAX: SimDuration = SimDuration::from_secs(120);
/// gRPC's `MIN_CONNECT_TIMEOUT` (same document, grpc-go `minConnectTimeout`): 20 s for one
/// connection attempt to a host that does not answer.
pub const MIN_CONNECT_TIMEOUT: SimDuration = SimDuration::from_secs(20);

/// How the session spreads calls over the endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balancer {
    /// clientv3: a connection per endpoint, each call (and retry) to the next READY one.
    RoundRobin,
    /// One endpoint at a time, no connection kept: each call goes to the current endpoint and
    /// a failed or timed-out call moves the session to the next (`etcdctl --endpoints=<one>`
    /// per call, as the differential test's real clients run it).
    FailoverOnError,
}

/// gRPC client keepalive: a ping after `time` without hearing from the member, and the
/// connection dropped when no answer comes within `timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Quiet time before a ping (`DialKeepAliveTime`).
    pub time: SimDuration,
    /// How long the ping may go unanswered (`DialKeepAliveTimeout`).
    pub timeout: SimDuration,
}

impl Keepalive {
    /// kube-apiserver's etcd client: keepalive time 30 s, timeout 10 s
    /// (`k8s.io/apiserver/pkg/storage/storagebackend/factory/etcd3.go`). clientv3 itself
    /// defaults to no keepalive (`DialKeepAliveTime` 0).
    pub const KUBE_APISERVER: Keepalive = Keepalive {
        time: SimDuration::from_secs(30),
        timeout: SimDuration::from_secs(10),
    };
}

/// How a session behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// How calls are spread over endpoints.
    pub balancer: Balancer,
    /// Keepalive pings on READY connections, if any.
    pub keepalive: Option<Keepalive>,
    /// Retries per call after the first attempt.
    pub max_retries: u32,
}

impl Default for SessionConfig {
    /// clientv3's defaults: round-robin, no keepalive, 100 retries.
    fn default() -> Self {
        SessionConfig {
            balancer: Balancer::RoundRobin,
            keepalive: None,
            max_retries: UNARY_MAX_RETRIES,
        }
    }
}

/// A call's handle, unique within one session's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Why a call failed, as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The member answered with an error.
    Server(EtcdError),
    /// The caller's deadline passed first.
    DeadlineExceeded,
    /// The connection the request went out on broke before an answer came.
    ConnectionClosed,
    /// The member's host refused the request (nothing listens there), and no retry was left.
    Refused,
}

/// A failed call: why, and whether its write may still be applied (the history checker must
/// then treat it as indeterminate, not as failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFailure {
    /// Why.
    pub error: CallError,
    /// True when some attempt reached a member and no answer ruled the write out.
    pub may_have_applied: bool,
}

/// A watch's handle, unique within one session's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WatchId(pub u64);

/// What the session reports to its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// A call finished.
    Done {
        /// Which.
        call: CallId,
        /// Its answer, or why it failed.
        result: Result<KvResult, CallFailure>,
    },
    /// A lease call (grant, revoke) finished.
    LeaseDone {
        /// Which.
        call: CallId,
        /// Its answer, or why it failed.
        result: Result<LeaseResult, CallFailure>,
    },
    /// A lease kept alive with [`EtcdSession::keep_alive`] is gone: the leader no longer has
    /// it, or no renewal came for a whole TTL.
    LeaseLost {
        /// The lease.
        lease: i64,
    },
    /// A watch saw changes (in revision order, none missed or repeated across stream breaks).
    Watch {
        /// Which.
        watch: WatchId,
        /// What changed.
        events: Vec<KvEvent>,
    },
}

/// A lease the session keeps alive.
#[derive(Clone, Debug)]
struct KeptLease {
    ttl: SimDuration,
    /// When the last renewal was answered.
    renewed: crate::engine::SimTime,
    /// The keepalive call out, if any.
    call: Option<CallId>,
}

/// A watch and the stream that currently carries it.
#[derive(Clone, Debug)]
struct Watch {
    prefix: String,
    /// The first revision not yet seen: where a new stream resumes.
    next_rev: i64,
    /// (wire id, endpoint) of the open stream, if any.
    stream: Option<(u64, usize)>,
}

/// The session's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionTimer {
    /// The caller's deadline for a call.
    Deadline(CallId),
    /// A call's retry backoff is over.
    Retry(CallId),
    /// A connection attempt's minimum connect timeout.
    ConnectTimeout { endpoint: usize, seq: u64 },
    /// Time to try connecting again after a failure.
    Reconnect { endpoint: usize },
    /// Time to check whether a keepalive ping is due.
    Keepalive { endpoint: usize },
    /// Time for the next keepalive of a lease.
    LeaseKeepAlive(i64),
    /// A keepalive ping's answer is overdue.
    KeepaliveTimeout { endpoint: usize, seq: u64 },
}

/// One endpoint's connection, as gRPC's subconnection states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conn {
    /// A handshake (`seq`) is out.
    Connecting { seq: u64 },
    /// Usable.
    Ready,
    /// Waiting for the reconnect timer.
    TransientFailure,
}

#[derive(Clone, Debug)]
struct EndpointState {
    actor: ActorId,
    conn: Conn,
    /// Connection attempts that failed since the last success (gRPC's backoff index).
    failures: u32,
    /// When the member was last heard on this connection.
    last_heard: crate::engine::SimTime,
    /// The keepalive ping out, if any.
    ping: Option<u64>,
}

/// The attempt of a call that is out.
#[derive(Clone, Copy, Debug)]
struct Attempt {
    wire: u64,
    endpoint: usize,
}

/// What a call asks.
#[derive(Clone, Debug)]
enum CallOp {
    /// A key-value call; a put may attach its key to a lease.
    Kv {
        op: KvOp,
        read: ReadMode,
        lease: Option<i64>,
    },
    /// A lease call.
    Lease(LeaseOp),
}

/// A finished call's answer.
enum Answer {
    Kv(KvResult),
    Lease(LeaseResult),
}

#[derive(Clone, Debug)]
struct Call {
    op: CallOp,
    /// The lease this call keeps alive, for the session's own keepalive calls.
    keepalive: Option<i64>,
    attempt: Option<Attempt>,
    attempts: u32,
    /// An earlier attempt ended without ruling out that the write was applied.
    uncertain: bool,
    /// The endpoint of the latest attempt (where a failover session moves on from).
    last_endpoint: Option<usize>,
    deadline: TimerId,
}

impl Call {
    /// `Range` and `Get` are repeatable; `Put`, `DeleteRange` and `Txn` are not (clientv3's
    /// `nonRepeatable` retry policy, even for a txn that only reads).
    /// Lease calls (`LeaseGrant`, `LeaseRevoke`, `LeaseKeepAlive`) are repeatable too.
    fn repeatable(&self) -> bool {
        match &self.op {
            CallOp::Kv { op, .. } => op.is_read(),
            CallOp::Lease(_) => true,
        }
    }
}

/// One clientv3 session over a fixed set of members.
#[derive(Debug)]
pub struct EtcdSession {
    config: SessionConfig,
    endpoints: Vec<EndpointState>,
    /// Round-robin position (RoundRobin) or the current endpoint (FailoverOnError).
    next: usize,
    calls: BTreeMap<CallId, Call>,
    /// Wire request id -> call.
    by_wire: BTreeMap<u64, CallId>,
    /// Calls waiting for a READY connection, oldest first.
    waiting: VecDeque<CallId>,
    next_call: u64,
    next_wire: u64,
    next_seq: u64,
    /// Reports for the parent, handed over at the end of each event.
    outbox: Vec<SessionEvent>,
    watches: BTreeMap<WatchId, Watch>,
    /// Stream wire id -> watch.
    watch_wires: BTreeMap<u64, WatchId>,
    /// Watches waiting for a READY connection.
    waiting_watches: Vec<WatchId>,
    next_watch: u64,
    /// Leases kept alive, by id.
    kept: BTreeMap<i64, KeptLease>,
}

impl EtcdSession {
    /// A session that does nothing until [`EtcdSession::start`].
    pub fn new(config: SessionConfig) -> Self {
        EtcdSession {
            config,
            endpoints: Vec::new(),
            next: 0,
            calls: BTreeMap::new(),
            by_wire: BTreeMap::new(),
            waiting: VecDeque::new(),
            next_call: 0,
            next_wire: 0,
            next_seq: 0,
            outbox: Vec::new(),
            watches: BTreeMap::new(),
            watch_wires: BTreeMap::new(),
            waiting_watches: Vec::new(),
            next_watch: 0,
            kept: BTreeMap::new(),
        }
    }

    /// Starts over against `members` (in the order the caller prefers them): forgets every
    /// call and connection and, for round-robin, dials every member.
    pub fn start(&mut self, ctx: &mut Ctx<'_>, members: &[ActorId]) {
        self.reset();
        let now = ctx.now();
        self.endpoints = members
            .iter()
            .map(|&actor| EndpointState {
                actor,
                conn: Conn::TransientFailure,
                failures: 0,
                last_heard: now,
                ping: None,
            })
            .collect();
        if self.config.balancer == Balancer::RoundRobin {
            for endpoint in 0..self.endpoints.len() {
                self.dial(ctx, endpoint);
            }
        }
    }

    /// Forgets everything (the process holding the session died).
    pub fn reset(&mut self) {
        self.endpoints.clear();
        self.calls.clear();
        self.by_wire.clear();
        self.waiting.clear();
        self.watches.clear();
        self.watch_wires.clear();
        self.waiting_watches.clear();
        self.kept.clear();
        self.next = 0;
    }

    /// Starts a call that fails with `DeadlineExceeded` unless answered within `deadline`.
    pub fn call(
        &mut self,
        ctx: &mut Ctx<'_>,
        op: KvOp,
        read: ReadMode,
        deadline: SimDuration,
    ) -> CallId {
        let op = CallOp::Kv {
            op,
            read,
            lease: None,
        };
        self.start_call(ctx, op, None, deadline)
    }

    fn start_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        op: CallOp,
        keepalive: Option<i64>,
        deadline: SimDuration,
    ) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        let deadline = ctx.set_timer(deadline, SessionTimer::Deadline(id));
        self.calls.insert(
            id,
            Call {
                op,
                keepalive,
                attempt: None,
                attempts: 0,
                uncertain: false,
                last_endpoint: None,
                deadline,
            },
        );
        self.dispatch(ctx, id);
        id
    }

    /// The endpoint the next call goes to, if one can take it now.
    fn pick(&mut self) -> Option<usize> {
        let n = self.endpoints.len();
        if n == 0 {
            return None;
        }
        match self.config.balancer {
            Balancer::FailoverOnError => Some(self.next % n),
            Balancer::RoundRobin => {
                let found = (0..n)
                    .map(|i| (self.next + i) % n)
                    .find(|&i| self.endpoints[i].conn == Conn::Ready)?;
                self.next = found + 1;
                Some(found)
            }
        }
    }

    fn dispatch(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(endpoint) = self.pick() else {
            self.waiting.push_back(id);
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let wire = self.next_wire;
        self.next_wire += 1;
        call.attempt = Some(Attempt { wire, endpoint });
        call.last_endpoint = Some(endpoint);
        call.attempts += 1;
        self.by_wire.insert(wire, id);
        let to = self.endpoints[endpoint].actor;
        match &call.op {
            CallOp::Kv { op, read, lease } => ctx.send(
                to,
                EtcdRequest {
                    id: wire,
                    op: op.clone(),
                    read: *read,
                    lease: *lease,
                },
            ),
            CallOp::Lease(op) => ctx.send(
                to,
                LeaseRequest {
                    id: wire,
                    op: op.clone(),
                },
            ),
        }
    }

    /// Tries `id` again if retries are left, after clientv3's backoff: none within a round of
    /// `quorum` attempts, 25 ms (±10 %) between rounds (`roundRobinQuorumBackoff`).
    fn retry(&mut self, ctx: &mut Ctx<'_>, id: CallId, last_error: CallError) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.attempts > self.config.max_retries {
            let uncertain = call.uncertain;
            self.fail(ctx, id, last_error, uncertain);
            return;
        }
        let quorum = (self.endpoints.len() / 2 + 1).max(1) as u32;
        if call.attempts % quorum == 0 {
            let jitter = RETRY_JITTER * (ctx.rng().random::<f64>() * 2.0 - 1.0);
            let wait = backoff::scale(RETRY_WAIT, 1.0 + jitter);
            ctx.set_timer(wait, SessionTimer::Retry(id));
        } else {
            self.dispatch(ctx, id);
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, id: CallId) -> Option<Call> {
        let call = self.calls.remove(&id)?;
        if let Some(a) = call.attempt {
            self.by_wire.remove(&a.wire);
        }
        self.waiting.retain(|w| *w != id);
        ctx.cancel_timer(call.deadline);
        Some(call)
    }

    fn fail(&mut self, ctx: &mut Ctx<'_>, id: CallId, error: CallError, may_have_applied: bool) {
        let Some(call) = self.finish(ctx, id) else {
            return;
        };
        if self.config.balancer == Balancer::FailoverOnError
            && let Some(endpoint) = call.last_endpoint
        {
            self.next = endpoint + 1;
        }
        let may_have_applied = !call.repeatable() && (may_have_applied || call.uncertain);
        let failure = CallFailure {
            error,
            may_have_applied,
        };
        match (&call.op, call.keepalive) {
            (_, Some(lease)) => self.keepalive_answered(lease, Err(failure), ctx.now()),
            (CallOp::Lease(_), None) => self.outbox.push(SessionEvent::LeaseDone {
                call: id,
                result: Err(failure),
            }),
            (CallOp::Kv { .. }, None) => self.outbox.push(SessionEvent::Done {
                call: id,
                result: Err(failure),
            }),
        }
    }

    fn succeed(&mut self, ctx: &mut Ctx<'_>, id: CallId, answer: Answer) {
        let Some(call) = self.finish(ctx, id) else {
            return;
        };
        match (answer, call.keepalive) {
            (Answer::Lease(r), Some(lease)) => self.keepalive_answered(lease, Ok(r), ctx.now()),
            (Answer::Lease(result), None) => self.outbox.push(SessionEvent::LeaseDone {
                call: id,
                result: Ok(result),
            }),
            (Answer::Kv(result), _) => self.outbox.push(SessionEvent::Done {
                call: id,
                result: Ok(result),
            }),
        }
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_>, resp: &EtcdResponse) {
        let answer = resp.result.clone().map(Answer::Kv);
        self.on_answer(ctx, resp.id, answer);
    }

    fn on_lease_response(&mut self, ctx: &mut Ctx<'_>, resp: &LeaseResponse) {
        let answer = resp.result.clone().map(Answer::Lease);
        self.on_answer(ctx, resp.id, answer);
    }

    fn on_answer(&mut self, ctx: &mut Ctx<'_>, wire: u64, answer: Result<Answer, EtcdError>) {
        let Some(&id) = self.by_wire.get(&wire) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(a) = call.attempt
            && let Some(e) = self.endpoints.get_mut(a.endpoint)
        {
            e.last_heard = ctx.now();
        }
        match &answer {
            Ok(_) => {
                if let Ok(answer) = answer {
                    self.succeed(ctx, id, answer);
                }
            }
            Err(error) if error.never_started() && self.config.balancer == Balancer::RoundRobin => {
                // GOAWAY: the connection is going away and the call was never started.
                let endpoint = call.attempt.take().map(|a| {
                    self.by_wire.remove(&a.wire);
                    a.endpoint
                });
                if let Some(endpoint) = endpoint {
                    self.connection_lost(ctx, endpoint);
                }
                self.retry(ctx, id, CallError::Server(error.clone()));
            }
            Err(error) => {
                call.uncertain |= error.may_have_applied();
                if call.repeatable() && error.is_unavailable() {
                    // Round-robin retries on the next READY endpoint; a failover session
                    // (etcdctl with one endpoint) on the same one.
                    if let Some(a) = call.attempt.take() {
                        self.by_wire.remove(&a.wire);
                    }
                    self.retry(ctx, id, CallError::Server(error.clone()));
                } else {
                    self.fail(ctx, id, CallError::Server(error.clone()), false);
                }
            }
        }
    }

    /// A request of ours hit a host where no process listens: it never reached etcd.
    fn on_refused_request(&mut self, ctx: &mut Ctx<'_>, wire: u64) {
        let Some(id) = self.by_wire.remove(&wire) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(attempt) = call.attempt.take() else {
            return;
        };
        match self.config.balancer {
            // etcdctl's blocking dial keeps retrying a refused connection until its dial
            // timeout, which the real clients set to the call's deadline: the call waits for
            // its deadline, known not to have reached etcd.
            Balancer::FailoverOnError => {}
            Balancer::RoundRobin => {
                // The connection is gone first, so the retry picks another endpoint.
                self.connection_lost(ctx, attempt.endpoint);
                self.retry(ctx, id, CallError::Refused);
            }
        }
    }

    fn endpoint_of(&self, actor: ActorId) -> Option<usize> {
        self.endpoints.iter().position(|e| e.actor == actor)
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: SessionTimer) {
        match timer {
            SessionTimer::Deadline(id) => {
                let in_flight = self.calls.get(&id).is_some_and(|c| c.attempt.is_some());
                self.fail(ctx, id, CallError::DeadlineExceeded, in_flight);
            }
            SessionTimer::Retry(id) => {
                if self.calls.get(&id).is_some_and(|c| c.attempt.is_none()) {
                    self.dispatch(ctx, id);
                }
            }
            SessionTimer::ConnectTimeout { endpoint, seq } => {
                if self
                    .endpoints
                    .get(endpoint)
                    .is_some_and(|e| e.conn == Conn::Connecting { seq })
                {
                    self.connect_failed(ctx, endpoint);
                }
            }
            SessionTimer::Reconnect { endpoint } => {
                if self
                    .endpoints
                    .get(endpoint)
                    .is_some_and(|e| e.conn == Conn::TransientFailure)
                {
                    self.dial(ctx, endpoint);
                }
            }
            SessionTimer::Keepalive { endpoint } => self.keepalive_due(ctx, endpoint),
            SessionTimer::LeaseKeepAlive(lease) => self.lease_keepalive_due(ctx, lease),
            SessionTimer::KeepaliveTimeout { endpoint, seq } => {
                if self
                    .endpoints
                    .get(endpoint)
                    .is_some_and(|e| e.conn == Conn::Ready && e.ping == Some(seq))
                {
                    self.connection_lost(ctx, endpoint);
                }
            }
        }
    }
}

impl SubMachine for EtcdSession {
    type Output = SessionEvent;

    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<SessionEvent>) {
        match event {
            Event::Message { from, msg, .. } => {
                if let Some(resp) = msg.downcast_ref::<EtcdResponse>() {
                    self.on_response(ctx, resp);
                } else if let Some(pong) = msg.downcast_ref::<ConnPong>() {
                    self.on_pong(ctx, from, pong.seq);
                } else if let Some(w) = msg.downcast_ref::<WatchEvents>() {
                    self.on_watch_events(ctx, w);
                } else if let Some(l) = msg.downcast_ref::<LeaseResponse>() {
                    self.on_lease_response(ctx, l);
                }
            }
            Event::Timer { tag, .. } => {
                if let Some(timer) = tag.downcast_ref::<SessionTimer>() {
                    self.on_timer(ctx, *timer);
                }
            }
            Event::Refused { to, msg } => {
                if let Some(req) = msg.downcast_ref::<EtcdRequest>() {
                    self.on_refused_request(ctx, req.id);
                } else if let Some(req) = msg.downcast_ref::<LeaseRequest>() {
                    self.on_refused_request(ctx, req.id);
                } else if msg.downcast_ref::<WatchCreate>().is_some()
                    && let Some(endpoint) = self.endpoint_of(to.actor)
                {
                    self.connection_lost(ctx, endpoint);
                } else if msg.downcast_ref::<ConnPing>().is_some()
                    && let Some(endpoint) = self.endpoint_of(to.actor)
                {
                    match self.endpoints[endpoint].conn {
                        Conn::Connecting { .. } => self.connect_failed(ctx, endpoint),
                        Conn::Ready => self.connection_lost(ctx, endpoint),
                        Conn::TransientFailure => {}
                    }
                }
            }
            Event::Closed { peer } => {
                if let Some(endpoint) = self.endpoint_of(peer) {
                    self.connection_lost(ctx, endpoint);
                }
            }
            Event::Start { .. } | Event::Fault(_) => {}
        }
        out.append(&mut self.outbox);
    }
}
