//! The simulation itself: hosts, actors, the network, the queue and the clock, how a world is
//! built, and the run loop. `run_until` pops the earliest event and hands it on: delivery and
//! effects are in `dispatch`, faults in `faults`, starting and killing actors in `lifecycle`,
//! the log and the invariants in `record`. Models never see more than their own events.
//! Single-threaded by design: parallelism is across seeds, never inside a run.

use std::collections::BTreeMap;

use topology::fault::{Fault, FaultPlan};

use super::address::{Address, AddressTable};
use super::connection::Connections;
use super::dispatch::Pending;
use super::lifecycle::{Actor, host_record};
use super::log::{LogEntry, Observer};
use super::model::{ActorId, Directory, Effect, Endpoint, HostId, Model, Status};
use super::queue::EventQueue;
use super::rng::{RngStreams, SimRng};
use super::time::{SimDuration, SimTime};
use super::trace::TraceSink;
use crate::checks::invariant::{Invariant, Violation};
use crate::net::{LinkConfig, Network};

/// Errors from building or driving a simulation.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EngineError {
    /// A fault names a host the simulation does not have.
    #[error("fault `{fault}` names host `{host}`, which the simulation does not have")]
    UnknownHost {
        /// The fault, as text.
        fault: String,
        /// The unknown name.
        host: String,
    },
    /// Two hosts share a name.
    #[error("host `{0}` was added twice")]
    DuplicateHost(String),
    /// Two actors with the same model on one host.
    #[error("host `{host}` already runs `{model}`")]
    DuplicateActor {
        /// Host name.
        host: String,
        /// Model name.
        model: String,
    },
    /// Hosts or actors added after the run started.
    #[error("hosts and actors must be added before the run starts")]
    AlreadyStarted,
}

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The run's seed: every random decision derives from it.
    pub seed: u64,
    /// How links behave unless set otherwise.
    pub default_link: LinkConfig,
    /// Stop at the first violation instead of running to the end.
    pub stop_on_violation: bool,
}

impl SimConfig {
    /// Defaults for `seed`: LAN links, stop at the first violation.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            default_link: LinkConfig::default(),
            stop_on_violation: true,
        }
    }
}

/// Counters for one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Events popped from the queue and handled.
    pub events: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages dropped (network or dead receiver).
    pub dropped: u64,
    /// Timers fired.
    pub timers: u64,
}

