//! The etcd client session (`sim::models::etcd::session`) against real simulated members:
//! round-robin over READY connections with several calls in flight, what a killed, a paused and
//! a cut-off member do to it (reset, silence, keepalive), waiting for a READY connection,
//! clientv3's retry rules, and the member side of a request's life (held until a leader is
//! known, `ErrTimeout` after etcd's request timeout, `ErrLeaderChanged` for a waiting read).

use std::collections::BTreeMap;
use std::time::Duration;

use sim::engine::{
    ActorId, Ctx, Event, Model, Port, SimConfig, SimDuration, SimTime, Simulation, TraceEvent,
    TraceSink, route_to,
};
use sim::models::etcd::messages::{EtcdError, LeaseOp, LeaseResult, ReadMode};
use sim::models::etcd::session::{
    Balancer, CallError, CallFailure, CallId, EtcdSession, Keepalive, SessionConfig, SessionEvent,
};
use sim::models::etcd::{EtcdMember, EtcdSimConfig, MODEL_NAME};
use sim::models::kv::{KvEvent, KvOp, KvResult};
use topology::fault::Fault;

const MEMBERS: [&str; 3] = ["m1", "m2", "m3"];
const PORT: Port = Port(1);

fn at_ms(ms: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(ms)
}

fn get() -> KvOp {
    KvOp::Get { key: "k".into() }
}

fn put(value: &str) -> KvOp {
    KvOp::Put {
        key: "k".into(),
        value: value.into(),
    }
}

/// One planned call: when, what, and its deadline.
#[derive(Clone, Debug)]
struct Planned {
    at: SimDuration,
    op: KvOp,
    deadline: SimDuration,
}

/// A process that embeds one session on [`PORT`] and makes the planned calls.
#[derive(Debug)]
struct Driver {
    session: EtcdSession,
    /// Member positions the session gets, in order (all when empty).
    only: Vec<usize>,
    plan: Vec<Planned>,
    /// Call -> (index in the plan, when it finished, the result).
    done: BTreeMap<CallId, (SimTime, Result<KvResult, CallFailure>)>,
    issued: Vec<(usize, CallId)>,
    /// A watch to open: when, on which prefix, from which revision.
    watch: Option<(SimDuration, String, i64)>,
    /// What the watch reported, in order.
    seen: Vec<KvEvent>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenWatch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Issue(usize);

impl Model for Driver {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let event = match route_to(&mut self.session, PORT, ctx, event) {
            Ok(reports) => {
                for report in reports {
                    match report {
                        SessionEvent::Done { call, result } => {
                            self.done.insert(call, (ctx.now(), result));
                        }
                        SessionEvent::Watch { events, .. } => self.seen.extend(events),
                        SessionEvent::LeaseDone { .. } | SessionEvent::LeaseLost { .. } => {}
                    }
                }
                return;
            }
            Err(event) => event,
        };
        match event {
            Event::Start { .. } => {
                let all: Vec<ActorId> = ctx.directory().actors_named(MODEL_NAME).collect();
                let members: Vec<ActorId> = if self.only.is_empty() {
                    all
                } else {
                    self.only.iter().map(|i| all[*i]).collect()
                };
                self.session.start(&mut ctx.scoped(PORT), &members);
                for (i, p) in self.plan.iter().enumerate() {
                    ctx.set_timer(p.at, Issue(i));
                }
                if let Some((at, _, _)) = &self.watch {
                    ctx.set_timer(*at, OpenWatch);
                }
            }
            Event::Timer { tag, .. } if tag.is(&OpenWatch) => {
                if let Some((_, prefix, start)) = self.watch.clone() {
                    self.session.watch(&mut ctx.scoped(PORT), &prefix, start);
                }
            }
            Event::Timer { tag, .. } => {
                if let Some(Issue(i)) = tag.downcast_ref::<Issue>() {
                    let p = self.plan[*i].clone();
                    let id = self.session.call(
                        &mut ctx.scoped(PORT),
                        p.op,
                        ReadMode::Linearizable,
                        p.deadline,
                    );
                    self.issued.push((*i, id));
                }
            }
            _ => {}
        }
    }

    fn on_crash(&mut self) {
        self.session.reset();
    }
}

impl Driver {
    /// The result of planned call `i`, if it finished.
    fn result(&self, i: usize) -> Option<&(SimTime, Result<KvResult, CallFailure>)> {
        let (_, id) = self.issued.iter().find(|(j, _)| *j == i)?;
        self.done.get(id)
    }
}

