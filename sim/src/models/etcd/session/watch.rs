//! Watches on a session: opened on a READY member, resumed on another from the first
//! revision not yet reported when the stream breaks.

use super::{EtcdSession, SessionEvent, Watch, WatchId};
use crate::engine::Ctx;
use crate::models::etcd::messages::{WatchCancel, WatchCreate, WatchEvents};
use crate::models::kv::KvEvent;

impl EtcdSession {
    /// Watches every key under `prefix` from `start_revision` (0: from the next write). The
    /// session keeps the watch open across member failures: a broken stream is re-created on
    /// another member from the first revision not yet reported, as clientv3's watcher resumes
    /// (streams are retried without limit, `defaultStreamMaxRetries`).
    pub fn watch(&mut self, ctx: &mut Ctx<'_>, prefix: &str, start_revision: i64) -> WatchId {
        let id = WatchId(self.next_watch);
        self.next_watch += 1;
        self.watches.insert(
            id,
            Watch {
                prefix: prefix.to_owned(),
                next_rev: start_revision.max(0),
                stream: None,
            },
        );
        self.open_stream(ctx, id);
        id
    }
    /// Closes a watch.
    pub fn cancel_watch(&mut self, ctx: &mut Ctx<'_>, id: WatchId) {
        if let Some(w) = self.watches.remove(&id)
            && let Some((wire, endpoint)) = w.stream
        {
            self.watch_wires.remove(&wire);
            ctx.send(self.endpoints[endpoint].actor, WatchCancel { id: wire });
        }
        self.waiting_watches.retain(|w| *w != id);
    }
    pub(super) fn open_stream(&mut self, ctx: &mut Ctx<'_>, id: WatchId) {
        let Some(endpoint) = self.pick() else {
            if !self.waiting_watches.contains(&id) {
                self.waiting_watches.push(id);
            }
            return;
        };
        let Some(w) = self.watches.get_mut(&id) else {
            return;
        };
        let wire = self.next_wire;
        self.next_wire += 1;
        w.stream = Some((wire, endpoint));
        self.watch_wires.insert(wire, id);
        ctx.send(
            self.endpoints[endpoint].actor,
            WatchCreate {
                id: wire,
                prefix: w.prefix.clone(),
                start_revision: w.next_rev,
            },
        );
    }
    pub(super) fn on_watch_events(&mut self, ctx: &mut Ctx<'_>, m: &WatchEvents) {
        let Some(&id) = self.watch_wires.get(&m.id) else {
            return;
        };
        let Some(w) = self.watches.get_mut(&id) else {
            return;
        };
        if let Some((_, endpoint)) = w.stream
            && let Some(e) = self.endpoints.get_mut(endpoint)
        {
            e.last_heard = ctx.now();
        }
        // A resumed stream may repeat what the broken one already delivered: skip it.
        let fresh: Vec<KvEvent> = m
            .events
            .iter()
            .filter(|e| e.revision() >= w.next_rev)
            .cloned()
            .collect();
        w.next_rev = w.next_rev.max(m.revision + 1);
        if !fresh.is_empty() {
            self.outbox.push(SessionEvent::Watch {
                watch: id,
                events: fresh,
            });
        }
    }
    /// Re-creates the watches whose stream ran on `endpoint`.
    pub(super) fn reopen_watches_on(&mut self, ctx: &mut Ctx<'_>, endpoint: usize) {
        let broken: Vec<WatchId> = self
            .watches
            .iter()
            .filter(|(_, w)| w.stream.is_some_and(|(_, e)| e == endpoint))
            .map(|(id, _)| *id)
            .collect();
        for id in broken {
            if let Some(w) = self.watches.get_mut(&id)
                && let Some((wire, _)) = w.stream.take()
            {
                self.watch_wires.remove(&wire);
            }
            self.open_stream(ctx, id);
        }
    }
}
