//! The workloads in the full scenario world: the operator applies them once every node is
//! Ready, the controller-manager leader creates their pods, the scheduler leader binds them
//! with the same policy `check` places with, and each node's kubelet runs them and reports
//! them Ready. Expected times come from the topology's node-lifecycle timers and the
//! scheduler's queue constants.

use std::collections::BTreeMap;

use super::kube_support::{Timers, facts, first, secs};
use sim::engine::{SimDuration, SimTime, Simulation};
use sim::models::kube::drain::{DELETE_POLL, EVICTION_RETRY};
use sim::models::kube::eviction::VIOLATES_BUDGET;
use sim::models::kube::facts::{
    DrainBlocked, DrainDone, EvictionGranted, NodeCordoned, PodCreated, PodEvicted,
    PodForceDeleted, PodGone, PodPending, PodReady, PodScheduled,
};
use sim::models::kube::node_lifecycle::POD_GC_PERIOD;
use sim::models::kube::scheduling::MAX_BACKOFF;
use topology::fault::Fault;
use topology::policy::scheduler::cluster::place_workloads;
use topology::{AntiAffinity, Cluster, Pdb};

/// A request through an apiserver to etcd and back, and a watch event's trip, take
/// milliseconds; a second bounds a chain of a few with room to spare.
const LATENCY: SimDuration = SimDuration::from_secs(1);

use super::kube_support::run_world as run;

/// The default topology with its `web` workload changed by `edit`.
fn with_web(edit: impl FnOnce(&mut topology::Workload)) -> Cluster {
    let mut cluster = topology::default_cluster().expect("default topology");
    let web = cluster
        .spec
        .workloads
        .iter_mut()
        .find(|w| w.name == "web")
        .expect("web");
    edit(web);
    cluster
}

/// Where the scheduler policy places each workload the simulator runs (the topology's and
/// the add-ons: see `simulated_cluster`).
fn placed(cluster: &Cluster) -> Vec<topology::policy::scheduler::cluster::Placement> {
    place_workloads(&sim::models::kube::setup::simulated_cluster(cluster))
}

/// Where each pod was bound, in binding order.
fn bindings(sim: &Simulation) -> Vec<(String, String)> {
    facts::<PodScheduled>(sim)
        .into_iter()
        .map(|(_, p)| (p.pod, p.node))
        .collect()
}

#[test]
fn the_live_placement_is_the_one_check_computes() {
    let cluster = topology::default_cluster().expect("default topology");
    let sim = run(&cluster, 2, &[], secs(120));
    // Each workload's nodes, as a sorted list: a ReplicaSet's pods have random names, and
    // identical pods bound in any order land on the same nodes.
    let owner: BTreeMap<String, String> = facts::<PodCreated>(&sim)
        .into_iter()
        .map(|(_, c)| (c.pod, c.workload))
        .collect();
    let mut live: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (pod, node) in bindings(&sim) {
        live.entry(owner[&pod].clone()).or_default().push(node);
    }
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // The simulator runs kubeadm's CoreDNS beside the topology's workloads.
    for p in placed(&cluster) {
        assert_eq!(p.pending, 0, "{p:?}");
        expected.insert(p.workload.clone(), p.nodes.clone());
    }
    for nodes in live.values_mut().chain(expected.values_mut()) {
        nodes.sort();
    }
    assert_eq!(live, expected);
    // A StatefulSet's replicas keep their ordinals, in order.
    let kv: Vec<String> = bindings(&sim)
        .into_iter()
        .filter(|(p, _)| p.starts_with("default/kv-"))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(kv, ["default/kv-0", "default/kv-1", "default/kv-2"]);
    // Every replica runs and is Ready.
    let ready = facts::<PodReady>(&sim);
    assert_eq!(ready.len(), owner.len(), "{ready:?}");
}

