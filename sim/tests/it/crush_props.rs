//! Property tests of placement: straw2 moves data only onto an OSD whose
//! weight grows, and a size-3 / min_size-2 pool replicated across hosts
//! survives the loss of any one host.

use crate::crush_support::{GenOptions, generate};
use proptest::prelude::*;
use sim::models::ceph::crush::classes::rebuild_shadow_trees;
use sim::models::ceph::crush::{CrushMap, Step, Workspace};
use sim::models::ceph::pg::pg_state;
use sim::models::ceph::pool::{OsdStates, Pool, map_pg};

/// Inputs mapped per case.
const XS: u32 = 2000;

/// Seeds the generated-map properties draw from (and the guard test walks).
const SEEDS: u64 = 10_000;

/// Maps of the subtree property.
const SUBTREE_MAPS: GenOptions = GenOptions {
    hosts: (3, 10),
    osds_per_host: (1, 6),
    allow_legacy: false,
    zero_weight_osds: true,
    host_domain_only: false,
};

/// Maps of the host-loss property: no zero-weight OSDs (a host of only those would hold no
/// replica), and `replicated_rule` always spreads over hosts.
const HOST_LOSS_MAPS: GenOptions = GenOptions {
    hosts: (3, 12),
    osds_per_host: (1, 6),
    allow_legacy: false,
    zero_weight_osds: false,
    host_domain_only: true,
};

/// Rule of the generated maps that chooses a host, then one OSD in it.
const TWO_STEP_RULE: u32 = 4;
/// Per-class rules of the generated maps: `chooseleaf firstn 0 type host` under
/// `default class hdd` / `default class ssd`.
const CLASS_RULES: [(&str, u32); 2] = [("hdd", 1), ("ssd", 2)];

/// Adds `delta` to `osd`'s weight and to every ancestor's weight in its
/// parent (what `CrushWrapper::adjust_item_weight` does), then rebuilds the
/// per-class shadow trees (`rebuild_roots_with_classes`) so class rules see
/// the new weight too.
fn add_weight(map: &mut CrushMap, osd: i32, delta: u32) {
    add_weight_real_tree(map, osd, delta);
    rebuild_shadow_trees(map).expect("shadow trees rebuild");
}

fn add_weight_real_tree(map: &mut CrushMap, osd: i32, delta: u32) {
    let mut item = osd;
    loop {
        let parent = map
            .buckets
            .iter_mut()
            .flatten()
            .find(|b| !b.is_shadow() && b.items.contains(&item));
        let Some(b) = parent else { break };
        let pos = b
            .items
            .iter()
            .position(|i| *i == item)
            .expect("item is in its parent");
        b.weights[pos] += delta;
        item = b.id;
    }
}

/// Devices under the child of the root that contains `osd` (its host, or
/// its rack when the map has racks).
fn top_subtree_devices(map: &CrushMap, osd: i32) -> Vec<i32> {
    let parent_of = |item: i32| {
        map.buckets
            .iter()
            .flatten()
            .find(|b| !b.is_shadow() && b.items.contains(&item))
            .map(|b| b.id)
    };
    let mut top = osd;
    while let Some(p) = parent_of(top) {
        if parent_of(p).is_none() {
            break;
        }
        top = p;
    }
    let mut stack = vec![top];
    let mut devices = Vec::new();
    while let Some(i) = stack.pop() {
        match map.bucket(i) {
            Some(b) => stack.extend(&b.items),
            None => devices.push(i),
        }
    }
    devices
}

/// A map whose root holds the OSDs directly (a single straw2 bucket).
fn flat_map(weights: &[u32]) -> String {
    let mut t = String::from(
        "tunable choose_total_tries 50\ntunable chooseleaf_descend_once 1\ntunable chooseleaf_vary_r 1\ntunable chooseleaf_stable 1\ntunable choose_local_tries 0\ntunable choose_local_fallback_tries 0\n",
    );
    for i in 0..weights.len() {
        t.push_str(&format!("device {i} osd.{i}\n"));
    }
    t.push_str("type 0 osd\ntype 11 root\nroot default {\n\tid -1\n\talg straw2\n\thash 0\n");
    for (i, w) in weights.iter().enumerate() {
        t.push_str(&format!(
            "\titem osd.{i} weight {:.4}\n",
            f64::from(*w) / 65536.0
        ));
    }
    t.push_str("}\nrule r {\n\tid 0\n\ttype replicated\n\tstep take default\n\tstep choose firstn 1 type osd\n\tstep emit\n}\n");
    t
}

/// Every seed the properties can draw, under the very options they use, gives
/// a map Ceph would accept with both device classes present, so a property
/// failure is about placement, never about the generator.
#[test]
fn every_generated_map_parses() {
    for opts in [SUBTREE_MAPS, HOST_LOSS_MAPS] {
        for seed in 0..SEEDS {
            let g = generate(seed, opts);
            let map = CrushMap::from_text(&g.text)
                .unwrap_or_else(|e| panic!("seed {seed} {opts:?}: {e:?}"));
            for (class, rule) in CLASS_RULES {
                assert!(map.class_id(class).is_some(), "seed {seed}: no {class}");
                assert!(map.rule(rule).is_some(), "seed {seed}: no rule {rule}");
            }
        }
    }
}

