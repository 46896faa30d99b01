//! Exploring random fault plans: each case draws a plan from the proptest strategy with a seed
//! derived from the explore seed and the case number, runs it, and on the first violation
//! shrinks the plan with proptest's own simplify/complicate search (the simulation seed stays
//! fixed, so only the plan changes). Cases run in parallel across std threads, one world per
//! thread; the reported failure is the lowest-numbered failing case, whatever the thread timing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use proptest::strategy::{Strategy, ValueTree};
use topology::Cluster;
use topology::fault::strategy::{PlanShape, fault_plan};
use topology::fault::{FaultPlan, FaultTargets};

use super::run::{SimError, build_world, run_world};
use super::runner_for;
use crate::checks::invariant::Violation;
use crate::engine::{NullSink, stream_seed};

/// Judges one case: the violations of running `plan` with simulation seed `seed`.
pub type CaseCheck<'a> = dyn Fn(u64, &FaultPlan) -> Result<Vec<Violation>, SimError> + Sync + 'a;

/// Upper bound on shrink steps, so a pathological case still ends.
pub const MAX_SHRINK_STEPS: u32 = 4096;

/// What an exploration tells its caller while it works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// `done` cases have finished.
    Cases {
        /// Finished cases.
        done: u64,
    },
    /// A failure is being shrunk: `step` re-runs so far, the smallest failing plan has
    /// `best_faults` faults.
    Shrinking {
        /// Shrink steps taken.
        step: u32,
        /// Faults in the smallest failing plan found so far.
        best_faults: usize,
    },
}

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreConfig {
    /// Number of cases.
    pub cases: u64,
    /// Seed every case's seed derives from.
    pub seed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Simulated time per case.
    pub duration: Duration,
    /// Most faults per plan.
    pub max_faults: usize,
}

/// A failing case, shrunk.
#[derive(Clone, Debug)]
pub struct CaseFailure {
    /// Case number.
    pub case: u64,
    /// Simulation seed of the case (pass to `replay`).
    pub seed: u64,
    /// The plan as generated.
    pub original: FaultPlan,
    /// The smallest failing plan found.
    pub shrunk: FaultPlan,
    /// Violations of the shrunk plan.
    pub violations: Vec<Violation>,
    /// Shrink steps taken.
    pub shrink_steps: u32,
}

/// Result of an exploration.
#[derive(Clone, Debug)]
pub struct ExploreOutcome {
    /// Cases that ran to completion.
    pub cases_run: u64,
    /// The first failure, if any.
    pub failure: Option<CaseFailure>,
}

/// The simulation seed of case `case` under explore seed `seed`.
pub fn case_seed(seed: u64, case: u64) -> u64 {
    stream_seed(seed, &format!("case/{case}"))
}

/// Explores random plans over `cluster` with the standard world and invariants.
pub fn explore(
    cluster: &Cluster,
    config: &ExploreConfig,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ExploreOutcome, SimError> {
    let targets = super::simulated_targets(cluster);
    let duration = config.duration;
    let check = |seed: u64, plan: &FaultPlan| -> Result<Vec<Violation>, SimError> {
        let mut sim = build_world(cluster, seed)?;
        Ok(run_world(&mut sim, "explore", plan, duration, &mut NullSink)?.violations)
    };
    explore_with(&targets, config, &check, progress)
}

/// Explores random plans over `targets`, judging each with `check(seed, plan)` (the violations
/// it returns; empty means the case passed). `progress` is told the number of finished cases,
/// then each shrink step.
pub fn explore_with(
    targets: &FaultTargets,
    config: &ExploreConfig,
    check: &CaseCheck<'_>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ExploreOutcome, SimError> {
    let shape = PlanShape {
        targets: targets.clone(),
        max_faults: config.max_faults,
        horizon: config.duration,
        drain: targets.drains,
    };
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let first: Mutex<Option<(u64, FaultPlan)>> = Mutex::new(None);
    let error: Mutex<Option<SimError>> = Mutex::new(None);
    let worker = || {
        let strategy = fault_plan(&shape);
        while !stop.load(Ordering::SeqCst) {
            let case = next.fetch_add(1, Ordering::SeqCst);
            if case >= config.cases {
                break;
            }
            let seed = case_seed(config.seed, case);
            let plan = generate(&strategy, seed);
            match check(seed, &plan) {
                Ok(violations) if violations.is_empty() => {}
                Ok(_) => {
                    stop.store(true, Ordering::SeqCst);
                    let mut slot = first.lock().unwrap_or_else(|p| p.into_inner());
                    if slot.as_ref().is_none_or(|(c, _)| case < *c) {
                        *slot = Some((case, plan));
                    }
                }
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    *error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
            }
            progress(Progress::Cases {
                done: done.fetch_add(1, Ordering::SeqCst) + 1,
            });
        }
    };
    let jobs = config.jobs.max(1);
    let panicked = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs).map(|_| scope.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| h.join().is_err())
            .collect::<Vec<bool>>()
            .contains(&true)
    });
    if panicked {
        return Err(SimError::WorkerPanicked);
    }
    if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let cases_run = done.load(Ordering::SeqCst);
    let Some((case, original)) = first.into_inner().unwrap_or_else(|p| p.into_inner()) else {
        return Ok(ExploreOutcome {
            cases_run,
            failure: None,
        });
    };
    let seed = case_seed(config.seed, case);
    let failure = shrink(&fault_plan(&shape), case, seed, original, check, progress)?;
    Ok(ExploreOutcome {
        cases_run,
        failure: Some(failure),
    })
}

