//! A member's graceful stop (SIGTERM).

use raft::StateRole;

use super::EtcdMember;
use crate::engine::Ctx;

impl EtcdMember {
    /// What etcd does on SIGTERM (`embed.Etcd.Close`): it stops taking client calls, lets
    /// those in flight finish, and a leader of a cluster with other voters hands leadership to
    /// a follower (`EtcdServer.TransferLeadership`, waiting until the transferee leads); all of
    /// it within `ReqTimeout` (7 s), then the process exits. etcd picks the follower connected
    /// the longest; the model picks the one whose log matches furthest (lowest id on a tie),
    /// which is the follower raft can hand over to soonest.
    pub(super) fn begin_shutdown(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let Some(run) = self.running.as_mut() else {
            return false;
        };
        if run.terminating.is_some() {
            return true;
        }
        run.terminating = Some(ctx.now() + self.config.request_timeout());
        if run.node.raft.state == StateRole::Leader {
            let me = self.id;
            let transferee = self
                .peers
                .keys()
                .filter(|id| **id != me)
                .filter_map(|id| run.node.raft.prs().get(*id).map(|p| (p.matched, *id)))
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
                .map(|(_, id)| id);
            if let Some(to) = transferee {
                run.node.transfer_leader(to);
            }
        }
        self.after_raft_call(ctx);
        self.exit_when_done(ctx);
        true
    }
    /// Exits a terminating member once it leads no more and has nothing pending, or once its
    /// shutdown deadline passed.
    pub(super) fn exit_when_done(&mut self, ctx: &mut Ctx<'_>) {
        let Some(run) = self.running.as_ref() else {
            return;
        };
        let Some(deadline) = run.terminating else {
            return;
        };
        let idle = run.proposals.is_empty()
            && run.awaiting_leader.is_empty()
            && run.reads_awaiting_index.is_empty()
            && run.reads_awaiting_apply.is_empty();
        let leads = run.node.raft.state == StateRole::Leader;
        if ctx.now() >= deadline || (idle && !leads) {
            ctx.exit();
        }
    }
}