#[test]
fn a_dead_workers_deployment_pods_run_elsewhere_after_grace_plus_toleration() {
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    let host = "cloudserver3";
    let crash = secs(120);
    // Evicted between grace + toleration and the latest eviction (see `Timers`); then
    // creation, binding and start take milliseconds each.
    let earliest = crash + timers.grace + timers.toleration;
    let latest = crash + timers.latest_eviction() + LATENCY;
    let sim = run(
        &cluster,
        5,
        &[(crash, Fault::HostCrash { host: host.into() })],
        latest + SimDuration::from_secs(30),
    );
    // web's evicted pods are replaced. (The ingress controller's replica there is replaced
    // too, but stays Pending: two workers, required anti-affinity, no control-plane
    // toleration.)
    let evicted: Vec<String> = facts::<PodEvicted>(&sim)
        .into_iter()
        .map(|(_, p)| p.pod)
        .filter(|p| p.starts_with("default/web-"))
        .collect();
    assert!(!evicted.is_empty(), "web runs on {host}");
    let replacements: Vec<(SimTime, PodCreated)> = facts::<PodCreated>(&sim)
        .into_iter()
        .filter(|(t, p)| *t > crash && p.workload != "traefik")
        .collect();
    assert_eq!(replacements.len(), evicted.len(), "{replacements:?}");
    for (created, p) in &replacements {
        assert_eq!(p.workload, "web", "only the Deployment is replaced");
        let ready = first::<PodReady>(&sim, *created, |r| r.pod == p.pod).expect("Ready");
        let node = facts::<PodReady>(&sim)
            .into_iter()
            .find(|(_, r)| r.pod == p.pod)
            .map(|(_, r)| r.node)
            .expect("node");
        assert_ne!(node, host);
        assert!(
            ready + timers.renew_max >= earliest && ready <= latest,
            "{} Ready on {node} at {ready}; expected {earliest}..{latest}",
            p.pod
        );
        eprintln!("{} Ready on {node} at {ready} (crash at {crash})", p.pod);
    }
}

#[test]
fn a_statefulset_replica_on_a_crashed_node_waits_for_the_node() {
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    // kv-0 lands on the first control-plane host (required anti-affinity, one per node).
    let kv = placed(&cluster)
        .into_iter()
        .find(|p| p.workload == "kv")
        .expect("kv");
    let host = kv.nodes[0].clone();
    let (crash, back) = (secs(120), secs(900));
    assert!(back > crash + timers.latest_eviction() + LATENCY);
    let sim = run(
        &cluster,
        4,
        &[
            (crash, Fault::HostCrash { host: host.clone() }),
            (back, Fault::HostRestart { host: host.clone() }),
        ],
        back + SimDuration::from_secs(60),
    );
    let evicted = first::<PodEvicted>(&sim, crash, |p| p.pod == "default/kv-0").expect("evicted");
    // Terminating on a dead node: nothing replaces it while the node is down.
    assert!(
        first::<PodCreated>(&sim, crash, |p| p.workload == "kv").expect("recreated") >= back,
        "kv-0 was replaced while {host} was down"
    );
    // The node's kubelet finishes the deletion; only then is kv-0 created again, and runs.
    let gone = first::<PodGone>(&sim, back, |p| p.pod == "default/kv-0").expect("gone");
    let again = first::<PodReady>(&sim, evicted, |p| p.pod == "default/kv-0").expect("Ready");
    assert!(
        gone >= back && again >= back && again <= back + LATENCY,
        "gone {gone}, Ready {again}"
    );
}

