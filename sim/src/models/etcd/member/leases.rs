//! A member's side of leases: grant and revoke calls go through the log, keepalives are the
//! leader's to answer (a follower passes them on), and the leader revokes what expired.
//! The lessor itself is `super::super::lessor`.

use super::watch::notify_watchers;
use super::{EntryOp, EtcdMember, Reply, RequestKey, Running, reply_error};
use crate::engine::{Ctx, Endpoint};
use crate::models::etcd::lessor;
use crate::models::etcd::messages::{
    EtcdError, LeaseOp, LeaseRenew, LeaseRequest, LeaseResponse, LeaseResult,
};
use crate::models::kv::{KvEvent, KvOp, KvResult, RequestOp};

/// Applies a key-value write from the log: refused when it names a lease that does not exist;
/// otherwise the store changes, watchers hear of it, and the keys it put join its lease (or
/// leave theirs) while the keys it deleted leave theirs.
pub(super) fn apply_kv(
    ctx: &mut Ctx<'_>,
    run: &mut Running,
    op: &KvOp,
    lease: Option<i64>,
) -> Result<KvResult, EtcdError> {
    if lease.is_some_and(|l| !run.lessor.contains(l)) {
        return Err(EtcdError::LeaseNotFound);
    }
    let (result, events) = run.store.apply_with_events(op);
    let lease = lease.filter(|_| matches!(op, KvOp::Put { .. }));
    for e in &events {
        match e {
            KvEvent::Put(kv) => run.lessor.attach(&kv.key, lease),
            KvEvent::Delete { key, .. } => run.lessor.detach(key),
        }
    }
    if !events.is_empty() {
        notify_watchers(ctx, &run.watchers, &events);
        run.history.extend(events);
    }
    result.map_err(EtcdError::from)
}
/// Deletes a revoked lease's keys, in one revision as etcd's revoke does.
pub(super) fn revoke_keys(ctx: &mut Ctx<'_>, run: &mut Running, keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    let txn = KvOp::Txn {
        compares: Vec::new(),
        success: keys
            .into_iter()
            .map(|key| RequestOp::Delete { key })
            .collect(),
        failure: Vec::new(),
    };
    let _ = apply_kv(ctx, run, &txn, None);
}

impl EtcdMember {
    /// A lease call: grants and revocations go through the log like writes; a keepalive is
    /// the leader's to answer, and a follower passes it on.
    pub(super) fn on_lease_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: Endpoint,
        req: &LeaseRequest,
    ) {
        let min_ttl = lessor::min_ttl(self.config.election_timeout);
        let Some(run) = self.running.as_mut() else {
            return;
        };
        let key = RequestKey::new(from, req.id);
        if run.terminating.is_some() {
            reply_error(ctx, key, Reply::Lease, EtcdError::Stopping);
            return;
        }
        let op = match &req.op {
            LeaseOp::KeepAlive { lease } => {
                let leader = run.node.raft.leader_id;
                if leader == self.id {
                    let result = run
                        .lessor
                        .renew(*lease, ctx.now())
                        .map(|ttl| LeaseResult::Alive { ttl })
                        .ok_or(EtcdError::LeaseNotFound);
                    ctx.send(from, LeaseResponse { id: req.id, result });
                } else if let Some(actor) = self.peers.get(&leader) {
                    ctx.send(
                        *actor,
                        LeaseRenew {
                            lease: *lease,
                            reply_to: from,
                            id: req.id,
                        },
                    );
                } else {
                    reply_error(ctx, key, Reply::Lease, EtcdError::NoLeader);
                }
                return;
            }
            LeaseOp::Grant { ttl } => {
                run.granted += 1;
                EntryOp::Grant {
                    lease: ((self.id as i64) << 48) | run.granted as i64,
                    ttl_ns: (*ttl).max(min_ttl).as_nanos(),
                }
            }
            LeaseOp::Revoke { lease } => EntryOp::Revoke { lease: *lease },
        };
        if run.node.raft.leader_id == raft::INVALID_ID {
            run.awaiting_leader.push((key, op, ctx.now()));
            return;
        }
        self.propose(ctx, Some(key), op, ctx.now());
        self.after_raft_call(ctx);
    }
    /// The leader renews a lease for a keepalive a follower passed on.
    pub(super) fn on_lease_renew(&mut self, ctx: &mut Ctx<'_>, r: &LeaseRenew) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        let result = if run.lessor.is_primary() {
            run.lessor
                .renew(r.lease, ctx.now())
                .map(|ttl| LeaseResult::Alive { ttl })
                .ok_or(EtcdError::LeaseNotFound)
        } else {
            Err(EtcdError::NoLeader)
        };
        ctx.send(r.reply_to, LeaseResponse { id: r.id, result });
    }
    /// The leader proposes the revocation of every lease whose time ran out (etcd's lessor
    /// checks every 500 ms; here every tick), once per lease until it is applied.
    pub(super) fn revoke_expired(&mut self, ctx: &mut Ctx<'_>) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        if !run.lessor.is_primary() || run.terminating.is_some() {
            return;
        }
        let due: Vec<i64> = run
            .lessor
            .expired(ctx.now())
            .into_iter()
            .filter(|l| !run.revoking.contains(l))
            .collect();
        for lease in due {
            if let Some(run) = self.running.as_mut() {
                run.revoking.insert(lease);
            }
            self.propose(ctx, None, EntryOp::Revoke { lease }, ctx.now());
        }
        self.after_raft_call(ctx);
    }
}
