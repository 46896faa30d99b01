//! A RADOS session: the part of librados a process embeds to do I/O, as a sub-machine on a
//! port of its owner (the benchmark client, later a kubelet's volumes). It holds what
//! librados' `MonClient` and `Objecter` hold:
//! - the OSD map it subscribed to, and the monitors' lease (their beacons), renewed while a
//!   quorum stands;
//! - each write in flight, sent to its PG's acting primary as CRUSH maps the object with the
//!   session's current map (`Objecter::_calc_target`);
//! - resends when a new map moves a PG's primary or the primary restarted
//!   (`Objecter::_scan_requests`, and the session reset of a new OSD incarnation), and when
//!   the primary answers "not mine".
//!
//! A write below `min_size` is not refused: the primary queues it until the PG goes active
//! again (`PrimaryLogPG::do_request` waits on an inactive PG), so the session just keeps it
//! outstanding. One session per process, shared by its images, as one `RadosClient` is.
//!
//! Everything the session hears arrives on its own port: the monitors send their lease
//! beacons and new maps to every subscribed session, the OSDs answer the port that wrote.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::layout::{CephLayout, PgId};
use super::mon::{MON_MODEL, OSD_MODEL};
use super::msg::{ClientReply, ClientWrite, MapRequest, MapUpdate, MonBeacon};
use super::osdmap::OsdMap;
use crate::engine::{ActorId, Ctx, Event, SimDuration, SimTime, SubMachine};

/// How long a write told "resend" waits before it goes out again. Real OSDs never say this: one
/// whose map is older than the op's waits for the map (`OSD::handle_op`, `waiting_for_map`;
/// the model's OSDs do that too), and a PG changing interval requeues its ops. The model's
/// primaries answer "resend" when a PG is not theirs (any more), and this short wait stands in
/// for the client's map catching up.
pub const RESEND_AFTER: SimDuration = SimDuration::from_millis(100);

/// Timer tag of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionTimer {
    /// Writes told to resend go out again.
    Resend,
}

/// What the session reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RadosEvent {
    /// A write is acknowledged: every acting replica of its PG has it.
    Committed(Commit),
    /// The session adopted a newer OSD map.
    NewMap {
        /// Its epoch.
        epoch: u64,
    },
}

/// An acknowledged write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Write id.
    pub tid: u64,
    /// Its PG.
    pub pg: PgId,
    /// The PG version it got.
    pub version: u64,
    /// The PG was not active+clean when it acknowledged.
    pub degraded: bool,
    /// When the primary sent the acknowledgement (the session hears it later).
    pub primary_sent: SimTime,
    /// Time it waited in PG queues because the PG was inactive (summed over the primaries it
    /// was sent to, as they report it).
    pub inactive_wait: SimDuration,
    /// Time it was held back for lack of a monitor lease.
    pub quorum_wait: SimDuration,
}

/// A write in flight.
#[derive(Clone, Debug)]
struct Op {
    pg: PgId,
    issued: SimTime,
    /// The OSD it was last sent to; `None` while held back or told to resend.
    sent_to: Option<i32>,
    /// Boot nonce of the OSD incarnation it went to: a restarted OSD lost it.
    sent_nonce: u64,
    held_since: Option<SimTime>,
    quorum_wait: SimDuration,
    inactive_wait: SimDuration,
}

/// The session.
#[derive(Debug)]
pub struct RadosSession {
    layout: Arc<CephLayout>,
    map: OsdMap,
    /// Acting primary of every PG under `map`.
    primaries: BTreeMap<PgId, Option<i32>>,
    lease_until: SimTime,
    next_tid: u64,
    ops: BTreeMap<u64, Op>,
    /// A [`SessionTimer::Resend`] is armed.
    resend_armed: bool,
}

impl RadosSession {
    /// A session to `layout`'s cluster; it knows no map until a monitor sends one.
    pub fn new(layout: Arc<CephLayout>) -> Self {
        let mut s = RadosSession {
            map: OsdMap::initial(layout.osds.len()),
            primaries: BTreeMap::new(),
            lease_until: SimTime::ZERO,
            next_tid: 0,
            ops: BTreeMap::new(),
            resend_armed: false,
            layout,
        };
        s.remap();
        s
    }

