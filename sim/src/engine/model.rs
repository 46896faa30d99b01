//! The sans-io model interface, in the spirit of raft-rs's `RawNode`: a model is a state
//! machine that is handed one [`Event`] at a time and answers with [`Effect`]s (send a message,
//! arm or cancel a timer, record a state change) collected in its [`Ctx`]. It never reads a
//! clock, never touches a global RNG and never does I/O, so it can be unit-tested by building a
//! `Ctx` by hand, and the engine alone decides delivery, time and failure.

use std::any::Any;
use std::fmt;

use serde::Serialize;
use topology::fault::Fault;

use super::address::Address;
use super::fact::{Fact, FactRecord};
use super::rng::SimRng;
use super::time::{SimDuration, SimTime};

/// Index of a host in the simulation, in the order hosts were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);

/// Index of an actor (one model instance on one host), in the order actors were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(pub u32);

/// A timer handle, unique within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// Which part of an actor an event is for: the actor's own handler ([`Port::MAIN`]) or one of
/// the sub-machines it embeds (a client session, one storage session per volume), numbered by
/// the parent (see [`Embedded`](super::sub::Embedded)). A message carries its sender's port so
/// the reply comes back to the sub-machine that asked; a timer fires at the port that armed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Port(pub u32);

impl Port {
    /// The actor's own handler.
    pub const MAIN: Port = Port(0);
}

/// Implements [`Message`] for each listed type, its kind being the type's name (what traces
/// and drop records show).
macro_rules! message_kind {
    ($($name:ident),* $(,)?) => {
        $(impl $crate::engine::Message for $name {
            fn kind(&self) -> &'static str {
                stringify!($name)
            }
        })*
    };
}
pub(crate) use message_kind;

/// Where a message goes: an actor, and the port inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// The actor.
    pub actor: ActorId,
    /// The port inside it.
    pub port: Port,
}

impl Endpoint {
    /// `port` of `actor`.
    pub fn new(actor: ActorId, port: Port) -> Self {
        Endpoint { actor, port }
    }
}

impl From<ActorId> for Endpoint {
    fn from(actor: ActorId) -> Self {
        Endpoint {
            actor,
            port: Port::MAIN,
        }
    }
}

/// What a timer carries: a value of the model's own type (typically an enum of its timers),
/// handed back when it fires, instead of a number the model packs and unpacks. Its `Debug`
/// text goes into the trace, so the same rules as for messages apply.
pub trait TimerTag: Any + fmt::Debug {}

impl<T: Any + fmt::Debug> TimerTag for T {}

impl dyn TimerTag {
    /// The tag as its concrete type, if it is a `T`.
    pub fn downcast_ref<T: TimerTag>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }

    /// True when the tag is a `T` equal to `value`.
    pub fn is<T: TimerTag + PartialEq>(&self, value: &T) -> bool {
        self.downcast_ref::<T>() == Some(value)
    }
}

/// A message one actor sends another. Its `Debug` text goes into the trace, so it must not
/// depend on hash order or addresses (use `BTreeMap`, never `HashMap`, inside messages).
pub trait Message: Any + fmt::Debug {
    /// A short stable name for the message type, e.g. `Heartbeat`.
    fn kind(&self) -> &'static str;
}

impl dyn Message {
    /// The message as its concrete type, if it is a `T`.
    pub fn downcast_ref<T: Message>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }
}

/// What happened to the actor.
#[derive(Debug)]
pub enum Event<'a> {
    /// The actor starts: at time zero, after its host restarts, or after `ProcessStart`.
    Start {
        /// True when the actor ran before and crashed or was stopped.
        restarted: bool,
    },
    /// A message arrived.
    Message {
        /// The sender.
        from: ActorId,
        /// The sender's port: reply to `Endpoint::new(from, from_port)` so the answer reaches
        /// the sub-machine that asked.
        from_port: Port,
        /// The payload; use `downcast_ref` to read it.
        msg: &'a dyn Message,
    },
    /// A timer the actor armed fired.
    Timer {
        /// Its handle, as returned by [`Ctx::set_timer`].
        id: TimerId,
        /// The tag given when it was armed; use `downcast_ref` to read it.
        tag: &'a dyn TimerTag,
    },
    /// A message this actor sent was refused: the receiving host is up and reachable but no
    /// process listens there (it crashed or was stopped), as a TCP RST after one round trip.
    Refused {
        /// Where the message was going.
        to: Endpoint,
        /// The message, so the sender knows which request failed.
        msg: &'a dyn Message,
    },
    /// The connection this port held to `peer` (see [`Ctx::connect`]) was reset: `peer`'s
    /// process died while its host stayed up, and the kernel's FIN or RST came back.
    Closed {
        /// The server whose process died.
        peer: ActorId,
    },
    /// A fault was applied somewhere in the cluster (every running actor is told; most ignore
    /// it, but e.g. a Kubernetes model reacts to `Drain` and a Ceph model to `DiskLoss`).
    Fault(&'a Fault),
}

