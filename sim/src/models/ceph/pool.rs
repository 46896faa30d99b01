//! Pools and placement groups as pure functions: which PG an object seed
//! belongs to, the CRUSH input of a PG, and the raw / up / acting sets with
//! their primaries, as Ceph's `OSDMap` computes them (no pg_temp, no upmap,
//! primary affinity 1).

use super::crush::hash::hash32_2;
use super::crush::map::{CRUSH_ITEM_NONE, CrushMap, WEIGHT_ONE};
use super::crush::mapper::Workspace;
use topology::defaults::{CEPH_POOL_PG_NUM, CEPH_POOL_SIZE, ceph_default_min_size};

/// Replicated pools shift survivors left; erasure pools keep positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// `TYPE_REPLICATED` (`can_shift_osds() == true`).
    Replicated,
    /// `TYPE_ERASURE`: holes stay as `CRUSH_ITEM_NONE`.
    Erasure,
}

/// A pool (`pg_pool_t`, the fields placement needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Pool id.
    pub id: u32,
    /// Replicated or erasure.
    pub kind: PoolKind,
    /// Replicas (or k+m).
    pub size: usize,
    /// Replicas needed to serve I/O.
    pub min_size: usize,
    /// Number of PGs.
    pub pg_num: u32,
    /// Number of PGs used for placement.
    pub pgp_num: u32,
    /// CRUSH rule id.
    pub crush_rule: u32,
    /// `FLAG_HASHPSPOOL` (set on every pool since Firefly).
    pub hashpspool: bool,
}

impl Pool {
    /// A replicated pool with Ceph's defaults: size 3, min_size 2, 32 PGs,
    /// HASHPSPOOL.
    pub fn replicated(id: u32, crush_rule: u32) -> Pool {
        Pool {
            id,
            kind: PoolKind::Replicated,
            size: usize::from(CEPH_POOL_SIZE),
            min_size: usize::from(ceph_default_min_size(CEPH_POOL_SIZE)),
            pg_num: CEPH_POOL_PG_NUM,
            pgp_num: CEPH_POOL_PG_NUM,
            crush_rule,
            hashpspool: true,
        }
    }

    /// `pg_num_mask` (`pg_pool_t::calc_pg_masks`).
    pub fn pg_num_mask(&self) -> u32 {
        mask_for(self.pg_num)
    }

    /// `pgp_num_mask`.
    pub fn pgp_num_mask(&self) -> u32 {
        mask_for(self.pgp_num)
    }

    /// The PG an object hash falls in (`pg_pool_t::raw_hash_to_pg`).
    pub fn hash_to_ps(&self, hash: u32) -> u32 {
        ceph_stable_mod(hash, self.pg_num, self.pg_num_mask())
    }

    /// The CRUSH input of PG `ps` (`pg_pool_t::raw_pg_to_pps`).
    pub fn pps(&self, ps: u32) -> u32 {
        let s = ceph_stable_mod(ps, self.pgp_num, self.pgp_num_mask());
        if self.hashpspool {
            hash32_2(s, self.id)
        } else {
            s.wrapping_add(self.id)
        }
    }
}

/// `(1 << cbits(n - 1)) - 1`.
fn mask_for(n: u32) -> u32 {
    let bits = 32 - n.saturating_sub(1).leading_zeros();
    ((1u64 << bits) - 1) as u32
}

/// `ceph_stable_mod`: `x mod b` that moves as few inputs as possible when
/// `b` grows (`src/include/rados.h`).
pub fn ceph_stable_mod(x: u32, b: u32, bmask: u32) -> u32 {
    if (x & bmask) < b {
        x & bmask
    } else {
        x & (bmask >> 1)
    }
}

/// One OSD as the OSDMap sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsdInfo {
    /// The OSD exists in the map.
    pub exists: bool,
    /// Up (running and not marked down).
    pub up: bool,
    /// 16.16 in-weight: `0x10000` in, `0` out, between = reweighted.
    pub weight: u32,
}

impl OsdInfo {
    /// An existing OSD that is up and in.
    pub const UP_IN: OsdInfo = OsdInfo {
        exists: true,
        up: true,
        weight: WEIGHT_ONE,
    };
}

