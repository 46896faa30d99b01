//! Must-show: property testing over random fault plans finds a bug planted in a test-only model
//! and shrinks the plan to a minimal one. The model acknowledges a write every second and is
//! supposed to keep acknowledged writes on disk; the planted bug wipes them on crash. Only a
//! crash followed by a restart of the same host, after the first acknowledgement, exposes it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sim::checks::invariant::{Invariant, Violation, WorldView};
use sim::engine::{
    Ctx, Event, Fact, LogEntry, LogKind, Model, NullSink, Observer, Record, SimConfig, SimDuration,
    SimTime, Simulation, fact_json,
};
use sim::models::etcd::EtcdLeader;
use sim::models::etcd::checks::SingleLeaderPerTerm;
use sim::scenario::run::{SimError, run_world};
use sim::scenario::{ExploreConfig, explore_with};
use topology::fault::{Fault, FaultPlan, FaultTargets, HostTargets, TimedFault};

const HOSTS: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];
const WRITE_EVERY: SimDuration = SimDuration::from_secs(1);

/// What the register states: writes acknowledged so far, or recovered after a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
enum Register {
    Acked(u64),
    Recovered(u64),
}

impl Fact for Register {
    fn kind(&self) -> &'static str {
        "test/register"
    }
    fn to_json(&self) -> serde_json::Value {
        fact_json(self)
    }
}

/// Acknowledges one write per second; `durable` should survive crashes.
#[derive(Debug, Default)]
struct BuggyRegister {
    durable: u64,
    /// False gives the correct model, for the control test.
    planted_bug: bool,
}

impl Model for BuggyRegister {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { restarted } => {
                if restarted {
                    ctx.fact(Register::Recovered(self.durable));
                }
                ctx.set_timer(WRITE_EVERY, 0);
            }
            Event::Timer { .. } => {
                self.durable += 1;
                ctx.fact(Register::Acked(self.durable));
                ctx.set_timer(WRITE_EVERY, 0);
            }
            Event::Message { .. }
            | Event::Refused { .. }
            | Event::Closed { .. }
            | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        if self.planted_bug {
            // The planted bug: durable state is treated as volatile.
            self.durable = 0;
        }
    }
}

/// No acknowledged write is lost: what a register recovers is at least what it acknowledged.
#[derive(Debug, Default)]
struct NoAckedWriteLost {
    acked: BTreeMap<Observer, u64>,
}

impl Invariant for NoAckedWriteLost {
    fn name(&self) -> &str {
        "no-acked-write-lost"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        let LogKind::Record {
            observer,
            record: Record::Fact(fact),
        } = &entry.kind
        else {
            return None;
        };
        match fact.get::<Register>()? {
            Register::Acked(value) => {
                self.acked.insert(*observer, *value);
                None
            }
            Register::Recovered(value) => {
                let acked = self.acked.get(observer).copied().unwrap_or(0);
                (*value < acked).then(|| {
                    format!("{observer:?} acknowledged {acked} writes but recovered {value}")
                })
            }
        }
    }

    fn finish(&mut self, _end: SimTime, _world: &WorldView<'_>) -> Option<String> {
        None
    }
}

fn check(seed: u64, plan: &FaultPlan) -> Result<Vec<Violation>, SimError> {
    check_model(seed, plan, true)
}

fn check_model(seed: u64, plan: &FaultPlan, planted_bug: bool) -> Result<Vec<Violation>, SimError> {
    let mut sim = Simulation::new(SimConfig::new(seed));
    for name in HOSTS {
        let host = sim.add_host(name)?;
        sim.add_actor(
            host,
            "register",
            Box::new(BuggyRegister {
                durable: 0,
                planted_bug,
            }),
        )?;
    }
    sim.add_invariant(Box::new(NoAckedWriteLost::default()));
    Ok(run_world(
        &mut sim,
        "planted-bug",
        plan,
        Duration::from_secs(10),
        &mut NullSink,
    )?
    .violations)
}

fn targets() -> FaultTargets {
    let mut targets = FaultTargets::default();
    for name in HOSTS {
        targets.hosts.insert(
            name.to_owned(),
            HostTargets {
                disks: vec!["/dev/vdb".into()],
                processes: vec!["register".into()],
            },
        );
    }
    targets
}