fn generate(strategy: &proptest::strategy::BoxedStrategy<FaultPlan>, seed: u64) -> FaultPlan {
    let mut runner = runner_for(seed);
    strategy
        .new_tree(&mut runner)
        .map(|t| t.current())
        .unwrap_or_default()
}

/// proptest's shrink loop: simplify while the case fails, complicate when it passes.
fn shrink(
    strategy: &proptest::strategy::BoxedStrategy<FaultPlan>,
    case: u64,
    seed: u64,
    original: FaultPlan,
    check: &CaseCheck<'_>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<CaseFailure, SimError> {
    let mut runner = runner_for(seed);
    let mut best = original.clone();
    let mut best_violations = check(seed, &best)?;
    let mut steps = 0;
    if let Ok(mut tree) = strategy.new_tree(&mut runner)
        && tree.simplify()
    {
        {
            while steps < MAX_SHRINK_STEPS {
                steps += 1;
                progress(Progress::Shrinking {
                    step: steps,
                    best_faults: best.faults.len(),
                });
                let candidate = tree.current();
                let violations = check(seed, &candidate)?;
                if !violations.is_empty() {
                    best = candidate;
                    best_violations = violations;
                    if !tree.simplify() {
                        break;
                    }
                } else if !tree.complicate() {
                    break;
                }
            }
        }
    }
    Ok(CaseFailure {
        case,
        seed,
        original,
        shrunk: best,
        violations: best_violations,
        shrink_steps: steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heartbeat detector alone (the etcd and Ceph models have their own random-plan
    /// tests) keeps its invariants under random plans over the default cluster's hosts.
    #[test]
    fn the_heartbeat_model_survives_random_plans_on_the_default_cluster() {
        let cluster = topology::default_cluster().expect("valid default");
        let config = ExploreConfig {
            cases: 64,
            seed: 3,
            jobs: 2,
            duration: Duration::from_secs(300),
            max_faults: 8,
        };
        let check = |seed: u64, plan: &FaultPlan| -> Result<Vec<Violation>, SimError> {
            let mut sim = super::super::run::build_heartbeat_world(&cluster, seed)?;
            Ok(run_world(&mut sim, "explore", plan, config.duration, &mut NullSink)?.violations)
        };
        // This world runs no etcd or Ceph process: plans fault hosts and the network only
        // (a process fault it does not run is refused).
        let mut targets = FaultTargets::from_cluster(&cluster);
        targets.retain_processes(|_, _| false);
        let done = AtomicU64::new(0);
        let outcome = explore_with(&targets, &config, &check, &|p| {
            if let Progress::Cases { done: n } = p {
                done.fetch_max(n, Ordering::SeqCst);
            }
        })
        .expect("explore runs");
        assert!(outcome.failure.is_none(), "{:#?}", outcome.failure);
        assert_eq!(outcome.cases_run, 64);
        assert_eq!(
            done.load(Ordering::SeqCst),
            64,
            "progress reported every case"
        );
    }

    #[test]
    fn case_seeds_are_stable_and_distinct() {
        assert_eq!(case_seed(1, 0), case_seed(1, 0));
        assert_ne!(case_seed(1, 0), case_seed(1, 1));
        assert_ne!(case_seed(1, 0), case_seed(2, 0));
    }
}
