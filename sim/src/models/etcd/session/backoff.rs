//! gRPC's connection backoff (`grpc/doc/connection-backoff.md`, grpc-go
//! `backoff.DefaultConfig`) and clientv3's retry wait scaling.

use super::{
    CONNECT_BACKOFF_BASE, CONNECT_BACKOFF_JITTER, CONNECT_BACKOFF_MAX, CONNECT_BACKOFF_MULTIPLIER,
    MIN_CONNECT_TIMEOUT,
};
use crate::engine::{Ctx, SimDuration};
use rand::Rng;

/// gRPC's backoff before reconnect attempt number `failures + 1`, in nanoseconds and without
/// jitter: the base delay for the first, then `base * 1.6^failures` capped at 120 s (grpc-go
/// `backoff.Exponential.Backoff`).
fn unjittered(failures: u32) -> f64 {
    let max = CONNECT_BACKOFF_MAX.as_nanos() as f64;
    let mut backoff = CONNECT_BACKOFF_BASE.as_nanos() as f64;
    for _ in 0..failures {
        if backoff >= max {
            break;
        }
        backoff *= CONNECT_BACKOFF_MULTIPLIER;
    }
    backoff.min(max)
}

/// The backoff itself: [`unjittered`] with ±20 % jitter, except for the first reconnect,
/// which waits exactly the base delay.
pub(super) fn connect_backoff(ctx: &mut Ctx<'_>, failures: u32) -> SimDuration {
    if failures == 0 {
        return CONNECT_BACKOFF_BASE;
    }
    let jitter = CONNECT_BACKOFF_JITTER * (ctx.rng().random::<f64>() * 2.0 - 1.0);
    SimDuration::from_nanos((unjittered(failures) * (1.0 + jitter)) as u64)
}

/// How long one connection attempt may take: `max(MIN_CONNECT_TIMEOUT, backoff)` (gRPC's
/// connection-backoff document); the jitter is left out, as it matters only above 20 s.
pub(super) fn connect_timeout(failures: u32) -> SimDuration {
    SimDuration::from_nanos(unjittered(failures) as u64).max(MIN_CONNECT_TIMEOUT)
}

/// `d` times `factor` (never negative).
pub(super) fn scale(d: SimDuration, factor: f64) -> SimDuration {
    SimDuration::from_nanos((d.as_nanos() as f64 * factor.max(0.0)) as u64)
}
