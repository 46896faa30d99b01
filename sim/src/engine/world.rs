//! The simulation itself: hosts, actors, the network, the queue and the clock. `run_until`
//! pops the earliest event, hands it to the one actor it concerns, and carries out the effects
//! that actor returned. Crashes, restarts, pauses and network faults are applied here, so
//! models never see more than their own events. Single-threaded by design: parallelism is across
//! seeds, never inside a run.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use topology::fault::{Fault, FaultPlan};

use super::log::{LogEntry, LogKind, Observer};
use super::model::{
    ActorId, Ctx, Directory, Effect, Event, HostId, Message, Model, Record, Status, TimerId,
};
use super::queue::EventQueue;
use super::rng::{RngStreams, SimRng};
use super::time::{SimDuration, SimTime};
use super::trace::{TraceEvent, TraceSink};
use crate::checks::invariant::{Invariant, Violation, WorldView};
use crate::net::{LinkConfig, Network, Verdict, loss_to_ppb};

/// Name of the network's random stream.
const NET_STREAM: &str = "net";

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proc {
    Running,
    Stopped,
    Paused,
}

enum Pending {
    Start {
        actor: ActorId,
        restarted: bool,
    },
    Deliver {
        from: ActorId,
        to: ActorId,
        incarnation: u32,
        msg: Box<dyn Message>,
    },
    Timer {
        actor: ActorId,
        id: TimerId,
        tag: u64,
    },
    Fault(Fault),
    Notify {
        actor: ActorId,
        fault: Fault,
    },
}

struct Actor {
    host: HostId,
    name: String,
    model: Box<dyn Model>,
    rng: SimRng,
    proc: Proc,
    alive: bool,
    incarnation: u32,
    armed: BTreeSet<TimerId>,
    deferred: VecDeque<Pending>,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("name", &self.name)
            .field("proc", &self.proc)
            .field("alive", &self.alive)
            .finish()
    }
}

/// One deterministic simulated world.
pub struct Simulation {
    config: SimConfig,
    now: SimTime,
    queue: EventQueue<Pending>,
    directory: Directory,
    host_index: BTreeMap<String, HostId>,
    host_up: Vec<bool>,
    actors: Vec<Actor>,
    net: Network,
    net_rng: SimRng,
    streams: RngStreams,
    next_timer: u64,
    effects: Vec<Effect>,
    invariants: Vec<Box<dyn Invariant>>,
    log: Vec<LogEntry>,
    violations: Vec<Violation>,
    stats: RunStats,
    started: bool,
    finished: bool,
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
            net_rng: streams.stream(NET_STREAM),
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
        self.actors.push(Actor {
            host,
            name,
            model,
            rng,
            proc: Proc::Running,
            alive: false,
            incarnation: 0,
            armed: BTreeSet::new(),
            deferred: VecDeque::new(),
        });
        Ok(id)
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

    fn handle(&mut self, pending: Pending, sink: &mut dyn TraceSink) {
        match pending {
            Pending::Start { actor, restarted } => self.start_actor(actor, restarted, sink),
            Pending::Fault(fault) => self.apply_fault(fault, sink),
            other => {
                let actor = match &other {
                    Pending::Deliver { to, .. } => *to,
                    Pending::Timer { actor, .. } | Pending::Notify { actor, .. } => *actor,
                    Pending::Start { .. } | Pending::Fault(_) => return,
                };
                self.deliver(actor, other, sink);
            }
        }
    }

    /// Hands a message, timer or fault notice to its actor (or defers or drops it).
    fn deliver(&mut self, id: ActorId, pending: Pending, sink: &mut dyn TraceSink) {
        let Some(actor) = self.actors.get_mut(id.0 as usize) else {
            return;
        };
        match &pending {
            Pending::Timer { id: timer, .. } if !actor.armed.contains(timer) => return,
            Pending::Deliver {
                from,
                incarnation,
                msg,
                ..
            } if !actor.alive || *incarnation != actor.incarnation => {
                self.stats.dropped += 1;
                if sink.wants_messages() {
                    let from_name = self
                        .actors
                        .get(from.0 as usize)
                        .map(|a| a.name.as_str())
                        .unwrap_or("");
                    let to_name = self
                        .actors
                        .get(id.0 as usize)
                        .map(|a| a.name.as_str())
                        .unwrap_or("");
                    sink.event(&TraceEvent::Drop {
                        t: self.now.as_nanos(),
                        from: from_name,
                        to: to_name,
                        msg: msg.kind(),
                        reason: "receiver-down",
                    });
                }
                return;
            }
            _ => {}
        }
        if !actor.alive {
            return;
        }
        if actor.proc == Proc::Paused {
            actor.deferred.push_back(pending);
            return;
        }
        self.dispatch(id, pending, sink);
    }

