//! Services in the full scenario world: the EndpointSlice controller lists each workload's
//! pods, every node's kube-proxy programs them (at most once per `minSyncPeriod`), and the
//! Service lane follows the data path. Expected times come from the node-lifecycle timers and
//! kube-proxy's `minSyncPeriod`.

use super::kube_support::{Timers, facts, run_world, secs};
use sim::checks::timeline::Timeline;
use sim::engine::{SimDuration, SimTime, Simulation, Status};
use sim::models::kube::data_path::{service_incidents, service_lanes};
use sim::models::kube::facts::{PodNotReady, PodReady, PodRestarting, ProxyRules};
use sim::models::kube::kube_proxy::MIN_SYNC_PERIOD;
use sim::models::kube::kubelet_pods::ready_after;
use topology::fault::Fault;

/// A pod write through an apiserver to etcd, the watch events to the EndpointSlice controller,
/// its slice write and the watch events to every kube-proxy take milliseconds each; a second
/// bounds that chain with room to spare.
const LATENCY: SimDuration = SimDuration::from_secs(1);

const WEB: &str = "default/web";

fn run(seed: u64, faults: &[(SimTime, Fault)], end: SimTime) -> Simulation {
    let cluster = topology::default_cluster().expect("default topology");
    run_world(&cluster, seed, faults, end)
}

/// The web pods Ready on `host` before `t`.
fn web_on(sim: &Simulation, host: &str, t: SimTime) -> Vec<String> {
    facts::<PodReady>(sim)
        .into_iter()
        .filter(|(at, p)| *at < t && p.workload == "web" && p.node == host)
        .map(|(_, p)| p.pod)
        .collect()
}

fn web_lane(sim: &Simulation, end: SimTime) -> Timeline {
    service_lanes(sim.log(), end)
        .into_iter()
        .find(|t| t.component == "service/default/web")
        .expect("a web Service lane")
}

/// Each node's rule rewrites for `service`, in time order.
fn rewrites(sim: &Simulation, service: &str) -> Vec<(SimTime, ProxyRules)> {
    facts::<ProxyRules>(sim)
        .into_iter()
        .filter(|(_, r)| r.service == service)
        .collect()
}

#[test]
fn every_node_routes_the_service_to_all_its_ready_pods() {
    let end = secs(120);
    let sim = run(2, &[], end);
    let mut ready: Vec<String> = facts::<PodReady>(&sim)
        .into_iter()
        .filter(|(_, p)| p.workload == "web")
        .map(|(_, p)| p.pod)
        .collect();
    ready.sort();
    assert!(ready.len() >= 2, "web has replicas: {ready:?}");
    let cluster = topology::default_cluster().expect("default topology");
    for host in &cluster.spec.hosts {
        let last = rewrites(&sim, WEB)
            .into_iter()
            .rev()
            .find(|(_, r)| r.node == host.name)
            .unwrap_or_else(|| panic!("{} programmed web", host.name));
        assert_eq!(last.1.endpoints, ready, "{}", host.name);
    }
    let lane = web_lane(&sim, end);
    let first = lane.intervals.first().expect("an interval");
    assert_eq!(lane.intervals.len(), 1, "{lane:?}");
    assert_eq!(first.status, Status::Up);
}

/// The worker both web tests crash, and when.
const WORKER: &str = "cloudserver3";

/// The default world, seed 5, with [`WORKER`] crashed at 120 s and run past the latest
/// eviction: the world, crash, end, and the web pods that died with the worker.
fn worker_crash() -> (Simulation, SimTime, SimTime, Vec<String>) {
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    let crash = secs(120);
    let end = crash + timers.latest_eviction() + SimDuration::from_secs(60);
    let sim = run(
        5,
        &[(
            crash,
            Fault::HostCrash {
                host: WORKER.into(),
            },
        )],
        end,
    );
    let dead = web_on(&sim, WORKER, crash);
    (sim, crash, end, dead)
}

