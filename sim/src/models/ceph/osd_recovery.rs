//! Recovery and backfill of the PGs an OSD is primary of: at most `osd_max_backfills`
//! (Ceph default 1) transfers per OSD at a time on each side (Pacific's local and remote
//! reservers serve recovery and backfill alike). The primary takes a local slot, asks the
//! target for a remote slot, and once granted the transfer lasts the bytes to move divided by
//! the per-OSD recovery bandwidth, or one `osd_recovery_sleep` per object, whichever is
//! longer; then the copy is pushed, the target acknowledges, the bytes are
//! recorded as a [`Recovered`] fact and the PG peers again (which picks the next target).

use super::defaults::recovery_sleep_millis;
use super::facts::Recovered;
use super::layout::PgId;
use super::msg::{PgCopy, Push, PushAck, ReserveCancel, ReserveGrant, ReserveRequest};
use super::osd::{CephOsdHost, TimerWhat};
use crate::engine::{Ctx, SimDuration};

/// Nanoseconds per second.
const NANOS: u128 = 1_000_000_000;

impl CephOsdHost {
    /// Fills the free local recovery slots (`osd_max_backfills`) with the next PGs waiting and
    /// asks each one's target for a remote slot.
    pub(super) fn start_local(&mut self, ctx: &mut Ctx<'_>, osd: i32) {
        let max = self.layout.config.osd_max_backfills.max(1);
        let Some(run) = self.run.get_mut(&osd) else {
            return;
        };
        let mut requests = Vec::new();
        while run.local_slots.len() < max {
            let Some(pg) = run.local_queue.pop_front() else {
                break;
            };
            let Some(p) = run.primary.get_mut(&pg) else {
                continue;
            };
            let Some(target) = p.targets.front().copied() else {
                continue;
            };
            run.local_slots.push(pg);
            p.transfer = Some((target, 0, "pending"));
            requests.push(ReserveRequest {
                pg,
                round: p.round,
                primary: osd,
                to: target,
            });
        }
        for r in requests {
            self.send_osd(ctx, r.to, r);
        }
    }

    pub(super) fn on_grant(&mut self, ctx: &mut Ctx<'_>, g: &ReserveGrant) {
        let object_bytes = self.layout.config.object_bytes;
        let base = self.layout.pg_bytes(g.pg, 0);
        let bw = u128::from(self.layout.recovery_bytes_per_sec.max(1));
        let valid = self
            .run
            .get(&g.to)
            .and_then(|r| r.primary.get(&g.pg))
            .is_some_and(|p| p.round == g.round && p.transfer.is_some_and(|(t, _, _)| t == g.from));
        if !valid {
            self.send_osd(
                ctx,
                g.from,
                ReserveCancel {
                    pg: g.pg,
                    primary: g.to,
                    to: g.from,
                },
            );
            return;
        }
        let Some(p) = self
            .run
            .get_mut(&g.to)
            .and_then(|r| r.primary.get_mut(&g.pg))
        else {
            return;
        };
        let have = p.infos.get(&g.from).cloned().flatten();
        let missing = p.recovering.get(&g.from).copied();
        let (bytes, kind) = match have {
            _ if missing.is_some() => (
                missing.unwrap_or(0).saturating_mul(object_bytes),
                "recovery",
            ),
            Some(c) if c.complete && c.version() <= p.auth.version() => (
                (p.auth.version() - c.version()).saturating_mul(object_bytes),
                "recovery",
            ),
            _ => (
                base.saturating_add(p.auth.version().saturating_mul(object_bytes)),
                "backfill",
            ),
        };
        p.transfer = Some((g.from, bytes, kind));
        // Bandwidth bounds the bytes; `osd_recovery_sleep` spaces the objects' recovery ops
        // (`OSDService::recovery_schedule_time`), so small objects move at most one per sleep.
        let by_bandwidth = u128::from(bytes) * NANOS / bw;
        let objects = u128::from(bytes.div_ceil(object_bytes.max(1)));
        let sleep_ms = self
            .layout
            .osds
            .iter()
            .find(|o| o.id == g.to)
            .map_or(0, |o| recovery_sleep_millis(o.class));
        let by_sleep = objects * u128::from(sleep_ms) * 1_000_000;
        let nanos = by_bandwidth.max(by_sleep).min(u128::from(u64::MAX)) as u64;
        let what = TimerWhat::Transfer {
            osd: g.to,
            pg: g.pg,
            round: g.round,
        };
        let t = ctx.set_timer(SimDuration::from_nanos(nanos), what);
        self.timers.insert(t, what);
    }

