//! kube-scheduler policy throughput (`topology::policy::scheduler`): pods scheduled per
//! second, each bound before the next is scheduled, on upstream scheduler_perf shapes
//! (`test/integration/scheduler_perf/config/performance-config.yaml`).
//!
//! - SchedulingBasic: nodes of 4 CPU, 32 GiB and 110 pods (`node-default.yaml`), pods
//!   requesting 100m and 500 MiB with no labels, owner or constraints (`pod-default.yaml`);
//!   1,000 nodes / 30,000 pods and 5,000 nodes / 10,000 pods.
//! - SchedulingPodAntiAffinity: 5,000 nodes; pods labelled `color: green` with required
//!   anti-affinity against `color: green` on `kubernetes.io/hostname`
//!   (`pod-with-pod-anti-affinity.yaml`): 1,000 placed first, untimed, then 1,000 timed.
//!
//! Each runs through a [`Snapshot`] kept across pods (what a caller placing many pods
//! does), once with `Snapshot::choose` (the decision) and once with `Snapshot::schedule`
//! (the full `Outcome`), and is compared with upstream's published floors for those
//! workloads (680 pods/s and 60 pods/s), against a target of 10x them. The same-process
//! baseline is the scheduler as it was before the snapshot (the test-only `reference`
//! module, included here by path), timed against `schedule` and both snapshot entry points
//! on 200 nodes / 800 pods of two shapes: the
//! SchedulingBasic pod, and a ReplicaSet replica (labelled, with an owner selector, so the
//! system default spread constraints count its siblings on every node) on nodes spread
//! over three zones. Every run checks that all four bind every pod to the same nodes.
//! Criterion then times one cycle on a half-full 1,000-node cluster.
//!
//! Measured 2026-12-07 on the 2-core development machine, `cargo bench -p spofless-benches
//! --bench scheduler` (about a minute once built):
//! - baseline, 200 nodes / 800 pods, same placements from all four: SchedulingBasic pods,
//!   reference 1,082 pods/s; `schedule` 35,799 (33x); `Snapshot::schedule` 90,912 (84x);
//!   `Snapshot::choose` 201,627 (186x). ReplicaSet replicas over 3 zones: reference 56
//!   pods/s (its spread score recounted every domain for every node); `schedule` 16,143
//!   (290x); `Snapshot::schedule` 22,286 (401x); `Snapshot::choose` 26,478 (477x).
//! - `Snapshot::choose`: SchedulingBasic 1,000 nodes / 30,000 pods 41,837 pods/s (61.5x
//!   the floor), 5,000 nodes / 10,000 pods 8,737 pods/s (12.8x); SchedulingPodAntiAffinity
//!   1,307 pods/s (21.8x). All three targets MET.
//! - `Snapshot::schedule`: 17,362 pods/s (25.5x) on 1,000 nodes, 3,681 pods/s (5.4x, target
//!   NOT MET) on 5,000 nodes, 1,170 pods/s (19.5x) with anti-affinity: its `Outcome` names
//!   each of the 5,000 feasible nodes in `totals`, and those String clones cost more than
//!   the rest of the cycle.
//! - criterion, one cycle on 1,000 nodes holding 15,000 pods: `Snapshot::choose` 22.5 us,
//!   `Snapshot::schedule` 56.6 us, `schedule` 579 us (indexing the 15,000 pods first).

#[path = "../topology/src/policy/scheduler/reference/mod.rs"]
mod reference;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use topology::policy::scheduler::{
    AntiAffinityTerm, DEFAULT_MAX_PODS, HOSTNAME_LABEL, Node, Outcome, Placed, Pod, Resources,
    Snapshot, SpreadConstraint, Strength, Taint, TaintEffect, UNSCHEDULABLE_TAINT, ZONE_LABEL,
    schedule,
};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// Upstream's published floor for SchedulingBasic (pods/s).
const BASIC_FLOOR: f64 = 680.0;
/// Upstream's published floor for SchedulingPodAntiAffinity (pods/s).
const ANTI_AFFINITY_FLOOR: f64 = 60.0;
/// The target: this many times upstream's floor.
const TARGET: f64 = 10.0;

