//! proptest strategies for fault plans valid for a given cluster. Every name they produce
//! exists in the cluster, and they shrink the way a person would simplify a failing case: fewer
//! faults (the plan is a `Vec`, which proptest shrinks by dropping elements), earlier times
//! (times shrink towards zero), smaller partition groups (each host's group number shrinks
//! towards "not named"), and simpler fault kinds (towards the first kind listed, a host crash).
//!
//! They also avoid faults that would do nothing: link faults always join two different hosts,
//! a partition always splits the cluster, process faults name only the processes in the targets
//! (a simulator narrows those to the processes it models with
//! [`FaultTargets::retain_processes`]), and drain/uncordon are opt-in through
//! [`PlanShape::drain`].

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;

use super::{Fault, FaultPlan, FaultTargets, TimedFault};

/// Finest time step of generated faults: 100 ms keeps shrunk plans readable.
const TIME_STEP_MS: u64 = 100;

/// Shape of generated plans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanShape {
    /// Hosts, disks and processes faults may name.
    pub targets: FaultTargets,
    /// Most faults in one plan.
    pub max_faults: usize,
    /// Faults happen in `[0, horizon)`.
    pub horizon: Duration,
    /// Whether plans may drain and uncordon hosts. Off while the simulator has no Kubernetes
    /// model: there, a drain only notifies the models and changes nothing.
    pub drain: bool,
}

/// The host names of `targets`, in order.
fn host_names(targets: &FaultTargets) -> Vec<String> {
    targets.hosts.keys().cloned().collect()
}

/// (host, item) pairs for every host that has at least one item.
fn pairs(
    targets: &FaultTargets,
    items: impl Fn(&super::HostTargets) -> &Vec<String>,
) -> Vec<(String, String)> {
    targets
        .hosts
        .iter()
        .flat_map(|(host, t)| {
            items(t)
                .iter()
                .map(move |item| (host.clone(), item.clone()))
        })
        .collect()
}

/// Ordered pairs of different hosts, `(a, b)` with `a != b`, first host first so shrinking
/// moves towards the first pair.
fn host_pairs(hosts: &[String]) -> Vec<(String, String)> {
    hosts
        .iter()
        .flat_map(|a| {
            hosts
                .iter()
                .filter(move |b| *b != a)
                .map(move |b| (a.clone(), b.clone()))
        })
        .collect()
}

/// Number of sides a partition cuts the cluster into: its non-empty groups, plus one for the
/// hosts it does not name.
fn sides(groups: &[Vec<String>], hosts: usize) -> usize {
    let named: usize = groups.iter().map(Vec::len).sum();
    groups.iter().filter(|g| !g.is_empty()).count() + usize::from(named < hosts)
}

/// A partition: each host gets a number 0..=2; 0 means "not named" (it joins the rest), 1 and 2
/// are explicit groups. Numbers shrink towards 0, so groups shrink; assignments that leave the
/// cluster in one piece (a partition that separates nothing) are rejected.
fn partition(hosts: Vec<String>) -> impl Strategy<Value = Fault> {
    let n = hosts.len();
    prop::collection::vec(0u8..3, n).prop_filter_map(
        "the partition separates nobody",
        move |assignment| {
            let groups: Vec<Vec<String>> = (1u8..3)
                .map(|g| {
                    hosts
                        .iter()
                        .zip(&assignment)
                        .filter(|(_, a)| **a == g)
                        .map(|(h, _)| h.clone())
                        .collect()
                })
                .filter(|g: &Vec<String>| !g.is_empty())
                .collect();
            (sides(&groups, n) >= 2).then_some(Fault::Partition { groups })
        },
    )
}

