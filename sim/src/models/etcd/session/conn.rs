//! The session's connections, one per member, in gRPC's states: a handshake out
//! (connecting), READY, or transient failure waiting out the reconnect backoff; and the
//! keepalive pings that drop a READY connection to a member gone silent.

use super::backoff::{connect_backoff, connect_timeout};
use super::{CallError, CallId, Conn, EtcdSession, SessionTimer};
use crate::engine::{ActorId, Ctx, SimDuration};
use crate::models::etcd::messages::ConnPing;

impl EtcdSession {
    pub(super) fn dial(&mut self, ctx: &mut Ctx<'_>, endpoint: usize) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(e) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        e.conn = Conn::Connecting { seq };
        e.ping = None;
        let timeout = connect_timeout(e.failures);
        ctx.send(e.actor, ConnPing { seq });
        ctx.set_timer(timeout, SessionTimer::ConnectTimeout { endpoint, seq });
    }
    /// A connection attempt failed: wait out the backoff, then dial again.
    pub(super) fn connect_failed(&mut self, ctx: &mut Ctx<'_>, endpoint: usize) {
        let Some(e) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        let wait = connect_backoff(ctx, e.failures);
        e.failures = e.failures.saturating_add(1);
        e.conn = Conn::TransientFailure;
        ctx.set_timer(wait, SessionTimer::Reconnect { endpoint });
    }
    pub(super) fn became_ready(&mut self, ctx: &mut Ctx<'_>, endpoint: usize) {
        let Some(e) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        e.conn = Conn::Ready;
        e.failures = 0;
        e.last_heard = ctx.now();
        ctx.connect(e.actor);
        if let Some(k) = self.config.keepalive {
            ctx.set_timer(k.time, SessionTimer::Keepalive { endpoint });
        }
        for id in std::mem::take(&mut self.waiting) {
            self.dispatch(ctx, id);
        }
        for id in std::mem::take(&mut self.waiting_watches) {
            self.open_stream(ctx, id);
        }
    }
    /// A READY (or connecting) connection broke: gRPC reconnects at once, and the calls out
    /// on it fail, each as its retry policy says.
    pub(super) fn connection_lost(&mut self, ctx: &mut Ctx<'_>, endpoint: usize) {
        let Some(e) = self.endpoints.get(endpoint) else {
            return;
        };
        if e.conn == Conn::TransientFailure {
            return;
        }
        ctx.disconnect(e.actor);
        self.dial(ctx, endpoint);
        self.reopen_watches_on(ctx, endpoint);
        let out: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.attempt.is_some_and(|a| a.endpoint == endpoint))
            .map(|(id, _)| *id)
            .collect();
        for id in out {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            if let Some(a) = call.attempt.take() {
                self.by_wire.remove(&a.wire);
            }
            if call.repeatable() {
                self.retry(ctx, id, CallError::ConnectionClosed);
            } else {
                // Sent on the wire, so possibly applied: clientv3 does not retry it.
                self.fail(ctx, id, CallError::ConnectionClosed, true);
            }
        }
    }
    /// gRPC pings a connection it has not heard from for `time`, and drops it when the ping
    /// is not answered within `timeout`.
    pub(super) fn keepalive_due(&mut self, ctx: &mut Ctx<'_>, endpoint: usize) {
        let Some(k) = self.config.keepalive else {
            return;
        };
        let seq = self.next_seq;
        let Some(e) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        if e.conn != Conn::Ready || e.ping.is_some() {
            return;
        }
        let quiet = ctx.now().saturating_since(e.last_heard);
        if quiet < k.time {
            ctx.set_timer(
                SimDuration::from_nanos(k.time.as_nanos() - quiet.as_nanos()),
                SessionTimer::Keepalive { endpoint },
            );
            return;
        }
        self.next_seq += 1;
        e.ping = Some(seq);
        ctx.send(e.actor, ConnPing { seq });
        ctx.set_timer(k.timeout, SessionTimer::KeepaliveTimeout { endpoint, seq });
    }
    pub(super) fn on_pong(&mut self, ctx: &mut Ctx<'_>, from: ActorId, seq: u64) {
        let Some(endpoint) = self.endpoint_of(from) else {
            return;
        };
        let e = &mut self.endpoints[endpoint];
        match e.conn {
            Conn::Connecting { seq: s } if s == seq => self.became_ready(ctx, endpoint),
            Conn::Ready if e.ping == Some(seq) => {
                e.ping = None;
                e.last_heard = ctx.now();
                if let Some(k) = self.config.keepalive {
                    ctx.set_timer(k.time, SessionTimer::Keepalive { endpoint });
                }
            }
            _ => {}
        }
    }
}
