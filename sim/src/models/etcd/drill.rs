//! A drill phase plan (`topology::drill::PhasePlan`), run in the simulator: the simulated half
//! of the etcd differential test. `provision::drill::run_fault_schedule` walks the same plan
//! on real members with the same workload; the test compares the two phase by phase.
//!
//! Each phase, as the real runner does it: note the leader, resolve the phase's target (the
//! leader, the first follower, a fixed member), apply its fault (kill: the process stops;
//! pause; link cut: the host is isolated; cut from peers: one-way blocks to and from every
//! other member, its clients still reaching it), time a re-election when the fault took the
//! leader away, repair at the end of the phase, then wait until every member runs, a leader
//! exists and every member has applied close to the leader's commit index. Like the real
//! runner, it picks targets by asking who leads now, so it runs the world step by step.
//!
//! Clients: `clients` failing-over clients on hosts `client0`.. and one client on host
//! `pinned` that only ever talks to the partitioned member and only writes, all with the
//! workload of [`differential_client`], as the real schedule's etcdctl threads.

use topology::drill::{CallResult, PINNED_CLIENT, PhaseCounts, PhaseFault, PhasePlan, client_name};
use topology::fault::Fault;

use super::client::{
    ClientConfig, EtcdClient, WORKLOAD_CAS_EVERY, WORKLOAD_KEYS, WORKLOAD_READ_PERCENT,
};
use super::config::EtcdSimConfig;
use super::member::EtcdMember;
use super::session::{Balancer, SessionConfig};
use super::{CLIENT_MODEL_NAME, EtcdActors, add_members_and_clients};
use crate::checks::linearizability::{History, Outcome};
use crate::engine::{EngineError, NullSink, SimConfig, SimDuration, SimTime, Simulation};

/// Granularity at which the harness looks at the cluster (the real one polls every 50 ms).
const POLL: SimDuration = SimDuration::from_millis(10);

/// How far a member's applied index may trail the leader's commit index for the harness to
/// call it healthy. The real harness's `etcdctl endpoint health` does a linearizable get on
/// each member, which answers once that member has applied up to the leader's commit index at
/// the time of the read; a few entries still in flight (the workload keeps writing) do not
/// make it unhealthy. Five is about what two clients write in one round trip plus an apply.
const HEALTH_APPLY_SLACK: u64 = 5;

/// Host of the client pinned to the partitioned member.
pub const PINNED_CLIENT_HOST: &str = PINNED_CLIENT;

/// The differential test's client: [`WORKLOAD_READ_PERCENT`] gets, a compare-and-swap every
/// [`WORKLOAD_CAS_EVERY`]-th request when it is a write, [`WORKLOAD_KEYS`] keys, and `timeout`
/// per request (the real clients' etcdctl dial and command timeout).
pub fn differential_client(timeout: SimDuration) -> ClientConfig {
    ClientConfig {
        timeout,
        read_percent: WORKLOAD_READ_PERCENT,
        cas_every: WORKLOAD_CAS_EVERY,
        keys: WORKLOAD_KEYS,
        session: SessionConfig {
            balancer: Balancer::FailoverOnError,
            ..SessionConfig::default()
        },
        ..ClientConfig::default()
    }
}

/// How the simulated schedule runs.
#[derive(Clone, Debug)]
pub struct DrillConfig {
    /// Member names, in member order.
    pub members: Vec<String>,
    /// Raft timings.
    pub etcd: EtcdSimConfig,
    /// The phases, their length and the bound on waiting for a leader or for health.
    pub plan: PhasePlan,
    /// Concurrent failing-over workload clients (each on its own client host); one pinned
    /// client comes on top.
    pub clients: u32,
    /// What each client sends.
    pub client: ClientConfig,
}

/// How the drill counts a simulated call (as the real schedule counts its recorded ones).
fn call_result(outcome: &Outcome) -> CallResult {
    match outcome {
        Outcome::Ok(_) => CallResult::Ok,
        Outcome::Failed => CallResult::Failed,
        Outcome::Indeterminate => CallResult::Indeterminate,
    }
}

/// What one phase did, in the shape of the real schedule's `PhaseOutcome`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimPhase {
    /// Phase name.
    pub name: String,
    /// The member the fault hit.
    pub target: Option<String>,
    /// Start.
    pub start: SimTime,
    /// End.
    pub end: SimTime,
    /// Leader when the phase began.
    pub leader_before: Option<String>,
    /// New leader after the fault, when it forced an election.
    pub new_leader: Option<String>,
    /// From the fault to the first poll that shows a new leader.
    pub reelection: Option<SimDuration>,
    /// The failing-over clients' calls.
    pub counts: PhaseCounts,
    /// The pinned client's calls.
    pub pinned: PhaseCounts,
    /// From the fault to its repair, for phases with a fault.
    pub fault_window: Option<(SimTime, SimTime)>,
    /// The pinned client's calls sent while the fault was in force; one answered only after
    /// the repair counts as indeterminate.
    pub pinned_during_fault: PhaseCounts,
}

