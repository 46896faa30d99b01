//! `ceph-client`: an RBD-like client that writes one object every `write_interval`. The object
//! name hashes to a PG through the pool's own hashing (`hash_to_ps`), the PG to its primary
//! through CRUSH with the client's current map, as librados' Objecter does. A write counts as
//! acknowledged only when the primary says every acting replica has it. Without a monitor lease
//! (no quorum) new writes are held back; ops whose primary changed with a new map are resent.
//!
//! It keeps what the checks need: the acknowledged writes per PG (version and id), each write's
//! latency and how long it was blocked, and it records the `ceph/io` lane (up, degraded when
//! some PG acknowledged while not clean, down while a write is stuck or the quorum is gone),
//! and `osd/<id>` lanes from the maps it receives.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::crush::hash::hash32_2;
use super::facts::WriteStalled;
use super::layout::{CephLayout, PgId};
use super::mon::{MON_MODEL, OSD_MODEL};
use super::msg::{ClientReply, ClientWrite, MapRequest, MapUpdate, MonBeacon};
use super::osdmap::OsdMap;
use topology::component::Component;

use crate::engine::{ActorId, Ctx, Event, HostId, Model, SimDuration, SimTime, Status};

/// Availability lane of client I/O.
pub const IO_LANE: Component = Component::CephIo;
/// A write outstanding this long counts as stuck (a model choice, not a Ceph option: normal
/// writes take about a millisecond on the simulated LAN; an application notices seconds).
pub const IO_STALL_AFTER: SimDuration = SimDuration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientTimer {
    /// Time for the next write round.
    Tick,
}

/// One write the client issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    /// Write id.
    pub tid: u64,
    /// Target PG.
    pub pg: PgId,
    /// When issued.
    pub issued: SimTime,
    /// When acknowledged, with the version it got.
    pub acked: Option<(SimTime, u64)>,
    /// Time it waited in PG queues because the PG was inactive (summed over the primaries it
    /// was sent to, as they report it).
    pub inactive_wait: SimDuration,
    /// Time it was held back for lack of a monitor quorum.
    pub quorum_wait: SimDuration,
    /// When the primary sent the acknowledgement (`acked` is when the client got it).
    pub primary_acked: Option<SimTime>,
}

#[derive(Clone, Debug)]
struct Pending {
    sent_to: Option<i32>,
    /// Boot nonce of the OSD incarnation it went to: a restarted OSD lost it.
    sent_nonce: u64,
    held_since: Option<SimTime>,
}

/// The client.
#[derive(Debug)]
pub struct CephClient {
    layout: Arc<CephLayout>,
    map: OsdMap,
    mapping: BTreeMap<PgId, Option<i32>>,
    lease_until: SimTime,
    next_tid: u64,
    pending: BTreeMap<u64, Pending>,
    /// Every write issued, by id (durable only in the sense that checks read it).
    pub writes: BTreeMap<u64, WriteRecord>,
    acked_max: BTreeMap<PgId, (u64, u64)>,
    acked_at: BTreeMap<PgId, BTreeMap<u64, u64>>,
    /// Acknowledgements that gave a version an earlier acknowledged write already had:
    /// (pg, version, earlier write id, later write id). Each one is a lost acknowledged write.
    pub conflicts: Vec<(PgId, u64, u64, u64)>,
    last_degraded: BTreeMap<PgId, bool>,
    io: Option<Status>,
    osd_lane: Vec<Option<Status>>,
}

impl CephClient {
    /// A client of `layout`'s pools.
    pub fn new(layout: Arc<CephLayout>) -> Self {
        let map = OsdMap::initial(layout.osds.len());
        let mut c = CephClient {
            mapping: BTreeMap::new(),
            map,
            lease_until: SimTime::ZERO,
            next_tid: 0,
            pending: BTreeMap::new(),
            writes: BTreeMap::new(),
            acked_max: BTreeMap::new(),
            acked_at: BTreeMap::new(),
            conflicts: Vec::new(),
            last_degraded: BTreeMap::new(),
            io: None,
            osd_lane: vec![None; layout.osds.len()],
            layout,
        };
        c.remap();
        c
    }

    /// Highest acknowledged (version, write id) per PG.
    pub fn acked(&self) -> &BTreeMap<PgId, (u64, u64)> {
        &self.acked_max
    }

    /// Every acknowledged write per PG: version -> write id.
    pub fn acked_versions(&self) -> &BTreeMap<PgId, BTreeMap<u64, u64>> {
        &self.acked_at
    }

