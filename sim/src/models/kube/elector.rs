//! Leader election of kube-scheduler and kube-controller-manager: client-go's
//! `tools/leaderelection` over a `coordination.k8s.io` Lease, through the apiserver on the
//! candidate's own host (kubeadm's `scheduler.conf` and `controller-manager.conf` point at the
//! node's own advertise address since 1.20).
//!
//! The loop, as `LeaderElector` runs it (client-go v0.29-v0.32, read at the tags):
//! - **acquire**: `wait.JitterUntil(tryAcquireOrRenew, RetryPeriod, 1.2, sliding)`: a try at
//!   once, then `RetryPeriod x (1 + 1.2 x rand)` after the last try finished, until one
//!   succeeds. A standby has no deadline.
//! - **renew**: `wait.Until(RetryPeriod)` over a poll every `RetryPeriod` inside a
//!   `RenewDeadline` context: right after acquiring a try at once, then one `RetryPeriod`
//!   after each success. Once a try fails, the round's poll ticks every `RetryPeriod` from the
//!   round's start (a tick that comes while a try runs is dropped, as in v0.32's
//!   `PollUntilContextTimeout`) until `RenewDeadline` from the round's start: then
//!   leadership is lost. The leader never looks at the lease duration itself.
//! - **tryAcquireOrRenew**: a leader whose lease is still valid by its own clock first PUTs
//!   its renewal directly (the v0.30 fast path) and falls back to the slow path on any error.
//!   The slow path GETs the Lease (creating it if absent). If its record changed since last
//!   seen, it is noted with the local time (`observedTime`); another holder's lease counts as
//!   valid until `observedTime + leaseDurationSeconds` (an empty holder not at all). Otherwise
//!   the candidate PUTs itself as holder (`acquireTime` kept on a renewal, `leaseTransitions`
//!   plus one on a takeover), conditional on the `resourceVersion` read; a conflict or any
//!   error fails the try.
//! - Every request has the leader-election client's timeout, `max(1 s, RenewDeadline / 2)`
//!   (5 s), and a refused connection fails at once.
//! - kube-scheduler releases the lease (`ReleaseOnCancel`: an empty holder with a 1 s
//!   duration) when it stops leading, on SIGTERM and after a lost renewal, before it exits;
//!   kube-controller-manager does not. Losing leadership ends the process; the kubelet
//!   restarts the static pod's container (the first time at once, then after 10 s, 20 s, ...
//!   up to 300 s), and the new process has a new identity (`hostname_<uuid>`), so it waits a
//!   whole lease duration from its first GET like any standby.

use rand::Rng;

use super::api::{
    ApiError, ApiOp, ApiRequest, ApiResponse, LEADER_NAMESPACE, LeaseObject, LeaseRecord, typed,
};
use super::facts::LeaderChange;
use crate::engine::{Ctx, Event, Model, SimDuration, SimTime, TimerId};
use crate::models::vip::APISERVER_MODEL;
use crate::models::vip::msg::HttpAccepted;

/// client-go's acquire jitter factor (`JitterFactor = 1.2`).
pub const ACQUIRE_JITTER: f64 = 1.2;
/// The kubelet's crash back-off after the first restart (10 s, doubling, `backOffPeriod` in
/// `pkg/kubelet/kubelet.go`); the first restart of a container is immediate.
pub const RESTART_BACKOFF: SimDuration = SimDuration::from_secs(10);
/// The longest crash back-off (`MaxContainerBackOff`, 300 s).
pub const MAX_RESTART_BACKOFF: SimDuration = SimDuration::from_secs(300);
/// How soon the kubelet notices a container exited: its PLEG relists every second.
pub const EXIT_DETECTION: SimDuration = SimDuration::from_secs(1);
/// Shortest per-request timeout of the leader-election client (`max(1 s, RenewDeadline/2)`).
const MIN_REQUEST_TIMEOUT: SimDuration = SimDuration::from_secs(1);

