//! The kubelet's node heartbeat: its Lease in `kube-node-lease`, renewed through the API VIP
//! (kubeadm's `kubelet.conf` points at the control-plane endpoint). The lease controller, as
//! component-helpers `apimachinery/lease/controller.go` runs it (v0.29-v0.32):
//! - `JitterUntil(sync, 0.25 x nodeLeaseDurationSeconds, 0.04, sliding)`: a sync at start,
//!   then 10.0-10.4 s (at the 40 s default) after the previous one ended;
//! - a sync first PUTs the cached lease with a fresh `renewTime` (the fast path); if that
//!   fails, or nothing is cached, `backoffEnsureLease` GETs (or creates) the lease, sleeping
//!   200 ms, 400 ms, ... up to 7 s between failed tries, with no cap on their number; then
//!   `retryUpdateLease` PUTs up to 5 times back to back;
//! - every request has the heartbeat client's timeout, `min(nodeStatusUpdateFrequency,
//!   nodeLeaseDurationSeconds)` = 10 s; a refused connection fails at once.
//!
//! Its Node object (registration, the Ready condition) is [`NodeStatusSync`]'s, its pods
//! [`PodWorker`]'s; liveness probes and drains are not modelled yet.

use std::collections::BTreeMap;

use rand::Rng;

use super::api::NODE_LEASE_NAMESPACE;
use super::api::{ApiError, ApiOp, ApiRequest, ApiResponse, LeaseObject, LeaseRecord, typed};
use super::kubelet_pods::PodWorker;
use super::node_status::{NodeStatusSync, StatusTimer};
use crate::engine::{Address, Ctx, Event, Model, SimDuration, TimerId};
use crate::models::vip::HAPROXY_MODEL;

/// The lease controller's jitter factor.
pub const RENEW_JITTER: f64 = 0.04;
/// `backoffEnsureLease`'s first sleep.
pub const ENSURE_BACKOFF_START: SimDuration = SimDuration::from_millis(200);
/// `backoffEnsureLease`'s longest sleep.
pub const ENSURE_BACKOFF_MAX: SimDuration = SimDuration::from_secs(7);
/// `maxUpdateRetries`.
pub const MAX_UPDATE_RETRIES: u32 = 5;
/// `nodeStatusUpdateFrequency`, which bounds the heartbeat client's timeout.
pub const NODE_STATUS_UPDATE_FREQUENCY: SimDuration = SimDuration::from_secs(10);

/// One kubelet's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletConfig {
    /// The API VIP.
    pub vip: Address,
    /// `nodeLeaseDurationSeconds`.
    pub lease_duration: SimDuration,
    /// Each workload's readiness delay (see [`super::kubelet_pods::ready_after`]), by
    /// (namespace, name).
    pub ready_delays: BTreeMap<(String, String), SimDuration>,
}

impl KubeletConfig {
    /// The renew interval: a quarter of the lease duration.
    pub fn renew_interval(&self) -> SimDuration {
        SimDuration::from_nanos(self.lease_duration.as_nanos() / 4)
    }

    /// The heartbeat client's per-request timeout.
    pub fn request_timeout(&self) -> SimDuration {
        NODE_STATUS_UPDATE_FREQUENCY.min(self.lease_duration)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KubeletTimer {
    /// Time for the next sync.
    Sync,
    /// `backoffEnsureLease` tries again.
    Ensure,
    /// Request `id` ran out of time.
    Timeout(u64),
}

/// Where a sync is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The fast path's PUT.
    Fast,
    /// `backoffEnsureLease`'s GET (or create).
    Ensure,
    /// `retryUpdateLease`'s PUT number `n`.
    Update(u32),
}

/// The kubelet.
#[derive(Debug)]
pub struct Kubelet {
    config: KubeletConfig,
    node: String,
    cached: Option<LeaseObject>,
    in_flight: Option<(u64, Step)>,
    next_request: u64,
    backoff: SimDuration,
    sync_timer: Option<TimerId>,
    status: NodeStatusSync,
    pods: PodWorker,
}

impl Kubelet {
    /// A kubelet with `config`.
    pub fn new(config: KubeletConfig) -> Self {
        let status = NodeStatusSync::new(config.vip.clone(), config.request_timeout());
        let pods = PodWorker::new(config.vip.clone(), config.ready_delays.clone());
        Kubelet {
            pods,
            config,
            node: String::new(),
            cached: None,
            in_flight: None,
            next_request: 0,
            backoff: ENSURE_BACKOFF_START,
            sync_timer: None,
            status,
        }
    }