/// Counts, per member host, the client requests delivered to it and when.
#[derive(Default)]
struct Requests {
    delivered: Vec<(u64, String)>,
    /// Member answers whose text contains `LeaderChanged`.
    leader_changed: usize,
}

impl TraceSink for Requests {
    fn enabled(&self) -> bool {
        true
    }
    fn event(&mut self, event: &TraceEvent<'_>) {
        if let TraceEvent::Deliver {
            t, to, msg, body, ..
        } = event
        {
            if *msg == "EtcdRequest" {
                self.delivered
                    .push((*t, to.split('/').next().unwrap_or("").to_owned()));
            }
            if *msg == "EtcdResponse" && body.contains("LeaderChanged") {
                self.leader_changed += 1;
            }
        }
    }
}

impl Requests {
    fn to_host_between(&self, host: &str, from: SimTime, to: SimTime) -> usize {
        self.delivered
            .iter()
            .filter(|(t, h)| h == host && *t >= from.as_nanos() && *t < to.as_nanos())
            .count()
    }
}

struct World {
    sim: Simulation,
    driver: ActorId,
    trace: Requests,
}

/// Three members and a driver host `client` with `session`, calling `plan` against the members
/// at positions `only` (all when empty).
fn world(seed: u64, session: SessionConfig, only: &[usize], plan: Vec<Planned>) -> World {
    world_watching(seed, session, only, plan, None)
}

/// [`world`], with a watch the driver opens: when, on which prefix, from which revision.
fn world_watching(
    seed: u64,
    session: SessionConfig,
    only: &[usize],
    plan: Vec<Planned>,
    watch: Option<(SimDuration, String, i64)>,
) -> World {
    let mut sim = Simulation::new(SimConfig::new(seed));
    let config = EtcdSimConfig::default();
    for (id, h) in (1u64..).zip(MEMBERS) {
        let host = sim.add_host(h).expect("host");
        sim.add_actor(host, MODEL_NAME, Box::new(EtcdMember::new(config, id, 3)))
            .expect("member");
    }
    let client = sim.add_host("client").expect("client");
    let driver = sim
        .add_actor(
            client,
            "driver",
            Box::new(Driver {
                session: EtcdSession::new(session),
                only: only.to_vec(),
                plan,
                done: BTreeMap::new(),
                issued: Vec::new(),
                watch,
                seen: Vec::new(),
            }),
        )
        .expect("driver");
    World {
        sim,
        driver,
        trace: Requests::default(),
    }
}

impl World {
    fn run(&mut self, until: SimTime) {
        self.sim.run_until(until, &mut self.trace);
    }
    fn driver(&self) -> &Driver {
        self.sim.model::<Driver>(self.driver).expect("driver")
    }
    fn fault(&mut self, at: SimTime, fault: Fault) {
        self.sim.schedule_fault(at, fault).expect("fault");
    }
}

fn calls(from_ms: u64, every_ms: u64, n: usize, op: impl Fn(usize) -> KvOp) -> Vec<Planned> {
    (0..n)
        .map(|i| Planned {
            at: SimDuration::from_millis(from_ms + every_ms * i as u64),
            op: op(i),
            deadline: SimDuration::from_millis(1500),
        })
        .collect()
}

fn stop(host: &str) -> Fault {
    Fault::ProcessStop {
        host: host.into(),
        process: MODEL_NAME.into(),
    }
}

#[test]
fn calls_in_flight_together_are_spread_round_robin_over_ready_members() {
    // Nine gets issued at the same instant, once every connection is READY.
    let plan = calls(3000, 0, 9, |_| get());
    let mut w = world(1, SessionConfig::default(), &[], plan);
    w.run(at_ms(4000));
    let d = w.driver();
    for i in 0..9 {
        let (_, r) = d.result(i).expect("answered");
        assert!(r.is_ok(), "call {i}: {r:?}");
    }
    for host in MEMBERS {
        assert_eq!(
            w.trace.to_host_between(host, at_ms(3000), at_ms(4000)),
            3,
            "{host}"
        );
    }
}

