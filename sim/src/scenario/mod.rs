//! The seed's failover drills as named scenarios over a cluster: node failure, control-plane
//! failure, storage failure, network partition and node drain (the seed's "Failover Scenarios"
//! and "Testing Failover"), plus `random`, a plan drawn from the proptest strategy for the
//! given seed. Hosts are picked by role, so the same names work on any topology that has them.
//!
//! `node-drain` is honest about its limits: the simulator has no Kubernetes model yet, so
//! `Drain` and `Uncordon` only notify the models (the trace shows them as `notified`) and move
//! no pods; the run's outcome carries a note saying so (see [`run::KUBERNETES_NOT_MODELLED`]),
//! which the CLI and the HTML report print.

pub mod explore;
pub mod facts;
pub mod run;

use std::time::Duration;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use topology::fault::strategy::{PlanShape, fault_plan};
use topology::fault::{Fault, FaultPlan, FaultTargets, Scenario, TimedFault};
use topology::{Cluster, Host, Role};

pub use explore::{CaseFailure, ExploreConfig, ExploreOutcome, Progress, explore, explore_with};
pub use run::{
    KUBERNETES_NOT_MODELLED, Origin, PlanSource, RunOutcome, SimError, replay, replay_command,
    run_scenario, run_scenario_traced,
};

/// Default length of a scenario run: long enough for Kubernetes' 300 s eviction and Ceph's
/// 600 s down-out interval to play out.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30 * 60);
/// When the first fault of a named scenario strikes: after a minute of steady state.
const FAULT_AT: Duration = Duration::from_secs(60);
/// When a named scenario puts things right again.
const REPAIR_AT: Duration = Duration::from_secs(15 * 60);
/// Most faults in a `random` plan.
pub const RANDOM_MAX_FAULTS: usize = 8;

/// Names accepted by [`named`], in display order.
pub const NAMES: [&str; 6] = [
    "node-failure",
    "control-plane-failure",
    "storage-failure",
    "network-partition",
    "node-drain",
    "random",
];

fn first_with(cluster: &Cluster, want: impl Fn(&Host) -> bool) -> Option<&Host> {
    cluster.spec.hosts.iter().find(|h| want(h))
}

fn at(offset: Duration, fault: Fault) -> TimedFault {
    TimedFault { at: offset, fault }
}

/// A worker that is not also control plane (the cheapest node to lose), else the last host.
fn victim_worker(cluster: &Cluster) -> Option<&Host> {
    first_with(cluster, |h| {
        h.has_role(Role::Worker) && !h.has_role(Role::ControlPlane)
    })
    .or_else(|| cluster.spec.hosts.last())
}