    /// The client's current map.
    pub fn map(&self) -> &OsdMap {
        &self.map
    }

    fn remap(&mut self) {
        self.mapping = self
            .layout
            .map_all(&self.map.states)
            .into_iter()
            .map(|(pg, m)| (pg, m.acting_primary))
            .collect();
    }

    fn quorum(&self, now: SimTime) -> bool {
        now < self.lease_until
    }

    fn osd_actor(&self, ctx: &Ctx<'_>, osd: i32) -> Option<ActorId> {
        let host = self.layout.osd_host(osd);
        let dir = ctx.directory();
        let h = dir.hosts().iter().position(|n| n == host)?;
        dir.actor_on(HostId(h as u32), OSD_MODEL)
    }

    /// Sends (or holds back) write `tid`.
    fn submit(&mut self, ctx: &mut Ctx<'_>, tid: u64) {
        let now = ctx.now();
        let Some(w) = self.writes.get(&tid) else {
            return;
        };
        let pg = w.pg;
        let quorum = self.quorum(now);
        let primary = self.mapping.get(&pg).copied().flatten();
        let Some(p) = self.pending.get_mut(&tid) else {
            return;
        };
        if !quorum {
            p.held_since.get_or_insert(now);
            p.sent_to = None;
            return;
        }
        if let Some(since) = p.held_since.take()
            && let Some(w) = self.writes.get_mut(&tid)
        {
            w.quorum_wait = w.quorum_wait + now.saturating_since(since);
        }
        p.sent_to = primary;
        p.sent_nonce = primary
            .and_then(|o| self.map.up_nonce.get(o as usize).copied())
            .unwrap_or(0);
        if let Some(o) = primary
            && let Some(a) = self.osd_actor(ctx, o)
        {
            ctx.send(a, ClientWrite { tid, pg, to: o });
        }
    }

    fn new_write(&mut self, ctx: &mut Ctx<'_>) {
        self.next_tid += 1;
        let tid = self.next_tid;
        let npools = self.layout.pools.len().max(1) as u64;
        let Some(pool) = self.layout.pools.get((tid % npools) as usize) else {
            return;
        };
        // The object `rbd_data.<image>.<tid>` hashed as librados hashes names (rjenkins).
        let hash = hash32_2(tid as u32, (tid >> 32) as u32);
        let pg = PgId {
            pool: pool.pool.id,
            ps: pool.pool.hash_to_ps(hash),
        };
        self.writes.insert(
            tid,
            WriteRecord {
                tid,
                pg,
                issued: ctx.now(),
                acked: None,
                inactive_wait: SimDuration::ZERO,
                quorum_wait: SimDuration::ZERO,
                primary_acked: None,
            },
        );
        self.pending.insert(
            tid,
            Pending {
                sent_to: None,
                sent_nonce: 0,
                held_since: None,
            },
        );
        self.submit(ctx, tid);
    }