/// One deterministic simulated world.
pub struct Simulation {
    pub(super) config: SimConfig,
    pub(super) now: SimTime,
    pub(super) queue: EventQueue<Pending>,
    pub(super) directory: Directory,
    pub(super) host_index: BTreeMap<String, HostId>,
    pub(super) host_up: Vec<bool>,
    pub(super) actors: Vec<Actor>,
    pub(super) net: Network,
    /// Per flow (sender, receiver): the network's random stream for it, by sender id.
    pub(super) flow_rngs: Vec<BTreeMap<u32, SimRng>>,
    /// Addresses models claimed, and their holders.
    pub(super) addresses: AddressTable,
    /// Client ports holding connections to each server actor.
    pub(super) connections: Connections,
    pub(super) streams: RngStreams,
    pub(super) next_timer: u64,
    pub(super) effects: Vec<Effect>,
    pub(super) invariants: Vec<Box<dyn Invariant>>,
    /// Actors that carry out operator actions (drain, uncordon) wherever they run.
    pub(super) operators: Vec<ActorId>,
    pub(super) log: Vec<LogEntry>,
    pub(super) violations: Vec<Violation>,
    pub(super) stats: RunStats,
    pub(super) started: bool,
    pub(super) finished: bool,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.config.seed)
            .field("now", &self.now)
            .field("hosts", &self.directory.hosts.len())
            .field("actors", &self.actors)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Simulation {
    /// An empty world.
    pub fn new(config: SimConfig) -> Self {
        let streams = RngStreams::new(config.seed);
        Simulation {
            net: Network::new(0, config.default_link),
            flow_rngs: Vec::new(),
            addresses: AddressTable::default(),
            connections: Connections::default(),
            streams,
            config,
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            directory: Directory::default(),
            host_index: BTreeMap::new(),
            host_up: Vec::new(),
            actors: Vec::new(),
            next_timer: 0,
            effects: Vec::new(),
            invariants: Vec::new(),
            operators: Vec::new(),
            log: Vec::new(),
            violations: Vec::new(),
            stats: RunStats::default(),
            started: false,
            finished: false,
        }
    }

    /// Adds a host (up) named `name`.
    pub fn add_host(&mut self, name: &str) -> Result<HostId, EngineError> {
        if self.started {
            return Err(EngineError::AlreadyStarted);
        }
        if self.host_index.contains_key(name) {
            return Err(EngineError::DuplicateHost(name.to_owned()));
        }
        let id = self.directory.add_host(name);
        self.host_index.insert(name.to_owned(), id);
        self.host_up.push(true);
        self.net.resize(self.host_up.len());
        Ok(id)
    }

    /// Runs `model` as the process `model_name` on `host`. Its RNG stream is named after both.
    pub fn add_actor(
        &mut self,
        host: HostId,
        model_name: &str,
        model: Box<dyn Model>,
    ) -> Result<ActorId, EngineError> {
        if self.started {
            return Err(EngineError::AlreadyStarted);
        }
        let host_name = self.directory.host_name(host).to_owned();
        if self.directory.actor_on(host, model_name).is_some() {
            return Err(EngineError::DuplicateActor {
                host: host_name,
                model: model_name.to_owned(),
            });
        }
        let id = self.directory.add_actor(host, model_name);
        let name = format!("{host_name}/{model_name}");
        let rng = self.streams.stream(&format!("actor/{name}"));
        self.actors.push(Actor::new(host, name, model, rng));
        Ok(id)
    }

    /// Makes `actor` the operator's tool: it is told of operator actions (`Drain`,
    /// `Uncordon`) as well as the named host's own actors.
    pub fn add_operator(&mut self, actor: ActorId) {
        self.operators.push(actor);
    }

    /// Adds a check evaluated during and after the run.
    pub fn add_invariant(&mut self, invariant: Box<dyn Invariant>) {
        self.invariants.push(invariant);
    }

    /// The network, e.g. to set per-link latency before the run.
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// The network's current state.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Host and actor names.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The host called `name`.
    pub fn host_id(&self, name: &str) -> Option<HostId> {
        self.host_index.get(name).copied()
    }

    /// Current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Counters so far.
    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// Every fact logged so far.
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// Violations found so far.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// `host/model` name of an actor.
    pub fn actor_name(&self, actor: ActorId) -> &str {
        self.actors
            .get(actor.0 as usize)
            .map(|a| a.name.as_str())
            .unwrap_or("")
    }

    /// Schedules every fault of `plan` (times are offsets from the start of the run).
    pub fn schedule_plan(&mut self, plan: &FaultPlan) -> Result<(), EngineError> {
        for timed in plan.sorted() {
            let at = SimTime::ZERO + SimDuration::from(timed.at);
            self.schedule_fault(at, timed.fault)?;
        }
        Ok(())
    }

    /// Schedules one fault at `at`, checking the hosts it names exist.
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) -> Result<(), EngineError> {
        for host in fault.hosts() {
            if !self.host_index.contains_key(host) {
                return Err(EngineError::UnknownHost {
                    fault: fault.to_string(),
                    host: host.to_owned(),
                });
            }
        }
        self.queue.push(at.max(self.now), Pending::Fault(fault));
        Ok(())
    }

    fn start(&mut self, sink: &mut dyn TraceSink) {
        self.started = true;
        for name in self.directory.hosts.clone() {
            self.log_record(
                Observer::Engine,
                host_record(&name, Status::Up, "started"),
                sink,
            );
        }
        for i in 0..self.actors.len() {
            self.queue.push(
                SimTime::ZERO,
                Pending::Start {
                    actor: ActorId(i as u32),
                    restarted: false,
                },
            );
        }
    }

    /// Runs until the queue is empty, `end` is reached, or (if configured) a violation is found.
    /// Can be called again to go on; call [`Simulation::finish`] once at the end.
    pub fn run_until(&mut self, end: SimTime, sink: &mut dyn TraceSink) -> RunStats {
        if !self.started {
            self.start(sink);
        }
        while let Some(time) = self.queue.peek_time() {
            if time > end || self.should_stop() {
                break;
            }
            let Some((time, pending)) = self.queue.pop() else {
                break;
            };
            self.now = time;
            self.stats.events += 1;
            self.handle(pending, sink);
        }
        if !self.should_stop() {
            self.now = self.now.max(end);
        }
        self.stats
    }

    /// Asks every invariant for its end-of-run judgement (once; later calls do nothing).
    pub fn finish(&mut self, sink: &mut dyn TraceSink) {
        if self.finished || self.should_stop() {
            return;
        }
        self.finished = true;
        self.finish_invariants(sink);
    }

    fn should_stop(&self) -> bool {
        self.config.stop_on_violation && !self.violations.is_empty()
    }

    /// Actor `id`'s model as a `T`, if it is one: how a harness reads what a model recorded
    /// (a client's history, a member's log) between or after runs.
    pub fn model<T: Model>(&self, id: ActorId) -> Option<&T> {
        self.actors.get(id.0 as usize)?.model.downcast_ref::<T>()
    }

    /// Whether actor `id` is alive and running (not crashed, stopped or paused).
    pub fn actor_running(&self, id: ActorId) -> bool {
        self.actors.get(id.0 as usize).is_some_and(|a| a.running())
    }

    /// Who holds `address` now, if anyone.
    pub fn address_holder(&self, address: &Address) -> Option<Endpoint> {
        self.addresses.resolve(address)
    }

    /// Up/down per host, by host id.
    pub fn host_up(&self) -> &[bool] {
        &self.host_up
    }
}
