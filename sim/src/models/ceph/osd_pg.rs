//! PG work of an OSD that is a PG's primary (the first OSD of its CRUSH up set): peering,
//! client writes with synchronous replication, and recovery/backfill.
//!
//! Peering: on every new map (and after each finished transfer) the primary asks every up OSD
//! of the PG's current and recent up sets (the prior set) for its copy. The authoritative copy
//! is the longest complete log. The acting set is the up-set members holding it, topped up to
//! `size` with other current holders (what Ceph's pg_temp does while a new member backfills).
//! Up-set members without it are recovery targets: a stale but complete copy is recovered from
//! the log (only the missing objects move), an absent one is backfilled (the whole PG moves).
//! The PG serves I/O when the acting set has at least `min_size` members; its state name comes
//! from [`pg_state`].
//!
//! Writes: the primary gives the write the next version, applies it where it holds the
//! authoritative copy, sends it to every other acting member, and acknowledges the client only
//! when all of them have it on disk. Writes to a PG that is peering or below `min_size` wait in
//! the PG's queue; the wait is reported back so the client can tell blocked from slow.
//!
//! Recovery (in `osd_recovery.rs`): one transfer per OSD at a time on each side
//! (`osd_max_backfills` = 1): the primary holds a local slot and asks the target for its remote
//! slot; the transfer lasts the bytes divided by the per-OSD recovery bandwidth (topology
//! `recoveryMibps`, 100 MiB/s by default), or one `osd_recovery_sleep` per object (by the
//! OSD's device class), whichever is longer. Then the copy is pushed and the PG re-peers. A
//! stale replica that is log-recoverable joins the acting set at activation (it gets the log)
//! and stays a recovery target until its missing objects have moved.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::facts::PgStateFact;
use super::layout::PgId;
use super::msg::{
    ClientWrite, PgCopy, PgInfo, PgQuery, PgRemove, Push, RepOp, RepOpAck, ReserveCancel,
};
use super::osd::CephOsdHost;
use super::pg::{PgState, pg_state};
use crate::engine::{Ctx, Endpoint, SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Peering,
    Active,
    Inactive,
}

#[derive(Clone, Debug)]
pub(super) struct Inflight {
    tid: u64,
    client: Endpoint,
    waiting: BTreeSet<i32>,
    inactive_wait: SimDuration,
}

#[derive(Clone, Debug)]
pub(super) struct Queued {
    tid: u64,
    client: Endpoint,
    since: SimTime,
}

/// A PG this OSD is primary of (volatile).
#[derive(Clone, Debug)]
pub(super) struct PrimaryPg {
    pub(super) round: u64,
    epoch: u64,
    /// The epoch the PG's current interval began (`same_interval_since`): the up set, and the
    /// acting members all still up, as they were since then.
    interval_since: u64,
    pub(super) up: Vec<i32>,
    waiting_info: BTreeSet<i32>,
    pub(super) infos: BTreeMap<i32, Option<PgCopy>>,
    phase: Phase,
    acting: Vec<i32>,
    pub(super) targets: VecDeque<i32>,
    pub(super) auth: PgCopy,
    state: PgState,
    recorded: String,
    inflight: BTreeMap<u64, Inflight>,
    /// Versions every acting replica acknowledged in this round.
    replicated: BTreeSet<u64>,
    /// Replicas sent the authoritative log at activation (log-based recovery), with the
    /// version it reached, and whether they confirmed it.
    pub(super) synced: BTreeMap<i32, (u64, bool)>,
    /// Members (replicas, or this primary itself) that have the log but still miss objects
    /// written while they were away, with how many: recovery targets until a transfer moves
    /// them (kept across peering rounds, as Ceph keeps a replica's missing set in its
    /// `peer_missing` and the primary's in its own missing set).
    pub(super) recovering: BTreeMap<i32, u64>,
    queue: VecDeque<Queued>,
    pub(super) transfer: Option<(i32, u64, &'static str)>,
}

impl PrimaryPg {
    /// Whether the PG serves I/O in this round.
    pub(super) fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    /// The PG's state name as last recorded (`peering` before the first round ends).
    pub(super) fn state_name(&self) -> String {
        self.recorded
            .split_whitespace()
            .next()
            .unwrap_or("peering")
            .to_owned()
    }
}

impl CephOsdHost {
    /// Stops being primary of every PG (`osd` stops or was marked down): pending writes are
    /// answered "resend", reservations released.
    pub(super) fn stop_primaries(&mut self, ctx: &mut Ctx<'_>, osd: i32) {
        let Some(run) = self.run.get_mut(&osd) else {
            return;
        };
        let pgs = std::mem::take(&mut run.primary);
        run.local_slots.clear();
        run.local_queue.clear();
        for (pg, p) in pgs {
            self.abandon(ctx, osd, pg, p);
        }
    }

