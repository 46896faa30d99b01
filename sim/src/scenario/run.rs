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
use crate::models::kube;

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
    /// The control plane could not be added.
    #[error(transparent)]
    ControlPlane(#[from] crate::models::vip::setup::VipError),
    /// A process fault names a process no simulated model runs on that host: applying it would
    /// change nothing, and a report would still list it as applied.
    #[error(
        "`{fault}` at {at}: the simulator does not model `{process}`; on {host} it runs {modelled}. \
         containerd and the Kubernetes workloads have no model yet, so a plan cannot fault them \
         in simulation (`spofless lab fault` applies them to the lab)"
    )]
    Unmodelled {
        /// The fault, as text.
        fault: String,
        /// When the plan applies it.
        at: String,
        /// The process it names.
        process: String,
        /// The host it names.
        host: String,
        /// The processes the simulation runs on that host, comma-separated (or "nothing").
        modelled: String,
    },
    /// A worker thread of `explore` panicked.
    #[error("an explore worker thread panicked; rerun with --jobs 1 to see the case")]
    WorkerPanicked,
}

/// Said in every outcome (and so in the CLI summary and the HTML report) whose plan drains or
/// uncordons a host while the world runs no Kubernetes model.
pub const KUBERNETES_NOT_MODELLED: &str = "This topology runs no Kubernetes control plane in the \
simulator (it has no API VIP or no control-plane host): Drain, Uncordon, OutOfService and \
InService only notify the simulated models, so they have no simulated effect (no pods move, no \
PodDisruptionBudget is checked).";

/// Where the plan of a run came from, so the reports can print the command that reproduces it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PlanSource {
    /// A named scenario (`sim run --scenario NAME`).
    Named {
        /// The scenario name.
        name: String,
    },
    /// A Scenario YAML file (`sim replay --plan FILE`).
    File {
        /// The path as the user gave it.
        path: String,
    },
    /// A plan that exists only in memory (e.g. built by a test); the reports include the plan.
    Unsaved,
}

/// How to reproduce a run: where its plan came from and which topology it ran on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// The plan's source.
    pub plan: PlanSource,
    /// The topology file, or `None` for the embedded default topology.
    pub topology: Option<String>,
}

/// Quotes `word` for a POSIX shell when it holds anything beyond a safe set of characters.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
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
    /// Where the plan came from and on which topology (for the replay command).
    pub origin: Origin,
    /// Simulated time covered: the requested time, or less when the run stopped at a violation.
    pub duration: SimDuration,
    /// Simulated time asked for.
    pub requested: SimDuration,
    /// When the run stopped early because an invariant failed (timelines end there).
    pub stopped_at: Option<SimTime>,
    /// Caveats about what this run could not show, for people (e.g. an unmodelled layer).
    pub notes: Vec<String>,
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

    /// The command line that reproduces this run (see [`replay_command`]).
    pub fn replay_command(&self) -> String {
        replay_command(&self.origin, self.seed, self.requested)
    }
}

/// The command line that reproduces a run of `duration` with `seed` from `origin`, e.g.
/// `spofless -t lab.yaml sim replay --plan sim-failure-7.yaml --seed 7 --duration 10m`. For an
/// unsaved plan it names `FILE.yaml`: write the plan (in the JSON and HTML reports) there as a
/// Scenario first.
pub fn replay_command(origin: &Origin, seed: u64, duration: SimDuration) -> String {
    let mut words = vec!["spofless".to_owned()];
    if let Some(topology) = &origin.topology {
        words.extend(["-t".to_owned(), shell_word(topology)]);
    }
    words.push("sim".to_owned());
    match &origin.plan {
        PlanSource::Named { name } => {
            words.extend(["run".to_owned(), "--scenario".to_owned(), shell_word(name)]);
        }
        PlanSource::File { path } => {
            words.extend(["replay".to_owned(), "--plan".to_owned(), shell_word(path)]);
        }
        PlanSource::Unsaved => {
            words.extend([
                "replay".to_owned(),
                "--plan".to_owned(),
                "FILE.yaml".to_owned(),
            ]);
        }
    }
    words.extend([
        "--seed".to_owned(),
        seed.to_string(),
        "--duration".to_owned(),
        topology::fault::span::format(Duration::from_nanos(duration.as_nanos())),
    ]);
    words.join(" ")
}

