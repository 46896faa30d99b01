//! Leader election (`sim::models::kube::elector`) of one component with a candidate on each of
//! the default topology's control-plane hosts, each talking to its local apiserver, which
//! stores the Lease in the three-member etcd. Bounds are computed from the topology's
//! leader-election timers and client-go's jitter; the two-leaders invariant is shown firing
//! on a planted misconfiguration that client-go itself refuses (renew deadline longer than
//! the lease).

use sim::engine::{ActorId, NullSink, SimDuration, SimTime, Simulation};

use super::kube_support::etcd_and_apiservers;
use sim::engine::{LogKind, Record};
use sim::models::etcd::EtcdSimConfig;
use sim::models::kube::checks::SingleLeaderPerLease;
use sim::models::kube::elector::{
    ACQUIRE_JITTER, EXIT_DETECTION, ElectorConfig, LeaderCandidate, Phase,
};
use sim::models::kube::facts::LeaderChange;
use sim::models::vip::APISERVER_MODEL;
use topology::fault::Fault;

const COMPONENT: &str = "kube-scheduler";

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

struct World {
    sim: Simulation,
    candidates: Vec<(String, ActorId)>,
    config: ElectorConfig,
}

fn world(seed: u64, config: ElectorConfig) -> World {
    let (mut sim, _, cp) = etcd_and_apiservers(seed);
    let mut candidates = Vec::new();
    for h in &cp {
        let id = sim.host_id(h).expect("host");
        let c = LeaderCandidate::new(config.clone());
        candidates.push((
            h.clone(),
            sim.add_actor(id, COMPONENT, Box::new(c)).expect("c"),
        ));
    }
    sim.add_invariant(Box::new(SingleLeaderPerLease::default()));
    World {
        sim,
        candidates,
        config,
    }
}

fn topology_config() -> ElectorConfig {
    let cluster = topology::default_cluster().expect("default topology");
    ElectorConfig::from_topology(COMPONENT, &cluster.spec.control_plane.leader_election)
}

impl World {
    fn candidate(&self, host: &str) -> &LeaderCandidate {
        let id = self
            .candidates
            .iter()
            .find(|(h, _)| h == host)
            .expect("h")
            .1;
        self.sim.model::<LeaderCandidate>(id).expect("candidate")
    }