    /// Releases the backfill reservation primary `osd` holds on `target` for `pg`.
    fn cancel_reservation(&self, ctx: &mut Ctx<'_>, osd: i32, pg: PgId, target: i32) {
        self.send_osd(
            ctx,
            target,
            ReserveCancel {
                pg,
                primary: osd,
                to: target,
            },
        );
    }

    fn abandon(&mut self, ctx: &mut Ctx<'_>, osd: i32, pg: PgId, p: PrimaryPg) {
        let now = ctx.now();
        for op in p.inflight.values() {
            Self::retry(ctx, op.client, op.tid, pg, op.inactive_wait);
        }
        for q in &p.queue {
            Self::retry(ctx, q.client, q.tid, pg, now.saturating_since(q.since));
        }
        if let Some((target, _, _)) = p.transfer {
            self.cancel_reservation(ctx, osd, pg, target);
        }
    }

    /// Starts a peering round for every PG `osd` is primary of under the current map.
    pub(super) fn repeer_all(&mut self, ctx: &mut Ctx<'_>, osd: i32) {
        let mine: Vec<(PgId, Vec<i32>)> = self
            .current_mapping()
            .iter()
            .filter(|(_, m)| m.up_primary == Some(osd))
            .map(|(pg, m)| (*pg, m.up.clone()))
            .collect();
        let Some(run) = self.run.get_mut(&osd) else {
            return;
        };
        let keep: BTreeSet<PgId> = mine.iter().map(|(pg, _)| *pg).collect();
        let gone: Vec<(PgId, PrimaryPg)> = {
            let all = std::mem::take(&mut run.primary);
            let (stay, gone): (BTreeMap<_, _>, BTreeMap<_, _>) =
                all.into_iter().partition(|(pg, _)| keep.contains(pg));
            run.primary = stay;
            gone.into_iter().collect()
        };
        run.local_slots.clear();
        run.local_queue.clear();
        for (pg, p) in gone {
            self.abandon(ctx, osd, pg, p);
        }
        for (pg, up) in mine {
            self.start_peering(ctx, osd, pg, up);
        }
    }