    /// Opens the monitor session. `MonClient` hunts several monitors in parallel
    /// (`mon_client_hunt_parallel`, 3 in Pacific) and subscribes to the osdmap; the first mon
    /// in quorum answers. Here every mon is asked and the leader answers.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        let mons: Vec<ActorId> = ctx.directory().actors_named(MON_MODEL).collect();
        for mon in mons {
            ctx.send(
                mon,
                MapRequest {
                    have: self.map.epoch,
                    session_start: true,
                },
            );
        }
    }

    /// The session's current map.
    pub fn map(&self) -> &OsdMap {
        &self.map
    }

    /// Whether a monitor lease is held at `now` (a quorum stood when it was granted).
    pub fn has_lease(&self, now: SimTime) -> bool {
        now < self.lease_until
    }

    /// Writes not yet acknowledged: id and when issued.
    pub fn outstanding(&self) -> impl Iterator<Item = (u64, SimTime)> + '_ {
        self.ops.iter().map(|(tid, op)| (*tid, op.issued))
    }

    /// Issues a write to `pg` and returns its id. It goes out at once when a lease is held,
    /// otherwise when the next beacon renews the lease.
    pub fn write(&mut self, ctx: &mut Ctx<'_>, pg: PgId) -> u64 {
        self.next_tid += 1;
        let tid = self.next_tid;
        self.ops.insert(
            tid,
            Op {
                pg,
                issued: ctx.now(),
                sent_to: None,
                sent_nonce: 0,
                held_since: None,
                quorum_wait: SimDuration::ZERO,
                inactive_wait: SimDuration::ZERO,
            },
        );
        self.submit(ctx, tid);
        tid
    }

    /// Sends again every write that is held back or was told to resend.
    fn resend_unsent(&mut self, ctx: &mut Ctx<'_>) {
        let unsent: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| op.sent_to.is_none())
            .map(|(tid, _)| *tid)
            .collect();
        for tid in unsent {
            self.submit(ctx, tid);
        }
    }

    /// The process died: writes in flight die with it, and so does the monitor session.
    pub fn reset(&mut self) {
        self.ops.clear();
        self.lease_until = SimTime::ZERO;
        self.resend_armed = false;
    }

    fn remap(&mut self) {
        self.primaries = self
            .layout
            .map_all(&self.map.states)
            .into_iter()
            .map(|(pg, m)| (pg, m.acting_primary))
            .collect();
    }

    fn primary_of(&self, pg: PgId) -> Option<i32> {
        self.primaries.get(&pg).copied().flatten()
    }

    fn nonce_of(&self, osd: i32) -> Option<u64> {
        self.map.up_nonce.get(usize::try_from(osd).ok()?).copied()
    }

    fn osd_actor(&self, ctx: &Ctx<'_>, osd: i32) -> Option<ActorId> {
        let dir = ctx.directory();
        dir.actor_on(dir.host_id(self.layout.osd_host(osd))?, OSD_MODEL)
    }

    /// Sends write `tid` to its PG's primary, or holds it back without a lease.
    fn submit(&mut self, ctx: &mut Ctx<'_>, tid: u64) {
        let now = ctx.now();
        let lease = self.has_lease(now);
        let Some(pg) = self.ops.get(&tid).map(|op| op.pg) else {
            return;
        };
        let primary = self.primary_of(pg);
        let nonce = primary.and_then(|o| self.nonce_of(o)).unwrap_or(0);
        let Some(op) = self.ops.get_mut(&tid) else {
            return;
        };
        if !lease {
            op.held_since.get_or_insert(now);
            op.sent_to = None;
            return;
        }
        if let Some(since) = op.held_since.take() {
            op.quorum_wait = op.quorum_wait + now.saturating_since(since);
        }
        op.sent_to = primary;
        op.sent_nonce = nonce;
        if let Some(o) = primary
            && let Some(a) = self.osd_actor(ctx, o)
        {
            let epoch = self.map.epoch;
            ctx.send(
                a,
                ClientWrite {
                    tid,
                    pg,
                    to: o,
                    epoch,
                },
            );
        }
    }

    fn on_map(&mut self, ctx: &mut Ctx<'_>, map: &OsdMap, out: &mut Vec<RadosEvent>) {
        if map.epoch <= self.map.epoch {
            return;
        }
        self.map = map.clone();
        self.remap();
        out.push(RadosEvent::NewMap {
            epoch: self.map.epoch,
        });
        let moved: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| {
                let now_primary = self.primary_of(op.pg);
                let nonce = now_primary.and_then(|o| self.nonce_of(o));
                op.sent_to != now_primary || nonce != Some(op.sent_nonce)
            })
            .map(|(tid, _)| *tid)
            .collect();
        for tid in moved {
            self.submit(ctx, tid);
        }
    }

    fn on_reply(&mut self, ctx: &mut Ctx<'_>, r: &ClientReply, out: &mut Vec<RadosEvent>) {
        let Some(version) = r.version else {
            // "Not mine" or a new interval: resend shortly.
            if let Some(op) = self.ops.get_mut(&r.tid) {
                op.sent_to = None;
                op.inactive_wait = op.inactive_wait + r.inactive_wait;
                if !self.resend_armed {
                    self.resend_armed = true;
                    ctx.set_timer(RESEND_AFTER, SessionTimer::Resend);
                }
            }
            return;
        };
        let Some(op) = self.ops.remove(&r.tid) else {
            return;
        };
        out.push(RadosEvent::Committed(Commit {
            tid: r.tid,
            pg: r.pg,
            version,
            degraded: r.degraded,
            primary_sent: r.sent,
            inactive_wait: op.inactive_wait + r.inactive_wait,
            quorum_wait: op.quorum_wait,
        }));
    }
}

impl SubMachine for RadosSession {
    type Output = RadosEvent;

    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<RadosEvent>) {
        let (from, msg) = match event {
            Event::Message { from, msg, .. } => (from, msg),
            Event::Timer { tag, .. } if tag.is(&SessionTimer::Resend) => {
                self.resend_armed = false;
                self.resend_unsent(ctx);
                return;
            }
            _ => return,
        };
        if let Some(r) = msg.downcast_ref::<ClientReply>() {
            self.on_reply(ctx, r, out);
        } else if let Some(m) = msg.downcast_ref::<MapUpdate>() {
            self.on_map(ctx, &m.map, out);
        } else if let Some(b) = msg.downcast_ref::<MonBeacon>() {
            let regained = !self.has_lease(ctx.now());
            self.lease_until = self.lease_until.max(b.until);
            if let Some(request) = b.catch_up(self.map.epoch) {
                ctx.send(from, request);
            }
            if regained && self.has_lease(ctx.now()) {
                // Writes held back for the quorum go out as soon as it stands again.
                self.resend_unsent(ctx);
            }
        }
    }
}
