//! Node heartbeats and the node lifecycle controller in the full scenario world: every host's
//! kubelet renews its node Lease through the API VIP, and the controller-manager leader's
//! monitor marks a node Ready=Unknown once its lease has not moved for the grace period.
//! Bounds come from the topology's node-lifecycle timers and the kubelet's renew interval.

use super::kube_support::{Timers, facts, first, secs};
use sim::engine::{LogKind, NullSink, Record, SimDuration, SimTime};
use sim::models::kube::elector::ACQUIRE_JITTER;
use sim::models::kube::facts::{
    LeaderChange, NodeReady, NodeTaint, PodEvicted, PodNotReady, PodPending, PodScheduled,
    ZoneDisruption,
};
use sim::models::kube::node_lifecycle::MonitorConfig;
use sim::models::kube::setup::CONTROLLER_MANAGER;
use sim::models::kube::zones::NODE_EVICTION_PERIOD;
use topology::fault::Fault;
use topology::policy::scheduler::cluster::place_workloads;

/// (time, ready) verdicts on `node`.
fn verdicts(sim: &sim::engine::Simulation, node: &str) -> Vec<(SimTime, bool)> {
    sim.log()
        .iter()
        .filter_map(|e| match &e.kind {
            LogKind::Record {
                record: Record::Fact(f),
                ..
            } => f
                .get::<NodeReady>()
                .filter(|r| r.node == node)
                .map(|r| (e.time, r.ready)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_crashed_worker_goes_unknown_after_the_grace_period_and_ready_again_after_its_restart() {
    let cluster = topology::default_cluster().expect("default topology");
    let Timers {
        grace,
        period,
        renew_max,
        ..
    } = Timers::of(&cluster);
    let mut sim = sim::scenario::run::build_world(&cluster, 3).expect("world");
    let (crash, back) = (secs(120), secs(300));
    let host = "cloudserver3".to_owned();
    sim.schedule_fault(crash, Fault::HostCrash { host: host.clone() })
        .expect("fault");
    sim.schedule_fault(back, Fault::HostRestart { host: host.clone() })
        .expect("fault");
    sim.run_until(secs(400), &mut NullSink);
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let v = verdicts(&sim, &host);
    // Ready once the leader saw its first renewal.
    assert!(
        v.first().is_some_and(|(t, ready)| *ready && *t < secs(60)),
        "{v:?}"
    );
    let (unknown, _) = *v
        .iter()
        .find(|(t, ready)| *t > crash && !ready)
        .expect("marked Unknown");
    // Its last renewal came at most one jittered renew interval before the crash; the
    // leader saw it at its next pass (at most one period later) and judges strictly after
    // the grace, at a pass.
    let lo = crash + grace;
    let hi = crash + grace + period + period;
    assert!(
        unknown + renew_max >= lo && unknown <= hi,
        "Unknown at {unknown}, expected [{lo} - {renew_max}, {hi}]"
    );
    eprintln!("cloudserver3 crashed at {crash}: Unknown at {unknown}");
    let (ready, _) = *v
        .iter()
        .find(|(t, ready)| *t > back && *ready)
        .expect("Ready again");
    // After the boot: the kubelet registers again at start (GET then PUT Ready=True through
    // the VIP).
    assert!(
        ready <= back + period + SimDuration::from_secs(1),
        "{ready}"
    );
    // The controller reads Ready=True at its next pass and removes both of its taints, which
    // it had added while the node was down.
    let taints = facts::<NodeTaint>(&sim);
    for effect in ["NoSchedule", "NoExecute"] {
        let on = |added: bool| {
            taints
                .iter()
                .find(|(t, f)| {
                    f.node == host && f.effect == effect && f.added == added && {
                        if added {
                            *t > crash && *t < back
                        } else {
                            *t > back
                        }
                    }
                })
                .map(|(t, _)| *t)
        };
        assert!(on(true).is_some(), "{effect} added while down: {taints:?}");
        let removed = on(false).unwrap_or_else(|| panic!("{effect} removed: {taints:?}"));
        assert!(
            removed <= ready + period + SimDuration::from_secs(1),
            "{removed}"
        );
    }
    // Every other node stayed Ready.
    for other in [
        "micklethefickle",
        "cloudserver1",
        "cloudserver2",
        "blackboar",
    ] {
        assert!(
            verdicts(&sim, other).iter().all(|(_, r)| *r),
            "{other}: {:?}",
            verdicts(&sim, other)
        );
    }
}

/// Every fact of type `T`, with its time.
#[test]
fn a_dead_workers_pods_are_evicted_at_grace_plus_toleration() {
    let cluster = topology::default_cluster().expect("default topology");
    let Timers {
        grace,
        period,
        toleration,
        renew_max,
    } = Timers::of(&cluster);
    // A request through the local apiserver to etcd and back takes milliseconds; a second
    // bounds it with room to spare.
    let latency = SimDuration::from_secs(1);
    let host = "cloudserver3";
    // The scheduler policy places pods on this worker, as `check` places them.
    assert!(
        place_workloads(&cluster)
            .iter()
            .any(|p| p.nodes.iter().any(|n| n == host)),
        "the default topology runs pods on {host}"
    );
    let crash = secs(120);
    let end = crash + grace + period + period + period + toleration + SimDuration::from_secs(30);
    let mut sim = sim::scenario::run::build_world(&cluster, 5).expect("world");
    sim.schedule_fault(crash, Fault::HostCrash { host: host.into() })
        .expect("fault");
    sim.run_until(end, &mut NullSink);
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let on_host: Vec<String> = facts::<PodScheduled>(&sim)
        .into_iter()
        .filter(|(t, p)| *t < crash && p.node == host)
        .map(|(_, p)| p.pod)
        .collect();
    assert!(!on_host.is_empty());

    let unknown =
        first::<NodeReady>(&sim, crash, |r| r.node == host && !r.ready).expect("Ready=Unknown");
    assert!(
        unknown + renew_max >= crash + grace && unknown <= crash + grace + period + period,
        "Unknown at {unknown}"
    );
    // The NoSchedule taint comes with the Unknown condition; the pods are marked not ready
    // in the same pass.
    let no_schedule = first::<NodeTaint>(&sim, crash, |t| {
        t.node == host && t.effect == "NoSchedule" && t.added
    })
    .expect("NoSchedule taint");
    assert_eq!(no_schedule, unknown);
    let not_ready = facts::<PodNotReady>(&sim);
    for pod in &on_host {
        let (t, _) = not_ready
            .iter()
            .find(|(_, p)| &p.pod == pod)
            .unwrap_or_else(|| panic!("{pod} marked not ready: {not_ready:?}"));
        assert!(*t >= unknown && *t <= unknown + latency, "{pod} at {t}");
    }
    // NoExecute at the next pass, which reads the Unknown condition back, within one
    // tainting tick: the zone's bucket is full.
    let no_execute = first::<NodeTaint>(&sim, crash, |t| {
        t.node == host && t.effect == "NoExecute" && t.added
    })
    .expect("NoExecute taint");
    assert!(
        no_execute >= unknown + period
            && no_execute <= unknown + period + NODE_EVICTION_PERIOD + latency,
        "NoExecute at {no_execute}, Unknown at {unknown}"
    );
    // Each pod is deleted once its toleration has run from the taint's processing.
    let evicted = facts::<PodEvicted>(&sim);
    for pod in &on_host {
        let (t, _) = evicted
            .iter()
            .find(|(_, p)| &p.pod == pod)
            .unwrap_or_else(|| panic!("{pod} evicted: {evicted:?}"));
        assert!(
            *t >= no_execute + toleration && *t <= no_execute + toleration + latency,
            "{pod} evicted at {t}, taint at {no_execute}"
        );
    }
    assert!(
        evicted.iter().all(|(_, p)| p.node == host),
        "only {host}'s pods: {evicted:?}"
    );
    eprintln!(
        "{host} crashed at {crash}: Unknown {unknown}, NoExecute {no_execute}, evicted {:?}",
        evicted
            .iter()
            .map(|(t, _)| t.to_string())
            .collect::<Vec<_>>()
    );
}

/// Crashes three of the five nodes at once (a majority, >55%) and runs past grace plus
/// toleration, with the controller as upstream has it or with the unhealthy-zone rule
/// planted away.
fn three_nodes_down(planted: bool) -> sim::engine::Simulation {
    let cluster = topology::default_cluster().expect("default topology");
    let mut monitor = MonitorConfig::from_topology(&cluster);
    monitor.planted_taint_in_unhealthy_zone = planted;
    let nl = &cluster.spec.control_plane.node_lifecycle;
    let toleration = u64::from(nl.unreachable_toleration_seconds);
    let grace = u64::from(
        cluster
            .spec
            .control_plane
            .node_monitor_grace_period_seconds(),
    );
    let mut sim = sim::scenario::run::build_world_with(&cluster, 7, &monitor).expect("world");
    for host in ["cloudserver2", "cloudserver3", "blackboar"] {
        sim.schedule_fault(secs(120), Fault::HostCrash { host: host.into() })
            .expect("fault");
    }
    sim.run_until(secs(120 + grace + 60 + toleration), &mut NullSink);
    sim.finish(&mut NullSink);
    sim
}

#[test]
fn a_majority_of_nodes_down_halts_new_taints_and_evictions() {
    let sim = three_nodes_down(false);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let zones = facts::<ZoneDisruption>(&sim);
    assert!(
        zones
            .iter()
            .any(|(_, z)| z.state == "PartialDisruption" && z.eviction_qps == 0.0),
        "{zones:?}"
    );
    let down: Vec<_> = facts::<NodeReady>(&sim)
        .into_iter()
        .filter(|(_, r)| !r.ready)
        .collect();
    assert_eq!(down.len(), 3, "three nodes Unknown: {down:?}");
    let no_execute: Vec<_> = facts::<NodeTaint>(&sim)
        .into_iter()
        .filter(|(_, t)| t.effect == "NoExecute")
        .collect();
    assert!(no_execute.is_empty(), "no NoExecute taint: {no_execute:?}");
    assert!(facts::<PodEvicted>(&sim).is_empty());
    // The pods on the dead nodes are still marked not ready.
    assert!(!facts::<PodNotReady>(&sim).is_empty());
}

#[test]
fn tainting_in_an_unhealthy_zone_is_caught() {
    let sim = three_nodes_down(true);
    let v = sim.violations();
    assert!(
        v.iter()
            .any(|v| v.invariant == "kube-no-new-eviction-in-unhealthy-zone"),
        "{v:?}"
    );
}

#[test]
fn a_controller_manager_leader_change_restarts_the_eviction_countdown() {
    let cluster = topology::default_cluster().expect("default topology");
    let le = cluster.spec.control_plane.leader_election.clone();
    let s = |v: u32| SimDuration::from_secs(u64::from(v));
    let Timers {
        grace,
        period,
        toleration,
        ..
    } = Timers::of(&cluster);
    let lease = s(le.lease_duration_seconds);
    let retry_max = SimDuration::from_nanos(
        (s(le.retry_period_seconds).as_nanos() as f64 * (1.0 + ACQUIRE_JITTER)) as u64,
    );
    let latency = SimDuration::from_secs(1);
    let host = "cloudserver3";
    let crash = secs(120);
    let mut sim = sim::scenario::run::build_world(&cluster, 11).expect("world");
    sim.schedule_fault(crash, Fault::HostCrash { host: host.into() })
        .expect("fault");
    let tainted_by = crash + grace + period + period + period + latency;
    sim.run_until(tainted_by, &mut NullSink);
    let first_taint = first::<NodeTaint>(&sim, crash, |t| {
        t.node == host && t.effect == "NoExecute" && t.added
    })
    .expect("NoExecute taint");
    // SIGKILL the controller manager that leads: no release, so a standby waits out the lease.
    let leader = facts::<LeaderChange>(&sim)
        .into_iter()
        .rfind(|(_, c)| c.lease == CONTROLLER_MANAGER && c.leading)
        .map(|(_, c)| c.identity)
        .expect("a controller-manager leader");
    let leader_host = leader
        .rsplit_once('_')
        .map(|(h, _)| h.to_owned())
        .expect("host_n");
    let stop = tainted_by + SimDuration::from_secs(20);
    sim.schedule_fault(
        stop,
        Fault::ProcessStop {
            host: leader_host.clone(),
            process: CONTROLLER_MANAGER.into(),
        },
    )
    .expect("fault");
    sim.run_until(
        stop + lease + toleration + SimDuration::from_secs(60),
        &mut NullSink,
    );
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    // The new leader's first pass removes the taint (markNodeAsReachable for a node it sees
    // for the first time) and queues it, so it is back within a tainting tick.
    let removed = first::<NodeTaint>(&sim, stop, |t| {
        t.node == host && t.effect == "NoExecute" && !t.added
    })
    .expect("NoExecute removed by the new leader");
    let again = first::<NodeTaint>(&sim, stop, |t| {
        t.node == host && t.effect == "NoExecute" && t.added
    })
    .expect("NoExecute again");
    assert!(
        removed <= stop + lease + retry_max + retry_max + latency
            && again >= removed
            && again <= removed + NODE_EVICTION_PERIOD + latency,
        "stopped {stop}, removed {removed}, again {again}"
    );
    // The countdown starts over from the new taint: no pod goes at the first one's deadline.
    let evicted = facts::<PodEvicted>(&sim);
    assert!(!evicted.is_empty());
    for (t, p) in &evicted {
        assert!(
            *t >= again + toleration && *t <= again + toleration + latency,
            "{} evicted at {t}; first taint {first_taint}, again {again}",
            p.pod
        );
    }
    eprintln!(
        "first taint {first_taint}, leader {leader} stopped {stop}, taint removed {removed}, again {again}, evicted {}",
        evicted[0].0
    );
}

#[test]
fn a_replica_no_node_takes_is_pending_with_the_schedulers_message() {
    let mut cluster = topology::default_cluster().expect("default topology");
    // Required anti-affinity over five nodes: the sixth replica fits nowhere.
    let kv = cluster
        .spec
        .workloads
        .iter_mut()
        .find(|w| w.name == "kv")
        .expect("kv");
    kv.replicas = 6;
    let mut sim = sim::scenario::run::build_world(&cluster, 3).expect("world");
    sim.run_until(secs(90), &mut NullSink);
    sim.finish(&mut NullSink);
    let pending = facts::<PodPending>(&sim);
    assert_eq!(pending.len(), 1, "{pending:?}");
    let (_, p) = &pending[0];
    assert_eq!(p.pod, "default/kv-5");
    assert_eq!(
        p.message,
        "0/5 nodes are available: 5 node(s) didn't match pod anti-affinity rules. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod."
    );
}
