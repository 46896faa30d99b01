//! An outside client that asks the API for its health-check path through the VIP every
//! `interval`, as a monitoring probe or `kubectl get --raw /readyz` would, and records the
//! `kube-apiserver` lane from what it sees: up while answers come back 200 within the
//! timeout, down otherwise. A request that is still open when the next one is due is not
//! waited for: each probe stands on its own, like a fresh TCP connection.

use std::collections::BTreeMap;

use topology::component::Component;

use super::HAPROXY_MODEL;
use super::msg::{HttpGet, HttpReply};
use crate::engine::{Address, Ctx, Event, Model, SimDuration, SimTime, Status};

/// The lane the probe records.
pub const API_LANE: Component = Component::KubeApiserver;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProbeTimer {
    /// Send the next probe.
    Next,
    /// Probe `id` got no answer in time.
    Timeout(u64),
}

/// The probe's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// The VIP.
    pub vip: Address,
    /// Path asked for.
    pub path: String,
    /// Time between probes.
    pub interval: SimDuration,
    /// How long a probe waits for its answer.
    pub timeout: SimDuration,
    /// When the first probe goes out.
    pub start_after: SimDuration,
}

/// One probe's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// When it was sent.
    pub sent: SimTime,
    /// HTTP status and when it came back; `None` if no answer came within the timeout.
    pub answer: Option<(SimTime, u16)>,
}

/// The probe.
#[derive(Debug)]
pub struct ApiProbe {
    config: ProbeConfig,
    next_id: u64,
    open: BTreeMap<u64, SimTime>,
    /// Every finished probe, in the order they finished.
    pub results: Vec<ProbeResult>,
    lane: Option<Status>,
}

impl ApiProbe {
    /// A probe with `config`.
    pub fn new(config: ProbeConfig) -> Self {
        ApiProbe {
            config,
            next_id: 0,
            open: BTreeMap::new(),
            results: Vec::new(),
            lane: None,
        }
    }

    /// Of the probes sent in `[from, to)` that finished: (answered 200, all).
    pub fn answered(&self, from: SimTime, to: SimTime) -> (usize, usize) {
        let sent = self
            .results
            .iter()
            .filter(|r| r.sent >= from && r.sent < to);
        let ok = sent
            .clone()
            .filter(|r| matches!(r.answer, Some((_, 200))))
            .count();
        (ok, sent.count())
    }

    fn send(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer(self.config.interval, ProbeTimer::Next);
        self.next_id += 1;
        let id = self.next_id;
        self.open.insert(id, ctx.now());
        let get = HttpGet {
            id,
            path: self.config.path.clone(),
        };
        ctx.send_to_service(self.config.vip.clone(), HAPROXY_MODEL, get);
        ctx.set_timer(self.config.timeout, ProbeTimer::Timeout(id));
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, id: u64, status: Option<u16>) {
        let Some(sent) = self.open.remove(&id) else {
            return;
        };
        let now = ctx.now();
        self.results.push(ProbeResult {
            sent,
            answer: status.map(|s| (now, s)),
        });
        let (lane, why) = match status {
            Some(200) => (Status::Up, "answered through the VIP"),
            Some(_) => (Status::Down, "error through the VIP"),
            None => (Status::Down, "no answer through the VIP"),
        };
        if self.lane != Some(lane) {
            self.lane = Some(lane);
            ctx.availability(API_LANE, lane, why);
        }
    }
}

impl Model for ApiProbe {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => {
                ctx.set_timer(self.config.start_after, ProbeTimer::Next);
            }
            Event::Timer { tag, .. } => match tag.downcast_ref::<ProbeTimer>() {
                Some(ProbeTimer::Next) => self.send(ctx),
                Some(ProbeTimer::Timeout(id)) => self.finish(ctx, *id, None),
                None => {}
            },
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<HttpReply>() {
                    self.finish(ctx, r.id, Some(r.status));
                }
            }
            Event::Refused { msg, .. } => {
                // The VIP's host is up but haproxy is not listening: connection refused.
                if let Some(g) = msg.downcast_ref::<HttpGet>() {
                    self.finish(ctx, g.id, Some(0));
                }
            }
            Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        self.open.clear();
        self.lane = None;
    }
}
