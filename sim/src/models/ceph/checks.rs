//! Invariants of the Ceph model, kept apart from the actors they judge and fed by the run's log
//! plus read-only looks at the actors' state:
//!
//! * [`CephNoLostWrite`]: every acknowledged write is still held by some OSD's complete copy,
//!   and no version of a PG was acknowledged for two different writes, for every PG that has
//!   lost fewer than `size` of its replicas (disks holding a copy of that PG when they were
//!   lost); losses elsewhere in the cluster do not excuse it. A write is also excused when every
//!   OSD that held it (at least `min_size` of them, as Ceph promises before acknowledging) lost
//!   its disk: a host down, then the disks of the two that took its writes, loses them on real
//!   Ceph too.
//! * [`CephIoAvailability`]: I/O is served exactly when it may be: every PG state a primary
//!   records agrees with the committed map (active iff at least `min_size` acting members, all
//!   up in that epoch); every acknowledged write landed while its PG was recorded active; the
//!   client's I/O lane is never up without a monitor quorum; and a write stuck for longer than
//!   [`super::client::IO_STALL_AFTER`] is explained by its PG dropping below `min_size`, a lost quorum, the PG
//!   being inactive, an OSD failure the monitors had yet to mark down (a map change during
//!   the wait), an OSD of the PG that was paused, stopped or on a downed host during the wait
//!   (still marked up: writes wait for it), or a network fault (slow, lossy or cut links) in
//!   force during the wait.
//! * [`CephCleanAfterHeal`]: once every OSD runs again and the cluster had time to recover, every
//!   PG is active+clean.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use topology::fault::Fault;

use super::client::{CephClient, IO_LANE};
use super::defaults::{MON_LEASE_ACK_TIMEOUT_MILLIS, MON_LEASE_SECS};
use super::facts::{MonLeader, OsdMapCommitted, PgStateFact, WriteStalled};
use super::layout::{CephLayout, PgId};
use super::mon::{OSD_MODEL, QUORUM_LANE};
use super::osd::CephOsdHost;
use super::osdmap::states_from;
use super::pool::OsdStates;
use crate::checks::invariant::{Invariant, WorldView};
use crate::engine::{ActorId, LogEntry, LogKind, Observer, Record, SimDuration, SimTime, Status};

/// The actors `add_ceph` created.
#[derive(Clone, Debug)]
pub struct CephActors {
    /// Shared static layout.
    pub layout: Arc<CephLayout>,
    /// Monitors in rank order.
    pub mons: Vec<ActorId>,
    /// OSD host actors in topology order.
    pub osd_hosts: Vec<ActorId>,
    /// The client.
    pub client: ActorId,
}

/// No acknowledged write of a PG is lost while fewer than `size` of that PG's replicas are,
/// or while one of the copies Ceph made of it survives.
#[derive(Debug)]
pub struct CephNoLostWrite {
    actors: CephActors,
    lost_osds: BTreeSet<i32>,
    /// Per PG: the lost OSDs that held a copy of it when their disk went.
    lost_replicas: BTreeMap<PgId, BTreeSet<i32>>,
    /// Per acknowledged write (pg, version, write id): every OSD seen holding it when a disk
    /// with a copy of its PG was lost.
    holders: BTreeMap<(PgId, u64, u64), BTreeSet<i32>>,
}

impl CephNoLostWrite {
    /// Watches `actors`.
    pub fn new(actors: CephActors) -> Self {
        CephNoLostWrite {
            actors,
            lost_osds: BTreeSet::new(),
            lost_replicas: BTreeMap::new(),
            holders: BTreeMap::new(),
        }
    }

    /// Whether losing acknowledged write `tid` (pg `pg`, version `v`) is what Ceph's promise
    /// allows: its PG lost `size` replicas, or every one of the at least `min_size` OSDs that
    /// held the write lost its disk (a write that only fewer OSDs ever held was acknowledged
    /// too early, and its loss is a bug).
    fn excused(&self, pg: PgId, v: u64, tid: u64) -> bool {
        let min_size = self
            .actors
            .layout
            .pool(pg.pool)
            .map_or(1, |p| p.pool.min_size);
        self.exempt(pg)
            || self.holders.get(&(pg, v, tid)).is_some_and(|h| {
                h.len() >= min_size && h.iter().all(|o| self.lost_osds.contains(o))
            })
    }

