//! Linearizability checker throughput on a 10,000-operation, 5-client history, against the
//! in-process baseline of merely replaying the same operations on the sequential KV model.
//!
//! The history comes from a seeded RNG (`generate_seeded`), so every run checks the same
//! operations. The ratio checker/replay says what the search costs over executing the
//! operations once; ops/s says how long a recorded etcd run takes to check.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use sim::checks::linearizability::generate::{GenConfig, generate_seeded};
use sim::checks::linearizability::{CheckConfig, History, Outcome, Verdict, check_with_stats};
use sim::models::kv::KvStore;

/// Seed of the benchmark history.
const SEED: u64 = 0x0005_eed4_11ea;
/// Operations in the history.
const OPS: usize = 10_000;
/// Timed repetitions for the printed ratio (median taken).
const RATIO_RUNS: usize = 7;

fn history() -> History {
    let cfg = GenConfig {
        ops: OPS,
        clients: 5,
        keys: 20,
        indeterminate: 0.01,
        failed: 0.01,
        ranges: false,
        ..GenConfig::default()
    };
    generate_seeded(SEED, &cfg)
}

/// Apply every operation that was not rejected, in call order, to a fresh store.
fn replay(h: &History) -> i64 {
    let mut ops: Vec<_> = h
        .operations
        .iter()
        .filter(|o| o.outcome != Outcome::Failed)
        .collect();
    ops.sort_by_key(|o| o.call_time);
    let mut store = KvStore::new();
    for o in ops {
        let _ = black_box(store.apply(&o.op));
    }
    store.revision()
}

fn check(h: &History) -> Verdict {
    match check_with_stats(h, &CheckConfig::default()) {
        Ok((v, _)) => v,
        Err(e) => panic!("generated history is invalid: {e}"),
    }
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RATIO_RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[RATIO_RUNS / 2]
}

fn main() {
    let h = history();
    let (verdict, stats) = match check_with_stats(&h, &CheckConfig::default()) {
        Ok(r) => r,
        Err(e) => panic!("generated history is invalid: {e}"),
    };
    assert_eq!(
        verdict,
        Verdict::Linearizable,
        "the benchmark history must check"
    );
    let checker = median(|| {
        black_box(check(&h));
    });
    let baseline = median(|| {
        black_box(replay(&h));
    });
    let per_sec = |d: Duration| OPS as f64 / d.as_secs_f64();
    println!(
        "linearizability: {OPS} ops, 5 clients, {} parts, {} model steps",
        stats.parts, stats.steps
    );
    println!(
        "linearizability: checker {:.0} ops/s ({checker:?}), replay {:.0} ops/s ({baseline:?}), \
         checker/replay time ratio {:.1}x",
        per_sec(checker),
        per_sec(baseline),
        checker.as_secs_f64() / baseline.as_secs_f64()
    );

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut g = c.benchmark_group("linearizability");
    g.throughput(Throughput::Elements(OPS as u64));
    g.bench_function("check_10k_ops_5_clients", |b| {
        b.iter(|| check(black_box(&h)))
    });
    g.bench_function("replay_10k_ops_baseline", |b| {
        b.iter(|| replay(black_box(&h)))
    });
    g.finish();
    c.final_summary();
}
