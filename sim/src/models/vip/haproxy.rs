//! haproxy 2.6 in TCP mode in front of every kube-apiserver, as `spofless render` configures
//! it: `balance roundrobin`, `option httpchk GET <path>` with `http-check expect status 200`,
//! `default-server check inter <interval> fall <fall> rise <rise>`, `retries 1`,
//! `timeout connect 5s`, `timeout check 10s`. The rules, read in haproxy's source (v2.6) and
//! measured against haproxy 2.6.12:
//! - A server's health is a counter from 0 to `rise + fall - 1`, up while it is at least
//!   `rise` (`check.c`). Servers start up with health `rise`, so the first failed check at
//!   start takes a server down and the first good one makes it fully up; after that it takes
//!   `fall` failures in a row to go down and `rise` successes to come back.
//! - The first checks are staggered over one `inter` by server position; each next check
//!   runs `inter` after the previous one finished (`fastinter` and `downinter` default to
//!   `inter`).
//! - A check fails at once on a refused connection, on a wrong status when the answer comes,
//!   on silence after `min(inter, timeout connect)` (with `timeout check` set, that bounds
//!   the connect phase), and, once connected, after `timeout check` without an answer.
//! - A request (a health GET or an API call: haproxy passes TCP through) goes to the next
//!   server that is up, round robin. A refused connection is
//!   retried once on the same server after `min(1 s, timeout connect)` (`retries 1`, no
//!   `option redispatch`; two attempts since 2.6.3); an unanswered one after `timeout
//!   connect`; then the client's connection is closed, as it is at once when no server is up.
//!   A connected request is not retried: it waits up to `timeout server`.
//! - A WATCH is a connection that stays open: haproxy relays its events and the client's
//!   HTTP/2 PINGs both ways, closes it after `timeout server` without a byte from the server,
//!   and closes it when the server's process dies (the server's RST), telling the client.
//!   A server process that is paused while its host stays up would complete the handshake in
//!   the kernel and hang the request instead: the engine cannot tell that silence from a dead
//!   host, so both play out as an unanswered connect.

use std::collections::BTreeMap;

use topology::Cluster;
use topology::policy::vrrp;

use super::APISERVER_MODEL;
use super::msg::{HttpAccepted, HttpGet, HttpReply};
use crate::engine::{ActorId, Ctx, Endpoint, Event, Model, SimDuration, SimTime};
use crate::models::kube::api::{
    ApiError, ApiListResponse, ApiOp, ApiPing, ApiPong, ApiRequest, ApiResponse, ApiWatchCancel,
    ApiWatchEvent,
};

/// `timeout connect 5s` in the rendered haproxy.cfg (kubeadm's HA guide uses the same).
pub const CONNECT_TIMEOUT: SimDuration = SimDuration::from_secs(5);
/// `timeout check 10s` in the rendered haproxy.cfg: once a check's connection is up, the
/// HTTP exchange gets this long.
pub const CHECK_TIMEOUT: SimDuration = SimDuration::from_secs(10);
/// `timeout server 35s` in the rendered haproxy.cfg: a connected request whose server says
/// nothing for this long is closed.
pub const SERVER_TIMEOUT: SimDuration = SimDuration::from_secs(35);
/// `retries 1` in the rendered haproxy.cfg.
pub const RETRIES: u32 = 1;
/// Wait before retrying a refused connection: `min(1 s, timeout connect)` (`backend.c`).
pub const REFUSED_RETRY_DELAY: SimDuration = SimDuration::from_secs(1);
/// Status haproxy answers with when no server can take a request.
pub const NO_SERVER_STATUS: u16 = 503;

/// One host's haproxy configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaproxyConfig {
    /// Backend servers: the control-plane hosts, in the rendered order.
    pub servers: Vec<String>,
    /// Health-check path.
    pub path: String,
    /// `inter`.
    pub inter: SimDuration,
    /// `fall`.
    pub fall: u32,
    /// `rise`.
    pub rise: u32,
    /// How long a check's connect phase may take: `min(inter, timeout connect)`.
    pub check_timeout: SimDuration,
}