#[test]
fn a_killed_member_resets_its_connection_and_gets_no_further_calls() {
    // A get every 20 ms; m1's etcd is killed at 3 s.
    let plan = calls(2000, 20, 150, |_| get());
    let mut w = world(2, SessionConfig::default(), &[], plan);
    w.fault(at_ms(3000), stop("m1"));
    w.run(at_ms(6000));
    let d = w.driver();
    let failed: Vec<usize> = (0..150)
        .filter(|i| !matches!(d.result(*i), Some((_, Ok(_)))))
        .collect();
    assert_eq!(
        failed,
        Vec::<usize>::new(),
        "every get answered (retried on another member)"
    );
    // The kernel's reset reaches the client one trip after the kill; nothing goes to m1 after.
    assert_eq!(w.trace.to_host_between("m1", at_ms(3001), at_ms(6000)), 0);
    assert!(w.trace.to_host_between("m1", at_ms(2000), at_ms(3000)) > 10);
}

#[test]
fn a_paused_member_holds_its_calls_until_keepalive_gives_up_on_it() {
    let pause = |w: &mut World| {
        w.fault(
            at_ms(3000),
            Fault::ProcessPause {
                host: "m1".into(),
                process: MODEL_NAME.into(),
            },
        )
    };
    // Without keepalive (clientv3's default) the paused member's connection stays READY:
    // about a third of the calls wait out their deadline, for as long as the pause lasts.
    let plan = || calls(2000, 50, 160, |i| put(&format!("v{i}")));
    let mut w = world(3, SessionConfig::default(), &[], plan());
    pause(&mut w);
    w.run(at_ms(12_000));
    let stuck = |w: &World, from: u64, to: u64| {
        (0..160)
            .filter(|i| {
                let at = 2000 + 50 * *i as u64;
                at >= from && at < to
            })
            .filter(|i| {
                matches!(
                    w.driver().result(*i),
                    Some((
                        _,
                        Err(CallFailure {
                            error: CallError::DeadlineExceeded,
                            may_have_applied: true
                        })
                    ))
                )
            })
            .count()
    };
    assert!(
        stuck(&w, 7000, 9000) > 0,
        "late in the pause, m1 still gets calls"
    );
    // With a 1 s + 1 s keepalive the connection is dropped about 2 s into the pause.
    let keepalive = SessionConfig {
        keepalive: Some(Keepalive {
            time: SimDuration::from_secs(1),
            timeout: SimDuration::from_secs(1),
        }),
        ..SessionConfig::default()
    };
    let mut w = world(3, keepalive, &[], plan());
    pause(&mut w);
    w.run(at_ms(12_000));
    assert!(
        stuck(&w, 3000, 5000) > 0,
        "calls sent before keepalive noticed"
    );
    assert_eq!(
        stuck(&w, 5500, 9000),
        0,
        "none after the connection was dropped"
    );
    assert_eq!(w.trace.to_host_between("m1", at_ms(5500), at_ms(9000)), 0);
}

#[test]
fn a_call_waits_for_a_ready_connection_and_fails_unsent_at_its_deadline() {
    // Both calls go to m1 only; m1's etcd is stopped from 1 s to 4.2 s.
    let plan = vec![
        Planned {
            at: SimDuration::from_millis(2500),
            op: put("never-sent"),
            deadline: SimDuration::from_millis(1000),
        },
        Planned {
            at: SimDuration::from_millis(3500),
            op: put("waited"),
            deadline: SimDuration::from_millis(4000),
        },
    ];
    let mut w = world(4, SessionConfig::default(), &[0], plan);
    w.fault(at_ms(1000), stop("m1"));
    w.fault(
        at_ms(4200),
        Fault::ProcessStart {
            host: "m1".into(),
            process: MODEL_NAME.into(),
        },
    );
    w.run(at_ms(10_000));
    let d = w.driver();
    assert_eq!(
        d.result(0).map(|(t, r)| (*t, r.clone())),
        Some((
            at_ms(3500),
            Err(CallFailure {
                error: CallError::DeadlineExceeded,
                may_have_applied: false
            })
        ))
    );
    // Sent once m1 is back and reconnected (gRPC backoff: 1 s, then 1.6 s ±20 %).
    let (t, r) = d.result(1).expect("answered");
    assert!(r.is_ok(), "{r:?}");
    assert!(*t > at_ms(4200) && *t < at_ms(7500), "{t:?}");
}

