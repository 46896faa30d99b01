//! An informer: client-go's reflector keeping a local copy of one collection (a kind in a
//! namespace) by LIST, then WATCH from the list's revision, and the changes handed to the
//! controller that owns it (client-go `tools/cache`, v0.29-v0.32):
//! - a watch stream that ends once it was up (the apiserver answered its headers; then the
//!   server or haproxy closed it, or the server's process died) is opened again at once from
//!   the last revision seen; a WATCH that fails before that (refused, or closed by haproxy
//!   with no server to take it) is tried again after the reflector's back-off (800 ms,
//!   doubling to 30 s, reset after two good minutes); any other failure (a LIST that fails, a
//!   connection found dead) ends `ListAndWatch`, which lists again after the back-off;
//! - the connection is checked as client-go's HTTP/2 transport checks it: after
//!   `HTTP2_READ_IDLE_TIMEOUT_SECONDS` (30 s) without a frame, a PING; no answer within
//!   `HTTP2_PING_TIMEOUT_SECONDS` (15 s) closes the connection and the watch ends;
//! - a re-list replaces the cache and reports what differs (client-go's `Replace`).
//!
//! Requests go to the apiserver on the owner's host (kube-scheduler and
//! kube-controller-manager, through their kubeconfig's local endpoint) or through the API
//! VIP (the kubelet). Watch bookmarks, resource-version-too-old relists (the model's etcd
//! does not compact) and the informer's resync period are not modelled.

use std::collections::BTreeMap;

use super::api::{
    ApiListResponse, ApiObject, ApiOp, ApiPing, ApiPong, ApiRequest, ApiResponse, ApiWatchCancel,
    ApiWatchEvent, Kind, Stored,
};
use crate::engine::{ActorId, Address, Ctx, Event, SimDuration, SimTime, SubMachine};
use crate::models::vip::msg::HttpAccepted;
use crate::models::vip::{APISERVER_MODEL, HAPROXY_MODEL};

/// The reflector's first back-off after a failed LIST or WATCH (`NewExponentialBackoffManager
/// (800ms, 30s, 2m, 2.0, 1.0)` in `NewReflectorWithOptions`).
pub const BACKOFF_START: SimDuration = SimDuration::from_millis(800);
/// The reflector's longest back-off.
pub const BACKOFF_MAX: SimDuration = SimDuration::from_secs(30);
/// A stretch this long without failure resets the back-off.
pub const BACKOFF_RESET: SimDuration = SimDuration::from_secs(120);
/// `HTTP2_READ_IDLE_TIMEOUT_SECONDS` default: a connection silent this long is PINGed.
pub const READ_IDLE_TIMEOUT: SimDuration = SimDuration::from_secs(30);
/// `HTTP2_PING_TIMEOUT_SECONDS` default: an unanswered PING closes the connection.
pub const PING_TIMEOUT: SimDuration = SimDuration::from_secs(15);
/// A LIST's client-side bound once connected: the apiserver's `--request-timeout` (60 s)
/// answers first.
pub const LIST_TIMEOUT: SimDuration = SimDuration::from_secs(60);
/// client-go's dial timeout (`net.Dialer{Timeout: 30 * time.Second}` in
/// `SetTransportDefaults`): a connection that never comes up fails after it. (On-link, a
/// missing address fails sooner, after the kernel's three ARP probes; the engine cannot tell
/// that from silence.)
pub const DIAL_TIMEOUT: SimDuration = SimDuration::from_secs(30);

/// Where an informer's requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiPath {
    /// The apiserver on the owner's own host.
    Local,
    /// haproxy behind the VIP.
    Vip(Address),
}

impl ApiPath {
    /// Sends `req` along the path from `ctx`'s port.
    pub fn send(&self, ctx: &mut Ctx<'_>, req: ApiRequest) {
        match self {
            ApiPath::Local => {
                if let Some(api) = ctx.directory().actor_on(ctx.host(), APISERVER_MODEL) {
                    ctx.connect(api);
                    ctx.send(api, req);
                }
            }
            ApiPath::Vip(vip) => ctx.send_to_service(vip.clone(), HAPROXY_MODEL, req),
        }
    }
}

