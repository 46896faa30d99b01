//! Must-show: adding a model leaves the other models' event sequences unchanged. The etcd +
//! Ceph world is run twice with the same seed and fault plan, the second time with a chatty
//! extra model on every host (a message to every peer every 10 ms over the same links); the
//! sequence of events each etcd and Ceph actor handled (starts, crashes, deliveries with their
//! bodies, timers, facts), with virtual times, must be identical. This holds because each
//! flow (pair of actors) draws its latency and loss from its own random stream and keeps its
//! own FIFO order, and actor streams are named, not numbered.

use std::collections::BTreeMap;
use std::time::Duration;

use sim::engine::{Ctx, Event, Message, Model, SimDuration, SimTime, TraceEvent, TraceSink};
use sim::scenario::run::build_world;
use topology::fault::{Fault, FaultPlan, TimedFault};

const CHATTY: &str = "chatty";
const EVERY: SimDuration = SimDuration::from_millis(10);

#[derive(Debug)]
struct Chat(u64);

impl Message for Chat {
    fn kind(&self) -> &'static str {
        "Chat"
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChattyTimer {
    Talk,
}

/// Talks to every other chatty actor every [`EVERY`].
#[derive(Debug, Default)]
struct Chatty {
    said: u64,
    /// Highest sequence number heard from any peer.
    heard: u64,
}

impl Model for Chatty {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } => {
                ctx.set_timer(EVERY, ChattyTimer::Talk);
            }
            Event::Timer { tag, .. } if tag.is(&ChattyTimer::Talk) => {
                let peers: Vec<_> = ctx
                    .directory()
                    .actors_named(CHATTY)
                    .filter(|a| *a != ctx.me())
                    .collect();
                for peer in peers {
                    self.said += 1;
                    ctx.send(peer, Chat(self.said));
                }
                ctx.set_timer(EVERY, ChattyTimer::Talk);
            }
            Event::Message { msg, .. } => {
                if let Some(Chat(n)) = msg.downcast_ref::<Chat>() {
                    self.heard = self.heard.max(*n);
                }
            }
            _ => {}
        }
    }
    fn on_crash(&mut self) {}
}

/// Per etcd or Ceph actor, what it handled, in order.
#[derive(Default)]
struct Sequences {
    per_actor: BTreeMap<String, Vec<String>>,
    chat: u64,
}

fn watched(actor: &str) -> bool {
    actor
        .split('/')
        .nth(1)
        .is_some_and(|m| m.starts_with("etcd") || m.starts_with("ceph"))
}

impl Sequences {
    fn push(&mut self, actor: &str, line: String) {
        if watched(actor) {
            self.per_actor
                .entry(actor.to_owned())
                .or_default()
                .push(line);
        }
    }
}

impl TraceSink for Sequences {
    fn enabled(&self) -> bool {
        true
    }
    fn event(&mut self, event: &TraceEvent<'_>) {
        match event {
            TraceEvent::Start {
                t,
                actor,
                restarted,
            } => self.push(actor, format!("{t} start {restarted}")),
            TraceEvent::Crash { t, actor } => self.push(actor, format!("{t} crash")),
            TraceEvent::Deliver {
                t, from, to, body, ..
            } => {
                if body.starts_with("Chat(") {
                    self.chat += 1;
                }
                self.push(to, format!("{t} from {from}: {body}"));
            }
            TraceEvent::Timer { t, actor, tag } => self.push(actor, format!("{t} timer {tag}")),
            TraceEvent::Record { t, actor, record } => {
                self.push(actor, format!("{t} record {record:?}"))
            }
            _ => {}
        }
    }
}

fn run(seed: u64, chatty: bool) -> Sequences {
    let cluster = topology::default_cluster().expect("default topology");
    let mut sim = build_world(&cluster, seed).expect("world");
    let hosts: Vec<String> = cluster.spec.hosts.iter().map(|h| h.name.clone()).collect();
    if chatty {
        for name in &hosts {
            let host = sim.host_id(name).expect("host");
            sim.add_actor(host, CHATTY, Box::new(Chatty::default()))
                .expect("chatty");
        }
    }
    let at = |s: u64, fault: Fault| TimedFault {
        at: Duration::from_secs(s),
        fault,
    };
    let plan = FaultPlan::new(vec![
        at(
            40,
            Fault::HostCrash {
                host: hosts[0].clone(),
            },
        ),
        at(
            70,
            Fault::HostRestart {
                host: hosts[0].clone(),
            },
        ),
        at(
            90,
            Fault::Partition {
                groups: vec![vec![hosts[1].clone()]],
            },
        ),
        at(110, Fault::Heal),
    ]);
    sim.schedule_plan(&plan).expect("plan");
    let mut sink = Sequences::default();
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(150), &mut sink);
    sink
}

#[test]
fn a_chatty_extra_model_leaves_etcd_and_ceph_event_sequences_unchanged() {
    let seed = 11;
    let quiet = run(seed, false);
    let busy = run(seed, true);
    assert_eq!(quiet.chat, 0);
    assert!(busy.chat > 10_000, "the extra model chatted: {}", busy.chat);
    let actors: Vec<&String> = quiet.per_actor.keys().collect();
    assert!(
        actors.iter().any(|a| a.ends_with("/etcd"))
            && actors.iter().any(|a| a.ends_with("/ceph-osd")),
        "{actors:?}"
    );
    assert_eq!(
        actors,
        busy.per_actor.keys().collect::<Vec<_>>(),
        "same actors"
    );
    for (actor, events) in &quiet.per_actor {
        let other = &busy.per_actor[actor];
        assert!(events.len() > 10, "{actor} handled {} events", events.len());
        if let Some(i) = events.iter().zip(other).position(|(a, b)| a != b) {
            panic!(
                "{actor}: event {i} differs with the chatty model:\n  without: {}\n  with:    {}",
                events[i], other[i]
            );
        }
        assert_eq!(events.len(), other.len(), "{actor}: sequence lengths");
    }
}
