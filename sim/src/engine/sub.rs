//! Composable sub-state-machines: a model embeds another state machine (an apiserver its etcd
//! client session, a kubelet one storage session per volume) that arms its own typed timers
//! and sends its own messages through the parent's [`Ctx`], scoped to a [`Port`] of its own.
//! The engine stamps the port on what the sub-machine sends and arms, and addresses the
//! replies, refusals and timers back to it; the parent hands each event to [`Embedded::route`]
//! first, which passes it to the sub-machine it belongs to and collects that sub-machine's
//! outputs. Still sans-io: a sub-machine, like a model, only sees events and pushes effects.

use std::collections::BTreeMap;
use std::fmt;

use super::model::{Ctx, Event, Port};

/// A state machine that lives inside a model, on its own port.
pub trait SubMachine: fmt::Debug {
    /// What it reports to its parent (a completed request, a watch event, a lost session).
    type Output;

    /// Handles one event addressed to its port (`ctx.port()` is that port), pushing effects
    /// into `ctx` and reports for the parent into `out`.
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<Self::Output>);
}

/// Hands `event` to `machine` when it is addressed to `port`, the one port a model keeps a
/// single sub-machine on (a client's etcd session), and returns what the machine reported; an
/// event for any other port comes back untouched for the parent to handle.
pub fn route_to<'e, S: SubMachine>(
    machine: &mut S,
    port: Port,
    ctx: &mut Ctx<'_>,
    event: Event<'e>,
) -> Result<Vec<S::Output>, Event<'e>> {
    if ctx.port() != port {
        return Err(event);
    }
    let mut out = Vec::new();
    machine.handle(ctx, event, &mut out);
    Ok(out)
}

/// Sub-machines of one kind inside one model, each on its own port and known by a key (a
/// volume name, an index). Ports are handed out from `first` upwards and never reused within
/// a run of the parent, so a late reply to a removed sub-machine is not mistaken for one to
/// its successor. A model with two tables gives them disjoint ranges.
#[derive(Debug)]
pub struct Embedded<K, S> {
    first: u32,
    capacity: u32,
    next: u32,
    by_key: BTreeMap<K, Port>,
    machines: BTreeMap<Port, (K, S)>,
}

/// The port range of an [`Embedded`] table is used up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("all {capacity} ports from {first} on are taken")]
pub struct PortsExhausted {
    /// First port of the table.
    pub first: u32,
    /// How many ports it had.
    pub capacity: u32,
}

impl<K: Ord + Clone, S: SubMachine> Embedded<K, S> {
    /// An empty table using ports `first .. first + capacity` (`first` must not be 0, the
    /// parent's own port).
    pub fn new(first: Port, capacity: u32) -> Self {
        let first = first.0.max(1);
        Embedded {
            first,
            capacity,
            next: first,
            by_key: BTreeMap::new(),
            machines: BTreeMap::new(),
        }
    }

    /// Adds `machine` under `key` (replacing any machine under that key) on a fresh port.
    pub fn insert(&mut self, key: K, machine: S) -> Result<Port, PortsExhausted> {
        if self.next - self.first >= self.capacity {
            return Err(PortsExhausted {
                first: self.first,
                capacity: self.capacity,
            });
        }
        let port = Port(self.next);
        self.next += 1;
        if let Some(old) = self.by_key.insert(key.clone(), port) {
            self.machines.remove(&old);
        }
        self.machines.insert(port, (key, machine));
        Ok(port)
    }

    /// Removes the machine under `key`; later events to its port are ignored.
    pub fn remove(&mut self, key: &K) -> Option<S> {
        let port = self.by_key.remove(key)?;
        self.machines.remove(&port).map(|(_, m)| m)
    }

    /// Forgets every machine (the parent crashed); ports are not reused.
    pub fn clear(&mut self) {
        self.by_key.clear();
        self.machines.clear();
    }

    /// The machine under `key`.
    pub fn get(&self, key: &K) -> Option<&S> {
        let port = self.by_key.get(key)?;
        self.machines.get(port).map(|(_, m)| m)
    }