/// A change the informer reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `name` was created or updated.
    Upsert {
        /// The object's name (`namespace/name` when every namespace is watched).
        name: String,
        /// Its state.
        object: Stored,
    },
    /// `name` was deleted.
    Delete {
        /// The object's name.
        name: String,
    },
    /// A LIST replaced the cache (after the changes it brought): the owner syncs everything,
    /// as a controller does once its informer `HasSynced`.
    Listed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting to LIST (after a back-off, or not started).
    Idle,
    /// The LIST `id` is out.
    Listing(u64),
    /// The WATCH `id` is open.
    Watching(u64),
}

/// The informer's timers, tagged with the generation that set them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InformerTimer {
    /// Start (again) after a back-off.
    Retry(u64),
    /// The LIST `id` took too long.
    ListTimeout(u64),
    /// The LIST `id`'s connection did not come up.
    DialTimeout(u64),
    /// Check watch `id`'s connection for silence.
    Idle(u64),
    /// The PING on watch `id` went unanswered.
    Ping(u64),
}

/// One informer.
#[derive(Debug)]
pub struct Informer {
    kind: Kind,
    namespace: String,
    path: ApiPath,
    phase: Phase,
    objects: BTreeMap<String, Stored>,
    /// The revision everything up to is known.
    revision: i64,
    synced: bool,
    next_id: u64,
    backoff: SimDuration,
    last_failure: Option<SimTime>,
    /// Who holds the watch's connection (the apiserver, or the haproxy in front of it), and
    /// when it last said anything.
    peer: Option<ActorId>,
    heard: SimTime,
    pinged: bool,
    running: bool,
    /// The current request's connection is up.
    connected: bool,
    /// The next retry re-opens the watch rather than listing.
    retry_watch: bool,
    /// The current watch's stream is up (its first event, the headers, came).
    established: bool,
}

impl Informer {
    /// An informer on the `T`s of `namespace` (empty: every namespace) along `path`.
    pub fn new<T: ApiObject>(namespace: &str, path: ApiPath) -> Self {
        Informer {
            kind: T::KIND,
            namespace: namespace.to_owned(),
            path,
            phase: Phase::Idle,
            objects: BTreeMap::new(),
            revision: 0,
            synced: false,
            next_id: 0,
            backoff: BACKOFF_START,
            last_failure: None,
            peer: None,
            heard: SimTime::ZERO,
            pinged: false,
            running: false,
            connected: false,
            retry_watch: false,
            established: false,
        }
    }

    /// The cache: every object by name.
    pub fn objects(&self) -> &BTreeMap<String, Stored> {
        &self.objects
    }

