//! Worked examples from kube-scheduler's code (v1.31.8-v1.34.1): each expected figure is the
//! upstream formula evaluated by hand in the comment beside it.

use std::collections::BTreeMap;

use super::*;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

fn node(name: &str, cpu: u64, memory: u64) -> Node {
    Node {
        name: name.to_owned(),
        labels: BTreeMap::from([(HOSTNAME_LABEL.to_owned(), name.to_owned())]),
        allocatable: Resources {
            milli_cpu: cpu,
            memory,
        },
        max_pods: DEFAULT_MAX_PODS,
        taints: Vec::new(),
        unschedulable: false,
    }
}

fn app(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_owned(), name.to_owned())])
}

fn pod(name: &str, cpu: Option<u64>, memory: Option<u64>) -> Pod {
    Pod {
        namespace: "default".into(),
        labels: app(name),
        owner_selector: app(name),
        cpu_request: cpu,
        memory_request: memory,
        tolerations: Vec::new(),
        node_name: None,
        node_selector: BTreeMap::new(),
        host_ports: Vec::new(),
        anti_affinity: Vec::new(),
        spread: Vec::new(),
    }
}

fn on(node: &str, pod: Pod) -> Placed {
    Placed {
        node: node.to_owned(),
        pod,
        terminating: false,
    }
}

#[test]
fn least_allocated_counts_missing_requests_as_the_non_zero_defaults() {
    // Allocatable 4000m / 8 GiB; one pod there requesting 1000m and nothing for memory
    // (200 MiB for scoring); the incoming pod requests nothing (100m, 200 MiB).
    // cpu (4000-1100)*100/4000 = 72; memory (8 GiB - 400 MiB)*100/8 GiB = 95; (72+95)/2 = 83.
    let n = node("a", 4000, 8 * GIB);
    let placed = [on("a", pod("x", Some(1000), None))];
    let incoming = pod("y", None, None);
    let nodes = [n];
    let mut snapshot = Snapshot::new(&nodes);
    snapshot.add(placed[0].clone());
    assert_eq!(scores::least_allocated(&snapshot, &incoming, 0), 83);
}

#[test]
fn balanced_allocation_is_one_minus_half_the_fraction_gap() {
    // cpu 2000/4000 = 0.5, memory 2/8 GiB = 0.25: std 0.125, (1-0.125)*100 = 87.5 -> 87.
    let nodes = [node("a", 4000, 8 * GIB)];
    let snapshot = Snapshot::new(&nodes);
    let incoming = pod("y", Some(2000), Some(2 * GIB));
    assert_eq!(scores::balanced_allocation(&snapshot, &incoming, 0), 87);
    // Equal fractions: 100.
    let even = pod("y", Some(1500), Some(3 * GIB));
    assert_eq!(scores::balanced_allocation(&snapshot, &even, 0), 100);
}

#[test]
fn default_spreading_prefers_the_node_with_fewer_replicas() {
    // System defaults, three feasible nodes without zone labels holding 0, 1 and 2 replicas:
    // weight ln(3+2) = 1.609; raw round(0+2) = 2, round(1.609+2) = 4, round(3.219+2) = 5;
    // normalized 100*(5+2-s)/5 = 100, 60, 40.
    let nodes = [
        node("a", 4000, 8 * GIB),
        node("b", 4000, 8 * GIB),
        node("c", 4000, 8 * GIB),
    ];
    let w = || pod("web", Some(100), Some(128 * MIB));
    let placed = [on("b", w()), on("c", w()), on("c", w())];
    let snapshot = Snapshot::with_placed(&nodes, &placed);
    assert_eq!(
        scores::spread(&snapshot, &w(), &[0, 1, 2]),
        Some(vec![100, 60, 40])
    );
}