/// OSD states indexed by OSD id (`max_osd` entries).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsdStates {
    /// Per-OSD state.
    pub osds: Vec<OsdInfo>,
}

impl OsdStates {
    /// `n` OSDs, all up and in.
    pub fn all_up_in(n: usize) -> Self {
        OsdStates {
            osds: vec![OsdInfo::UP_IN; n],
        }
    }

    fn exists(&self, osd: i32) -> bool {
        osd >= 0 && self.osds.get(osd as usize).is_some_and(|o| o.exists)
    }

    /// Up and existing.
    pub fn is_up(&self, osd: i32) -> bool {
        osd >= 0
            && self
                .osds
                .get(osd as usize)
                .is_some_and(|o| o.exists && o.up)
    }

    /// The weight vector handed to CRUSH (`OSDMap::osd_weight`).
    pub fn weights(&self) -> Vec<u32> {
        self.osds
            .iter()
            .map(|o| if o.exists { o.weight } else { 0 })
            .collect()
    }
}

/// Where a PG lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgMapping {
    /// CRUSH result with nonexistent OSDs removed (`_pg_to_raw_osds`).
    pub raw: Vec<i32>,
    /// Raw minus down OSDs (`_raw_to_up_osds`).
    pub up: Vec<i32>,
    /// Primary of the up set.
    pub up_primary: Option<i32>,
    /// Acting set; equals `up` without pg_temp.
    pub acting: Vec<i32>,
    /// Primary of the acting set.
    pub acting_primary: Option<i32>,
}

/// Maps PG `ps` of `pool` (`OSDMap::pg_to_up_acting_osds` without pg_temp,
/// upmap or primary affinity). `weights` is `osds.weights()`, passed in so a
/// caller mapping many PGs computes it once.
pub fn map_pg(
    crush: &CrushMap,
    ws: &mut Workspace,
    pool: &Pool,
    ps: u32,
    osds: &OsdStates,
    weights: &[u32],
) -> PgMapping {
    let mut raw = Vec::with_capacity(pool.size);
    crush.do_rule_with(
        ws,
        pool.crush_rule,
        pool.pps(ps),
        pool.size,
        weights,
        &mut raw,
    );
    // _remove_nonexistent_osds
    match pool.kind {
        PoolKind::Replicated => raw.retain(|o| osds.exists(*o)),
        PoolKind::Erasure => {
            for o in &mut raw {
                if !osds.exists(*o) {
                    *o = CRUSH_ITEM_NONE;
                }
            }
        }
    }
    let up: Vec<i32> = match pool.kind {
        PoolKind::Replicated => raw.iter().copied().filter(|o| osds.is_up(*o)).collect(),
        PoolKind::Erasure => raw
            .iter()
            .map(|&o| if osds.is_up(o) { o } else { CRUSH_ITEM_NONE })
            .collect(),
    };
    let up_primary = pick_primary(&up);
    PgMapping {
        raw,
        acting: up.clone(),
        up,
        up_primary,
        acting_primary: up_primary,
    }
}

/// `_pick_primary`: the first real OSD of the set.
pub fn pick_primary(osds: &[i32]) -> Option<i32> {
    osds.iter().copied().find(|o| *o != CRUSH_ITEM_NONE)
}

/// PG id text as Ceph prints it: pool id, dot, PG number in hex (`1.1f`).
pub fn pgid(pool: u32, ps: u32) -> String {
    format!("{pool}.{ps:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_stable_mod() {
        let mut p = Pool::replicated(1, 0);
        p.pg_num = 12;
        assert_eq!(p.pg_num_mask(), 15);
        // 13 & 15 = 13 >= 12 -> 13 & 7 = 5
        assert_eq!(p.hash_to_ps(13), 5);
        assert_eq!(p.hash_to_ps(11), 11);
        p.pg_num = 1;
        assert_eq!(p.pg_num_mask(), 0);
        assert_eq!(p.hash_to_ps(77), 0);
    }

    #[test]
    fn hashpspool_seed() {
        let p = Pool::replicated(2, 0);
        assert_eq!(p.pps(10), hash32_2(10, 2));
        assert_eq!(p.pps(10), 1_838_530_675);
    }

    #[test]
    fn pgid_format() {
        assert_eq!(pgid(1, 31), "1.1f");
    }
}
