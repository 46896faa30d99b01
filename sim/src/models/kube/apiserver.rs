//! kube-apiserver as the things in front of it see it: `/readyz` (and `/livez`) answered from
//! its etcd health checks ([`EtcdCheck`]), with upstream's timing. It is what haproxy
//! balances to and health-checks; the API requests of controllers and kubelets build on it.
//!
//! - kubeadm's stacked etcd gives each apiserver only its local member
//!   (`--etcd-servers=https://127.0.0.1:2379`), so an apiserver whose local etcd is down is
//!   not ready even while the cluster has quorum. [`EtcdServers::All`] models an apiserver
//!   given every member.
//! - `/readyz` runs its checks one after another and answers 500 if any fails: the `etcd`
//!   check and the `etcd-readiness` check, each with its own client, so with etcd silent it
//!   answers after both timeouts (4 s at the defaults). `/livez` and `/healthz` run the
//!   `etcd` check only.
//! - API requests (GET, LIST, PUT and DELETE of Leases, Nodes and Pods) go to etcd through a
//!   storage client over the same `--etcd-servers`, under the request's deadline:
//!   `--request-timeout` (60 s) for a GET, 34 s for writes (the create/update handlers' cap).
//!   etcd calls have no timeout of their own, so a silent etcd answers 504 only then. A WATCH
//!   is an etcd watch on the collection from the revision after the client's; its stream
//!   stays open until the client or haproxy closes it or the process dies (the client's
//!   connection then resets). An update is a txn on the key's mod
//!   revision (`resourceVersion`): a stale one is a 409 Conflict.
//! - SIGTERM: with kubeadm's defaults (`--shutdown-delay-duration` 0) the listener closes at
//!   once, so the model stops as on a kill: connections are refused.

use std::collections::BTreeMap;

use super::api::{
    ApiError, ApiListResponse, ApiOp, ApiPing, ApiPong, ApiRequest, ApiResponse, ApiWatchCancel,
    ApiWatchEvent, ObjectRef, Stored as StoredObject, WatchedChange, collection_prefix,
};
use super::etcd_check::{Answer, CheckDone, ETCD_CHECK_TIMEOUT, EtcdCheck};
use super::eviction::{self, Verdict};
use super::facts::ApiserverReady;
use super::facts::EvictionGranted;
use crate::engine::{ActorId, Ctx, Endpoint, Event, Model, Port, SimDuration, route_to};
use crate::models::etcd::session::{
    CallError, CallFailure, CallId, EtcdSession, Keepalive, SessionConfig, SessionEvent, WatchId,
};
use crate::models::etcd::{MODEL_NAME as ETCD_MODEL, ReadMode};
use crate::models::kv::{KvEvent, KvOp};
use crate::models::vip::msg::{HttpAccepted, HttpGet, HttpReply};
use topology::wire::{CompareTarget, KvResult, ResponseOp};

/// The readiness path.
pub const READYZ: &str = "/readyz";
/// Ports of the two checks' sessions: `etcd`, then `etcd-readiness`.
const CHECK_PORTS: [Port; 2] = [Port(1), Port(2)];
/// Port of the storage client.
const STORAGE_PORT: Port = Port(3);
/// `--request-timeout` default: a GET's deadline.
pub const REQUEST_TIMEOUT: SimDuration = SimDuration::from_secs(60);
/// The create/update/patch/delete handlers' deadline (`k8s.io/apiserver/pkg/endpoints/
/// handlers`, `requestTimeoutUpperBound`-style cap at 34 s).
pub const WRITE_TIMEOUT: SimDuration = SimDuration::from_secs(34);

/// Which etcd members an apiserver is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdServers {
    /// Only the member on its own host (kubeadm's stacked etcd).
    Local,
    /// Every member.
    All,
}

/// An apiserver's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiserverConfig {
    /// `--etcd-servers`.
    pub etcd_servers: EtcdServers,
    /// `--etcd-healthcheck-timeout` and `--etcd-readycheck-timeout`.
    pub check_timeout: SimDuration,
}

