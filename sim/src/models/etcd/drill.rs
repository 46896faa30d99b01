//! The real-etcd fault schedule, run in the simulator: the simulated half of the etcd
//! differential test (issue 4). `provision::netns::run_fault_schedule` drives real members
//! through the same phases with the same workload; the test compares the two phase by phase.
//!
//! Phases, each `phase` long, in order: `baseline`; `kill-leader` (SIGKILL the leader, wait
//! for the survivors to elect, restart it at the end); `stop-member` (SIGSTOP the first member
//! that is not the leader, SIGCONT at the end); `cut-member` (that member's link goes down,
//! comes back at the end); `partition-member` (the fixed member `partitioned_member` loses its
//! peers in both directions but keeps its clients: a minority partition); `cut-leader` (the
//! leader's link goes down: the majority elects); `healed`. Between phases the harness waits,
//! as the real one does, until every member runs and a leader exists. Like the real schedule,
//! it picks targets by asking who leads now, so it runs the world step by step rather than
//! from a fixed plan.
//!
//! Clients: `clients` failing-over clients on hosts `client0`.. and one client on host
//! `pinned` that only ever talks to the partitioned member and only writes, all with the
//! workload of [`differential_client`], as the real schedule's etcdctl threads.

use topology::drill::{CallResult, PhaseCounts};
use topology::fault::Fault;

use super::client::{
    ClientConfig, EtcdClient, WORKLOAD_CAS_EVERY, WORKLOAD_KEYS, WORKLOAD_READ_PERCENT,
};
use super::config::EtcdSimConfig;
use super::member::EtcdMember;
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
pub const PINNED_CLIENT_HOST: &str = "pinned";