/// One candidate's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectorConfig {
    /// The Lease's name (`kube-scheduler`, `kube-controller-manager`).
    pub lease: String,
    /// `leaseDuration`.
    pub lease_duration: SimDuration,
    /// `renewDeadline`.
    pub renew_deadline: SimDuration,
    /// `retryPeriod`.
    pub retry_period: SimDuration,
    /// `ReleaseOnCancel` (kube-scheduler sets it, kube-controller-manager does not).
    pub release_on_cancel: bool,
}

impl ElectorConfig {
    /// `lease` with the topology's leader-election timers.
    pub fn from_topology(lease: &str, le: &topology::LeaderElection) -> Self {
        let s = |v: u32| SimDuration::from_secs(u64::from(v));
        ElectorConfig {
            lease: lease.to_owned(),
            lease_duration: s(le.lease_duration_seconds),
            renew_deadline: s(le.renew_deadline_seconds),
            retry_period: s(le.retry_period_seconds),
            release_on_cancel: lease == "kube-scheduler",
        }
    }

    /// The leader-election client's per-request timeout: `max(1 s, RenewDeadline / 2)`.
    pub fn request_timeout(&self) -> SimDuration {
        SimDuration::from_nanos(self.renew_deadline.as_nanos() / 2).max(MIN_REQUEST_TIMEOUT)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ElectorTimer {
    /// Time for the next try.
    Try,
    /// Request `id` ran out of time.
    RequestTimeout(u64),
    /// The renew round started at this generation ran out of time.
    RenewDeadline(u64),
    /// The kubelet starts the container again.
    Restart,
}

/// What a process does while it leads (kube-controller-manager's controllers,
/// kube-scheduler's scheduling loop). Its requests use ids from `1 << 40` up and its
/// sub-machines ports other than the main one, so events tell apart.
pub trait LeaderWork: std::fmt::Debug {
    /// Leadership was won.
    fn start(&mut self, ctx: &mut Ctx<'_>);
    /// Leadership was lost, or the process died: forget everything.
    fn stop(&mut self);
    /// Takes `event` if it is the work's own, or hands it back.
    fn offer<'e>(&mut self, ctx: &mut Ctx<'_>, event: Event<'e>) -> Result<(), Event<'e>>;
}

/// Where a try is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Waiting for the fast path's direct renewal.
    FastPut,
    /// Waiting for the GET.
    Get,
    /// Waiting for the write of this record.
    Put(LeaseRecord),
    /// Waiting for the release before the process exits.
    Release,
}

/// The process's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Trying to acquire.
    Standby,
    /// Holding the lease.
    Leading,
    /// Releasing the lease on its way out.
    Releasing,
    /// Exited after losing the lease; the kubelet restarts it.
    Restarting,
}

/// A kube-scheduler or kube-controller-manager process, as far as leader election goes.
#[derive(Debug)]
pub struct LeaderCandidate {
    config: ElectorConfig,
    phase: Phase,
    /// The record last seen and when (`observedRecord`, `observedTime`).
    observed: Option<(LeaseObject, SimTime)>,
    identity: String,
    /// Process starts so far: a new process gets a new identity.
    starts: u64,
    next_request: u64,
    in_flight: Option<(u64, Step)>,
    try_timer: Option<TimerId>,
    /// When the current failing renew round started, and its generation.
    renew_round: Option<(SimTime, u64)>,
    rounds: u64,
    /// When each try started.
    try_started: SimTime,
    /// Exits so far (the kubelet's back-off grows with them).
    exits: u32,
    /// SIGTERM is being handled.
    terminating: bool,
    /// What runs while this process leads, if anything.
    work: Option<Box<dyn LeaderWork>>,
}

impl LeaderCandidate {
    /// A candidate with `config`.
    pub fn new(config: ElectorConfig) -> Self {
        LeaderCandidate {
            config,
            phase: Phase::Standby,
            observed: None,
            identity: String::new(),
            starts: 0,
            next_request: 0,
            in_flight: None,
            try_timer: None,
            renew_round: None,
            rounds: 0,
            try_started: SimTime::ZERO,
            exits: 0,
            terminating: false,
            work: None,
        }
    }

