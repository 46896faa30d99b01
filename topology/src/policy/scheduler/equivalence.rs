//! The indexed scheduler against the `reference` one it replaced, on random small clusters:
//! every [`Outcome`] (chosen node, every feasible node's total, the FailedScheduling message)
//! must be the same, through [`schedule`] and through a [`Snapshot`] kept across pods. The
//! generators draw from small pools of names, labels, keys and selectors so that pods match
//! each other, domains collide and every filter rejects now and then (the last test checks
//! that each of them does); they also make the cases a real cluster never has (two nodes
//! with one name, pods on names no node has, empty selectors, zero allocatable), since the
//! contract is the same result for every input.

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::*;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// Names placed pods and `nodeName` draw from: "n6" and "gone" are never a node's.
const NAMES: [&str; 8] = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "gone"];
const KEYS: [&str; 3] = [HOSTNAME_LABEL, ZONE_LABEL, "rack"];

/// What [`Snapshot::choose`] should say for `expected`: the chosen node's name (compared by
/// name, since two nodes may share one here) or the message.
fn as_choice(expected: &Outcome) -> Result<String, String> {
    match expected {
        Outcome::Scheduled { node, .. } => Ok(node.clone()),
        Outcome::Unschedulable { message } => Err(message.clone()),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn selector() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop_oneof![
        1 => Just(map(&[])),
        3 => Just(map(&[("app", "web")])),
        2 => Just(map(&[("app", "db")])),
        1 => Just(map(&[("app", "web"), ("tier", "x")])),
    ]
}

fn effect() -> impl Strategy<Value = TaintEffect> {
    select(vec![
        TaintEffect::NoSchedule,
        TaintEffect::PreferNoSchedule,
        TaintEffect::NoExecute,
    ])
}

fn taint() -> impl Strategy<Value = Taint> {
    (
        select(vec!["k1", "k2", CONTROL_PLANE_TAINT]),
        select(vec!["", "v"]),
        effect(),
    )
        .prop_map(|(key, value, effect)| Taint {
            key: key.to_owned(),
            value: value.to_owned(),
            effect,
        })
}

fn toleration() -> impl Strategy<Value = Toleration> {
    let keys = vec!["k1", "k2", CONTROL_PLANE_TAINT, UNSCHEDULABLE_TAINT];
    (
        option::of(select(keys)),
        option::of(select(vec!["", "v"])),
        option::of(effect()),
    )
        .prop_map(|(key, value, effect)| Toleration {
            key: key.map(str::to_owned),
            value: value.map(str::to_owned),
            effect,
        })
}

/// The node at position `i`: named `n{i}`, or now and then `n0` again.
fn node(i: usize) -> impl Strategy<Value = Node> {
    (
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.9),
        option::of(select(vec!["z1", "z2"])),
        option::of(select(vec!["r1", "r2"])),
        select(vec![0, 500, 1000, 4000]),
        select(vec![0, GIB, 4 * GIB]),
        select(vec![1, 2, 3, DEFAULT_MAX_PODS]),
        vec(taint(), 0..=2),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            move |(dup, host, zone, rack, cpu, memory, max_pods, taints, unschedulable)| {
                let name = if dup {
                    "n0".to_owned()
                } else {
                    format!("n{i}")
                };
                let mut labels = BTreeMap::new();
                if host {
                    labels.insert(HOSTNAME_LABEL.to_owned(), name.clone());
                }
                if let Some(z) = zone {
                    labels.insert(ZONE_LABEL.to_owned(), z.to_owned());
                }
                if let Some(r) = rack {
                    labels.insert("rack".to_owned(), r.to_owned());
                }
                Node {
                    name,
                    labels,
                    allocatable: Resources {
                        milli_cpu: cpu,
                        memory,
                    },
                    max_pods,
                    taints,
                    unschedulable,
                }
            },
        )
}

fn nodes(max: usize) -> impl Strategy<Value = Vec<Node>> {
    (0..=max).prop_flat_map(|n| (0..n).map(node).collect::<Vec<_>>())
}