    fn tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        // Writes held back for quorum, or told to resend, go out again.
        let unsent: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.sent_to.is_none())
            .map(|(t, _)| *t)
            .collect();
        for tid in unsent {
            self.submit(ctx, tid);
        }
        self.new_write(ctx);
        self.update_io(ctx);
        ctx.set_timer(self.layout.config.write_interval, ClientTimer::Tick);
        let _ = now;
    }

    fn update_io(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let stuck = self.pending.keys().any(|t| {
            self.writes
                .get(t)
                .is_some_and(|w| now.saturating_since(w.issued) > IO_STALL_AFTER)
        });
        let (status, reason) = if !self.quorum(now) {
            (Status::Down, "no monitor quorum")
        } else if stuck {
            (Status::Down, "writes stuck")
        } else if self.last_degraded.values().any(|d| *d) {
            (Status::Degraded, "PGs not clean")
        } else {
            (Status::Up, "writes acknowledged")
        };
        if self.io != Some(status) {
            self.io = Some(status);
            ctx.availability(IO_LANE, status, reason);
        }
    }

    fn on_map(&mut self, ctx: &mut Ctx<'_>, map: &OsdMap) {
        if map.epoch <= self.map.epoch {
            return;
        }
        self.map = map.clone();
        self.remap();
        self.record_osd_lanes(ctx);
        // Resend every op whose primary changed or restarted (Objecter::_scan_requests, and
        // the session reset of a new OSD incarnation).
        let moved: Vec<u64> = self
            .pending
            .iter()
            .filter(|(tid, p)| {
                let pg = self.writes.get(tid).map(|w| w.pg);
                let now_primary = pg.and_then(|pg| self.mapping.get(&pg).copied().flatten());
                let nonce = now_primary.and_then(|o| self.map.up_nonce.get(o as usize).copied());
                p.sent_to != now_primary || nonce != Some(p.sent_nonce)
            })
            .map(|(t, _)| *t)
            .collect();
        for tid in moved {
            self.submit(ctx, tid);
        }
    }

    fn record_osd_lanes(&mut self, ctx: &mut Ctx<'_>) {
        let epoch = self.map.epoch;
        for o in 0..self.map.states.osds.len() {
            let id = o as i32;
            let (s, why) = match (self.map.is_up(id), self.map.is_in(id)) {
                (true, true) => (Status::Up, "up, in"),
                (true, false) => (Status::Degraded, "up, out"),
                (false, true) => (Status::Down, "down, in"),
                (false, false) => (Status::Down, "down, out"),
            };
            if self.osd_lane.get(o) != Some(&Some(s)) {
                if let Some(slot) = self.osd_lane.get_mut(o) {
                    *slot = Some(s);
                }
                ctx.availability(
                    Component::Osd(u32::try_from(o).unwrap_or(u32::MAX)),
                    s,
                    format!("{why} (e{epoch})"),
                );
            }
        }
    }

    fn on_reply(&mut self, ctx: &mut Ctx<'_>, r: &ClientReply) {
        let now = ctx.now();
        let Some(v) = r.version else {
            if let Some(p) = self.pending.get_mut(&r.tid) {
                p.sent_to = None;
                if let Some(w) = self.writes.get_mut(&r.tid) {
                    w.inactive_wait = w.inactive_wait + r.inactive_wait;
                }
            }
            return;
        };
        if self.pending.remove(&r.tid).is_none() {
            return;
        }
        self.last_degraded.insert(r.pg, r.degraded);
        let e = self.acked_max.entry(r.pg).or_insert((v, r.tid));
        if v >= e.0 {
            *e = (v, r.tid);
        }
        if let Some(old) = self.acked_at.entry(r.pg).or_default().insert(v, r.tid)
            && old != r.tid
        {
            self.conflicts.push((r.pg, v, old, r.tid));
        }
        if let Some(w) = self.writes.get_mut(&r.tid) {
            w.acked = Some((now, v));
            w.primary_acked = Some(r.sent);
            w.inactive_wait = w.inactive_wait + r.inactive_wait;
            let took = now.saturating_since(w.issued);
            if took > IO_STALL_AFTER {
                ctx.fact(WriteStalled {
                    pg: r.pg,
                    tid: r.tid,
                    issued: w.issued,
                    took,
                    inactive: r.inactive_wait,
                    no_quorum: w.quorum_wait,
                });
            }
        }
        self.update_io(ctx);
    }
}

impl Model for CephClient {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => {
                self.record_osd_lanes(ctx);
                // librados' MonClient opens a session with the monitors at once, hunting
                // several in parallel (`mon_client_hunt_parallel`, default 3 in Pacific), and
                // subscribes to the osdmap: the first mon in quorum answers. Here every mon is
                // asked; the leader answers.
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
                ctx.set_timer(self.layout.config.write_interval, ClientTimer::Tick);
            }
            Event::Timer { tag, .. } if tag.is(&ClientTimer::Tick) => self.tick(ctx),
            Event::Message { from, msg, .. } => {
                if let Some(m) = msg.downcast_ref::<MapUpdate>() {
                    self.on_map(ctx, &m.map);
                } else if let Some(b) = msg.downcast_ref::<MonBeacon>() {
                    self.lease_until = self.lease_until.max(b.until);
                    if b.map_epoch > self.map.epoch {
                        ctx.send(
                            from,
                            MapRequest {
                                have: self.map.epoch,
                                session_start: false,
                            },
                        );
                    }
                } else if let Some(r) = msg.downcast_ref::<ClientReply>() {
                    self.on_reply(ctx, r);
                }
            }
            Event::Timer { .. }
            | Event::Refused { .. }
            | Event::Closed { .. }
            | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        // Outstanding writes die with the process; what was acknowledged stays on record.
        self.pending.clear();
        self.lease_until = SimTime::ZERO;
        self.io = None;
        self.osd_lane.iter_mut().for_each(|s| *s = None);
    }
}