    /// Notes which OSDs hold each write of `pg`, before a disk with a copy of it goes. Every
    /// logged write counts, not only those the client has heard acknowledged: an
    /// acknowledgement can still be on its way when the disk goes (explore seed 7: acked on
    /// two replicas, the reply 600 ms down a slow link, both disks then lost).
    fn note_holders(&mut self, world: &WorldView<'_>, pg: PgId) {
        for a in &self.actors.osd_hosts {
            let Some(h) = world.model::<CephOsdHost>(*a) else {
                continue;
            };
            for o in h.osd_ids() {
                let Some(c) = h.copy(*o, pg) else {
                    continue;
                };
                for (i, tid) in c.log.iter().enumerate() {
                    let v = i as u64 + 1;
                    if c.holds(v, *tid) {
                        self.holders.entry((pg, v, *tid)).or_default().insert(*o);
                    }
                }
            }
        }
    }

    /// A PG is excused once `size` of its replicas are gone: then even Ceph may lose its writes.
    fn exempt(&self, pg: PgId) -> bool {
        let size = self.actors.layout.pool(pg.pool).map_or(0, |p| p.pool.size);
        self.lost_replicas.get(&pg).map_or(0, BTreeSet::len) >= size
    }

    /// Records that `osd`'s disk is lost: every PG it holds a copy of loses a replica. The
    /// fault is logged before the OSD host hears of it, so the copies are still readable.
    fn lose(&mut self, world: &WorldView<'_>, osd: i32) {
        self.lost_osds.insert(osd);
        let mut held: Vec<PgId> = Vec::new();
        for a in &self.actors.osd_hosts {
            let Some(h) = world.model::<CephOsdHost>(*a) else {
                continue;
            };
            if !h.osd_ids().contains(&osd) {
                continue;
            }
            held.extend(
                self.actors
                    .layout
                    .pgs()
                    .filter(|pg| h.copy(osd, *pg).is_some()),
            );
        }
        for pg in held {
            self.lost_replicas.entry(pg).or_default().insert(osd);
            self.note_holders(world, pg);
        }
    }

    fn held(&self, world: &WorldView<'_>, pg: PgId, version: u64, tid: u64) -> bool {
        self.actors.osd_hosts.iter().any(|a| {
            world.model::<CephOsdHost>(*a).is_some_and(|h| {
                h.osd_ids()
                    .iter()
                    .any(|o| h.copy(*o, pg).is_some_and(|c| c.holds(version, tid)))
            })
        })
    }

    fn check(&self, world: &WorldView<'_>, all: bool) -> Option<String> {
        let client = world.model::<CephClient>(self.actors.client)?;
        if let Some((pg, v, old, new)) = client
            .conflicts
            .iter()
            .find(|c| !self.excused(c.0, c.1, c.2))
        {
            return Some(format!(
                "pg {pg}: version {v} was acknowledged for write {old} and later for write {new}; \
                 write {old} is lost"
            ));
        }
        if all {
            for (pg, versions) in client.acked_versions() {
                for (v, tid) in versions {
                    if !self.excused(*pg, *v, *tid) && !self.held(world, *pg, *v, *tid) {
                        return Some(self.lost(*pg, *v, *tid));
                    }
                }
            }
        } else {
            for (pg, (v, tid)) in client.acked() {
                if !self.excused(*pg, *v, *tid) && !self.held(world, *pg, *v, *tid) {
                    return Some(self.lost(*pg, *v, *tid));
                }
            }
        }
        None
    }

    fn lost(&self, pg: PgId, v: u64, tid: u64) -> String {
        format!(
            "acknowledged write {tid} (pg {pg} version {v}) is on no OSD; replicas of pg {pg} \
             lost: {:?}; disks lost: {:?}",
            self.lost_replicas.get(&pg).cloned().unwrap_or_default(),
            self.lost_osds
        )
    }
}

