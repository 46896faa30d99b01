//! `ceph-mon`: one monitor per mon host. The monitors elect a leader the way Ceph's classic
//! elector does (the lowest rank that a majority of the monmap acks wins; a mon that hears a
//! better-ranked proposer defers to it, a better-ranked mon that hears a worse proposer starts
//! its own election), keep the quorum alive with Paxos leases, and commit OSDMap changes through
//! a begin/accept/commit round that needs a majority. The leader turns OSD failure reports into
//! "down" (`OSDMonitor::prepare_failure`: an immediate report, sent when a connection to the
//! OSD was refused, marks it down at once (`force_failure`); heartbeat reports need
//! `mon_osd_min_down_reporters` reporters in distinct `mon_osd_reporter_subtree_level` buckets
//! after the grace, [`FailureKnobs::reports_mark_down`]; either way only while
//! [`can_mark_down`] allows), down OSDs into "out" after `mon_osd_down_out_interval` (checked
//! every `mon_tick_interval`), and boots into "up". The grace, reporter count and down-out
//! interval come from the topology. OSDs nobody reports (no peers left on two hosts) are
//! marked down by the beacon backstop: no `MOSDBeacon` for `mon_osd_report_timeout`
//! (`handle_osd_timeouts`).
//! Without a quorum nothing is committed and no beacon goes out, so clients block.
//!
//! Durable (kept across a crash, as the mon store is): the committed OSDMap and the election
//! epoch. Everything else is volatile.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::Rng;

#[cfg(doc)]
use super::defaults::FailureKnobs;
use super::defaults::{
    MGR_TICK_PERIOD_MILLIS, MON_CLIENT_LOG_INTERVAL_MILLIS, MON_ELECTION_TIMEOUT_SECS,
    MON_LEASE_ACK_TIMEOUT_MILLIS, MON_LEASE_RENEW_MILLIS, MON_LEASE_SECS,
    MON_OSD_REPORT_TIMEOUT_SECS, MON_TICK_INTERVAL_SECS, OSD_BEACON_REPORT_INTERVAL_SECS,
    can_mark_down, propose_delay_millis,
};
use super::facts::{MonLeader, OsdMapCommitted, PgCounts};
use super::layout::CephLayout;
use super::msg::{
    MapRequest, MapUpdate, MonAccept, MonAck, MonBeacon, MonBegin, MonCommit, MonLease,
    MonLeaseAck, MonPropose, MonVictory, OsdAlive, OsdBeacon, OsdBoot, OsdFailure, OsdMarkMeDown,
};
use super::osdmap::{MapChange, OsdMap};
use super::pg_stats::{PgStatsReport, PgStatsTable};
use topology::component::Component;
use topology::policy::quorum::majority;

use crate::engine::{
    ActorId, Ctx, Endpoint, Event, Message, Model, SimDuration, SimTime, Status, TimerId,
};

/// Model name of the monitor actor.
pub const MON_MODEL: &str = "ceph-mon";
/// Model name of the OSD actor (maps are pushed to it).
pub(crate) const OSD_MODEL: &str = "ceph-osd";
/// Model name of the client actor (maps and beacons are pushed to it).
pub(crate) const CLIENT_MODEL: &str = "ceph-client";
/// Availability lane of the monitors' quorum, one opinion per running mon.
pub const QUORUM_LANE: Component = Component::CephMonQuorum;

/// The monitor's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MonTimer {
    /// The election round ends.
    Election,
    /// Leader: extend the lease.
    Renew,
    /// Peon: the leader's lease ran out.
    LeaseTimeout,
    /// Leader: the periodic tick (mark-down checks).
    Tick,
    /// Leader: the damped proposal goes out.
    Propose,
    /// Leader: the active manager's periodic report arrives (`MMonMgrReport`).
    MgrReport,
    /// Leader: the manager's cluster-log entry for its last report arrives (`MLog`).
    MgrLog,
}

#[derive(Clone, Debug)]
enum Role {
    Electing {
        me_electing: bool,
        acked: BTreeMap<usize, OsdMap>,
        deferred_to: Option<usize>,
    },
    Leader {
        quorum: Vec<usize>,
        last_ack: BTreeMap<usize, SimTime>,
    },
    Peon {
        leader: usize,
    },
}