    pub(super) fn start_peering(&mut self, ctx: &mut Ctx<'_>, osd: i32, pg: PgId, up: Vec<i32>) {
        self.round_seq += 1;
        let round = self.round_seq;
        let mut ask: BTreeSet<i32> = up.iter().copied().collect();
        for (_, mapping) in &self.history {
            if let Some((_, m)) = mapping.iter().find(|(p, _)| *p == pg) {
                ask.extend(m.up.iter().copied());
            }
        }
        ask.retain(|o| self.map.is_up(*o));
        ask.insert(osd);
        let epoch = self.map.epoch;
        let Some(run) = self.run.get_mut(&osd) else {
            return;
        };
        let old = run.primary.remove(&pg);
        let map = &self.map;
        let interval_since = match &old {
            Some(p) if p.up == up && p.acting.iter().all(|o| map.is_up(*o)) => p.interval_since,
            _ => epoch,
        };
        let (queue, recorded, state, mut stale_ops, old_transfer, mut recovering) = match old {
            Some(p) => (
                p.queue,
                p.recorded,
                p.state,
                p.inflight,
                p.transfer,
                p.recovering,
            ),
            None => (
                VecDeque::new(),
                String::new(),
                PgState::default(),
                BTreeMap::new(),
                None,
                BTreeMap::new(),
            ),
        };
        recovering.retain(|o, _| up.contains(o));
        run.primary.insert(
            pg,
            PrimaryPg {
                round,
                epoch,
                interval_since,
                up,
                waiting_info: ask.clone(),
                infos: BTreeMap::new(),
                phase: Phase::Peering,
                acting: Vec::new(),
                targets: VecDeque::new(),
                auth: PgCopy::default(),
                state,
                recorded,
                inflight: BTreeMap::new(),
                replicated: BTreeSet::new(),
                synced: BTreeMap::new(),
                recovering,
                queue,
                transfer: None,
            },
        );
        run.local_slots.retain(|p| *p != pg);
        run.local_queue.retain(|p| *p != pg);
        for op in std::mem::take(&mut stale_ops).values() {
            Self::retry(ctx, op.client, op.tid, pg, op.inactive_wait);
        }
        if let Some((target, _, _)) = old_transfer {
            self.cancel_reservation(ctx, osd, pg, target);
        }
        // `PeeringState::build_prior`: a primary whose up_thru predates the interval must have
        // it raised before the PG may go active; the request goes out as peering starts.
        if self.map.up_thru_of(osd) < interval_since {
            self.want_up_thru(ctx, osd, interval_since, false);
        }
        for o in ask {
            self.send_osd(
                ctx,
                o,
                PgQuery {
                    pg,
                    round,
                    primary: osd,
                    to: o,
                    epoch,
                },
            );
        }
    }

    pub(super) fn on_info(&mut self, ctx: &mut Ctx<'_>, i: &PgInfo) {
        let Some(p) = self
            .run
            .get_mut(&i.to)
            .and_then(|r| r.primary.get_mut(&i.pg))
        else {
            return;
        };
        if p.round != i.round || !p.waiting_info.remove(&i.from) {
            return;
        }
        p.infos.insert(i.from, i.copy.clone());
        if p.waiting_info.is_empty() {
            self.finish_peering(ctx, i.to, i.pg);
        }
    }