/// `node-default.yaml`'s capacity; `zones` > 0 labels them round-robin over that many zones.
fn nodes(n: usize, zones: usize) -> Vec<Node> {
    (0..n)
        .map(|i| {
            let name = format!("node-{i:05}");
            let mut labels = BTreeMap::from([(HOSTNAME_LABEL.to_owned(), name.clone())]);
            if zones > 0 {
                labels.insert(ZONE_LABEL.to_owned(), format!("zone-{}", i % zones));
            }
            Node {
                name,
                labels,
                allocatable: Resources {
                    milli_cpu: 4000,
                    memory: 32 * GIB,
                },
                max_pods: DEFAULT_MAX_PODS,
                taints: Vec::new(),
                unschedulable: false,
            }
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `pod-default.yaml`: requests and nothing else.
fn basic_pod() -> Pod {
    Pod {
        namespace: "sched-0".to_owned(),
        labels: BTreeMap::new(),
        owner_selector: BTreeMap::new(),
        cpu_request: Some(100),
        memory_request: Some(500 * MIB),
        tolerations: Vec::new(),
        node_name: None,
        node_selector: BTreeMap::new(),
        host_ports: Vec::new(),
        anti_affinity: Vec::new(),
        spread: Vec::new(),
    }
}

/// A ReplicaSet's replica: its owner's selector brings in the default spread constraints.
fn replica_pod() -> Pod {
    let app = labels(&[("app", "web")]);
    Pod {
        labels: app.clone(),
        owner_selector: app,
        ..basic_pod()
    }
}

/// `pod-with-pod-anti-affinity.yaml`.
fn anti_affinity_pod() -> Pod {
    let green = labels(&[("color", "green")]);
    Pod {
        labels: green.clone(),
        anti_affinity: vec![AntiAffinityTerm {
            selector: green,
            topology_key: HOSTNAME_LABEL.to_owned(),
            strength: Strength::Required,
        }],
        ..basic_pod()
    }
}

/// The chosen node, or a panic: every pod of these workloads fits.
fn chosen(outcome: Outcome) -> String {
    match outcome {
        Outcome::Scheduled { node, .. } => node,
        Outcome::Unschedulable { message } => panic!("a benchmark pod did not fit: {message}"),
    }
}

/// How a snapshot is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// [`Snapshot::schedule`]: the full [`Outcome`], every feasible node's total named.
    Schedule,
    /// [`Snapshot::choose`]: the same decision, as a position.
    Choose,
}

/// Binds `count` copies of `pod` one after another through `snapshot`; the chosen nodes.
fn run_snapshot(snapshot: &mut Snapshot<'_>, pod: &Pod, count: usize, entry: Entry) -> Vec<String> {
    (0..count)
        .map(|_| {
            let node = match entry {
                Entry::Schedule => chosen(snapshot.schedule(pod)),
                Entry::Choose => match snapshot.choose(pod) {
                    Ok(i) => snapshot.nodes()[i].name.clone(),
                    Err(message) => panic!("a benchmark pod did not fit: {message}"),
                },
            };
            snapshot.add(Placed {
                node: node.clone(),
                pod: pod.clone(),
                terminating: false,
            });
            node
        })
        .collect()
}

/// Binds `count` copies of `pod` one after another through a function of the whole cluster
/// (`schedule` or the reference): the chosen nodes.
fn run_slices(
    nodes: &[Node],
    pod: &Pod,
    count: usize,
    f: fn(&Pod, &[Node], &[Placed]) -> Outcome,
) -> Vec<String> {
    let mut placed = Vec::with_capacity(count);
    for _ in 0..count {
        let node = chosen(f(pod, nodes, &placed));
        placed.push(Placed {
            node,
            pod: pod.clone(),
            terminating: false,
        });
    }
    placed.into_iter().map(|p| p.node).collect()
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let value = black_box(f());
    (start.elapsed(), value)
}

fn rate(pods: usize, d: Duration) -> f64 {
    pods as f64 / d.as_secs_f64()
}

/// The old scheduler, `schedule` and a snapshot on the same work.
fn baseline(shape: &str, pod: &Pod, zones: usize) {
    let (n, count) = (200, 800);
    let nodes = nodes(n, zones);
    let (old, old_nodes) = timed(|| run_slices(&nodes, pod, count, reference::schedule));
    let (new, new_nodes) = timed(|| run_slices(&nodes, pod, count, schedule));
    let snapshot = |entry| timed(|| run_snapshot(&mut Snapshot::new(&nodes), pod, count, entry));
    let (snap, snap_nodes) = snapshot(Entry::Schedule);
    let (choose, choose_nodes) = snapshot(Entry::Choose);
    assert_eq!(old_nodes, new_nodes, "schedule placed differently");
    assert_eq!(
        old_nodes, snap_nodes,
        "Snapshot::schedule placed differently"
    );
    assert_eq!(
        old_nodes, choose_nodes,
        "Snapshot::choose placed differently"
    );
    let ratio = |d: Duration| old.as_secs_f64() / d.as_secs_f64();
    println!(
        "baseline, {shape}, {n} nodes / {count} pods, same placements: reference {:.0} pods/s; \
         schedule {:.0} ({:.1}x); Snapshot::schedule {:.0} ({:.1}x); Snapshot::choose {:.0} \
         ({:.1}x)",
        rate(count, old),
        rate(count, new),
        ratio(new),
        rate(count, snap),
        ratio(snap),
        rate(count, choose),
        ratio(choose),
    );
}

/// One scheduler_perf shape through a snapshot: `init` pods bound untimed, then `count`
/// timed.
fn workload(
    name: &str,
    n: usize,
    pod: &Pod,
    (init, count): (usize, usize),
    floor: f64,
    entry: Entry,
) {
    let nodes = nodes(n, 0);
    let mut snapshot = Snapshot::new(&nodes);
    run_snapshot(&mut snapshot, pod, init, entry);
    let (time, _) = timed(|| run_snapshot(&mut snapshot, pod, count, entry));
    let pods_per_s = rate(count, time);
    let after = if init > 0 {
        format!(" after {init} placed")
    } else {
        String::new()
    };
    println!(
        "{name}, {n} nodes, {count} pods{after}, {entry:?}: {:.2} s, {pods_per_s:.0} pods/s = \
         {:.1}x upstream's floor of {floor:.0}; target {:.0} ({TARGET:.0}x): {}",
        time.as_secs_f64(),
        pods_per_s / floor,
        floor * TARGET,
        if pods_per_s >= floor * TARGET {
            "MET"
        } else {
            "NOT MET"
        }
    );
}

/// One cycle on 1,000 nodes holding 15,000 SchedulingBasic pods, through the snapshot's two
/// entry points and through `schedule` (which indexes the cluster first).
fn bench_cycle(c: &mut Criterion) {
    let nodes = nodes(1000, 0);
    let pod = basic_pod();
    let mut snapshot = Snapshot::new(&nodes);
    let bound = run_snapshot(&mut snapshot, &pod, 15_000, Entry::Choose);
    let placed: Vec<Placed> = bound
        .into_iter()
        .map(|node| Placed {
            node,
            pod: pod.clone(),
            terminating: false,
        })
        .collect();
    let mut group = c.benchmark_group("scheduler_basic_1000_nodes_15000_placed");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    group.bench_function("Snapshot::choose", |b| {
        b.iter(|| black_box(snapshot.choose(&pod)))
    });
    group.bench_function("Snapshot::schedule", |b| {
        b.iter(|| black_box(snapshot.schedule(&pod)))
    });
    group.bench_function("schedule", |b| {
        b.iter(|| black_box(schedule(&pod, &nodes, &placed)))
    });
    group.finish();
}

fn main() {
    baseline("SchedulingBasic pods", &basic_pod(), 0);
    baseline("ReplicaSet replicas over 3 zones", &replica_pod(), 3);
    let (basic, anti) = (basic_pod(), anti_affinity_pod());
    for entry in [Entry::Choose, Entry::Schedule] {
        workload(
            "SchedulingBasic",
            1000,
            &basic,
            (0, 30_000),
            BASIC_FLOOR,
            entry,
        );
        workload(
            "SchedulingBasic",
            5000,
            &basic,
            (0, 10_000),
            BASIC_FLOOR,
            entry,
        );
        let shape = "SchedulingPodAntiAffinity";
        workload(shape, 5000, &anti, (1000, 1000), ANTI_AFFINITY_FLOOR, entry);
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench_cycle(&mut criterion);
    criterion.final_summary();
}