impl Default for ApiserverConfig {
    /// kubeadm's: the local member, upstream's 2 s check timeouts.
    fn default() -> Self {
        ApiserverConfig {
            etcd_servers: EtcdServers::Local,
            check_timeout: ETCD_CHECK_TIMEOUT,
        }
    }
}

/// A health request being answered: which check it waits for, and the verdict so far.
#[derive(Clone, Copy, Debug)]
struct Request {
    to: Endpoint,
    id: u64,
    /// Checks still to run, from `next`.
    next: usize,
    last: usize,
    ok: bool,
}

/// An API request waiting for etcd.
#[derive(Clone, Debug)]
struct Stored {
    to: Endpoint,
    id: u64,
    /// The value a PUT wrote; `None` for a GET or LIST.
    put: Option<String>,
    /// The key prefix of a LIST.
    list: Option<String>,
    /// A DELETE.
    delete: bool,
    /// An eviction: the pod, the tries so far, and, when this call is its write, what to
    /// state once it succeeds.
    evict: Option<(ObjectRef, u32, Option<EvictionGranted>)>,
}

/// A client's watch: served from an etcd watch on the collection's prefix (upstream serves
/// it from the watch cache, itself fed by one etcd watch per resource: the same changes in
/// the same order, one hop later).
#[derive(Clone, Debug)]
struct Watcher {
    to: Endpoint,
    id: u64,
    prefix: String,
}

/// The apiserver.
#[derive(Debug)]
pub struct KubeApiserver {
    config: ApiserverConfig,
    checks: [EtcdCheck; 2],
    storage: EtcdSession,
    stored: BTreeMap<CallId, Stored>,
    requests: BTreeMap<u64, Request>,
    watchers: BTreeMap<WatchId, Watcher>,
    next_request: u64,
    /// The last `/readyz` verdict, to state changes as facts.
    ready: Option<bool>,
}