    pub(super) fn on_transfer_done(&mut self, ctx: &mut Ctx<'_>, osd: i32, pg: PgId, round: u64) {
        let Some(p) = self.run.get(&osd).and_then(|r| r.primary.get(&pg)) else {
            return;
        };
        let Some((target, _, _)) = p.transfer.filter(|_| p.round == round) else {
            return;
        };
        let copy = PgCopy {
            complete: true,
            ..p.auth.clone()
        };
        self.send_osd(
            ctx,
            target,
            Push {
                pg,
                round,
                primary: osd,
                to: target,
                copy,
                transfer: true,
            },
        );
    }

    pub(super) fn on_push(&mut self, ctx: &mut Ctx<'_>, p: &Push) {
        if !self.in_round(p.to, p.pg, p.primary, p.round) {
            return;
        }
        let Some(run) = self.run.get_mut(&p.to).filter(|r| r.booted) else {
            return;
        };
        run.remote_slots
            .retain(|(pg, primary, _)| !(*pg == p.pg && *primary == p.primary));
        if let Some(s) = self.stores.get_mut(&p.to) {
            // A push to the primary itself can arrive after writes it applied since the copy
            // was taken (same host, same instant): a copy that already extends the pushed one
            // stays.
            let newer = s.get(&p.pg).is_some_and(|c| {
                c.complete && c.version() > p.copy.version() && p.copy.is_prefix_of(c)
            });
            if !newer {
                s.insert(p.pg, p.copy.clone());
            }
        }
        self.send_osd(
            ctx,
            p.primary,
            PushAck {
                pg: p.pg,
                round: p.round,
                from: p.to,
                to: p.primary,
                transfer: p.transfer,
            },
        );
        self.grant_next(ctx, p.to);
    }

    pub(super) fn on_push_ack(&mut self, ctx: &mut Ctx<'_>, a: &PushAck) {
        let now = ctx.now();
        let Some(run) = self.run.get_mut(&a.to) else {
            return;
        };
        let Some(p) = run.primary.get_mut(&a.pg) else {
            return;
        };
        // A replica confirms the log it was sent at activation: resent writes waiting for it
        // may be answered now.
        if p.round == a.round
            && !a.transfer
            && let Some(sync) = p.synced.get_mut(&a.from)
            && !sync.1
        {
            sync.1 = true;
            if p.is_active() {
                self.drain_queue(ctx, a.to, a.pg);
            }
            return;
        }
        let Some((target, bytes, kind)) = p
            .transfer
            .filter(|(t, _, _)| a.transfer && p.round == a.round && *t == a.from)
        else {
            return;
        };
        p.transfer = None;
        p.recovering.remove(&target);
        let up = p.up.clone();
        run.local_slots.retain(|p| *p != a.pg);
        self.recovered_bytes = self.recovered_bytes.saturating_add(bytes);
        self.transfers.push((now, a.pg, target, bytes, kind));
        ctx.fact(Recovered {
            pg: a.pg,
            how: kind,
            osd: target,
            bytes,
            host_total: self.recovered_bytes,
        });
        self.start_peering(ctx, a.to, a.pg, up);
        self.start_local(ctx, a.to);
    }
}