#[test]
fn a_pending_replacement_is_bound_once_its_node_returns() {
    // Two web replicas that must not share a node: one per worker, and no third node takes
    // a replacement while a worker is down.
    let cluster = with_web(|web| {
        web.replicas = 2;
        web.anti_affinity = AntiAffinity::Required;
        web.topology_spread = None;
        web.hpa = None;
        web.pdb = None;
    });
    let timers = Timers::of(&cluster);
    let host = "cloudserver3";
    let (crash, back) = (secs(120), secs(700));
    assert!(back > crash + timers.latest_eviction() + LATENCY);
    let sim = run(
        &cluster,
        6,
        &[
            (crash, Fault::HostCrash { host: host.into() }),
            (back, Fault::HostRestart { host: host.into() }),
        ],
        back + SimDuration::from_secs(90),
    );
    let (created, replacement) = facts::<PodCreated>(&sim)
        .into_iter()
        .find(|(t, _)| *t > crash)
        .expect("a replacement");
    let (_, pending) = facts::<PodPending>(&sim)
        .into_iter()
        .find(|(t, p)| *t >= created && p.pod == replacement.pod)
        .expect("Pending while the node is down");
    assert!(
        pending.message.starts_with("0/5 nodes are available:")
            && pending
                .message
                .contains("didn't match pod anti-affinity rules")
            && pending.message.contains("node.kubernetes.io/unreachable"),
        "{}",
        pending.message
    );
    // The node's Ready=True removes the NoSchedule taint; the Node update moves the pod out
    // of the unschedulable pods, through at most the longest back-off.
    let bound = first::<PodScheduled>(&sim, created, |p| p.pod == replacement.pod)
        .expect("bound after the node returned");
    assert!(
        bound >= back && bound <= back + SimDuration::from_secs(15) + MAX_BACKOFF,
        "bound at {bound}, node back at {back}"
    );
}

#[test]
fn a_kubelet_whose_watch_went_through_a_dead_vip_holder_still_runs_new_pods() {
    // The VIP holder dies first: every kubelet's pod watch went through its haproxy and goes
    // silent; client-go's PING finds it dead and the watch comes back through the new holder.
    // Then a worker dies, and the replacements land on the other worker, whose kubelet must
    // see them.
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    let vip_holder = topology::policy::vrrp::priority_order(&cluster)[0]
        .name
        .clone();
    let (first_crash, second) = (secs(60), secs(120));
    let end = second + timers.latest_eviction() + SimDuration::from_secs(30);
    let sim = run(
        &cluster,
        7,
        &[
            (first_crash, Fault::HostCrash { host: vip_holder }),
            (
                second,
                Fault::HostCrash {
                    host: "cloudserver3".into(),
                },
            ),
        ],
        end,
    );
    let web: Vec<(SimTime, PodScheduled)> = facts::<PodScheduled>(&sim)
        .into_iter()
        .filter(|(t, p)| *t > second && p.pod.starts_with("default/web-"))
        .collect();
    assert!(!web.is_empty(), "web replacements bound");
    for (t, p) in web {
        let ready = first::<PodReady>(&sim, t, |r| r.pod == p.pod).expect("Ready");
        assert!(
            ready <= t + LATENCY,
            "{} bound at {t}, Ready at {ready}",
            p.pod
        );
    }
}

/// The web pods the scheduler policy puts on `host` (beside the add-ons the simulator runs).
fn web_on(cluster: &Cluster, host: &str) -> usize {
    placed(cluster)
        .iter()
        .filter(|p| p.workload == "web")
        .flat_map(|p| p.nodes.iter())
        .filter(|n| *n == host)
        .count()
}