impl KubeApiserver {
    /// An apiserver with `config`.
    pub fn new(config: ApiserverConfig) -> Self {
        // The health checks' clients are built like the storage client: kube-apiserver's
        // keepalive on every connection.
        let session = SessionConfig {
            keepalive: Some(Keepalive::KUBE_APISERVER),
            ..SessionConfig::default()
        };
        KubeApiserver {
            config,
            checks: [
                EtcdCheck::new(config.check_timeout, session),
                EtcdCheck::new(config.check_timeout, session),
            ],
            storage: EtcdSession::new(session),
            stored: BTreeMap::new(),
            requests: BTreeMap::new(),
            watchers: BTreeMap::new(),
            next_request: 0,
            ready: None,
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        let dir = ctx.directory();
        let members: Vec<ActorId> = match self.config.etcd_servers {
            EtcdServers::Local => dir.actor_on(ctx.host(), ETCD_MODEL).into_iter().collect(),
            EtcdServers::All => dir.actors_named(ETCD_MODEL).collect(),
        };
        for (check, port) in self.checks.iter_mut().zip(CHECK_PORTS) {
            check.start(&mut ctx.scoped(port), &members);
        }
        self.storage.start(&mut ctx.scoped(STORAGE_PORT), &members);
    }

    fn on_api(&mut self, ctx: &mut Ctx<'_>, to: Endpoint, req: &ApiRequest) {
        let mut delete = false;
        let (op, deadline, put, list) = match &req.op {
            ApiOp::Get(object) => (KvOp::Get { key: object.key() }, REQUEST_TIMEOUT, None, None),
            ApiOp::Watch {
                kind,
                namespace,
                after,
            } => {
                let prefix = collection_prefix(*kind, namespace);
                let mut storage = ctx.scoped(STORAGE_PORT);
                let watch = self.storage.watch(&mut storage, &prefix, after + 1);
                let watcher = Watcher {
                    to,
                    id: req.id,
                    prefix,
                };
                self.watchers.insert(watch, watcher);
                // The response headers: the stream is up.
                let headers = ApiWatchEvent {
                    id: req.id,
                    changes: Vec::new(),
                };
                ctx.scoped(Port::MAIN).send(to, headers);
                return;
            }
            ApiOp::Delete(object) => {
                delete = true;
                let op = KvOp::Delete { key: object.key() };
                (op, WRITE_TIMEOUT, None, None)
            }
            ApiOp::Evict(pod) => {
                self.evict(ctx, to, req.id, pod.clone(), 0);
                return;
            }
            ApiOp::List { kind, namespace } => {
                let prefix = collection_prefix(*kind, namespace);
                let op = KvOp::Range {
                    prefix: prefix.clone(),
                };
                (op, REQUEST_TIMEOUT, None, Some(prefix))
            }
            ApiOp::Put {
                object,
                value,
                resource_version,
            } => {
                // Create only if absent; update only if unchanged since it was read.
                let target = match resource_version {
                    Some(rv) => CompareTarget::ModRevision(*rv),
                    None => CompareTarget::CreateRevision(0),
                };
                let op = KvOp::compare_and_put(object.key(), target, value.clone());
                (op, WRITE_TIMEOUT, Some(value.clone()), None)
            }
        };
        let read = ReadMode::Linearizable;
        let call = self
            .storage
            .call(&mut ctx.scoped(STORAGE_PORT), op, read, deadline);
        let stored = Stored {
            to,
            id: req.id,
            put,
            list,
            delete,
            evict: None,
        };
        self.stored.insert(call, stored);
    }

    fn on_stored(&mut self, ctx: &mut Ctx<'_>, event: SessionEvent) {
        let (call, result) = match event {
            SessionEvent::Done { call, result } => (call, result),
            SessionEvent::Watch { watch, events } => return self.on_watched(ctx, watch, &events),
            SessionEvent::LeaseDone { .. } | SessionEvent::LeaseLost { .. } => return,
        };
        let Some(s) = self.stored.remove(&call) else {
            return;
        };
        if let Some((pod, tries, granted)) = s.evict.clone() {
            return self.on_eviction(ctx, &s, pod, tries, granted, result);
        }
        if let Some(prefix) = &s.list {
            let revision = match &result {
                Ok(r) => r.revision(),
                Err(_) => 0,
            };
            let result = match result {
                Ok(KvResult::Range { kvs, .. }) => Ok(kvs
                    .iter()
                    .filter_map(|kv| {
                        let name = kv.key.strip_prefix(prefix.as_str())?.to_owned();
                        let obj = StoredObject {
                            value: kv.value.clone(),
                            resource_version: kv.mod_revision,
                        };
                        Some((name, obj))
                    })
                    .collect()),
                Ok(other) => Err(ApiError::Storage(format!("unexpected {other:?}"))),
                Err(f) => Err(api_error(&f)),
            };
            let reply = ApiListResponse {
                id: s.id,
                result,
                revision,
            };
            ctx.scoped(Port::MAIN).send(s.to, reply);
            return;
        }
        let result = match (result, s.put) {
            (Ok(KvResult::Delete { deleted: 0, .. }), None) if s.delete => Err(ApiError::NotFound),
            (Ok(KvResult::Delete { revision, .. }), None) if s.delete => Ok(StoredObject {
                value: String::new(),
                resource_version: revision,
            }),
            (Ok(KvResult::Get { kv: None, .. }), None) => Err(ApiError::NotFound),
            (Ok(KvResult::Get { kv: Some(kv), .. }), None) => Ok(StoredObject {
                value: kv.value,
                resource_version: kv.mod_revision,
            }),
            (
                Ok(KvResult::Txn {
                    succeeded: true,
                    revision,
                    ..
                }),
                Some(value),
            ) => Ok(StoredObject {
                value,
                resource_version: revision,
            }),
            (Ok(KvResult::Txn { responses, .. }), Some(_)) => {
                let exists = responses
                    .iter()
                    .any(|r| matches!(r, ResponseOp::Get { kv: Some(_) }));
                Err(if exists {
                    ApiError::Conflict
                } else {
                    ApiError::NotFound
                })
            }
            (Ok(other), _) => Err(ApiError::Storage(format!("unexpected {other:?}"))),
            (Err(f), _) => Err(api_error(&f)),
        };
        let reply = ApiResponse { id: s.id, result };
        ctx.scoped(Port::MAIN).send(s.to, reply);
    }

    /// Starts (or restarts) evicting `pod`: the read.
    fn evict(&mut self, ctx: &mut Ctx<'_>, to: Endpoint, id: u64, pod: ObjectRef, tries: u32) {
        let op = eviction::read(&pod);
        let mut storage = ctx.scoped(STORAGE_PORT);
        let call = self
            .storage
            .call(&mut storage, op, ReadMode::Linearizable, WRITE_TIMEOUT);
        let stored = Stored {
            to,
            id,
            put: None,
            list: None,
            delete: false,
            evict: Some((pod, tries, None)),
        };
        self.stored.insert(call, stored);
    }

    fn on_eviction(
        &mut self,
        ctx: &mut Ctx<'_>,
        s: &Stored,
        pod: ObjectRef,
        tries: u32,
        granted: Option<EvictionGranted>,
        result: Result<KvResult, CallFailure>,
    ) {
        let answer = match (result, granted) {
            (Err(f), _) => Err(api_error(&f)),
            (
                Ok(KvResult::Txn {
                    succeeded: true, ..
                }),
                Some(granted),
            ) => {
                ctx.fact(granted);
                Ok(StoredObject {
                    value: String::new(),
                    resource_version: 0,
                })
            }
            // Something changed since the read: start over.
            (Ok(KvResult::Txn { .. }), Some(_)) if tries + 1 < eviction::MAX_TRIES => {
                return self.evict(ctx, s.to, s.id, pod, tries + 1);
            }
            (Ok(KvResult::Txn { .. }), Some(_)) => Err(ApiError::Conflict),
            (Ok(KvResult::Txn { responses, .. }), None) => {
                match eviction::decide(&pod, &responses, ctx.now()) {
                    Verdict::Answer(a) => a,
                    Verdict::Write(op, granted) => {
                        let mut storage = ctx.scoped(STORAGE_PORT);
                        let call = self.storage.call(
                            &mut storage,
                            op,
                            ReadMode::Linearizable,
                            WRITE_TIMEOUT,
                        );
                        let mut next = s.clone();
                        next.evict = Some((pod, tries, Some(granted)));
                        self.stored.insert(call, next);
                        return;
                    }
                }
            }
            (Ok(other), _) => Err(ApiError::Storage(format!("unexpected {other:?}"))),
        };
        let reply = ApiResponse {
            id: s.id,
            result: answer,
        };
        ctx.scoped(Port::MAIN).send(s.to, reply);
    }

    /// Passes an etcd watch's changes on to the client whose watch it serves.
    fn on_watched(&mut self, ctx: &mut Ctx<'_>, watch: WatchId, events: &[KvEvent]) {
        let Some(w) = self.watchers.get(&watch) else {
            return;
        };
        let changes = events
            .iter()
            .filter_map(|e| {
                let name = e.key().strip_prefix(w.prefix.as_str())?.to_owned();
                let object = match e {
                    KvEvent::Put(kv) => Some(StoredObject {
                        value: kv.value.clone(),
                        resource_version: kv.mod_revision,
                    }),
                    KvEvent::Delete { .. } => None,
                };
                Some(WatchedChange {
                    name,
                    object,
                    revision: e.revision(),
                })
            })
            .collect();
        let event = ApiWatchEvent { id: w.id, changes };
        ctx.scoped(Port::MAIN).send(w.to, event);
    }

    /// The watcher `to`'s stream `id` is closed: its etcd watch goes too.
    fn cancel(&mut self, ctx: &mut Ctx<'_>, to: Endpoint, id: u64) {
        let gone: Vec<WatchId> = self
            .watchers
            .iter()
            .filter(|(_, w)| w.to == to && w.id == id)
            .map(|(k, _)| *k)
            .collect();
        for watch in gone {
            self.watchers.remove(&watch);
            self.storage
                .cancel_watch(&mut ctx.scoped(STORAGE_PORT), watch);
        }
    }

    fn on_get(&mut self, ctx: &mut Ctx<'_>, to: Endpoint, get: &HttpGet) {
        self.next_request += 1;
        let last = if get.path == READYZ { 1 } else { 0 };
        let r = Request {
            to,
            id: get.id,
            next: 0,
            last,
            ok: true,
        };
        self.requests.insert(self.next_request, r);
        self.advance(ctx, self.next_request);
    }

    /// Runs request `key`'s checks until one must wait, or answers it.
    fn advance(&mut self, ctx: &mut Ctx<'_>, key: u64) {
        let Some(mut r) = self.requests.remove(&key) else {
            return;
        };
        while r.next <= r.last {
            let Some(check) = self.checks.get_mut(r.next) else {
                break;
            };
            match check.ask(&mut ctx.scoped(CHECK_PORTS[r.next])) {
                Answer::Now(ok) => {
                    r.ok &= ok;
                    r.next += 1;
                }
                Answer::Later => {
                    self.requests.insert(key, r);
                    return;
                }
            }
        }
        let status = if r.ok { 200 } else { 500 };
        if r.last == 1 && self.ready != Some(r.ok) {
            self.ready = Some(r.ok);
            let host = ctx.directory().host_name(ctx.host()).to_owned();
            ctx.fact(ApiserverReady { host, ready: r.ok });
        }
        ctx.scoped(Port::MAIN)
            .send(r.to, HttpReply { id: r.id, status });
    }

    fn on_check(&mut self, ctx: &mut Ctx<'_>, index: usize, done: CheckDone) {
        let waiting: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.next == index)
            .map(|(k, _)| *k)
            .collect();
        for key in waiting {
            if let Some(r) = self.requests.get_mut(&key) {
                r.ok &= done.healthy;
                r.next += 1;
            }
            self.advance(ctx, key);
        }
    }
}

