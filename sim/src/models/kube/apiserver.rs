//! kube-apiserver as the things in front of it see it: `/readyz` (and `/livez`) answered from
//! its etcd health checks ([`EtcdCheck`]), with upstream's timing. It is what haproxy
//! balances to and health-checks; the API requests of controllers and kubelets build on it.
//!
//! - kubeadm's stacked etcd gives each apiserver only its local member
//!   (`--etcd-servers=https://127.0.0.1:2379`), so an apiserver whose local etcd is down is
//!   not ready even while the cluster has quorum. [`EtcdServers::All`] models an apiserver
//!   given every member.
//! - `/readyz` runs its checks one after another and answers 500 if any fails: the `etcd`
//!   check and the `etcd-readiness` check, each with its own client, so with etcd silent it
//!   answers after both timeouts (4 s at the defaults). `/livez` and `/healthz` run the
//!   `etcd` check only.
//! - SIGTERM: with kubeadm's defaults (`--shutdown-delay-duration` 0) the listener closes at
//!   once, so the model stops as on a kill: connections are refused.

use std::collections::BTreeMap;

use super::etcd_check::{Answer, CheckDone, ETCD_CHECK_TIMEOUT, EtcdCheck};
use crate::engine::{ActorId, Ctx, Endpoint, Event, Model, Port, route_to};
use crate::models::etcd::MODEL_NAME as ETCD_MODEL;
use crate::models::etcd::session::{Keepalive, SessionConfig};
use crate::models::vip::msg::{HttpAccepted, HttpGet, HttpReply};

/// The readiness path.
pub const READYZ: &str = "/readyz";
/// Ports of the two checks' sessions: `etcd`, then `etcd-readiness`.
const CHECK_PORTS: [Port; 2] = [Port(1), Port(2)];

/// Which etcd members an apiserver is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdServers {
    /// Only the member on its own host (kubeadm's stacked etcd).
    Local,
    /// Every member.
    All,
}

/// An apiserver's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiserverConfig {
    /// `--etcd-servers`.
    pub etcd_servers: EtcdServers,
    /// `--etcd-healthcheck-timeout` and `--etcd-readycheck-timeout`.
    pub check_timeout: crate::engine::SimDuration,
}

impl Default for ApiserverConfig {
    /// kubeadm's: the local member, upstream's 2 s check timeouts.
    fn default() -> Self {
        ApiserverConfig {
            etcd_servers: EtcdServers::Local,
            check_timeout: ETCD_CHECK_TIMEOUT,
        }
    }
}

/// A health request being answered: which check it waits for, and the verdict so far.
#[derive(Clone, Copy, Debug)]
struct Request {
    to: Endpoint,
    id: u64,
    /// Checks still to run, from `next`.
    next: usize,
    last: usize,
    ok: bool,
}

/// The apiserver.
#[derive(Debug)]
pub struct KubeApiserver {
    config: ApiserverConfig,
    checks: [EtcdCheck; 2],
    requests: BTreeMap<u64, Request>,
    next_request: u64,
    /// Every `/readyz` answer: (when, status).
    pub readyz: Vec<(crate::engine::SimTime, u16)>,
}

impl KubeApiserver {
    /// An apiserver with `config`.
    pub fn new(config: ApiserverConfig) -> Self {
        // The health checks' clients are built like the storage client: kube-apiserver's
        // keepalive on every connection.
        let session = SessionConfig {
            keepalive: Some(Keepalive::KUBE_APISERVER),
            ..SessionConfig::default()
        };
        KubeApiserver {
            config,
            checks: [
                EtcdCheck::new(config.check_timeout, session),
                EtcdCheck::new(config.check_timeout, session),
            ],
            requests: BTreeMap::new(),
            next_request: 0,
            readyz: Vec::new(),
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        let dir = ctx.directory();
        let members: Vec<ActorId> = match self.config.etcd_servers {
            EtcdServers::Local => dir.actor_on(ctx.host(), ETCD_MODEL).into_iter().collect(),
            EtcdServers::All => dir.actors_named(ETCD_MODEL).collect(),
        };
        for (check, port) in self.checks.iter_mut().zip(CHECK_PORTS) {
            check.start(&mut ctx.scoped(port), &members);
        }
    }

    fn on_get(&mut self, ctx: &mut Ctx<'_>, to: Endpoint, get: &HttpGet) {
        self.next_request += 1;
        let last = if get.path == READYZ { 1 } else { 0 };
        let r = Request {
            to,
            id: get.id,
            next: 0,
            last,
            ok: true,
        };
        self.requests.insert(self.next_request, r);
        self.advance(ctx, self.next_request);
    }

    /// Runs request `key`'s checks until one must wait, or answers it.
    fn advance(&mut self, ctx: &mut Ctx<'_>, key: u64) {
        let Some(mut r) = self.requests.remove(&key) else {
            return;
        };
        while r.next <= r.last {
            let Some(check) = self.checks.get_mut(r.next) else {
                break;
            };
            match check.ask(&mut ctx.scoped(CHECK_PORTS[r.next])) {
                Answer::Now(ok) => {
                    r.ok &= ok;
                    r.next += 1;
                }
                Answer::Later => {
                    self.requests.insert(key, r);
                    return;
                }
            }
        }
        let status = if r.ok { 200 } else { 500 };
        if r.last == 1 {
            self.readyz.push((ctx.now(), status));
        }
        ctx.scoped(Port::MAIN)
            .send(r.to, HttpReply { id: r.id, status });
    }

    fn on_check(&mut self, ctx: &mut Ctx<'_>, index: usize, done: CheckDone) {
        let waiting: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.next == index)
            .map(|(k, _)| *k)
            .collect();
        for key in waiting {
            if let Some(r) = self.requests.get_mut(&key) {
                r.ok &= done.healthy;
                r.next += 1;
            }
            self.advance(ctx, key);
        }
    }
}

impl Model for KubeApiserver {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let mut event = event;
        for (index, port) in CHECK_PORTS.into_iter().enumerate() {
            match route_to(&mut self.checks[index], port, ctx, event) {
                Ok(done) => {
                    for d in done {
                        self.on_check(ctx, index, d);
                    }
                    return;
                }
                Err(e) => event = e,
            }
        }
        match event {
            Event::Start { .. } => self.start(ctx),
            Event::Message {
                from,
                from_port,
                msg,
            } => {
                if let Some(g) = msg.downcast_ref::<HttpGet>() {
                    let to = Endpoint::new(from, from_port);
                    ctx.send(to, HttpAccepted { id: g.id });
                    self.on_get(ctx, to, g);
                }
            }
            Event::Timer { .. } | Event::Refused { .. } | Event::Closed { .. } => {}
            Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        for check in &mut self.checks {
            check.reset();
        }
        self.requests.clear();
    }
}