    fn record(&self, ctx: &Ctx<'_>) -> LeaseRecord {
        LeaseRecord {
            holder: self.node.clone(),
            duration: self.config.lease_duration,
            acquired: ctx.now(),
            renewed: ctx.now(),
            transitions: 0,
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_>, op: ApiOp, step: Step) {
        self.next_request += 1;
        let id = self.next_request;
        self.in_flight = Some((id, step));
        ctx.set_timer(self.config.request_timeout(), KubeletTimer::Timeout(id));
        ctx.send_to_service(
            self.config.vip.clone(),
            HAPROXY_MODEL,
            ApiRequest { id, op },
        );
    }

    fn put(&mut self, ctx: &mut Ctx<'_>, step: Step) {
        let rv = self.cached.as_ref().map(|c| c.resource_version);
        let op = ApiOp::put(NODE_LEASE_NAMESPACE, &self.node, &self.record(ctx), rv);
        self.send(ctx, op, step);
    }

    fn sync(&mut self, ctx: &mut Ctx<'_>) {
        self.sync_timer = None;
        if self.in_flight.is_some() {
            return;
        }
        if self.cached.is_some() {
            self.put(ctx, Step::Fast);
        } else {
            self.ensure(ctx);
        }
    }

    fn ensure(&mut self, ctx: &mut Ctx<'_>) {
        let op = ApiOp::get::<LeaseRecord>(NODE_LEASE_NAMESPACE, &self.node);
        self.send(ctx, op, Step::Ensure);
    }

    /// The sync is over: the next one starts a jittered interval from now.
    fn end_sync(&mut self, ctx: &mut Ctx<'_>) {
        let jitter = ctx.rng().random::<f64>() * RENEW_JITTER;
        let interval = self.config.renew_interval().as_nanos() as f64 * (1.0 + jitter);
        let t = ctx.set_timer(SimDuration::from_nanos(interval as u64), KubeletTimer::Sync);
        self.sync_timer = Some(t);
    }

    fn on_result(&mut self, ctx: &mut Ctx<'_>, id: u64, result: Result<LeaseObject, ApiError>) {
        let Some((current, step)) = self.in_flight else {
            return;
        };
        if current != id {
            return;
        }
        self.in_flight = None;
        match (step, result) {
            (Step::Fast | Step::Update(_), Ok(obj)) => {
                self.cached = Some(obj);
                self.end_sync(ctx);
            }
            (Step::Fast, Err(_)) => self.ensure(ctx),
            (Step::Ensure, Err(ApiError::NotFound)) => {
                // Create it: a PUT without a version.
                self.cached = None;
                self.put(ctx, Step::Update(MAX_UPDATE_RETRIES));
            }
            (Step::Ensure, Ok(obj)) => {
                self.backoff = ENSURE_BACKOFF_START;
                self.cached = Some(obj);
                self.put(ctx, Step::Update(1));
            }
            (Step::Ensure, Err(_)) => {
                ctx.set_timer(self.backoff, KubeletTimer::Ensure);
                self.backoff = (self.backoff + self.backoff).min(ENSURE_BACKOFF_MAX);
            }
            (Step::Update(_), Err(ApiError::Conflict)) => self.ensure(ctx),
            (Step::Update(n), Err(_)) if n < MAX_UPDATE_RETRIES => {
                self.put(ctx, Step::Update(n + 1));
            }
            (Step::Update(_), Err(_)) => self.end_sync(ctx),
        }
    }
}

impl Model for Kubelet {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let event = match event {
            Event::Start { .. } => event,
            _ => match self.pods.offer(ctx, event) {
                Ok(()) => return,
                Err(e) => e,
            },
        };
        match event {
            Event::Start { .. } => {
                self.node = ctx.directory().host_name(ctx.host()).to_owned();
                self.sync(ctx);
                self.status.start(ctx, &self.node);
                self.pods.start(ctx, &self.node);
            }
            Event::Timer { id, tag } if tag.downcast_ref::<StatusTimer>().is_some() => {
                if let Some(t) = tag.downcast_ref::<StatusTimer>() {
                    self.status.on_timer(ctx, id, *t, &self.node);
                }
            }
            Event::Timer { id, tag } => match tag.downcast_ref::<KubeletTimer>() {
                Some(KubeletTimer::Sync) if Some(id) == self.sync_timer => self.sync(ctx),
                Some(KubeletTimer::Ensure) => self.ensure(ctx),
                Some(KubeletTimer::Timeout(req)) => {
                    self.on_result(ctx, *req, Err(ApiError::Timeout));
                }
                _ => {}
            },
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiResponse>() {
                    if self.status.owns(r.id) {
                        self.status.on_response(ctx, r, &self.node);
                    } else {
                        self.on_result(ctx, r.id, typed(&r.result));
                    }
                }
            }
            Event::Refused { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiRequest>() {
                    let refused = ApiError::Storage("connection refused".to_owned());
                    if self.status.owns(r.id) {
                        let resp = ApiResponse {
                            id: r.id,
                            result: Err(refused),
                        };
                        self.status.on_response(ctx, &resp, &self.node);
                    } else {
                        self.on_result(ctx, r.id, Err(refused));
                    }
                }
            }
            Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        self.cached = None;
        self.in_flight = None;
        self.sync_timer = None;
        self.backoff = ENSURE_BACKOFF_START;
        self.status.reset();
        self.pods.stop();
    }
}
