//! One of kube-apiserver's etcd health checks (`etcd` and `etcd-readiness` on `/readyz`), as
//! `k8s.io/apiserver/pkg/storage/storagebackend/factory/etcd3.go` builds them in 1.29-1.32
//! (`newETCD3Check`, `etcd3ProberMonitor.Probe`):
//! - each check has its own etcd client (here its own session) over `--etcd-servers`;
//! - a probe is a linearizable Get of `/registry/health` under the check's own timeout
//!   (`--etcd-healthcheck-timeout`, `--etcd-readycheck-timeout`, both 2 s by default);
//! - at most one real probe per half timeout: a caller within that time of the last finished
//!   probe gets its result at once; a caller while a probe is out waits for it;
//! - until the first probe finishes the check fails (the client is not there yet).
//!
//! With no etcd leader the Get is not rejected: etcd and clientv3 keep retrying, so the probe
//! fails only when its timeout runs out.

use crate::engine::{ActorId, Ctx, Event, SimDuration, SimTime, SubMachine};
use crate::models::etcd::ReadMode;
use crate::models::etcd::session::{CallId, EtcdSession, SessionConfig, SessionEvent};
use crate::models::kv::KvOp;

/// `--etcd-healthcheck-timeout` and `--etcd-readycheck-timeout` default (2 s).
pub const ETCD_CHECK_TIMEOUT: SimDuration = SimDuration::from_secs(2);
/// The key the probe reads (`/<prefix>/health`, prefix `/registry`).
pub const HEALTH_KEY: &str = "/registry/health";

/// What the check tells its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckDone {
    /// The probe's result: etcd answered within the timeout.
    pub healthy: bool,
}

/// One etcd health check.
#[derive(Debug)]
pub struct EtcdCheck {
    session: EtcdSession,
    timeout: SimDuration,
    last: Option<(SimTime, bool)>,
    in_flight: Option<CallId>,
}

/// What a caller of [`EtcdCheck::ask`] gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The result now.
    Now(bool),
    /// A probe is out; its [`CheckDone`] will come.
    Later,
}

impl EtcdCheck {
    /// A check with `timeout` whose client uses `session`.
    pub fn new(timeout: SimDuration, session: SessionConfig) -> Self {
        EtcdCheck {
            session: EtcdSession::new(session),
            timeout,
            last: None,
            in_flight: None,
        }
    }

    /// Creates the client over `members` (the apiserver's `--etcd-servers`).
    pub fn start(&mut self, ctx: &mut Ctx<'_>, members: &[ActorId]) {
        self.last = None;
        self.in_flight = None;
        self.session.start(ctx, members);
    }

    /// The process died.
    pub fn reset(&mut self) {
        self.last = None;
        self.in_flight = None;
        self.session.reset();
    }

    /// A caller wants the check's result.
    pub fn ask(&mut self, ctx: &mut Ctx<'_>) -> Answer {
        if self.in_flight.is_some() {
            return Answer::Later;
        }
        let now = ctx.now();
        let fresh = SimDuration::from_nanos(self.timeout.as_nanos() / 2);
        if let Some((at, ok)) = self.last
            && now.saturating_since(at) < fresh
        {
            return Answer::Now(ok);
        }
        let get = KvOp::Get {
            key: HEALTH_KEY.to_owned(),
        };
        self.in_flight = Some(
            self.session
                .call(ctx, get, ReadMode::Linearizable, self.timeout),
        );
        Answer::Later
    }
}

impl SubMachine for EtcdCheck {
    type Output = CheckDone;

    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<CheckDone>) {
        let mut reports = Vec::new();
        self.session.handle(ctx, event, &mut reports);
        for report in reports {
            if let SessionEvent::Done { call, result } = report
                && Some(call) == self.in_flight
            {
                self.in_flight = None;
                let healthy = result.is_ok();
                self.last = Some((ctx.now(), healthy));
                out.push(CheckDone { healthy });
            }
        }
    }
}
