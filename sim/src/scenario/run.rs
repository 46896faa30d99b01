//! Running one scenario: build the world for a cluster (one host per topology host, the models
//! that exist so far on each, their invariants), schedule the plan, run to the end, and gather
//! what the reports need: violations with seed and plan, timelines, fault markers and counters.

use std::time::Duration;

use topology::Cluster;
use topology::fault::{FaultPlan, FaultTargets, Scenario};

use crate::checks::invariant::{HeartbeatAccuracy, HeartbeatCompleteness, Violation};
use crate::checks::timeline::{Timeline, build_timelines};
use crate::engine::{
    EngineError, LogKind, NullSink, RunStats, SimConfig, SimDuration, SimTime, Simulation,
    TraceSink,
};
use crate::models::ceph;
use crate::models::etcd::{self, availability::leader_timeline};
use crate::models::heartbeat::{self, HeartbeatConfig, HeartbeatDetector};

/// Why a run could not be carried out (a failed invariant is not an error: it is in the outcome).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The engine refused the world or the plan.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The plan does not fit the cluster.
    #[error(transparent)]
    Plan(#[from] topology::fault::FaultError),
    /// The Ceph layout could not be built from the topology.
    #[error(transparent)]
    Ceph(#[from] crate::models::ceph::layout::CephError),
    /// A worker thread of `explore` panicked.
    #[error("an explore worker thread panicked; rerun with --jobs 1 to see the case")]
    WorkerPanicked,
}

/// Everything one run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The run's seed.
    pub seed: u64,
    /// Scenario name.
    pub scenario: String,
    /// The plan that was applied.
    pub plan: FaultPlan,
    /// Simulated time covered.
    pub duration: SimDuration,
    /// Event counters.
    pub stats: RunStats,
    /// Failed invariants (empty when everything held).
    pub violations: Vec<Violation>,
    /// Availability per component, by component name.
    pub timelines: Vec<Timeline>,
    /// Faults as applied: time and description, for report markers.
    pub faults: Vec<(SimTime, String)>,
    /// Figures the timelines do not show (data re-replicated, elections).
    pub facts: Vec<super::facts::Fact>,
}