    fn finish_peering(&mut self, ctx: &mut Ctx<'_>, osd: i32, pg: PgId) {
        let Some(pool) = self.layout.pool(pg.pool).map(|p| p.pool.clone()) else {
            return;
        };
        // `WaitUpThru`: the PG stays peering (writes queue) until a map carries this OSD's
        // up_thru past the interval start; that map re-peers the PG.
        let up_thru = self.map.up_thru_of(osd);
        if let Some(p) = self.run.get_mut(&osd).and_then(|r| r.primary.get_mut(&pg))
            && up_thru < p.interval_since
        {
            if !p.recorded.starts_with("peering") {
                p.recorded = format!("peering e{} up={:?}", p.epoch, p.up);
                ctx.fact(PgStateFact {
                    pg,
                    state: "peering".to_owned(),
                    epoch: p.epoch,
                    acting: Vec::new(),
                    up: p.up.clone(),
                });
            }
            return;
        }
        let has_data = self.layout.pg_bytes(pg, 0) > 0;
        let prior: BTreeSet<i32> = self
            .history
            .iter()
            .filter_map(|(_, m)| m.iter().find(|(p, _)| *p == pg))
            .flat_map(|(_, m)| m.up.iter().copied())
            .collect();
        let states = self.map.states.clone();
        let Some(p) = self.run.get_mut(&osd).and_then(|r| r.primary.get_mut(&pg)) else {
            return;
        };
        // The authoritative copy has the newest last_update (epoch first, then version), as
        // Ceph's `find_best_info` chooses; the first such OSD in id order on a tie.
        let auth = p
            .infos
            .values()
            .flatten()
            .filter(|c| c.complete)
            .fold(None::<&PgCopy>, |best, c| match best {
                Some(b) if b.last_update() >= c.last_update() => Some(b),
                _ => Some(c),
            })
            .cloned();
        let mut current: Vec<i32> = match &auth {
            Some(a) => p
                .infos
                .iter()
                .filter(|(_, c)| c.as_ref().is_some_and(|c| c.complete && c == a))
                .map(|(o, _)| *o)
                .collect(),
            None => Vec::new(),
        };
        // Up-set members with a complete but stale copy (their log a prefix of the
        // authoritative one) are log-recoverable: peering hands them the missing log entries and
        // they join the acting set, as Ceph's activate does; their missing objects move later in
        // a timed recovery transfer. A stale primary is no exception: it serves from the log at
        // once but pulls its missing objects from a replica (`PrimaryLogPG::recover_primary`)
        // at the same recovery sleep, so its PG is not clean until then. The model reserves
        // that pull as a transfer to the primary (a local slot and its own remote slot); Ceph
        // takes the local slot and remote slots on the replicas.
        let mut syncs: Vec<(i32, u64)> = Vec::new();
        if let Some(a) = &auth {
            for o in &p.up {
                if let Some(Some(c)) = p.infos.get(o)
                    && c.complete
                    && c.log.len() < a.log.len()
                    && c.is_prefix_of(a)
                {
                    syncs.push((*o, a.version() - c.version()));
                    current.push(*o);
                }
            }
        }
        let mut acting: Vec<i32> =
            p.up.iter()
                .copied()
                .filter(|o| current.contains(o))
                .collect();
        for o in &current {
            if acting.len() >= pool.size {
                break;
            }
            if !acting.contains(o) {
                acting.push(*o);
            }
        }
        p.targets = if acting.is_empty() {
            VecDeque::new()
        } else {
            p.up.iter()
                .copied()
                .filter(|o| !current.contains(o))
                .collect()
        };
        // A log-recovered member (replica or this primary) serves writes at once but still
        // misses the objects written while it was away: Ceph recovers them PG by PG under the
        // reservations, so it is a recovery target too and the PG stays `recovery_wait` (not
        // clean) until then.
        for (o, missing) in &syncs {
            *p.recovering.entry(*o).or_insert(0) += missing;
        }
        let pending: Vec<i32> = p
            .recovering
            .keys()
            .copied()
            .filter(|o| current.contains(o) && !p.targets.contains(o))
            .collect();
        p.targets.extend(pending);
        let mut state = if auth.is_none() && has_data {
            // No complete copy among the up OSDs: down while a prior holder may come back.
            let holder_down = prior.iter().any(|o| !states.is_up(*o));
            PgState {
                down: holder_down,
                incomplete: !holder_down,
                ..PgState::default()
            }
        } else {
            pg_state(&pool, &acting, &current, &states, has_data)
        };
        if !p.targets.is_empty() || acting != p.up {
            state.clean = false;
        }
        p.auth = auth.unwrap_or(PgCopy {
            complete: true,
            ..PgCopy::default()
        });
        p.acting = acting;
        p.state = state;
        p.phase = if state.serves_io() {
            Phase::Active
        } else {
            Phase::Inactive
        };
        let mut extra = String::new();
        if p.acting != p.up && !p.acting.is_empty() {
            extra.push_str("+remapped");
        }
        if let Some(t) = p.targets.front() {
            let backfill = p
                .infos
                .get(t)
                .is_none_or(|c| c.as_ref().is_none_or(|c| !c.complete));
            extra.push_str(if backfill {
                "+backfill_wait"
            } else {
                "+recovery_wait"
            });
        }
        let text = format!(
            "{state}{extra} e{} acting={:?} up={:?}",
            p.epoch, p.acting, p.up
        );
        if text != p.recorded {
            p.recorded = text;
            ctx.fact(PgStateFact {
                pg,
                state: format!("{state}{extra}"),
                epoch: p.epoch,
                acting: p.acting.clone(),
                up: p.up.clone(),
            });
        }
        // A clean PG drops copies outside its acting set (strays).
        let strays: Vec<i32> = if p.targets.is_empty() && p.acting == p.up {
            p.infos
                .iter()
                .filter(|(o, c)| c.is_some() && !p.acting.contains(o))
                .map(|(o, _)| *o)
                .collect()
        } else {
            Vec::new()
        };
        let recover = !p.targets.is_empty();
        let active = p.phase == Phase::Active;
        let round = p.round;
        let sync_copy = p.auth.clone();
        for o in strays {
            self.send_osd(ctx, o, PgRemove { pg, to: o });
        }
        for (o, _) in syncs {
            if o != osd {
                // The replica gets the log now; its missing objects move in a timed recovery
                // transfer (it is a target), which records them.
                if let Some(p) = self.run.get_mut(&osd).and_then(|r| r.primary.get_mut(&pg)) {
                    p.synced.insert(o, (sync_copy.version(), false));
                }
                self.send_osd(
                    ctx,
                    o,
                    Push {
                        pg,
                        round,
                        primary: osd,
                        to: o,
                        copy: sync_copy.clone(),
                        transfer: false,
                    },
                );
                continue;
            }
            // A stale primary takes the authoritative log now (peering merges it); the objects
            // it misses it pulls in a timed recovery transfer to itself (it is a target too),
            // which records them.
            if let Some(s) = self.stores.get_mut(&osd) {
                s.insert(pg, sync_copy.clone());
            }
        }
        if active {
            self.drain_queue(ctx, osd, pg);
        }
        if recover {
            if let Some(run) = self.run.get_mut(&osd)
                && !run.local_queue.contains(&pg)
            {
                run.local_queue.push_back(pg);
            }
            self.start_local(ctx, osd);
        }
    }

