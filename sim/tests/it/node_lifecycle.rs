//! Node heartbeats and the node lifecycle controller in the full scenario world: every host's
//! kubelet renews its node Lease through the API VIP, and the controller-manager leader's
//! monitor marks a node Ready=Unknown once its lease has not moved for the grace period.
//! Bounds come from the topology's node-lifecycle timers and the kubelet's renew interval.

use sim::engine::{LogKind, NullSink, Record, SimDuration, SimTime};
use sim::models::kube::facts::NodeReady;
use sim::models::kube::kubelet::RENEW_JITTER;
use topology::fault::Fault;

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

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
    let nl = cluster.spec.control_plane.node_lifecycle.clone();
    let grace = SimDuration::from_secs(u64::from(nl.node_monitor_grace_period_seconds));
    let period = SimDuration::from_secs(u64::from(nl.node_monitor_period_seconds));
    let renew = SimDuration::from_millis(u64::from(nl.node_lease_duration_seconds) * 250);
    let renew_max =
        SimDuration::from_nanos((renew.as_nanos() as f64 * (1.0 + RENEW_JITTER)) as u64);
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
    // After the boot: the kubelet's first sync at start (GET then PUT through the VIP), seen
    // at the leader's next pass.
    assert!(
        ready <= back + period + SimDuration::from_secs(1),
        "{ready}"
    );
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