impl Invariant for CephNoLostWrite {
    fn name(&self) -> &str {
        "ceph-no-acked-write-lost"
    }

    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String> {
        if let LogKind::Fault(Fault::DiskLoss { host, disk }) = &entry.kind {
            let lost: Vec<i32> = self
                .actors
                .layout
                .osds
                .iter()
                .filter(|o| &o.host == host && &o.disk == disk)
                .map(|o| o.id)
                .collect();
            for o in lost {
                self.lose(world, o);
            }
        }
        self.check(world, false)
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        self.check(world, true)
    }
}

/// One recorded PG state: when, serving I/O or not.
type PgHistory = Vec<(SimTime, bool)>;

/// I/O is available exactly when the PG has `min_size` acting replicas up and mons have quorum.
#[derive(Debug)]
pub struct CephIoAvailability {
    actors: CephActors,
    /// Committed maps: (time, epoch, states).
    maps: Vec<(SimTime, u64, OsdStates)>,
    /// Per mon actor: in quorum?
    mon_up: BTreeMap<u32, bool>,
    /// The mon that last won an election.
    leader: Option<u32>,
    /// Since when that leader's process has been down or paused: its peons still report a
    /// quorum until their lease runs out, but nobody renews the clients' leases.
    leader_silent_since: Option<SimTime>,
    /// Since when no mon has been in a quorum.
    quorum_lost_at: Option<SimTime>,
    /// Intervals without quorum: (from, to or MAX).
    no_quorum: Vec<(SimTime, SimTime)>,
    pg_history: BTreeMap<PgId, PgHistory>,
    /// Network faults (slow, lossy, cut, partitioned links): (from, healed at).
    net_faults: Vec<(SimTime, Option<SimTime>)>,
    /// Stretches in which a host's OSDs did not run (its `ceph-osd` paused or stopped, or the
    /// host down): (host, from, back at).
    osd_outages: Vec<(String, SimTime, Option<SimTime>)>,
}

impl CephIoAvailability {
    /// Watches `actors`.
    pub fn new(actors: CephActors) -> Self {
        let n = actors.layout.osds.len();
        CephIoAvailability {
            maps: vec![(SimTime::ZERO, 1, OsdStates::all_up_in(n))],
            actors,
            mon_up: BTreeMap::new(),
            leader: None,
            leader_silent_since: None,
            quorum_lost_at: Some(SimTime::ZERO),
            no_quorum: Vec::new(),
            pg_history: BTreeMap::new(),
            net_faults: Vec::new(),
            osd_outages: Vec::new(),
        }
    }

    fn is_mon(&self, actor: u32) -> bool {
        self.actors.mons.iter().any(|a| a.0 == actor)
    }

    /// The leader's silence ended (it came back, or another mon won): clients' leases can be
    /// renewed again, which counts as the end of a quorum gap.
    fn leader_back(&mut self, now: SimTime) {
        if let Some(since) = self.leader_silent_since.take() {
            self.no_quorum.push((since, now));
        }
    }

    fn update_quorum(&mut self, now: SimTime) {
        let any = self.mon_up.values().any(|u| *u);
        match (any, self.quorum_lost_at) {
            (true, Some(since)) => {
                self.no_quorum.push((since, now));
                self.quorum_lost_at = None;
            }
            (false, None) => self.quorum_lost_at = Some(now),
            _ => {}
        }
    }

    fn map_of_epoch(&self, epoch: u64) -> Option<&OsdStates> {
        self.maps
            .iter()
            .rev()
            .find(|(_, e, _)| *e == epoch)
            .map(|(_, _, s)| s)
    }

    fn min_size(&self, pg: PgId) -> usize {
        self.actors
            .layout
            .pool(pg.pool)
            .map_or(1, |p| p.pool.min_size)
    }