    /// A candidate that, while it leads, also runs `work`.
    pub fn with_work(config: ElectorConfig, work: Box<dyn LeaderWork>) -> Self {
        LeaderCandidate {
            work: Some(work),
            ..LeaderCandidate::new(config)
        }
    }

    /// Its phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Its identity (the Lease's `holderIdentity` while it leads).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn is_leader(&self) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|(o, _)| o.object.holder == self.identity)
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.starts += 1;
        let host = ctx.directory().host_name(ctx.host()).to_owned();
        self.identity = format!("{host}_{}", self.starts);
        self.phase = Phase::Standby;
        self.observed = None;
        self.in_flight = None;
        self.renew_round = None;
        self.schedule_try(ctx, SimDuration::ZERO);
    }

    fn schedule_try(&mut self, ctx: &mut Ctx<'_>, after: SimDuration) {
        if let Some(t) = self.try_timer.take() {
            ctx.cancel_timer(t);
        }
        self.try_timer = Some(ctx.set_timer(after, ElectorTimer::Try));
    }

    fn send(&mut self, ctx: &mut Ctx<'_>, op: ApiOp, step: Step) {
        self.next_request += 1;
        let id = self.next_request;
        self.in_flight = Some((id, step));
        ctx.set_timer(
            self.config.request_timeout(),
            ElectorTimer::RequestTimeout(id),
        );
        if let Some(api) = ctx.directory().actor_on(ctx.host(), APISERVER_MODEL) {
            ctx.send(api, ApiRequest { id, op });
        }
    }

    fn begin_try(&mut self, ctx: &mut Ctx<'_>) {
        self.try_timer = None;
        if self.in_flight.is_some() || self.phase == Phase::Restarting {
            return;
        }
        self.try_started = ctx.now();
        if self.is_leader() && self.lease_valid(ctx.now()) {
            let (obj, _) = self
                .observed
                .clone()
                .expect("a leader has observed its lease");
            let op = ApiOp::put(
                LEADER_NAMESPACE,
                &self.config.lease,
                &self.record(ctx.now(), Some(&obj.object)),
                Some(obj.resource_version),
            );
            self.send(ctx, op, Step::FastPut);
        } else {
            self.get(ctx);
        }
    }

    fn get(&mut self, ctx: &mut Ctx<'_>) {
        let op = ApiOp::get::<LeaseRecord>(LEADER_NAMESPACE, &self.config.lease);
        self.send(ctx, op, Step::Get);
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_>, resp: &ApiResponse) {
        let Some((id, step)) = self.in_flight.clone() else {
            return;
        };
        if id != resp.id {
            return;
        }
        self.in_flight = None;
        let now = ctx.now();
        match (step, &typed::<LeaseRecord>(&resp.result)) {
            (Step::Get, Err(ApiError::NotFound)) => {
                let record = self.record(now, None);
                let op = ApiOp::put(LEADER_NAMESPACE, &self.config.lease, &record, None);
                self.send(ctx, op, Step::Put(record));
            }
            (Step::Get, Ok(obj)) => {
                let changed = self
                    .observed
                    .as_ref()
                    .is_none_or(|(o, _)| o.resource_version != obj.resource_version);
                if changed {
                    self.observed = Some((obj.clone(), now));
                }
                let held_elsewhere =
                    !obj.object.holder.is_empty() && !self.is_leader() && self.lease_valid(now);
                if held_elsewhere {
                    self.finish_try(ctx, false);
                    return;
                }
                let record = self.record(now, Some(&obj.object));
                let op = ApiOp::put(
                    LEADER_NAMESPACE,
                    &self.config.lease,
                    &record,
                    Some(obj.resource_version),
                );
                self.send(ctx, op, Step::Put(record));
            }
            (Step::Put(_) | Step::FastPut, Ok(obj)) => {
                self.observed = Some((obj.clone(), now));
                self.finish_try(ctx, true);
            }
            // The fast path failed: the slow path, in the same try.
            (Step::FastPut, Err(_)) => self.get(ctx),
            (Step::Release, _) => self.exit(ctx),
            (_, Err(_)) => self.finish_try(ctx, false),
        }
    }