/// The differential test's client: [`WORKLOAD_READ_PERCENT`] gets, a compare-and-swap every
/// [`WORKLOAD_CAS_EVERY`]-th request when it is a write, [`WORKLOAD_KEYS`] keys, and `timeout`
/// per request (the real clients' etcdctl dial and command timeout).
pub fn differential_client(timeout: SimDuration) -> ClientConfig {
    ClientConfig {
        timeout,
        read_percent: WORKLOAD_READ_PERCENT,
        cas_every: WORKLOAD_CAS_EVERY,
        keys: WORKLOAD_KEYS,
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
    /// Length of each phase.
    pub phase: SimDuration,
    /// Concurrent failing-over workload clients (each on its own client host); one pinned
    /// client comes on top.
    pub clients: u32,
    /// What each client sends.
    pub client: ClientConfig,
    /// Position of the member the `partition-member` phase cuts off (and the pinned client
    /// talks to).
    pub partitioned_member: usize,
    /// Bound on waiting for a leader or for health.
    pub recovery_timeout: SimDuration,
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

    fn first_follower(&self, leader: usize) -> usize {
        (0..self.names.len()).find(|i| *i != leader).unwrap_or(0)
    }
}

fn stop(host: &str) -> Fault {
    Fault::ProcessStop {
        host: host.into(),
        process: super::MODEL_NAME.into(),
    }
}

fn start(host: &str) -> Fault {
    Fault::ProcessStart {
        host: host.into(),
        process: super::MODEL_NAME.into(),
    }
}

fn isolate(host: &str) -> Fault {
    Fault::Partition {
        groups: vec![vec![host.into()]],
    }
}

/// Runs the schedule with `seed`.
pub fn run_drill(seed: u64, cfg: &DrillConfig) -> Result<SimDrill, EngineError> {
    let mut sim = Simulation::new(SimConfig::new(seed));
    for m in &cfg.members {
        sim.add_host(m)?;
    }
    let client_hosts: Vec<String> = (0..cfg.clients).map(|c| format!("client{c}")).collect();
    for c in &client_hosts {
        sim.add_host(c)?;
    }
    let pinned_host = sim.add_host(PINNED_CLIENT_HOST)?;
    let member_refs: Vec<&str> = cfg.members.iter().map(String::as_str).collect();
    let client_refs: Vec<&str> = client_hosts.iter().map(String::as_str).collect();
    let mut actors =
        add_members_and_clients(&mut sim, cfg.etcd, &member_refs, &client_refs, &cfg.client)?;
    let pinned_client = sim.add_actor(
        pinned_host,
        CLIENT_MODEL_NAME,
        Box::new(EtcdClient::new(ClientConfig {
            pin_endpoint: Some(cfg.partitioned_member),
            // Writes only, so the minority phase always tests writes.
            read_percent: 0,
            ..cfg.client.clone()
        })),
    )?;
    actors.clients.push(pinned_client);
    let partitioned = cfg
        .members
        .get(cfg.partitioned_member)
        .cloned()
        .ok_or_else(|| EngineError::UnknownHost {
            fault: "partitioned member".to_owned(),
            host: format!("#{}", cfg.partitioned_member),
        })?;
    let mut h = Harness {
        sim,
        actors,
        names: cfg.members.clone(),
        recovery: cfg.recovery_timeout,
    };
    let mut phases = Vec::new();
    // Setup: like the real harness, wait for a healthy cluster before the first phase.
    h.poll(|h| h.healthy().then_some(()));

    let begin = |h: &mut Harness, name: &str| {
        let leader = h.poll(Harness::leader);
        SimPhase {
            name: name.to_owned(),
            start: h.sim.now(),
            leader_before: leader.map(|l| h.names[l].clone()),
            ..SimPhase::default()
        }
    };
    let end = |h: &mut Harness, mut p: SimPhase, phases: &mut Vec<SimPhase>| {
        h.poll(|h| h.healthy().then_some(()));
        p.end = h.sim.now();
        phases.push(p);
    };

    let p = begin(&mut h, "baseline");
    h.advance(cfg.phase);
    end(&mut h, p, &mut phases);

    for (name, cut) in [("kill-leader", false), ("cut-leader", true)] {
        if name == "cut-leader" {
            // The real schedule runs the member phases between the two leader phases.
            for (member_phase, pause) in [("stop-member", true), ("cut-member", false)] {
                let mut p = begin(&mut h, member_phase);
                let leader = h.leader().unwrap_or(0);
                let target = h.names[h.first_follower(leader)].clone();
                let at = h.sim.now();
                h.fault(if pause {
                    Fault::ProcessPause {
                        host: target.clone(),
                        process: super::MODEL_NAME.into(),
                    }
                } else {
                    isolate(&target)
                })?;
                h.run_to(at + cfg.phase);
                p.fault_window = Some((at, h.sim.now()));
                h.fault(if pause {
                    Fault::ProcessResume {
                        host: target.clone(),
                        process: super::MODEL_NAME.into(),
                    }
                } else {
                    Fault::Heal
                })?;
                p.target = Some(target);
                end(&mut h, p, &mut phases);
            }
            // The minority partition: the fixed member loses its peers, not its clients.
            let leader = h.poll(Harness::leader);
            let at = h.sim.now();
            for peer in cfg.members.iter().filter(|m| **m != partitioned) {
                h.fault(Fault::OneWay {
                    from: partitioned.clone(),
                    to: peer.clone(),
                })?;
                h.fault(Fault::OneWay {
                    from: peer.clone(),
                    to: partitioned.clone(),
                })?;
            }
            let mut p = SimPhase {
                name: "partition-member".to_owned(),
                target: Some(partitioned.clone()),
                start: h.sim.now(),
                leader_before: leader.map(|l| h.names[l].clone()),
                ..SimPhase::default()
            };
            if let Some(l) = leader.filter(|l| *l == cfg.partitioned_member)
                && let Some(n) = h.poll(|h| h.leader_among_others(l))
            {
                p.new_leader = Some(h.names[n].clone());
                p.reelection = Some(h.sim.now() - at);
            }
            h.run_to(at + cfg.phase);
            p.fault_window = Some((at, h.sim.now()));
            h.fault(Fault::Heal)?;
            end(&mut h, p, &mut phases);
        }
        let mut p = begin(&mut h, name);
        let leader = h.leader().unwrap_or(0);
        let target = h.names[leader].clone();
        let at = h.sim.now();
        h.fault(if cut { isolate(&target) } else { stop(&target) })?;
        if let Some(l) = h.poll(|h| h.leader_among_others(leader)) {
            p.new_leader = Some(h.names[l].clone());
            p.reelection = Some(h.sim.now() - at);
        }
        h.run_to(at + cfg.phase);
        p.fault_window = Some((at, h.sim.now()));
        h.fault(if cut { Fault::Heal } else { start(&target) })?;
        p.target = Some(target);
        end(&mut h, p, &mut phases);
    }

    let p = begin(&mut h, "healed");
    h.advance(cfg.phase);
    end(&mut h, p, &mut phases);
    h.sim.finish(&mut NullSink);

    let operations: Vec<_> = h
        .actors
        .clients
        .iter()
        .filter_map(|c| h.sim.model::<EtcdClient>(*c))
        .flat_map(|c| c.operations().iter().cloned())
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