#[test]
fn a_dead_workers_pod_degrades_the_service_until_kube_proxy_drops_it() {
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    let host = WORKER;
    let (sim, crash, end, dead) = worker_crash();
    assert!(!dead.is_empty(), "web runs on {host}");
    // The node controller marks the dead pods not Ready when it marks the node Unknown: one
    // to two monitor periods after the grace period, which runs from the last renewal it saw
    // (the API still says Ready until then, so every node keeps routing to them).
    let marked = facts::<PodNotReady>(&sim)
        .into_iter()
        .filter(|(t, p)| *t > crash && dead.contains(&p.pod))
        .map(|(t, _)| t)
        .max()
        .expect("the dead pods are marked not Ready");
    assert!(
        marked + timers.renew_max >= crash + timers.grace
            && marked <= crash + timers.grace + timers.period + timers.period + LATENCY,
        "marked not Ready at {marked}, crash at {crash}"
    );
    // Every running node drops them within minSyncPeriod (plus the trip) of the mark.
    for h in cluster.spec.hosts.iter().filter(|h| h.name != host) {
        let dropped = rewrites(&sim, WEB)
            .into_iter()
            .find(|(t, r)| {
                *t > crash && r.node == h.name && !r.endpoints.iter().any(|p| dead.contains(p))
            })
            .map(|(t, _)| t)
            .unwrap_or_else(|| panic!("{} never dropped {dead:?}", h.name));
        assert!(
            dropped >= marked && dropped <= marked + MIN_SYNC_PERIOD + LATENCY,
            "{} dropped the dead pods at {dropped}, marked at {marked}",
            h.name
        );
    }
    // The lane: up, degraded from the crash to the last node's rewrite, then up again on the
    // surviving replicas.
    let lane = web_lane(&sim, end);
    let degraded: Vec<_> = lane
        .intervals
        .iter()
        .filter(|i| i.status != Status::Up)
        .collect();
    assert_eq!(degraded.len(), 1, "{lane:?}");
    let d = degraded[0];
    assert_eq!(d.status, Status::Degraded, "{lane:?}");
    assert_eq!(d.start, crash);
    assert!(
        d.end >= marked && d.end <= marked + MIN_SYNC_PERIOD + LATENCY,
        "degraded until {}, marked at {marked}",
        d.end
    );
    eprintln!(
        "web degraded {} .. {} ({} s after the crash; pods marked not Ready at {marked})",
        d.start,
        d.end,
        d.end.saturating_since(crash).as_secs_f64()
    );
}

#[test]
fn kube_proxy_rewrites_a_service_at_most_once_per_min_sync_period() {
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    let crash = secs(120);
    let end = crash + timers.latest_eviction() + SimDuration::from_secs(60);
    let sim = run(
        7,
        &[(
            crash,
            Fault::HostCrash {
                host: "blackboar".into(),
            },
        )],
        end,
    );
    let all = facts::<ProxyRules>(&sim);
    assert!(all.len() > 10, "{all:?}");
    for h in &cluster.spec.hosts {
        let times: Vec<SimTime> = all
            .iter()
            .filter(|(_, r)| r.node == h.name)
            .map(|(t, _)| *t)
            .collect();
        // Rewrites of one sync share its instant; distinct syncs are minSyncPeriod apart.
        let mut syncs = times.clone();
        syncs.dedup();
        for w in syncs.windows(2) {
            assert!(
                w[1].saturating_since(w[0]) >= MIN_SYNC_PERIOD,
                "{}: syncs at {} and {}",
                h.name,
                w[0],
                w[1]
            );
        }
    }
}

#[test]
fn a_quickly_rebooted_workers_pods_start_again_and_the_service_recovers() {
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    let web = cluster
        .spec
        .workloads
        .iter()
        .find(|w| w.name == "web")
        .expect("web");
    let host = "cloudserver3";
    let crash = secs(120);
    // Back well within the grace period: the node is never Unknown, so nothing marks its pods
    // not Ready but its own kubelet.
    let restart = crash + SimDuration::from_secs(10);
    assert!(restart < crash + timers.grace);
    let end = restart + SimDuration::from_secs(120);
    let sim = run(
        5,
        &[
            (crash, Fault::HostCrash { host: host.into() }),
            (restart, Fault::HostRestart { host: host.into() }),
        ],
        end,
    );
    let on_host = web_on(&sim, host, crash);
    assert!(!on_host.is_empty(), "web runs on {host}");
    assert!(
        facts::<PodNotReady>(&sim).is_empty(),
        "the node controller marked nothing"
    );
    let ready_again = ready_after(web);
    let mut back = restart;
    for pod in &on_host {
        let restarting = facts::<PodRestarting>(&sim)
            .into_iter()
            .find(|(t, p)| *t >= restart && &p.pod == pod)
            .map(|(t, _)| t)
            .unwrap_or_else(|| panic!("{pod}: its kubelet reported it not Ready"));
        let ready = facts::<PodReady>(&sim)
            .into_iter()
            .find(|(t, p)| *t > restarting && &p.pod == pod)
            .map(|(t, _)| t)
            .unwrap_or_else(|| panic!("{pod}: Ready again"));
        assert!(
            ready >= restarting + ready_again && ready <= restart + ready_again + LATENCY,
            "{pod}: restarting at {restarting}, Ready at {ready}"
        );
        back = back.max(ready);
    }
    // The Service: degraded from the crash (every node still routes to the dead pods) and up
    // once they run again and every node routes to them.
    let lane = web_lane(&sim, end);
    let last = lane.intervals.last().expect("intervals");
    assert_eq!(last.status, Status::Up, "{lane:?}");
    let outage: Vec<_> = lane
        .intervals
        .iter()
        .filter(|i| i.status != Status::Up)
        .collect();
    assert_eq!(outage.first().map(|i| i.start), Some(crash), "{lane:?}");
    assert!(
        last.start <= back + MIN_SYNC_PERIOD + LATENCY,
        "up again at {}, pods Ready at {back}: {lane:?}",
        last.start
    );
    eprintln!(
        "web after a 10 s reboot of {host}: not fully up {} .. {}",
        crash, last.start
    );
}

