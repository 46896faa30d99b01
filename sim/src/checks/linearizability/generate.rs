//! Generating linearizable histories from a seeded RNG, for property tests and benches.
//!
//! Each client issues one call at a time: it waits a random think time, calls, and returns a
//! random duration later. Each call is given a random linearization point inside its interval,
//! and the calls are applied to a sequential [`KvStore`] in that order, so the history is
//! linearizable by construction however much the intervals overlap. Some calls time out
//! (indeterminate: applied or not, at random) and some fail (not applied).

use rand::{Rng, SeedableRng};

use crate::models::kv::{CompareTarget, KvOp, KvStore};

use super::history::{History, Operation, Outcome};

/// Shape of a generated history.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Number of operations.
    pub ops: usize,
    /// Concurrent clients, each with one call in flight at a time.
    pub clients: u32,
    /// Keys `k0`.. written and read.
    pub keys: usize,
    /// Probability that a call times out (indeterminate).
    pub indeterminate: f64,
    /// Probability that a call is rejected (failed).
    pub failed: f64,
    /// Longest call duration in ns (calls last 1..=this).
    pub max_latency: u64,
    /// Longest think time between a client's calls in ns.
    pub max_think: u64,
    /// Include prefix ranges over all keys (they join every key into one group for the
    /// checker, so per-key partitioning no longer splits the history).
    pub ranges: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            ops: 200,
            clients: 5,
            keys: 4,
            indeterminate: 0.02,
            failed: 0.02,
            max_latency: 10_000_000,
            max_think: 2_000_000,
            ranges: true,
        }
    }
}

/// A call's timing, before its content is chosen.
struct Slot {
    client: u32,
    call: u64,
    ret: u64,
    point: u64,
}

/// Generate a linearizable history from a ChaCha8 RNG seeded with `seed`.
pub fn generate_seeded(seed: u64, cfg: &GenConfig) -> History {
    generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed), cfg)
}

/// Generate a linearizable history.
pub fn generate(rng: &mut impl Rng, cfg: &GenConfig) -> History {
    let clients = cfg.clients.max(1);
    let mut clock = vec![0u64; clients as usize];
    let mut slots = Vec::with_capacity(cfg.ops);
    for n in 0..cfg.ops {
        let client = (n as u32) % clients;
        let t = &mut clock[client as usize];
        let call = *t + rng.random_range(0..=cfg.max_think);
        let ret = call + rng.random_range(1..=cfg.max_latency.max(1));
        let point = rng.random_range(call..=ret);
        *t = ret;
        slots.push(Slot {
            client,
            call,
            ret,
            point,
        });
    }
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by_key(|&i| (slots[i].point, i));
    let mut store = KvStore::new();
    let mut ops: Vec<Option<Operation>> = vec![None; slots.len()];
    for i in order {
        let s = &slots[i];
        let op = random_op(rng, &store, cfg, i);
        let roll: f64 = rng.random();
        let outcome = if roll < cfg.failed {
            Outcome::Failed
        } else if roll < cfg.failed + cfg.indeterminate {
            if rng.random_bool(0.5) {
                let _ = store.apply(&op);
            }
            Outcome::Indeterminate
        } else {
            match store.apply(&op) {
                Ok(r) => Outcome::Ok(r),
                Err(_) => Outcome::Failed,
            }
        };
        let return_time = Some(s.ret);
        ops[i] = Some(Operation {
            client: s.client,
            op,
            call_time: s.call,
            return_time,
            outcome,
        });
    }
    History::new(ops.into_iter().flatten().collect())
}

fn random_op(rng: &mut impl Rng, store: &KvStore, cfg: &GenConfig, n: usize) -> KvOp {
    let key = format!("k{}", rng.random_range(0..cfg.keys.max(1)));
    let value = format!("v{n}");
    match rng.random_range(0..100) {
        0..35 => KvOp::Put { key, value },
        35..70 => KvOp::Get { key },
        70..75 => KvOp::Delete { key },
        75..80 if cfg.ranges => KvOp::Range { prefix: "k".into() },
        75..80 => KvOp::Get { key },
        _ => {
            let current = store.get(&key);
            let target = match rng.random_range(0..3) {
                0 => CompareTarget::Value(current.map_or_else(String::new, |kv| kv.value.clone())),
                1 => CompareTarget::Version(current.map_or(0, |kv| kv.version)),
                _ => CompareTarget::ModRevision(current.map_or(0, |kv| kv.mod_revision)),
            };
            // Half the time compare against a stale target so both branches are exercised.
            let target = if rng.random_bool(0.5) {
                target
            } else {
                stale(target)
            };
            KvOp::compare_and_put(key, target, value)
        }
    }
}

fn stale(t: CompareTarget) -> CompareTarget {
    match t {
        CompareTarget::Value(v) => CompareTarget::Value(format!("{v}-stale")),
        CompareTarget::Version(v) => CompareTarget::Version(v - 1),
        CompareTarget::CreateRevision(r) => CompareTarget::CreateRevision(r - 1),
        CompareTarget::ModRevision(r) => CompareTarget::ModRevision(r - 1),
    }
}