    fn leaders(&self) -> Vec<String> {
        self.candidates
            .iter()
            .filter(|(h, _)| self.candidate(h).phase() == Phase::Leading)
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// Every (time, identity, leading) change, in order.
    fn changes(&self) -> Vec<(SimTime, String, bool)> {
        self.sim
            .log()
            .iter()
            .filter_map(|e| match &e.kind {
                LogKind::Record {
                    record: Record::Fact(f),
                    ..
                } => f
                    .get::<LeaderChange>()
                    .map(|c| (e.time, c.identity.clone(), c.leading)),
                _ => None,
            })
            .collect()
    }

    /// The longest wait between two acquire tries: `retry x (1 + jitter)`.
    fn max_acquire_wait(&self) -> SimDuration {
        let r = self.config.retry_period.as_nanos() as f64;
        SimDuration::from_nanos((r * (1.0 + ACQUIRE_JITTER)) as u64)
    }
}

fn host_of(identity: &str) -> &str {
    identity.split('_').next().unwrap_or("")
}

#[test]
fn one_candidate_acquires_and_keeps_the_lease() {
    let mut w = world(1, topology_config());
    w.sim.run_until(secs(120), &mut NullSink);
    w.sim.finish(&mut NullSink);
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    assert_eq!(w.leaders().len(), 1, "{:?}", w.leaders());
    let changes = w.changes();
    assert_eq!(changes.len(), 1, "acquired once and kept: {changes:?}");
    // The first try creates the lease once etcd has a leader.
    assert!(changes[0].0 < secs(10), "{changes:?}");
}

#[test]
fn the_leaders_host_crash_moves_the_lease_after_it_expires() {
    let mut w = world(2, topology_config());
    w.sim.run_until(secs(30), &mut NullSink);
    let old = w.leaders().pop().expect("a leader");
    let crash = Fault::HostCrash { host: old.clone() };
    w.sim.schedule_fault(secs(30), crash).expect("fault");
    w.sim.run_until(secs(90), &mut NullSink);
    w.sim.finish(&mut NullSink);
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    let (at, who, _) = w
        .changes()
        .into_iter()
        .find(|(t, _, leading)| *t > secs(30) && *leading)
        .expect("a new leader");
    assert_ne!(host_of(&who), old);
    // The last renewal was at most one retry period before the crash, and the standby
    // treats the lease as valid for lease-duration from when it saw that renewal. It saw it
    // at most one acquire wait later, and tries again at most one acquire wait after the
    // expiry; an etcd re-election (the crashed host may have led etcd) can cost one more.
    let etcd = EtcdSimConfig::default().reelection_bound();
    let lo = secs(30) + w.config.lease_duration;
    let hi =
        secs(30) + w.config.lease_duration + w.max_acquire_wait() + w.max_acquire_wait() + etcd;
    eprintln!("leader host crashed at 30 s; new leader {who} at {at} (bound [{lo} - retry, {hi}])");
    assert!(
        at + w.config.retry_period >= lo && at <= hi,
        "new leader at {at}, expected [{lo} - retry, {hi}]"
    );
}

#[test]
fn a_leader_that_cannot_renew_steps_down_at_the_renew_deadline_and_restarts_as_standby() {
    let mut w = world(3, topology_config());
    w.sim.run_until(secs(30), &mut NullSink);
    let old = w.leaders().pop().expect("a leader");
    let stop = Fault::ProcessStop {
        host: old.clone(),
        process: APISERVER_MODEL.to_owned(),
    };
    w.sim.schedule_fault(secs(30), stop).expect("fault");
    w.sim.run_until(secs(90), &mut NullSink);
    w.sim.finish(&mut NullSink);
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    let changes = w.changes();
    let (lost, _, _) = changes
        .iter()
        .find(|(t, who, leading)| *t > secs(30) && !leading && host_of(who) == old)
        .expect("stepped down");
    // Its first failed renewal starts a round at most one retry period after the stop (its
    // local apiserver refuses at once); the round lasts the renew deadline.
    let lo = secs(30) + w.config.renew_deadline;
    let hi = lo + w.config.retry_period;
    assert!(
        *lost >= lo && *lost <= hi,
        "lost at {lost}, expected [{lo}, {hi}]"
    );
    let (won, who, _) = changes
        .iter()
        .find(|(t, _, leading)| *t > secs(30) && *leading)
        .expect("a new leader");
    assert_ne!(host_of(who), old);
    assert!(
        won > lost,
        "the new leader waited for the old lease to expire"
    );
    eprintln!("apiserver stopped at 30 s under the leader: lost at {lost}, new leader at {won}");
    // The old process came back at once (its first exit) with a new identity.
    let c = w.candidate(&old);
    assert_eq!(c.phase(), Phase::Standby);
    assert!(*lost + EXIT_DETECTION <= secs(90));
    assert!(c.identity().ends_with("_2"), "{}", c.identity());
}

/// kube-scheduler releases its lease on SIGTERM (`ReleaseOnCancel`), so a standby takes it at
/// its next try instead of after the lease duration.
#[test]
fn a_terminated_scheduler_releases_the_lease_for_a_quick_handover() {
    let mut w = world(6, topology_config());
    w.sim.run_until(secs(30), &mut NullSink);
    let old = w.leaders().pop().expect("a leader");
    let term = Fault::ProcessTerminate {
        host: old.clone(),
        process: COMPONENT.to_owned(),
    };
    w.sim.schedule_fault(secs(30), term).expect("fault");
    w.sim.run_until(secs(60), &mut NullSink);
    w.sim.finish(&mut NullSink);
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    let (won, who, _) = w
        .changes()
        .into_iter()
        .find(|(t, _, leading)| *t > secs(30) && *leading)
        .expect("a new leader");
    assert_ne!(host_of(&who), old);
    // The standby sees the empty holder at its next try (at most one acquire wait away).
    assert!(
        won <= secs(30) + w.max_acquire_wait() + SimDuration::from_millis(100),
        "{won}"
    );
    eprintln!("scheduler terminated at 30 s: new leader at {won}");
}

/// client-go refuses a renew deadline longer than the lease duration; planted here, a leader
/// that cannot renew still believes it leads when a standby takes the expired lease.
#[test]
fn a_renew_deadline_longer_than_the_lease_gives_two_leaders_and_is_caught() {
    let mut bad = topology_config();
    bad.renew_deadline = bad.lease_duration + SimDuration::from_secs(10);
    let mut w = world(4, bad);
    w.sim.run_until(secs(30), &mut NullSink);
    let old = w.leaders().pop().expect("a leader");
    let stop = Fault::ProcessStop {
        host: old,
        process: APISERVER_MODEL.to_owned(),
    };
    w.sim.schedule_fault(secs(30), stop).expect("fault");
    w.sim.run_until(secs(90), &mut NullSink);
    w.sim.finish(&mut NullSink);
    let v = w.sim.violations();
    assert!(
        v.iter()
            .any(|v| v.invariant == "kube-single-leader-per-lease"),
        "{v:?}"
    );
}