/// The chooseleaf failure domain of `rule`'s first choose step, by type name.
fn rule_domain(map: &CrushMap, rule: u32) -> Option<&str> {
    map.rule(rule)?.steps.iter().find_map(|s| match s {
        Step::Choose { type_id, .. } => map.types.get(type_id).map(String::as_str),
        _ => None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// straw2: raising one item's weight only moves inputs onto that item.
    #[test]
    fn straw2_weight_increase_only_moves_onto_that_osd(
        weights in proptest::collection::vec(1u32..=(8 << 16), 2..24),
        pick in any::<prop::sample::Index>(),
        delta in 1u32..(4 << 16),
    ) {
        let map = CrushMap::from_text(&flat_map(&weights)).expect("flat map parses");
        let osd = pick.index(weights.len()) as i32;
        let mut heavier = map.clone();
        add_weight(&mut heavier, osd, delta);
        let w = map.default_device_weights();
        let mut ws = Workspace::new();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for x in 0..XS {
            map.do_rule_with(&mut ws, 0, x, 1, &w, &mut a);
            heavier.do_rule_with(&mut ws, 0, x, 1, &w, &mut b);
            prop_assert!(a == b || b == vec![osd], "x {x}: {a:?} -> {b:?} (osd {osd} got heavier)");
        }
    }

    /// In a hierarchy, data only moves into the subtree (host, or rack when
    /// there are racks) of the OSD whose weight grew: each straw2 level
    /// either keeps its choice or switches to the heavier branch.
    #[test]
    fn weight_increase_only_moves_into_that_subtree(seed in 0u64..SEEDS, pick in any::<prop::sample::Index>(), delta in 1u32..(4 << 16)) {
        let g = generate(seed, SUBTREE_MAPS);
        let map = CrushMap::from_text(&g.text).expect("generated map parses");
        let osd = pick.index(g.num_osds) as i32;
        let subtree = top_subtree_devices(&map, osd);
        let mut heavier = map.clone();
        add_weight(&mut heavier, osd, delta);
        // The OSD's own class rule sees the new weight (through the rebuilt shadow tree).
        let class = map.devices.get(&osd).and_then(|d| d.class).and_then(|c| map.classes.get(&c));
        let class_rule = CLASS_RULES.iter().find(|(c, _)| Some(*c) == class.map(String::as_str)).map(|(_, r)| *r);
        let w = map.default_device_weights();
        let mut ws = Workspace::new();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for rule in std::iter::once(TWO_STEP_RULE).chain(class_rule) {
            for x in 0..XS {
                map.do_rule_with(&mut ws, rule, x, 1, &w, &mut a);
                heavier.do_rule_with(&mut ws, rule, x, 1, &w, &mut b);
                prop_assert!(a == b || b.iter().all(|o| subtree.contains(o)), "rule {rule} x {x}: {a:?} -> {b:?}");
            }
        }
        // The class rule walks the shadow tree: the shadow bucket holding the OSD must carry
        // the new weight, or the check above would compare two identical placements.
        let shadow_weight = |m: &CrushMap| {
            m.buckets.iter().flatten().find(|b| b.is_shadow() && b.items.contains(&osd)).map(|b| b.weight())
        };
        prop_assert_eq!(
            shadow_weight(&heavier).zip(shadow_weight(&map)).map(|(h, l)| h.wrapping_sub(l)),
            Some(delta)
        );
    }

    /// Losing any one host keeps every PG of a size-3/min_size-2 pool with
    /// failure domain host serving I/O, both right after the failure and
    /// after the OSDs are marked out and CRUSH remaps.
    #[test]
    fn losing_one_host_keeps_every_pg_available(seed in 0u64..SEEDS, lost in any::<prop::sample::Index>()) {
        let g = generate(seed, HOST_LOSS_MAPS);
        let map = CrushMap::from_text(&g.text).expect("generated map parses");
        // The property is about failure domain host: rule 0 must spread over hosts.
        prop_assert_eq!(rule_domain(&map, 0), Some("host"));
        let mut pool = Pool::replicated(1, 0);
        pool.pg_num = 128;
        pool.pgp_num = 128;
        let healthy = OsdStates::all_up_in(g.num_osds);
        let hw = healthy.weights();
        let mut ws = Workspace::new();
        let before: Vec<Vec<i32>> =
            (0..pool.pg_num).map(|ps| map_pg(&map, &mut ws, &pool, ps, &healthy, &hw).acting).collect();
        // Precondition: the healthy cluster places three replicas everywhere.
        prop_assume!(before.iter().all(|a| a.len() == pool.size));
        let host = &g.hosts[lost.index(g.hosts.len())];
        let mut down = healthy.clone();
        for &o in host {
            down.osds[o as usize].up = false;
        }
        let mut out = down.clone();
        for &o in host {
            out.osds[o as usize].weight = 0;
        }
        for (phase, osds) in [("down", &down), ("down+out", &out)] {
            let w = osds.weights();
            for ps in 0..pool.pg_num {
                let m = map_pg(&map, &mut ws, &pool, ps, osds, &w);
                let st = pg_state(&pool, &m.acting, &before[ps as usize], osds, true);
                prop_assert!(m.acting.len() >= pool.min_size && st.serves_io(),
                    "seed {seed}, host {host:?} lost ({phase}): pg 1.{ps:x} acting {:?} state {st}", m.acting);
            }
        }
    }
}
