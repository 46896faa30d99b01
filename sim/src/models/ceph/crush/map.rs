//! The in-memory CRUSH map: devices, types, straw2 buckets, rules, tunables,
//! device classes and their shadow trees.
//!
//! The layout mirrors Ceph's `struct crush_map` and `CrushWrapper` closely
//! enough that the mapper can follow `mapper.c` line by line: buckets live in
//! a vector indexed by `-1 - id`, weights are 16.16 fixed point, and rule
//! steps keep Ceph's opcodes and arguments.

use std::collections::BTreeMap;

/// 16.16 fixed-point weight of 1.0 (`0x10000` throughout Ceph).
pub const WEIGHT_ONE: u32 = 0x10000;

/// Largest weight a device may have (`CRUSH_MAX_DEVICE_WEIGHT` in
/// `src/crush/crush.h`: `100U * 0x10000`).
pub const CRUSH_MAX_DEVICE_WEIGHT: u32 = 100 * WEIGHT_ONE;

/// Largest weight a bucket item may have (`CRUSH_MAX_BUCKET_WEIGHT` in
/// `src/crush/crush.h`: `65535U * 0x10000`).
pub const CRUSH_MAX_BUCKET_WEIGHT: u32 = 65535 * WEIGHT_ONE;

/// Placeholder for "no item" in indep results (`CRUSH_ITEM_NONE` in
/// `src/crush/crush.h`: `0x7fffffff`). crushtool prints it as 2147483647.
pub const CRUSH_ITEM_NONE: i32 = 0x7fff_ffff;

/// Marker for a not-yet-chosen indep slot (`CRUSH_ITEM_UNDEF`: `0x7ffffffe`).
pub const CRUSH_ITEM_UNDEF: i32 = 0x7fff_fffe;

/// Rule type of replicated pools (`CEPH_PG_TYPE_REPLICATED`, 1).
pub const RULE_TYPE_REPLICATED: i32 = 1;
/// Rule type of erasure-coded pools (`CEPH_PG_TYPE_ERASURE`, 3).
pub const RULE_TYPE_ERASURE: i32 = 3;

/// CRUSH tunables (`struct crush_map` fields, set by `tunable` lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunables {
    /// Local retries on collision (`choose_local_tries`).
    pub choose_local_tries: u32,
    /// Local fallback retries with a permutation (`choose_local_fallback_tries`).
    pub choose_local_fallback_tries: u32,
    /// Total descents per replica (`choose_total_tries`; `mapper.c` adds one).
    pub choose_total_tries: u32,
    /// Recursive chooseleaf tries once (`chooseleaf_descend_once`).
    pub chooseleaf_descend_once: u32,
    /// Pass r to the recursive chooseleaf (`chooseleaf_vary_r`).
    pub chooseleaf_vary_r: u32,
    /// Stable recursive chooseleaf (`chooseleaf_stable`).
    pub chooseleaf_stable: u32,
    /// straw (v1) weight calculation version (`straw_calc_version`).
    pub straw_calc_version: u32,
    /// Bit mask of allowed bucket algorithms (`allowed_bucket_algs`).
    pub allowed_bucket_algs: u32,
}

/// `CRUSH_LEGACY_ALLOWED_BUCKET_ALGS` (`src/crush/crush.h`): uniform, list and
/// straw (`(1 << 1) | (1 << 2) | (1 << 4)` = 22).
pub const CRUSH_LEGACY_ALLOWED_BUCKET_ALGS: u32 = 22;

impl Tunables {
    /// Legacy (argonaut) tunables, which `crushtool -c` starts from
    /// (`CrushWrapper::set_tunables_legacy`: 2, 5, 19, 0, 0, 0, 0, 22).
    pub const LEGACY: Tunables = Tunables {
        choose_local_tries: 2,
        choose_local_fallback_tries: 5,
        choose_total_tries: 19,
        chooseleaf_descend_once: 0,
        chooseleaf_vary_r: 0,
        chooseleaf_stable: 0,
        straw_calc_version: 0,
        allowed_bucket_algs: CRUSH_LEGACY_ALLOWED_BUCKET_ALGS,
    };

