//! A tiny model for the engine's own unit tests: every probe pings every other probe each tick
//! and writes down, as text, every event it is handed. The tests then read what each probe saw
//! through `Simulation::model`, so the engine is tested through its public contract (what a
//! model sees), not its internals alone.

use super::model::{ActorId, Ctx, Event, Message, Model};
use super::time::SimDuration;
use super::world::{SimConfig, Simulation};
use crate::net::LinkConfig;

/// Model name the probes register under.
pub(crate) const PROBE: &str = "probe";
/// Tick period of a probe.
pub(crate) const TICK: SimDuration = SimDuration::from_millis(100);

/// The probe's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ping(pub(crate) u64);

impl Message for Ping {
    fn kind(&self) -> &'static str {
        "Ping"
    }
}

/// The probe's only timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeTimer {
    /// Time to ping the peers.
    Tick,
    /// The shutdown begun by SIGTERM is over.
    Exit,
}

/// Records what it is handed; pings its peers every [`TICK`].
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// Everything handled, as text (kept across crashes: it is the test's notebook).
    pub(crate) seen: Vec<String>,
    /// The `restarted` flag of every start.
    pub(crate) starts: Vec<bool>,
    /// How many times `on_crash` ran.
    pub(crate) crashes: u32,
    /// Pings sent so far.
    pub(crate) sent: u64,
    /// How long a shutdown after SIGTERM takes, if the probe has a shutdown path at all.
    pub(crate) shutdown: Option<SimDuration>,
}

impl Probe {
    fn peers(ctx: &Ctx<'_>) -> Vec<ActorId> {
        ctx.directory()
            .actors_named(PROBE)
            .filter(|a| *a != ctx.me())
            .collect()
    }

    fn name(ctx: &Ctx<'_>, actor: ActorId) -> String {
        let dir = ctx.directory();
        let host = dir.actor_host(actor).map_or("", |h| dir.host_name(h));
        format!("{host}/{}", dir.actor_model(actor))
    }
}

impl Model for Probe {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { restarted } => {
                self.starts.push(restarted);
                self.seen.push(format!("start restarted={restarted}"));
                // Every probe holds a connection to each peer, as a gRPC client would.
                for peer in Self::peers(ctx) {
                    ctx.connect(peer);
                }
                ctx.set_timer(TICK, ProbeTimer::Tick);
            }
            Event::Timer { tag, .. } if tag.is(&ProbeTimer::Exit) => {
                self.seen.push("exit".to_owned());
                ctx.exit();
            }
            Event::Timer { .. } => {
                self.seen.push("tick".to_owned());
                for peer in Self::peers(ctx) {
                    self.sent += 1;
                    ctx.send(peer, Ping(self.sent));
                }
                ctx.set_timer(TICK, ProbeTimer::Tick);
            }
            Event::Message { from, msg, .. } => {
                if let Some(Ping(n)) = msg.downcast_ref::<Ping>() {
                    let from = Self::name(ctx, from);
                    self.seen.push(format!("ping from {from} #{n}"));
                }
            }
            Event::Refused { to, msg } => {
                let to = Self::name(ctx, to.actor);
                self.seen.push(format!("refused {} to {to}", msg.kind()));
            }
            Event::Closed { peer } => {
                let peer = Self::name(ctx, peer);
                self.seen.push(format!("closed {peer}"));
            }
            Event::Fault(fault) => self.seen.push(format!("fault {fault}")),
        }
    }

    fn on_crash(&mut self) {
        self.crashes += 1;
    }

    fn terminate(&mut self, ctx: &mut Ctx<'_>) -> bool {
        self.seen.push("sigterm".to_owned());
        match self.shutdown {
            Some(after) => {
                ctx.set_timer(after, ProbeTimer::Exit);
                true
            }
            None => false,
        }
    }
}

/// A world with one probe per named host on fixed 1 ms links; returns the probes' ids.
pub(crate) fn world(hosts: &[&str]) -> (Simulation, Vec<ActorId>) {
    let mut config = SimConfig::new(1);
    config.default_link = LinkConfig::fixed(SimDuration::from_millis(1));
    let mut sim = Simulation::new(config);
    let mut actors = Vec::new();
    for name in hosts {
        let host = sim.add_host(name).expect("host");
        actors.push(
            sim.add_actor(host, PROBE, Box::new(Probe::default()))
                .expect("actor"),
        );
    }
    (sim, actors)
}