impl RunOutcome {
    /// True when every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Builds the world for `cluster`: hosts, the models implemented so far, their invariants.
pub fn build_world(cluster: &Cluster, seed: u64) -> Result<Simulation, SimError> {
    let mut sim = Simulation::new(SimConfig::new(seed));
    let config = HeartbeatConfig::default();
    for host in &cluster.spec.hosts {
        let id = sim.add_host(&host.name)?;
        sim.add_actor(
            id,
            heartbeat::MODEL_NAME,
            Box::new(HeartbeatDetector::new(config)),
        )?;
    }
    sim.add_invariant(Box::new(HeartbeatCompleteness::new(
        config.detection_bound(),
    )));
    sim.add_invariant(Box::new(HeartbeatAccuracy::new(config.detection_bound())));
    etcd::add_etcd(&mut sim, cluster, &apiserver_etcd_client())?;
    if ceph::setup::cluster_has_ceph(cluster) {
        ceph::setup::add_ceph(&mut sim, cluster, &ceph::layout::CephSimConfig::default())?;
    }
    Ok(sim)
}

/// The etcd load a scenario runs: each control-plane host's apiserver stand-in issues a request
/// every 200 ms (a quiet control plane's lease renewals and status updates), enough to show
/// when writes stop and resume without making half-hour histories slow to check. It starts
/// after 3 s, once etcd has elected its first leader, as kubeadm starts the apiserver only
/// after etcd answers.
pub fn apiserver_etcd_client() -> etcd::ClientConfig {
    etcd::ClientConfig {
        think: SimDuration::from_millis(200),
        start_after: SimDuration::from_secs(3),
        ..etcd::ClientConfig::default()
    }
}

/// Runs `scenario` on `cluster` for `duration` with `seed`, writing nothing.
pub fn run_scenario(
    cluster: &Cluster,
    scenario: &Scenario,
    seed: u64,
    duration: Duration,
) -> Result<RunOutcome, SimError> {
    run_scenario_traced(cluster, scenario, seed, duration, &mut NullSink)
}

/// Runs `scenario` on `cluster` for `duration` with `seed`, sending the trace to `sink`.
pub fn run_scenario_traced(
    cluster: &Cluster,
    scenario: &Scenario,
    seed: u64,
    duration: Duration,
    sink: &mut dyn TraceSink,
) -> Result<RunOutcome, SimError> {
    scenario
        .spec
        .plan
        .validate(&FaultTargets::from_cluster(cluster))?;
    let mut sim = build_world(cluster, seed)?;
    run_world(
        &mut sim,
        &scenario.metadata.name,
        &scenario.spec.plan,
        duration,
        sink,
    )
}

/// Reruns a plan (e.g. a shrunk counterexample printed by `explore`) with its seed.
pub fn replay(
    cluster: &Cluster,
    seed: u64,
    plan: &FaultPlan,
    duration: Duration,
) -> Result<RunOutcome, SimError> {
    let scenario = Scenario::new("replay", "", duration, plan.clone());
    run_scenario(cluster, &scenario, seed, duration)
}

/// The recorded lanes plus the derived `etcd` leader lane when the world runs etcd, ordered by
/// component name.
fn all_timelines(sim: &Simulation, end: SimTime) -> Vec<Timeline> {
    let mut timelines = build_timelines(sim.log(), end);
    if sim
        .directory()
        .actors_named(etcd::MODEL_NAME)
        .next()
        .is_some()
    {
        timelines.push(leader_timeline(sim.log(), sim.directory(), end));
        timelines.sort_by(|a, b| a.component.cmp(&b.component));
    }
    timelines
}

/// Schedules `plan` on an already built world and runs it for `duration`.
pub fn run_world(
    sim: &mut Simulation,
    name: &str,
    plan: &FaultPlan,
    duration: Duration,
    sink: &mut dyn TraceSink,
) -> Result<RunOutcome, SimError> {
    sim.schedule_plan(plan)?;
    let end = SimTime::ZERO + SimDuration::from(duration);
    let stats = sim.run_until(end, sink);
    sim.finish(sink);
    let timelines = all_timelines(sim, end);
    let faults = sim
        .log()
        .iter()
        .filter_map(|e| match &e.kind {
            LogKind::Fault(f) => Some((e.time, f.to_string())),
            _ => None,
        })
        .collect();
    Ok(RunOutcome {
        seed: sim.seed(),
        scenario: name.to_owned(),
        plan: plan.clone(),
        duration: SimDuration::from(duration),
        stats,
        violations: sim.violations().to_vec(),
        facts: super::facts::facts(sim.log(), &timelines),
        timelines,
        faults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Status;

    #[test]
    fn node_failure_is_detected_and_recovers() {
        let cluster = topology::default_cluster().expect("valid default");
        let scenario = crate::scenario::named("node-failure", &cluster, 1).expect("scenario");
        let outcome =
            run_scenario(&cluster, &scenario, 1, Duration::from_secs(20 * 60)).expect("runs");
        assert!(outcome.passed(), "{:?}", outcome.violations);
        let victim = match &scenario.spec.plan.faults[0].fault {
            topology::fault::Fault::HostCrash { host } => host.clone(),
            other => panic!("{other:?}"),
        };
        let host = outcome
            .timelines
            .iter()
            .find(|t| t.component == format!("host/{victim}"))
            .expect("lane");
        let summary = host.summary();
        assert_eq!(summary.incidents, 1);
        assert_eq!(
            summary.max_time_to_recover,
            Some(SimDuration::from_secs(14 * 60))
        );
        let seen = outcome
            .timelines
            .iter()
            .find(|t| t.component == format!("heartbeat/{victim}"))
            .expect("lane");
        let down_at = seen
            .intervals
            .iter()
            .find(|i| i.status == Status::Down)
            .expect("detected")
            .start;
        let crash_at = SimTime::ZERO + SimDuration::from_secs(60);
        assert!(
            down_at > crash_at
                && down_at - crash_at <= HeartbeatConfig::default().detection_bound()
        );
        assert_eq!(seen.summary().final_status, Status::Up);
    }
}