    /// Jewel = optimal tunables (`CrushWrapper::set_tunables_jewel`):
    /// choose_local_tries 0, choose_local_fallback_tries 0,
    /// choose_total_tries 50, chooseleaf_descend_once 1, chooseleaf_vary_r 1,
    /// chooseleaf_stable 1, straw_calc_version 1, allowed_bucket_algs 54
    /// (uniform, list, straw, straw2).
    pub const JEWEL: Tunables = Tunables {
        choose_local_tries: 0,
        choose_local_fallback_tries: 0,
        choose_total_tries: 50,
        chooseleaf_descend_once: 1,
        chooseleaf_vary_r: 1,
        chooseleaf_stable: 1,
        straw_calc_version: 1,
        allowed_bucket_algs: 54,
    };
}

/// A device (OSD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Device id (`osd.N` has id N).
    pub id: i32,
    /// Name, conventionally `osd.N`.
    pub name: String,
    /// Device class id, if the device has a class.
    pub class: Option<i32>,
}

/// A straw2 bucket. Other algorithms are rejected when a map is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Negative bucket id.
    pub id: i32,
    /// Name; shadow buckets are named `name~class`.
    pub name: String,
    /// Type id (host, rack, root, ...).
    pub type_id: i32,
    /// Hash algorithm (always rjenkins1, 0).
    pub hash: u8,
    /// Children: device ids (>= 0) or bucket ids (< 0).
    pub items: Vec<i32>,
    /// 16.16 weight of each child.
    pub weights: Vec<u32>,
    /// Device class of a shadow bucket; `None` for the real tree.
    pub class: Option<i32>,
}

impl Bucket {
    /// Sum of the item weights (the bucket's own weight in its parent).
    pub fn weight(&self) -> u32 {
        self.weights.iter().fold(0u32, |a, w| a.wrapping_add(*w))
    }

    /// True for buckets generated for a device class.
    pub fn is_shadow(&self) -> bool {
        self.class.is_some()
    }
}

/// One rule step, with Ceph's semantics (`CRUSH_RULE_*` opcodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `step take ITEM [class C]`: the item id (a shadow bucket id when a
    /// class was named).
    Take(i32),
    /// `step choose firstn|indep N type T` (`leaf: false`) or
    /// `step chooseleaf ...` (`leaf: true`).
    Choose {
        /// firstn (true) or indep (false).
        firstn: bool,
        /// Recurse to a leaf under each chosen bucket.
        leaf: bool,
        /// Number to choose; `<= 0` is relative to the result size.
        num: i32,
        /// Type id to choose.
        type_id: i32,
    },
    /// `step emit`.
    Emit,
    /// `step set_choose_tries N`.
    SetChooseTries(i32),
    /// `step set_chooseleaf_tries N`.
    SetChooseleafTries(i32),
    /// `step set_choose_local_tries N`.
    SetChooseLocalTries(i32),
    /// `step set_choose_local_fallback_tries N`.
    SetChooseLocalFallbackTries(i32),
    /// `step set_chooseleaf_vary_r N`.
    SetChooseleafVaryR(i32),
    /// `step set_chooseleaf_stable N`.
    SetChooseleafStable(i32),
    /// `step noop`.
    Noop,
}