    pub(super) fn drain_queue(&mut self, ctx: &mut Ctx<'_>, osd: i32, pg: PgId) {
        let now = ctx.now();
        let queued: Vec<Queued> = match self.run.get_mut(&osd).and_then(|r| r.primary.get_mut(&pg))
        {
            Some(p) => p.queue.drain(..).collect(),
            None => return,
        };
        for q in queued {
            self.execute(ctx, osd, pg, q.tid, q.client, now.saturating_since(q.since));
        }
    }

    pub(super) fn on_client_write(&mut self, ctx: &mut Ctx<'_>, from: Endpoint, w: &ClientWrite) {
        let map_epoch = self.map.epoch;
        if let Some(run) = self.run.get_mut(&w.to)
            && map_epoch < w.epoch
        {
            // The client has a newer map (one that marks this OSD up, say): the op waits for it.
            run.writes_waiting_for_map.push((from, w.clone()));
            return;
        }
        if !self.is_booted(w.to) {
            // A stopped OSD (failed disk) says nothing, like a dead one.
            return;
        }
        let now = ctx.now();
        let Some(p) = self
            .run
            .get_mut(&w.to)
            .and_then(|r| r.primary.get_mut(&w.pg))
        else {
            Self::retry(ctx, from, w.tid, w.pg, SimDuration::ZERO);
            return;
        };
        if p.phase == Phase::Active {
            self.execute(ctx, w.to, w.pg, w.tid, from, SimDuration::ZERO);
        } else {
            p.queue.push_back(Queued {
                tid: w.tid,
                client: from,
                since: now,
            });
        }
    }

