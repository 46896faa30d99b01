//! The engine's own promises, each on a tiny hand-built world: pause holds events and resume
//! delivers them, stop/start restarts a process, a crash drops in-flight messages and timers but
//! keeps durable state, cancelled timers never fire, per-link latency, one-way cuts, partitions
//! into any grouping, and heal. A `Probe` model pings its peers on a timer and logs everything
//! it is handed, with the virtual time it was handed it.

use std::time::Duration;

use sim::engine::{
    ActorId, Ctx, Event, Message, Model, SimConfig, SimDuration, SimTime, Simulation,
};
use sim::net::LinkConfig;
use sim::report::{JsonlSink, TraceDetail};
use topology::fault::Fault;

const MODEL: &str = "probe";
/// Timer tag of the ping tick.
const TICK: u64 = 1;
/// First tag of the one-shot timers armed at first start.
const ONE_SHOT: u64 = 100;
/// Link delay of the test worlds unless a test sets another.
const LINK: SimDuration = SimDuration::from_millis(1);

#[derive(Debug)]
struct Ping {
    sent: SimTime,
}

impl Message for Ping {
    fn kind(&self) -> &'static str {
        "Ping"
    }
}

/// What the probe was handed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Start { restarted: bool },
    Ping { from: String, sent: SimTime },
    Timer { tag: u64 },
    Crash,
}

#[derive(Debug, Default)]
struct Probe {
    /// Who to ping every `every`.
    peers: Vec<ActorId>,
    every: Option<SimDuration>,
    /// One-shot timers armed at the first start (tags ONE_SHOT, ONE_SHOT + 1, ...).
    one_shots: Vec<SimDuration>,
    /// Cancel the first one-shot right after arming it.
    cancel_first: bool,
    /// Durable: boots so far (a real process keeps such a counter on disk).
    boots: u64,
    /// Volatile: pings received since the last start.
    pings_since_start: u64,
    /// Test instrumentation (not model state): every event, with its time.
    seen: Vec<(SimTime, Seen)>,
}

impl Model for Probe {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let now = ctx.now();
        match event {
            Event::Start { restarted } => {
                self.boots += 1;
                self.seen.push((now, Seen::Start { restarted }));
                if let Some(every) = self.every {
                    ctx.set_timer(every, TICK);
                }
                if !restarted {
                    for (i, after) in self.one_shots.iter().enumerate() {
                        let id = ctx.set_timer(*after, ONE_SHOT + i as u64);
                        if i == 0 && self.cancel_first {
                            ctx.cancel_timer(id);
                        }
                    }
                }
            }
            Event::Timer { tag, .. } => {
                let tag = *tag.downcast_ref::<u64>().expect("probe timers carry a u64");
                if tag == TICK {
                    for peer in &self.peers {
                        ctx.send(*peer, Ping { sent: now });
                    }
                    if let Some(every) = self.every {
                        ctx.set_timer(every, TICK);
                    }
                } else {
                    self.seen.push((now, Seen::Timer { tag }));
                }
            }
            Event::Message { from, msg, .. } => {
                if let Some(ping) = msg.downcast_ref::<Ping>() {
                    self.pings_since_start += 1;
                    let host = ctx.directory().actor_host(from).expect("sender host");
                    let from = ctx.directory().host_name(host).to_owned();
                    self.seen.push((
                        now,
                        Seen::Ping {
                            from,
                            sent: ping.sent,
                        },
                    ));
                }
            }
            Event::Refused { .. } | Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {
        self.pings_since_start = 0;
        self.seen.push((SimTime::ZERO, Seen::Crash));
    }
}

fn t(ms: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(ms)
}

/// A world of `hosts` hosts, one probe each; probe `i` pings the probes listed in `pings[i]`
/// every 100 ms (actor ids equal host indexes).
struct World {
    sim: Simulation,
    actors: Vec<ActorId>,
}

fn world(hosts: &[&str], pings: &[&[usize]]) -> World {
    let mut config = SimConfig::new(1);
    config.default_link = LinkConfig::fixed(LINK);
    let mut sim = Simulation::new(config);
    let mut actors = Vec::new();
    for (i, name) in hosts.iter().enumerate() {
        let host = sim.add_host(name).expect("host");
        let peers = pings
            .get(i)
            .map(|p| p.iter().map(|j| ActorId(*j as u32)).collect())
            .unwrap_or_default();
        let probe = Probe {
            peers,
            every: Some(SimDuration::from_millis(100)),
            ..Probe::default()
        };
        actors.push(sim.add_actor(host, MODEL, Box::new(probe)).expect("actor"));
    }
    World { sim, actors }
}

impl World {
    fn fault(&mut self, at_ms: u64, fault: Fault) {
        self.sim.schedule_fault(t(at_ms), fault).expect("fault");
    }

