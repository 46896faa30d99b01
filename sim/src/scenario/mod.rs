//! Running the seed's named scenarios (defined in `topology::scenario`, so a drill runs the
//! same ones) in the simulator, plus `random`, a plan drawn from the proptest strategy for the
//! given seed.
//!
//! `Drain` and `Uncordon` are carried out by the operator's `kubectl` in the Kubernetes model;
//! a topology without a control plane (no API VIP) runs no such model, so there they only
//! notify the models and the run's outcome carries a note saying so (see
//! [`run::KUBERNETES_NOT_MODELLED`]), which the CLI and the HTML report print.

pub mod explore;
pub mod facts;
pub mod run;

use std::time::Duration;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use topology::Cluster;
use topology::fault::strategy::{PlanShape, fault_plan};
use topology::fault::{FaultPlan, FaultTargets, Scenario};

pub use explore::{CaseFailure, ExploreConfig, ExploreOutcome, Progress, explore, explore_with};
pub use run::{
    KUBERNETES_NOT_MODELLED, Origin, PlanSource, RunOutcome, SimError, replay, replay_command,
    run_scenario, run_scenario_traced,
};

pub use topology::scenario::{DEFAULT_DURATION, NAMES};

/// Most faults in a `random` plan.
pub const RANDOM_MAX_FAULTS: usize = 8;

/// The named scenario `name` over `cluster` (`topology::scenario`), or `None` if the name is
/// unknown or the cluster lacks the hosts it needs. `seed` only matters for `random`, whose
/// plan is drawn for it from the faults the simulated world can apply.
pub fn named(name: &str, cluster: &Cluster, seed: u64) -> Option<Scenario> {
    topology::scenario::named_with(name, cluster, || {
        random_plan(
            &simulated_targets(cluster),
            seed,
            RANDOM_MAX_FAULTS,
            DEFAULT_DURATION,
        )
    })
}

/// What a generated plan may name on `cluster`: every host and disk, but only the processes the
/// simulated world runs. The engine applies a process fault to the actor registered under the
/// process name on that host and answers `no-such-process` otherwise (see
/// `Simulation::apply_fault`), so e.g. stopping `kubelet` or `haproxy` would be a no-op; this
/// asks a freshly built world which (host, process) pairs it has. If the world cannot be built
/// the run cannot happen either, and every process is left in (the run reports the error).
pub fn simulated_targets(cluster: &Cluster) -> FaultTargets {
    let mut targets = FaultTargets::from_cluster(cluster);
    if let Ok(sim) = run::build_world(cluster, 0) {
        // The operator's kubectl carries drains out when the world has a control plane.
        targets.drains = sim
            .directory()
            .actors_named(crate::models::kube::setup::DRAINER_MODEL)
            .next()
            .is_some();
        targets.retain_processes(|host, process| {
            sim.host_id(host)
                .and_then(|h| sim.directory().actor_on(h, process))
                .is_some()
        });
    }
    targets
}

/// A plan drawn from the proptest strategy with a generator seeded from `seed` alone.
pub fn random_plan(
    targets: &FaultTargets,
    seed: u64,
    max_faults: usize,
    horizon: Duration,
) -> FaultPlan {
    let shape = PlanShape {
        targets: targets.clone(),
        max_faults,
        horizon,
        drain: targets.drains,
    };
    let mut runner = runner_for(seed);
    fault_plan(&shape)
        .new_tree(&mut runner)
        .map(|tree| tree.current())
        .unwrap_or_default()
}

/// A proptest runner whose generator depends on `seed` only.
pub(crate) fn runner_for(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let word = crate::engine::stream_seed(seed, &format!("plan/{i}"));
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    TestRunner::new_with_rng(
        proptest::test_runner::Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::fault::Fault;

    #[test]
    fn every_name_builds_a_valid_scenario_on_the_default_cluster() {
        let cluster = topology::default_cluster().expect("default topology is valid");
        let targets = FaultTargets::from_cluster(&cluster);
        for name in NAMES {
            let scenario = named(name, &cluster, 7).unwrap_or_else(|| panic!("{name} missing"));
            scenario
                .validate(&targets)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(scenario.metadata.name, name);
        }
        assert!(named("nope", &cluster, 1).is_none());
    }

    #[test]
    fn generated_plans_only_stop_processes_the_world_models() {
        let cluster = topology::default_cluster().expect("default topology is valid");
        let targets = simulated_targets(&cluster);
        let sim = run::build_world(&cluster, 1).expect("world");
        let mut process_faults = 0;
        let mut drains = 0;
        assert!(targets.drains, "the default world carries drains out");
        for seed in 0..40 {
            let plan = random_plan(&targets, seed, RANDOM_MAX_FAULTS, DEFAULT_DURATION);
            plan.validate(&FaultTargets::from_cluster(&cluster))
                .expect("valid for the cluster");
            for timed in &plan.faults {
                match &timed.fault {
                    Fault::ProcessStop { host, process }
                    | Fault::ProcessTerminate { host, process }
                    | Fault::ProcessStart { host, process }
                    | Fault::ProcessPause { host, process }
                    | Fault::ProcessResume { host, process } => {
                        process_faults += 1;
                        let host_id = sim.host_id(host).expect("host");
                        assert!(
                            sim.directory().actor_on(host_id, process).is_some(),
                            "{} names a process the simulator does not run",
                            timed.fault
                        );
                    }
                    Fault::OneWay { from: a, to: b }
                    | Fault::LinkSlow { a, b, .. }
                    | Fault::LinkLossy { a, b, .. } => assert_ne!(a, b, "{}", timed.fault),
                    f if f.is_operator_action() => drains += 1,
                    _ => {}
                }
            }
        }
        assert!(process_faults > 0, "some plans fault processes");
        assert!(drains > 0, "some plans drain or uncordon");
        assert!(
            targets
                .hosts
                .values()
                .all(|h| !h.processes.iter().any(|p| p == "containerd")),
            "containerd is not simulated"
        );
        for modelled in [
            "etcd",
            "kube-apiserver",
            "keepalived",
            "haproxy",
            "kube-scheduler",
            "kube-controller-manager",
            "kubelet",
        ] {
            assert!(
                targets
                    .hosts
                    .values()
                    .any(|h| h.processes.iter().any(|p| p == modelled)),
                "{modelled} is simulated"
            );
        }
    }

    #[test]
    fn random_plans_depend_on_the_seed_only() {
        let cluster = topology::default_cluster().expect("default topology is valid");
        let a = named("random", &cluster, 11).map(|s| s.spec.plan);
        let b = named("random", &cluster, 11).map(|s| s.spec.plan);
        let c = named("random", &cluster, 12).map(|s| s.spec.plan);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
