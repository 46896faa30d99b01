//! Event delivery: hands a message, a timer or a fault notice to the one actor it concerns
//! (deferring it while the actor is paused; if that actor died since it was sent, refusing it
//! back to the sender when the receiver's host is up, as a kernel answers a SYN or a segment
//! to a closed port with a reset, and dropping it silently when the host is down),
//! runs the model's handler, and carries out the effects the handler returned: sends go
//! through the network, timers into the queue, records into the log and the trace.

use std::collections::BTreeMap;

use topology::fault::Fault;

use super::address::Address;
use super::connection::ClientEnd;
use super::lifecycle::Proc;
use super::log::Observer;
use super::model::{ActorId, Ctx, Effect, Endpoint, Event, Message, Port, TimerId, TimerTag};
use super::trace::{TraceEvent, TraceSink};
use super::world::Simulation;
use crate::net::Verdict;

/// Something the queue holds until its time comes.
pub(super) enum Pending {
    /// Start (or restart) an actor.
    Start { actor: ActorId, restarted: bool },
    /// A message in flight to the incarnation `incarnation` of `to`.
    Deliver {
        from: ActorId,
        from_port: Port,
        from_incarnation: u32,
        to: ActorId,
        to_port: Port,
        incarnation: u32,
        msg: Box<dyn Message>,
    },
    /// A timer of `actor`, armed at `port`.
    Timer {
        actor: ActorId,
        id: TimerId,
        port: Port,
        tag: Box<dyn TimerTag>,
    },
    /// A refusal on its way back to incarnation `incarnation` of `actor`, at `port`.
    Refused {
        actor: ActorId,
        port: Port,
        incarnation: u32,
        to: Endpoint,
        msg: Box<dyn Message>,
    },
    /// The reset of a connection whose server process died, on its way to incarnation
    /// `incarnation` of `actor`, at `port`.
    Closed {
        actor: ActorId,
        port: Port,
        incarnation: u32,
        peer: ActorId,
    },
    /// SIGTERM to `actor`: run its shutdown path now.
    Terminate { actor: ActorId },
    /// SIGKILL after a shutdown that took too long, if incarnation `incarnation` still runs.
    Kill { actor: ActorId, incarnation: u32 },
    /// A fault from the plan, to apply.
    Fault(Fault),
    /// Tell `actor` that `fault` happened.
    Notify { actor: ActorId, fault: Fault },
}

impl Simulation {
    /// Routes one popped event: starts and faults to their modules, the rest to an actor.
    pub(super) fn handle(&mut self, pending: Pending, sink: &mut dyn TraceSink) {
        match pending {
            Pending::Start { actor, restarted } => self.start_actor(actor, restarted, sink),
            Pending::Fault(fault) => self.apply_fault(fault, sink),
            Pending::Kill { actor, incarnation } => {
                let runs = self
                    .actors
                    .get(actor.0 as usize)
                    .is_some_and(|a| a.alive && a.incarnation == incarnation);
                if runs {
                    self.stop_process(actor, sink);
                }
            }
            other => {
                let actor = match &other {
                    Pending::Deliver { to, .. } => *to,
                    Pending::Timer { actor, .. }
                    | Pending::Notify { actor, .. }
                    | Pending::Refused { actor, .. }
                    | Pending::Closed { actor, .. } => *actor,
                    Pending::Terminate { actor } => *actor,
                    Pending::Start { .. } | Pending::Fault(_) | Pending::Kill { .. } => return,
                };
                self.deliver(actor, other, sink);
            }
        }
    }