/// Builds the world for `cluster`: hosts, the models implemented so far, their invariants.
pub fn build_world(cluster: &Cluster, seed: u64) -> Result<Simulation, SimError> {
    let monitor = kube::node_lifecycle::MonitorConfig::from_topology(cluster);
    build_world_with(cluster, seed, &monitor)
}

/// [`build_world`] with the node lifecycle controller's settings given (a planted bug, a
/// threshold).
pub fn build_world_with(
    cluster: &Cluster,
    seed: u64,
    monitor: &kube::node_lifecycle::MonitorConfig,
) -> Result<Simulation, SimError> {
    let mut sim = build_heartbeat_world(cluster, seed)?;
    let etcd_config = etcd::EtcdSimConfig::from_spec(&cluster.spec.etcd);
    etcd::add_etcd(&mut sim, cluster, &apiserver_etcd_client(&etcd_config))?;
    if ceph::setup::cluster_has_ceph(cluster) {
        ceph::setup::add_ceph(&mut sim, cluster, &ceph::layout::CephSimConfig::default())?;
    }
    if kube::setup::cluster_has_control_plane(cluster) {
        kube::setup::add_control_plane_with(&mut sim, cluster, monitor)?;
    }
    Ok(sim)
}

/// One host per topology host, each running only the heartbeat detector, with its invariants:
/// the base [`build_world`] adds the etcd and Ceph models to.
pub fn build_heartbeat_world(cluster: &Cluster, seed: u64) -> Result<Simulation, SimError> {
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
    Ok(sim)
}

/// The etcd load a scenario runs: each control-plane host's apiserver stand-in (a clientv3
/// session over all members with kube-apiserver's keepalive) issues a request every 200 ms (a
/// quiet control plane's lease renewals and status updates), enough to show when writes stop
/// and resume without making half-hour histories slow to check. It starts after 3 s, once
/// etcd has elected its first leader, as kubeadm starts the apiserver only after etcd answers.
///
/// Each call may wait one second longer than etcd's own request timeout (7 s at the defaults),
/// so the member's answer reaches the stand-in: a write held for want of a leader comes back
/// as never proposed (a failed call), and only one handed to a leader that vanished stays
/// indeterminate. kube-apiserver itself waits up to its `--request-timeout` (60 s) but serves
/// many requests at once; a stand-in with one call in flight and that long a wait would stop
/// sampling the write path for a minute.
pub fn apiserver_etcd_client(etcd: &etcd::EtcdSimConfig) -> etcd::ClientConfig {
    etcd::ClientConfig {
        timeout: etcd.request_timeout() + SimDuration::from_secs(1),
        think: SimDuration::from_millis(200),
        start_after: SimDuration::from_secs(3),
        session: etcd::session::SessionConfig {
            keepalive: Some(etcd::session::Keepalive::KUBE_APISERVER),
            ..etcd::session::SessionConfig::default()
        },
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
    let mut outcome = run_world(
        &mut sim,
        &scenario.metadata.name,
        &scenario.spec.plan,
        duration,
        sink,
    )?;
    if super::NAMES.contains(&scenario.metadata.name.as_str()) {
        outcome.origin.plan = PlanSource::Named {
            name: scenario.metadata.name.clone(),
        };
    }
    Ok(outcome)
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
    }
    timelines.extend(kube::availability::leader_lanes(sim.log(), end));
    timelines.extend(kube::availability::apiserver_lanes(sim.log(), end));
    timelines.extend(kube::availability::node_lanes(sim.log(), end));
    timelines.extend(kube::availability::workload_lanes(sim.log(), end));
    timelines.extend(kube::data_path::service_lanes(sim.log(), end));
    timelines.sort_by(|a, b| a.component.cmp(&b.component));
    timelines
}

/// Caveats for a run of `plan`: drains do nothing while no model acts on them, and faults
/// that change nothing when they come (a resume of a process that is not paused) are named,
/// so a plan never says less than its author meant without a word.
fn notes(plan: &FaultPlan, kubernetes: bool) -> Vec<String> {
    let mut notes = if kubernetes {
        Vec::new()
    } else {
        kubernetes_notes(plan)
    };
    notes.extend(plan.no_ops().iter().map(ToString::to_string));
    notes
}

/// The drain caveat, while no model acts on a drain.
fn kubernetes_notes(plan: &FaultPlan) -> Vec<String> {
    let drains = plan.faults.iter().any(|f| f.fault.is_operator_action());
    if drains {
        vec![KUBERNETES_NOT_MODELLED.to_owned()]
    } else {
        Vec::new()
    }
}