#[test]
fn a_drain_evicts_as_the_budget_allows_and_finishes() {
    let cluster = topology::default_cluster().expect("default topology");
    let host = "cloudserver3";
    // web: three replicas, minAvailable 2, two of them on this worker.
    assert_eq!(web_on(&cluster, host), 2);
    let drain = secs(120);
    let sim = run(
        &cluster,
        8,
        &[(drain, Fault::Drain { host: host.into() })],
        drain + SimDuration::from_secs(60),
    );
    let cordoned =
        first::<NodeCordoned>(&sim, drain, |c| c.node == host && c.cordoned).expect("cordoned");
    assert!(cordoned <= drain + LATENCY);
    let granted: Vec<SimTime> = facts::<EvictionGranted>(&sim)
        .into_iter()
        .filter(|(_, e)| e.workload == "web")
        .map(|(t, _)| t)
        .collect();
    assert_eq!(granted.len(), 2, "{granted:?}");
    // The first leaves exactly minAvailable Ready: the second is refused until the
    // replacement is Ready, and kubectl tries again 5 s later.
    let (_, blocked) = facts::<DrainBlocked>(&sim)
        .into_iter()
        .next()
        .expect("the second eviction was refused once");
    assert_eq!(blocked.message, VIOLATES_BUDGET);
    assert!(
        granted[1] >= granted[0] + EVICTION_RETRY
            && granted[1] <= granted[0] + EVICTION_RETRY + LATENCY,
        "evictions at {granted:?}"
    );
    let done = first::<DrainDone>(&sim, drain, |d| d.node == host).expect("drained");
    assert!(done <= granted[1] + DELETE_POLL + LATENCY, "done at {done}");
    // Cordoned: nothing new lands there.
    assert!(
        !facts::<PodScheduled>(&sim)
            .iter()
            .any(|(t, p)| *t > cordoned && p.node == host),
        "a pod was scheduled onto the cordoned node"
    );
}

#[test]
fn a_drain_against_a_budget_allowing_no_disruption_never_finishes_and_says_why() {
    let cluster = with_web(|web| web.pdb = Some(Pdb::min_available(web.replicas)));
    let host = "cloudserver3";
    let drain = secs(120);
    let sim = run(
        &cluster,
        9,
        &[(drain, Fault::Drain { host: host.into() })],
        drain + SimDuration::from_secs(180),
    );
    // The add-ons' pods on the node go (their budgets allow one each); web's never do.
    assert!(
        !facts::<EvictionGranted>(&sim)
            .iter()
            .any(|(_, e)| e.workload == "web")
    );
    assert!(
        facts::<DrainDone>(&sim).is_empty(),
        "the drain cannot finish"
    );
    let blocked: Vec<_> = facts::<DrainBlocked>(&sim)
        .into_iter()
        .filter(|(_, b)| b.pod.starts_with("default/web-"))
        .collect();
    assert_eq!(blocked.len(), web_on(&cluster, host), "{blocked:?}");
    assert!(blocked.iter().all(|(_, b)| b.message == VIOLATES_BUDGET));
}

#[test]
fn a_statefulset_replica_is_replaced_once_its_dead_node_is_out_of_service() {
    let cluster = topology::default_cluster().expect("default topology");
    let timers = Timers::of(&cluster);
    let kv = placed(&cluster)
        .into_iter()
        .find(|p| p.workload == "kv")
        .expect("kv");
    let host = kv.nodes[0].clone();
    // The operator confirms the node is down and taints it after the eviction ran.
    let crash = secs(120);
    let taint = crash + timers.latest_eviction() + LATENCY;
    let sim = run(
        &cluster,
        10,
        &[
            (crash, Fault::HostCrash { host: host.clone() }),
            (taint, Fault::OutOfService { host: host.clone() }),
        ],
        taint + SimDuration::from_secs(60),
    );
    // The taint is seen at the next monitor pass; the pod garbage collector force-deletes the
    // Terminating pod at its next collection; the StatefulSet creates kv-0 again at once.
    let deleted =
        first::<PodForceDeleted>(&sim, taint, |p| p.pod == "default/kv-0").expect("force-deleted");
    assert!(
        deleted <= taint + timers.period + POD_GC_PERIOD + LATENCY,
        "force-deleted at {deleted}, tainted at {taint}"
    );
    let recreated =
        first::<PodCreated>(&sim, deleted, |p| p.pod == "default/kv-0").expect("recreated");
    let (_, bound) = facts::<PodScheduled>(&sim)
        .into_iter()
        .find(|(t, p)| *t >= recreated && p.pod == "default/kv-0")
        .expect("bound");
    assert_ne!(bound.node, host);
    let ready = first::<PodReady>(&sim, recreated, |p| p.pod == "default/kv-0").expect("Ready");
    assert!(ready <= deleted + LATENCY, "Ready at {ready}");
}
