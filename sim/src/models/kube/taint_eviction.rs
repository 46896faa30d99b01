//! The taint eviction controller's countdowns (`pkg/controller/tainteviction`, its own
//! controller since 1.29, in the controller-manager leader): when a node's NoExecute taints
//! change, every pod on it gets `now + min(tolerationSeconds)` of the taints it tolerates,
//! counted from when the leader processed the change (`time.Now()` in `handleNodeUpdate`;
//! the taint's `timeAdded` is never read). A pod tolerating without limit is left alone; an
//! existing countdown that would fire sooner is kept (a not-ready/unreachable swap does not
//! restart it); a node without NoExecute taints cancels its pods' countdowns. The state is the
//! leader's memory only, so a new leader starts every countdown again.
//!
//! Only the node controller's two taints exist here, and every pod tolerates both (the
//! DefaultTolerationSeconds admission plugin's, or a DaemonSet's unlimited tolerations), so
//! no pod is deleted at once for an untolerated taint.

use std::collections::BTreeMap;

use super::objects::{PodRecord, TaintKey};
use crate::engine::{Ctx, SimDuration, SimTime, TimerId, TimerTag};

/// A pod's pending eviction.
#[derive(Clone, Debug)]
struct Countdown {
    node: String,
    created: SimTime,
    fires: SimTime,
    timer: TimerId,
}

/// The countdowns of one leader.
#[derive(Debug, Default)]
pub struct Countdowns {
    pending: BTreeMap<String, Countdown>,
}

impl Countdowns {
    /// `handleNodeUpdate`: `node`'s NoExecute taints changed to `taints`. `pods` are the pods
    /// bound to it; `tag` makes the timer for a pod's countdown.
    pub fn node_updated<T: TimerTag>(
        &mut self,
        ctx: &mut Ctx<'_>,
        node: &str,
        taints: &[TaintKey],
        pods: &[(String, PodRecord)],
        tag: impl Fn(&str) -> T,
    ) {
        let now = ctx.now();
        for (name, pod) in pods {
            let limit = pod.min_toleration(taints).filter(|_| pod.deleted.is_none());
            let Some(secs) = limit else {
                self.cancel(ctx, name);
                continue;
            };
            let wait = SimDuration::from_secs(secs);
            let fires = now + wait;
            if let Some(c) = self.pending.get(name)
                && c.created + wait < fires
            {
                continue;
            }
            self.cancel(ctx, name);
            let timer = ctx.set_timer(wait, tag(name));
            let countdown = Countdown {
                node: node.to_owned(),
                created: now,
                fires,
                timer,
            };
            self.pending.insert(name.clone(), countdown);
        }
    }

    fn cancel(&mut self, ctx: &mut Ctx<'_>, pod: &str) {
        if let Some(c) = self.pending.remove(pod) {
            ctx.cancel_timer(c.timer);
        }
    }

    /// The countdown of `pod` fired: its node, if it was still pending.
    pub fn fired(&mut self, pod: &str, now: SimTime) -> Option<String> {
        match self.pending.get(pod) {
            Some(c) if c.fires <= now => self.pending.remove(pod).map(|c| c.node),
            _ => None,
        }
    }
}
