//! The seed's failover drills as named scenarios over a cluster: node failure, control-plane
//! failure, storage failure, network partition and node drain (the seed's "Failover
//! Scenarios" and "Testing Failover"), plus `random`, whose plan the caller supplies. Hosts
//! are picked by role, so the same names work on any topology that has them. The simulator
//! runs them (`sim::scenario::named`) and a drill can run the same ones on real machines.

use std::time::Duration;

use crate::fault::{Fault, FaultPlan, Scenario, TimedFault};
use crate::{Cluster, Host, Role};

/// Default length of a scenario run: long enough for Kubernetes' 300 s eviction and Ceph's
/// 600 s down-out interval to play out.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30 * 60);
/// When the first fault of a named scenario strikes: after a minute of steady state.
pub const FAULT_AT: Duration = Duration::from_secs(60);
/// When a named scenario puts things right again.
pub const REPAIR_AT: Duration = Duration::from_secs(15 * 60);

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
/// lacks the hosts it needs. `random` takes its plan from `random_plan` (the simulator draws
/// one from the proptest strategy for a seed; a drill may pass a plan it read); the other
/// names never call it.
pub fn named_with(
    name: &str,
    cluster: &Cluster,
    random_plan: impl FnOnce() -> FaultPlan,
) -> Option<Scenario> {
    let d = DEFAULT_DURATION;
    let scenario = match name {
        "node-failure" => {
            let host = victim_worker(cluster)?.name.clone();
            Scenario::new(
                name,
                "A worker node crashes at 1 min and restarts at 15 min; its Ceph OSDs drop out and replicated \
                 data stays readable and writable; its node goes Unknown after the node-monitor grace period, is \
                 tainted, and its pods are evicted once their toleration runs out; Deployment replicas are then \
                 created and run elsewhere, StatefulSet replicas wait for the node to return.",
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
                "One control-plane node crashes at 1 min and restarts at 15 min; etcd keeps quorum (2 of 3) and \
                 elects a new leader if it led, Ceph keeps its monitor quorum, the API VIP moves if the node held \
                 it, haproxy routes around its apiserver, the scheduler and controller manager re-elect if they \
                 led there, and its node goes Unknown, then its pods are evicted and replaced as their \
                 controllers allow (a StatefulSet replica waits for the node).",
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
        // kubectl drain then uncordon of a worker.
        "node-drain" => {
            let host = victim_worker(cluster)?.name.clone();
            Scenario::new(
                name,
                "kubectl drain of a worker, then uncordon: the node is cordoned, its pods are evicted through \
                 the Eviction API as their PodDisruptionBudgets allow (a 429 is retried every 5 s) and \
                 replaced on other nodes; uncordon makes it schedulable again (nothing moves back).",
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
            random_plan(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultTargets;

    #[test]
    fn every_name_builds_a_valid_scenario_on_the_default_cluster() {
        let cluster = crate::default_cluster().expect("default topology is valid");
        let targets = FaultTargets::from_cluster(&cluster);
        for name in NAMES {
            let scenario = named_with(name, &cluster, FaultPlan::default)
                .unwrap_or_else(|| panic!("{name} missing"));
            scenario
                .validate(&targets)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(scenario.metadata.name, name);
            let first = scenario.spec.plan.faults.first().map(|f| f.at);
            assert_eq!(first, (name != "random").then_some(FAULT_AT), "{name}");
        }
        assert!(named_with("nope", &cluster, || unreachable!()).is_none());
    }

    #[test]
    fn the_control_plane_failure_crashes_a_control_plane_host_and_restarts_it() {
        let cluster = crate::default_cluster().expect("default topology is valid");
        let s = named_with("control-plane-failure", &cluster, || unreachable!()).expect("known");
        let cp = cluster
            .spec
            .hosts
            .iter()
            .find(|h| h.has_role(Role::ControlPlane))
            .expect("a control-plane host");
        assert_eq!(
            s.spec.plan.faults,
            [
                at(
                    FAULT_AT,
                    Fault::HostCrash {
                        host: cp.name.clone()
                    }
                ),
                at(
                    REPAIR_AT,
                    Fault::HostRestart {
                        host: cp.name.clone()
                    }
                ),
            ]
        );
    }
}
