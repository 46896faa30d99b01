//! proptest strategies for fault plans valid for a given cluster. Every name they produce
//! exists in the cluster, and they shrink the way a person would simplify a failing case: fewer
//! faults (the plan is a `Vec`, which proptest shrinks by dropping elements), earlier times
//! (times shrink towards zero), smaller partition groups (each host's group number shrinks
//! towards "not named"), and simpler fault kinds (towards the first kind listed, a host crash).

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

/// A partition: each host gets a number 0..=2; 0 means "not named" (it joins the rest), 1 and 2
/// are explicit groups. Numbers shrink towards 0, so groups shrink.
fn partition(hosts: Vec<String>) -> impl Strategy<Value = Fault> {
    let n = hosts.len();
    prop::collection::vec(0u8..3, n).prop_map(move |assignment| {
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
        Fault::Partition { groups }
    })
}

/// One fault naming only things in `targets`. Simpler kinds come first so shrinking moves
/// towards them.
pub fn fault(targets: &FaultTargets) -> BoxedStrategy<Fault> {
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
        partition(hosts.clone()).boxed(),
        (host.clone(), host.clone())
            .prop_map(|(from, to)| Fault::OneWay { from, to })
            .boxed(),
        (host.clone(), host.clone(), 1u64..2000)
            .prop_map(|(a, b, ms)| Fault::LinkSlow {
                a,
                b,
                latency: Duration::from_millis(ms),
            })
            .boxed(),
        (host.clone(), host.clone(), 1u32..=100)
            .prop_map(|(a, b, pct)| Fault::LinkLossy {
                a,
                b,
                loss: f64::from(pct) / 100.0,
            })
            .boxed(),
        host.clone().prop_map(|host| Fault::Drain { host }).boxed(),
        host.prop_map(|host| Fault::Uncordon { host }).boxed(),
    ];
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

/// A fault at a time in `[0, horizon)`, on a 100 ms grid.
pub fn timed_fault(targets: &FaultTargets, horizon: Duration) -> BoxedStrategy<TimedFault> {
    let steps = (horizon.as_millis() as u64 / TIME_STEP_MS).max(1);
    (0..steps, fault(targets))
        .prop_map(|(step, fault)| TimedFault {
            at: Duration::from_millis(step * TIME_STEP_MS),
            fault,
        })
        .boxed()
}

/// Plans of up to `shape.max_faults` faults valid for `shape.targets`.
pub fn fault_plan(shape: &PlanShape) -> BoxedStrategy<FaultPlan> {
    prop::collection::vec(
        timed_fault(&shape.targets, shape.horizon),
        0..=shape.max_faults,
    )
    .prop_map(FaultPlan::new)
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::HostTargets;
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
        }
    }

    proptest! {
        #[test]
        fn generated_plans_are_valid(plan in fault_plan(&shape())) {
            let shape = shape();
            prop_assert!(plan.faults.len() <= shape.max_faults);
            prop_assert!(plan.faults.iter().all(|f| f.at < shape.horizon));
            plan.validate(&shape.targets).map_err(|e| TestCaseError::fail(e.to_string()))?;
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
