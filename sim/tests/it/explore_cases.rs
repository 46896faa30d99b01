//! Replays of the cases `sim explore` found: each runs its shrunk plan on the default
//! topology with the seed that found it, through the same world `sim replay` builds.

use std::time::Duration;

use sim::engine::{NullSink, Simulation};
use topology::fault::{FaultPlan, TimedFault};

/// Runs `faults` for ten simulated minutes with `seed`, asserts every invariant held, and
/// hands back the world for the case's own checks.
pub fn assert_case_passes(name: &str, seed: u64, faults: Vec<TimedFault>) -> Simulation {
    let cluster = topology::default_cluster().expect("default topology");
    let mut sim = sim::scenario::run::build_world(&cluster, seed).expect("world");
    let outcome = sim::scenario::run::run_world(
        &mut sim,
        name,
        &FaultPlan::new(faults),
        Duration::from_secs(600),
        &mut NullSink,
    )
    .expect("runs");
    assert!(outcome.passed(), "{name}: {:?}", outcome.violations);
    sim
}

/// `fault` at `ms` milliseconds.
pub fn at_ms(ms: u64, fault: topology::fault::Fault) -> TimedFault {
    TimedFault {
        at: Duration::from_millis(ms),
        fault,
    }
}