#[test]
fn explore_finds_and_shrinks_the_planted_bug() {
    let config = ExploreConfig {
        cases: 500,
        seed: 2024,
        jobs: 2,
        duration: Duration::from_secs(10),
        max_faults: 8,
    };
    let outcome = explore_with(&targets(), &config, &check, &|_| {}).expect("explore runs");
    let failure = outcome.failure.expect("the planted bug is found");
    eprintln!(
        "case {} seed {} after {} cases; original {} faults, shrunk in {} steps to:\n{}",
        failure.case,
        failure.seed,
        outcome.cases_run,
        failure.original.faults.len(),
        failure.shrink_steps,
        failure
            .shrunk
            .sorted()
            .iter()
            .map(|f| format!("  {f}\n"))
            .collect::<String>()
    );
    let shrunk = failure.shrunk.sorted();
    assert_eq!(
        shrunk.len(),
        2,
        "minimal plan has exactly two faults: {shrunk:?}"
    );
    // A stop/start of the process exposes the bug just as a host crash/restart does.
    let (first_host, second_host) = match (&shrunk[0].fault, &shrunk[1].fault) {
        (Fault::HostCrash { host: a }, Fault::HostRestart { host: b }) => (a, b),
        (Fault::ProcessStop { host: a, .. }, Fault::ProcessStart { host: b, .. }) => (a, b),
        other => panic!("unexpected minimal plan {other:?}"),
    };
    assert_eq!(first_host, second_host);
    // The earliest crash that loses an acknowledged write is just after the first ack at 1 s.
    assert_eq!(
        shrunk[0].at,
        Duration::from_millis(1100),
        "crash time shrinks to the first failing instant"
    );
    assert!(!failure.violations.is_empty());
    // 1-minimal: dropping either fault, or crashing 100 ms earlier, makes the bug disappear.
    for drop in 0..2 {
        let smaller = FaultPlan::new(
            shrunk
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != drop)
                .map(|(_, f)| f.clone())
                .collect(),
        );
        assert!(
            check(failure.seed, &smaller).expect("runs").is_empty(),
            "still fails without fault {drop}"
        );
    }
    let mut earlier = shrunk.clone();
    earlier[0] = TimedFault {
        at: Duration::from_millis(1000),
        fault: earlier[0].fault.clone(),
    };
    earlier[1].at = earlier[1].at.max(earlier[0].at);
    assert!(
        check(failure.seed, &FaultPlan::new(earlier))
            .expect("runs")
            .is_empty()
    );
    // Replaying the shrunk plan with the printed seed reproduces the violation.
    assert_eq!(
        check(failure.seed, &failure.shrunk).expect("runs"),
        failure.violations
    );
}

#[test]
fn a_correct_model_passes_every_case() {
    let config = ExploreConfig {
        cases: 100,
        seed: 7,
        jobs: 2,
        duration: Duration::from_secs(10),
        max_faults: 8,
    };
    let correct = |seed: u64, plan: &FaultPlan| check_model(seed, plan, false);
    let outcome = explore_with(&targets(), &config, &correct, &|_| {}).expect("explore runs");
    assert_eq!(outcome.cases_run, 100);
    assert!(outcome.failure.is_none());
}

/// A planted bug in leader election: every member declares itself leader of `term` at start,
/// as a member that skipped the vote would. The typed `EtcdLeader` fact reaches
/// `SingleLeaderPerTerm` through the engine's log.
#[derive(Debug)]
struct SelfElected {
    term: u64,
}

impl Model for SelfElected {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        if let Event::Start { .. } = event {
            let host = ctx.directory().host_name(ctx.host()).to_owned();
            ctx.fact(EtcdLeader {
                host,
                term: self.term,
            });
        }
    }
    fn on_crash(&mut self) {}
}

fn self_elected(terms: &[u64]) -> Vec<Violation> {
    let mut sim = Simulation::new(SimConfig::new(1));
    for (i, term) in terms.iter().enumerate() {
        let host = sim.add_host(HOSTS[i]).expect("host");
        sim.add_actor(host, "etcd", Box::new(SelfElected { term: *term }))
            .expect("actor");
    }
    sim.add_invariant(Box::new(SingleLeaderPerTerm::default()));
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(1), &mut NullSink);
    sim.finish(&mut NullSink);
    sim.violations().to_vec()
}

#[test]
fn single_leader_per_term_fires_on_two_leaders_of_one_term() {
    let found = self_elected(&[4, 4]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].invariant, "etcd-single-leader-per-term");
    assert_eq!(
        found[0].message,
        "n2 became leader in term 4, which n1 already leads"
    );
    // Control: one leader per term is fine.
    assert!(self_elected(&[4, 5]).is_empty());
}