#[test]
fn a_write_cut_off_by_a_reset_is_not_retried_but_a_read_is() {
    // m1 sits behind a 500 ms link; a put and a get go to m1 first (round robin starts at the
    // first member), and m1's etcd is killed while both are on their way.
    let plan = vec![
        Planned {
            at: SimDuration::from_millis(4000),
            op: put("maybe"),
            deadline: SimDuration::from_secs(5),
        },
        Planned {
            at: SimDuration::from_millis(4000),
            op: get(),
            deadline: SimDuration::from_secs(5),
        },
    ];
    let session = SessionConfig::default();
    let mut w = world(5, session, &[], plan);
    w.fault(
        SimTime::ZERO,
        Fault::LinkSlow {
            a: "client".into(),
            b: "m1".into(),
            latency: Duration::from_millis(500),
        },
    );
    w.fault(at_ms(4100), stop("m1"));
    w.run(at_ms(9000));
    let d = w.driver();
    let (put_at, put) = d.result(0).expect("put finished");
    assert_eq!(
        put,
        &Err(CallFailure {
            error: CallError::ConnectionClosed,
            may_have_applied: true
        })
    );
    // One trip (500 ms plus the LAN link's own fraction of a millisecond) after the kill.
    assert!(
        *put_at >= at_ms(4600) && *put_at < at_ms(4601),
        "{put_at:?}"
    );
    assert!(matches!(d.result(1), Some((_, Ok(KvResult::Get { .. })))));
}

#[test]
fn a_write_made_before_any_leader_waits_for_one_and_commits() {
    let plan = vec![Planned {
        at: SimDuration::from_millis(50),
        op: put("early"),
        deadline: SimDuration::from_secs(5),
    }];
    let failover = SessionConfig {
        balancer: Balancer::FailoverOnError,
        ..SessionConfig::default()
    };
    let mut w = world(6, failover, &[1], plan);
    w.run(at_ms(6000));
    let (t, r) = w.driver().result(0).expect("answered");
    assert!(matches!(r, Ok(KvResult::Put { .. })), "{r:?}");
    assert!(
        *t > at_ms(1000),
        "answered only after the first election: {t:?}"
    );
}

/// The current leader's host, read from the members.
fn leader_host(w: &World) -> Option<&'static str> {
    MEMBERS.iter().zip(0u32..).find_map(|(h, i)| {
        w.sim
            .model::<EtcdMember>(ActorId(i))
            .is_some_and(EtcdMember::is_leader)
            .then_some(*h)
    })
}

#[test]
fn a_write_forwarded_to_a_lost_leader_times_out_after_etcds_request_timeout() {
    for seed in 1..=3 {
        // Find the leader at 3 s, then call a follower while the leader is cut off.
        let mut probe = world(seed, SessionConfig::default(), &[], Vec::new());
        probe.run(at_ms(3000));
        let leader = leader_host(&probe).expect("a leader by 3 s");
        let follower = MEMBERS.iter().position(|h| *h != leader).expect("follower");
        let plan = vec![
            Planned {
                at: SimDuration::from_millis(3200),
                op: put("lost"),
                deadline: SimDuration::from_secs(10),
            },
            Planned {
                at: SimDuration::from_millis(3200),
                op: get(),
                deadline: SimDuration::from_secs(10),
            },
        ];
        let failover = SessionConfig {
            balancer: Balancer::FailoverOnError,
            ..SessionConfig::default()
        };
        let mut w = world(seed, failover, &[follower], plan);
        // The leader loses every link at 3.1 s: the follower still believes in it for up to
        // an election timeout and forwards the put and the read index to it.
        w.fault(
            at_ms(3100),
            Fault::Partition {
                groups: vec![vec![leader.to_owned()]],
            },
        );
        w.run(at_ms(14_000));
        let d = w.driver();
        let (t, r) = d.result(0).expect("put answered");
        assert_eq!(
            r,
            &Err(CallFailure {
                error: CallError::Server(EtcdError::Timeout),
                may_have_applied: true
            }),
            "seed {seed}"
        );
        let waited = t.saturating_since(at_ms(3200));
        assert!(
            waited >= SimDuration::from_secs(7) && waited <= SimDuration::from_millis(7200),
            "seed {seed}: {waited:?}"
        );
        // The read failed with ErrLeaderChanged when the new leader came, and its retry (on
        // the same member) was answered.
        assert!(matches!(d.result(1), Some((_, Ok(_)))), "seed {seed}");
        assert!(w.trace.leader_changed >= 1, "seed {seed}");
    }
}

