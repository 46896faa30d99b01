//! `crush_do_rule`: maps an input `x` through a rule to an ordered set of
//! devices, exactly as Ceph's `src/crush/mapper.c` does.
//!
//! The control flow (retry_descent / retry_bucket / skip_rep, the `r`
//! arithmetic, the collision scans, firstn vs indep) is kept step for step,
//! because any deviation shows up as a different mapping somewhere in a
//! large cluster. Scratch space lives in a reusable [`Workspace`] so the hot
//! path does not allocate.

use super::hash::{hash32_2, hash32_3};
use super::ln::crush_ln;
use super::map::{Bucket, CRUSH_ITEM_NONE, CRUSH_ITEM_UNDEF, CrushMap, Step, WEIGHT_ONE};

/// Magic `perm_n` marking the r = 0 shortcut of `bucket_perm_choose`
/// (`0xffff` in `mapper.c`).
const PERM_R0_MAGIC: u32 = 0xffff;

/// Offset that makes a straw2 `ln` negative (`0x1000000000000ll` in
/// `bucket_straw2_choose`: 2^48).
const STRAW2_LN_OFFSET: i64 = 0x1_0000_0000_0000;

/// Per-bucket permutation state (`struct crush_work_bucket`).
#[derive(Debug, Clone, Default)]
struct PermState {
    generation: u64,
    perm_x: u32,
    perm_n: u32,
    perm: Vec<u32>,
}

/// Reusable scratch memory for [`CrushMap::do_rule_with`].
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    a: Vec<i32>,
    b: Vec<i32>,
    c: Vec<i32>,
    perms: Vec<PermState>,
    generation: u64,
}

impl Workspace {
    /// An empty workspace; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The permutation states of one `do_rule` call.
struct Perms<'w> {
    states: &'w mut [PermState],
    generation: u64,
}

/// Per-call constants threaded through the recursion.
struct Ctx<'a> {
    map: &'a CrushMap,
    weight: &'a [u32],
    x: u32,
}

/// Arguments of `crush_choose_firstn` that stay fixed within one call.
#[derive(Clone, Copy)]
struct FirstnArgs {
    numrep: i32,
    type_id: i32,
    count: i32,
    tries: u32,
    recurse_tries: u32,
    local_retries: u32,
    local_fallback_retries: u32,
    recurse_to_leaf: bool,
    vary_r: u32,
    stable: u32,
    parent_r: i32,
}

/// Arguments of `crush_choose_indep` that stay fixed within one call.
#[derive(Clone, Copy)]
struct IndepArgs {
    left: i32,
    numrep: i32,
    type_id: i32,
    tries: u32,
    recurse_tries: u32,
    recurse_to_leaf: bool,
    parent_r: i32,
}

/// `bucket_straw2_choose` without choose_args.
#[inline]
fn straw2_choose(bucket: &Bucket, x: u32, r: i32) -> i32 {
    let mut high = 0usize;
    let mut high_draw = 0i64;
    for (i, (&item, &w)) in bucket.items.iter().zip(&bucket.weights).enumerate() {
        let draw = if w != 0 {
            let u = hash32_3(x, item as u32, r as u32) & 0xffff;
            let ln = crush_ln(u) as i64 - STRAW2_LN_OFFSET;
            ln / i64::from(w)
        } else {
            i64::MIN
        };
        if i == 0 || draw > high_draw {
            high = i;
            high_draw = draw;
        }
    }
    bucket.items[high]
}

/// `bucket_perm_choose`: a pseudo-random permutation of the bucket, used by
/// the legacy local fallback search.
fn perm_choose(bucket: &Bucket, work: &mut PermState, x: u32, r: i32) -> i32 {
    let size = bucket.items.len() as u32;
    let pr = (r as u32) % size;
    if work.perm.len() != size as usize {
        work.perm.resize(size as usize, 0);
    }
    if work.perm_x != x || work.perm_n == 0 {
        work.perm_x = x;
        if pr == 0 {
            let s = hash32_3(x, bucket.id as u32, 0) % size;
            work.perm[0] = s;
            work.perm_n = PERM_R0_MAGIC;
            return bucket.items[s as usize];
        }
        for i in 0..size {
            work.perm[i as usize] = i;
        }
        work.perm_n = 0;
    } else if work.perm_n == PERM_R0_MAGIC {
        for i in 1..size {
            work.perm[i as usize] = i;
        }
        let first = work.perm[0] as usize;
        work.perm[first] = 0;
        work.perm_n = 1;
    }
    while work.perm_n <= pr {
        let p = work.perm_n;
        if p < size - 1 {
            let i = hash32_3(x, bucket.id as u32, p) % (size - p);
            if i != 0 {
                work.perm.swap((p + i) as usize, p as usize);
            }
        }
        work.perm_n += 1;
    }
    bucket.items[work.perm[pr as usize] as usize]
}

