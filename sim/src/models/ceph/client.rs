//! `ceph-client`: an RBD-like client that writes one object every `write_interval` through its
//! [`RadosSession`]. The object name hashes to a PG through the pool's own hashing
//! (`hash_to_ps`); the session sends it to the PG's acting primary and resends it as maps
//! change. A write counts as acknowledged only when the primary says every acting replica has
//! it.
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
use super::osdmap::OsdMap;
use super::rados::{Commit, RadosEvent, RadosSession};
use topology::component::Component;

use crate::engine::{Ctx, Event, Model, Port, SimDuration, SimTime, Status, route_to};

/// Availability lane of client I/O.
pub const IO_LANE: Component = Component::CephIo;
/// A write outstanding this long counts as stuck (a model choice, not a Ceph option: normal
/// writes take about a millisecond on the simulated LAN; an application notices seconds).
pub const IO_STALL_AFTER: SimDuration = SimDuration::from_secs(2);
/// The port the client's RADOS session lives on.
const SESSION_PORT: Port = Port(1);

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

/// The client.
#[derive(Debug)]
pub struct CephClient {
    layout: Arc<CephLayout>,
    session: RadosSession,
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
        CephClient {
            session: RadosSession::new(layout.clone()),
            writes: BTreeMap::new(),
            acked_max: BTreeMap::new(),
            acked_at: BTreeMap::new(),
            conflicts: Vec::new(),
            last_degraded: BTreeMap::new(),
            io: None,
            osd_lane: vec![None; layout.osds.len()],
            layout,
        }
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
        self.session.map()
    }

    fn new_write(&mut self, ctx: &mut Ctx<'_>) {
        // Object n of the run is `rbd_data.<image>.<n>`, hashed as librados hashes names
        // (rjenkins), in pool n mod the pool count. The session numbers writes 1, 2, ... in
        // issue order, so n is also the write id.
        let n = self.writes.len() as u64 + 1;
        let npools = self.layout.pools.len().max(1) as u64;
        let Some(pool) = self.layout.pools.get((n % npools) as usize) else {
            return;
        };
        let hash = hash32_2(n as u32, (n >> 32) as u32);
        let pg = PgId {
            pool: pool.pool.id,
            ps: pool.pool.hash_to_ps(hash),
        };
        let issued = ctx.now();
        let tid = self.session.write(&mut ctx.scoped(SESSION_PORT), pg);
        self.writes.insert(
            tid,
            WriteRecord {
                tid,
                pg,
                issued,
                acked: None,
                inactive_wait: SimDuration::ZERO,
                quorum_wait: SimDuration::ZERO,
                primary_acked: None,
            },
        );
    }

    fn tick(&mut self, ctx: &mut Ctx<'_>) {
        self.new_write(ctx);
        self.update_io(ctx);
        ctx.set_timer(self.layout.config.write_interval, ClientTimer::Tick);
    }

    fn update_io(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let stuck = self
            .session
            .outstanding()
            .any(|(_, issued)| now.saturating_since(issued) > IO_STALL_AFTER);
        let (status, reason) = if !self.session.has_lease(now) {
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

    fn record_osd_lanes(&mut self, ctx: &mut Ctx<'_>) {
        let map = self.session.map();
        let epoch = map.epoch;
        for o in 0..map.states.osds.len() {
            let id = o as i32;
            let (s, why) = match (map.is_up(id), map.is_in(id)) {
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

    fn on_session(&mut self, ctx: &mut Ctx<'_>, event: RadosEvent) {
        match event {
            RadosEvent::NewMap { .. } => self.record_osd_lanes(ctx),
            RadosEvent::Committed(c) => self.on_commit(ctx, &c),
        }
    }

    fn on_commit(&mut self, ctx: &mut Ctx<'_>, c: &Commit) {
        let now = ctx.now();
        self.last_degraded.insert(c.pg, c.degraded);
        let e = self.acked_max.entry(c.pg).or_insert((c.version, c.tid));
        if c.version >= e.0 {
            *e = (c.version, c.tid);
        }
        if let Some(old) = self
            .acked_at
            .entry(c.pg)
            .or_default()
            .insert(c.version, c.tid)
            && old != c.tid
        {
            self.conflicts.push((c.pg, c.version, old, c.tid));
        }
        if let Some(w) = self.writes.get_mut(&c.tid) {
            w.acked = Some((now, c.version));
            w.primary_acked = Some(c.primary_sent);
            w.inactive_wait = c.inactive_wait;
            w.quorum_wait = c.quorum_wait;
            let took = now.saturating_since(w.issued);
            if took > IO_STALL_AFTER {
                ctx.fact(WriteStalled {
                    pg: c.pg,
                    tid: c.tid,
                    issued: w.issued,
                    took,
                    inactive: c.inactive_wait,
                    no_quorum: c.quorum_wait,
                });
            }
        }
        self.update_io(ctx);
    }
}

impl Model for CephClient {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let event = match route_to(&mut self.session, SESSION_PORT, ctx, event) {
            Ok(reports) => {
                let mut main = ctx.scoped(Port::MAIN);
                for report in reports {
                    self.on_session(&mut main, report);
                }
                return;
            }
            Err(event) => event,
        };
        match event {
            Event::Start { .. } => {
                self.record_osd_lanes(ctx);
                self.session.start(&mut ctx.scoped(SESSION_PORT));
                ctx.set_timer(self.layout.config.write_interval, ClientTimer::Tick);
            }
            Event::Timer { tag, .. } if tag.is(&ClientTimer::Tick) => self.tick(ctx),
            Event::Timer { .. }
            | Event::Message { .. }
            | Event::Refused { .. }
            | Event::Closed { .. }
            | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        // Outstanding writes die with the process; what was acknowledged stays on record.
        self.session.reset();
        self.io = None;
        self.osd_lane.iter_mut().for_each(|s| *s = None);
    }
}