fn start(host: &str) -> Fault {
    Fault::ProcessStart {
        host: host.into(),
        process: MODEL_NAME.into(),
    }
}

/// The revisions of the puts that were acknowledged.
fn acked_put_revisions(d: &Driver) -> Vec<i64> {
    let mut revs: Vec<i64> = d
        .done
        .values()
        .filter_map(|(_, r)| match r {
            Ok(KvResult::Put { revision }) => Some(*revision),
            _ => None,
        })
        .collect();
    revs.sort_unstable();
    revs
}

#[test]
fn a_watch_survives_each_member_dying_and_misses_or_repeats_nothing() {
    for seed in 1..=3 {
        // A put every 50 ms from 3.1 s to 15 s; a watch on "k" from 3 s; each member's etcd
        // killed in turn for 2 s, so whichever member carries the stream dies under it.
        let plan = calls(3100, 50, 238, |i| put(&format!("v{i}")));
        let watch = Some((SimDuration::from_secs(3), "k".to_owned(), 0));
        let mut w = world_watching(seed, SessionConfig::default(), &[], plan, watch);
        for (i, host) in MEMBERS.iter().enumerate() {
            let down = 5000 + 4000 * i as u64;
            w.fault(at_ms(down), stop(host));
            w.fault(at_ms(down + 2000), start(host));
        }
        w.run(at_ms(20_000));
        let d = w.driver();
        let seen: Vec<i64> = d.seen.iter().map(KvEvent::revision).collect();
        assert!(
            seen.windows(2).all(|p| p[0] < p[1]),
            "seed {seed}: events out of order or repeated: {seen:?}"
        );
        let acked = acked_put_revisions(d);
        assert!(
            acked.len() > 150,
            "seed {seed}: {} puts acknowledged",
            acked.len()
        );
        let missed: Vec<&i64> = acked.iter().filter(|r| !seen.contains(r)).collect();
        assert_eq!(
            missed,
            Vec::<&i64>::new(),
            "seed {seed}: the watch missed these"
        );
    }
}

#[test]
fn a_watch_from_a_past_revision_replays_the_history() {
    let plan = calls(3000, 20, 20, |i| put(&format!("v{i}")));
    let watch = Some((SimDuration::from_secs(5), "k".to_owned(), 1));
    let mut w = world_watching(7, SessionConfig::default(), &[2], plan, watch);
    w.run(at_ms(6000));
    let d = w.driver();
    let seen: Vec<i64> = d.seen.iter().map(KvEvent::revision).collect();
    assert_eq!(seen, acked_put_revisions(d));
    assert_eq!(seen.len(), 20);
}

/// Takes a lease of `ttl` at 3 s, puts `key` attached to it and, if `keep`, keeps it alive.
#[derive(Debug)]
struct Holder {
    session: EtcdSession,
    key: String,
    ttl: SimDuration,
    keep: bool,
    lease: Option<i64>,
    lost: Option<SimTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Take;

impl Model for Holder {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        if ctx.port() == PORT {
            let Ok(reports) = route_to(&mut self.session, PORT, ctx, event) else {
                return;
            };
            for e in reports {
                match e {
                    SessionEvent::LeaseDone {
                        result: Ok(LeaseResult::Granted { lease, ttl }),
                        ..
                    } => {
                        self.lease = Some(lease);
                        let mut s = ctx.scoped(PORT);
                        let (key, deadline) = (self.key.clone(), SimDuration::from_secs(5));
                        self.session
                            .put_with_lease(&mut s, &key, "held", lease, deadline);
                        if self.keep {
                            self.session.keep_alive(&mut s, lease, ttl);
                        }
                    }
                    SessionEvent::LeaseLost { .. } => self.lost = Some(ctx.now()),
                    _ => {}
                }
            }
            return;
        }
        match event {
            Event::Start { .. } => {
                let members: Vec<ActorId> = ctx.directory().actors_named(MODEL_NAME).collect();
                self.session.start(&mut ctx.scoped(PORT), &members);
                ctx.set_timer(SimDuration::from_secs(3), Take);
            }
            Event::Timer { .. } => {
                let ttl = self.ttl;
                self.session.lease(
                    &mut ctx.scoped(PORT),
                    LeaseOp::Grant { ttl },
                    SimDuration::from_secs(5),
                );
            }
            _ => {}
        }
    }