/// `is_out`: reweight rejection with the 0x10000-scaled weight vector.
#[inline]
fn is_out(weight: &[u32], item: i32, x: u32) -> bool {
    let Some(&w) = weight.get(item as usize) else {
        return true;
    };
    if w >= WEIGHT_ONE {
        return false;
    }
    if w == 0 {
        return true;
    }
    (hash32_2(x, item as u32) & 0xffff) >= w
}

impl Ctx<'_> {
    /// Type of an item (0 for devices); `None` for a bucket id that does not exist.
    #[inline]
    fn item_type(&self, item: i32) -> Option<i32> {
        if item >= 0 {
            Some(0)
        } else {
            self.map.bucket(item).map(|b| b.type_id)
        }
    }

    fn perm_state<'w>(&self, perms: &'w mut Perms<'_>, id: i32) -> &'w mut PermState {
        let generation = perms.generation;
        let st = &mut perms.states[(-1 - id) as usize];
        if st.generation != generation {
            st.generation = generation;
            st.perm_x = 0;
            st.perm_n = 0;
        }
        st
    }

    /// `crush_choose_firstn`.
    #[allow(clippy::too_many_lines)]
    fn choose_firstn(
        &self,
        perms: &mut Perms<'_>,
        bucket: &Bucket,
        a: FirstnArgs,
        out: &mut [i32],
        mut outpos: usize,
        mut out2: Option<&mut [i32]>,
    ) -> usize {
        let map = self.map;
        let mut count = a.count;
        let mut item = 0i32;
        let start = if a.stable != 0 { 0 } else { outpos as i32 };
        let mut rep = start;
        while rep < a.numrep && count > 0 {
            let mut ftotal: u32 = 0;
            let mut skip_rep = false;
            loop {
                let mut retry_descent = false;
                let mut inb = bucket;
                let mut flocal: u32 = 0;
                loop {
                    let mut collide = false;
                    let mut retry_bucket = false;
                    let r = rep + a.parent_r + ftotal as i32;
                    let reject;
                    let size = inb.items.len() as u32;
                    if size == 0 {
                        reject = true;
                    } else {
                        item = if a.local_fallback_retries > 0
                            && flocal >= (size >> 1)
                            && flocal > a.local_fallback_retries
                        {
                            let st = self.perm_state(perms, inb.id);
                            perm_choose(inb, st, self.x, r)
                        } else {
                            straw2_choose(inb, self.x, r)
                        };
                        if item >= map.max_devices {
                            skip_rep = true;
                            break;
                        }
                        let Some(itemtype) = self.item_type(item) else {
                            skip_rep = true;
                            break;
                        };
                        if itemtype != a.type_id {
                            match (item < 0).then(|| map.bucket(item)).flatten() {
                                Some(b) => {
                                    inb = b;
                                    continue;
                                }
                                None => {
                                    skip_rep = true;
                                    break;
                                }
                            }
                        }
                        collide = out[..outpos].contains(&item);
                        let mut rej = false;
                        if !collide && a.recurse_to_leaf {
                            if item < 0 {
                                let sub_r = if a.vary_r != 0 {
                                    r >> (a.vary_r - 1)
                                } else {
                                    0
                                };
                                let sub = FirstnArgs {
                                    numrep: if a.stable != 0 { 1 } else { outpos as i32 + 1 },
                                    type_id: 0,
                                    count,
                                    tries: a.recurse_tries,
                                    recurse_tries: 0,
                                    recurse_to_leaf: false,
                                    parent_r: sub_r,
                                    ..a
                                };
                                let child = map.bucket(item);
                                let got = match (child, out2.as_deref_mut()) {
                                    (Some(child), Some(o2)) => {
                                        self.choose_firstn(perms, child, sub, o2, outpos, None)
                                    }
                                    _ => 0,
                                };
                                if got <= outpos {
                                    rej = true;
                                }
                            } else if let Some(o2) = out2.as_deref_mut() {
                                o2[outpos] = item;
                            }
                        }
                        if !rej && !collide && itemtype == 0 {
                            rej = is_out(self.weight, item, self.x);
                        }
                        reject = rej;
                    }
                    if reject || collide {
                        ftotal += 1;
                        flocal += 1;
                        // Retry locally on collision, then the exhaustive
                        // fallback search, then a fresh descent.
                        if (collide && flocal <= a.local_retries)
                            || (a.local_fallback_retries > 0
                                && flocal <= size + a.local_fallback_retries)
                        {
                            retry_bucket = true;
                        } else if ftotal < a.tries {
                            retry_descent = true;
                        } else {
                            skip_rep = true;
                        }
                    }
                    if !retry_bucket {
                        break;
                    }
                }
                if !retry_descent {
                    break;
                }
            }
            if !skip_rep {
                out[outpos] = item;
                outpos += 1;
                count -= 1;
            }
            rep += 1;
        }
        outpos
    }

    /// `crush_choose_indep`.
    fn choose_indep(
        &self,
        bucket: &Bucket,
        a: IndepArgs,
        out: &mut [i32],
        outpos: usize,
        mut out2: Option<&mut [i32]>,
    ) {
        let map = self.map;
        let mut left = a.left;
        let endpos = outpos + a.left.max(0) as usize;
        for rep in outpos..endpos {
            out[rep] = CRUSH_ITEM_UNDEF;
            if let Some(o2) = out2.as_deref_mut() {
                o2[rep] = CRUSH_ITEM_UNDEF;
            }
        }
        let mut ftotal: u32 = 0;
        while left > 0 && ftotal < a.tries {
            for rep in outpos..endpos {
                if out[rep] != CRUSH_ITEM_UNDEF {
                    continue;
                }
                let mut inb = bucket;
                loop {
                    // Straw2 never takes the uniform-bucket (numrep+1) branch.
                    let r = rep as i32 + a.parent_r + a.numrep.wrapping_mul(ftotal as i32);
                    if inb.items.is_empty() {
                        break;
                    }
                    let item = straw2_choose(inb, self.x, r);
                    if item >= map.max_devices {
                        out[rep] = CRUSH_ITEM_NONE;
                        if let Some(o2) = out2.as_deref_mut() {
                            o2[rep] = CRUSH_ITEM_NONE;
                        }
                        left -= 1;
                        break;
                    }
                    let itemtype = self.item_type(item);
                    if itemtype != Some(a.type_id) {
                        match (item < 0).then(|| map.bucket(item)).flatten() {
                            Some(b) => {
                                inb = b;
                                continue;
                            }
                            None => {
                                out[rep] = CRUSH_ITEM_NONE;
                                if let Some(o2) = out2.as_deref_mut() {
                                    o2[rep] = CRUSH_ITEM_NONE;
                                }
                                left -= 1;
                                break;
                            }
                        }
                    }
                    if out[outpos..endpos].contains(&item) {
                        break;
                    }
                    if a.recurse_to_leaf {
                        if item < 0 {
                            if let (Some(child), Some(o2)) = (map.bucket(item), out2.as_deref_mut())
                            {
                                let sub = IndepArgs {
                                    left: 1,
                                    type_id: 0,
                                    tries: a.recurse_tries,
                                    recurse_tries: 0,
                                    recurse_to_leaf: false,
                                    parent_r: r,
                                    ..a
                                };
                                self.choose_indep(child, sub, o2, rep, None);
                                if o2[rep] == CRUSH_ITEM_NONE {
                                    break;
                                }
                            }
                        } else if let Some(o2) = out2.as_deref_mut() {
                            o2[rep] = item;
                        }
                    }
                    if itemtype == Some(0) && is_out(self.weight, item, self.x) {
                        break;
                    }
                    out[rep] = item;
                    left -= 1;
                    break;
                }
            }
            ftotal += 1;
        }
        for rep in outpos..endpos {
            if out[rep] == CRUSH_ITEM_UNDEF {
                out[rep] = CRUSH_ITEM_NONE;
            }
            if let Some(o2) = out2.as_deref_mut()
                && o2[rep] == CRUSH_ITEM_UNDEF
            {
                o2[rep] = CRUSH_ITEM_NONE;
            }
        }
    }
}