impl HaproxyConfig {
    /// What `spofless render` writes (the same on every control-plane host).
    pub fn for_cluster(cluster: &Cluster) -> Self {
        let hc = cluster
            .spec
            .api_endpoint
            .health_check
            .clone()
            .unwrap_or_default();
        HaproxyConfig {
            servers: vrrp::priority_order(cluster)
                .iter()
                .map(|h| h.name.clone())
                .collect(),
            path: hc.path,
            inter: SimDuration::from_secs(u64::from(hc.interval_seconds.max(1))),
            fall: hc.fall.max(1),
            rise: hc.rise.max(1),
            check_timeout: CONNECT_TIMEOUT.min(SimDuration::from_secs(u64::from(
                hc.interval_seconds.max(1),
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HaproxyTimer {
    /// Check server `index`.
    Check(usize),
    /// Check number `id` got no connection in time.
    CheckConnectTimeout(u64),
    /// Check number `id`, connected, got no answer in time.
    CheckTimeout(u64),
    /// Forwarded request `id` got no connection in time.
    ConnectTimeout(u64),
    /// Forwarded request `id`, connected, got no answer in time.
    ServerTimeout(u64),
    /// Try refused request `id` again.
    Retry(u64),
}

/// Health of one server.
#[derive(Clone, Debug)]
struct Server {
    actor: Option<ActorId>,
    /// haproxy's `check->health`: 0 to `rise + fall - 1`, up from `rise`.
    health: u32,
}

/// What a client sent: haproxy passes TCP through, so it carries either kind of request.
#[derive(Clone, Debug)]
enum Payload {
    /// An HTTP GET (a health path).
    Get(String),
    /// An API call.
    Api(ApiOp),
}

/// A client request on its way through.
#[derive(Clone, Debug)]
struct Forwarded {
    client: Endpoint,
    client_id: u64,
    payload: Payload,
    server: usize,
    tries: u32,
    connected: bool,
    /// When the server last sent something (a WATCH's `timeout server` counts from it).
    heard: SimTime,
}

impl Forwarded {
    fn is_watch(&self) -> bool {
        matches!(&self.payload, Payload::Api(op) if op.is_watch())
    }
}

/// haproxy on one control-plane host.
#[derive(Debug)]
pub struct Haproxy {
    config: HaproxyConfig,
    servers: Vec<Server>,
    next_server: usize,
    next_id: u64,
    /// Checks in flight: id -> (server, connected).
    checks: BTreeMap<u64, (usize, bool)>,
    forwarded: BTreeMap<u64, Forwarded>,
    /// When each server last changed state (for tests and reports).
    pub transitions: Vec<(SimTime, String, bool)>,
}

impl Haproxy {
    /// haproxy with `config`.
    pub fn new(config: HaproxyConfig) -> Self {
        Haproxy {
            config,
            servers: Vec::new(),
            next_server: 0,
            next_id: 0,
            checks: BTreeMap::new(),
            forwarded: BTreeMap::new(),
            transitions: Vec::new(),
        }
    }

    /// Whether server `host` is in rotation.
    pub fn server_up(&self, host: &str) -> Option<bool> {
        let i = self.config.servers.iter().position(|s| s == host)?;
        self.servers.get(i).map(|s| s.health >= self.config.rise)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        let dir = ctx.directory();
        self.servers = self
            .config
            .servers
            .iter()
            .map(|h| Server {
                actor: dir
                    .host_id(h)
                    .and_then(|h| dir.actor_on(h, APISERVER_MODEL)),
                health: self.config.rise,
            })
            .collect();
        // The first checks are spread over one interval by server position.
        let n = self.servers.len().max(1) as u64;
        for i in 0..self.servers.len() {
            let offset = self.config.inter.as_nanos() * i as u64 / n;
            ctx.set_timer(SimDuration::from_nanos(offset), HaproxyTimer::Check(i));
        }
    }

    fn check(&mut self, ctx: &mut Ctx<'_>, server: usize) {
        let id = self.id();
        self.checks.insert(id, (server, false));
        ctx.set_timer(
            self.config.check_timeout,
            HaproxyTimer::CheckConnectTimeout(id),
        );
        match self.servers.get(server).and_then(|s| s.actor) {
            Some(a) => ctx.send(
                a,
                HttpGet {
                    id,
                    path: self.config.path.clone(),
                },
            ),
            None => self.check_result(ctx, id, false),
        }
    }

    /// Check `id` finished: move its server's health, and schedule the next check `inter`
    /// from now.
    fn check_result(&mut self, ctx: &mut Ctx<'_>, id: u64, ok: bool) {
        let Some((i, _)) = self.checks.remove(&id) else {
            return;
        };
        ctx.set_timer(self.config.inter, HaproxyTimer::Check(i));
        let (fall, rise) = (self.config.fall, self.config.rise);
        let Some(s) = self.servers.get_mut(i) else {
            return;
        };
        let was_up = s.health >= rise;
        if ok {
            if s.health < rise + fall - 1 {
                s.health += 1;
                if s.health >= rise {
                    s.health = rise + fall - 1;
                }
            }
        } else if s.health > rise {
            s.health -= 1;
        } else {
            s.health = 0;
        }
        let up = s.health >= rise;
        if up != was_up {
            let name = self.config.servers.get(i).cloned().unwrap_or_default();
            self.transitions.push((ctx.now(), name, up));
        }
    }

    fn pick(&mut self) -> Option<usize> {
        let n = self.servers.len();
        (0..n)
            .map(|k| (self.next_server + k) % n)
            .find(|i| self.servers[*i].health >= self.config.rise)
            .inspect(|i| self.next_server = (i + 1) % n)
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        client: Endpoint,
        client_id: u64,
        payload: Payload,
    ) {
        let f = Forwarded {
            client,
            client_id,
            payload,
            server: 0,
            tries: 0,
            connected: false,
            heard: ctx.now(),
        };
        match self.pick() {
            Some(server) => self.forward(ctx, Forwarded { server, ..f }),
            None => self.fail(ctx, &f),
        }
    }

    fn forward(&mut self, ctx: &mut Ctx<'_>, f: Forwarded) {
        let Some(actor) = self.servers.get(f.server).and_then(|s| s.actor) else {
            self.fail(ctx, &f);
            return;
        };
        let id = self.id();
        match &f.payload {
            Payload::Get(path) => ctx.send(
                actor,
                HttpGet {
                    id,
                    path: path.clone(),
                },
            ),
            Payload::Api(op) => {
                if op.is_watch() {
                    ctx.connect(actor);
                }
                ctx.send(actor, ApiRequest { id, op: op.clone() });
            }
        }
        ctx.set_timer(CONNECT_TIMEOUT, HaproxyTimer::ConnectTimeout(id));
        self.forwarded.insert(id, f);
    }

    /// The server did not take request `id`: retry once on the same server, then fail.
    fn retry(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        let Some(mut f) = self.forwarded.remove(&id) else {
            return;
        };
        if f.tries < RETRIES {
            f.tries += 1;
            self.forward(ctx, f);
        } else {
            self.fail(ctx, &f);
        }
    }

    /// Request `id`'s connection was refused: retry after a pause.
    fn refused(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        match self.forwarded.get(&id) {
            Some(f) if f.tries < RETRIES => {
                ctx.set_timer(REFUSED_RETRY_DELAY, HaproxyTimer::Retry(id));
            }
            Some(_) => self.retry(ctx, id),
            None => {}
        }
    }

    /// The client's connection is closed without an answer (no server, or none took it).
    fn fail(&mut self, ctx: &mut Ctx<'_>, f: &Forwarded) {
        let id = f.client_id;
        match f.payload {
            Payload::Get(_) => ctx.send(
                f.client,
                HttpReply {
                    id,
                    status: NO_SERVER_STATUS,
                },
            ),
            Payload::Api(_) => ctx.send(
                f.client,
                ApiResponse {
                    id,
                    result: Err(ApiError::Unavailable),
                },
            ),
        }
    }

    fn on_api_list(&mut self, ctx: &mut Ctx<'_>, r: &ApiListResponse) {
        if let Some(f) = self.forwarded.remove(&r.id) {
            let reply = ApiListResponse {
                id: f.client_id,
                result: r.result.clone(),
                revision: r.revision,
            };
            ctx.send(f.client, reply);
        }
    }

    fn on_api_response(&mut self, ctx: &mut Ctx<'_>, r: &ApiResponse) {
        if let Some(f) = self.forwarded.remove(&r.id) {
            let reply = ApiResponse {
                id: f.client_id,
                result: r.result.clone(),
            };
            ctx.send(f.client, reply);
        }
    }

    /// A watch's server sent changes: pass them on.
    fn on_watch_event(&mut self, ctx: &mut Ctx<'_>, e: &ApiWatchEvent) {
        if let Some(f) = self.forwarded.get_mut(&e.id) {
            f.heard = ctx.now();
            let relayed = ApiWatchEvent {
                id: f.client_id,
                changes: e.changes.clone(),
            };
            ctx.send(f.client, relayed);
        }
    }

    /// The forward carrying the client's stream `client_id`, if haproxy still has it.
    fn stream_of(&self, client: Endpoint, client_id: u64) -> Option<u64> {
        self.forwarded
            .iter()
            .find(|(_, f)| f.client == client && f.client_id == client_id && f.is_watch())
            .map(|(id, _)| *id)
    }

    /// The client closed its stream (or its process is gone): both sides go.
    fn close_stream(&mut self, ctx: &mut Ctx<'_>, client: Endpoint, client_id: u64) {
        let Some(id) = self.stream_of(client, client_id) else {
            return;
        };
        if let Some(f) = self.forwarded.remove(&id)
            && let Some(actor) = self.servers.get(f.server).and_then(|s| s.actor)
        {
            ctx.send(actor, ApiWatchCancel { id });
        }
    }

    /// A client PINGs its watch's connection: on to the server, or, if haproxy no longer
    /// has the connection (it restarted), the client learns it is closed.
    fn on_ping(&mut self, ctx: &mut Ctx<'_>, client: Endpoint, client_id: u64) {
        let server = self.stream_of(client, client_id).and_then(|id| {
            let f = &self.forwarded[&id];
            Some((id, self.servers.get(f.server)?.actor?))
        });
        match server {
            Some((id, actor)) => ctx.send(actor, ApiPing { id }),
            None => ctx.send(
                client,
                ApiResponse {
                    id: client_id,
                    result: Err(ApiError::Unavailable),
                },
            ),
        }
    }

    fn on_pong(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        if let Some(f) = self.forwarded.get_mut(&id) {
            f.heard = ctx.now();
            ctx.send(f.client, ApiPong { id: f.client_id });
        }
    }

    /// The server behind watch forwards died: their clients' connections are closed.
    fn server_closed(&mut self, ctx: &mut Ctx<'_>, peer: ActorId) {
        let gone: Vec<u64> = self
            .forwarded
            .iter()
            .filter(|(_, f)| {
                f.is_watch() && self.servers.get(f.server).and_then(|s| s.actor) == Some(peer)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(f) = self.forwarded.remove(&id) {
                self.fail(ctx, &f);
            }
        }
    }

    /// `timeout server` for forward `id`: a request still unanswered fails; a watch fails
    /// only if the server has been silent that long.
    fn server_timeout(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        let Some(f) = self.forwarded.get(&id) else {
            return;
        };
        let quiet = ctx.now().saturating_since(f.heard);
        if f.is_watch() && quiet < SERVER_TIMEOUT {
            ctx.set_timer(
                SERVER_TIMEOUT.saturating_sub(quiet),
                HaproxyTimer::ServerTimeout(id),
            );
            return;
        }
        if let Some(f) = self.forwarded.remove(&id) {
            if f.is_watch()
                && let Some(actor) = self.servers.get(f.server).and_then(|s| s.actor)
            {
                ctx.send(actor, ApiWatchCancel { id });
            }
            self.fail(ctx, &f);
        }
    }

    /// The server's kernel took connection `id`: from now on the exchange's own timeout runs.
    fn on_accepted(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        if let Some((_, connected)) = self.checks.get_mut(&id) {
            *connected = true;
            ctx.set_timer(CHECK_TIMEOUT, HaproxyTimer::CheckTimeout(id));
        } else if let Some(f) = self.forwarded.get_mut(&id) {
            f.connected = true;
            f.heard = ctx.now();
            ctx.set_timer(SERVER_TIMEOUT, HaproxyTimer::ServerTimeout(id));
        }
    }

    fn on_reply(&mut self, ctx: &mut Ctx<'_>, r: &HttpReply) {
        if self.checks.contains_key(&r.id) {
            self.check_result(ctx, r.id, r.status == 200);
        } else if let Some(f) = self.forwarded.remove(&r.id) {
            ctx.send(
                f.client,
                HttpReply {
                    id: f.client_id,
                    status: r.status,
                },
            );
        }
    }
}

impl Model for Haproxy {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => self.start(ctx),
            Event::Timer { tag, .. } => match tag.downcast_ref::<HaproxyTimer>() {
                Some(HaproxyTimer::Check(i)) => self.check(ctx, *i),
                Some(HaproxyTimer::CheckConnectTimeout(id))
                    if self.checks.get(id).is_some_and(|(_, connected)| !connected) =>
                {
                    self.check_result(ctx, *id, false);
                }
                Some(HaproxyTimer::CheckTimeout(id)) => self.check_result(ctx, *id, false),
                // No retry once connected: the request hangs until the server timeout.
                Some(HaproxyTimer::ConnectTimeout(id))
                    if self.forwarded.get(id).is_some_and(|f| !f.connected) =>
                {
                    self.retry(ctx, *id);
                }
                Some(HaproxyTimer::ServerTimeout(id)) => self.server_timeout(ctx, *id),
                Some(HaproxyTimer::Retry(id)) => self.retry(ctx, *id),
                Some(_) | None => {}
            },
            Event::Message {
                from,
                from_port,
                msg,
            } => {
                if let Some(r) = msg.downcast_ref::<HttpReply>() {
                    self.on_reply(ctx, r);
                } else if let Some(a) = msg.downcast_ref::<HttpAccepted>() {
                    self.on_accepted(ctx, a.id);
                } else if let Some(r) = msg.downcast_ref::<ApiResponse>() {
                    self.on_api_response(ctx, r);
                } else if let Some(r) = msg.downcast_ref::<ApiListResponse>() {
                    self.on_api_list(ctx, r);
                } else if let Some(e) = msg.downcast_ref::<ApiWatchEvent>() {
                    self.on_watch_event(ctx, e);
                } else if let Some(p) = msg.downcast_ref::<ApiPing>() {
                    self.on_ping(ctx, Endpoint::new(from, from_port), p.id);
                } else if let Some(p) = msg.downcast_ref::<ApiPong>() {
                    self.on_pong(ctx, p.id);
                } else if let Some(c) = msg.downcast_ref::<ApiWatchCancel>() {
                    self.close_stream(ctx, Endpoint::new(from, from_port), c.id);
                } else if let Some(g) = msg.downcast_ref::<HttpGet>() {
                    let payload = Payload::Get(g.path.clone());
                    self.on_request(ctx, Endpoint::new(from, from_port), g.id, payload);
                } else if let Some(r) = msg.downcast_ref::<ApiRequest>() {
                    // The client's connection to haproxy is up (a watch's stream may now be
                    // PINGed here).
                    ctx.send(Endpoint::new(from, from_port), HttpAccepted { id: r.id });
                    let payload = Payload::Api(r.op.clone());
                    self.on_request(ctx, Endpoint::new(from, from_port), r.id, payload);
                }
            }
            Event::Refused { to, msg } => {
                if let Some(e) = msg.downcast_ref::<ApiWatchEvent>() {
                    self.close_stream(ctx, to, e.id);
                } else if let Some(g) = msg.downcast_ref::<HttpGet>() {
                    if self.checks.contains_key(&g.id) {
                        self.check_result(ctx, g.id, false);
                    } else {
                        self.refused(ctx, g.id);
                    }
                } else if let Some(r) = msg.downcast_ref::<ApiRequest>() {
                    self.refused(ctx, r.id);
                }
            }
            Event::Closed { peer } => self.server_closed(ctx, peer),
            Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        self.checks.clear();
        self.forwarded.clear();
    }
}