fn term() -> impl Strategy<Value = AntiAffinityTerm> {
    let strength = prop_oneof![
        Just(Strength::Required),
        (1..=100i64).prop_map(|weight| Strength::Preferred { weight }),
    ];
    (selector(), select(KEYS.to_vec()), strength).prop_map(|(selector, key, strength)| {
        AntiAffinityTerm {
            selector,
            topology_key: key.to_owned(),
            strength,
        }
    })
}

fn constraint() -> impl Strategy<Value = SpreadConstraint> {
    (
        1..=3u32,
        select(KEYS.to_vec()),
        any::<bool>(),
        selector(),
        any::<bool>(),
    )
        .prop_map(
            |(max_skew, key, required, selector, honor_taints)| SpreadConstraint {
                max_skew,
                topology_key: key.to_owned(),
                required,
                selector,
                honor_taints,
            },
        )
}

fn pod() -> impl Strategy<Value = Pod> {
    let labels = prop_oneof![
        Just(map(&[])),
        Just(map(&[("app", "web")])),
        Just(map(&[("app", "db")])),
        Just(map(&[("app", "web"), ("tier", "x")])),
    ];
    let node_selector = prop_oneof![
        4 => Just(map(&[])),
        1 => Just(map(&[(ZONE_LABEL, "z1")])),
        1 => Just(map(&[("rack", "r1")])),
    ];
    let ports = prop_oneof![4 => Just(vec![]), 1 => Just(vec![80]), 1 => Just(vec![80, 443])];
    (
        select(vec!["default", "default", "other"]),
        labels,
        prop_oneof![Just(map(&[])), selector()],
        option::of(select(vec![0, 100, 500, 1500])),
        option::of(select(vec![0, 128 * MIB, GIB, 3 * GIB])),
        vec(toleration(), 0..=2),
        option::weighted(0.1, select(NAMES.to_vec())),
        node_selector,
        ports,
        vec(term(), 0..=2),
        vec(constraint(), 0..=2),
    )
        .prop_map(
            |(
                ns,
                labels,
                owner,
                cpu,
                memory,
                tolerations,
                node,
                node_selector,
                ports,
                anti,
                spread,
            )| {
                Pod {
                    namespace: ns.to_owned(),
                    labels,
                    owner_selector: owner,
                    cpu_request: cpu,
                    memory_request: memory,
                    tolerations,
                    node_name: node.map(str::to_owned),
                    node_selector,
                    host_ports: ports,
                    anti_affinity: anti,
                    spread,
                }
            },
        )
}

fn placed(max: usize) -> impl Strategy<Value = Vec<Placed>> {
    vec(
        (select(NAMES.to_vec()), pod(), prop::bool::weighted(0.2)).prop_map(
            |(node, pod, terminating)| Placed {
                node: node.to_owned(),
                pod,
                terminating,
            },
        ),
        0..=max,
    )
}

/// A replica of a workload spread over its domains: labelled `app: web` in `default`, with
/// one to three constraints selecting `app: web` (so every replica counts) and no
/// anti-affinity. Plain pods rarely carry two required constraints with matching pods
/// around, which is where the spread filter's domain rules (every required key, counted
/// nodes only) show.
fn spread_pod() -> impl Strategy<Value = Pod> {
    let web = (
        1..=3u32,
        select(KEYS.to_vec()),
        prop::bool::weighted(0.7),
        any::<bool>(),
    )
        .prop_map(|(max_skew, key, required, honor_taints)| SpreadConstraint {
            max_skew,
            topology_key: key.to_owned(),
            required,
            selector: map(&[("app", "web")]),
            honor_taints,
        });
    (pod(), vec(web, 1..=3)).prop_map(|(mut pod, spread)| {
        pod.namespace = "default".to_owned();
        pod.labels = map(&[("app", "web")]);
        pod.anti_affinity.clear();
        pod.spread = spread;
        pod
    })
}