    fn check_pg_record(&mut self, now: SimTime, record: &PgStateFact) -> Option<String> {
        let PgStateFact {
            pg, epoch, acting, ..
        } = record;
        let (pg, epoch) = (*pg, *epoch);
        let active = record.has("active");
        self.pg_history.entry(pg).or_default().push((now, active));
        let value = format!("{} e{epoch} acting={acting:?}", record.state);
        let min_size = self.min_size(pg);
        let Some(map) = self.map_of_epoch(epoch) else {
            return Some(format!(
                "pg {pg} recorded `{value}` against epoch {epoch}, which was never committed"
            ));
        };
        let up_acting = acting.iter().filter(|o| map.is_up(**o)).count();
        if up_acting != acting.len() {
            return Some(format!(
                "pg {pg} recorded `{value}` with acting members down in epoch {epoch}"
            ));
        }
        let down = record.has("down") || record.has("incomplete");
        if active && acting.len() < min_size {
            return Some(format!(
                "pg {pg} recorded active with {} acting replicas, below min_size {min_size}",
                acting.len()
            ));
        }
        if !active && !down && acting.len() >= min_size {
            return Some(format!(
                "pg {pg} recorded `{value}`: inactive with {} acting replicas up (min_size {min_size})",
                acting.len()
            ));
        }
        None
    }

    /// Follows the faults that stop or resume a host's OSDs.
    fn note_osd_outage(&mut self, now: SimTime, fault: &Fault) {
        let osd = |process: &str| process == OSD_MODEL;
        match fault {
            Fault::HostCrash { host } => self.osd_outages.push((host.clone(), now, None)),
            Fault::ProcessStop { host, process }
            | Fault::ProcessTerminate { host, process }
            | Fault::ProcessPause { host, process }
                if osd(process) =>
            {
                self.osd_outages.push((host.clone(), now, None));
            }
            Fault::HostRestart { host } => self.end_osd_outage(now, host),
            Fault::ProcessStart { host, process } | Fault::ProcessResume { host, process }
                if osd(process) =>
            {
                self.end_osd_outage(now, host);
            }
            _ => {}
        }
    }

    fn end_osd_outage(&mut self, now: SimTime, host: &str) {
        for outage in self.osd_outages.iter_mut().filter(|o| o.0 == host) {
            outage.2.get_or_insert(now);
        }
    }

    /// Whether an OSD of `pg`'s up set (under any map in force during [from, to]) stopped
    /// answering during that time while still marked up: a paused OSD (SIGSTOP) keeps its
    /// connections open, so nobody marks it down before `osd_heartbeat_grace`, and writes to
    /// its PGs wait for it; a shorter pause or host outage ends before any map change.
    fn silent_osd(&self, pg: PgId, from: SimTime, to: SimTime) -> bool {
        let silent_hosts: BTreeSet<&str> = self
            .osd_outages
            .iter()
            .filter(|(_, a, b)| *a <= to && b.is_none_or(|b| b >= from))
            .map(|(h, _, _)| h.as_str())
            .collect();
        if silent_hosts.is_empty() {
            return false;
        }
        let silent: BTreeSet<i32> = self
            .actors
            .layout
            .osds
            .iter()
            .filter(|o| silent_hosts.contains(o.host.as_str()))
            .map(|o| o.id)
            .collect();
        self.up_sets_during(pg, from, to)
            .iter()
            .any(|up| up.iter().any(|o| silent.contains(o)))
    }

    /// `pg`'s up set under each map in force during [from, to] (the one committed last before
    /// `from`, then every later one up to `to`).
    fn up_sets_during(&self, pg: PgId, from: SimTime, to: SimTime) -> Vec<Vec<i32>> {
        let start = self
            .maps
            .iter()
            .rposition(|(t, _, _)| *t <= from)
            .unwrap_or(0);
        self.maps
            .iter()
            .skip(start)
            .take_while(|(t, _, _)| *t <= to)
            .filter_map(|(_, _, states)| self.actors.layout.map_one(pg, states).map(|m| m.up))
            .collect()
    }

