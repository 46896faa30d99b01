//! Applying a fault from the plan: host and process faults go to the lifecycle rules, network
//! faults to the network, and every fault is then written to the trace and the log. A fault
//! is announced (`Event::Fault`) only to the actors on the one host it happens to (a lost
//! disk, a drain), as a local daemon would see it, and an operator action (drain, uncordon)
//! also to the operator's tools that carry it out (`Simulation::add_operator`); nobody is told of a crash elsewhere or of
//! a network fault, so models cannot use the notice as an oracle and must learn of remote
//! failures the way real ones do: silence, or a refused connection. Unknown names become an outcome in the trace (`unknown-host`,
//! `no-such-process`), never a panic: plans are checked when scheduled, but a plan built by
//! hand may still name a process no host runs.

use topology::fault::Fault;

use super::dispatch::Pending;
use super::lifecycle::Outcome;
use super::log::LogKind;
use super::model::{ActorId, HostId};
use super::time::SimDuration;
use super::trace::{TraceEvent, TraceSink};
use super::world::Simulation;
use crate::net::loss_to_ppb;

impl Simulation {
    /// Applies `fault` now, traces and logs it, then notifies the live actors of its host.
    pub(super) fn apply_fault(&mut self, fault: Fault, sink: &mut dyn TraceSink) {
        let outcome = self.apply_fault_effects(&fault, sink);
        if sink.enabled() {
            sink.event(&TraceEvent::Fault {
                t: self.now.as_nanos(),
                fault: &fault,
                outcome,
            });
        }
        self.push_log(LogKind::Fault(fault.clone()), sink);
        let Some(host) = fault.local_host().and_then(|h| self.host_id(h)) else {
            return;
        };
        let operators = if fault.is_operator_action() {
            self.operators.clone()
        } else {
            Vec::new()
        };
        for actor in self.actors_on(host).into_iter().chain(operators) {
            if self.actors[actor.0 as usize].alive {
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

    /// The actor running `process` on `host`.
    fn process(&self, host: &str, process: &str) -> Option<ActorId> {
        self.host_index
            .get(host)
            .and_then(|h| self.directory.actor_on(*h, process))
    }

    fn two_hosts(&self, a: &str, b: &str) -> Option<(HostId, HostId)> {
        Some((self.host_id(a)?, self.host_id(b)?))
    }

    fn apply_fault_effects(&mut self, fault: &Fault, sink: &mut dyn TraceSink) -> Outcome {
        match fault {
            Fault::HostCrash { host } => match self.host_id(host) {
                Some(h) => self.crash_host(h, sink),
                None => "unknown-host",
            },
            Fault::HostRestart { host } => match self.host_id(host) {
                Some(h) => self.restart_host(h, sink),
                None => "unknown-host",
            },
            Fault::ProcessStop { host, process } => match self.process(host, process) {
                Some(id) => self.stop_process(id, sink),
                None => "no-such-process",
            },
            Fault::ProcessTerminate { host, process } => match self.process(host, process) {
                Some(id) => self.terminate_process(id, sink),
                None => "no-such-process",
            },
            Fault::ProcessStart { host, process } => match self.process(host, process) {
                Some(id) => self.start_process(id, sink),
                None => "no-such-process",
            },
            Fault::ProcessPause { host, process } => match self.process(host, process) {
                Some(id) => self.pause_process(id, sink),
                None => "no-such-process",
            },
            Fault::ProcessResume { host, process } => match self.process(host, process) {
                Some(id) => self.resume_process(id, sink),
                None => "no-such-process",
            },
            Fault::Partition { groups } => {
                let groups: Vec<Vec<HostId>> = groups
                    .iter()
                    .map(|g| g.iter().filter_map(|n| self.host_id(n)).collect())
                    .collect();
                self.net.partition(&groups);
                "applied"
            }
            Fault::OneWay { from, to } => match self.two_hosts(from, to) {
                Some((a, b)) => {
                    self.net.cut_one_way(a, b);
                    "applied"
                }
                None => "unknown-host",
            },
            Fault::Heal => {
                self.net.heal();
                "applied"
            }
            Fault::LinkSlow { a, b, latency } => match self.two_hosts(a, b) {
                Some((a, b)) => {
                    self.net.slow(a, b, SimDuration::from(*latency));
                    "applied"
                }
                None => "unknown-host",
            },
            Fault::LinkLossy { a, b, loss } => match self.two_hosts(a, b) {
                Some((a, b)) => {
                    self.net.lossy(a, b, loss_to_ppb(*loss));
                    "applied"
                }
                None => "unknown-host",
            },
            Fault::DiskLoss { .. }
            | Fault::Drain { .. }
            | Fault::Uncordon { .. }
            | Fault::OutOfService { .. }
            | Fault::InService { .. } => "notified",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Probe, world};
    use super::*;
    use crate::engine::SimTime;

    /// Keeps the outcome of every fault line.
    #[derive(Default)]
    struct Outcomes(Vec<String>);

    impl TraceSink for Outcomes {
        fn enabled(&self) -> bool {
            true
        }
        fn wants_messages(&self) -> bool {
            false
        }
        fn event(&mut self, event: &TraceEvent<'_>) {
            if let TraceEvent::Fault { fault, outcome, .. } = event {
                self.0.push(format!("{fault}: {outcome}"));
            }
        }
    }

    fn stop(host: &str, process: &str) -> Fault {
        Fault::ProcessStop {
            host: host.into(),
            process: process.into(),
        }
    }

    #[test]
    fn outcomes_say_what_the_engine_made_of_each_fault() {
        let (mut sim, _) = world(&["a", "b"]);
        let mut sink = Outcomes::default();
        sim.run_until(SimTime::ZERO, &mut sink);
        for fault in [
            stop("a", "probe"),
            stop("a", "etcd"),
            Fault::HostCrash { host: "b".into() },
            Fault::HostCrash { host: "b".into() },
            Fault::HostRestart { host: "zz".into() },
            Fault::Heal,
            Fault::DiskLoss {
                host: "a".into(),
                disk: "vdb".into(),
            },
        ] {
            sim.apply_fault(fault, &mut sink);
        }
        let outcomes: Vec<&str> = sink
            .0
            .iter()
            .map(|s| s.rsplit(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            outcomes,
            [
                "applied",
                "no-such-process",
                "applied",
                "already-down",
                "unknown-host",
                "applied",
                "notified"
            ]
        );
    }

    #[test]
    fn network_faults_change_reachability_until_heal() {
        let (mut sim, _) = world(&["a", "b", "c"]);
        let mut sink = Outcomes::default();
        let (a, b, c) = (
            sim.host_id("a").expect("a"),
            sim.host_id("b").expect("b"),
            sim.host_id("c").expect("c"),
        );
        sim.apply_fault(
            Fault::Partition {
                groups: vec![vec!["a".into()]],
            },
            &mut sink,
        );
        assert!(!sim.network().connected(a, b) && sim.network().connected(b, c));
        sim.apply_fault(
            Fault::OneWay {
                from: "b".into(),
                to: "c".into(),
            },
            &mut sink,
        );
        assert!(!sim.network().connected(b, c) && sim.network().connected(c, b));
        sim.apply_fault(Fault::Heal, &mut sink);
        assert!(sim.network().is_healthy() && sim.network().connected(a, b));
    }

    #[test]
    fn process_faults_reach_the_named_actor_only() {
        let (mut sim, ids) = world(&["a", "b"]);
        let mut sink = Outcomes::default();
        sim.run_until(SimTime::ZERO, &mut sink);
        sim.apply_fault(stop("b", "probe"), &mut sink);
        assert!(sim.actor_running(ids[0]) && !sim.actor_running(ids[1]));
        sim.apply_fault(
            Fault::ProcessStart {
                host: "b".into(),
                process: "probe".into(),
            },
            &mut sink,
        );
        assert!(sim.actor_running(ids[1]));
        let b = sim.model::<Probe>(ids[1]).expect("probe");
        assert_eq!(b.starts, vec![false, true]);
    }

    fn told(sim: &Simulation, id: ActorId) -> Vec<String> {
        let seen = &sim.model::<Probe>(id).expect("probe").seen;
        seen.iter()
            .filter(|s| s.starts_with("fault"))
            .cloned()
            .collect()
    }

    #[test]
    fn only_the_actors_on_the_faulted_host_are_told() {
        let (mut sim, ids) = world(&["a", "b", "c"]);
        let mut sink = Outcomes::default();
        sim.run_until(SimTime::ZERO, &mut sink);
        for fault in [
            Fault::Drain { host: "a".into() },
            Fault::DiskLoss {
                host: "a".into(),
                disk: "vdb".into(),
            },
            stop("b", "probe"),
            Fault::HostCrash { host: "c".into() },
        ] {
            sim.apply_fault(fault, &mut sink);
        }
        assert_eq!(
            told(&sim, ids[0]),
            ["fault Drain a", "fault DiskLoss a/vdb"]
        );
        assert!(told(&sim, ids[1]).is_empty(), "b itself died");
        assert!(told(&sim, ids[2]).is_empty(), "c died with its host");
    }

    #[test]
    fn nobody_is_told_of_a_network_fault() {
        let (mut sim, ids) = world(&["a", "b"]);
        let mut sink = Outcomes::default();
        sim.run_until(SimTime::ZERO, &mut sink);
        sim.apply_fault(
            Fault::Partition {
                groups: vec![vec!["a".into()]],
            },
            &mut sink,
        );
        sim.apply_fault(Fault::Heal, &mut sink);
        for id in ids {
            assert!(told(&sim, id).is_empty());
        }
    }
}