pub use topology::timeline::Status;

/// A state change worth keeping: it goes to the trace, the checks and the timelines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "camelCase")]
pub enum Record {
    /// The observer's view of a component's availability changed.
    Availability {
        /// Component name, e.g. `host/n1` or `etcd`.
        component: String,
        /// New status.
        status: Status,
        /// Why, for people.
        reason: String,
    },
    /// A model-specific fact as a typed value (read it with [`FactRecord::get`]).
    Fact(FactRecord),
}

/// One effect a model asks the engine to carry out.
#[derive(Debug)]
pub enum Effect {
    /// Send `msg` to `to` over the simulated network.
    Send {
        /// Destination.
        to: Endpoint,
        /// The sending port (where a reply or a refusal goes).
        from_port: Port,
        /// Payload.
        msg: Box<dyn Message>,
    },
    /// Fire a `Timer` event with `tag` at `port` after `after`.
    SetTimer {
        /// The handle returned to the model.
        id: TimerId,
        /// Delay.
        after: SimDuration,
        /// Returned in the event.
        tag: Box<dyn TimerTag>,
        /// The port that armed it, where it fires.
        port: Port,
    },
    /// Forget a timer (no effect if it already fired).
    CancelTimer {
        /// Which.
        id: TimerId,
    },
    /// Keep a state change.
    Record(Record),
    /// Announce `address` (a gratuitous ARP): it resolves to this actor's `port` from now.
    Claim {
        /// The address.
        address: Address,
        /// The claiming port.
        port: Port,
    },
    /// The process finished its shutdown path (see [`Model::terminate`]) and exits now.
    Exit,
    /// Give `address` up, if this actor's `port` still holds it.
    Release {
        /// The address.
        address: Address,
        /// The releasing port.
        port: Port,
    },
    /// This port holds a connection to `server` from now on: reset it when `server` dies.
    Connect {
        /// The server.
        server: ActorId,
        /// The client port.
        port: Port,
    },
    /// This port closed its connection to `server`.
    Disconnect {
        /// The server.
        server: ActorId,
        /// The client port.
        port: Port,
    },
    /// Send `msg` to whoever holds `address` now (silence if no one does), or, with a
    /// `service`, to the process of that model name on the holder's host.
    SendToAddress {
        /// The address.
        address: Address,
        /// The model listening on the address's host (haproxy behind a keepalived VIP).
        service: Option<&'static str>,
        /// The sending port.
        from_port: Port,
        /// Payload.
        msg: Box<dyn Message>,
    },
}

/// Facts about the simulated world that models may look up: host and actor names, and how
/// often each host rebooted.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub(crate) hosts: Vec<String>,
    pub(crate) actors: Vec<(HostId, String)>,
    /// Per host, how many times it came back after a crash.
    pub(crate) reboots: Vec<u64>,
}

impl Directory {
    /// Host names in host-id order.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The host called `name`.
    pub fn host_id(&self, name: &str) -> Option<HostId> {
        let i = self.hosts.iter().position(|n| n == name)?;
        Some(HostId(u32::try_from(i).ok()?))
    }

