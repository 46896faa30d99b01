//! Lifecycle of hosts and actors: starting, crashing, stopping, pausing and resuming. A crash
//! bumps the actor's incarnation, so messages addressed to the process that died are dropped
//! instead of reaching its successor, and disarms its timers; a pause only defers what arrives
//! until the resume. The fault module decides *when* these happen; this one owns *what* they
//! do to an actor, so the rules live in one place.

use std::collections::{BTreeSet, VecDeque};

use super::dispatch::Pending;
use super::log::{LogKind, Observer};
use super::model::{ActorId, HostId, Model, Record, Status, TimerId};
use super::rng::SimRng;
use super::time::SimDuration;
use super::trace::{TraceEvent, TraceSink};
use super::world::Simulation;

/// What the process of an actor is doing, apart from whether its host is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Proc {
    /// Runs (or will, when its host comes up).
    Running,
    /// Stopped by `ProcessStop`; stays down across host restarts until `ProcessStart`.
    Stopped,
    /// Frozen by `ProcessPause`: alive, but handles nothing until `ProcessResume`.
    Paused,
}

/// How long a process may take over its shutdown after SIGTERM before it is killed: systemd's
/// `DefaultTimeoutStopSec`, 90 s (systemd-system.conf(5)), which the units spofless renders do
/// not override.
pub const TERMINATE_KILL_AFTER: SimDuration = SimDuration::from_secs(90);

/// One model instance on one host, with the engine's bookkeeping around it.
pub(super) struct Actor {
    pub(super) host: HostId,
    pub(super) name: String,
    pub(super) model: Box<dyn Model>,
    pub(super) rng: SimRng,
    pub(super) proc: Proc,
    /// Started and not crashed since (a paused actor is alive).
    pub(super) alive: bool,
    /// Bumped at every crash: messages sent to an older incarnation are dropped.
    pub(super) incarnation: u32,
    pub(super) armed: BTreeSet<TimerId>,
    /// Events that arrived while paused, handed over at the resume.
    pub(super) deferred: VecDeque<Pending>,
}

impl Actor {
    pub(super) fn new(host: HostId, name: String, model: Box<dyn Model>, rng: SimRng) -> Self {
        Actor {
            host,
            name,
            model,
            rng,
            proc: Proc::Running,
            alive: false,
            incarnation: 0,
            armed: BTreeSet::new(),
            deferred: VecDeque::new(),
        }
    }

