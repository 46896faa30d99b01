//! A heartbeat failure detector: every host sends a heartbeat to its peers every interval, and
//! marks a peer down once nothing has arrived from it for longer than the grace period. It is
//! the smallest protocol that exercises the whole engine (messages, timers, crashes, partitions,
//! pauses, records), and the shape the kubelet-lease and OSD-heartbeat models follow: sans-io,
//! volatile state lost on crash, durable state (the boot counter) kept.

use topology::component::Component;

use crate::engine::{ActorId, Ctx, Event, Message, Model, SimDuration, SimTime, Status};

/// Name the model registers under on every host.
pub const MODEL_NAME: &str = "heartbeat";
/// Interval between heartbeats (the workload the design and the benches use: 100 ms).
pub const DEFAULT_INTERVAL: SimDuration = SimDuration::from_millis(100);
/// Silence after which a peer is marked down: five missed heartbeats.
pub const DEFAULT_GRACE: SimDuration = SimDuration::from_millis(500);
/// The detector's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeartbeatTimer {
    /// The periodic tick: send heartbeats, check the peers.
    Tick,
}

/// Settings of the detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Time between heartbeats.
    pub interval: SimDuration,
    /// Silence after which a peer is marked down.
    pub grace: SimDuration,
    /// Watch only this many peers (the next ones around the ring) instead of all of them, so
    /// traffic grows linearly with the number of hosts.
    pub fanout: Option<usize>,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval: DEFAULT_INTERVAL,
            grace: DEFAULT_GRACE,
            fanout: None,
        }
    }
}

impl HeartbeatConfig {
    /// Longest time a correct detector may take to notice a silent peer: the grace, plus one
    /// interval until the next check, plus one interval of slack for delivery jitter.
    pub fn detection_bound(&self) -> SimDuration {
        self.grace + self.interval + self.interval
    }
}

/// The heartbeat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Sequence number within the sender's current boot.
    pub seq: u64,
    /// The sender's boot counter.
    pub boot: u64,
}

impl Message for Heartbeat {
    fn kind(&self) -> &'static str {
        "Heartbeat"
    }
}

#[derive(Clone, Debug)]
struct Peer {
    actor: ActorId,
    host: String,
    last_seen: SimTime,
    up: bool,
}

/// One host's detector.
#[derive(Clone, Debug)]
pub struct HeartbeatDetector {
    config: HeartbeatConfig,
    /// Durable: how many times this process has started (kept on disk).
    boot: u64,
    /// Volatile from here on.
    seq: u64,
    peers: Vec<Peer>,
}

impl HeartbeatDetector {
    /// A detector with `config`.
    pub fn new(config: HeartbeatConfig) -> Self {
        HeartbeatDetector {
            config,
            boot: 0,
            seq: 0,
            peers: Vec::new(),
        }
    }

    /// How many times this process has started.
    pub fn boots(&self) -> u64 {
        self.boot
    }

    /// Peers currently believed up, by host name.
    pub fn peers_up(&self) -> Vec<&str> {
        self.peers
            .iter()
            .filter(|p| p.up)
            .map(|p| p.host.as_str())
            .collect()
    }

    fn discover_peers(&mut self, ctx: &Ctx<'_>) {
        let dir = ctx.directory();
        let all: Vec<ActorId> = dir.actors_named(MODEL_NAME).collect();
        let Some(me) = all.iter().position(|a| *a == ctx.me()) else {
            return;
        };
        let others = all.len().saturating_sub(1);
        let count = self.config.fanout.map_or(others, |k| k.min(others));
        self.peers = (1..=count)
            .map(|step| all[(me + step) % all.len()])
            .map(|actor| Peer {
                actor,
                host: dir
                    .actor_host(actor)
                    .map(|h| dir.host_name(h).to_owned())
                    .unwrap_or_default(),
                last_seen: ctx.now(),
                up: true,
            })
            .collect();
    }