    /// Name of `host` (empty if out of range).
    pub fn host_name(&self, host: HostId) -> &str {
        self.hosts
            .get(host.0 as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Host an actor lives on.
    pub fn actor_host(&self, actor: ActorId) -> Option<HostId> {
        self.actors.get(actor.0 as usize).map(|(h, _)| *h)
    }

    /// Model name of an actor.
    pub fn actor_model(&self, actor: ActorId) -> &str {
        self.actors
            .get(actor.0 as usize)
            .map(|(_, m)| m.as_str())
            .unwrap_or("")
    }

    /// Every actor running the model `model`, in actor-id order.
    pub fn actors_named<'a>(&'a self, model: &'a str) -> impl Iterator<Item = ActorId> + 'a {
        self.actors
            .iter()
            .enumerate()
            .filter(move |(_, (_, m))| m == model)
            .map(|(i, _)| ActorId(i as u32))
    }

    /// The actor running `model` on `host`, if any.
    pub fn actor_on(&self, host: HostId, model: &str) -> Option<ActorId> {
        self.actors
            .iter()
            .position(|(h, m)| *h == host && m == model)
            .map(|i| ActorId(i as u32))
    }

    /// Adds a host; used by the engine and by unit tests that build a `Ctx` by hand.
    pub fn add_host(&mut self, name: &str) -> HostId {
        self.hosts.push(name.to_owned());
        self.reboots.push(0);
        HostId((self.hosts.len() - 1) as u32)
    }

    /// How many times `host` came back after a crash: what a process reads from
    /// `/proc/sys/kernel/random/boot_id` to tell a reboot (its host's volatile state gone:
    /// containers, the kernel's rules) from its own restart.
    pub fn reboots(&self, host: HostId) -> u64 {
        self.reboots.get(host.0 as usize).copied().unwrap_or(0)
    }

    /// `host` came back after a crash.
    pub(crate) fn rebooted(&mut self, host: HostId) {
        if let Some(n) = self.reboots.get_mut(host.0 as usize) {
            *n += 1;
        }
    }

    /// Adds an actor; used by the engine and by unit tests that build a `Ctx` by hand.
    pub fn add_actor(&mut self, host: HostId, model: &str) -> ActorId {
        self.actors.push((host, model.to_owned()));
        ActorId((self.actors.len() - 1) as u32)
    }
}

/// Everything a model may see and do while it handles one event.
#[derive(Debug)]
pub struct Ctx<'a> {
    now: SimTime,
    me: ActorId,
    host: HostId,
    rng: &'a mut SimRng,
    directory: &'a Directory,
    effects: &'a mut Vec<Effect>,
    next_timer: &'a mut u64,
    port: Port,
}

impl<'a> Ctx<'a> {
    /// A context for actor `me` on `host` at `now`. The engine builds these; tests may too.
    pub fn new(
        now: SimTime,
        me: ActorId,
        host: HostId,
        rng: &'a mut SimRng,
        directory: &'a Directory,
        effects: &'a mut Vec<Effect>,
        next_timer: &'a mut u64,
    ) -> Self {
        Ctx {
            now,
            me,
            host,
            rng,
            directory,
            effects,
            next_timer,
            port: Port::MAIN,
        }
    }

    /// The same context addressed to `port`: what the engine builds for an event to a
    /// sub-machine; tests may too.
    pub fn with_port(mut self, port: Port) -> Self {
        self.port = port;
        self
    }

    /// The port this event is addressed to, and that this context sends and arms timers from.
    pub fn port(&self) -> Port {
        self.port
    }

