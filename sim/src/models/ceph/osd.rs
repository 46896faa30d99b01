//! `ceph-osd`: the OSD daemons of one host (one OSD per disk). Each running OSD boots by asking
//! the monitors to mark it up, pings the OSDs it shares PGs with every
//! `0.5 + rand * osd_heartbeat_interval` seconds (as `OSD::heartbeat_entry` does), and reports a
//! peer whose oldest unanswered ping is older than `osd_heartbeat_grace` (from the topology) to
//! the monitors on every tick until the map marks it down (and cancels the report if the peer
//! answers again). A running OSD that finds itself marked down boots again ("wrongly marked me
//! down").
//!
//! How fast a dead OSD is noticed depends on how it died (`osd_fast_fail_on_connection_refused`):
//!
//! | fault                                   | what peers see                 | detection           |
//! |-----------------------------------------|--------------------------------|---------------------|
//! | `ProcessStop` of `ceph-osd` (SIGKILL)   | RST, reconnect refused         | immediate report    |
//! | `ProcessTerminate` (SIGTERM)            | its own `MOSDMarkMeDown`       | next map            |
//! | `DiskLoss` (the OSD aborts on EIO)      | RST, reconnect refused         | immediate report    |
//! | `HostCrash`, `Partition`, `OneWay`      | silence                        | heartbeat grace     |
//! | `ProcessPause` (SIGSTOP)                | sockets stay open, silence     | heartbeat grace     |
//!
//! A peer reports immediately only when its heartbeat session with the dead OSD was live (it
//! answered every ping older than [`SESSION_LIVE_WITHIN`]): a peer already cut off from that
//! host gets no RST. A graceful stop (`ProcessTerminate`) asks to be marked down: Ceph
//! 16.2.15 (Debian 12's) defaults `osd_fast_shutdown_notify_mon` to true (16.2.7 had false),
//! so `OSD::shutdown` sends `MOSDMarkMeDown` and waits for the map, up to
//! `osd_mon_shutdown_timeout`, before it exits ([`Model::terminate`] here).
//!
//! PG work lives in `osd_pg.rs` (peering as primary, replication) and `osd_recovery.rs`
//! (backfill and recovery); this file is the daemon shell: boot, heartbeats, maps, PG stats
//! reports, faults and message dispatch.
//!
//! Durable across a crash: each OSD's PG copies, its boot counter and the last map it saw.
//! `DiskLoss` wipes the copies of the OSD on that disk and stops that OSD until the process is
//! started again (a replaced disk: it then boots empty and is backfilled).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rand::Rng;
use topology::fault::Fault;

use super::defaults::{
    OSD_BEACON_REPORT_INTERVAL_SECS, OSD_FAST_FAIL_ON_CONNECTION_REFUSED, OSD_HEARTBEAT_MIN_PEERS,
    OSD_INIT_MILLIS, OSD_MON_SHUTDOWN_TIMEOUT_MILLIS, heartbeat_wait_millis,
};
use super::facts::DiskLost;
use super::layout::{CephLayout, PgId};
use super::mon::{MON_MODEL, OSD_MODEL};
use super::msg::{
    ClientReply, ClientWrite, MapUpdate, MonBeacon, OsdAlive, OsdBeacon, OsdBoot, OsdFailure,
    OsdMarkMeDown, PgCopy, PgInfo, PgQuery, PgRemove, Ping, PingRefused, PingReply, Push, PushAck,
    RepOp, RepOpAck, ReserveCancel, ReserveGrant, ReserveRequest,
};
use super::osd_pg::PrimaryPg;
use super::osdmap::OsdMap;
use super::pg_stats::{OSD_MON_REPORT_INTERVAL_SECS, PgStatsReport};
use super::pool::PgMapping;
use crate::engine::{
    ActorId, Ctx, Endpoint, Event, HostId, Message, Model, SimDuration, SimTime, TimerId,
};

/// Unanswered pings remembered per peer (grace / shortest wait, with room to spare).
const MAX_UNACKED_PINGS: usize = 64;
/// Maps an OSD remembers for past intervals (the prior set of peering).
const MAP_HISTORY: usize = 64;
/// A heartbeat session counts as open (its TCP connection would carry the dead peer's RST)
/// while no ping has gone unanswered for longer than this; replies on a LAN take well under a
/// millisecond, so a longer silence means the path to the peer was already broken.
pub const SESSION_LIVE_WITHIN: SimDuration = SimDuration::from_secs(1);

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimerWhat {
    /// A restarted process finished initialising ([`OSD_INIT_MILLIS`]) and boots.
    Init,
    /// A stopping process gave up waiting to be marked down.
    ShutdownTimeout,
    Heartbeat(i32),
    /// Send PG stats to the monitors.
    Report,
    /// Time for `osd`'s next beacon.
    Beacon(i32),
    /// A recovery transfer of `pg` from primary `osd` to `target` ends.
    Transfer {
        osd: i32,
        pg: PgId,
        round: u64,
    },
}