/// A placement rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Rule id (also the legacy ruleset).
    pub id: u32,
    /// Optional name.
    pub name: Option<String>,
    /// `RULE_TYPE_REPLICATED`, `RULE_TYPE_ERASURE` or another number.
    pub rule_type: i32,
    /// Legacy `min_size` (printed by crushtool -d in Pacific).
    pub min_size: i32,
    /// Legacy `max_size`.
    pub max_size: i32,
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// A whole CRUSH map.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CrushMap {
    /// Tunables.
    pub tunables: Tunables,
    /// Devices by id.
    pub devices: BTreeMap<i32, Device>,
    /// Type names by id (0 is conventionally `osd`).
    pub types: BTreeMap<i32, String>,
    /// Buckets indexed by `-1 - id`.
    pub buckets: Vec<Option<Bucket>>,
    /// Rules indexed by id.
    pub rules: Vec<Option<Rule>>,
    /// Device class names by class id.
    pub classes: BTreeMap<i32, String>,
    /// Shadow bucket ids: original bucket id -> class id -> shadow bucket id.
    pub class_bucket: BTreeMap<i32, BTreeMap<i32, i32>>,
    /// One past the largest device id referenced (`max_devices`).
    pub max_devices: i32,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables::JEWEL
    }
}

impl CrushMap {
    /// The bucket with this (negative) id.
    #[inline]
    pub fn bucket(&self, id: i32) -> Option<&Bucket> {
        if id >= 0 {
            return None;
        }
        self.buckets
            .get((-1 - id) as usize)
            .and_then(Option::as_ref)
    }

    /// Number of bucket slots (`max_buckets`).
    pub fn max_buckets(&self) -> i32 {
        self.buckets.len() as i32
    }

    /// The rule with this id.
    pub fn rule(&self, id: u32) -> Option<&Rule> {
        self.rules.get(id as usize).and_then(Option::as_ref)
    }

    /// Id of a device or bucket by name.
    pub fn item_id(&self, name: &str) -> Option<i32> {
        self.devices
            .values()
            .find(|d| d.name == name)
            .map(|d| d.id)
            .or_else(|| {
                self.buckets
                    .iter()
                    .flatten()
                    .find(|b| b.name == name)
                    .map(|b| b.id)
            })
    }

    /// Name of a device or bucket.
    pub fn item_name(&self, id: i32) -> Option<&str> {
        if id >= 0 {
            self.devices.get(&id).map(|d| d.name.as_str())
        } else {
            self.bucket(id).map(|b| b.name.as_str())
        }
    }

    /// Class id by name.
    pub fn class_id(&self, name: &str) -> Option<i32> {
        self.classes
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)
    }

    /// True if the device appears as an item of some bucket
    /// (`CrushWrapper::check_item_present`).
    pub fn device_present(&self, id: i32) -> bool {
        self.buckets.iter().flatten().any(|b| b.items.contains(&id))
    }

    /// The weight vector crushtool uses by default: 0x10000 for every device
    /// present in a bucket, 0 otherwise (`CrushTester::test`).
    pub fn default_device_weights(&self) -> Vec<u32> {
        let n = self.max_devices.max(0) as usize;
        let mut present = vec![false; n];
        for b in self.buckets.iter().flatten() {
            for &item in &b.items {
                if item >= 0 && (item as usize) < n {
                    present[item as usize] = true;
                }
            }
        }
        present
            .into_iter()
            .map(|p| if p { WEIGHT_ONE } else { 0 })
            .collect()
    }

    /// If `id` is a shadow bucket, the original bucket and class it stands for
    /// (`CrushWrapper::split_id_class`).
    pub fn split_id_class(&self, id: i32) -> Option<(i32, i32)> {
        self.class_bucket
            .iter()
            .find_map(|(orig, m)| m.iter().find(|(_, s)| **s == id).map(|(c, _)| (*orig, *c)))
    }

    /// Recomputes `max_devices` as `crush_finalize` and
    /// `CrushWrapper::finalize` do: one past the largest device id named or
    /// used in a bucket.
    pub fn finalize(&mut self) {
        let mut max = 0;
        for b in self.buckets.iter().flatten() {
            for &item in &b.items {
                if item >= max {
                    max = item + 1;
                }
            }
        }
        if let Some((&id, _)) = self.devices.iter().next_back()
            && id >= max
        {
            max = id + 1;
        }
        self.max_devices = max;
    }
}
