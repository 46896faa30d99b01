//! A controller's or kubelet's API writes in flight on one port: each answered, refused, cut
//! off by the local apiserver's death, or given up after the apiserver's write deadline
//! (the clients here have no timeout of their own, so the apiserver's 34 s answers first).

use std::collections::{BTreeMap, BTreeSet};

use super::api::{ApiError, ApiOp, ApiRequest, ApiResponse, Stored};
use super::apiserver::WRITE_TIMEOUT;
use super::informer::ApiPath;
use crate::engine::{Ctx, Event, Port, SimDuration, SubMachine};
use crate::models::vip::APISERVER_MODEL;

/// A write ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteTimeout(pub u64);

/// Writes in flight, each known by the caller's key.
#[derive(Debug)]
pub struct Writes<K> {
    path: ApiPath,
    port: Port,
    next_id: u64,
    pending: BTreeMap<u64, K>,
}

impl<K: Clone + std::fmt::Debug> Writes<K> {
    /// Writes along `path`, sent from `port` (where their answers come back).
    pub fn new(path: ApiPath, port: Port) -> Self {
        Writes {
            path,
            port,
            next_id: 0,
            pending: BTreeMap::new(),
        }
    }

    /// Sends `op`, known as `key` until it is answered.
    pub fn send(&mut self, ctx: &mut Ctx<'_>, op: ApiOp, key: K) {
        self.next_id += 1;
        let id = self.next_id;
        self.pending.insert(id, key);
        let mut port = ctx.scoped(self.port);
        self.path.send(&mut port, ApiRequest { id, op });
        port.set_timer(
            WRITE_TIMEOUT + SimDuration::from_millis(1),
            WriteTimeout(id),
        );
    }

    /// The keys of the writes in flight.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.pending.values()
    }

    /// Forgets every write (the owner stopped); late answers are ignored.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    fn finish(
        &mut self,
        id: u64,
        result: Result<Stored, ApiError>,
        out: &mut Vec<(K, Result<Stored, ApiError>)>,
    ) {
        if let Some(key) = self.pending.remove(&id) {
            out.push((key, result));
        }
    }
}

impl<K: Clone + std::fmt::Debug> SubMachine for Writes<K> {
    type Output = (K, Result<Stored, ApiError>);

    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<Self::Output>) {
        match event {
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiResponse>() {
                    self.finish(r.id, r.result.clone(), out);
                }
            }
            Event::Refused { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiRequest>() {
                    self.finish(r.id, Err(ApiError::Unavailable), out);
                }
            }
            Event::Closed { peer } => {
                if self.path == ApiPath::Local
                    && ctx.directory().actor_on(ctx.host(), APISERVER_MODEL) == Some(peer)
                {
                    let ids: Vec<u64> = self.pending.keys().copied().collect();
                    for id in ids {
                        self.finish(id, Err(ApiError::Unavailable), out);
                    }
                }
            }
            Event::Timer { tag, .. } => {
                if let Some(WriteTimeout(id)) = tag.downcast_ref::<WriteTimeout>() {
                    self.finish(*id, Err(ApiError::Timeout), out);
                }
            }
            Event::Start { .. } | Event::Fault(_) => {}
        }
    }
}

/// What the end of a [`SyncWrites`] write (or anything else a controller routes) brought it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Nothing to act on.
    Nothing,
    /// Its inputs changed, or a key changed while its write was in flight: sync now.
    Changed,
    /// A write failed or conflicted: sync again after the rate limiter's delay (a work queue's
    /// `AddRateLimited`).
    WriteFailed,
}

/// Writes that keep one object per key in step with what a controller computes (a budget's
/// status, a Service's EndpointSlice). A key found changed while its write is in flight is
/// marked and synced again once the write ends, as a controller's work queue re-queues a key
/// that changed while it was being processed; a failed or conflicting write is retried
/// through the rate limiter.
#[derive(Debug)]
pub struct SyncWrites {
    writes: Writes<String>,
    dirty: BTreeSet<String>,
}

impl SyncWrites {
    /// Writes along `path`, sent from `port`.
    pub fn new(path: ApiPath, port: Port) -> Self {
        SyncWrites {
            writes: Writes::new(path, port),
            dirty: BTreeSet::new(),
        }
    }

    /// Whether `key` has a write in flight; if so it is synced again when that write ends.
    pub fn in_flight(&mut self, key: &str) -> bool {
        let busy = self.writes.keys().any(|k| k == key);
        if busy {
            self.dirty.insert(key.to_owned());
        }
        busy
    }

    /// Sends `op` for `key`.
    pub fn send(&mut self, ctx: &mut Ctx<'_>, op: ApiOp, key: String) {
        self.writes.send(ctx, op, key);
    }

    /// Forgets every write and mark (the owner stopped).
    pub fn clear(&mut self) {
        self.writes.clear();
        self.dirty.clear();
    }

    /// What the writes that ended (`done`) call for. A good write comes back through the
    /// owner's informer as a change (here before its answer: etcd notifies watchers as it
    /// applies), so only a key marked meanwhile needs a sync of its own.
    pub fn ended(&mut self, done: &[(String, Result<Stored, ApiError>)]) -> SyncOutcome {
        let mut outcome = SyncOutcome::Nothing;
        for (key, result) in done {
            let marked = self.dirty.remove(key);
            if result.is_err() {
                outcome = SyncOutcome::WriteFailed;
            } else if marked && outcome == SyncOutcome::Nothing {
                outcome = SyncOutcome::Changed;
            }
        }
        outcome
    }
}

impl SubMachine for SyncWrites {
    type Output = (String, Result<Stored, ApiError>);

    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<Self::Output>) {
        self.writes.handle(ctx, event, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Stored {
        Stored {
            value: String::new(),
            resource_version: 1,
        }
    }

    #[test]
    fn a_key_changed_during_its_write_is_synced_again_and_a_failure_is_retried() {
        let mut w = SyncWrites::new(ApiPath::Local, Port(1));
        w.writes.pending.insert(1, "default/web".to_owned());
        assert!(!w.in_flight("default/kv"));
        // Nothing changed meanwhile: the informer's own event is enough.
        assert_eq!(
            w.ended(&[("default/web".to_owned(), Ok(stored()))]),
            SyncOutcome::Nothing
        );
        // A sync skipped the key while its write was out: sync again once it ends.
        assert!(w.in_flight("default/web"));
        assert_eq!(
            w.ended(&[("default/web".to_owned(), Ok(stored()))]),
            SyncOutcome::Changed
        );
        // The mark is spent.
        assert_eq!(
            w.ended(&[("default/web".to_owned(), Ok(stored()))]),
            SyncOutcome::Nothing
        );
        // A conflict (a stale read) or any failure goes through the rate limiter.
        assert_eq!(
            w.ended(&[("default/web".to_owned(), Err(ApiError::Conflict))]),
            SyncOutcome::WriteFailed
        );
    }
}