    fn tick(&mut self, ctx: &mut Ctx<'_>) {
        self.seq += 1;
        let beat = Heartbeat {
            seq: self.seq,
            boot: self.boot,
        };
        let now = ctx.now();
        for peer in &mut self.peers {
            ctx.send(peer.actor, beat);
            if peer.up && now.saturating_since(peer.last_seen) > self.config.grace {
                peer.up = false;
                let silent = now.saturating_since(peer.last_seen);
                ctx.availability(
                    Component::Heartbeat(peer.host.clone()),
                    Status::Down,
                    format!("silent for {silent}"),
                );
            }
        }
        ctx.set_timer(self.config.interval, HeartbeatTimer::Tick);
    }
}

impl Model for HeartbeatDetector {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => {
                self.boot += 1;
                self.seq = 0;
                self.discover_peers(ctx);
                for peer in &self.peers {
                    ctx.availability(
                        Component::Heartbeat(peer.host.clone()),
                        Status::Up,
                        "assumed up at start",
                    );
                }
                self.tick(ctx);
            }
            Event::Timer { tag, .. } if tag.is(&HeartbeatTimer::Tick) => self.tick(ctx),
            Event::Message { from, msg, .. } => {
                if msg.downcast_ref::<Heartbeat>().is_none() {
                    return;
                }
                let now = ctx.now();
                if let Some(peer) = self.peers.iter_mut().find(|p| p.actor == from) {
                    peer.last_seen = now;
                    if !peer.up {
                        peer.up = true;
                        ctx.availability(
                            Component::Heartbeat(peer.host.clone()),
                            Status::Up,
                            "heartbeat received",
                        );
                    }
                }
            }
            Event::Timer { .. }
            | Event::Refused { .. }
            | Event::Closed { .. }
            | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        self.seq = 0;
        self.peers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Directory, Effect, Record, RngStreams};

    #[test]
    fn unit_marks_silent_peer_down_without_the_engine() {
        let mut dir = Directory::default();
        let hosts: Vec<_> = ["a", "b", "c"].iter().map(|h| dir.add_host(h)).collect();
        let actors: Vec<_> = hosts
            .iter()
            .map(|h| dir.add_actor(*h, MODEL_NAME))
            .collect();
        let mut rng = RngStreams::new(1).stream("t");
        let (mut effects, mut timers) = (Vec::new(), 0u64);
        let mut det = HeartbeatDetector::new(HeartbeatConfig::default());
        let mut at =
            |t_ms: u64, det: &mut HeartbeatDetector, ev: Event<'_>, effects: &mut Vec<Effect>| {
                let now = SimTime::ZERO + SimDuration::from_millis(t_ms);
                let mut ctx = Ctx::new(
                    now,
                    actors[0],
                    hosts[0],
                    &mut rng,
                    &dir,
                    effects,
                    &mut timers,
                );
                det.handle(&mut ctx, ev);
            };
        at(0, &mut det, Event::Start { restarted: false }, &mut effects);
        let sends = effects
            .iter()
            .filter(|e| matches!(e, Effect::Send { .. }))
            .count();
        assert_eq!(sends, 2);
        effects.clear();
        let beat = Heartbeat { seq: 1, boot: 1 };
        for t in (100..=700).step_by(100) {
            at(
                t,
                &mut det,
                Event::Message {
                    from: actors[1],
                    from_port: crate::engine::Port::MAIN,
                    msg: &beat,
                },
                &mut effects,
            );
            at(
                t,
                &mut det,
                Event::Timer {
                    id: crate::engine::TimerId(0),
                    tag: &HeartbeatTimer::Tick,
                },
                &mut effects,
            );
        }
        let downs: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Record(Record::Availability {
                    component,
                    status: Status::Down,
                    ..
                }) => Some(component.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(downs, ["heartbeat/c"]);
        assert_eq!(det.peers_up(), ["b"]);
        det.on_crash();
        assert_eq!(det.boots(), 1, "boot counter is durable");
        assert!(det.peers_up().is_empty(), "peer view is volatile");
    }
}