    /// Every machine, by key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &S)> {
        self.by_key
            .iter()
            .filter_map(|(k, p)| self.machines.get(p).map(|(_, m)| (k, m)))
    }

    /// The port of the machine under `key`.
    pub fn port(&self, key: &K) -> Option<Port> {
        self.by_key.get(key).copied()
    }

    /// Whether `port` is one this table handed out (now or before).
    pub fn owns(&self, port: Port) -> bool {
        port.0 >= self.first && port.0 < self.next
    }

    /// Lets the machine under `key` act now (e.g. to issue a request the parent decided on),
    /// through `ctx` scoped to its port.
    pub fn with<R>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &K,
        act: impl FnOnce(&mut S, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let port = *self.by_key.get(key)?;
        let (_, machine) = self.machines.get_mut(&port)?;
        Some(act(machine, &mut ctx.scoped(port)))
    }

    /// Hands `event` to the machine it is addressed to, if it belongs to this table: returns
    /// `Err(event)` untouched when it does not (so the parent can offer it elsewhere), and
    /// `Ok(())` when it was handled, or was for a port this table used to own.
    pub fn route<'e>(
        &mut self,
        ctx: &mut Ctx<'_>,
        event: Event<'e>,
        out: &mut Vec<(K, S::Output)>,
    ) -> Result<(), Event<'e>> {
        let port = ctx.port();
        if !self.owns(port) {
            return Err(event);
        }
        if let Some((key, machine)) = self.machines.get_mut(&port) {
            let mut reports = Vec::new();
            machine.handle(ctx, event, &mut reports);
            out.extend(reports.into_iter().map(|r| (key.clone(), r)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{
        ActorId, Endpoint, Message, Model, NullSink, SimConfig, SimDuration, SimTime, Simulation,
    };
    use crate::net::LinkConfig;

    #[derive(Debug)]
    struct Req(u32);
    impl Message for Req {
        fn kind(&self) -> &'static str {
            "Req"
        }
    }

    #[derive(Debug)]
    struct Resp(u32);
    impl Message for Resp {
        fn kind(&self) -> &'static str {
            "Resp"
        }
    }

    /// Answers every `Req` to the endpoint (actor and port) it came from.
    #[derive(Debug)]
    struct Echo;
    impl Model for Echo {
        fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
            if let Event::Message {
                from,
                from_port,
                msg,
            } = event
                && let Some(Req(n)) = msg.downcast_ref::<Req>()
            {
                ctx.send(Endpoint::new(from, from_port), Resp(*n));
            }
        }
        fn on_crash(&mut self) {}
    }

    /// Never answers.
    #[derive(Debug)]
    struct Mute;
    impl Model for Mute {
        fn handle(&mut self, _ctx: &mut Ctx<'_>, _event: Event<'_>) {}
        fn on_crash(&mut self) {}
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum SessionTimer {
        GiveUp(u32),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum ParentTimer {
        Tick,
    }

    /// A one-request session: asks `server`, gives up after 50 ms.
    #[derive(Debug)]
    struct Session {
        server: ActorId,
        n: u32,
        done: bool,
    }

    impl Session {
        fn begin(&mut self, ctx: &mut Ctx<'_>) {
            ctx.send(self.server, Req(self.n));
            ctx.set_timer(SimDuration::from_millis(50), SessionTimer::GiveUp(self.n));
        }
    }

    impl SubMachine for Session {
        type Output = String;
        fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>, out: &mut Vec<String>) {
            match event {
                Event::Message { msg, .. } => {
                    if let Some(Resp(n)) = msg.downcast_ref::<Resp>() {
                        self.done = true;
                        out.push(format!("answer {n} at port {}", ctx.port().0));
                    }
                }
                Event::Timer { tag, .. } => {
                    if let Some(SessionTimer::GiveUp(n)) = tag.downcast_ref::<SessionTimer>()
                        && !self.done
                    {
                        self.done = true;
                        out.push(format!("gave up {n}"));
                    }
                }
                _ => {}
            }
        }
    }

    /// A kubelet-like parent: one session per volume, plus a timer of its own.
    #[derive(Debug)]
    struct Parent {
        volumes: Vec<(&'static str, &'static str)>,
        sessions: Embedded<&'static str, Session>,
        log: Vec<String>,
    }

    impl Model for Parent {
        fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
            let mut out = Vec::new();
            let event = match self.sessions.route(ctx, event, &mut out) {
                Ok(()) => {
                    for (volume, report) in out {
                        self.log.push(format!("{volume}: {report}"));
                    }
                    return;
                }
                Err(event) => event,
            };
            match event {
                Event::Start { .. } => {
                    for (n, (volume, server)) in self.volumes.clone().into_iter().enumerate() {
                        let server = ctx.directory().actors_named(server).next().expect("server");
                        let session = Session {
                            server,
                            n: n as u32 + 1,
                            done: false,
                        };
                        self.sessions.insert(volume, session).expect("port");
                        self.sessions.with(ctx, &volume, |s, ctx| s.begin(ctx));
                    }
                    ctx.set_timer(SimDuration::from_millis(10), ParentTimer::Tick);
                }
                Event::Timer { tag, .. } if tag.is(&ParentTimer::Tick) => {
                    self.log
                        .push(format!("parent tick at port {}", ctx.port().0));
                }
                other => self.log.push(format!("parent got {other:?}")),
            }
        }
        fn on_crash(&mut self) {
            self.sessions.clear();
        }
    }

    #[test]
    fn each_sub_machine_gets_its_own_replies_and_timers() {
        let mut config = SimConfig::new(1);
        config.default_link = LinkConfig::fixed(SimDuration::from_millis(1));
        let mut sim = Simulation::new(config);
        let (a, b, c) = (
            sim.add_host("a").expect("a"),
            sim.add_host("b").expect("b"),
            sim.add_host("c").expect("c"),
        );
        sim.add_actor(b, "echo", Box::new(Echo)).expect("echo");
        sim.add_actor(c, "mute", Box::new(Mute)).expect("mute");
        let parent = sim
            .add_actor(
                a,
                "kubelet",
                Box::new(Parent {
                    volumes: vec![("vol-a", "echo"), ("vol-b", "mute"), ("vol-c", "echo")],
                    sessions: Embedded::new(Port(1), 8),
                    log: Vec::new(),
                }),
            )
            .expect("parent");
        sim.run_until(SimTime::ZERO + SimDuration::from_secs(1), &mut NullSink);
        let p = sim.model::<Parent>(parent).expect("parent");
        assert_eq!(
            p.log,
            [
                "vol-a: answer 1 at port 1",
                "vol-c: answer 3 at port 3",
                "parent tick at port 0",
                "vol-b: gave up 2",
            ]
        );
        assert_eq!(p.sessions.port(&"vol-b"), Some(Port(2)));
        assert_eq!(p.sessions.iter().filter(|(_, s)| s.done).count(), 3);
    }

    #[test]
    fn a_removed_sub_machine_swallows_late_events_and_ports_are_not_reused() {
        let mut table: Embedded<u32, Session> = Embedded::new(Port(5), 2);
        let s = || Session {
            server: ActorId(0),
            n: 0,
            done: false,
        };
        assert_eq!(table.insert(1, s()), Ok(Port(5)));
        assert_eq!(table.insert(2, s()), Ok(Port(6)));
        assert!(table.remove(&1).is_some());
        assert_eq!(
            table.insert(3, s()),
            Err(PortsExhausted {
                first: 5,
                capacity: 2
            })
        );
        let mut dir = crate::engine::Directory::default();
        let h = dir.add_host("a");
        let me = dir.add_actor(h, "x");
        let mut rng = crate::engine::RngStreams::new(1).stream("t");
        let (mut effects, mut timers) = (Vec::new(), 0);
        let mut ctx = Ctx::new(
            SimTime::ZERO,
            me,
            h,
            &mut rng,
            &dir,
            &mut effects,
            &mut timers,
        );
        let mut out = Vec::new();
        let late = Resp(9);
        let event = |port| (port, late_event(&late));
        for (port, expect_owned) in [(Port(5), true), (Port(6), true), (Port(0), false)] {
            let (port, ev) = event(port);
            let routed = table.route(&mut ctx.scoped(port), ev, &mut out);
            assert_eq!(routed.is_ok(), expect_owned, "port {port:?}");
        }
        // Port 5's machine is gone: its late reply is swallowed, not reported.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 2);
    }

    fn late_event(msg: &Resp) -> Event<'_> {
        Event::Message {
            from: ActorId(0),
            from_port: Port::MAIN,
            msg,
        }
    }
}