/// The simulated schedule's result.
#[derive(Debug)]
pub struct SimDrill {
    /// Per phase, in order.
    pub phases: Vec<SimPhase>,
    /// Every client call.
    pub history: History,
    /// The world after the run (for its invariant violations and log).
    pub sim: Simulation,
}

struct Harness {
    sim: Simulation,
    actors: EtcdActors,
    names: Vec<String>,
    recovery: SimDuration,
}

impl Harness {
    fn member(&self, i: usize) -> Option<&EtcdMember> {
        self.sim.model::<EtcdMember>(self.actors.members[i])
    }

    fn leader(&self) -> Option<usize> {
        (0..self.names.len())
            .filter(|i| self.sim.actor_running(self.actors.members[*i]))
            .filter(|i| self.member(*i).is_some_and(EtcdMember::is_leader))
            .max_by_key(|i| self.member(*i).and_then(EtcdMember::term))
    }

    /// Leader as the members other than `excluded` report it.
    fn leader_among_others(&self, excluded: usize) -> Option<usize> {
        let reported: Vec<u64> = (0..self.names.len())
            .filter(|i| *i != excluded && self.sim.actor_running(self.actors.members[*i]))
            .filter_map(|i| self.member(i)?.leader_id())
            .filter(|id| *id != 0)
            .collect();
        let id = *reported.first()?;
        let i = usize::try_from(id).ok()?.checked_sub(1)?;
        (i != excluded && self.member(i).is_some_and(EtcdMember::is_leader)).then_some(i)
    }

    fn advance(&mut self, by: SimDuration) {
        let end = self.sim.now() + by;
        self.sim.run_until(end, &mut NullSink);
    }

    fn run_to(&mut self, t: SimTime) {
        if t > self.sim.now() {
            self.sim.run_until(t, &mut NullSink);
        }
    }

    /// Polls until `found` answers, at most the recovery timeout.
    fn poll<T>(&mut self, found: impl Fn(&Harness) -> Option<T>) -> Option<T> {
        let deadline = self.sim.now() + self.recovery;
        while self.sim.now() < deadline {
            if let Some(v) = found(self) {
                return Some(v);
            }
            self.advance(POLL);
        }
        found(self)
    }

    fn healthy(&self) -> bool {
        let all_running = self
            .actors
            .members
            .iter()
            .all(|m| self.sim.actor_running(*m));
        let Some(l) = self.leader() else { return false };
        let commit = self.member(l).map_or(0, |m| m.durable_hard_state().commit);
        all_running
            && (0..self.names.len()).all(|i| {
                self.member(i)
                    .is_some_and(|m| m.applied() + HEALTH_APPLY_SLACK >= commit)
            })
    }

    fn fault(&mut self, fault: Fault) -> Result<(), EngineError> {
        let now = self.sim.now();
        self.sim.schedule_fault(now, fault)?;
        // Apply it before anything else happens at this instant.
        self.sim.run_until(now, &mut NullSink);
        Ok(())
    }
}

fn process(host: &str) -> (String, String) {
    (host.to_owned(), super::MODEL_NAME.to_owned())
}

/// The engine faults that apply `fault` to `target` among `members`.
fn apply(fault: PhaseFault, target: &str, members: &[String]) -> Vec<Fault> {
    let (host, process) = process(target);
    match fault {
        PhaseFault::Kill(_) => vec![Fault::ProcessStop { host, process }],
        PhaseFault::Pause(_) => vec![Fault::ProcessPause { host, process }],
        PhaseFault::CutLink(_) => vec![Fault::Partition {
            groups: vec![vec![host]],
        }],
        PhaseFault::CutFromPeers(_) => members
            .iter()
            .filter(|m| *m != target)
            .flat_map(|peer| {
                [
                    Fault::OneWay {
                        from: target.to_owned(),
                        to: peer.clone(),
                    },
                    Fault::OneWay {
                        from: peer.clone(),
                        to: target.to_owned(),
                    },
                ]
            })
            .collect(),
    }
}

/// The engine fault that repairs `fault` on `target`.
fn repair(fault: PhaseFault, target: &str) -> Fault {
    let (host, process) = process(target);
    match fault {
        PhaseFault::Kill(_) => Fault::ProcessStart { host, process },
        PhaseFault::Pause(_) => Fault::ProcessResume { host, process },
        PhaseFault::CutLink(_) | PhaseFault::CutFromPeers(_) => Fault::Heal,
    }
}

