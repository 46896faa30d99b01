//! A member serves watches from its own applied history, leader or not.

use std::collections::BTreeMap;

use super::EtcdMember;
use crate::engine::{Ctx, Endpoint};
use crate::models::etcd::messages::{WatchCreate, WatchEvents};
use crate::models::kv::KvEvent;

/// Sends each open watch the events under its prefix.
pub(super) fn notify_watchers(
    ctx: &mut Ctx<'_>,
    watchers: &BTreeMap<(Endpoint, u64), String>,
    events: &[KvEvent],
) {
    for ((client, id), prefix) in watchers {
        let mine: Vec<KvEvent> = events
            .iter()
            .filter(|e| e.key().starts_with(prefix.as_str()))
            .cloned()
            .collect();
        if let Some(revision) = mine.last().map(KvEvent::revision) {
            ctx.send(
                *client,
                WatchEvents {
                    id: *id,
                    revision,
                    events: mine,
                },
            );
        }
    }
}

impl EtcdMember {
    /// Opens a watch: replays the history from its start revision (a member serves watches
    /// from its own applied state, leader or not), then follows every later apply.
    pub(super) fn on_watch_create(&mut self, ctx: &mut Ctx<'_>, from: Endpoint, w: &WatchCreate) {
        let Some(run) = self.running.as_mut() else {
            return;
        };
        if run.terminating.is_some() {
            return;
        }
        let start = if w.start_revision > 0 {
            w.start_revision
        } else {
            run.store.revision() + 1
        };
        let past: Vec<KvEvent> = run
            .history
            .iter()
            .filter(|e| e.revision() >= start && e.key().starts_with(w.prefix.as_str()))
            .cloned()
            .collect();
        run.watchers.insert((from, w.id), w.prefix.clone());
        ctx.send(
            from,
            WatchEvents {
                id: w.id,
                revision: run.store.revision(),
                events: past,
            },
        );
    }
}