    fn dispatch(&mut self, id: ActorId, pending: Pending, sink: &mut dyn TraceSink) {
        let now = self.now;
        let t = now.as_nanos();
        let Some(actor) = self.actors.get_mut(id.0 as usize) else {
            return;
        };
        let mut ctx = Ctx::new(
            now,
            id,
            actor.host,
            &mut actor.rng,
            &self.directory,
            &mut self.effects,
            &mut self.next_timer,
        );
        match &pending {
            Pending::Deliver { from, msg, .. } => {
                self.stats.delivered += 1;
                actor.model.handle(
                    &mut ctx,
                    Event::Message {
                        from: *from,
                        msg: msg.as_ref(),
                    },
                );
            }
            Pending::Timer { id: timer, tag, .. } => {
                self.stats.timers += 1;
                actor.armed.remove(timer);
                actor.model.handle(
                    &mut ctx,
                    Event::Timer {
                        id: *timer,
                        tag: *tag,
                    },
                );
            }
            Pending::Notify { fault, .. } => actor.model.handle(&mut ctx, Event::Fault(fault)),
            Pending::Start { restarted, .. } => actor.model.handle(
                &mut ctx,
                Event::Start {
                    restarted: *restarted,
                },
            ),
            Pending::Fault(_) => {}
        }
        if sink.wants_messages() {
            let me = self.actors[id.0 as usize].name.as_str();
            match &pending {
                Pending::Deliver { from, msg, .. } => sink.event(&TraceEvent::Deliver {
                    t,
                    from: self
                        .actors
                        .get(from.0 as usize)
                        .map(|a| a.name.as_str())
                        .unwrap_or(""),
                    to: me,
                    msg: msg.kind(),
                    body: format!("{msg:?}"),
                }),
                Pending::Timer { tag, .. } => sink.event(&TraceEvent::Timer {
                    t,
                    actor: me,
                    tag: *tag,
                }),
                _ => {}
            }
        }
        self.apply_effects(id, sink);
    }

