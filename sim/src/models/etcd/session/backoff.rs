//! gRPC's connection backoff (`grpc/doc/connection-backoff.md`, grpc-go
//! `backoff.DefaultConfig`) and clientv3's retry wait scaling.

use super::{
    CONNECT_BACKOFF_BASE, CONNECT_BACKOFF_JITTER, CONNECT_BACKOFF_MAX, CONNECT_BACKOFF_MULTIPLIER,
    MIN_CONNECT_TIMEOUT,
};
use crate::engine::{Ctx, SimDuration};
use rand::Rng;

/// gRPC's backoff before reconnect attempt number `failures + 1`: the base delay for the
/// first, then `base * 1.6^failures` capped at 120 s, with ±20 % jitter (grpc-go
/// `backoff.Exponential.Backoff`).
pub(super) fn connect_backoff(ctx: &mut Ctx<'_>, failures: u32) -> SimDuration {
    if failures == 0 {
        return CONNECT_BACKOFF_BASE;
    }
    let max = CONNECT_BACKOFF_MAX.as_nanos() as f64;
    let mut backoff = CONNECT_BACKOFF_BASE.as_nanos() as f64;
    let mut left = failures;
    while backoff < max && left > 0 {
        backoff *= CONNECT_BACKOFF_MULTIPLIER;
        left -= 1;
    }
    let jitter = CONNECT_BACKOFF_JITTER * (ctx.rng().random::<f64>() * 2.0 - 1.0);
    SimDuration::from_nanos((backoff.min(max) * (1.0 + jitter)) as u64)
}

/// How long one connection attempt may take: `max(MIN_CONNECT_TIMEOUT, backoff)` (gRPC's
/// connection-backoff document). The backoff draw here is only compared, so its jitter does
/// not matter below 120 s.
pub(super) fn connect_timeout(failures: u32) -> SimDuration {
    let backoff = if failures == 0 {
        CONNECT_BACKOFF_BASE
    } else {
        let f = CONNECT_BACKOFF_MULTIPLIER.powi(failures.min(20) as i32);
        SimDuration::from_nanos(
            ((CONNECT_BACKOFF_BASE.as_nanos() as f64) * f)
                .min(CONNECT_BACKOFF_MAX.as_nanos() as f64) as u64,
        )
    };
    backoff.max(MIN_CONNECT_TIMEOUT)
}

pub(super) fn scale(d: SimDuration, factor: f64) -> SimDuration {
    SimDuration::from_nanos((d.as_nanos() as f64 * factor.max(0.0)) as u64)
}