/// The first process fault of `plan` that names a process the world does not run on that
/// host, as an error (the engine itself would trace it as `no-such-process` and change nothing).
fn refuse_unmodelled_processes(sim: &Simulation, plan: &FaultPlan) -> Result<(), SimError> {
    let dir = sim.directory();
    for timed in plan.sorted() {
        let Some((host, process)) = timed.fault.process_target() else {
            continue;
        };
        let Some(host_id) = sim.host_id(host) else {
            continue; // scheduling reports the unknown host
        };
        if dir.actor_on(host_id, process).is_some() {
            continue;
        }
        let running: Vec<&str> = dir
            .actors
            .iter()
            .filter(|(h, _)| *h == host_id)
            .map(|(_, model)| model.as_str())
            .collect();
        return Err(SimError::Unmodelled {
            fault: timed.fault.to_string(),
            at: SimDuration::from(timed.at).to_string(),
            process: process.to_owned(),
            host: host.to_owned(),
            modelled: if running.is_empty() {
                "nothing".to_owned()
            } else {
                running.join(", ")
            },
        });
    }
    Ok(())
}

/// Schedules `plan` on an already built world and runs it for `duration`.
pub fn run_world(
    sim: &mut Simulation,
    name: &str,
    plan: &FaultPlan,
    duration: Duration,
    sink: &mut dyn TraceSink,
) -> Result<RunOutcome, SimError> {
    refuse_unmodelled_processes(sim, plan)?;
    sim.schedule_plan(plan)?;
    let requested = SimDuration::from(duration);
    let end = SimTime::ZERO + requested;
    let stats = sim.run_until(end, sink);
    sim.finish(sink);
    // A run that stopped at a violation covers only the time up to it: nothing was simulated
    // after, so no lane may claim to know the status there.
    let stopped_at = (sim.now() < end && !sim.violations().is_empty()).then(|| sim.now());
    let covered_end = stopped_at.unwrap_or(end);
    let timelines = all_timelines(sim, covered_end);
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
        origin: Origin {
            plan: PlanSource::Unsaved,
            topology: None,
        },
        duration: covered_end.since_start(),
        requested,
        stopped_at,
        notes: notes(
            plan,
            sim.directory()
                .actors_named(kube::setup::DRAINER_MODEL)
                .next()
                .is_some(),
        ),
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
    use crate::checks::invariant::{Invariant, WorldView};
    use crate::engine::{LogEntry, Status};
    use topology::fault::{Fault, TimedFault};

    /// Fails as soon as any host crashes: a stand-in for a real invariant catching a bug.
    #[derive(Debug)]
    struct NoCrash;

    impl Invariant for NoCrash {
        fn name(&self) -> &str {
            "no-crash"
        }
        fn observe(&mut self, entry: &LogEntry, _: &WorldView<'_>) -> Option<String> {
            matches!(entry.kind, LogKind::Fault(Fault::HostCrash { .. }))
                .then(|| "a host crashed".to_owned())
        }
        fn finish(&mut self, _: SimTime, _: &WorldView<'_>) -> Option<String> {
            None
        }
    }

    fn small_world(seed: u64) -> Simulation {
        let mut sim = Simulation::new(crate::engine::SimConfig::new(seed));
        for name in ["a", "b", "c"] {
            let h = sim.add_host(name).expect("host");
            sim.add_actor(
                h,
                heartbeat::MODEL_NAME,
                Box::new(HeartbeatDetector::new(HeartbeatConfig::default())),
            )
            .expect("actor");
        }
        sim
    }

    #[test]
    fn a_stopped_run_ends_its_timelines_and_report_at_the_violation() {
        let mut sim = small_world(3);
        sim.add_invariant(Box::new(NoCrash));
        let plan = FaultPlan::new(vec![TimedFault {
            at: Duration::from_secs(20),
            fault: Fault::HostCrash { host: "b".into() },
        }]);
        let outcome = run_world(
            &mut sim,
            "stops",
            &plan,
            Duration::from_secs(600),
            &mut NullSink,
        )
        .expect("runs");
        let stop = SimTime::ZERO + SimDuration::from_secs(20);
        assert_eq!(outcome.stopped_at, Some(stop));
        assert_eq!(outcome.duration, SimDuration::from_secs(20));
        assert_eq!(outcome.requested, SimDuration::from_secs(600));
        assert!(!outcome.timelines.is_empty());
        for timeline in &outcome.timelines {
            let last = timeline.intervals.last().expect("an interval");
            assert_eq!(last.end, stop, "{} ends at the stop", timeline.component);
        }
        let html = crate::report::html::render(&outcome);
        assert!(
            html.contains("The run stopped at t+20s, at the first violation"),
            "{html}"
        );
        // The plan is in no file, so the report carries it.
        assert!(html.contains("id=\"plan\""), "{html}");
        assert!(html.contains("type: HostCrash"), "{html}");
    }

    #[test]
    fn a_run_that_holds_covers_the_requested_time() {
        let mut sim = small_world(3);
        let outcome = run_world(
            &mut sim,
            "holds",
            &FaultPlan::default(),
            Duration::from_secs(30),
            &mut NullSink,
        )
        .expect("runs");
        assert_eq!(outcome.stopped_at, None);
        assert_eq!(outcome.duration, SimDuration::from_secs(30));
        assert!(!crate::report::html::render(&outcome).contains("id=\"stopped\""));
    }

    #[test]
    fn the_replay_command_names_the_plan_file_and_a_non_default_topology() {
        let mut sim = small_world(9);
        let mut outcome = run_world(
            &mut sim,
            "explore-case-4",
            &FaultPlan::default(),
            Duration::from_secs(90),
            &mut NullSink,
        )
        .expect("runs");
        assert_eq!(
            outcome.replay_command(),
            "spofless sim replay --plan FILE.yaml --seed 9 --duration 1m30s"
        );
        outcome.origin = Origin {
            plan: PlanSource::File {
                path: "out/sim failure.yaml".into(),
            },
            topology: Some("lab.yaml".into()),
        };
        let command = outcome.replay_command();
        assert_eq!(
            command,
            "spofless -t lab.yaml sim replay --plan 'out/sim failure.yaml' --seed 9 --duration 1m30s"
        );
        let html = crate::report::html::render(&outcome);
        assert!(
            html.contains(&crate::report::html::escape(&command)),
            "{html}"
        );
        assert!(!html.contains("sim run --scenario"), "{html}");
        assert!(!html.contains("id=\"plan\""), "the plan is in its file");
    }

    #[test]
    fn node_drain_drains_and_says_so_only_without_a_control_plane() {
        let cluster = topology::default_cluster().expect("valid default");
        let scenario = crate::scenario::named("node-drain", &cluster, 1).expect("scenario");
        let outcome =
            run_scenario(&cluster, &scenario, 1, Duration::from_secs(11 * 60)).expect("runs");
        assert!(outcome.notes.is_empty(), "{:?}", outcome.notes);
        let drained = outcome
            .facts
            .iter()
            .find(|f| f.name.starts_with("node "))
            .expect("the drained node's story");
        assert!(
            drained.value.contains("cordoned at") && drained.value.contains("drained at"),
            "{drained:?}"
        );
        // Without an API VIP the world runs no control plane: the drain does nothing, and the
        // run says so.
        let mut bare = cluster.clone();
        bare.spec.api_endpoint.method = topology::ApiEndpointMethod::None;
        let outcome =
            run_scenario(&bare, &scenario, 1, Duration::from_secs(11 * 60)).expect("runs");
        assert_eq!(outcome.notes, [KUBERNETES_NOT_MODELLED]);
        let html = crate::report::html::render(&outcome);
        assert!(html.contains("runs no Kubernetes control plane"), "{html}");
        assert_eq!(
            outcome.replay_command(),
            "spofless sim run --scenario node-drain --seed 1 --duration 11m"
        );
        // A plan without drains carries no such note.
        let other = crate::scenario::named("node-failure", &cluster, 1).expect("scenario");
        let outcome = run_scenario(&cluster, &other, 1, Duration::from_secs(90)).expect("runs");
        assert!(outcome.notes.is_empty(), "{:?}", outcome.notes);
    }

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
        // The node's story is a fact, in the JSON and the HTML report alike.
        let story = outcome
            .facts
            .iter()
            .find(|f| f.name == format!("node {victim}"))
            .expect("node fact");
        for step in [
            "Unknown at",
            "tainted unreachable:NoExecute",
            "pods evicted",
            "Ready at",
        ] {
            assert!(story.value.contains(step), "{}", story.value);
        }
        let html = crate::report::html::render(&outcome);
        assert!(
            html.contains(&crate::report::html::escape(&story.value)),
            "the HTML report lists the facts"
        );
    }
}