    fn apply_effects(&mut self, id: ActorId, sink: &mut dyn TraceSink) {
        let mut effects = std::mem::take(&mut self.effects);
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, msg } => self.send(id, to, msg, sink),
                Effect::SetTimer {
                    id: timer,
                    after,
                    tag,
                } => {
                    if let Some(actor) = self.actors.get_mut(id.0 as usize) {
                        actor.armed.insert(timer);
                        self.queue.push(
                            self.now + after,
                            Pending::Timer {
                                actor: id,
                                id: timer,
                                tag,
                            },
                        );
                    }
                }
                Effect::CancelTimer { id: timer } => {
                    if let Some(actor) = self.actors.get_mut(id.0 as usize) {
                        actor.armed.remove(&timer);
                    }
                }
                Effect::Record(record) => self.log_record(Observer::from(id), record, sink),
            }
        }
        // Give the buffer back so the next handler reuses its allocation.
        self.effects = effects;
    }

    fn send(
        &mut self,
        from: ActorId,
        to: ActorId,
        msg: Box<dyn Message>,
        sink: &mut dyn TraceSink,
    ) {
        let (Some(sender), Some(receiver)) = (
            self.actors.get(from.0 as usize),
            self.actors.get(to.0 as usize),
        ) else {
            return;
        };
        let incarnation = receiver.incarnation;
        match self
            .net
            .route(sender.host, receiver.host, self.now, &mut self.net_rng)
        {
            Verdict::Deliver(at) => self.queue.push(
                at,
                Pending::Deliver {
                    from,
                    to,
                    incarnation,
                    msg,
                },
            ),
            Verdict::Drop(reason) => {
                self.stats.dropped += 1;
                if sink.wants_messages() {
                    sink.event(&TraceEvent::Drop {
                        t: self.now.as_nanos(),
                        from: &sender.name,
                        to: &receiver.name,
                        msg: msg.kind(),
                        reason: reason.as_str(),
                    });
                }
            }
        }
    }

    fn start_actor(&mut self, id: ActorId, restarted: bool, sink: &mut dyn TraceSink) {
        let Some(actor) = self.actors.get_mut(id.0 as usize) else {
            return;
        };
        if actor.alive
            || actor.proc == Proc::Stopped
            || !self
                .host_up
                .get(actor.host.0 as usize)
                .copied()
                .unwrap_or(false)
        {
            return;
        }
        actor.alive = true;
        if sink.enabled() {
            sink.event(&TraceEvent::Start {
                t: self.now.as_nanos(),
                actor: &actor.name,
                restarted,
            });
        }
        self.push_log(LogKind::ActorUp(id), sink);
        self.dispatch(
            id,
            Pending::Start {
                actor: id,
                restarted,
            },
            sink,
        );
    }

    fn crash_actor(&mut self, id: ActorId, sink: &mut dyn TraceSink) {
        let Some(actor) = self.actors.get_mut(id.0 as usize) else {
            return;
        };
        if !actor.alive {
            return;
        }
        actor.alive = false;
        actor.incarnation = actor.incarnation.wrapping_add(1);
        actor.armed.clear();
        actor.deferred.clear();
        if actor.proc == Proc::Paused {
            actor.proc = Proc::Running;
        }
        actor.model.on_crash();
        if sink.enabled() {
            sink.event(&TraceEvent::Crash {
                t: self.now.as_nanos(),
                actor: &actor.name,
            });
        }
        self.push_log(LogKind::ActorDown(id), sink);
    }

    fn actors_on(&self, host: HostId) -> Vec<ActorId> {
        (0..self.actors.len())
            .filter(|i| self.actors[*i].host == host)
            .map(|i| ActorId(i as u32))
            .collect()
    }

    fn process(&self, host: &str, process: &str) -> Option<ActorId> {
        self.host_index
            .get(host)
            .and_then(|h| self.directory.actor_on(*h, process))
    }

    fn apply_fault(&mut self, fault: Fault, sink: &mut dyn TraceSink) {
        let outcome = self.apply_fault_effects(&fault, sink);
        if sink.enabled() {
            sink.event(&TraceEvent::Fault {
                t: self.now.as_nanos(),
                fault: &fault,
                outcome,
            });
        }
        self.push_log(LogKind::Fault(fault.clone()), sink);
        for i in 0..self.actors.len() {
            if self.actors[i].alive {
                let actor = ActorId(i as u32);
                self.deliver(
                    actor,
                    Pending::Notify {
                        actor,
                        fault: fault.clone(),
                    },
                    sink,
                );
            }
        }
    }

    fn apply_fault_effects(&mut self, fault: &Fault, sink: &mut dyn TraceSink) -> &'static str {
        match fault {
            Fault::HostCrash { host: name } => {
                let Some(h) = self.host_id(name) else {
                    return "unknown-host";
                };
                if !self.host_up[h.0 as usize] {
                    return "already-down";
                }
                self.host_up[h.0 as usize] = false;
                for actor in self.actors_on(h) {
                    self.crash_actor(actor, sink);
                }
                self.log_record(
                    Observer::Engine,
                    host_record(name, Status::Down, "crashed"),
                    sink,
                );
                "applied"
            }
            Fault::HostRestart { host: name } => {
                let Some(h) = self.host_id(name) else {
                    return "unknown-host";
                };
                if self.host_up[h.0 as usize] {
                    return "already-up";
                }
                self.host_up[h.0 as usize] = true;
                self.log_record(
                    Observer::Engine,
                    host_record(name, Status::Up, "restarted"),
                    sink,
                );
                for actor in self.actors_on(h) {
                    self.start_actor(actor, true, sink);
                }
                "applied"
            }
            Fault::ProcessStop { host, process } => {
                let Some(id) = self.process(host, process) else {
                    return "no-such-process";
                };
                self.crash_actor(id, sink);
                self.actors[id.0 as usize].proc = Proc::Stopped;
                "applied"
            }
            Fault::ProcessStart { host, process } => {
                let Some(id) = self.process(host, process) else {
                    return "no-such-process";
                };
                if self.actors[id.0 as usize].proc != Proc::Stopped {
                    return "already-running";
                }
                self.actors[id.0 as usize].proc = Proc::Running;
                self.start_actor(id, true, sink);
                "applied"
            }
            Fault::ProcessPause { host, process } => {
                let Some(id) = self.process(host, process) else {
                    return "no-such-process";
                };
                let actor = &mut self.actors[id.0 as usize];
                if !actor.alive || actor.proc != Proc::Running {
                    return "not-running";
                }
                actor.proc = Proc::Paused;
                if sink.enabled() {
                    sink.event(&TraceEvent::Pause {
                        t: self.now.as_nanos(),
                        actor: &actor.name,
                    });
                }
                self.push_log(LogKind::ActorDown(id), sink);
                "applied"
            }
            Fault::ProcessResume { host, process } => {
                let Some(id) = self.process(host, process) else {
                    return "no-such-process";
                };
                let actor = &mut self.actors[id.0 as usize];
                if actor.proc != Proc::Paused {
                    return "not-paused";
                }
                actor.proc = Proc::Running;
                let deferred = std::mem::take(&mut actor.deferred);
                if sink.enabled() {
                    sink.event(&TraceEvent::Resume {
                        t: self.now.as_nanos(),
                        actor: &actor.name,
                    });
                }
                self.push_log(LogKind::ActorUp(id), sink);
                for pending in deferred {
                    if self.actors[id.0 as usize].proc == Proc::Running
                        && self.actors[id.0 as usize].alive
                    {
                        self.deliver(id, pending, sink);
                    }
                }
                "applied"
            }
            Fault::Partition { groups } => {
                let groups: Vec<Vec<HostId>> = groups
                    .iter()
                    .map(|g| g.iter().filter_map(|n| self.host_id(n)).collect())
                    .collect();
                self.net.partition(&groups);
                "applied"
            }
            Fault::OneWay { from, to } => {
                let (Some(a), Some(b)) = (self.host_id(from), self.host_id(to)) else {
                    return "unknown-host";
                };
                self.net.cut_one_way(a, b);
                "applied"
            }
            Fault::Heal => {
                self.net.heal();
                "applied"
            }
            Fault::LinkSlow { a, b, latency } => {
                let (Some(a), Some(b)) = (self.host_id(a), self.host_id(b)) else {
                    return "unknown-host";
                };
                self.net.slow(a, b, SimDuration::from(*latency));
                "applied"
            }
            Fault::LinkLossy { a, b, loss } => {
                let (Some(a), Some(b)) = (self.host_id(a), self.host_id(b)) else {
                    return "unknown-host";
                };
                self.net.lossy(a, b, loss_to_ppb(*loss));
                "applied"
            }
            Fault::DiskLoss { .. } | Fault::Drain { .. } | Fault::Uncordon { .. } => "notified",
        }
    }

    fn log_record(&mut self, observer: Observer, record: Record, sink: &mut dyn TraceSink) {
        if sink.enabled() {
            let actor = match observer {
                Observer::Engine => "engine",
                Observer::Actor(i) => self
                    .actors
                    .get(i as usize)
                    .map(|a| a.name.as_str())
                    .unwrap_or(""),
            };
            sink.event(&TraceEvent::Record {
                t: self.now.as_nanos(),
                actor,
                record: &record,
            });
        }
        self.push_log(LogKind::Record { observer, record }, sink);
    }

    fn push_log(&mut self, kind: LogKind, sink: &mut dyn TraceSink) {
        let entry = LogEntry {
            time: self.now,
            kind,
        };
        if !self.invariants.is_empty() {
            self.run_invariants(sink, |invariant, world| invariant.observe(&entry, world));
        }
        self.log.push(entry);
    }

    fn finish_invariants(&mut self, sink: &mut dyn TraceSink) {
        let end = self.now;
        self.run_invariants(sink, |invariant, world| invariant.finish(end, world));
    }

    /// Asks every invariant `probe` against one view of the world and reports what fails, in
    /// registration order (so the trace stays deterministic).
    fn run_invariants(
        &mut self,
        sink: &mut dyn TraceSink,
        mut probe: impl FnMut(&mut dyn Invariant, &WorldView<'_>) -> Option<String>,
    ) {
        let running: Vec<bool> = self
            .actors
            .iter()
            .map(|a| a.alive && a.proc == Proc::Running)
            .collect();
        let models: Vec<&dyn Model> = self.actors.iter().map(|a| a.model.as_ref()).collect();
        let world = WorldView {
            directory: &self.directory,
            host_up: &self.host_up,
            actor_running: &running,
            net: &self.net,
            models: &models,
        };
        let mut found = Vec::new();
        for invariant in &mut self.invariants {
            if let Some(message) = probe(invariant.as_mut(), &world) {
                found.push(Violation {
                    invariant: invariant.name().to_owned(),
                    time: self.now,
                    message,
                });
            }
        }
        for violation in found {
            self.report_violation(violation, sink);
        }
    }

    fn report_violation(&mut self, violation: Violation, sink: &mut dyn TraceSink) {
        if sink.enabled() {
            sink.event(&TraceEvent::Violation {
                t: violation.time.as_nanos(),
                invariant: &violation.invariant,
                message: &violation.message,
            });
        }
        self.violations.push(violation);
    }

    /// Actor `id`'s model as a `T`, if it is one: how a harness reads what a model recorded
    /// (a client's history, a member's log) between or after runs.
    pub fn model<T: Model>(&self, id: ActorId) -> Option<&T> {
        self.actors.get(id.0 as usize)?.model.downcast_ref::<T>()
    }

    /// Whether actor `id` is alive and running (not crashed, stopped or paused).
    pub fn actor_running(&self, id: ActorId) -> bool {
        self.actors
            .get(id.0 as usize)
            .is_some_and(|a| a.alive && a.proc == Proc::Running)
    }

    /// Up/down per host, by host id.
    pub fn host_up(&self) -> &[bool] {
        &self.host_up
    }
}

/// The engine's ground-truth record for a host.
fn host_record(name: &str, status: Status, reason: &str) -> Record {
    Record::Availability {
        component: format!("host/{name}"),
        status,
        reason: reason.to_owned(),
    }
}
