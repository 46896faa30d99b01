//! Leases on a session: grants and revocations as calls, puts attached to a lease, and
//! clientv3's `KeepAlive` loop.

use super::{
    CallError, CallFailure, CallId, CallOp, EtcdSession, KeptLease, SessionEvent, SessionTimer,
};
use crate::engine::{Ctx, SimDuration};
use crate::models::etcd::messages::{EtcdError, LeaseOp, LeaseResult, ReadMode};
use crate::models::kv::KvOp;

impl EtcdSession {
    /// A put of `key` attached to `lease` (its key goes when the lease does).
    pub fn put_with_lease(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        value: &str,
        lease: i64,
        deadline: SimDuration,
    ) -> CallId {
        let op = CallOp::Kv {
            op: KvOp::Put {
                key: key.to_owned(),
                value: value.to_owned(),
            },
            read: ReadMode::Linearizable,
            lease: Some(lease),
        };
        self.start_call(ctx, op, None, deadline)
    }
    /// A lease call (grant or revoke); its answer comes as [`SessionEvent::LeaseDone`].
    pub fn lease(&mut self, ctx: &mut Ctx<'_>, op: LeaseOp, deadline: SimDuration) -> CallId {
        self.start_call(ctx, CallOp::Lease(op), None, deadline)
    }
    /// Keeps `lease` (of `ttl`) alive as clientv3's `KeepAlive` does: a keepalive every third
    /// of the TTL (`nextKeepAlive = now + TTL/3`, `lease.go`) through the session's endpoints,
    /// and [`SessionEvent::LeaseLost`] once no renewal has come for a whole TTL (the client's
    /// `deadlineLoop`) or the leader says the lease is gone.
    pub fn keep_alive(&mut self, ctx: &mut Ctx<'_>, lease: i64, ttl: SimDuration) {
        self.kept.insert(
            lease,
            KeptLease {
                ttl,
                renewed: ctx.now(),
                call: None,
            },
        );
        self.lease_keepalive_due(ctx, lease);
    }
    pub(super) fn lease_keepalive_due(&mut self, ctx: &mut Ctx<'_>, lease: i64) {
        let Some(k) = self.kept.get(&lease) else {
            return;
        };
        if ctx.now().saturating_since(k.renewed) >= k.ttl {
            self.kept.remove(&lease);
            self.outbox.push(SessionEvent::LeaseLost { lease });
            return;
        }
        let third = SimDuration::from_nanos(k.ttl.as_nanos() / 3);
        // Wake at the next keepalive or at the lease's deadline, whichever comes first
        // (clientv3's `deadlineLoop` looks every 500 ms).
        let left = k.ttl.as_nanos() - ctx.now().saturating_since(k.renewed).as_nanos();
        let wake = SimDuration::from_nanos(third.as_nanos().min(left));
        if k.call.is_none() {
            let call = self.start_call(
                ctx,
                CallOp::Lease(LeaseOp::KeepAlive { lease }),
                Some(lease),
                third,
            );
            if let Some(k) = self.kept.get_mut(&lease) {
                k.call = Some(call);
            }
        }
        ctx.set_timer(wake, SessionTimer::LeaseKeepAlive(lease));
    }
    /// One of the session's own keepalive calls ended.
    pub(super) fn keepalive_answered(
        &mut self,
        lease: i64,
        result: Result<LeaseResult, CallFailure>,
        now: crate::engine::SimTime,
    ) {
        let Some(k) = self.kept.get_mut(&lease) else {
            return;
        };
        k.call = None;
        match result {
            Ok(_) => k.renewed = now,
            Err(CallFailure {
                error: CallError::Server(EtcdError::LeaseNotFound),
                ..
            }) => {
                self.kept.remove(&lease);
                self.outbox.push(SessionEvent::LeaseLost { lease });
            }
            Err(_) => {}
        }
    }
}
