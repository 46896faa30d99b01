//! Simulated etcd speed: how many simulated seconds a wall-clock second buys.
//!
//! Workload: three members on raft-rs with etcd's default timing and two clients issuing
//! puts, linearizable gets and CAS txns back to back, for five simulated minutes; host m1 is
//! crashed at 60 s and restarted at 90 s (m1 is a fixed member, the leader or a follower as
//! the seed's first election decided; either way the cluster loses a member and re-syncs it). The printed ratio is simulated time over wall time
//! (the simulator's speed-up over running the cluster for real), plus the cost relative to a
//! baseline run in the same process: the bare engine on the same five hosts with heartbeats
//! only, so the figure separates Raft's cost from the engine's. Criterion's throughput is in
//! simulated seconds per second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use sim::engine::{NullSink, SimConfig, SimDuration, SimTime, Simulation};
use sim::models::etcd::{ClientConfig, EtcdSimConfig, add_members_and_clients};
use sim::models::heartbeat::{self, HeartbeatConfig, HeartbeatDetector};
use topology::fault::Fault;

const SIMULATED: Duration = Duration::from_secs(5 * 60);
const MEMBERS: [&str; 3] = ["m1", "m2", "m3"];
const CLIENTS: [&str; 2] = ["c1", "c2"];

fn at(secs: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(secs)
}

fn etcd_run() -> u64 {
    let mut sim = Simulation::new(SimConfig::new(1));
    for h in MEMBERS.iter().chain(&CLIENTS) {
        sim.add_host(h).unwrap_or_else(|e| panic!("{e}"));
    }
    add_members_and_clients(
        &mut sim,
        EtcdSimConfig::default(),
        &MEMBERS,
        &CLIENTS,
        &ClientConfig::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kill = Fault::HostCrash { host: "m1".into() };
    let back = Fault::HostRestart { host: "m1".into() };
    sim.schedule_fault(at(60), kill)
        .unwrap_or_else(|e| panic!("{e}"));
    sim.schedule_fault(at(90), back)
        .unwrap_or_else(|e| panic!("{e}"));
    let stats = sim.run_until(SimTime::ZERO + SimDuration::from(SIMULATED), &mut NullSink);
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    stats.events
}

fn heartbeat_run() -> u64 {
    let mut sim = Simulation::new(SimConfig::new(1));
    for h in MEMBERS.iter().chain(&CLIENTS) {
        let id = sim.add_host(h).unwrap_or_else(|e| panic!("{e}"));
        sim.add_actor(
            id,
            heartbeat::MODEL_NAME,
            Box::new(HeartbeatDetector::new(HeartbeatConfig::default())),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let stats = sim.run_until(SimTime::ZERO + SimDuration::from(SIMULATED), &mut NullSink);
    stats.events
}

fn timed(f: fn() -> u64) -> (Duration, u64) {
    let start = Instant::now();
    let events = black_box(f());
    (start.elapsed(), events)
}

fn report() {
    let (etcd, etcd_events) = timed(etcd_run);
    let (base, base_events) = timed(heartbeat_run);
    println!(
        "etcd: {:.0} simulated s per wall s ({etcd_events} events in {etcd:?}); heartbeat-only engine baseline on the same hosts: {:.0} simulated s per wall s ({base_events} events); etcd costs {:.1}x the baseline",
        SIMULATED.as_secs_f64() / etcd.as_secs_f64(),
        SIMULATED.as_secs_f64() / base.as_secs_f64(),
        etcd.as_secs_f64() / base.as_secs_f64(),
    );
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("etcd_3_members_2_clients_5min");
    group.sample_size(10);
    group.throughput(Throughput::Elements(SIMULATED.as_secs()));
    group.bench_function("simulated_seconds", |b| b.iter(|| black_box(etcd_run())));
    group.bench_function("heartbeat_baseline", |b| {
        b.iter(|| black_box(heartbeat_run()))
    });
    group.finish();
}

fn main() {
    report();
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
