//! A controller's or kubelet's API writes in flight on one port: each answered, refused, cut
//! off by the local apiserver's death, or given up after the apiserver's write deadline
//! (the clients here have no timeout of their own, so the apiserver's 34 s answers first).

use std::collections::BTreeMap;

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