#[derive(Clone, Debug)]
pub(super) struct HbPeer {
    /// Send times of pings not yet answered, oldest first (`HeartbeatInfo::ping_history`).
    pub(super) unacked: VecDeque<SimTime>,
    pub(super) reported: bool,
}

/// Runtime state of one running OSD (volatile).
#[derive(Clone, Debug, Default)]
pub(super) struct OsdRun {
    pub(super) booted: bool,
    pub(super) hb: BTreeMap<i32, HbPeer>,
    pub(super) primary: BTreeMap<PgId, PrimaryPg>,
    /// PGs this OSD backfills as primary (local reservations), at most `osd_max_backfills`.
    pub(super) local_slots: Vec<PgId>,
    pub(super) local_queue: VecDeque<PgId>,
    /// (pg, primary, round) this OSD is a backfill target of (remote reservations), at most
    /// `osd_max_backfills`.
    pub(super) remote_slots: Vec<(PgId, i32, u64)>,
    pub(super) remote_queue: VecDeque<(PgId, i32, u64)>,
    /// Peering queries from primaries whose map is newer than this OSD's (or that came before
    /// this OSD saw itself up): answered once the map catches up.
    pub(super) queries_waiting_for_map: Vec<PgQuery>,
    /// Client writes sent with a newer map than this OSD's: handled once the map catches up.
    pub(super) writes_waiting_for_map: Vec<(Endpoint, ClientWrite)>,
    /// Whether this OSD has sent its first beacon since it started: it sends one as soon as it
    /// hears from a monitor quorum (`OSD::ms_handle_connect` beacons on a new mon session),
    /// then every `osd_beacon_report_interval`.
    pub(super) beaconed: bool,
    /// Per PG, the peering round (primary, round) this OSD last answered a query of: the
    /// current interval as this replica knows it. Replication and recovery messages from any
    /// other round are stale (a primary that was marked down and has not heard yet) and are
    /// dropped, as Ceph's replicas discard ops from before `same_interval_since`
    /// (`PG::can_discard_replica_op`).
    pub(super) intervals: BTreeMap<PgId, (i32, u64)>,
    /// The highest interval start this OSD asked the monitors to cover with its up_thru
    /// (`up_thru_wanted`).
    pub(super) up_thru_wanted: u64,
}

/// The OSDs of one host.
#[derive(Debug)]
pub struct CephOsdHost {
    pub(super) layout: Arc<CephLayout>,
    pub(super) osds: Vec<i32>,
    /// Durable: PG copies per local OSD.
    pub(super) stores: BTreeMap<i32, BTreeMap<PgId, PgCopy>>,
    /// Durable: boot counter per local OSD.
    pub(super) nonce: BTreeMap<i32, u64>,
    /// Durable: the newest map seen, and recent ones with their PG mappings.
    pub(super) map: OsdMap,
    pub(super) history: VecDeque<(OsdMap, Vec<(PgId, PgMapping)>)>,
    /// Volatile: running OSDs (absent = stopped or disk failed).
    pub(super) run: BTreeMap<i32, OsdRun>,
    pub(super) timers: BTreeMap<TimerId, TimerWhat>,
    pub(super) round_seq: u64,
    /// Bytes this host's primaries re-replicated (recovery and backfill), kept for reports.
    pub recovered_bytes: u64,
    /// Every finished transfer: (time, pg, target OSD, bytes, "backfill" or "recovery").
    pub transfers: Vec<(SimTime, PgId, i32, u64, &'static str)>,
    /// SIGTERM received: waiting for the map that marks this host's OSDs down (volatile).
    stopping: bool,
}

impl CephOsdHost {
    /// The OSDs of `host`, each holding its initial PG copies (the pool's data, written before
    /// the run) as epoch 1 places them.
    pub fn new(layout: Arc<CephLayout>, host: &str) -> Self {
        let osds = layout.osds_on(host);
        let map = OsdMap::initial(layout.osds.len());
        let mapping = layout.map_all(&map.states);
        let mut stores: BTreeMap<i32, BTreeMap<PgId, PgCopy>> = BTreeMap::new();
        for o in &osds {
            let mut store = BTreeMap::new();
            for (pg, m) in &mapping {
                if m.up.contains(o) {
                    store.insert(
                        *pg,
                        PgCopy {
                            complete: true,
                            ..PgCopy::default()
                        },
                    );
                }
            }
            stores.insert(*o, store);
        }
        let mut history = VecDeque::new();
        history.push_back((map.clone(), mapping));
        CephOsdHost {
            nonce: osds.iter().map(|o| (*o, 0)).collect(),
            layout,
            osds,
            stores,
            map,
            history,
            run: BTreeMap::new(),
            timers: BTreeMap::new(),
            round_seq: 0,
            recovered_bytes: 0,
            transfers: Vec::new(),
            stopping: false,
        }
    }