    /// This context seen from `port`: how a parent lets an embedded sub-machine act, so the
    /// sub-machine's timers fire at its port and replies to its messages come back to it.
    pub fn scoped(&mut self, port: Port) -> Ctx<'_> {
        Ctx {
            now: self.now,
            me: self.me,
            host: self.host,
            rng: &mut *self.rng,
            directory: self.directory,
            effects: &mut *self.effects,
            next_timer: &mut *self.next_timer,
            port,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// This actor.
    pub fn me(&self) -> ActorId {
        self.me
    }

    /// The host this actor runs on.
    pub fn host(&self) -> HostId {
        self.host
    }

    /// This actor's own random stream.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    /// Names of hosts and actors.
    pub fn directory(&self) -> &Directory {
        self.directory
    }

    /// Sends `msg` to `to` (an actor, or a port of one) from this context's port.
    pub fn send(&mut self, to: impl Into<Endpoint>, msg: impl Message) {
        self.effects.push(Effect::Send {
            to: to.into(),
            from_port: self.port,
            msg: Box::new(msg),
        });
    }

    /// Sends `msg` to whoever holds `address` when it is sent (see [`Ctx::claim`]).
    pub fn send_to_address(&mut self, address: Address, msg: impl Message) {
        self.effects.push(Effect::SendToAddress {
            address,
            service: None,
            from_port: self.port,
            msg: Box::new(msg),
        });
    }

    /// Sends `msg` to the `service` process on the host that holds `address` when it is sent:
    /// an IP address belongs to a host, and a port on it to whichever process listens there
    /// (keepalived holds the VIP, haproxy answers on it). A dead listener on a live host
    /// refuses; a held address whose host is down or cut off is silence.
    pub fn send_to_service(&mut self, address: Address, service: &'static str, msg: impl Message) {
        self.effects.push(Effect::SendToAddress {
            address,
            service: Some(service),
            from_port: self.port,
            msg: Box::new(msg),
        });
    }

    /// Claims `address` for this context's port, taking it over from any holder.
    pub fn claim(&mut self, address: Address) {
        self.effects.push(Effect::Claim {
            address,
            port: self.port,
        });
    }

    /// Releases `address` if this context's port holds it.
    pub fn release(&mut self, address: Address) {
        self.effects.push(Effect::Release {
            address,
            port: self.port,
        });
    }

    /// Marks this port as holding a connection to `server` (a gRPC client's TCP connection to
    /// an etcd member): when `server`'s process dies on a live, reachable host, this port gets
    /// `Event::Closed` one network trip later. Silence when the host crashes or the process is
    /// paused, as with real sockets.
    pub fn connect(&mut self, server: ActorId) {
        self.effects.push(Effect::Connect {
            server,
            port: self.port,
        });
    }

    /// Forgets the connection [`Ctx::connect`] opened.
    pub fn disconnect(&mut self, server: ActorId) {
        self.effects.push(Effect::Disconnect {
            server,
            port: self.port,
        });
    }

    /// Arms a timer that fires after `after` at this context's port, carrying `tag`.
    pub fn set_timer(&mut self, after: SimDuration, tag: impl TimerTag) -> TimerId {
        let id = TimerId(*self.next_timer);
        *self.next_timer += 1;
        self.effects.push(Effect::SetTimer {
            id,
            after,
            tag: Box::new(tag),
            port: self.port,
        });
        id
    }

    /// Ends a shutdown begun by [`Model::terminate`]: the process exits (like a stop) once
    /// this handler returns.
    pub fn exit(&mut self) {
        self.effects.push(Effect::Exit);
    }

    /// Cancels a timer.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.effects.push(Effect::CancelTimer { id });
    }

    /// Records that this actor now sees `component` as `status`.
    pub fn availability(
        &mut self,
        component: impl Into<String>,
        status: Status,
        reason: impl Into<String>,
    ) {
        self.effects.push(Effect::Record(Record::Availability {
            component: component.into(),
            status,
            reason: reason.into(),
        }));
    }

    /// States a model-specific fact as a typed value.
    pub fn fact(&mut self, fact: impl Fact) {
        self.effects
            .push(Effect::Record(Record::Fact(FactRecord::new(fact))));
    }
}

/// A simulated process: one instance of a model on one host.
///
/// `Any` lets harnesses and invariants read a model's state after (or while) it runs, e.g. a
/// client's recorded history or an etcd member's durable log, through
/// [`Simulation::model`](super::Simulation::model) and
/// [`WorldView::model`](crate::checks::invariant::WorldView::model); the model itself never
/// sees another model's state.
pub trait Model: Any + fmt::Debug {
    /// Handles one event, pushing effects into `ctx`.
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>);

    /// The process died (host crash or `ProcessStop`): drop volatile state, keep what the real
    /// process keeps on disk. Its timers are cancelled and its in-flight messages to it dropped
    /// by the engine; it gets `Event::Start { restarted: true }` when it comes back.
    fn on_crash(&mut self);

    /// The process got SIGTERM (`ProcessTerminate`). Return `false` (the default) when the
    /// real program has no shutdown path worth modelling: the engine stops it at once, as a
    /// kill. Return `true` after starting the shutdown (e.g. an etcd leader handing leadership
    /// over); the model then calls [`Ctx::exit`] when done, and the engine kills it anyway after
    /// [`TERMINATE_KILL_AFTER`](super::TERMINATE_KILL_AFTER), as systemd does.
    fn terminate(&mut self, _ctx: &mut Ctx<'_>) -> bool {
        false
    }
}

impl dyn Model {
    /// The model as its concrete type, if it is a `T`.
    pub fn downcast_ref<T: Model>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }
}