/// One fault naming only things in `shape.targets`. Simpler kinds come first so shrinking moves
/// towards them.
pub fn fault(shape: &PlanShape) -> BoxedStrategy<Fault> {
    let targets = &shape.targets;
    let hosts = host_names(targets);
    if hosts.is_empty() {
        return Just(Fault::Heal).boxed();
    }
    let host = select(hosts.clone());
    let mut choices: Vec<BoxedStrategy<Fault>> = vec![
        host.clone()
            .prop_map(|host| Fault::HostCrash { host })
            .boxed(),
        host.clone()
            .prop_map(|host| Fault::HostRestart { host })
            .boxed(),
        Just(Fault::Heal).boxed(),
    ];
    if hosts.len() >= 2 {
        let pair = select(host_pairs(&hosts));
        choices.extend([
            partition(hosts.clone()).boxed(),
            pair.clone()
                .prop_map(|(from, to)| Fault::OneWay { from, to })
                .boxed(),
            (pair.clone(), 1u64..2000)
                .prop_map(|((a, b), ms)| Fault::LinkSlow {
                    a,
                    b,
                    latency: Duration::from_millis(ms),
                })
                .boxed(),
            (pair, 1u32..=100)
                .prop_map(|((a, b), pct)| Fault::LinkLossy {
                    a,
                    b,
                    loss: f64::from(pct) / 100.0,
                })
                .boxed(),
        ]);
    }
    if shape.drain {
        choices.push(host.clone().prop_map(|host| Fault::Drain { host }).boxed());
        choices.push(
            host.clone()
                .prop_map(|host| Fault::Uncordon { host })
                .boxed(),
        );
        choices.push(
            host.clone()
                .prop_map(|host| Fault::OutOfService { host })
                .boxed(),
        );
        choices.push(host.prop_map(|host| Fault::InService { host }).boxed());
    }
    let processes = pairs(targets, |t| &t.processes);
    if !processes.is_empty() {
        let p = select(processes);
        choices.push(
            p.clone()
                .prop_map(|(host, process)| Fault::ProcessStop { host, process })
                .boxed(),
        );
        choices.push(
            p.clone()
                .prop_map(|(host, process)| Fault::ProcessTerminate { host, process })
                .boxed(),
        );
        choices.push(
            p.clone()
                .prop_map(|(host, process)| Fault::ProcessStart { host, process })
                .boxed(),
        );
        choices.push(
            p.clone()
                .prop_map(|(host, process)| Fault::ProcessPause { host, process })
                .boxed(),
        );
        choices.push(
            p.prop_map(|(host, process)| Fault::ProcessResume { host, process })
                .boxed(),
        );
    }
    let disks = pairs(targets, |t| &t.disks);
    if !disks.is_empty() {
        choices.push(
            select(disks)
                .prop_map(|(host, disk)| Fault::DiskLoss { host, disk })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(choices).boxed()
}

/// A fault at a time in `[0, shape.horizon)`, on a 100 ms grid.
pub fn timed_fault(shape: &PlanShape) -> BoxedStrategy<TimedFault> {
    let steps = (shape.horizon.as_millis() as u64 / TIME_STEP_MS).max(1);
    (0..steps, fault(shape))
        .prop_map(|(step, fault)| TimedFault {
            at: Duration::from_millis(step * TIME_STEP_MS),
            fault,
        })
        .boxed()
}

/// Plans of up to `shape.max_faults` faults valid for `shape.targets`, every one of which
/// changes something when it comes (see [`FaultPlan::effective`]): a resume without a pause
/// says nothing about the cluster and only wastes a fault.
pub fn fault_plan(shape: &PlanShape) -> BoxedStrategy<FaultPlan> {
    prop::collection::vec(timed_fault(shape), 0..=shape.max_faults)
        .prop_map(|faults| FaultPlan::new(faults).effective())
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::HostTargets;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    fn shape() -> PlanShape {
        let mut targets = FaultTargets::default();
        for name in ["n1", "n2", "n3", "n4", "n5"] {
            targets.hosts.insert(
                name.to_owned(),
                HostTargets {
                    disks: vec!["/dev/vdb".into()],
                    processes: vec!["etcd".into(), "kubelet".into()],
                },
            );
        }
        PlanShape {
            targets,
            max_faults: 6,
            horizon: Duration::from_secs(600),
            drain: false,
        }
    }

    /// True when applying `fault` to a cluster of `shape` could change something.
    fn meaningful(fault: &Fault, shape: &PlanShape) -> bool {
        match fault {
            Fault::OneWay { from: a, to: b }
            | Fault::LinkSlow { a, b, .. }
            | Fault::LinkLossy { a, b, .. } => a != b,
            Fault::Partition { groups } => sides(groups, shape.targets.hosts.len()) >= 2,
            f if f.is_operator_action() => shape.drain,
            _ => true,
        }
    }

    proptest! {
        #[test]
        fn generated_plans_are_valid(plan in fault_plan(&shape())) {
            let shape = shape();
            prop_assert!(plan.faults.len() <= shape.max_faults);
            prop_assert!(plan.faults.iter().all(|f| f.at < shape.horizon));
            plan.validate(&shape.targets).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for timed in &plan.faults {
                prop_assert!(meaningful(&timed.fault, &shape), "no-op fault {}", timed.fault);
            }
            prop_assert!(plan.no_ops().is_empty(), "no-op faults {:?}", plan.no_ops());
        }

        /// Narrowed targets narrow the plans: only the processes kept are ever named.
        #[test]
        fn process_faults_name_only_retained_processes(plan in fault_plan(&{
            let mut shape = shape();
            shape.targets.retain_processes(|_, p| p == "etcd");
            shape
        })) {
            for timed in &plan.faults {
                if let Fault::ProcessStop { process, .. }
                | Fault::ProcessTerminate { process, .. }
                | Fault::ProcessStart { process, .. }
                | Fault::ProcessPause { process, .. }
                | Fault::ProcessResume { process, .. } = &timed.fault
                {
                    prop_assert_eq!(process, "etcd");
                }
            }
        }
    }

    #[test]
    fn many_generated_plans_hold_no_same_host_link_fault_and_reach_every_kind() {
        let shape = shape();
        let strategy = fault_plan(&shape);
        let mut runner = TestRunner::deterministic();
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let plan = strategy.new_tree(&mut runner).unwrap().current();
            for timed in &plan.faults {
                assert!(meaningful(&timed.fault, &shape), "{}", timed.fault);
                kinds.insert(timed.fault.kind());
            }
        }
        // Every kind except the opt-in drain/uncordon shows up.
        assert_eq!(kinds.len(), 13, "{kinds:?}");
        assert!(!kinds.contains("Drain") && !kinds.contains("Uncordon"));
    }

    #[test]
    fn a_single_host_cluster_gets_no_link_faults() {
        let mut shape = shape();
        shape.targets.hosts.retain(|h, _| h == "n1");
        let strategy = fault_plan(&shape);
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let plan = strategy.new_tree(&mut runner).unwrap().current();
            plan.validate(&shape.targets).unwrap();
            assert!(plan.faults.iter().all(|f| !matches!(
                f.fault,
                Fault::OneWay { .. }
                    | Fault::LinkSlow { .. }
                    | Fault::LinkLossy { .. }
                    | Fault::Partition { .. }
            )));
        }
    }

    #[test]
    fn shrinking_reaches_a_single_early_crash() {
        // Property "no plan contains a HostCrash" fails; the minimal counterexample is one
        // crash of the first host at time zero.
        let mut runner = TestRunner::deterministic();
        let result = runner.run(&fault_plan(&shape()), |plan| {
            let crashes = plan
                .faults
                .iter()
                .filter(|f| matches!(f.fault, Fault::HostCrash { .. }))
                .count();
            prop_assert_eq!(crashes, 0);
            Ok(())
        });
        let Err(proptest::test_runner::TestError::Fail(_, plan)) = result else {
            panic!("expected a failure, got {result:?}")
        };
        assert_eq!(
            plan.faults,
            [TimedFault {
                at: Duration::ZERO,
                fault: Fault::HostCrash { host: "n1".into() }
            }]
        );
    }
}