    /// OSD ids on this host.
    pub fn osd_ids(&self) -> &[i32] {
        &self.osds
    }

    /// OSD `osd`'s copy of `pg`, if it holds one (durable state, readable while crashed).
    pub fn copy(&self, osd: i32, pg: PgId) -> Option<&PgCopy> {
        self.stores.get(&osd)?.get(&pg)
    }

    /// Whether OSD `osd` runs and the current map has this incarnation up.
    pub fn is_booted(&self, osd: i32) -> bool {
        self.run.get(&osd).is_some_and(|r| r.booted)
    }

    /// The newest map this host has seen.
    pub fn map(&self) -> &OsdMap {
        &self.map
    }

    pub(super) fn current_mapping(&self) -> &[(PgId, PgMapping)] {
        self.history
            .back()
            .map(|(_, m)| m.as_slice())
            .unwrap_or(&[])
    }

    /// The actor running OSD `osd`.
    pub(super) fn osd_actor(&self, ctx: &Ctx<'_>, osd: i32) -> Option<ActorId> {
        let host = self.layout.osd_host(osd);
        let dir = ctx.directory();
        let h = dir.hosts().iter().position(|n| n == host)?;
        dir.actor_on(HostId(h as u32), OSD_MODEL)
    }

    pub(super) fn send_osd(&self, ctx: &mut Ctx<'_>, osd: i32, msg: impl Message) {
        if let Some(a) = self.osd_actor(ctx, osd) {
            ctx.send(a, msg);
        }
    }