/// One monitor.
#[derive(Debug)]
pub struct CephMon {
    layout: Arc<CephLayout>,
    rank: usize,
    /// Durable: the committed map.
    map: OsdMap,
    /// Durable: election epoch.
    election_epoch: u64,
    role: Role,
    election_timer: Option<TimerId>,
    lease_timer: Option<TimerId>,
    renew_timer: Option<TimerId>,
    /// The leader's last beacon to OSDs and clients: what a client that just connected is told
    /// about the quorum's lease.
    last_beacon: Option<MonBeacon>,
    /// Client sessions that subscribed to the osdmap (`MonClient::sub_want("osdmap")`), each
    /// on its own port. Every mon hears each session open and keeps it across its own
    /// restarts: that stands in for the client hunting for another mon when its session
    /// drops, which the model does not play out.
    subscribers: BTreeSet<Endpoint>,
    /// Leader: when it last heard a beacon from each OSD (`last_osd_report`).
    last_osd_report: BTreeMap<i32, SimTime>,
    /// Leader: since when it leads.
    leader_since: Option<SimTime>,
    tick_timer: Option<TimerId>,
    /// Leader: the damped proposal waiting to go out (`PaxosService::proposal_timer`).
    propose_timer: Option<TimerId>,
    /// When this mon last committed a map (`Paxos::last_commit_time`; volatile).
    last_commit: Option<SimTime>,
    /// Leader: failure reports per target: reporter subtree -> silent seconds.
    reports: BTreeMap<i32, BTreeMap<String, u64>>,
    /// Leader: changes waiting for the next proposal.
    pending: BTreeSet<MapChange>,
    /// Leader: another service (the manager's PG statistics) has a change waiting; it shares
    /// the next Paxos proposal with the OSDMap's, or goes alone.
    service_pending: bool,
    mgr_timer: Option<TimerId>,
    /// Leader: the proposal in flight and who accepted it.
    proposal: Option<(OsdMap, BTreeSet<usize>)>,
    in_quorum: Option<bool>,
    /// Leader: PG states the primaries reported.
    pg_stats: PgStatsTable,
}

impl CephMon {
    /// The monitor of rank `rank` in `layout`'s monmap.
    pub fn new(layout: Arc<CephLayout>, rank: usize) -> Self {
        let n = layout.osds.len();
        CephMon {
            layout,
            rank,
            map: OsdMap::initial(n),
            election_epoch: 0,
            role: Role::Peon { leader: usize::MAX },
            election_timer: None,
            lease_timer: None,
            renew_timer: None,
            last_beacon: None,
            subscribers: BTreeSet::new(),
            last_osd_report: BTreeMap::new(),
            leader_since: None,
            tick_timer: None,
            propose_timer: None,
            last_commit: None,
            reports: BTreeMap::new(),
            pending: BTreeSet::new(),
            service_pending: false,
            mgr_timer: None,
            proposal: None,
            in_quorum: None,
            pg_stats: PgStatsTable::default(),
        }
    }

    /// The committed map (durable).
    pub fn map(&self) -> &OsdMap {
        &self.map
    }

    /// Whether this mon leads a quorum.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    /// Ranks in this mon's quorum if it leads one.
    pub fn quorum(&self) -> Option<&[usize]> {
        match &self.role {
            Role::Leader { quorum, .. } => Some(quorum),
            _ => None,
        }
    }

    fn n(&self) -> usize {
        self.layout.mons.len()
    }

    fn majority(&self) -> usize {
        majority(self.n())
    }

    fn mon_actor(&self, ctx: &Ctx<'_>, rank: usize) -> Option<ActorId> {
        let host = self.layout.mons.get(rank)?;
        let dir = ctx.directory();
        let h = dir.hosts().iter().position(|n| n == host)?;
        dir.actor_on(crate::engine::HostId(h as u32), MON_MODEL)
    }

    fn send_mon(&self, ctx: &mut Ctx<'_>, rank: usize, msg: impl Message) {
        if let Some(a) = self.mon_actor(ctx, rank) {
            ctx.send(a, msg);
        }
    }

    fn set_quorum(&mut self, ctx: &mut Ctx<'_>, up: bool, reason: &str) {
        if self.in_quorum != Some(up) {
            self.in_quorum = Some(up);
            let s = if up { Status::Up } else { Status::Down };
            ctx.availability(QUORUM_LANE, s, reason);
        }
    }