    /// `observedTime + leaseDuration` is still ahead.
    fn lease_valid(&self, now: SimTime) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|(o, at)| *at + o.object.duration > now)
    }

    /// The record this candidate writes, on top of `old`.
    fn record(&self, now: SimTime, old: Option<&LeaseRecord>) -> LeaseRecord {
        let mine = old.is_some_and(|o| o.holder == self.identity);
        LeaseRecord {
            holder: self.identity.clone(),
            duration: self.config.lease_duration,
            acquired: if mine {
                old.map_or(now, |o| o.acquired)
            } else {
                now
            },
            renewed: now,
            transitions: match old {
                Some(o) if mine => o.transitions,
                Some(o) => o.transitions + 1,
                None => 0,
            },
        }
    }

    fn finish_try(&mut self, ctx: &mut Ctx<'_>, ok: bool) {
        match (self.phase, ok) {
            (Phase::Standby, true) => {
                self.phase = Phase::Leading;
                self.leading_fact(ctx, true);
                if let Some(w) = self.work.as_mut() {
                    w.start(ctx);
                }
                // renew() starts with a try at once.
                self.renew_round = None;
                self.schedule_try(ctx, SimDuration::ZERO);
            }
            (Phase::Standby, false) => {
                let jitter = ctx.rng().random::<f64>() * ACQUIRE_JITTER;
                let wait = SimDuration::from_nanos(
                    (self.config.retry_period.as_nanos() as f64 * (1.0 + jitter)) as u64,
                );
                self.schedule_try(ctx, wait);
            }
            (Phase::Leading, true) => {
                self.renew_round = None;
                self.schedule_try(ctx, self.config.retry_period);
            }
            (Phase::Leading, false) => {
                if self.renew_round.is_none() {
                    self.rounds += 1;
                    self.renew_round = Some((self.try_started, self.rounds));
                    let ends = self.try_started + self.config.renew_deadline;
                    let left = ends.saturating_since(ctx.now());
                    ctx.set_timer(left, ElectorTimer::RenewDeadline(self.rounds));
                }
                // The round's poll ticks every RetryPeriod from its start; ticks that came
                // while this try ran are dropped.
                let (start, _) = self.renew_round.unwrap_or((self.try_started, 0));
                let period = self.config.retry_period.as_nanos().max(1);
                let elapsed = ctx.now().saturating_since(start).as_nanos();
                let next = start + SimDuration::from_nanos((elapsed / period + 1) * period);
                self.schedule_try(ctx, next.saturating_since(ctx.now()));
            }
            (Phase::Releasing | Phase::Restarting, _) => {}
        }
    }

    /// The renew round ran out: leadership is lost and the process exits, releasing the
    /// lease first if it is configured to.
    fn lose(&mut self, ctx: &mut Ctx<'_>) {
        self.leading_fact(ctx, false);
        self.in_flight = None;
        self.renew_round = None;
        if let Some(t) = self.try_timer.take() {
            ctx.cancel_timer(t);
        }
        if self.config.release_on_cancel {
            self.release(ctx);
        } else {
            self.exit(ctx);
        }
    }

    /// `release()`: an empty holder with a one-second lease, if this process still holds it.
    fn release(&mut self, ctx: &mut Ctx<'_>) {
        self.phase = Phase::Releasing;
        let Some((obj, _)) = self.observed.clone().filter(|_| self.is_leader()) else {
            self.exit(ctx);
            return;
        };
        let now = ctx.now();
        let record = LeaseRecord {
            holder: String::new(),
            duration: SimDuration::from_secs(1),
            acquired: now,
            renewed: now,
            transitions: obj.object.transitions,
        };
        let rv = Some(obj.resource_version);
        let op = ApiOp::put(LEADER_NAMESPACE, &self.config.lease, &record, rv);
        self.send(ctx, op, Step::Release);
    }

    /// The process exits (`klog.FlushAndExit`); the kubelet notices and restarts it after
    /// its back-off.
    fn exit(&mut self, ctx: &mut Ctx<'_>) {
        if self.terminating {
            // Stopped by SIGTERM: the process ends here, the engine restarts it on request.
            self.terminating = false;
            ctx.exit();
            return;
        }
        self.phase = Phase::Restarting;
        self.in_flight = None;
        let backoff = match self.exits {
            0 => SimDuration::ZERO,
            n => {
                let doubled = RESTART_BACKOFF
                    .as_nanos()
                    .saturating_mul(1 << (n - 1).min(16));
                SimDuration::from_nanos(doubled).min(MAX_RESTART_BACKOFF)
            }
        };
        self.exits += 1;
        ctx.set_timer(EXIT_DETECTION + backoff, ElectorTimer::Restart);
    }

    fn leading_fact(&mut self, ctx: &mut Ctx<'_>, leading: bool) {
        if !leading && let Some(w) = self.work.as_mut() {
            w.stop();
        }
        ctx.fact(LeaderChange {
            lease: self.config.lease.clone(),
            identity: self.identity.clone(),
            leading,
        });
    }
}