    /// Whether the write stuck in [from, to] is explained.
    fn stall_explained(&self, pg: PgId, from: SimTime, to: SimTime) -> bool {
        // After a gap the client needs one more lease from the leader (it renews every
        // `mon_lease_renew_interval`, and a lapsed client waits for that beacon).
        let renew = SimDuration::from_millis(MON_LEASE_ACK_TIMEOUT_MILLIS);
        let quorum_gap = self
            .no_quorum
            .iter()
            .any(|(a, b)| *a <= to && *b + renew >= from)
            || self.quorum_lost_at.is_some_and(|a| a <= to)
            || self.leader_silent_since.is_some_and(|a| a <= to);
        let map_change = self.maps.iter().any(|(t, _, _)| *t >= from && *t <= to);
        // The record in force when the write was issued, and every one made while it waited.
        let inactive = self.pg_history.get(&pg).is_some_and(|h| {
            let at_start = h.iter().rev().find(|(t, _)| *t <= from).map(|x| x.1);
            at_start == Some(false) || h.iter().any(|(t, a)| *t > from && *t <= to && !a)
        });
        let min = self.min_size(pg);
        let below_min = self
            .up_sets_during(pg, from, to)
            .iter()
            .any(|up| up.len() < min);
        // A slowed link delays every message over it; a partition or one-way cut stops them
        // until the monitors mark the unreachable OSD down (a map change) or the network heals.
        // A client cut from the leader lost its lease and needs one more beacon after the heal
        // (up to a lease-ack timeout) before it sends again.
        let after_heal = SimDuration::from_millis(MON_LEASE_ACK_TIMEOUT_MILLIS);
        let network = self
            .net_faults
            .iter()
            .any(|(a, b)| *a <= to && b.is_none_or(|b| b + after_heal >= from));
        quorum_gap
            || map_change
            || inactive
            || below_min
            || network
            || self.silent_osd(pg, from, to)
    }

    fn active_at(&self, pg: PgId, t: SimTime) -> bool {
        // One network delay of slack: the primary may re-peer just after it acknowledged.
        let slack = SimDuration::from_millis(10);
        let Some(h) = self.pg_history.get(&pg) else {
            return false;
        };
        let from = SimTime::from_nanos(t.as_nanos().saturating_sub(slack.as_nanos()));
        let before = h.iter().rev().find(|(when, _)| *when <= from).map(|x| x.1);
        before == Some(true) || h.iter().any(|(when, a)| *when > from && *when <= t && *a)
    }
}