    fn on_crash(&mut self) {
        self.session.reset();
    }
}

/// Three members, a holder that keeps its lease ("kept") and one that does not ("dropped"),
/// both with a `ttl` lease.
fn lease_world(seed: u64, ttl: SimDuration) -> (Simulation, [ActorId; 2]) {
    let mut sim = Simulation::new(SimConfig::new(seed));
    let config = EtcdSimConfig::default();
    for (id, h) in (1u64..).zip(MEMBERS) {
        let host = sim.add_host(h).expect("host");
        sim.add_actor(host, MODEL_NAME, Box::new(EtcdMember::new(config, id, 3)))
            .expect("member");
    }
    let holders = ["kept", "dropped"].map(|name| {
        let host = sim.add_host(name).expect("host");
        sim.add_actor(
            host,
            "holder",
            Box::new(Holder {
                session: EtcdSession::new(SessionConfig::default()),
                key: format!("{name}-lock"),
                ttl,
                keep: name == "kept",
                lease: None,
                lost: None,
            }),
        )
        .expect("holder")
    });
    (sim, holders)
}

/// Whether every running member has `key`.
fn everywhere(sim: &Simulation, key: &str) -> Option<bool> {
    let stores: Vec<bool> = (0..3)
        .filter_map(|i| sim.model::<EtcdMember>(ActorId(i)))
        .filter_map(|m| m.store().map(|s| s.get(key).is_some()))
        .collect();
    (!stores.is_empty() && stores.iter().all(|b| *b == stores[0])).then(|| stores[0])
}

#[test]
fn a_kept_lease_outlives_a_leader_kill_and_an_abandoned_one_takes_its_key_along() {
    let ttl = SimDuration::from_secs(5);
    for seed in 1..=3 {
        let (mut probe, _) = lease_world(seed, ttl);
        probe.run_until(at_ms(5000), &mut sim::engine::NullSink);
        let leader = MEMBERS
            .iter()
            .zip(0u32..)
            .find(|(_, i)| {
                probe
                    .model::<EtcdMember>(ActorId(*i))
                    .is_some_and(EtcdMember::is_leader)
            })
            .map(|(h, _)| *h)
            .expect("a leader at 5 s");
        let (mut sim, [kept, dropped]) = lease_world(seed, ttl);
        sim.schedule_fault(at_ms(5000), stop(leader))
            .expect("fault");
        sim.run_until(at_ms(4000), &mut sim::engine::NullSink);
        assert_eq!(everywhere(&sim, "kept-lock"), Some(true), "seed {seed}");
        assert_eq!(everywhere(&sim, "dropped-lock"), Some(true), "seed {seed}");
        sim.run_until(at_ms(30_000), &mut sim::engine::NullSink);
        assert_eq!(
            everywhere(&sim, "kept-lock"),
            Some(true),
            "seed {seed}: kept lease lost"
        );
        assert_eq!(
            everywhere(&sim, "dropped-lock"),
            Some(false),
            "seed {seed}: the abandoned lease's key is still there"
        );
        let holder = |a| sim.model::<Holder>(a).expect("holder");
        assert_eq!(holder(kept).lost, None, "seed {seed}");
        assert!(holder(kept).lease.is_some() && holder(dropped).lease.is_some());
    }
}

#[test]
fn a_holder_cut_off_loses_its_lease_and_the_cluster_deletes_its_key() {
    let ttl = SimDuration::from_secs(5);
    let (mut sim, [kept, _]) = lease_world(4, ttl);
    sim.schedule_fault(
        at_ms(6000),
        Fault::Partition {
            groups: vec![vec!["kept".into()]],
        },
    )
    .expect("fault");
    sim.run_until(at_ms(9000), &mut sim::engine::NullSink);
    assert_eq!(everywhere(&sim, "kept-lock"), Some(true));
    sim.run_until(at_ms(20_000), &mut sim::engine::NullSink);
    let lost = sim.model::<Holder>(kept).expect("holder").lost;
    // The client gives up a TTL after its last renewal (at most a third of a TTL before the
    // cut); the leader revokes the lease a TTL after that renewal too.
    assert!(
        lost.is_some_and(|t| t >= at_ms(9300) && t <= at_ms(11_100)),
        "{lost:?}"
    );
    assert_eq!(everywhere(&sim, "kept-lock"), Some(false));
}
