//! Engine throughput, against turmoil on the same work, and scaling with the number of hosts.
//!
//! Workload: every host sends a heartbeat to each of its peers every 100 ms and marks silent
//! peers down (the `sim::models::heartbeat` detector), for 15 simulated minutes on 5 hosts. The
//! same workload runs on turmoil 0.7 (UDP heartbeats between 5 simulated hosts, 1 ms tick), and
//! the bench prints the wall-time ratio. The scaling group runs 5, 50, 500 and 1000 hosts with a
//! fanout of 4 peers each (so simulated work grows linearly) for one simulated minute; criterion
//! reports time per run and elements (events) per second.
//!
//! `SPOFLESS_BENCH_SKIP_TURMOIL=1` skips the turmoil baseline (it takes several seconds).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use sim::engine::{NullSink, RunStats, SimConfig, SimDuration, SimTime, Simulation};
use sim::models::heartbeat::{self, HeartbeatConfig, HeartbeatDetector};

/// Simulated length of the comparison workload.
const SIMULATED: Duration = Duration::from_secs(15 * 60);
/// Heartbeat interval of the workload.
const INTERVAL: Duration = Duration::from_millis(100);
/// UDP port of the turmoil heartbeat.
const PORT: u16 = 9000;

fn engine_run(hosts: usize, fanout: Option<usize>, simulated: Duration) -> RunStats {
    let mut sim = Simulation::new(SimConfig::new(1));
    let config = HeartbeatConfig {
        fanout,
        ..HeartbeatConfig::default()
    };
    for i in 0..hosts {
        let Ok(host) = sim.add_host(&format!("h{i}")) else {
            unreachable_host(i)
        };
        let model = Box::new(HeartbeatDetector::new(config));
        if sim.add_actor(host, heartbeat::MODEL_NAME, model).is_err() {
            unreachable_host(i);
        }
    }
    let stats = sim.run_until(SimTime::ZERO + SimDuration::from(simulated), &mut NullSink);
    sim.finish(&mut NullSink);
    stats
}

fn unreachable_host(i: usize) -> ! {
    panic!("host h{i} could not be added to a fresh simulation")
}

/// The same heartbeat workload on turmoil: each host sends to its 4 peers every 100 ms and reads
/// whatever arrives; a client sleeps for the simulated duration to keep the simulation going.
fn turmoil_run(hosts: usize, simulated: Duration) -> u64 {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(simulated + Duration::from_secs(1))
        .tick_duration(Duration::from_millis(1))
        .rng_seed(1)
        .build();
    let names: Vec<String> = (0..hosts).map(|i| format!("h{i}")).collect();
    for name in &names {
        let peers: Vec<String> = names.iter().filter(|n| *n != name).cloned().collect();
        sim.host(name.as_str(), move || {
            let peers = peers.clone();
            async move {
                let socket =
                    turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT))
                        .await?;
                let mut tick = tokio::time::interval(INTERVAL);
                let mut buf = [0u8; 16];
                let mut seq: u64 = 0;
                loop {
                    tokio::select! {
                        biased;
                        _ = tick.tick() => {
                            seq += 1;
                            for peer in &peers {
                                socket.send_to(&seq.to_le_bytes(), (peer.as_str(), PORT)).await?;
                            }
                        }
                        received = socket.recv_from(&mut buf) => { black_box(received?); }
                    }
                }
            }
        });
    }
    sim.client("clock", async move {
        tokio::time::sleep(simulated).await;
        Ok(())
    });
    if let Err(e) = sim.run() {
        panic!("turmoil run failed: {e}");
    }
    simulated.as_millis() as u64
}

fn compare_with_turmoil() {
    const ENGINE_REPEATS: u32 = 5;
    let start = Instant::now();
    let mut stats = RunStats::default();
    for _ in 0..ENGINE_REPEATS {
        stats = black_box(engine_run(5, None, SIMULATED));
    }
    let engine = start.elapsed() / ENGINE_REPEATS;
    let events_per_sec = stats.events as f64 / engine.as_secs_f64();
    println!(
        "engine: 5 hosts, 100 ms heartbeats, 15 simulated minutes: {:.1} ms wall, {} events ({:.2} M events/s), {:.0}x real time",
        engine.as_secs_f64() * 1e3,
        stats.events,
        events_per_sec / 1e6,
        SIMULATED.as_secs_f64() / engine.as_secs_f64()
    );
    if std::env::var_os("SPOFLESS_BENCH_SKIP_TURMOIL").is_some() {
        println!("turmoil baseline skipped (SPOFLESS_BENCH_SKIP_TURMOIL)");
        return;
    }
    let start = Instant::now();
    black_box(turmoil_run(5, SIMULATED));
    let turmoil = start.elapsed();
    println!(
        "turmoil 0.7: same workload, 1 ms tick: {:.1} ms wall ({:.0}x real time)",
        turmoil.as_secs_f64() * 1e3,
        SIMULATED.as_secs_f64() / turmoil.as_secs_f64()
    );
    println!(
        "ratio: the engine does the same simulated work {:.0}x faster than turmoil (target >= 100x)",
        turmoil.as_secs_f64() / engine.as_secs_f64()
    );
}

fn bench_engine(c: &mut Criterion) {
    let events = engine_run(5, None, SIMULATED).events;
    let mut group = c.benchmark_group("engine_heartbeat_5_hosts_15min");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("engine", |b| {
        b.iter(|| black_box(engine_run(5, None, SIMULATED)))
    });
    group.finish();
}

fn bench_scaling(c: &mut Criterion) {
    let simulated = Duration::from_secs(60);
    let mut group = c.benchmark_group("engine_scaling_fanout4_1min");
    group.sample_size(10);
    for hosts in [5usize, 50, 500, 1000] {
        let events = engine_run(hosts, Some(4), simulated).events;
        group.throughput(Throughput::Elements(events));
        group.bench_with_input(BenchmarkId::from_parameter(hosts), &hosts, |b, &hosts| {
            b.iter(|| black_box(engine_run(hosts, Some(4), simulated)))
        });
    }
    group.finish();
}

fn main() {
    compare_with_turmoil();
    let mut criterion = Criterion::default().configure_from_args();
    bench_engine(&mut criterion);
    bench_scaling(&mut criterion);
    criterion.final_summary();
}