/// Crashes the node of one replica of add-on `workload` (two replicas, required
/// anti-affinity by default) and checks its lane never goes down: degraded from the crash
/// until every node dropped the dead replica, up after.
fn add_on_keeps_answering_when_one_replicas_node_dies(workload: &str, lane_name: &str) {
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    let crash = secs(120);
    // Where it runs before the fault (the same seed places it the same way).
    let before = run(3, &[], crash);
    let nodes: Vec<String> = facts::<PodReady>(&before)
        .into_iter()
        .filter(|(_, p)| p.workload == workload)
        .map(|(_, p)| p.node)
        .collect();
    assert_eq!(nodes.len(), 2, "{workload}: {nodes:?}");
    assert_ne!(nodes[0], nodes[1], "{workload}: one replica per node");
    let host = nodes[0].clone();
    let end = crash + timers.latest_eviction() + SimDuration::from_secs(60);
    let sim = run(3, &[(crash, Fault::HostCrash { host: host.clone() })], end);
    let lane = service_lanes(sim.log(), end)
        .into_iter()
        .find(|t| t.component == lane_name)
        .unwrap_or_else(|| panic!("a {lane_name} lane"));
    assert!(
        lane.intervals.iter().all(|i| i.status != Status::Down),
        "{lane_name} answered throughout: {lane:?}"
    );
    let degraded: Vec<_> = lane
        .intervals
        .iter()
        .filter(|i| i.status == Status::Degraded)
        .collect();
    assert_eq!(degraded.len(), 1, "{lane:?}");
    assert_eq!(degraded[0].start, crash);
    // Until every node dropped the dead replica: the node lifecycle controller's mark (see
    // the web test for its bounds) plus kube-proxy's minSyncPeriod.
    let latest = crash + timers.grace + timers.period + timers.period + MIN_SYNC_PERIOD + LATENCY;
    assert!(
        degraded[0].end <= latest,
        "degraded until {}, latest {latest}",
        degraded[0].end
    );
    eprintln!(
        "{lane_name} with {host} (one of its nodes) crashed: degraded {} .. {}",
        degraded[0].start, degraded[0].end
    );
}

#[test]
fn coredns_keeps_answering_when_one_replicas_node_dies() {
    add_on_keeps_answering_when_one_replicas_node_dies("coredns", "coredns");
}

#[test]
fn the_ingress_controller_keeps_answering_when_one_replicas_node_dies() {
    add_on_keeps_answering_when_one_replicas_node_dies("traefik", "ingress");
}

#[test]
fn a_service_outage_names_the_dead_pods_it_was_routed_to() {
    let host = WORKER;
    let (sim, crash, end, dead) = worker_crash();
    let incidents: Vec<_> = service_incidents(sim.log(), end)
        .into_iter()
        .filter(|i| i.component == "service/default/web")
        .collect();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let i = &incidents[0];
    assert_eq!((i.start, i.status), (crash, Status::Degraded));
    for pod in &dead {
        let name = pod.split_once('/').expect("namespaced").1;
        assert!(
            i.cause.contains(&format!("{name} on {host} (down)")),
            "{pod} in {:?}",
            i.cause
        );
    }
    let lane = web_lane(&sim, end);
    let degraded = lane
        .intervals
        .iter()
        .find(|d| d.status == Status::Degraded)
        .expect("degraded");
    assert_eq!(i.end, Some(degraded.end));
}