    /// Hands a message, timer or fault notice to its actor (or defers or drops it).
    pub(super) fn deliver(&mut self, id: ActorId, pending: Pending, sink: &mut dyn TraceSink) {
        let Some(actor) = self.actors.get_mut(id.0 as usize) else {
            return;
        };
        match &pending {
            Pending::Timer { id: timer, .. } if !actor.armed.contains(timer) => return,
            // A refusal for a sender that died since: its connection died with it.
            Pending::Refused { incarnation, .. } | Pending::Closed { incarnation, .. }
                if !actor.alive || *incarnation != actor.incarnation =>
            {
                return;
            }
            Pending::Deliver {
                from,
                incarnation,
                msg,
                ..
            } if !actor.alive || *incarnation != actor.incarnation => {
                let host_up = self
                    .host_up
                    .get(actor.host.0 as usize)
                    .copied()
                    .unwrap_or(false);
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
                        reason: if host_up { "refused" } else { "receiver-down" },
                    });
                }
                if host_up && let Pending::Deliver { .. } = pending {
                    self.refuse(pending);
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

    pub(super) fn dispatch(&mut self, id: ActorId, pending: Pending, sink: &mut dyn TraceSink) {
        let now = self.now;
        let t = now.as_nanos();
        let Some(actor) = self.actors.get_mut(id.0 as usize) else {
            return;
        };
        let port = match &pending {
            Pending::Deliver { to_port, .. } => *to_port,
            Pending::Timer { port, .. }
            | Pending::Refused { port, .. }
            | Pending::Closed { port, .. } => *port,
            _ => Port::MAIN,
        };
        let mut ctx = Ctx::new(
            now,
            id,
            actor.host,
            &mut actor.rng,
            &self.directory,
            &mut self.effects,
            &mut self.next_timer,
        )
        .with_port(port);
        match &pending {
            Pending::Deliver {
                from,
                from_port,
                msg,
                ..
            } => {
                self.stats.delivered += 1;
                actor.model.handle(
                    &mut ctx,
                    Event::Message {
                        from: *from,
                        from_port: *from_port,
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
                        tag: tag.as_ref(),
                    },
                );
            }
            Pending::Refused { to, msg, .. } => actor.model.handle(
                &mut ctx,
                Event::Refused {
                    to: *to,
                    msg: msg.as_ref(),
                },
            ),
            Pending::Closed { peer, .. } => {
                actor.model.handle(&mut ctx, Event::Closed { peer: *peer })
            }
            Pending::Notify { fault, .. } => actor.model.handle(&mut ctx, Event::Fault(fault)),
            Pending::Start { restarted, .. } => actor.model.handle(
                &mut ctx,
                Event::Start {
                    restarted: *restarted,
                },
            ),
            Pending::Terminate { .. } => {
                if !actor.model.terminate(&mut ctx) {
                    ctx.exit();
                }
            }
            Pending::Fault(_) | Pending::Kill { .. } => {}
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
                    tag: format!("{tag:?}"),
                }),
                _ => {}
            }
        }
        self.apply_effects(id, sink);
    }

    fn apply_effects(&mut self, id: ActorId, sink: &mut dyn TraceSink) {
        let mut effects = std::mem::take(&mut self.effects);
        let mut exit = false;
        for effect in effects.drain(..) {
            match effect {
                Effect::Exit => exit = true,
                Effect::Send { to, from_port, msg } => {
                    self.send(Endpoint::new(id, from_port), to, msg, sink)
                }
                Effect::SetTimer {
                    id: timer,
                    after,
                    tag,
                    port,
                } => {
                    if let Some(actor) = self.actors.get_mut(id.0 as usize) {
                        actor.armed.insert(timer);
                        self.queue.push(
                            self.now + after,
                            Pending::Timer {
                                actor: id,
                                id: timer,
                                port,
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
                Effect::Claim { address, port } => {
                    self.addresses.claim(address, Endpoint::new(id, port));
                }
                Effect::Release { address, port } => {
                    self.addresses.release(&address, Endpoint::new(id, port));
                }
                Effect::Connect { server, port } => {
                    let incarnation = self.actors.get(id.0 as usize).map_or(0, |a| a.incarnation);
                    self.connections.open(
                        server,
                        ClientEnd {
                            client: Endpoint::new(id, port),
                            incarnation,
                        },
                    );
                }
                Effect::Disconnect { server, port } => {
                    self.connections.close(server, Endpoint::new(id, port));
                }
                Effect::SendToAddress {
                    address,
                    service,
                    from_port,
                    msg,
                } => match self.resolve(&address, service) {
                    Some(to) => self.send(Endpoint::new(id, from_port), to, msg, sink),
                    None => {
                        self.stats.dropped += 1;
                        if sink.wants_messages() {
                            sink.event(&TraceEvent::Drop {
                                t: self.now.as_nanos(),
                                from: self.actors.get(id.0 as usize).map_or("", |a| &a.name),
                                to: &address.0,
                                msg: msg.kind(),
                                reason: "no-such-address",
                            });
                        }
                    }
                },
            }
        }
        // Give the buffer back so the next handler reuses its allocation.
        self.effects = effects;
        if exit {
            self.stop_process(id, sink);
        }
    }

    /// Where a message to `address` (and `service` on its host) goes now, if anywhere.
    fn resolve(&self, address: &Address, service: Option<&str>) -> Option<Endpoint> {
        let holder = self.addresses.resolve(address)?;
        match service {
            None => Some(holder),
            Some(name) => {
                let host = self.directory.actor_host(holder.actor)?;
                self.directory.actor_on(host, name).map(Endpoint::from)
            }
        }
    }

    fn send(
        &mut self,
        sender: Endpoint,
        to: Endpoint,
        msg: Box<dyn Message>,
        sink: &mut dyn TraceSink,
    ) {
        let (from, from_port) = (sender.actor, sender.port);
        let (to, to_port) = (to.actor, to.port);
        let (Some(sender), Some(receiver)) = (
            self.actors.get(from.0 as usize),
            self.actors.get(to.0 as usize),
        ) else {
            return;
        };
        let incarnation = receiver.incarnation;
        let from_incarnation = sender.incarnation;
        let Some(verdict) = self.route(from, to) else {
            return;
        };
        let (Some(sender), Some(receiver)) = (
            self.actors.get(from.0 as usize),
            self.actors.get(to.0 as usize),
        ) else {
            return;
        };
        match verdict {
            Verdict::Deliver(at) => self.queue.push(
                at,
                Pending::Deliver {
                    from,
                    from_port,
                    from_incarnation,
                    to,
                    to_port,
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

    /// Asks the network about one packet of the flow `from` -> `to`, drawing from that flow's
    /// own random stream (named after both actors, made on first use) so that adding actors
    /// or traffic elsewhere never shifts this flow's draws.
    fn route(&mut self, from: ActorId, to: ActorId) -> Option<Verdict> {
        let sender = self.actors.get(from.0 as usize)?;
        let receiver = self.actors.get(to.0 as usize)?;
        let index = from.0 as usize;
        if index >= self.flow_rngs.len() {
            self.flow_rngs.resize_with(index + 1, BTreeMap::new);
        }
        let streams = &self.streams;
        let rng = self.flow_rngs[index]
            .entry(to.0)
            .or_insert_with(|| streams.stream(&format!("net/{}->{}", sender.name, receiver.name)));
        Some(
            self.net
                .route_flow(sender.host, receiver.host, (from.0, to.0), self.now, rng),
        )
    }

    /// `server`'s process died: resets every connection to it. On a live host the kernel's
    /// FIN or RST travels to each client over the network (a cut-off client hears nothing); a
    /// crashed host sends nothing, and its connections are simply gone.
    pub(super) fn reset_connections(&mut self, server: ActorId, host_up: bool) {
        for end in self.connections.take(server) {
            if !host_up {
                continue;
            }
            if let Some(Verdict::Deliver(at)) = self.route(server, end.client.actor) {
                self.queue.push(
                    at,
                    Pending::Closed {
                        actor: end.client.actor,
                        port: end.client.port,
                        incarnation: end.incarnation,
                        peer: server,
                    },
                );
            }
        }
    }

    /// Sends the reset for `pending` (a message that reached a host where nothing listens)
    /// back to its sender: it takes the return trip over the network, so a cut-off sender
    /// hears nothing, and arrives as `Event::Refused` at the port that sent it.
    fn refuse(&mut self, pending: Pending) {
        let Pending::Deliver {
            from,
            from_port,
            from_incarnation,
            to,
            to_port,
            msg,
            ..
        } = pending
        else {
            return;
        };
        // The reset travels back on the reverse flow, as a reply would.
        if let Some(Verdict::Deliver(at)) = self.route(to, from) {
            self.queue.push(
                at,
                Pending::Refused {
                    actor: from,
                    port: from_port,
                    incarnation: from_incarnation,
                    to: Endpoint::new(to, to_port),
                    msg,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Ping, Probe, TICK, world};
    use super::super::trace::NullSink;
    use super::*;
    use crate::engine::{LogKind, Record, SimDuration, SimTime};

    fn seen(sim: &Simulation, id: ActorId) -> &[String] {
        &sim.model::<Probe>(id).expect("probe").seen
    }

    #[test]
    fn a_message_arrives_after_the_link_latency_and_is_handed_to_its_receiver() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        // First tick at 100 ms; the ping takes 1 ms.
        sim.run_until(SimTime::ZERO + TICK, &mut sink);
        assert!(!seen(&sim, a[1]).iter().any(|s| s.starts_with("ping")));
        sim.run_until(
            SimTime::ZERO + TICK + SimDuration::from_millis(1),
            &mut sink,
        );
        assert_eq!(
            seen(&sim, a[1]).last().map(String::as_str),
            Some("ping from a/probe #1")
        );
        assert_eq!(sim.stats().delivered, 2);
        assert_eq!(sim.stats().timers, 2);
    }

    #[test]
    fn a_message_to_an_incarnation_that_died_is_dropped_even_after_a_restart() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO + TICK, &mut sink);
        // a's first ping to b is in flight; b dies and comes back before it lands.
        sim.crash_actor(a[1], &mut sink);
        sim.start_actor(a[1], true, &mut sink);
        sim.run_until(
            SimTime::ZERO + TICK + SimDuration::from_millis(1),
            &mut sink,
        );
        assert!(!seen(&sim, a[1]).iter().any(|s| s == "ping from a/probe #1"));
        assert_eq!(sim.stats().dropped, 1);
    }

    #[test]
    fn a_cancelled_or_crashed_timer_never_fires() {
        let (mut sim, a) = world(&["a"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        let armed: Vec<TimerId> = sim.actors[0].armed.iter().copied().collect();
        assert_eq!(armed.len(), 1);
        sim.effects.push(Effect::CancelTimer { id: armed[0] });
        sim.apply_effects(a[0], &mut sink);
        sim.run_until(SimTime::ZERO + SimDuration::from_secs(1), &mut sink);
        assert!(!seen(&sim, a[0]).iter().any(|s| s == "tick"));
        assert_eq!(sim.stats().timers, 0);
    }

    #[test]
    fn records_go_to_the_log_under_their_actor() {
        let (mut sim, a) = world(&["a"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        let record = Record::Availability {
            component: "k".into(),
            status: crate::engine::Status::Up,
            reason: "v".into(),
        };
        sim.effects.push(Effect::Record(record.clone()));
        sim.apply_effects(a[0], &mut sink);
        let last = sim.log().last().expect("logged");
        assert_eq!(
            last.kind,
            LogKind::Record {
                observer: Observer::from(a[0]),
                record
            }
        );
    }

    #[test]
    fn a_send_effect_goes_through_the_network() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        let b = sim.host_id("b").expect("b");
        let h = sim.host_id("a").expect("a");
        sim.network_mut().partition(&[vec![h], vec![b]]);
        sim.effects.push(Effect::Send {
            to: a[1].into(),
            from_port: Port::MAIN,
            msg: Box::new(Ping(99)),
        });
        sim.apply_effects(a[0], &mut sink);
        assert_eq!(sim.stats().dropped, 1, "partitioned: dropped at send");
    }

    /// What probe `a` heard back in the first second after `fault` hit `b` at 50 ms: the
    /// refusals, with the time of the first.
    fn refusals_after(fault: impl Fn(&mut Simulation, &mut NullSink)) -> (usize, Option<String>) {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO + SimDuration::from_millis(50), &mut sink);
        fault(&mut sim, &mut sink);
        sim.run_until(SimTime::ZERO + SimDuration::from_secs(1), &mut sink);
        let seen = seen(&sim, a[0]);
        let refused = seen.iter().filter(|s| s.starts_with("refused")).count();
        (
            refused,
            seen.iter().find(|s| s.starts_with("refused")).cloned(),
        )
    }

    #[test]
    fn a_stopped_or_crashed_process_on_a_live_host_refuses() {
        for stop in [true, false] {
            let (n, first) = refusals_after(|sim, sink| {
                let b = ActorId(1);
                if stop {
                    sim.stop_process(b, sink);
                } else {
                    sim.crash_actor(b, sink);
                }
            });
            // a pings b at every 100 ms tick from 100 ms to 1 s: each one is refused.
            assert_eq!(n, 9, "stop={stop}");
            assert_eq!(first.as_deref(), Some("refused Ping to b/probe"));
        }
    }

    #[test]
    fn the_refusal_takes_one_round_trip_and_reaches_the_sending_port() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        sim.stop_process(a[1], &mut sink);
        sim.run_until(SimTime::ZERO + TICK, &mut sink);
        // Sent at 100 ms over 1 ms links: the reset is back at 102 ms, not before.
        sim.run_until(
            SimTime::ZERO + TICK + SimDuration::from_micros(1999),
            &mut sink,
        );
        assert!(!seen(&sim, a[0]).iter().any(|s| s.starts_with("refused")));
        sim.run_until(
            SimTime::ZERO + TICK + SimDuration::from_millis(2),
            &mut sink,
        );
        assert_eq!(
            seen(&sim, a[0]).last().map(String::as_str),
            Some("refused Ping to b/probe")
        );
    }

    #[test]
    fn a_down_paused_or_cut_off_receiver_is_silence() {
        let host_down = refusals_after(|sim, sink| {
            let b = sim.host_id("b").expect("b");
            sim.crash_host(b, sink);
        });
        assert_eq!(host_down, (0, None), "host down");
        let paused = refusals_after(|sim, sink| {
            sim.pause_process(ActorId(1), sink);
        });
        assert_eq!(paused, (0, None), "paused");
        let cut_off = refusals_after(|sim, sink| {
            let (a, b) = (sim.host_id("a").expect("a"), sim.host_id("b").expect("b"));
            sim.net.partition(&[vec![a], vec![b]]);
            sim.stop_process(ActorId(1), sink);
        });
        assert_eq!(cut_off, (0, None), "partitioned and stopped");
        let one_way_back = refusals_after(|sim, sink| {
            let (a, b) = (sim.host_id("a").expect("a"), sim.host_id("b").expect("b"));
            // The ping gets there but the reset cannot come back.
            sim.net.cut_one_way(b, a);
            sim.stop_process(ActorId(1), sink);
        });
        assert_eq!(one_way_back, (0, None), "return path cut");
    }

    /// What probe `a` was told about its connection to `b` in the 50 ms after `fault` hit `b`
    /// at 50 ms (between two ticks, so no ping is refused in that window).
    fn closures_after(fault: impl Fn(&mut Simulation, &mut NullSink)) -> Vec<(u64, String)> {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO + SimDuration::from_millis(50), &mut sink);
        let before = seen(&sim, a[0]).len();
        fault(&mut sim, &mut sink);
        let mut heard = Vec::new();
        for ms in 51..=99 {
            sim.run_until(SimTime::ZERO + SimDuration::from_millis(ms), &mut sink);
            let seen = seen(&sim, a[0]);
            heard.extend(seen[before + heard.len()..].iter().map(|s| (ms, s.clone())));
        }
        heard
    }

    #[test]
    fn a_process_death_on_a_live_host_resets_its_connections_after_one_trip() {
        for stop in [true, false] {
            let heard = closures_after(|sim, sink| {
                if stop {
                    sim.stop_process(ActorId(1), sink);
                } else {
                    sim.crash_actor(ActorId(1), sink);
                }
            });
            assert_eq!(heard, [(51, "closed b/probe".to_owned())], "stop={stop}");
        }
    }

    #[test]
    fn a_host_crash_a_pause_or_a_cut_sends_no_reset() {
        let host_down = closures_after(|sim, sink| {
            let b = sim.host_id("b").expect("b");
            sim.crash_host(b, sink);
        });
        assert_eq!(host_down, [], "host down");
        let paused = closures_after(|sim, sink| {
            sim.pause_process(ActorId(1), sink);
        });
        assert_eq!(paused, [], "paused");
        let cut_off = closures_after(|sim, sink| {
            let (a, b) = (sim.host_id("a").expect("a"), sim.host_id("b").expect("b"));
            sim.net.cut_one_way(b, a);
            sim.crash_actor(ActorId(1), sink);
        });
        assert_eq!(cut_off, [], "the way back is cut");
    }

    #[test]
    fn a_reset_reaches_only_live_holders_of_the_connection() {
        let (mut sim, a) = world(&["a", "b", "c"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO + SimDuration::from_millis(50), &mut sink);
        // c closed its connection to b, and a's process died before b's did.
        sim.effects.push(Effect::Disconnect {
            server: a[1],
            port: Port::MAIN,
        });
        sim.apply_effects(a[2], &mut sink);
        sim.crash_actor(a[0], &mut sink);
        sim.crash_actor(a[1], &mut sink);
        sim.run_until(SimTime::ZERO + SimDuration::from_millis(60), &mut sink);
        assert!(!seen(&sim, a[0]).iter().any(|s| s.starts_with("closed")));
        // c still hears of a's death (it never closed that one), not of b's.
        let c_heard: Vec<&String> = seen(&sim, a[2])
            .iter()
            .filter(|s| s.starts_with("closed"))
            .collect();
        assert_eq!(c_heard, ["closed a/probe"]);
    }

    #[test]
    fn a_refusal_for_a_sender_that_died_since_is_dropped() {
        let (mut sim, a) = world(&["a", "b"]);
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO, &mut sink);
        sim.stop_process(a[1], &mut sink);
        sim.run_until(SimTime::ZERO + TICK, &mut sink);
        // a's ping is in flight; a dies and restarts before the reset is back.
        sim.crash_actor(a[0], &mut sink);
        sim.start_actor(a[0], true, &mut sink);
        sim.run_until(
            SimTime::ZERO + TICK + SimDuration::from_millis(3),
            &mut sink,
        );
        assert!(!seen(&sim, a[0]).iter().any(|s| s.starts_with("refused")));
    }
}