    /// Alive and not paused: handles events as they come.
    pub(super) fn running(&self) -> bool {
        self.alive && self.proc == Proc::Running
    }
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

/// What a lifecycle request made of the world, as the trace's fault `outcome` says it.
pub(super) type Outcome = &'static str;

impl Simulation {
    /// Starts actor `id` unless it already runs, was stopped, or its host is down.
    pub(super) fn start_actor(&mut self, id: ActorId, restarted: bool, sink: &mut dyn TraceSink) {
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

    /// Kills actor `id`'s process: volatile state, timers and deferred events are gone.
    pub(super) fn crash_actor(&mut self, id: ActorId, sink: &mut dyn TraceSink) {
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
        let host_up = self
            .host_up
            .get(actor.host.0 as usize)
            .copied()
            .unwrap_or(false);
        self.reset_connections(id, host_up);
        self.push_log(LogKind::ActorDown(id), sink);
    }

    /// Every actor on `host`, in actor-id order.
    pub(super) fn actors_on(&self, host: HostId) -> Vec<ActorId> {
        (0..self.actors.len())
            .filter(|i| self.actors[*i].host == host)
            .map(|i| ActorId(i as u32))
            .collect()
    }

    /// Takes `host` down with every actor on it.
    pub(super) fn crash_host(&mut self, h: HostId, sink: &mut dyn TraceSink) -> Outcome {
        if !self.host_up[h.0 as usize] {
            return "already-down";
        }
        self.host_up[h.0 as usize] = false;
        for actor in self.actors_on(h) {
            self.crash_actor(actor, sink);
        }
        let directory = &self.directory;
        self.addresses
            .forget(|c| directory.actor_host(c.actor) == Some(h));
        let name = self.directory.host_name(h).to_owned();
        self.log_record(
            Observer::Engine,
            host_record(&name, Status::Down, "crashed"),
            sink,
        );
        "applied"
    }

    /// Brings `host` back and restarts every actor on it that was not stopped.
    pub(super) fn restart_host(&mut self, h: HostId, sink: &mut dyn TraceSink) -> Outcome {
        if self.host_up[h.0 as usize] {
            return "already-up";
        }
        self.host_up[h.0 as usize] = true;
        self.directory.rebooted(h);
        let name = self.directory.host_name(h).to_owned();
        self.log_record(
            Observer::Engine,
            host_record(&name, Status::Up, "restarted"),
            sink,
        );
        for actor in self.actors_on(h) {
            self.start_actor(actor, true, sink);
        }
        "applied"
    }

    /// Stops actor `id`'s process until `start_process`.
    pub(super) fn stop_process(&mut self, id: ActorId, sink: &mut dyn TraceSink) -> Outcome {
        self.crash_actor(id, sink);
        self.actors[id.0 as usize].proc = Proc::Stopped;
        "applied"
    }

    /// Sends SIGTERM to actor `id`'s process: a paused one is thawed first (systemd follows
    /// SIGTERM with SIGCONT), then the model runs its shutdown path ([`Model::terminate`]),
    /// or is stopped at once when it has none. A process that is not running is marked stopped,
    /// as `ProcessStop` marks it.
    pub(super) fn terminate_process(&mut self, id: ActorId, sink: &mut dyn TraceSink) -> Outcome {
        if !self.actors[id.0 as usize].alive {
            self.actors[id.0 as usize].proc = Proc::Stopped;
            return "applied";
        }
        if self.actors[id.0 as usize].proc == Proc::Paused {
            self.resume_process(id, sink);
        }
        if !self.actors[id.0 as usize].running() {
            return "applied";
        }
        let incarnation = self.actors[id.0 as usize].incarnation;
        self.dispatch(id, Pending::Terminate { actor: id }, sink);
        let actor = &self.actors[id.0 as usize];
        if actor.alive && actor.incarnation == incarnation {
            self.queue.push(
                self.now + TERMINATE_KILL_AFTER,
                Pending::Kill {
                    actor: id,
                    incarnation,
                },
            );
        }
        "applied"
    }

    /// Starts a stopped process again.
    pub(super) fn start_process(&mut self, id: ActorId, sink: &mut dyn TraceSink) -> Outcome {
        if self.actors[id.0 as usize].proc != Proc::Stopped {
            return "already-running";
        }
        self.actors[id.0 as usize].proc = Proc::Running;
        self.start_actor(id, true, sink);
        "applied"
    }

    /// Freezes a running process: what arrives waits for the resume.
    pub(super) fn pause_process(&mut self, id: ActorId, sink: &mut dyn TraceSink) -> Outcome {
        let actor = &mut self.actors[id.0 as usize];
        if !actor.running() {
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

    /// Thaws a paused process and hands it, in arrival order, what it missed.
    pub(super) fn resume_process(&mut self, id: ActorId, sink: &mut dyn TraceSink) -> Outcome {
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
            if self.actors[id.0 as usize].running() {
                self.deliver(id, pending, sink);
            }
        }
        "applied"
    }
}

/// The engine's ground-truth record for a host.
pub(super) fn host_record(name: &str, status: Status, reason: &str) -> Record {
    Record::Availability {
        component: format!("host/{name}"),
        status,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Probe, world};
    use super::super::trace::NullSink;
    use super::*;
    use crate::engine::{SimDuration, SimTime};

    fn probe(sim: &Simulation, id: ActorId) -> &Probe {
        sim.model::<Probe>(id).expect("probe")
    }

    /// Probe b with `shutdown`, SIGTERMed at 50 ms: what it saw and when it stopped running
    /// (checked every 10 ms up to 100 s).
    fn terminated(shutdown: Option<SimDuration>, pause_first: bool) -> (Vec<String>, SimTime) {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.actors[1].model = Box::new(Probe {
            shutdown,
            ..Probe::default()
        });
        sim.run_until(SimTime::ZERO + SimDuration::from_millis(50), &mut sink);
        if pause_first {
            sim.pause_process(a[1], &mut sink);
            sim.run_until(SimTime::ZERO + SimDuration::from_millis(150), &mut sink);
        }
        assert_eq!(sim.terminate_process(a[1], &mut sink), "applied");
        let mut t = sim.now;
        while sim.actor_running(a[1]) && t < SimTime::ZERO + SimDuration::from_secs(100) {
            t += SimDuration::from_millis(10);
            sim.run_until(t, &mut sink);
        }
        assert_eq!(
            sim.actors[1].proc,
            Proc::Stopped,
            "stays down until started"
        );
        (probe(&sim, a[1]).seen.clone(), t)
    }

    #[test]
    fn sigterm_stops_at_once_without_a_shutdown_path_and_after_it_with_one() {
        let at = |ms: u64| SimTime::ZERO + SimDuration::from_millis(ms);
        let (seen, stopped) = terminated(None, false);
        assert_eq!(seen.last().map(String::as_str), Some("sigterm"));
        assert_eq!(stopped, at(50));
        let (seen, stopped) = terminated(Some(SimDuration::from_millis(300)), false);
        let sigterm = seen.iter().position(|s| s == "sigterm").expect("sigterm");
        // It keeps working through its shutdown, then exits.
        assert!(seen[sigterm..].iter().any(|s| s == "tick"), "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("exit"));
        assert_eq!(stopped, at(350));
    }

    #[test]
    fn a_shutdown_that_never_ends_is_killed_after_systemds_stop_timeout() {
        let (seen, stopped) = terminated(Some(SimDuration::from_secs(1000)), false);
        assert!(!seen.iter().any(|s| s == "exit"));
        assert_eq!(
            stopped,
            SimTime::ZERO + SimDuration::from_millis(50) + TERMINATE_KILL_AFTER
        );
    }

    #[test]
    fn a_paused_process_is_thawed_before_its_sigterm() {
        let (seen, _) = terminated(None, true);
        let sigterm = seen.iter().position(|s| s == "sigterm").expect("sigterm");
        // The ping that arrived during the pause (at 101 ms) is handled first.
        assert_eq!(seen[sigterm - 1], "ping from a/probe #1");
    }

    #[test]
    fn crash_bumps_incarnation_disarms_timers_and_calls_on_crash() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        assert!(sim.actor_running(a[0]));
        assert!(
            !sim.actors[0].armed.is_empty(),
            "probe arms a tick at start"
        );
        sim.crash_actor(a[0], &mut sink);
        let actor = &sim.actors[0];
        assert!(!actor.alive && actor.armed.is_empty() && actor.incarnation == 1);
        assert_eq!(probe(&sim, a[0]).crashes, 1);
        // A second crash of a dead actor changes nothing.
        sim.crash_actor(a[0], &mut sink);
        assert_eq!(sim.actors[0].incarnation, 1);
        assert_eq!(probe(&sim, a[0]).crashes, 1);
    }

    #[test]
    fn host_crash_and_restart_take_every_actor_down_and_up() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        let h = sim.host_id("a").expect("host");
        assert_eq!(sim.crash_host(h, &mut sink), "applied");
        assert_eq!(sim.crash_host(h, &mut sink), "already-down");
        assert!(!sim.actor_running(a[0]) && sim.actor_running(a[1]));
        // A start while the host is down does nothing.
        sim.start_actor(a[0], true, &mut sink);
        assert!(!sim.actor_running(a[0]));
        assert_eq!(sim.restart_host(h, &mut sink), "applied");
        assert_eq!(sim.restart_host(h, &mut sink), "already-up");
        assert!(sim.actor_running(a[0]));
        assert_eq!(probe(&sim, a[0]).starts, vec![false, true]);
    }

    #[test]
    fn stopped_process_stays_down_across_host_restart_until_started() {
        let (mut sim, a) = world(&["a"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        let h = sim.host_id("a").expect("host");
        assert_eq!(sim.stop_process(a[0], &mut sink), "applied");
        sim.crash_host(h, &mut sink);
        sim.restart_host(h, &mut sink);
        assert!(!sim.actor_running(a[0]), "stopped survives the reboot");
        assert_eq!(sim.start_process(a[0], &mut sink), "applied");
        assert_eq!(sim.start_process(a[0], &mut sink), "already-running");
        assert!(sim.actor_running(a[0]));
    }

    #[test]
    fn pause_defers_events_and_resume_hands_them_over_in_order() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        assert_eq!(sim.pause_process(a[1], &mut sink), "applied");
        assert_eq!(sim.pause_process(a[1], &mut sink), "not-running");
        let before = probe(&sim, a[1]).seen.len();
        // Probes ping each other every tick; b sees nothing while paused.
        sim.run_until(SimTime::ZERO + SimDuration::from_secs(1), &mut sink);
        assert_eq!(probe(&sim, a[1]).seen.len(), before);
        assert!(!sim.actors[1].deferred.is_empty());
        assert_eq!(sim.resume_process(a[1], &mut sink), "applied");
        assert_eq!(sim.resume_process(a[1], &mut sink), "not-paused");
        let seen = &probe(&sim, a[1]).seen;
        assert!(seen.len() > before);
        let pings: Vec<u64> = seen
            .iter()
            .filter_map(|s| s.strip_prefix("ping from a/probe #"))
            .map(|n| n.parse().expect("number"))
            .collect();
        assert!(
            pings.windows(2).all(|w| w[0] < w[1]),
            "arrival order kept: {pings:?}"
        );
    }

    #[test]
    fn crash_of_a_paused_actor_forgets_what_was_deferred() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        sim.pause_process(a[1], &mut sink);
        sim.run_until(SimTime::ZERO + SimDuration::from_secs(1), &mut sink);
        assert!(!sim.actors[1].deferred.is_empty());
        sim.crash_actor(a[1], &mut sink);
        assert!(sim.actors[1].deferred.is_empty());
        assert_eq!(sim.actors[1].proc, Proc::Running, "a crash ends the pause");
    }
}