impl Model for LeaderCandidate {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        // The work sees its events whether or not this process leads now: late answers and
        // timers of an earlier term are its to drop (by port, id and generation), so the
        // election never mistakes them for its own.
        let event = match self.work.as_mut() {
            Some(w) if !matches!(event, Event::Start { .. }) => match w.offer(ctx, event) {
                Ok(()) => return,
                Err(e) => e,
            },
            _ => event,
        };
        match event {
            Event::Start { .. } => self.start(ctx),
            Event::Timer { id, tag } => match tag.downcast_ref::<ElectorTimer>() {
                Some(ElectorTimer::Try) if Some(id) == self.try_timer => self.begin_try(ctx),
                Some(ElectorTimer::RequestTimeout(req))
                    if self.in_flight.as_ref().is_some_and(|(r, _)| r == req) =>
                {
                    let failed = ApiResponse {
                        id: *req,
                        result: Err(ApiError::Timeout),
                    };
                    self.on_response(ctx, &failed);
                }
                Some(ElectorTimer::RenewDeadline(round))
                    if self.phase == Phase::Leading
                        && self.renew_round.is_some_and(|(_, r)| r == *round) =>
                {
                    self.lose(ctx);
                }
                Some(ElectorTimer::Restart) if self.phase == Phase::Restarting => self.start(ctx),
                _ => {}
            },
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiResponse>() {
                    self.on_response(ctx, r);
                } else if msg.downcast_ref::<HttpAccepted>().is_some() {
                    // The connection is up; the request's own timeout keeps running.
                }
            }
            Event::Refused { msg, .. } => {
                // The local apiserver is not listening: the try fails at once.
                if let Some(r) = msg.downcast_ref::<ApiRequest>()
                    && self.in_flight.as_ref().is_some_and(|(id, _)| *id == r.id)
                {
                    let failed = ApiResponse {
                        id: r.id,
                        result: Err(ApiError::Storage("connection refused".to_owned())),
                    };
                    self.on_response(ctx, &failed);
                }
            }
            Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        if let Some(w) = self.work.as_mut() {
            w.stop();
        }
        self.phase = Phase::Standby;
        self.observed = None;
        self.in_flight = None;
        self.try_timer = None;
        self.renew_round = None;
        self.terminating = false;
    }

    /// SIGTERM: a leader with `ReleaseOnCancel` releases the lease before it exits; anyone
    /// else exits at once.
    fn terminate(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.phase == Phase::Leading && self.config.release_on_cancel {
            self.leading_fact(ctx, false);
            self.in_flight = None;
            self.terminating = true;
            self.release(ctx);
            true
        } else {
            false
        }
    }
}
