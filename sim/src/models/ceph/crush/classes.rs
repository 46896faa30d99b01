//! Device classes: the per-class "shadow" trees that `step take X class C`
//! selects from.
//!
//! For every root of the real hierarchy and every class, Ceph clones the
//! tree keeping only the devices of that class (`CrushWrapper::
//! populate_classes` / `device_class_clone`). The clone's ids come from the
//! `id N class C` lines of the map when present, otherwise the lowest free
//! negative id is taken. Ids, item order and weights must match Ceph exactly,
//! because the straw2 draws hash the bucket and item ids.

use std::collections::{BTreeMap, BTreeSet};

use super::error::CrushError;
use super::map::{Bucket, CrushMap};

/// Separator between a bucket name and its class in shadow bucket names
/// (`"~"` in `CrushWrapper::device_class_clone`).
pub const SHADOW_SEPARATOR: char = '~';

/// Rebuilds all shadow trees, reusing the shadow ids in `old` (original
/// bucket id -> class id -> shadow id) where given.
pub fn populate_classes(
    map: &mut CrushMap,
    old: &BTreeMap<i32, BTreeMap<i32, i32>>,
) -> Result<(), CrushError> {
    let used_ids: BTreeSet<i32> = old.values().flat_map(|m| m.values().copied()).collect();
    let roots = nonshadow_roots(map);
    let classes: Vec<i32> = map.classes.keys().copied().collect();
    for root in roots {
        for &class in &classes {
            clone_for_class(map, root, class, old, &used_ids)?;
        }
    }
    Ok(())
}

/// Rebuilds the shadow trees from the real tree, as `CrushWrapper::rebuild_roots_with_classes`
/// does after a weight change: drops every shadow bucket and clones the real tree again per
/// class, keeping each shadow bucket's id. Without it a class rule would still see the old
/// weights.
pub fn rebuild_shadow_trees(map: &mut CrushMap) -> Result<(), CrushError> {
    let old = std::mem::take(&mut map.class_bucket);
    for slot in &mut map.buckets {
        if slot.as_ref().is_some_and(Bucket::is_shadow) {
            *slot = None;
        }
    }
    populate_classes(map, &old)
}

/// Buckets of the real tree that no bucket contains, ascending by id
/// (`CrushWrapper::find_nonshadow_roots` fills a `std::set<int>`).
pub fn nonshadow_roots(map: &CrushMap) -> BTreeSet<i32> {
    let children: BTreeSet<i32> = map
        .buckets
        .iter()
        .flatten()
        .flat_map(|b| b.items.iter().copied())
        .collect();
    map.buckets
        .iter()
        .flatten()
        .filter(|b| !b.is_shadow() && !children.contains(&b.id))
        .map(|b| b.id)
        .collect()
}

fn clone_for_class(
    map: &mut CrushMap,
    original_id: i32,
    class: i32,
    old: &BTreeMap<i32, BTreeMap<i32, i32>>,
    used_ids: &BTreeSet<i32>,
) -> Result<i32, CrushError> {
    if let Some(&existing) = map
        .class_bucket
        .get(&original_id)
        .and_then(|m| m.get(&class))
    {
        return Ok(existing);
    }
    let Some(original) = map.bucket(original_id).cloned() else {
        return Err(CrushError::Parse {
            line: 0,
            message: format!("bucket {original_id} does not exist"),
        });
    };
    let class_name = map.classes.get(&class).cloned().unwrap_or_default();
    let mut items = Vec::new();
    let mut weights = Vec::new();
    for (&item, &w) in original.items.iter().zip(&original.weights) {
        if item >= 0 {
            if map.devices.get(&item).and_then(|d| d.class) == Some(class) {
                items.push(item);
                weights.push(w);
            }
        } else {
            let child = clone_for_class(map, item, class, old, used_ids)?;
            let cw = map.bucket(child).map_or(0, Bucket::weight);
            items.push(child);
            weights.push(cw);
        }
    }
    let id = match old.get(&original_id).and_then(|m| m.get(&class)) {
        Some(&id) => id,
        None => {
            let mut bno = -1;
            while map.bucket(bno).is_some() || used_ids.contains(&bno) {
                bno -= 1;
            }
            bno
        }
    };
    let idx = (-1 - id) as usize;
    if map.buckets.len() <= idx {
        map.buckets.resize(idx + 1, None);
    }
    if map.buckets[idx].is_some() {
        return Err(CrushError::Parse {
            line: 0,
            message: format!(
                "shadow bucket id {id} for {}{SHADOW_SEPARATOR}{class_name} is already used by another bucket",
                original.name
            ),
        });
    }
    map.buckets[idx] = Some(Bucket {
        id,
        name: format!("{}{SHADOW_SEPARATOR}{class_name}", original.name),
        type_id: original.type_id,
        hash: original.hash,
        items,
        weights,
        class: Some(class),
    });
    map.class_bucket
        .entry(original_id)
        .or_default()
        .insert(class, id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "device 0 osd.0 class ssd\ndevice 1 osd.1 class hdd\ndevice 2 osd.2 class ssd\n\
type 0 osd\ntype 1 host\ntype 11 root\n\
host a {\n\tid -2\n\talg straw2\n\thash 0\n\titem osd.0 weight 1.00000\n\titem osd.1 weight 1.00000\n}\n\
host b {\n\tid -3\n\talg straw2\n\thash 0\n\titem osd.2 weight 1.00000\n}\n\
root default {\n\tid -1\n\talg straw2\n\thash 0\n\titem a weight 2.00000\n\titem b weight 1.00000\n}\n\
rule r {\n\tid 0\n\ttype replicated\n\tstep take default class ssd\n\tstep chooseleaf firstn 0 type host\n\tstep emit\n}\n";

    #[test]
    fn rebuilt_shadow_trees_carry_new_weights_and_keep_ids() {
        let mut map = CrushMap::from_text(MAP).expect("parses");
        let ssd = map.class_id("ssd").expect("ssd class");
        let ids_before = map.class_bucket.clone();
        let shadow_a = ids_before[&-2][&ssd];
        let shadow_root = ids_before[&-1][&ssd];
        // osd.0 (ssd, host a) gains 1.0 in the real tree, as `adjust_item_weight` does.
        for (bucket, item) in [(-2, 0), (-1, -2)] {
            let idx = (-1 - bucket) as usize;
            let b = map.buckets[idx].as_mut().expect("bucket");
            let pos = b.items.iter().position(|i| *i == item).expect("item");
            b.weights[pos] += 0x10000;
        }
        // The shadow tree is stale until rebuilt.
        assert_eq!(map.bucket(shadow_a).map(Bucket::weight), Some(0x10000));
        rebuild_shadow_trees(&mut map).expect("rebuilds");
        assert_eq!(map.class_bucket, ids_before, "shadow ids are kept");
        assert_eq!(map.bucket(shadow_a).map(Bucket::weight), Some(0x20000));
        let root = map.bucket(shadow_root).expect("shadow root");
        assert_eq!(root.items, vec![shadow_a, ids_before[&-3][&ssd]]);
        assert_eq!(root.weights, vec![0x20000, 0x10000]);
    }
}