    fn send_mons<M: Message + Clone>(&self, ctx: &mut Ctx<'_>, msg: &M) {
        let mons: Vec<ActorId> = ctx.directory().actors_named(MON_MODEL).collect();
        for m in mons {
            ctx.send(m, msg.clone());
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.run.clear();
        self.timers.clear();
        for o in self.osds.clone() {
            let n = self.nonce.entry(o).or_insert(0);
            *n += 1;
            self.run.insert(o, OsdRun::default());
            self.schedule_heartbeat(ctx, o);
        }
        let t = ctx.set_timer(
            SimDuration::from_secs(OSD_MON_REPORT_INTERVAL_SECS),
            TimerWhat::Report,
        );
        self.timers.insert(t, TimerWhat::Report);
        self.apply_map(ctx);
        for o in self.osds.clone() {
            if !self.is_booted(o) {
                self.send_boot(ctx, o);
            }
        }
    }

    /// `MPGStats`: each booted OSD's primary PG states, every `osd_mon_report_interval`.
    fn report_pg_stats(&mut self, ctx: &mut Ctx<'_>) {
        for (o, run) in &self.run {
            if !run.booted {
                continue;
            }
            let states = run
                .primary
                .iter()
                .map(|(pg, p)| (*pg, p.state_name()))
                .collect();
            let nonce = self.nonce.get(o).copied().unwrap_or(0);
            self.send_mons(
                ctx,
                &PgStatsReport {
                    osd: *o,
                    nonce,
                    states,
                },
            );
        }
        let t = ctx.set_timer(
            SimDuration::from_secs(OSD_MON_REPORT_INTERVAL_SECS),
            TimerWhat::Report,
        );
        self.timers.insert(t, TimerWhat::Report);
    }

    fn send_boot(&self, ctx: &mut Ctx<'_>, osd: i32) {
        let nonce = self.nonce.get(&osd).copied().unwrap_or(0);
        self.send_mons(ctx, &OsdBoot { osd, nonce });
    }

    /// `osd`'s next beacon, `osd_beacon_report_interval` from now.
    fn arm_beacon(&mut self, ctx: &mut Ctx<'_>, osd: i32) {
        let t = ctx.set_timer(
            SimDuration::from_secs(OSD_BEACON_REPORT_INTERVAL_SECS),
            TimerWhat::Beacon(osd),
        );
        self.timers.insert(t, TimerWhat::Beacon(osd));
    }

    fn schedule_heartbeat(&mut self, ctx: &mut Ctx<'_>, osd: i32) {
        let r = ctx.rng().random_range(0..10u64);
        let t = ctx.set_timer(
            SimDuration::from_millis(heartbeat_wait_millis(r)),
            TimerWhat::Heartbeat(osd),
        );
        self.timers.insert(t, TimerWhat::Heartbeat(osd));
    }

    fn heartbeat(&mut self, ctx: &mut Ctx<'_>, osd: i32) {
        let Some(run) = self.run.get(&osd) else {
            return;
        };
        if !run.booted {
            if !self.stopping {
                self.send_boot(ctx, osd);
            }
            self.schedule_heartbeat(ctx, osd);
            return;
        }
        let now = ctx.now();
        let grace = SimDuration::from_secs(self.layout.knobs.heartbeat_grace_secs);
        // A peer is unhealthy once its oldest unanswered ping is older than the grace
        // (`HeartbeatInfo::is_unhealthy`), so detection never beats the grace.
        let peers: Vec<(i32, SimDuration)> = run
            .hb
            .iter()
            .map(|(p, h)| {
                (
                    *p,
                    h.unacked
                        .front()
                        .map_or(SimDuration::ZERO, |t| now.saturating_since(*t)),
                )
            })
            .collect();
        for (peer, silent) in peers {
            self.ping(ctx, osd, peer);
            if silent > grace {
                if let Some(h) = self.run.get_mut(&osd).and_then(|r| r.hb.get_mut(&peer)) {
                    h.reported = true;
                }
                self.send_mons(
                    ctx,
                    &OsdFailure {
                        target: peer,
                        reporter: osd,
                        failed_for: silent,
                        alive: false,
                        immediate: false,
                    },
                );
            }
        }
        self.schedule_heartbeat(ctx, osd);
    }

    /// `osd` pings `peer` over its heartbeat connection (held open, so the peer's death on a
    /// live host comes back as `Event::Closed`).
    fn ping(&mut self, ctx: &mut Ctx<'_>, osd: i32, peer: i32) {
        let now = ctx.now();
        if let Some(actor) = self.osd_actor(ctx, peer) {
            ctx.connect(actor);
        }
        self.send_osd(
            ctx,
            peer,
            Ping {
                from: osd,
                to: peer,
                stamp: now,
            },
        );
        if let Some(h) = self.run.get_mut(&osd).and_then(|r| r.hb.get_mut(&peer))
            && h.unacked.len() < MAX_UNACKED_PINGS
        {
            h.unacked.push_back(now);
        }
    }

    /// A heartbeat connection to host actor `peer` was reset: its `ceph-osd` process died.
    /// `OSD::heartbeat_reset` reconnects at once; the reconnect to each of that host's OSDs is
    /// refused, which reports it ([`Self::report_refused`]) without waiting for the next
    /// heartbeat.
    fn on_peer_closed(&mut self, ctx: &mut Ctx<'_>, peer: ActorId) {
        let mut pings = Vec::new();
        for (o, run) in &self.run {
            if !run.booted {
                continue;
            }
            for p in run.hb.keys() {
                if self.osd_actor(ctx, *p) == Some(peer) {
                    pings.push((*o, *p));
                }
            }
        }
        for (o, p) in pings {
            self.ping(ctx, o, p);
        }
    }

    /// `OSD::queue_want_up_thru`: primary `osd` needs its up_thru to reach `want` before it
    /// may activate a PG; one `MOSDAlive` covers every PG, sent when the want grows. `resend`
    /// sends the standing want again (the model's stand-in for the resend on a new monitor
    /// session, which it does not play out).
    pub(super) fn want_up_thru(&mut self, ctx: &mut Ctx<'_>, osd: i32, want: u64, resend: bool) {
        let nonce = self.nonce.get(&osd).copied().unwrap_or(0);
        let version = self.map.epoch;
        let have = self.map.up_thru_of(osd);
        let Some(run) = self.run.get_mut(&osd) else {
            return;
        };
        let grew = want > run.up_thru_wanted;
        run.up_thru_wanted = run.up_thru_wanted.max(want);
        let want = run.up_thru_wanted;
        if want > have && (grew || resend) {
            self.send_mons(
                ctx,
                &OsdAlive {
                    osd,
                    nonce,
                    version,
                    want,
                },
            );
        }
    }

    /// Heartbeat peers of `osd` under the current map: every up OSD it shares a PG's up set
    /// with, topped up with the next up OSDs by id to `osd_heartbeat_min_peers`.
    fn heartbeat_peers(&self, osd: i32) -> BTreeSet<i32> {
        let mut peers: BTreeSet<i32> = BTreeSet::new();
        for (_, m) in self.current_mapping() {
            if m.up.contains(&osd) {
                peers.extend(m.up.iter().copied().filter(|p| *p != osd));
            }
        }
        let up = self.map.up_osds();
        if let Some(me) = up.iter().position(|o| *o == osd) {
            for step in 1..up.len() {
                if peers.len() >= OSD_HEARTBEAT_MIN_PEERS {
                    break;
                }
                peers.insert(up[(me + step) % up.len()]);
            }
        }
        peers.retain(|p| self.map.is_up(*p));
        peers
    }

    fn on_map(&mut self, ctx: &mut Ctx<'_>, map: &OsdMap) {
        if map.epoch <= self.map.epoch {
            return;
        }
        self.map = map.clone();
        let mapping = self.layout.map_all(&map.states);
        self.history.push_back((map.clone(), mapping));
        while self.history.len() > MAP_HISTORY {
            self.history.pop_front();
        }
        self.apply_map(ctx);
    }

    /// Brings every running OSD in line with the current map.
    fn apply_map(&mut self, ctx: &mut Ctx<'_>) {
        if self.stopping {
            // `OSD::handle_osd_map` while preparing to stop: once the map has every OSD here
            // down, the process exits; until then it keeps peering and serving.
            let map = &self.map;
            let nonce = &self.nonce;
            let all_down = self
                .run
                .keys()
                .all(|o| !map.is_up(*o) || map.up_nonce.get(*o as usize) != nonce.get(o));
            if all_down {
                ctx.exit();
                return;
            }
        }
        for o in self.osds.clone() {
            let Some(run) = self.run.get(&o) else {
                continue;
            };
            let me_up =
                self.map.is_up(o) && self.map.up_nonce.get(o as usize) == self.nonce.get(&o);
            let was_booted = run.booted;
            if was_booted && !me_up && self.stopping {
                // Marked down as it asked: it stays down until the process exits.
                self.stop_primaries(ctx, o);
                continue;
            }
            if was_booted && !me_up {
                // Wrongly marked down (or a map from before this boot): boot again.
                self.stop_primaries(ctx, o);
                if let Some(r) = self.run.get_mut(&o) {
                    *r = OsdRun::default();
                }
                if let Some(n) = self.nonce.get_mut(&o) {
                    *n += 1;
                }
                self.send_boot(ctx, o);
                continue;
            }
            if !me_up {
                continue;
            }
            if self.run.get(&o).is_some_and(|r| !r.booted) {
                self.arm_beacon(ctx, o);
            }
            if let Some(r) = self.run.get_mut(&o) {
                r.booted = true;
            }
            let peers = self.heartbeat_peers(o);
            if let Some(r) = self.run.get_mut(&o) {
                r.hb.retain(|p, _| peers.contains(p));
                for p in peers {
                    r.hb.entry(p).or_insert(HbPeer {
                        unacked: VecDeque::new(),
                        reported: false,
                    });
                }
                let map = &self.map;
                r.remote_slots.retain(|(_, p, _)| map.is_up(*p));
                r.remote_queue.retain(|(_, p, _)| map.is_up(*p));
            }
            self.grant_next(ctx, o);
            self.repeer_all(ctx, o);
            self.answer_held_queries(ctx, o);
        }
    }

    fn on_fault(&mut self, ctx: &mut Ctx<'_>, fault: &Fault) {
        // The engine tells only this host's actors of its own faults; peers learn of a dead
        // OSD the way Ceph's do, by silence or by a refused connection.
        if let Fault::DiskLoss { host, disk } = fault {
            self.lose_disk(ctx, host, disk);
        }
    }

    /// `OSD::ms_handle_refused` (with `osd_fast_fail_on_connection_refused`): `reporter`'s
    /// heartbeat connection to `target` was refused, so its process is gone while its host is
    /// up; `reporter` reports it with `FLAG_IMMEDIATE` (and `failed_for` = grace + 1, as Ceph
    /// sends it), once, if its session was live and the map still has `target` up.
    fn report_refused(&mut self, ctx: &mut Ctx<'_>, reporter: i32, target: i32) {
        if !OSD_FAST_FAIL_ON_CONNECTION_REFUSED {
            return;
        }
        let now = ctx.now();
        let failed_for = SimDuration::from_secs(self.layout.knobs.heartbeat_grace_secs + 1);
        let up = self.map.is_up(target);
        let Some(run) = self.run.get_mut(&reporter) else {
            return;
        };
        if !run.booted {
            return;
        }
        let Some(h) = run.hb.get_mut(&target) else {
            return;
        };
        // The refused ping is the newest unanswered one; the session was live if nothing
        // older than that went unanswered for long.
        let live = h
            .unacked
            .front()
            .is_none_or(|t| now.saturating_since(*t) <= SESSION_LIVE_WITHIN);
        if live && !h.reported && up {
            h.reported = true;
            self.send_mons(
                ctx,
                &OsdFailure {
                    target,
                    reporter,
                    failed_for,
                    alive: false,
                    immediate: true,
                },
            );
        }
    }

    /// `DiskLoss` on this host: the OSD on that disk stops and its PG copies are gone.
    fn lose_disk(&mut self, ctx: &mut Ctx<'_>, host: &str, disk: &str) {
        let lost: Vec<i32> = self
            .layout
            .osds
            .iter()
            .filter(|d| d.host == host && d.disk == disk)
            .map(|d| d.id)
            .filter(|o| self.osds.contains(o))
            .collect();
        for o in lost {
            self.stop_primaries(ctx, o);
            self.run.remove(&o);
            self.timers.retain(|_, w| match w {
                TimerWhat::Heartbeat(x)
                | TimerWhat::Beacon(x)
                | TimerWhat::Transfer { osd: x, .. } => *x != o,
                TimerWhat::Report | TimerWhat::Init | TimerWhat::ShutdownTimeout => true,
            });
            if let Some(s) = self.stores.get_mut(&o) {
                s.clear();
            }
            ctx.fact(DiskLost { osd: o });
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: Endpoint, msg: &dyn Message) {
        if let Some(m) = msg.downcast_ref::<MapUpdate>() {
            self.on_map(ctx, &m.map);
        } else if let Some(b) = msg.downcast_ref::<MonBeacon>() {
            let first: Vec<i32> = self
                .run
                .iter_mut()
                .filter(|(_, r)| r.booted && !r.beaconed)
                .map(|(o, r)| {
                    r.beaconed = true;
                    *o
                })
                .collect();
            for osd in first {
                self.send_mons(ctx, &OsdBeacon { osd });
            }
            // A standing up_thru want goes out again with each lease beacon, standing in for
            // the resend on a new monitor session: an `MOSDAlive` lost with a leader that died
            // before proposing it would otherwise leave its PGs peering until some other map.
            let booted: Vec<i32> = self
                .run
                .iter()
                .filter(|(_, r)| r.booted && r.up_thru_wanted > 0)
                .map(|(o, _)| *o)
                .collect();
            for osd in booted {
                self.want_up_thru(ctx, osd, 0, true);
            }
            if let Some(request) = b.catch_up(self.map.epoch) {
                ctx.send(from, request);
            }
        } else if let Some(p) = msg.downcast_ref::<Ping>() {
            if self.is_booted(p.to) {
                self.send_osd(
                    ctx,
                    p.from,
                    PingReply {
                        from: p.to,
                        to: p.from,
                        stamp: p.stamp,
                    },
                );
            } else if self.osds.contains(&p.to) && !self.run.contains_key(&p.to) {
                // Its process died with its disk; this host's kernel refuses the reconnect.
                self.send_osd(
                    ctx,
                    p.from,
                    PingRefused {
                        from: p.to,
                        to: p.from,
                    },
                );
            }
        } else if let Some(r) = msg.downcast_ref::<PingRefused>() {
            self.report_refused(ctx, r.to, r.from);
        } else if let Some(r) = msg.downcast_ref::<PingReply>() {
            let cancel = self
                .run
                .get_mut(&r.to)
                .and_then(|run| run.hb.get_mut(&r.from))
                .map(|h| {
                    while h.unacked.front().is_some_and(|t| *t <= r.stamp) {
                        h.unacked.pop_front();
                    }
                    std::mem::replace(&mut h.reported, false)
                })
                .unwrap_or(false);
            if cancel {
                self.send_mons(
                    ctx,
                    &OsdFailure {
                        target: r.from,
                        reporter: r.to,
                        failed_for: SimDuration::ZERO,
                        alive: true,
                        immediate: false,
                    },
                );
            }
        } else {
            self.on_pg_message(ctx, from, msg);
        }
    }

    /// Answers a peering query, or holds it while this OSD's map is older than the primary's
    /// (a freshly started OSD hears from primaries before the map that marks it up).
    fn on_query(&mut self, ctx: &mut Ctx<'_>, q: &PgQuery) {
        let current = self.map.epoch >= q.epoch;
        let Some(run) = self.run.get_mut(&q.to) else {
            return;
        };
        if !(run.booted && current) {
            run.queries_waiting_for_map.push(q.clone());
            return;
        }
        run.intervals.insert(q.pg, (q.primary, q.round));
        let copy = self.copy(q.to, q.pg).cloned();
        self.send_osd(
            ctx,
            q.primary,
            PgInfo {
                pg: q.pg,
                round: q.round,
                from: q.to,
                to: q.primary,
                copy,
            },
        );
    }

    /// Answers the held queries that this OSD's map has caught up with.
    fn answer_held_queries(&mut self, ctx: &mut Ctx<'_>, osd: i32) {
        let epoch = self.map.epoch;
        let Some(run) = self.run.get_mut(&osd) else {
            return;
        };
        let (ready, later): (Vec<PgQuery>, Vec<PgQuery>) =
            std::mem::take(&mut run.queries_waiting_for_map)
                .into_iter()
                .partition(|q| q.epoch <= epoch);
        run.queries_waiting_for_map = later;
        let (ready_writes, later_writes): (Vec<_>, Vec<_>) =
            std::mem::take(&mut run.writes_waiting_for_map)
                .into_iter()
                .partition(|(_, w)| w.epoch <= epoch);
        run.writes_waiting_for_map = later_writes;
        for q in ready {
            self.on_query(ctx, &q);
        }
        for (from, w) in ready_writes {
            self.on_client_write(ctx, from, &w);
        }
    }

    fn on_pg_message(&mut self, ctx: &mut Ctx<'_>, from: Endpoint, msg: &dyn Message) {
        if let Some(q) = msg.downcast_ref::<PgQuery>() {
            self.on_query(ctx, q);
        } else if let Some(i) = msg.downcast_ref::<PgInfo>() {
            self.on_info(ctx, i);
        } else if let Some(w) = msg.downcast_ref::<ClientWrite>() {
            self.on_client_write(ctx, from, w);
        } else if let Some(r) = msg.downcast_ref::<RepOp>() {
            self.on_repop(ctx, r);
        } else if let Some(a) = msg.downcast_ref::<RepOpAck>() {
            self.on_repop_ack(ctx, a);
        } else if let Some(r) = msg.downcast_ref::<ReserveRequest>() {
            if let Some(run) = self.run.get_mut(&r.to).filter(|run| run.booted) {
                run.remote_queue.push_back((r.pg, r.primary, r.round));
                self.grant_next(ctx, r.to);
            }
        } else if let Some(g) = msg.downcast_ref::<ReserveGrant>() {
            self.on_grant(ctx, g);
        } else if let Some(c) = msg.downcast_ref::<ReserveCancel>() {
            if let Some(run) = self.run.get_mut(&c.to) {
                run.remote_queue
                    .retain(|(pg, p, _)| !(*pg == c.pg && *p == c.primary));
                run.remote_slots
                    .retain(|(pg, p, _)| !(*pg == c.pg && *p == c.primary));
                self.grant_next(ctx, c.to);
            }
        } else if let Some(p) = msg.downcast_ref::<Push>() {
            self.on_push(ctx, p);
        } else if let Some(a) = msg.downcast_ref::<PushAck>() {
            self.on_push_ack(ctx, a);
        } else if let Some(r) = msg.downcast_ref::<PgRemove>()
            && self.is_booted(r.to)
            && let Some(s) = self.stores.get_mut(&r.to)
        {
            s.remove(&r.pg);
        }
    }

    /// Grants `osd`'s free remote backfill slots (`osd_max_backfills`) to the next in line.
    pub(super) fn grant_next(&mut self, ctx: &mut Ctx<'_>, osd: i32) {
        let max = self.layout.config.osd_max_backfills.max(1);
        let mut grants = Vec::new();
        if let Some(run) = self.run.get_mut(&osd) {
            while run.remote_slots.len() < max {
                let Some(slot) = run.remote_queue.pop_front() else {
                    break;
                };
                run.remote_slots.push(slot);
                grants.push(slot);
            }
        }
        for (pg, primary, round) in grants {
            self.send_osd(
                ctx,
                primary,
                ReserveGrant {
                    pg,
                    round,
                    from: osd,
                    to: primary,
                },
            );
        }
    }

    /// Answers a write this OSD cannot take (or gives up on) with "resend", saying how long it
    /// waited here on an inactive PG.
    pub(super) fn retry(
        ctx: &mut Ctx<'_>,
        client: Endpoint,
        tid: u64,
        pg: PgId,
        inactive_wait: SimDuration,
    ) {
        Self::reply(ctx, client, tid, pg, None, false, inactive_wait);
    }

    /// Answers write `tid` of `pg`: `Some(version)` acknowledges it (every acting replica has
    /// it), `None` asks the client to resend.
    pub(super) fn reply(
        ctx: &mut Ctx<'_>,
        client: Endpoint,
        tid: u64,
        pg: PgId,
        version: Option<u64>,
        degraded: bool,
        inactive_wait: SimDuration,
    ) {
        let sent = ctx.now();
        let reply = ClientReply {
            tid,
            pg,
            version,
            degraded,
            inactive_wait,
            sent,
        };
        ctx.send(client, reply);
    }
}

impl Model for CephOsdHost {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            // A process that was started again initialises before it boots; the cluster's
            // first start stands for daemons long since running.
            Event::Start { restarted: true } => {
                let t = ctx.set_timer(SimDuration::from_millis(OSD_INIT_MILLIS), TimerWhat::Init);
                self.timers.insert(t, TimerWhat::Init);
            }
            Event::Start { restarted: false } => self.start(ctx),
            Event::Message {
                from,
                from_port,
                msg,
            } => self.on_message(ctx, Endpoint::new(from, from_port), msg),
            Event::Timer { id, .. } => match self.timers.remove(&id) {
                Some(TimerWhat::Init) => self.start(ctx),
                Some(TimerWhat::ShutdownTimeout) => ctx.exit(),
                Some(TimerWhat::Heartbeat(o)) => self.heartbeat(ctx, o),
                Some(TimerWhat::Report) => self.report_pg_stats(ctx),
                Some(TimerWhat::Beacon(o)) if self.is_booted(o) => {
                    self.send_mons(ctx, &OsdBeacon { osd: o });
                    self.arm_beacon(ctx, o);
                }
                Some(TimerWhat::Beacon(_)) => {}
                Some(TimerWhat::Transfer { osd, pg, round }) => {
                    self.on_transfer_done(ctx, osd, pg, round)
                }
                None => {}
            },
            Event::Refused { msg, .. } => {
                // The whole `ceph-osd` actor of the peer's host is down on a live host.
                if let Some(p) = msg.downcast_ref::<Ping>() {
                    self.report_refused(ctx, p.from, p.to);
                }
            }
            Event::Closed { peer } => self.on_peer_closed(ctx, peer),
            Event::Fault(f) => self.on_fault(ctx, f),
        }
    }

    fn on_crash(&mut self) {
        self.run.clear();
        self.timers.clear();
        self.stopping = false;
    }

    /// SIGTERM: with Ceph 16.2.15's defaults (`osd_fast_shutdown` and
    /// `osd_fast_shutdown_notify_mon` both true) each booted OSD sends `MOSDMarkMeDown` and the
    /// process exits once a map marks them down, or after `osd_mon_shutdown_timeout`. Until
    /// then it keeps serving. Without a booted OSD it exits at once.
    fn terminate(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let booted: Vec<i32> = self
            .run
            .iter()
            .filter(|(_, r)| r.booted)
            .map(|(o, _)| *o)
            .collect();
        if booted.is_empty() {
            return false;
        }
        self.stopping = true;
        for osd in booted {
            let nonce = self.nonce.get(&osd).copied().unwrap_or(0);
            self.send_mons(ctx, &OsdMarkMeDown { osd, nonce });
        }
        let t = ctx.set_timer(
            SimDuration::from_millis(OSD_MON_SHUTDOWN_TIMEOUT_MILLIS),
            TimerWhat::ShutdownTimeout,
        );
        self.timers.insert(t, TimerWhat::ShutdownTimeout);
        true
    }
}