    fn execute(
        &mut self,
        ctx: &mut Ctx<'_>,
        osd: i32,
        pg: PgId,
        tid: u64,
        client: Endpoint,
        inactive_wait: SimDuration,
    ) {
        let planted = self.layout.config.planted_ack_after_primary_only;
        let Some(p) = self.run.get_mut(&osd).and_then(|r| r.primary.get_mut(&pg)) else {
            return;
        };
        // A resent write already in the log is not applied twice: Ceph finds its request id
        // in the PG log and answers with the version it got (`PrimaryLogPG::do_op`,
        // `already_complete`), or the answer comes when its replication finishes. A write to
        // an object some acting replica still lacks waits for its recovery first
        // (`wait_for_degraded_object` comes before the duplicate check).
        if let Some(index) = p.auth.log.iter().rposition(|t| *t == tid) {
            let version = index as u64 + 1;
            if p.inflight.values().any(|op| op.tid == tid) {
                return;
            }
            let everywhere = p.replicated.contains(&version)
                || p.acting.iter().filter(|o| **o != osd).all(|o| {
                    p.infos
                        .get(o)
                        .is_some_and(|c| c.as_ref().is_some_and(|c| c.holds(version, tid)))
                        || p.synced.get(o).is_some_and(|(v, ok)| *ok && *v >= version)
                });
            if everywhere {
                let degraded = !p.state.clean;
                Self::reply(ctx, client, tid, pg, Some(version), degraded, inactive_wait);
            } else {
                p.queue.push_back(Queued {
                    tid,
                    client,
                    since: ctx.now(),
                });
            }
            return;
        }
        let epoch = p.epoch;
        p.auth.push(tid, epoch);
        let version = p.auth.version();
        let round = p.round;
        let others: Vec<i32> = p.acting.iter().copied().filter(|o| *o != osd).collect();
        let degraded = !p.state.clean;
        let self_acting = p.acting.contains(&osd);
        if planted || others.is_empty() {
            Self::reply(ctx, client, tid, pg, Some(version), degraded, inactive_wait);
        } else {
            p.inflight.insert(
                version,
                Inflight {
                    tid,
                    client,
                    waiting: others.iter().copied().collect(),
                    inactive_wait,
                },
            );
        }
        if self_acting
            && let Some(c) = self.stores.get_mut(&osd).and_then(|s| s.get_mut(&pg))
            && c.complete
            && c.version() + 1 == version
        {
            c.push(tid, epoch);
        }
        for o in others {
            self.send_osd(
                ctx,
                o,
                RepOp {
                    pg,
                    round,
                    primary: osd,
                    to: o,
                    version,
                    tid,
                    epoch,
                },
            );
        }
    }

    /// Whether `osd` is in the peering round (`primary`, `round`) of `pg`: the only round whose
    /// replication and recovery messages it applies.
    pub(super) fn in_round(&self, osd: i32, pg: PgId, primary: i32, round: u64) -> bool {
        self.run
            .get(&osd)
            .is_some_and(|r| r.booted && r.intervals.get(&pg) == Some(&(primary, round)))
    }

    pub(super) fn on_repop(&mut self, ctx: &mut Ctx<'_>, r: &RepOp) {
        if !self.in_round(r.to, r.pg, r.primary, r.round) {
            return;
        }
        let Some(c) = self.stores.get_mut(&r.to).and_then(|s| s.get_mut(&r.pg)) else {
            return;
        };
        if c.complete && c.version() + 1 == r.version {
            c.push(r.tid, r.epoch);
        }
        if c.holds(r.version, r.tid) {
            self.send_osd(
                ctx,
                r.primary,
                RepOpAck {
                    pg: r.pg,
                    round: r.round,
                    from: r.to,
                    to: r.primary,
                    version: r.version,
                },
            );
        }
    }

    pub(super) fn on_repop_ack(&mut self, ctx: &mut Ctx<'_>, a: &RepOpAck) {
        let Some(p) = self
            .run
            .get_mut(&a.to)
            .and_then(|r| r.primary.get_mut(&a.pg))
        else {
            return;
        };
        if p.round != a.round {
            return;
        }
        let degraded = !p.state.clean;
        let done = match p.inflight.get_mut(&a.version) {
            Some(op) => {
                op.waiting.remove(&a.from);
                op.waiting.is_empty()
            }
            None => false,
        };
        if done {
            p.replicated.insert(a.version);
        }
        if done && let Some(op) = p.inflight.remove(&a.version) {
            let (client, tid, wait) = (op.client, op.tid, op.inactive_wait);
            Self::reply(ctx, client, tid, a.pg, Some(a.version), degraded, wait);
        }
    }
}