    /// Runs to `end_ms` and returns the trace as text.
    fn run(&mut self, end_ms: u64) -> String {
        let mut sink = JsonlSink::new(Vec::new(), TraceDetail::StateChanges);
        self.sim.run_until(t(end_ms), &mut sink);
        self.sim.finish(&mut sink);
        String::from_utf8(sink.finish().expect("in memory")).expect("utf-8")
    }

    fn probe(&self, i: usize) -> &Probe {
        self.sim.model::<Probe>(self.actors[i]).expect("probe")
    }

    /// Pings probe `i` received in `[from_ms, to_ms)`, as (time, sender host, send time).
    fn pings(&self, i: usize, from_ms: u64, to_ms: u64) -> Vec<(SimTime, String, SimTime)> {
        self.probe(i)
            .seen
            .iter()
            .filter(|(at, _)| *at >= t(from_ms) && *at < t(to_ms))
            .filter_map(|(at, seen)| match seen {
                Seen::Ping { from, sent } => Some((*at, from.clone(), *sent)),
                _ => None,
            })
            .collect()
    }

    /// The hosts probe `i` heard from in `[from_ms, to_ms)`, sorted, deduplicated.
    fn heard(&self, i: usize, from_ms: u64, to_ms: u64) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .pings(i, from_ms, to_ms)
            .into_iter()
            .map(|(_, h, _)| h)
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

fn process(fault: fn(String, String) -> Fault, host: &str) -> Fault {
    fault(host.to_owned(), MODEL.to_owned())
}

fn pause(host: String, process: String) -> Fault {
    Fault::ProcessPause { host, process }
}
fn resume(host: String, process: String) -> Fault {
    Fault::ProcessResume { host, process }
}
fn stop(host: String, process: String) -> Fault {
    Fault::ProcessStop { host, process }
}
fn start(host: String, process: String) -> Fault {
    Fault::ProcessStart { host, process }
}

#[test]
fn a_paused_process_handles_nothing_and_gets_everything_in_order_on_resume() {
    let mut w = world(&["a", "b"], &[&[1], &[]]);
    w.fault(1_000, process(pause, "b"));
    w.fault(2_000, process(resume, "b"));
    w.run(3_000);
    // Nothing is handed to b while it is frozen...
    assert!(w.pings(1, 1_000, 2_000).is_empty());
    assert!(
        w.probe(1)
            .seen
            .iter()
            .all(|(at, _)| *at <= t(1_000) || *at >= t(2_000))
    );
    // ...and every ping sent meanwhile arrives at the resume, in the order sent, none lost.
    let held = w.pings(1, 2_000, 2_001);
    let sent: Vec<SimTime> = held.iter().map(|(_, _, s)| *s).collect();
    let expected: Vec<SimTime> = (10..20).map(|i| t(i * 100)).collect();
    assert_eq!(sent, expected, "{held:?}");
    // A pause is not a crash: no restart, and no ping handed over was lost.
    assert_eq!(w.probe(1).boots, 1);
    assert_eq!(w.sim.stats().dropped, 0);
    // Once resumed, pings arrive one link delay after they are sent again.
    let after = w.pings(1, 2_001, 3_000);
    assert!(!after.is_empty());
    assert!(after.iter().all(|(at, _, sent)| *at - *sent == LINK));
}

#[test]
fn a_paused_process_fires_its_held_timers_on_resume() {
    let mut config = SimConfig::new(1);
    config.default_link = LinkConfig::fixed(LINK);
    let mut sim = Simulation::new(config);
    let host = sim.add_host("a").expect("host");
    let probe = Probe {
        one_shots: vec![SimDuration::from_millis(1_500)],
        ..Probe::default()
    };
    let id = sim.add_actor(host, MODEL, Box::new(probe)).expect("actor");
    sim.schedule_fault(t(1_000), process(pause, "a"))
        .expect("pause");
    sim.schedule_fault(t(2_000), process(resume, "a"))
        .expect("resume");
    sim.run_until(t(3_000), &mut sim::engine::NullSink);
    let seen = &sim.model::<Probe>(id).expect("probe").seen;
    assert!(
        seen.contains(&(t(2_000), Seen::Timer { tag: ONE_SHOT })),
        "{seen:?}"
    );
}

#[test]
fn stop_then_start_restarts_the_process_and_drops_what_it_missed() {
    let mut w = world(&["a", "b"], &[&[1], &[]]);
    w.fault(1_000, process(stop, "b"));
    w.fault(2_000, process(start, "b"));
    // Starting a running process changes nothing; neither does stopping a process the world
    // does not run; the trace says why.
    w.fault(2_500, process(start, "b"));
    w.fault(
        2_500,
        Fault::ProcessStop {
            host: "a".into(),
            process: "kubelet".into(),
        },
    );
    let trace = w.run(3_000);
    let b = w.probe(1);
    assert!(
        b.seen
            .contains(&(t(2_000), Seen::Start { restarted: true }))
    );
    assert_eq!(b.boots, 2, "the durable boot counter survives the stop");
    assert!(w.pings(1, 1_000, 2_000).is_empty());
    // Pings sent while b was stopped are gone for good: nothing sent before 2 s arrives later.
    assert!(
        w.pings(1, 2_000, 3_000)
            .iter()
            .all(|(_, _, sent)| *sent >= t(2_000))
    );
    assert!(w.sim.stats().dropped >= 9, "{:?}", w.sim.stats());
    assert!(
        trace.contains(r#""process":"kubelet"},"outcome":"no-such-process"}"#),
        "{trace}"
    );
    assert!(
        trace.contains(r#""process":"probe"},"outcome":"already-running"}"#),
        "{trace}"
    );
}

#[test]
fn a_crash_drops_in_flight_messages_and_timers_and_keeps_durable_state() {
    let mut w = world(&["a", "b"], &[&[1], &[]]);
    // Slow link: every ping is in flight for 250 ms, so some are on the wire at the crash.
    let (a, b) = (
        w.sim.host_id("a").expect("a"),
        w.sim.host_id("b").expect("b"),
    );
    w.sim
        .network_mut()
        .set_link(a, b, LinkConfig::fixed(SimDuration::from_millis(250)));
    w.fault(1_050, Fault::HostCrash { host: "b".into() });
    w.fault(1_100, Fault::HostRestart { host: "b".into() });
    w.run(2_000);
    let probe = w.probe(1);
    assert_eq!(probe.boots, 2, "durable state kept across the crash");
    assert!(probe.seen.iter().any(|(_, s)| *s == Seen::Crash));
    // Pings sent at 0.9 s and 1.0 s were in flight at the crash and would land at 1.15 s and
    // 1.25 s, after the restart: the engine dropped them with the old incarnation.
    let after = w.pings(1, 1_100, 2_000);
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|(_, _, sent)| *sent >= t(1_100)),
        "{after:?}"
    );
    // Volatile state started over at the restart.
    assert_eq!(probe.pings_since_start, after.len() as u64);
    assert!(w.sim.stats().dropped >= 2, "{:?}", w.sim.stats());
}

#[test]
fn a_crash_cancels_pending_timers() {
    let mut sim = Simulation::new(SimConfig::new(1));
    let host = sim.add_host("a").expect("host");
    let probe = Probe {
        one_shots: vec![
            SimDuration::from_millis(500),
            SimDuration::from_millis(1_500),
        ],
        ..Probe::default()
    };
    let id = sim.add_actor(host, MODEL, Box::new(probe)).expect("actor");
    sim.schedule_fault(t(1_000), Fault::HostCrash { host: "a".into() })
        .expect("crash");
    sim.schedule_fault(t(1_200), Fault::HostRestart { host: "a".into() })
        .expect("restart");
    sim.run_until(t(3_000), &mut sim::engine::NullSink);
    let timers: Vec<_> = sim
        .model::<Probe>(id)
        .expect("probe")
        .seen
        .iter()
        .filter(|(_, s)| matches!(s, Seen::Timer { .. }))
        .cloned()
        .collect();
    // The 0.5 s timer fired before the crash; the 1.5 s one died with the process.
    assert_eq!(timers, [(t(500), Seen::Timer { tag: ONE_SHOT })]);
}

#[test]
fn a_cancelled_timer_never_fires() {
    let mut sim = Simulation::new(SimConfig::new(1));
    let host = sim.add_host("a").expect("host");
    let probe = Probe {
        one_shots: vec![SimDuration::from_millis(100), SimDuration::from_millis(200)],
        cancel_first: true,
        ..Probe::default()
    };
    let id = sim.add_actor(host, MODEL, Box::new(probe)).expect("actor");
    let stats = sim.run_until(t(1_000), &mut sim::engine::NullSink);
    let seen = &sim.model::<Probe>(id).expect("probe").seen;
    assert_eq!(
        seen[1..],
        [(t(200), Seen::Timer { tag: ONE_SHOT + 1 })],
        "{seen:?}"
    );
    assert_eq!(stats.timers, 1);
}

#[test]
fn set_link_gives_one_link_its_own_latency_in_both_directions() {
    let mut w = world(&["a", "b", "c"], &[&[1, 2], &[], &[0]]);
    let (a, c) = (
        w.sim.host_id("a").expect("a"),
        w.sim.host_id("c").expect("c"),
    );
    let slow = SimDuration::from_millis(40);
    w.sim.network_mut().set_link(a, c, LinkConfig::fixed(slow));
    assert_eq!(*w.sim.network().link(c, a), LinkConfig::fixed(slow));
    w.run(1_000);
    let delays = |i: usize| -> Vec<SimDuration> {
        w.pings(i, 0, 1_000)
            .iter()
            .map(|(at, _, sent)| *at - *sent)
            .collect()
    };
    assert!(
        delays(1).iter().all(|d| *d == LINK),
        "a->b uses the default"
    );
    assert!(!delays(2).is_empty() && delays(2).iter().all(|d| *d == slow));
    assert!(!delays(0).is_empty() && delays(0).iter().all(|d| *d == slow));
}

#[test]
fn a_one_way_cut_drops_one_direction_until_heal() {
    let mut w = world(&["a", "b"], &[&[1], &[0]]);
    w.fault(
        1_000,
        Fault::OneWay {
            from: "a".into(),
            to: "b".into(),
        },
    );
    w.fault(2_000, Fault::Heal);
    w.run(3_000);
    assert!(w.pings(1, 1_002, 2_000).is_empty(), "a -> b is cut");
    assert_eq!(w.heard(0, 1_002, 2_000), ["b"], "b -> a still works");
    assert_eq!(w.heard(1, 2_002, 3_000), ["a"], "heal restores a -> b");
}

#[test]
fn partitions_split_hosts_into_any_grouping_and_heal_joins_them() {
    let names = ["a", "b", "c", "d", "e"];
    let all: Vec<usize> = (0..names.len()).collect();
    let pings: Vec<Vec<usize>> = all
        .iter()
        .map(|i| all.iter().copied().filter(|j| j != i).collect())
        .collect();
    let pings: Vec<&[usize]> = pings.iter().map(Vec::as_slice).collect();
    let mut w = world(&names, &pings);
    w.fault(
        1_000,
        Fault::Partition {
            groups: vec![vec!["a".into()], vec!["b".into(), "c".into()]],
        },
    );
    // A second partition replaces the first: now a and e are cut off together.
    w.fault(
        2_000,
        Fault::Partition {
            groups: vec![vec!["a".into(), "e".into()]],
        },
    );
    w.fault(3_000, Fault::Heal);
    w.run(4_000);
    let window =
        |from, to| -> Vec<Vec<String>> { (0..names.len()).map(|i| w.heard(i, from, to)).collect() };
    // [a] | [b, c] | the unnamed d and e together.
    assert_eq!(
        window(1_002, 2_000),
        [
            vec![],
            vec!["c".to_owned()],
            vec!["b".to_owned()],
            vec!["e".to_owned()],
            vec!["d".to_owned()],
        ]
    );
    // [a, e] | the unnamed b, c, d.
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        window(2_002, 3_000),
        [
            s(&["e"]),
            s(&["c", "d"]),
            s(&["b", "d"]),
            s(&["b", "c"]),
            s(&["a"])
        ]
    );
    // Healed: everyone hears everyone else.
    for (i, heard) in window(3_002, 4_000).into_iter().enumerate() {
        let others: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| (*n).to_owned())
            .collect();
        assert_eq!(heard, others, "{}", names[i]);
    }
    assert!(w.sim.network().is_healthy());
}

#[test]
fn heal_also_removes_slow_and_lossy_links() {
    let mut w = world(&["a", "b", "c"], &[&[1, 2], &[], &[]]);
    w.fault(
        1_000,
        Fault::LinkSlow {
            a: "a".into(),
            b: "b".into(),
            latency: Duration::from_millis(30),
        },
    );
    w.fault(
        1_000,
        Fault::LinkLossy {
            a: "c".into(),
            b: "a".into(),
            loss: 1.0,
        },
    );
    w.fault(2_000, Fault::Heal);
    w.run(3_000);
    let slowed = w.pings(1, 1_050, 2_000);
    assert!(!slowed.is_empty());
    assert!(
        slowed
            .iter()
            .all(|(at, _, sent)| *at - *sent == LINK + SimDuration::from_millis(30))
    );
    assert!(w.pings(2, 1_002, 2_000).is_empty(), "a-c loses everything");
    assert!(
        w.pings(1, 2_050, 3_000)
            .iter()
            .all(|(at, _, sent)| *at - *sent == LINK)
    );
    assert!(!w.pings(2, 2_002, 3_000).is_empty());
}