/// One cluster and one pod.
fn case() -> impl Strategy<Value = (Vec<Node>, Vec<Placed>, Pod)> {
    (nodes(6), placed(12), pod())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// One pod: `schedule`, and a snapshot the pods were added to one by one (both its
    /// entry points), agree with the reference.
    #[test]
    fn one_pod_is_scheduled_as_the_reference_does((nodes, placed, pod) in case()) {
        let expected = reference::schedule(&pod, &nodes, &placed);
        prop_assert_eq!(&schedule(&pod, &nodes, &placed), &expected);
        let mut snapshot = Snapshot::new(&nodes);
        for p in &placed {
            snapshot.add(p.clone());
        }
        prop_assert_eq!(&snapshot.schedule(&pod), &expected);
        let chosen = snapshot.choose(&pod).map(|i| nodes[i].name.clone());
        prop_assert_eq!(chosen, as_choice(&expected));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Replicas of up to three pod templates bound one after another, as `place_workloads`
    /// and the simulator do, on up to ten nodes: each outcome agrees, through `schedule` and
    /// a snapshot kept throughout. Replicas match each other's selectors, so spread and
    /// anti-affinity counts build up as they would in a real workload.
    #[test]
    fn a_sequence_of_pods_is_placed_as_the_reference_does(
        nodes in nodes(10),
        mut placed in placed(8),
        templates in vec(pod(), 1..=3),
        order in vec(0..3usize, 1..=16),
    ) {
        let mut snapshot = Snapshot::with_placed(&nodes, &[]);
        for p in &placed {
            snapshot.add(p.clone());
        }
        for i in order {
            let pod = templates[i % templates.len()].clone();
            let expected = reference::schedule(&pod, &nodes, &placed);
            prop_assert_eq!(&schedule(&pod, &nodes, &placed), &expected);
            prop_assert_eq!(&snapshot.schedule(&pod), &expected);
            let chosen = snapshot.choose(&pod).map(|i| nodes[i].name.clone());
            prop_assert_eq!(chosen, as_choice(&expected));
            if let Outcome::Scheduled { node, .. } = expected {
                let bound = Placed { node, pod, terminating: false };
                snapshot.add(bound.clone());
                placed.push(bound);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Replicas of one spread workload bound one after another.
    #[test]
    fn spread_replicas_are_placed_as_the_reference_does(
        nodes in nodes(8),
        mut placed in placed(4),
        template in spread_pod(),
        replicas in 1..=12usize,
    ) {
        let mut snapshot = Snapshot::new(&nodes);
        for p in &placed {
            snapshot.add(p.clone());
        }
        for _ in 0..replicas {
            let expected = reference::schedule(&template, &nodes, &placed);
            prop_assert_eq!(&schedule(&template, &nodes, &placed), &expected);
            prop_assert_eq!(&snapshot.schedule(&template), &expected);
            if let Outcome::Scheduled { node, .. } = expected {
                let bound = Placed { node, pod: template.clone(), terminating: false };
                snapshot.add(bound.clone());
                placed.push(bound);
            }
        }
    }
}

/// The generators reach every filter's rejection and the scoring of several feasible
/// nodes, so the equivalence above covers them.
#[test]
fn the_generated_cases_reach_every_filter_and_the_scores() {
    let reasons = [
        "were unschedulable",
        "didn't match the requested node name",
        "had untolerated taint",
        "didn't match Pod's node affinity/selector",
        "didn't have free ports",
        "Too many pods",
        "Insufficient cpu",
        "Insufficient memory",
        "spread constraints (missing required label)",
        "didn't match pod topology spread constraints,",
        "didn't match pod anti-affinity rules",
        "didn't satisfy existing pods anti-affinity rules",
    ];
    let mut seen = vec![0; reasons.len()];
    let mut scored = 0;
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    for _ in 0..4096 {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            panic!("the strategy draws");
        };
        let (nodes, placed, pod) = tree.current();
        match schedule(&pod, &nodes, &placed) {
            Outcome::Scheduled { totals, .. } => scored += usize::from(totals.len() > 1),
            Outcome::Unschedulable { message } => {
                // Each reason is followed by ", " or ". " in the message.
                let message = message.replace(". ", ", ");
                for (seen, reason) in seen.iter_mut().zip(reasons) {
                    *seen += usize::from(message.contains(reason));
                }
            }
        }
    }
    for (seen, reason) in seen.iter().zip(reasons) {
        assert!(*seen > 0, "no case rejected a node with {reason:?}");
    }
    assert!(scored > 400, "only {scored} cases scored several nodes");
}