impl CrushMap {
    /// `crush_do_rule` with a fresh workspace: up to `result_max` items for
    /// input `x` under rule `ruleno`, with `weight` the per-device 16.16
    /// reweight vector (`0x10000` = in, `0` = out).
    pub fn do_rule(&self, ruleno: u32, x: u32, result_max: usize, weight: &[u32]) -> Vec<i32> {
        let mut ws = Workspace::new();
        let mut out = Vec::with_capacity(result_max);
        self.do_rule_with(&mut ws, ruleno, x, result_max, weight, &mut out);
        out
    }

    /// `crush_do_rule` reusing `ws`; the mapping replaces the contents of `result`.
    pub fn do_rule_with(
        &self,
        ws: &mut Workspace,
        ruleno: u32,
        x: u32,
        result_max: usize,
        weight: &[u32],
        result: &mut Vec<i32>,
    ) {
        result.clear();
        let Some(rule) = self.rule(ruleno) else {
            return;
        };
        let t = &self.tunables;
        // mapper.c: "the original choose_total_tries value was off by one".
        let mut choose_tries = t.choose_total_tries + 1;
        let mut choose_leaf_tries: u32 = 0;
        let mut local_retries = t.choose_local_tries;
        let mut local_fallback_retries = t.choose_local_fallback_tries;
        let mut vary_r = t.chooseleaf_vary_r;
        let mut stable = t.chooseleaf_stable;

        for v in [&mut ws.a, &mut ws.b, &mut ws.c] {
            if v.len() < result_max {
                v.resize(result_max, 0);
            }
        }
        if ws.perms.len() < self.buckets.len() {
            ws.perms.resize(self.buckets.len(), PermState::default());
        }
        ws.generation += 1;
        let generation = ws.generation;
        let ctx = Ctx {
            map: self,
            weight,
            x,
        };
        let Workspace { a, b, c, perms, .. } = ws;
        let mut perms = Perms {
            states: perms,
            generation,
        };
        let (mut w, mut o): (&mut Vec<i32>, &mut Vec<i32>) = (a, b);
        let mut wsize = 0usize;

        for step in &rule.steps {
            match *step {
                Step::Take(item) => {
                    if (item >= 0 && item < self.max_devices) || self.bucket(item).is_some() {
                        w[0] = item;
                        wsize = 1;
                    }
                }
                Step::SetChooseTries(v) => {
                    if v > 0 {
                        choose_tries = v as u32;
                    }
                }
                Step::SetChooseleafTries(v) => {
                    if v > 0 {
                        choose_leaf_tries = v as u32;
                    }
                }
                Step::SetChooseLocalTries(v) => {
                    if v >= 0 {
                        local_retries = v as u32;
                    }
                }
                Step::SetChooseLocalFallbackTries(v) => {
                    if v >= 0 {
                        local_fallback_retries = v as u32;
                    }
                }
                Step::SetChooseleafVaryR(v) => {
                    if v >= 0 {
                        vary_r = v as u32;
                    }
                }
                Step::SetChooseleafStable(v) => {
                    if v >= 0 {
                        stable = v as u32;
                    }
                }
                Step::Choose {
                    firstn,
                    leaf,
                    num,
                    type_id,
                } => {
                    if wsize == 0 {
                        continue;
                    }
                    let mut osize = 0usize;
                    for &wi in &w[..wsize] {
                        let mut numrep = num;
                        if numrep <= 0 {
                            numrep += result_max as i32;
                            if numrep <= 0 {
                                continue;
                            }
                        }
                        let Some(bucket) = self.bucket(wi) else {
                            continue;
                        };
                        if firstn {
                            let recurse_tries = if choose_leaf_tries != 0 {
                                choose_leaf_tries
                            } else if t.chooseleaf_descend_once != 0 {
                                1
                            } else {
                                choose_tries
                            };
                            let args = FirstnArgs {
                                numrep,
                                type_id,
                                count: (result_max - osize) as i32,
                                tries: choose_tries,
                                recurse_tries,
                                local_retries,
                                local_fallback_retries,
                                recurse_to_leaf: leaf,
                                vary_r,
                                stable,
                                parent_r: 0,
                            };
                            osize += ctx.choose_firstn(
                                &mut perms,
                                bucket,
                                args,
                                &mut o[osize..],
                                0,
                                Some(&mut c[osize..]),
                            );
                        } else {
                            let out_size = (numrep as usize).min(result_max - osize);
                            let args = IndepArgs {
                                left: out_size as i32,
                                numrep,
                                type_id,
                                tries: choose_tries,
                                recurse_tries: if choose_leaf_tries != 0 {
                                    choose_leaf_tries
                                } else {
                                    1
                                },
                                recurse_to_leaf: leaf,
                                parent_r: 0,
                            };
                            ctx.choose_indep(
                                bucket,
                                args,
                                &mut o[osize..],
                                0,
                                Some(&mut c[osize..]),
                            );
                            osize += out_size;
                        }
                    }
                    if leaf {
                        o[..osize].copy_from_slice(&c[..osize]);
                    }
                    std::mem::swap(&mut w, &mut o);
                    wsize = osize;
                }
                Step::Emit => {
                    for &item in &w[..wsize] {
                        if result.len() >= result_max {
                            break;
                        }
                        result.push(item);
                    }
                    wsize = 0;
                }
                Step::Noop => {}
            }
        }
    }
}
