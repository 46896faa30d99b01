//! Property tests of placement: straw2 moves data only onto an OSD whose
//! weight grows, and a size-3 / min_size-2 pool replicated across hosts
//! survives the loss of any one host.

mod crush_support;

use crush_support::{GenOptions, generate};
use proptest::prelude::*;
use sim::models::ceph::crush::{CrushMap, Workspace};
use sim::models::ceph::defaults::MON_OSD_DOWN_OUT_INTERVAL_SECS;
use sim::models::ceph::pg::pg_state;
use sim::models::ceph::pool::{OsdStates, Pool, map_pg};

/// Inputs mapped per case.
const XS: u32 = 2000;

/// Adds `delta` to `osd`'s weight and to every ancestor's weight in its
/// parent (what `CrushWrapper::adjust_item_weight` does).
fn add_weight(map: &mut CrushMap, osd: i32, delta: u32) {
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

/// Every seed the properties can draw gives a map Ceph would accept, so a
/// property failure is about placement, never about the generator.
#[test]
fn every_generated_map_parses() {
    for seed in 0..10_000 {
        let g = generate(
            seed,
            GenOptions {
                hosts: (3, 12),
                ..GenOptions::default()
            },
        );
        if let Err(e) = CrushMap::from_text(&g.text) {
            panic!("seed {seed}: {e:?}");
        }
    }
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
    fn weight_increase_only_moves_into_that_subtree(seed in 0u64..10_000, pick in any::<prop::sample::Index>(), delta in 1u32..(4 << 16)) {
        let g = generate(seed, GenOptions { hosts: (3, 10), ..GenOptions::default() });
        let map = CrushMap::from_text(&g.text).expect("generated map parses");
        let osd = pick.index(g.num_osds) as i32;
        let subtree = top_subtree_devices(&map, osd);
        let mut heavier = map.clone();
        add_weight(&mut heavier, osd, delta);
        let w = map.default_device_weights();
        let mut ws = Workspace::new();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        // Rule 4 of the generated maps: choose firstn 0 type host, then one osd.
        for x in 0..XS {
            map.do_rule_with(&mut ws, 4, x, 1, &w, &mut a);
            heavier.do_rule_with(&mut ws, 4, x, 1, &w, &mut b);
            prop_assert!(a == b || b.iter().all(|o| subtree.contains(o)), "x {x}: {a:?} -> {b:?}");
        }
    }

    /// Losing any one host keeps every PG of a size-3/min_size-2 pool with
    /// failure domain host serving I/O, both right after the failure and
    /// after the OSDs are marked out and CRUSH remaps.
    #[test]
    fn losing_one_host_keeps_every_pg_available(seed in 0u64..10_000, lost in any::<prop::sample::Index>()) {
        let g = generate(seed, GenOptions { hosts: (3, 12), zero_weight_osds: false, ..GenOptions::default() });
        let map = CrushMap::from_text(&g.text).expect("generated map parses");
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
        prop_assert!(MON_OSD_DOWN_OUT_INTERVAL_SECS == 600);
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