impl Model for KubeApiserver {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let mut event = event;
        match route_to(&mut self.storage, STORAGE_PORT, ctx, event) {
            Ok(reports) => {
                for r in reports {
                    self.on_stored(ctx, r);
                }
                return;
            }
            Err(e) => event = e,
        }
        for (index, port) in CHECK_PORTS.into_iter().enumerate() {
            match route_to(&mut self.checks[index], port, ctx, event) {
                Ok(done) => {
                    for d in done {
                        self.on_check(ctx, index, d);
                    }
                    return;
                }
                Err(e) => event = e,
            }
        }
        match event {
            Event::Start { .. } => self.start(ctx),
            Event::Message {
                from,
                from_port,
                msg,
            } => {
                let to = Endpoint::new(from, from_port);
                if let Some(g) = msg.downcast_ref::<HttpGet>() {
                    ctx.send(to, HttpAccepted { id: g.id });
                    self.on_get(ctx, to, g);
                } else if let Some(r) = msg.downcast_ref::<ApiRequest>() {
                    ctx.send(to, HttpAccepted { id: r.id });
                    self.on_api(ctx, to, r);
                } else if let Some(p) = msg.downcast_ref::<ApiPing>() {
                    ctx.send(to, ApiPong { id: p.id });
                } else if let Some(c) = msg.downcast_ref::<ApiWatchCancel>() {
                    self.cancel(ctx, to, c.id);
                }
            }
            // The watcher's process is gone: its stream goes with it.
            Event::Refused { to, msg } => {
                if let Some(e) = msg.downcast_ref::<ApiWatchEvent>() {
                    self.cancel(ctx, to, e.id);
                }
            }
            Event::Timer { .. } | Event::Closed { .. } => {}
            Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        for check in &mut self.checks {
            check.reset();
        }
        self.requests.clear();
        self.storage.reset();
        self.stored.clear();
        self.watchers.clear();
        self.ready = None;
    }
}

/// The status a failed storage call gives the client.
fn api_error(f: &CallFailure) -> ApiError {
    match &f.error {
        CallError::DeadlineExceeded => ApiError::Timeout,
        CallError::Server(e) => ApiError::Storage(format!("{e:?}")),
        CallError::ConnectionClosed | CallError::Refused => {
            ApiError::Storage(format!("{:?}", f.error))
        }
    }
}
