//! Leader election of kube-scheduler and kube-controller-manager: client-go's
//! `tools/leaderelection` over a `coordination.k8s.io` Lease, through the apiserver.
//!
//! The loop, as `LeaderElector` runs it (client-go v0.29-v0.32):
//! - **acquire**: `wait.JitterUntil(tryAcquireOrRenew, RetryPeriod, 1.2, sliding)`: a try at
//!   once, then every `RetryPeriod x (1 + 1.2 x rand)` after the last try finished, until one
//!   succeeds;
//! - **renew**: `wait.Until` over `PollImmediateUntil(RetryPeriod, tryAcquireOrRenew)` inside
//!   a `RenewDeadline` context: a try at once after acquiring and every `RetryPeriod` while
//!   they succeed; once one fails, tries go on every `RetryPeriod` until `RenewDeadline` from
//!   the start of that round, and then leadership is lost;
//! - **tryAcquireOrRenew**: GET the Lease (create it if absent). If its record changed since
//!   last seen, note it with the local time (`observedTime`). Another holder's lease counts
//!   as valid until `observedTime + leaseDurationSeconds`: never by its `renewTime`, so
//!   clocks need not agree. Otherwise write the record with this candidate as holder
//!   (`acquireTime` kept on a renewal, `leaseTransitions` + 1 on a takeover), conditional on
//!   the `resourceVersion` read; a conflict fails the try.
//! - Each request carries the leader-election client's timeout, `RenewDeadline` (both
//!   components build that client with `Timeout = RenewDeadline`).
//! - Losing leadership ends the process (`OnStoppedLeading` exits); the kubelet restarts the
//!   static pod's container after its crash back-off, and the new process has a new identity
//!   (`hostname_<uuid>`), so it waits for its own old lease to expire like any standby.

use rand::Rng;

use super::api::{ApiError, ApiOp, ApiRequest, ApiResponse, LeaseObject, LeaseRecord};
use super::facts::LeaderChange;
use crate::engine::{Ctx, Event, Model, SimDuration, SimTime, TimerId};
use crate::models::vip::APISERVER_MODEL;
use crate::models::vip::msg::HttpAccepted;

/// client-go's acquire jitter factor (`JitterFactor = 1.2`).
pub const ACQUIRE_JITTER: f64 = 1.2;
/// The kubelet's first crash back-off for a container that exited (10 s,
/// `pkg/kubelet/kuberuntime`, `initialBackOff` / `backOffPeriod`).
pub const RESTART_BACKOFF: SimDuration = SimDuration::from_secs(10);

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
        }
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

/// Where a try is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Waiting for the GET.
    Get,
    /// Waiting for the write of this record.
    Put(LeaseRecord),
}

/// The process's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Trying to acquire.
    Standby,
    /// Holding the lease.
    Leading,
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
    /// Times this process acquired the lease.
    pub acquisitions: u32,
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
            acquisitions: 0,
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
            .is_some_and(|(o, _)| o.record.holder == self.identity)
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
        ctx.set_timer(self.config.renew_deadline, ElectorTimer::RequestTimeout(id));
        // kubeadm points both components at the apiserver on their own host.
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
        let op = ApiOp::GetLease {
            name: self.config.lease.clone(),
        };
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
        match (step, &resp.result) {
            (Step::Get, Err(ApiError::NotFound)) => {
                let record = self.record(now, None);
                let op = ApiOp::PutLease {
                    name: self.config.lease.clone(),
                    record: record.clone(),
                    resource_version: None,
                };
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
                    !obj.record.holder.is_empty() && !self.is_leader() && self.lease_valid(now);
                if held_elsewhere {
                    self.finish_try(ctx, false);
                    return;
                }
                let record = self.record(now, Some(&obj.record));
                let op = ApiOp::PutLease {
                    name: self.config.lease.clone(),
                    record: record.clone(),
                    resource_version: Some(obj.resource_version),
                };
                self.send(ctx, op, Step::Put(record));
            }
            (Step::Put(_), Ok(obj)) => {
                self.observed = Some((obj.clone(), now));
                self.finish_try(ctx, true);
            }
            (_, Err(_)) => self.finish_try(ctx, false),
        }
    }

    /// `observedTime + leaseDuration` is still ahead.
    fn lease_valid(&self, now: SimTime) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|(o, at)| *at + o.record.duration > now)
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
                self.acquisitions += 1;
                self.leading_fact(ctx, true);
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
                // PollImmediateUntil ticks every RetryPeriod from the round's first try.
                let next = self.try_started + self.config.retry_period;
                self.schedule_try(ctx, next.saturating_since(ctx.now()));
            }
            (Phase::Restarting, _) => {}
        }
    }

    /// The renew round ran out: leadership is lost and the process exits.
    fn lose(&mut self, ctx: &mut Ctx<'_>) {
        self.leading_fact(ctx, false);
        self.phase = Phase::Restarting;
        self.in_flight = None;
        self.renew_round = None;
        if let Some(t) = self.try_timer.take() {
            ctx.cancel_timer(t);
        }
        ctx.set_timer(RESTART_BACKOFF, ElectorTimer::Restart);
    }

    fn leading_fact(&self, ctx: &mut Ctx<'_>, leading: bool) {
        ctx.fact(LeaderChange {
            lease: self.config.lease.clone(),
            identity: self.identity.clone(),
            leading,
        });
    }
}

impl Model for LeaderCandidate {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => self.start(ctx),
            Event::Timer { id, tag } => match tag.downcast_ref::<ElectorTimer>() {
                Some(ElectorTimer::Try) if Some(id) == self.try_timer => self.begin_try(ctx),
                Some(ElectorTimer::RequestTimeout(req))
                    if self.in_flight.as_ref().is_some_and(|(r, _)| r == req) =>
                {
                    self.in_flight = None;
                    self.finish_try(ctx, false);
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
                    self.in_flight = None;
                    self.finish_try(ctx, false);
                }
            }
            Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        self.phase = Phase::Standby;
        self.observed = None;
        self.in_flight = None;
        self.try_timer = None;
        self.renew_round = None;
    }
}