/// Runs the schedule with `seed`.
pub fn run_drill(seed: u64, cfg: &DrillConfig) -> Result<SimDrill, EngineError> {
    let mut sim = Simulation::new(SimConfig::new(seed));
    for m in &cfg.members {
        sim.add_host(m)?;
    }
    let client_hosts: Vec<String> = (0..cfg.clients)
        .map(|c| client_name(c, cfg.clients))
        .collect();
    for c in &client_hosts {
        sim.add_host(c)?;
    }
    let pinned_host = sim.add_host(PINNED_CLIENT_HOST)?;
    let member_refs: Vec<&str> = cfg.members.iter().map(String::as_str).collect();
    let client_refs: Vec<&str> = client_hosts.iter().map(String::as_str).collect();
    let mut actors =
        add_members_and_clients(&mut sim, cfg.etcd, &member_refs, &client_refs, &cfg.client)?;
    let partitioned_member = cfg.plan.partitioned_member().unwrap_or(0);
    let pinned_client = sim.add_actor(
        pinned_host,
        CLIENT_MODEL_NAME,
        Box::new(EtcdClient::new(ClientConfig {
            pin_endpoint: Some(partitioned_member),
            // Writes only, so the minority phase always tests writes.
            read_percent: 0,
            ..cfg.client.clone()
        })),
    )?;
    actors.clients.push(pinned_client);
    if partitioned_member >= cfg.members.len() {
        return Err(EngineError::UnknownHost {
            fault: "partitioned member".to_owned(),
            host: format!("#{partitioned_member}"),
        });
    }
    let phase_len = SimDuration::from(cfg.plan.phase);
    let mut h = Harness {
        sim,
        actors,
        names: cfg.members.clone(),
        recovery: SimDuration::from(cfg.plan.recovery_timeout),
    };
    let mut phases = Vec::new();
    // Setup: like the real harness, wait for a healthy cluster before the first phase.
    h.poll(|h| h.healthy().then_some(()));

    for phase in &cfg.plan.phases {
        let leader = h.poll(Harness::leader);
        let mut p = SimPhase {
            name: phase.name.clone(),
            start: h.sim.now(),
            leader_before: leader.map(|l| h.names[l].clone()),
            ..SimPhase::default()
        };
        if let Some(fault) = phase.fault {
            let leader = leader.unwrap_or(0);
            let target = fault
                .target()
                .resolve(Some(leader), h.names.len())
                .unwrap_or(0);
            let name = h.names[target].clone();
            let at = h.sim.now();
            for f in apply(fault, &name, &cfg.members) {
                h.fault(f)?;
            }
            if fault.starts_after_fault() {
                p.start = h.sim.now();
            }
            if target == leader
                && let Some(n) = h.poll(|h| h.leader_among_others(leader))
            {
                p.new_leader = Some(h.names[n].clone());
                p.reelection = Some(h.sim.now() - at);
            }
            h.run_to(at + phase_len);
            p.fault_window = Some((at, h.sim.now()));
            h.fault(repair(fault, &name))?;
            p.target = Some(name);
        } else {
            h.advance(phase_len);
        }
        h.poll(|h| h.healthy().then_some(()));
        p.end = h.sim.now();
        phases.push(p);
    }
    h.sim.finish(&mut NullSink);

    let operations: Vec<_> = h
        .actors
        .clients
        .iter()
        .filter_map(|c| h.sim.model::<EtcdClient>(*c))
        .flat_map(|c| c.calls())
        .collect();
    for p in &mut phases {
        for o in operations
            .iter()
            .filter(|o| o.call_time >= p.start.as_nanos() && o.call_time < p.end.as_nanos())
        {
            let counts = if o.client == pinned_client.0 {
                &mut p.pinned
            } else {
                &mut p.counts
            };
            counts.add(o.may_write(), call_result(&o.outcome));
            if o.client == pinned_client.0
                && let Some((from, to)) = p.fault_window
                && (from.as_nanos()..to.as_nanos()).contains(&o.call_time)
            {
                // An answer after the repair is no answer during the fault.
                let late = o.return_time.is_none_or(|r| r > to.as_nanos());
                let result = match call_result(&o.outcome) {
                    CallResult::Ok if late => CallResult::Indeterminate,
                    other => other,
                };
                p.pinned_during_fault.add(o.may_write(), result);
            }
        }
    }
    Ok(SimDrill {
        phases,
        history: History::new(operations),
        sim: h.sim,
    })
}