#[test]
fn a_control_plane_and_full_workers_give_upstreams_message() {
    let mut nodes: Vec<Node> = ["cp1", "cp2"]
        .iter()
        .map(|n| {
            let mut n = node(n, 2000, 4 * GIB);
            n.taints.push(Taint {
                key: CONTROL_PLANE_TAINT.into(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            });
            n
        })
        .collect();
    nodes.extend(["w1", "w2", "w3"].iter().map(|n| node(n, 1000, 4 * GIB)));
    let placed: Vec<Placed> = ["w1", "w2", "w3"]
        .iter()
        .map(|n| on(n, pod("big", Some(900), Some(GIB))))
        .collect();
    let out = schedule(&pod("web", Some(500), Some(GIB)), &nodes, &placed);
    assert_eq!(
        out,
        Outcome::Unschedulable {
            message: "0/5 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu. preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.".into()
        }
    );
}

#[test]
fn required_anti_affinity_leaves_a_third_replica_pending_on_two_nodes() {
    let nodes = [node("a", 4000, 8 * GIB), node("b", 4000, 8 * GIB)];
    let web = || {
        let mut p = pod("web", Some(100), Some(128 * MIB));
        p.anti_affinity.push(AntiAffinityTerm {
            selector: app("web"),
            topology_key: HOSTNAME_LABEL.into(),
            strength: Strength::Required,
        });
        p
    };
    let mut placed = Vec::new();
    for _ in 0..2 {
        let Outcome::Scheduled { node, .. } = schedule(&web(), &nodes, &placed) else {
            panic!("two replicas fit");
        };
        placed.push(on(&node, web()));
    }
    assert_ne!(placed[0].node, placed[1].node, "one per node");
    assert_eq!(
        schedule(&web(), &nodes, &placed),
        Outcome::Unschedulable {
            message: "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.".into()
        }
    );
}

#[test]
fn ties_go_to_the_first_node_given_and_a_lone_feasible_node_is_not_scored() {
    let nodes = [node("b", 4000, 8 * GIB), node("a", 4000, 8 * GIB)];
    let Outcome::Scheduled { node: n, totals } = schedule(&pod("x", Some(100), None), &nodes, &[])
    else {
        panic!("fits");
    };
    assert_eq!(n, "b");
    assert_eq!(totals[0].1, totals[1].1);
    let mut cordoned = nodes.clone();
    cordoned[0].unschedulable = true;
    assert_eq!(
        schedule(&pod("x", Some(100), None), &cordoned, &[]),
        Outcome::Scheduled {
            node: "a".into(),
            totals: Vec::new()
        }
    );
}

#[test]
fn a_toleration_matches_by_key_value_and_effect() {
    let t = Taint {
        key: "k".into(),
        value: "v".into(),
        effect: TaintEffect::NoExecute,
    };
    assert!(Toleration::exists("k", TaintEffect::NoExecute).tolerates(&t));
    assert!(!Toleration::exists("k", TaintEffect::NoSchedule).tolerates(&t));
    let equal = Toleration {
        key: Some("k".into()),
        value: Some("w".into()),
        effect: None,
    };
    assert!(!equal.tolerates(&t));
    let all = Toleration {
        key: None,
        value: None,
        effect: None,
    };
    assert!(all.tolerates(&t));
}

/// Two workers and a tainted control-plane node, three replicas under a hard spread of
/// maxSkew 1: with upstream's default `nodeTaintsPolicy: Ignore` the control-plane node is
/// an empty domain, so the minimum stays 0 and the third replica fits nowhere; with `Honor`
/// (what render writes) it goes 2+1.
#[test]
fn a_hard_spread_counts_tainted_nodes_unless_taints_are_honored() {
    let mut cp = node("cp", 4000, 8 * GIB);
    cp.taints.push(Taint {
        key: CONTROL_PLANE_TAINT.into(),
        value: String::new(),
        effect: TaintEffect::NoSchedule,
    });
    let nodes = [cp, node("w1", 4000, 8 * GIB), node("w2", 4000, 8 * GIB)];
    let web = |honor| {
        let mut p = pod("web", Some(100), Some(128 * MIB));
        p.spread.push(SpreadConstraint {
            max_skew: 1,
            topology_key: HOSTNAME_LABEL.into(),
            required: true,
            selector: app("web"),
            honor_taints: honor,
        });
        p
    };
    for honor in [false, true] {
        let mut placed = Vec::new();
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let out = schedule(&web(honor), &nodes, &placed);
            if let Outcome::Scheduled { node, .. } = &out {
                placed.push(on(node, web(honor)));
            }
            outcomes.push(out);
        }
        if honor {
            assert_eq!(placed.len(), 3, "{outcomes:?}");
        } else {
            assert_eq!(
                outcomes[2],
                Outcome::Unschedulable {
                    message: "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match pod topology spread constraints. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.".into()
                }
            );
        }
    }
}