impl Invariant for CephIoAvailability {
    fn name(&self) -> &str {
        "ceph-io-available-iff-min-size-and-quorum"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        let now = entry.time;
        if let LogKind::Fault(fault) = &entry.kind {
            self.note_osd_outage(now, fault);
        }
        match &entry.kind {
            LogKind::Fault(Fault::Heal) => {
                for f in &mut self.net_faults {
                    f.1.get_or_insert(now);
                }
                None
            }
            LogKind::Fault(
                Fault::LinkSlow { .. }
                | Fault::LinkLossy { .. }
                | Fault::Partition { .. }
                | Fault::OneWay { .. },
            ) => {
                self.net_faults.push((now, None));
                None
            }
            LogKind::ActorDown(a) if self.is_mon(a.0) => {
                self.mon_up.remove(&a.0);
                self.update_quorum(now);
                if self.leader == Some(a.0) {
                    self.leader_silent_since.get_or_insert(now);
                }
                None
            }
            LogKind::ActorUp(a) if self.leader == Some(a.0) => {
                self.leader_back(now);
                None
            }
            LogKind::Record {
                observer: Observer::Actor(a),
                record: Record::Fact(fact),
            } if fact.get::<MonLeader>().is_some() => {
                self.leader_back(now);
                self.leader = Some(*a);
                None
            }
            LogKind::Record {
                observer: Observer::Actor(a),
                record:
                    Record::Availability {
                        component, status, ..
                    },
            } => {
                if QUORUM_LANE.is(component) && self.is_mon(*a) {
                    self.mon_up.insert(*a, *status == Status::Up);
                    self.update_quorum(now);
                } else if IO_LANE.is(component)
                    && *status != Status::Down
                    && let Some(since) = self.quorum_lost_at
                    && now.saturating_since(since) > SimDuration::from_secs(MON_LEASE_SECS)
                {
                    return Some(format!(
                        "client I/O is {} at {now} but no monitor has had quorum since {since}",
                        status.as_str()
                    ));
                }
                None
            }
            LogKind::Record {
                record: Record::Fact(fact),
                ..
            } => {
                if let Some(OsdMapCommitted { epoch, up, inn }) = fact.get() {
                    let n = self.actors.layout.osds.len();
                    self.maps.push((now, *epoch, states_from(n, up, inn)));
                    None
                } else if let Some(record) = fact.get::<PgStateFact>() {
                    self.check_pg_record(now, record)
                } else if let Some(WriteStalled { pg, issued, .. }) = fact.get() {
                    let (pg, from) = (*pg, *issued);
                    if self.stall_explained(pg, from, now) {
                        None
                    } else {
                        Some(format!(
                            "a write to pg {pg} was stuck from {from} to {now} although the PG kept \
                             min_size replicas up, the monitors kept quorum and no OSD failed"
                        ))
                    }
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn finish(&mut self, _end: SimTime, world: &WorldView<'_>) -> Option<String> {
        let client = world.model::<CephClient>(self.actors.client)?;
        for w in client.writes.values() {
            // Judged when the primary acknowledged: the client may hear it much later.
            if let Some((_, v)) = w.acked
                && let Some(t) = w.primary_acked
                && !self.active_at(w.pg, t)
            {
                return Some(format!(
                    "write {} acknowledged (pg {} version {v}) at {t} while its PG was not recorded active",
                    w.tid, w.pg
                ));
            }
        }
        None
    }
}

/// After the cluster healed and had `settle` to recover, every PG is active+clean.
#[derive(Debug)]
pub struct CephCleanAfterHeal {
    actors: CephActors,
    settle: SimDuration,
    last_fault: SimTime,
    latest: BTreeMap<PgId, PgStateFact>,
}

impl CephCleanAfterHeal {
    /// PGs must be clean `settle` after the last fault.
    pub fn new(actors: CephActors, settle: SimDuration) -> Self {
        CephCleanAfterHeal {
            actors,
            settle,
            last_fault: SimTime::ZERO,
            latest: BTreeMap::new(),
        }
    }
}

impl Invariant for CephCleanAfterHeal {
    fn name(&self) -> &str {
        "ceph-clean-after-heal"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        match &entry.kind {
            LogKind::Fault(_) => self.last_fault = entry.time,
            LogKind::Record {
                record: Record::Fact(fact),
                ..
            } => {
                if let Some(record) = fact.get::<PgStateFact>() {
                    self.latest.insert(record.pg, record.clone());
                }
            }
            _ => {}
        }
        None
    }

    fn finish(&mut self, end: SimTime, world: &WorldView<'_>) -> Option<String> {
        let all_running = self
            .actors
            .osd_hosts
            .iter()
            .chain(&self.actors.mons)
            .all(|a| {
                world
                    .actor_running
                    .get(a.0 as usize)
                    .copied()
                    .unwrap_or(false)
            });
        let all_booted = self.actors.osd_hosts.iter().all(|a| {
            world
                .model::<CephOsdHost>(*a)
                .is_some_and(|h| h.osd_ids().iter().all(|o| h.is_booted(*o)))
        });
        if !world.net.is_healthy()
            || !all_running
            || !all_booted
            || end < self.last_fault + self.settle
        {
            return None;
        }
        let unclean: Vec<String> = self
            .actors
            .layout
            .pgs()
            .filter_map(|pg| match self.latest.get(&pg) {
                Some(v) if v.state == "active+clean" => None,
                Some(v) => Some(format!(
                    "{pg} {} e{} acting={:?} up={:?}",
                    v.state, v.epoch, v.acting, v.up
                )),
                None => Some(format!("{pg} never peered")),
            })
            .collect();
        if unclean.is_empty() {
            None
        } else {
            Some(format!(
                "{} PGs not active+clean {} after the last fault: {}",
                unclean.len(),
                end - self.last_fault,
                unclean.join("; ")
            ))
        }
    }
}

/// Parses `1.1f` into a PG id.
pub fn parse_pgid(text: &str) -> Option<PgId> {
    let (pool, ps) = text.split_once('.')?;
    Some(PgId {
        pool: pool.parse().ok()?,
        ps: u32::from_str_radix(ps, 16).ok()?,
    })
}

/// PG state counts at `t` from the recorded per-PG states: state name -> number of PGs.
pub fn pg_state_counts(log: &[LogEntry], t: SimTime) -> BTreeMap<String, usize> {
    let mut latest: BTreeMap<PgId, String> = BTreeMap::new();
    for e in log.iter().take_while(|e| e.time <= t) {
        if let LogKind::Record {
            record: Record::Fact(fact),
            ..
        } = &e.kind
            && let Some(record) = fact.get::<PgStateFact>()
        {
            latest.insert(record.pg, record.state.clone());
        }
    }
    let mut counts = BTreeMap::new();
    for s in latest.into_values() {
        *counts.entry(s).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::Directory;
    use crate::models::ceph::layout::CephSimConfig;
    use crate::net::{LinkConfig, Network};

    fn fact(t_s: u64, observer: u32, fact: impl crate::engine::Fact) -> LogEntry {
        LogEntry {
            time: SimTime::ZERO + SimDuration::from_secs(t_s),
            kind: LogKind::Record {
                observer: Observer::Actor(observer),
                record: Record::Fact(crate::engine::FactRecord::new(fact)),
            },
        }
    }

    fn pg(t_s: u64, ps: u32, state: &str, epoch: u64, acting: &[i32]) -> LogEntry {
        fact(
            t_s,
            1,
            PgStateFact {
                pg: PgId { pool: 1, ps },
                state: state.into(),
                epoch,
                acting: acting.to_vec(),
                up: acting.to_vec(),
            },
        )
    }

    /// The availability check rejects PG records that disagree with the committed map.
    #[test]
    fn io_check_rejects_records_that_contradict_the_map() {
        let cluster = topology::default_cluster().expect("default topology");
        let layout = CephLayout::from_cluster(&cluster, &CephSimConfig::default()).expect("layout");
        let actors = CephActors {
            layout,
            mons: vec![ActorId(0)],
            osd_hosts: vec![ActorId(1)],
            client: ActorId(2),
        };
        let dir = Directory::default();
        let net = Network::new(0, LinkConfig::default());
        let world = WorldView {
            directory: &dir,
            host_up: &[],
            actor_running: &[],
            net: &net,
            models: &[],
        };
        let mut check = CephIoAvailability::new(actors);
        let ok = pg(1, 0, "active+clean", 1, &[0, 1, 2]);
        assert_eq!(check.observe(&ok, &world), None);
        let map = fact(
            2,
            0,
            OsdMapCommitted {
                epoch: 2,
                up: vec![0, 3, 4],
                inn: vec![0, 1, 2, 3, 4],
            },
        );
        assert_eq!(check.observe(&map, &world), None);
        let too_few = pg(3, 0, "active+undersized+degraded", 2, &[0]);
        assert!(
            check.observe(&too_few, &world).is_some(),
            "active below min_size"
        );
        let down_member = pg(3, 1, "active+clean", 2, &[0, 1, 3]);
        assert!(
            check.observe(&down_member, &world).is_some(),
            "acting OSD down"
        );
        let idle = pg(3, 2, "undersized+peered", 2, &[0, 3]);
        assert!(
            check.observe(&idle, &world).is_some(),
            "inactive with min_size up"
        );
        let unknown = pg(4, 3, "active+clean", 9, &[0, 3, 4]);
        assert!(
            check.observe(&unknown, &world).is_some(),
            "uncommitted epoch"
        );
    }

    #[test]
    fn pgid_round_trip() {
        let pg = PgId { pool: 1, ps: 31 };
        assert_eq!(parse_pgid(&pg.to_string()), Some(pg));
        assert_eq!(parse_pgid("x"), None);
    }
}