    fn arm_election_timer(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(t) = self.election_timer.take() {
            ctx.cancel_timer(t);
        }
        self.election_timer = Some(ctx.set_timer(
            SimDuration::from_secs(MON_ELECTION_TIMEOUT_SECS),
            MonTimer::Election,
        ));
    }

    fn arm_lease_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(t) = self.lease_timer.take() {
            ctx.cancel_timer(t);
        }
        self.lease_timer = Some(ctx.set_timer(
            SimDuration::from_millis(MON_LEASE_ACK_TIMEOUT_MILLIS),
            MonTimer::LeaseTimeout,
        ));
    }

    fn start_election(&mut self, ctx: &mut Ctx<'_>) {
        self.pg_stats.clear();
        self.election_epoch += if self.election_epoch.is_multiple_of(2) {
            1
        } else {
            2
        };
        self.proposal = None;
        self.pending.clear();
        self.reports.clear();
        let mut acked = BTreeMap::new();
        acked.insert(self.rank, self.map.clone());
        self.role = Role::Electing {
            me_electing: true,
            acked,
            deferred_to: None,
        };
        self.set_quorum(ctx, false, "election");
        for r in 0..self.n() {
            if r != self.rank {
                self.send_mon(
                    ctx,
                    r,
                    MonPropose {
                        epoch: self.election_epoch,
                        rank: self.rank,
                    },
                );
            }
        }
        self.arm_election_timer(ctx);
        if self.n() == 1 {
            self.victory(ctx);
        }
    }

    fn victory(&mut self, ctx: &mut Ctx<'_>) {
        let Role::Electing { acked, .. } = &self.role else {
            return;
        };
        let quorum: Vec<usize> = acked.keys().copied().collect();
        if let Some(best) = acked.values().max_by_key(|m| m.epoch)
            && best.epoch > self.map.epoch
        {
            self.map = best.clone();
        }
        self.election_epoch += 1;
        let now = ctx.now();
        self.leader_since = Some(now);
        // `OSDMonitor::on_restart` forgets the reports at every election: a new leader knows
        // only the beacons that reach it.
        self.last_osd_report.clear();
        self.role = Role::Leader {
            last_ack: quorum.iter().map(|r| (*r, now)).collect(),
            quorum: quorum.clone(),
        };
        if let Some(t) = self.election_timer.take() {
            ctx.cancel_timer(t);
        }
        for r in &quorum {
            if *r != self.rank {
                self.send_mon(
                    ctx,
                    *r,
                    MonVictory {
                        epoch: self.election_epoch,
                        leader: self.rank,
                        quorum: quorum.clone(),
                        map: self.map.clone(),
                    },
                );
            }
        }
        self.set_quorum(ctx, true, &format!("leader of quorum {quorum:?}"));
        ctx.fact(MonLeader {
            mon: self.layout.mons[self.rank].clone(),
        });
        self.renew(ctx);
        self.tick_timer = Some(ctx.set_timer(
            SimDuration::from_secs(MON_TICK_INTERVAL_SECS),
            MonTimer::Tick,
        ));
        // The manager's reports keep their own rhythm; where in it this leader starts is
        // chance.
        if let Some(t) = self.mgr_timer.take() {
            ctx.cancel_timer(t);
        }
        let phase = ctx.rng().random_range(0..MGR_TICK_PERIOD_MILLIS);
        self.mgr_timer = Some(ctx.set_timer(SimDuration::from_millis(phase), MonTimer::MgrReport));
        self.push_map(ctx);
    }

    /// Leader: lease renewal, quorum check and beacons.
    fn renew(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let rank = self.rank;
        let Role::Leader { quorum, last_ack } = &mut self.role else {
            return;
        };
        last_ack.insert(rank, now);
        let timeout = SimDuration::from_millis(MON_LEASE_ACK_TIMEOUT_MILLIS);
        if last_ack
            .values()
            .any(|t| now.saturating_since(*t) > timeout)
        {
            self.start_election(ctx);
            return;
        }
        let fresh = last_ack
            .values()
            .filter(|t| now.saturating_since(**t) <= SimDuration::from_secs(MON_LEASE_SECS))
            .count();
        let quorum = quorum.clone();
        for r in &quorum {
            if *r != self.rank {
                self.send_mon(
                    ctx,
                    *r,
                    MonLease {
                        epoch: self.election_epoch,
                    },
                );
            }
        }
        if fresh >= self.majority() {
            let beacon = MonBeacon {
                map_epoch: self.map.epoch,
                until: now + SimDuration::from_secs(MON_LEASE_SECS),
            };
            self.broadcast_clients(ctx, &beacon);
            self.last_beacon = Some(beacon);
        }
        self.renew_timer = Some(ctx.set_timer(
            SimDuration::from_millis(MON_LEASE_RENEW_MILLIS),
            MonTimer::Renew,
        ));
    }

    /// Sends `msg` to every OSD and every client session subscribed to the osdmap.
    fn broadcast_clients<M: Message + Clone>(&self, ctx: &mut Ctx<'_>, msg: &M) {
        let osds: Vec<Endpoint> = ctx
            .directory()
            .actors_named(OSD_MODEL)
            .map(Endpoint::from)
            .collect();
        for to in osds.into_iter().chain(self.subscribers.iter().copied()) {
            ctx.send(to, msg.clone());
        }
    }

    fn push_map(&self, ctx: &mut Ctx<'_>) {
        let update = MapUpdate {
            map: self.map.clone(),
        };
        self.broadcast_clients(ctx, &update);
    }

    /// Leader: queue a change and propose if nothing is in flight.
    fn change(&mut self, ctx: &mut Ctx<'_>, change: MapChange) {
        if !self.is_leader() || !self.map.changes(change) {
            return;
        }
        if let MapChange::MarkDown(_) = change
            && !self.may_mark_down()
        {
            return;
        }
        self.pending.insert(change);
        self.schedule_propose(ctx);
    }

    /// Leader: proposes the pending changes after the damping `PaxosService::should_propose`
    /// asks for (see [`propose_delay_millis`]), unless a proposal is in flight or already
    /// scheduled; the commit of the one in flight schedules the next.
    fn schedule_propose(&mut self, ctx: &mut Ctx<'_>) {
        if self.proposal.is_some()
            || self.propose_timer.is_some()
            || (self.pending.is_empty() && !self.service_pending)
        {
            return;
        }
        let since = self.last_commit.map(|t| (ctx.now() - t).as_millis());
        match propose_delay_millis(since) {
            0 => self.propose(ctx),
            delay => {
                self.propose_timer =
                    Some(ctx.set_timer(SimDuration::from_millis(delay), MonTimer::Propose));
            }
        }
    }

    /// Leader: the manager's report (every `mgr_tick_period`) is a change of the PG statistics
    /// service, proposed like any other, and its log line a change of the log service when the
    /// manager's log client next flushes; the next report is due a period later. The manager itself
    /// is not modelled: its report is taken to arrive whenever a quorum stands.
    fn mgr_report(&mut self, ctx: &mut Ctx<'_>) {
        if !self.is_leader() {
            return;
        }
        self.service_pending = true;
        self.schedule_propose(ctx);
        let flush = ctx.rng().random_range(0..MON_CLIENT_LOG_INTERVAL_MILLIS);
        ctx.set_timer(SimDuration::from_millis(flush), MonTimer::MgrLog);
        self.mgr_timer = Some(ctx.set_timer(
            SimDuration::from_millis(MGR_TICK_PERIOD_MILLIS),
            MonTimer::MgrReport,
        ));
    }

    /// `OSDMonitor::can_mark_down`: up OSDs of the newest map (the proposal in flight, else the
    /// committed one) less the ones already waiting to be marked down, against
    /// `mon_osd_min_up_ratio`.
    fn may_mark_down(&self) -> bool {
        let base = self.proposal.as_ref().map_or(&self.map, |(m, _)| m);
        let pending_down = self
            .pending
            .iter()
            .filter(|c| matches!(c, MapChange::MarkDown(o) if base.is_up(*o)))
            .count();
        let up = base.up_osds().len().saturating_sub(pending_down);
        can_mark_down(up, base.states.osds.len())
    }

    fn propose(&mut self, ctx: &mut Ctx<'_>) {
        if self.proposal.is_some() || (self.pending.is_empty() && !self.service_pending) {
            return;
        }
        let Role::Leader { quorum, .. } = &self.role else {
            return;
        };
        let quorum = quorum.clone();
        let mut next = self.map.clone();
        for c in std::mem::take(&mut self.pending) {
            if next.changes(c) {
                next.apply(c, ctx.now());
            }
        }
        let service = std::mem::take(&mut self.service_pending);
        if next == self.map && !service {
            return;
        }
        if next != self.map {
            next.epoch = self.map.epoch + 1;
        }
        let mut accepted = BTreeSet::new();
        accepted.insert(self.rank);
        for r in &quorum {
            if *r != self.rank {
                self.send_mon(
                    ctx,
                    *r,
                    MonBegin {
                        epoch: self.election_epoch,
                        map: next.clone(),
                    },
                );
            }
        }
        self.proposal = Some((next, accepted));
        self.maybe_commit(ctx);
    }

    fn maybe_commit(&mut self, ctx: &mut Ctx<'_>) {
        let ready = self
            .proposal
            .as_ref()
            .is_some_and(|(_, acc)| acc.len() >= self.majority());
        if !ready {
            return;
        }
        let Some((map, _)) = self.proposal.take() else {
            return;
        };
        let Role::Leader { quorum, .. } = &self.role else {
            return;
        };
        for r in quorum.clone() {
            if r != self.rank {
                self.send_mon(
                    ctx,
                    r,
                    MonCommit {
                        epoch: self.election_epoch,
                        map: map.clone(),
                    },
                );
            }
        }
        self.last_commit = Some(ctx.now());
        if map.epoch > self.map.epoch {
            for o in 0..map.states.osds.len() as i32 {
                if !map.is_up(o)
                    || map.up_nonce.get(o as usize) != self.map.up_nonce.get(o as usize)
                {
                    self.reports.remove(&o);
                }
            }
            self.map = map;
            ctx.fact(OsdMapCommitted {
                epoch: self.map.epoch,
                up: self.map.up_osds(),
                inn: self.map.in_osds(),
            });
            self.push_map(ctx);
        }
        self.schedule_propose(ctx);
    }

    fn on_failure(&mut self, ctx: &mut Ctx<'_>, f: &OsdFailure) {
        if !self.is_leader() || !self.map.is_up(f.reporter) {
            return;
        }
        let subtree = self.layout.reporter_subtree(f.reporter).to_owned();
        if f.alive {
            if let Some(r) = self.reports.get_mut(&f.target) {
                r.remove(&subtree);
            }
            return;
        }
        if !self.map.is_up(f.target) {
            return;
        }
        if f.immediate {
            // `prepare_failure`: `if (m->is_immediate()) { force_failure(...); }`: no grace,
            // no reporter count.
            self.change(ctx, MapChange::MarkDown(f.target));
            return;
        }
        let entry = self.reports.entry(f.target).or_default();
        entry.insert(subtree, f.failed_for.as_nanos() / 1_000_000_000);
        let list: Vec<(String, u64)> = entry.iter().map(|(h, s)| (h.clone(), *s)).collect();
        if self.layout.knobs.reports_mark_down(&list) {
            self.change(ctx, MapChange::MarkDown(f.target));
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_>) {
        if !self.is_leader() {
            return;
        }
        let now = ctx.now();
        self.handle_osd_timeouts(ctx);
        for o in 0..self.map.states.osds.len() {
            if let Some(since) = self.map.down_since[o] {
                let secs = now.saturating_since(since).as_nanos() / 1_000_000_000;
                if self.layout.knobs.marked_out(secs) && self.map.is_in(o as i32) {
                    self.change(ctx, MapChange::MarkOut(o as i32));
                }
            }
        }
        self.tick_timer = Some(ctx.set_timer(
            SimDuration::from_secs(MON_TICK_INTERVAL_SECS),
            MonTimer::Tick,
        ));
    }

    /// `OSDMonitor::handle_osd_timeouts`: an up OSD not heard from (no beacon) for
    /// `max(mon_osd_report_timeout, 2 x osd_beacon_report_interval)` is marked down, but only
    /// once this mon has led for `mon_osd_report_timeout`; an OSD seen for the first time starts
    /// its clock now. The mark-down goes through the usual proposal (Ceph's tick proposes at
    /// once; the model's damping can add up to a second).
    fn handle_osd_timeouts(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let timeout = SimDuration::from_secs(MON_OSD_REPORT_TIMEOUT_SECS);
        if self
            .leader_since
            .is_none_or(|t| now.saturating_since(t) < timeout)
        {
            return;
        }
        let limit = SimDuration::from_secs(
            MON_OSD_REPORT_TIMEOUT_SECS.max(2 * OSD_BEACON_REPORT_INTERVAL_SECS),
        );
        let mut silent = Vec::new();
        for o in self.map.up_osds() {
            let last = *self.last_osd_report.entry(o).or_insert(now);
            if now.saturating_since(last) > limit {
                silent.push(o);
            }
        }
        for o in silent {
            self.change(ctx, MapChange::MarkDown(o));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: Endpoint, msg: &dyn Message) {
        if let Some(p) = msg.downcast_ref::<MonPropose>() {
            self.on_propose(ctx, p);
        } else if let Some(a) = msg.downcast_ref::<MonAck>() {
            if let Role::Electing {
                me_electing: true,
                acked,
                ..
            } = &mut self.role
                && a.epoch == self.election_epoch
            {
                acked.insert(a.rank, a.map.clone());
                if acked.len() == self.layout.mons.len() {
                    self.victory(ctx);
                }
            }
        } else if let Some(v) = msg.downcast_ref::<MonVictory>() {
            if v.epoch >= self.election_epoch && v.quorum.contains(&self.rank) {
                self.election_epoch = v.epoch;
                if v.map.epoch > self.map.epoch {
                    self.map = v.map.clone();
                }
                if let Some(t) = self.election_timer.take() {
                    ctx.cancel_timer(t);
                }
                self.role = Role::Peon { leader: v.leader };
                self.proposal = None;
                self.set_quorum(
                    ctx,
                    true,
                    &format!("peon of {}", self.layout.mons[v.leader]),
                );
                self.arm_lease_timeout(ctx);
            }
        } else if let Some(l) = msg.downcast_ref::<MonLease>() {
            if let Role::Peon { leader } = self.role
                && l.epoch == self.election_epoch
            {
                self.arm_lease_timeout(ctx);
                self.send_mon(
                    ctx,
                    leader,
                    MonLeaseAck {
                        epoch: l.epoch,
                        rank: self.rank,
                    },
                );
            }
        } else if let Some(a) = msg.downcast_ref::<MonLeaseAck>() {
            let now = ctx.now();
            if let Role::Leader { last_ack, .. } = &mut self.role
                && a.epoch == self.election_epoch
                && let Some(t) = last_ack.get_mut(&a.rank)
            {
                *t = now;
            }
        } else if let Some(b) = msg.downcast_ref::<MonBegin>() {
            if let Role::Peon { leader } = self.role
                && b.epoch == self.election_epoch
            {
                self.send_mon(
                    ctx,
                    leader,
                    MonAccept {
                        epoch: b.epoch,
                        map_epoch: b.map.epoch,
                        rank: self.rank,
                    },
                );
            }
        } else if let Some(a) = msg.downcast_ref::<MonAccept>() {
            if a.epoch == self.election_epoch {
                if let Some((map, acc)) = &mut self.proposal
                    && map.epoch == a.map_epoch
                {
                    acc.insert(a.rank);
                }
                self.maybe_commit(ctx);
            }
        } else if let Some(c) = msg.downcast_ref::<MonCommit>() {
            if c.epoch == self.election_epoch && c.map.epoch > self.map.epoch {
                self.map = c.map.clone();
            }
        } else if let Some(f) = msg.downcast_ref::<OsdFailure>() {
            self.on_failure(ctx, f);
        } else if let Some(b) = msg.downcast_ref::<OsdBoot>() {
            self.change(
                ctx,
                MapChange::Boot {
                    osd: b.osd,
                    nonce: b.nonce,
                },
            );
        } else if let Some(m) = msg.downcast_ref::<OsdMarkMeDown>() {
            // `prepare_mark_me_down`: marked down (not dead) in the next, damped, proposal.
            if self.map.up_nonce.get(m.osd as usize) == Some(&m.nonce) {
                self.change(ctx, MapChange::MarkDown(m.osd));
            }
        } else if let Some(a) = msg.downcast_ref::<OsdAlive>() {
            // `preprocess_alive` drops a want the map already covers; `prepare_alive` sets
            // up_thru to the message's version, through the usual damped proposal.
            let current = self.map.up_nonce.get(a.osd as usize) == Some(&a.nonce);
            if current && self.map.up_thru_of(a.osd) < a.want {
                self.change(
                    ctx,
                    MapChange::UpThru {
                        osd: a.osd,
                        epoch: a.version.max(a.want),
                    },
                );
            }
        } else if let Some(b) = msg.downcast_ref::<OsdBeacon>() {
            if self.is_leader() {
                self.last_osd_report.insert(b.osd, ctx.now());
            }
        } else if let Some(r) = msg.downcast_ref::<PgStatsReport>() {
            if self.is_leader() {
                self.pg_stats.update(r);
                if let Some(summary) = self.pg_stats.changed_summary(&self.layout, &self.map) {
                    ctx.fact(PgCounts { summary });
                }
            }
        } else if let Some(r) = msg.downcast_ref::<MapRequest>() {
            if r.session_start {
                self.subscribers.insert(from);
            }
            if !self.is_leader() {
                return;
            }
            if r.have < self.map.epoch {
                ctx.send(
                    from,
                    MapUpdate {
                        map: self.map.clone(),
                    },
                );
            }
            // A client that (re)connects learns that a quorum stands from its session with a
            // mon, not from the next periodic beacon.
            if r.session_start
                && let Some(beacon) = self.last_beacon.clone().filter(|b| b.until > ctx.now())
            {
                ctx.send(from, beacon);
            }
        }
    }

    fn on_propose(&mut self, ctx: &mut Ctx<'_>, p: &MonPropose) {
        if p.epoch > self.election_epoch {
            self.election_epoch = p.epoch;
            if !matches!(self.role, Role::Electing { .. }) {
                // A proposal ends the quorum this mon was part of.
                self.role = Role::Electing {
                    me_electing: false,
                    acked: BTreeMap::new(),
                    deferred_to: None,
                };
                self.proposal = None;
                self.set_quorum(ctx, false, "election called");
            }
        }
        if p.rank < self.rank {
            let better = match &self.role {
                Role::Electing { deferred_to, .. } => deferred_to.is_none_or(|d| p.rank <= d),
                _ => true,
            };
            if better {
                self.role = Role::Electing {
                    me_electing: false,
                    acked: BTreeMap::new(),
                    deferred_to: Some(p.rank),
                };
                self.set_quorum(ctx, false, "deferring");
                self.send_mon(
                    ctx,
                    p.rank,
                    MonAck {
                        epoch: self.election_epoch,
                        rank: self.rank,
                        map: self.map.clone(),
                    },
                );
                self.arm_election_timer(ctx);
            }
        } else {
            let electing_me = matches!(
                self.role,
                Role::Electing {
                    me_electing: true,
                    ..
                }
            );
            if !electing_me {
                self.start_election(ctx);
            }
        }
    }
}

impl Model for CephMon {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => {
                self.in_quorum = None;
                self.start_election(ctx);
            }
            Event::Message {
                from,
                from_port,
                msg,
            } => self.on_message(ctx, Endpoint::new(from, from_port), msg),
            Event::Timer { id, tag } => match tag.downcast_ref::<MonTimer>() {
                Some(MonTimer::Election) if self.election_timer == Some(id) => {
                    self.election_timer = None;
                    let won = matches!(
                        &self.role,
                        Role::Electing { me_electing: true, acked, .. }
                            if acked.len() >= self.majority()
                    );
                    if won {
                        self.victory(ctx);
                    } else {
                        self.start_election(ctx);
                    }
                }
                Some(MonTimer::LeaseTimeout) if self.lease_timer == Some(id) => {
                    self.lease_timer = None;
                    if matches!(self.role, Role::Peon { .. }) {
                        self.start_election(ctx);
                    }
                }
                Some(MonTimer::Renew) if self.renew_timer == Some(id) => self.renew(ctx),
                Some(MonTimer::Tick) if self.tick_timer == Some(id) => self.tick(ctx),
                Some(MonTimer::Propose) if self.propose_timer == Some(id) => {
                    self.propose_timer = None;
                    self.propose(ctx);
                }
                Some(MonTimer::MgrReport) if self.mgr_timer == Some(id) => {
                    self.mgr_timer = None;
                    self.mgr_report(ctx);
                }
                Some(MonTimer::MgrLog) if self.is_leader() => {
                    self.service_pending = true;
                    self.schedule_propose(ctx);
                }
                _ => {}
            },
            Event::Refused { .. } | Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        self.role = Role::Peon { leader: usize::MAX };
        self.election_timer = None;
        self.lease_timer = None;
        self.renew_timer = None;
        self.last_beacon = None;
        self.last_osd_report.clear();
        self.leader_since = None;
        self.tick_timer = None;
        self.propose_timer = None;
        self.last_commit = None;
        self.reports.clear();
        self.pending.clear();
        self.service_pending = false;
        self.mgr_timer = None;
        self.proposal = None;
        self.in_quorum = None;
    }
}