/// The named scenario `name` over `cluster`, or `None` if the name is unknown or the cluster
/// lacks the hosts it needs. `seed` only matters for `random`.
pub fn named(name: &str, cluster: &Cluster, seed: u64) -> Option<Scenario> {
    let d = DEFAULT_DURATION;
    let scenario = match name {
        "node-failure" => {
            let host = victim_worker(cluster)?.name.clone();
            Scenario::new(
                name,
                "A worker node crashes; pods reschedule to healthy nodes, volumes stay reachable via replication.",
                d,
                FaultPlan::new(vec![
                    at(FAULT_AT, Fault::HostCrash { host: host.clone() }),
                    at(REPAIR_AT, Fault::HostRestart { host }),
                ]),
            )
        }
        "control-plane-failure" => {
            let host = first_with(cluster, |h| h.has_role(Role::ControlPlane))?
                .name
                .clone();
            Scenario::new(
                name,
                "One control-plane node stops; the others take over, etcd keeps quorum (2 of 3), the API VIP moves.",
                d,
                FaultPlan::new(vec![
                    at(FAULT_AT, Fault::HostCrash { host: host.clone() }),
                    at(REPAIR_AT, Fault::HostRestart { host }),
                ]),
            )
        }
        "storage-failure" => {
            let host = first_with(cluster, |h| {
                h.has_role(Role::CephOsd) && !h.disks.is_empty()
            })?;
            let disk = host.disks.first()?.device.clone();
            let host = host.name.clone();
            Scenario::new(
                name,
                "A storage node's OSD disk fails; replicated data stays readable and recovers when replaced.",
                d,
                FaultPlan::new(vec![
                    at(
                        FAULT_AT,
                        Fault::DiskLoss {
                            host: host.clone(),
                            disk,
                        },
                    ),
                    at(
                        FAULT_AT,
                        Fault::ProcessStop {
                            host: host.clone(),
                            process: "ceph-osd".into(),
                        },
                    ),
                    at(
                        REPAIR_AT,
                        Fault::ProcessStart {
                            host,
                            process: "ceph-osd".into(),
                        },
                    ),
                ]),
            )
        }
        "network-partition" => {
            let minority = minority_side(cluster)?;
            Scenario::new(
                name,
                "The network splits; the majority side keeps etcd quorum and serves, the minority cannot commit, \
                 and everything reconciles after the heal.",
                d,
                FaultPlan::new(vec![
                    at(
                        FAULT_AT,
                        Fault::Partition {
                            groups: vec![minority],
                        },
                    ),
                    at(Duration::from_secs(5 * 60), Fault::Heal),
                ]),
            )
        }
        // kubectl drain then uncordon of a worker. Kubernetes is not modelled yet, so this
        // exercises nothing but the fault plumbing; the description and the run's notes say so.
        "node-drain" => {
            let host = victim_worker(cluster)?.name.clone();
            Scenario::new(
                name,
                "kubectl drain of a worker, then uncordon. Kubernetes is not modelled yet: the drain \
                 has no simulated effect (no pods move, no PodDisruptionBudget is checked).",
                d,
                FaultPlan::new(vec![
                    at(FAULT_AT, Fault::Drain { host: host.clone() }),
                    at(Duration::from_secs(10 * 60), Fault::Uncordon { host }),
                ]),
            )
        }
        "random" => Scenario::new(
            name,
            "A random fault plan drawn for the seed (the same seed gives the same plan).",
            d,
            random_plan(&simulated_targets(cluster), seed, RANDOM_MAX_FAULTS, d),
        ),
        _ => return None,
    };
    Some(scenario)
}

/// One etcd member plus one worker when possible: a minority of etcd on one side.
fn minority_side(cluster: &Cluster) -> Option<Vec<String>> {
    let etcd = first_with(cluster, |h| h.has_role(Role::Etcd))?
        .name
        .clone();
    let mut side = vec![etcd.clone()];
    if let Some(worker) = first_with(cluster, |h| !h.has_role(Role::Etcd) && h.name != etcd) {
        side.push(worker.name.clone());
    }
    Some(side)
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
        drain: false,
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
        for seed in 0..40 {
            let plan = random_plan(&targets, seed, RANDOM_MAX_FAULTS, DEFAULT_DURATION);
            plan.validate(&FaultTargets::from_cluster(&cluster))
                .expect("valid for the cluster");
            for timed in &plan.faults {
                match &timed.fault {
                    Fault::ProcessStop { host, process }
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
                    Fault::Drain { .. } | Fault::Uncordon { .. } => {
                        panic!("{} has no simulated effect", timed.fault)
                    }
                    _ => {}
                }
            }
        }
        assert!(process_faults > 0, "some plans fault processes");
        for unmodelled in [
            "kubelet",
            "kube-apiserver",
            "keepalived",
            "haproxy",
            "containerd",
        ] {
            assert!(
                targets
                    .hosts
                    .values()
                    .all(|h| !h.processes.iter().any(|p| p == unmodelled)),
                "{unmodelled} is not simulated"
            );
        }
        assert!(
            targets
                .hosts
                .values()
                .any(|h| h.processes.iter().any(|p| p == "etcd"))
        );
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