    /// Whether the first LIST has come back (`HasSynced`).
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Starts listing (the owner's port is `ctx`'s).
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.running = true;
        self.list(ctx);
    }

    /// Stops and forgets everything (the owner stopped leading, or crashed).
    pub fn stop(&mut self) {
        self.running = false;
        self.phase = Phase::Idle;
        self.objects.clear();
        self.revision = 0;
        self.synced = false;
        self.peer = None;
        self.backoff = BACKOFF_START;
        self.last_failure = None;
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn list(&mut self, ctx: &mut Ctx<'_>) {
        let id = self.id();
        self.phase = Phase::Listing(id);
        let op = ApiOp::List {
            kind: self.kind,
            namespace: self.namespace.clone(),
        };
        self.connected = false;
        self.path.send(ctx, ApiRequest { id, op });
        ctx.set_timer(DIAL_TIMEOUT, InformerTimer::DialTimeout(id));
        ctx.set_timer(LIST_TIMEOUT, InformerTimer::ListTimeout(id));
    }

    fn watch(&mut self, ctx: &mut Ctx<'_>) {
        let id = self.id();
        self.phase = Phase::Watching(id);
        self.established = false;
        self.peer = None;
        self.heard = ctx.now();
        self.pinged = false;
        let op = ApiOp::Watch {
            kind: self.kind,
            namespace: self.namespace.clone(),
            after: self.revision,
        };
        self.path.send(ctx, ApiRequest { id, op });
        ctx.set_timer(READ_IDLE_TIMEOUT, InformerTimer::Idle(id));
    }

    /// A request failed: list again after the back-off.
    fn failed(&mut self, ctx: &mut Ctx<'_>) {
        self.retry_watch = false;
        self.back_off(ctx);
    }

    fn back_off(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        if self
            .last_failure
            .is_some_and(|t| now.saturating_since(t) >= BACKOFF_RESET)
        {
            self.backoff = BACKOFF_START;
        }
        self.last_failure = Some(now);
        self.phase = Phase::Idle;
        let wait = self.backoff;
        self.backoff = (self.backoff + self.backoff).min(BACKOFF_MAX);
        let id = self.id();
        ctx.set_timer(wait, InformerTimer::Retry(id));
    }

    /// The watch stream ended: open it again from where it stopped, at once if it was up,
    /// else after the back-off.
    fn watch_ended(&mut self, ctx: &mut Ctx<'_>) {
        if self.established {
            self.watch(ctx);
        } else {
            self.watch_refused(ctx);
        }
    }

    /// The WATCH's connection was refused: try it again after the back-off.
    fn watch_refused(&mut self, ctx: &mut Ctx<'_>) {
        self.retry_watch = true;
        self.back_off(ctx);
    }

    /// Hands `event` to the informer; the changes it learnt go to `out`.
    pub fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<Change>) {
        // Changes on a stream this informer no longer reads (stopped, or re-opened since):
        // the client resets that stream, so the server stops sending.
        if let Event::Message { from, msg, .. } = &event
            && let Some(e) = msg.downcast_ref::<ApiWatchEvent>()
            && !(self.running && self.phase == Phase::Watching(e.id))
        {
            ctx.send(*from, ApiWatchCancel { id: e.id });
            return;
        }
        if !self.running {
            return;
        }
        match event {
            Event::Message { from, msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiListResponse>() {
                    self.on_list(ctx, r, out);
                } else if let Some(e) = msg.downcast_ref::<ApiWatchEvent>() {
                    if self.phase == Phase::Watching(e.id) {
                        self.peer = Some(from);
                        self.heard = ctx.now();
                        self.established = true;
                        self.on_changes(e, out);
                    }
                } else if let Some(p) = msg.downcast_ref::<ApiPong>() {
                    if self.phase == Phase::Watching(p.id) {
                        self.heard = ctx.now();
                        self.pinged = false;
                    }
                } else if let Some(r) = msg.downcast_ref::<ApiResponse>() {
                    // An answer to a LIST or WATCH is an error: haproxy had no server, or
                    // closed the stream.
                    if self.phase == Phase::Listing(r.id) {
                        self.failed(ctx);
                    } else if self.phase == Phase::Watching(r.id) {
                        self.watch_ended(ctx);
                    }
                } else if let Some(a) = msg.downcast_ref::<HttpAccepted>() {
                    if self.phase == Phase::Listing(a.id) {
                        self.connected = true;
                    } else if self.phase == Phase::Watching(a.id) {
                        self.peer = Some(from);
                        self.heard = ctx.now();
                    }
                }
            }
            Event::Refused { msg, .. } => {
                let refused = msg
                    .downcast_ref::<ApiRequest>()
                    .map(|r| r.id)
                    .or_else(|| msg.downcast_ref::<ApiPing>().map(|p| p.id));
                match refused {
                    Some(id) if self.phase == Phase::Listing(id) => self.failed(ctx),
                    Some(id) if self.phase == Phase::Watching(id) => self.watch_refused(ctx),
                    _ => {}
                }
            }
            Event::Closed { peer }
                if ctx.directory().actor_on(ctx.host(), APISERVER_MODEL) == Some(peer) =>
            {
                match self.phase {
                    Phase::Listing(_) => self.failed(ctx),
                    Phase::Watching(_) => self.watch_ended(ctx),
                    Phase::Idle => {}
                }
            }
            Event::Closed { .. } => {}
            Event::Timer { tag, .. } => match tag.downcast_ref::<InformerTimer>() {
                Some(InformerTimer::Retry(id)) if *id == self.next_id => {
                    if self.retry_watch {
                        self.watch(ctx);
                    } else {
                        self.list(ctx);
                    }
                }
                Some(InformerTimer::ListTimeout(id)) if self.phase == Phase::Listing(*id) => {
                    self.failed(ctx);
                }
                Some(InformerTimer::DialTimeout(id))
                    if self.phase == Phase::Listing(*id) && !self.connected =>
                {
                    self.failed(ctx);
                }
                Some(InformerTimer::Idle(id)) if self.phase == Phase::Watching(*id) => {
                    self.check_idle(ctx, *id);
                }
                Some(InformerTimer::Ping(id))
                    if self.phase == Phase::Watching(*id)
                        && self.pinged
                        && ctx.now().saturating_since(self.heard) >= PING_TIMEOUT =>
                {
                    self.failed(ctx);
                }
                _ => {}
            },
            Event::Start { .. } | Event::Fault(_) => {}
        }
    }

    /// Read-idle check: PING a connection silent for [`READ_IDLE_TIMEOUT`].
    fn check_idle(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        let quiet = ctx.now().saturating_since(self.heard);
        if quiet < READ_IDLE_TIMEOUT {
            ctx.set_timer(
                READ_IDLE_TIMEOUT.saturating_sub(quiet),
                InformerTimer::Idle(id),
            );
            return;
        }
        match self.peer {
            Some(peer) => {
                self.pinged = true;
                ctx.send(peer, ApiPing { id });
                ctx.set_timer(PING_TIMEOUT, InformerTimer::Ping(id));
                ctx.set_timer(READ_IDLE_TIMEOUT, InformerTimer::Idle(id));
            }
            // Nobody ever answered the WATCH: its connection never came up.
            None => self.failed(ctx),
        }
    }

    fn on_list(&mut self, ctx: &mut Ctx<'_>, r: &ApiListResponse, out: &mut Vec<Change>) {
        if self.phase != Phase::Listing(r.id) {
            return;
        }
        let Ok(items) = &r.result else {
            self.failed(ctx);
            return;
        };
        let fresh: BTreeMap<String, Stored> = items.iter().cloned().collect();
        for name in self.objects.keys() {
            if !fresh.contains_key(name) {
                out.push(Change::Delete { name: name.clone() });
            }
        }
        for (name, object) in &fresh {
            if self.objects.get(name) != Some(object) {
                out.push(Change::Upsert {
                    name: name.clone(),
                    object: object.clone(),
                });
            }
        }
        self.objects = fresh;
        self.revision = r.revision;
        self.synced = true;
        out.push(Change::Listed);
        self.watch(ctx);
    }

    fn on_changes(&mut self, e: &ApiWatchEvent, out: &mut Vec<Change>) {
        for c in &e.changes {
            if c.revision <= self.revision {
                continue;
            }
            self.revision = c.revision;
            match &c.object {
                Some(object) => {
                    self.objects.insert(c.name.clone(), object.clone());
                    out.push(Change::Upsert {
                        name: c.name.clone(),
                        object: object.clone(),
                    });
                }
                None => {
                    if self.objects.remove(&c.name).is_some() {
                        out.push(Change::Delete {
                            name: c.name.clone(),
                        });
                    }
                }
            }
        }
    }
}

impl SubMachine for Informer {
    type Output = Change;

    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<Change>) {
        Informer::handle(self, ctx, event, out);
    }
}
