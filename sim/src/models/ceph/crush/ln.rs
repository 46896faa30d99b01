//! Ceph's fixed-point natural logarithm (`crush_ln`) used by straw2 buckets.
//!
//! straw2 gives every item a draw `ln(u) / weight` and picks the largest, so
//! the mapping is only bit-exact with Ceph if `ln` is computed exactly as in
//! `src/crush/mapper.c` with the lookup tables of `src/crush/crush_ln_table.h`.
//! The tables are computed here at compile time from the formulas documented in
//! that header (exact integer arithmetic in 64.64 fixed point, no floats):
//!
//! * `RH_LH[2k]   = ceil(2^48 / (1 + k/128))`
//! * `RH_LH[2k+1] = floor(2^48 * log2(1 + k/128))`
//! * `LL[k]       = 2^48 * log2(1 + k/2^15)`
//!
//! Ceph's shipped `__LL_tbl` does not follow its own formula everywhere: it
//! was generated with a constant offset and 23 entries hold values no formula
//! produces. Bit-exactness with every deployed Ceph needs those exact values,
//! so the deviations are listed below as errata (checked against the table in
//! the installed `libceph-common` by `sim/tests/crush_ln_tables.rs`).

/// Number of `i64` entries in `__RH_LH_tbl` (`128*2+2` in `crush_ln_table.h`).
pub const RH_LH_LEN: usize = 128 * 2 + 2;
/// Number of entries in `__LL_tbl` (256 in `crush_ln_table.h`).
pub const LL_LEN: usize = 256;

/// Constant offset Ceph's table generator added to `LL[k]` for `k >= 2`
/// (measured against `__LL_tbl` in `crush_ln_table.h`: every regular entry
/// equals `ceil(2^48*log2(1+k/2^15)) + 5493489663`).
const LL_GENERATOR_BIAS: i64 = 5_493_489_663;

/// `__LL_tbl` entries stored as plain `floor(2^48*log2(1+k/2^15))`, without
/// the generator bias (indices from `crush_ln_table.h`).
const LL_UNBIASED: [usize; 19] = [
    203, 216, 222, 233, 237, 238, 239, 243, 244, 245, 246, 248, 249, 250, 251, 252, 253, 254, 255,
];

/// `__LL_tbl` entries whose value matches no formula (copied verbatim from
/// `crush_ln_table.h`; Ceph and the Linux kernel client both use them, so
/// placement depends on them).
const LL_IRREGULAR: [(usize, i64); 23] = [
    (56, 0x0000_00a2_b07f_3458),
    (127, 0x0000_016d_f6ca_19bd),
    (134, 0x0000_0182_b07f_3458),
    (181, 0x0000_0209_c06e_6212),
    (184, 0x0000_0212_b07f_3458),
    (188, 0x0000_021d_6a73_a78f),
    (193, 0x0000_022c_2367_9b4e),
    (198, 0x0000_023a_2c3b_0ea4),
    (199, 0x0000_023d_13ee_805b),
    (200, 0x0000_0240_35e9_221f),
    (207, 0x0000_0254_9264_4d65),
    (210, 0x0000_025d_13ee_805b),
    (212, 0x0000_0262_9645_3882),
    (225, 0x0000_0287_bdbf_5255),
    (227, 0x0000_028d_13ee_805b),
    (228, 0x0000_0290_35e9_221f),
    (229, 0x0000_0292_9645_3882),
    (231, 0x0000_0299_02a3_7aab),
    (235, 0x0000_02a4_c760_5d61),
    (236, 0x0000_02a7_bdbf_5255),
    (240, 0x0000_02b2_9645_3882),
    (241, 0x0000_02b5_d022_d80f),
    (247, 0x0000_02c6_1a5e_8f4c),
];

/// `LH` for `k = 128` (`log2(2) = 1`) is stored as `2^48 - 2^32` rather than
/// `2^48` (last entry of `__RH_LH_tbl`), which keeps `crush_ln(0xffff)`
/// strictly below `2^48` so a straw2 draw is never zero.
const LH_LAST: i64 = 0x0000_ffff_0000_0000;

/// One in 64.64 fixed point.
const ONE_Q64: u128 = 1 << 64;

/// `ln(num/den)` in 64.64 fixed point for `1 <= num/den <= 2`, by the series
/// `ln(y) = 2 * atanh((y-1)/(y+1))`. Truncation error is a few units in the
/// last place, far below the rounding margins of the table entries.
const fn ln_q64(num: u128, den: u128) -> u128 {
    let z = ((num - den) << 64) / (num + den);
    let z2 = (z * z) >> 64;
    let mut sum = z;
    let mut power = z;
    let mut odd = 3u128;
    while power != 0 {
        power = (power * z2) >> 64;
        sum += power / odd;
        odd += 2;
    }
    2 * sum
}

/// `2^48 * log2(num/den)` in 64.64 fixed point.
const fn log2_scaled_q64(num: u128, den: u128) -> u128 {
    let ln2 = ln_q64(2, 1);
    let log2 = (ln_q64(num, den) << 64) / ln2;
    log2 << 48
}

const fn floor_q64(v: u128) -> i64 {
    (v >> 64) as i64
}

const fn ceil_q64(v: u128) -> i64 {
    let whole = (v >> 64) as i64;
    if v & (ONE_Q64 - 1) != 0 {
        whole + 1
    } else {
        whole
    }
}

/// Computes `__RH_LH_tbl`.
const fn rh_lh_table() -> [i64; RH_LH_LEN] {
    let mut t = [0i64; RH_LH_LEN];
    let mut k = 0;
    while k <= 128 {
        // 2^48 / (1 + k/128) = 2^55 / (128 + k), rounded up.
        let den = 128 + k as u128;
        let num = 1u128 << 55;
        t[2 * k] = num.div_ceil(den) as i64;
        t[2 * k + 1] = if k == 128 {
            LH_LAST
        } else {
            // log2 * 2^48 needs 48 integer bits on top of 64 fraction bits.
            floor_q64(log2_scaled_q64(128 + k as u128, 128))
        };
        k += 1;
    }
    t
}

/// Computes `__LL_tbl` including Ceph's errata.
const fn ll_table() -> [i64; LL_LEN] {
    let mut t = [0i64; LL_LEN];
    let mut k = 0;
    while k < LL_LEN {
        let exact = log2_scaled_q64((1 << 15) + k as u128, 1 << 15);
        t[k] = if k < 2 {
            floor_q64(exact)
        } else {
            ceil_q64(exact) + LL_GENERATOR_BIAS
        };
        k += 1;
    }
    let mut i = 0;
    while i < LL_UNBIASED.len() {
        let k = LL_UNBIASED[i];
        t[k] = floor_q64(log2_scaled_q64((1 << 15) + k as u128, 1 << 15));
        i += 1;
    }
    let mut i = 0;
    while i < LL_IRREGULAR.len() {
        t[LL_IRREGULAR[i].0] = LL_IRREGULAR[i].1;
        i += 1;
    }
    t
}

/// `__RH_LH_tbl`: `2^48/(1+k/128)` and `2^48*log2(1+k/128)` interleaved.
pub static RH_LH_TBL: [i64; RH_LH_LEN] = rh_lh_table();
/// `__LL_tbl`: `2^48*log2(1+k/2^15)` with Ceph's errata.
pub static LL_TBL: [i64; LL_LEN] = ll_table();

/// `crush_ln(xin)`: `2^44 * log2(xin + 1)` for `xin` in `0..=0xffff`.
#[inline]
pub fn crush_ln(xin: u32) -> u64 {
    let mut x = xin.wrapping_add(1);
    let mut iexpon: u64 = 15;
    // Normalise so bit 15 or 16 is set, in one step (as mapper.c does).
    if x & 0x18000 == 0 {
        let bits = (x & 0x1_ffff).leading_zeros() - 16;
        x <<= bits;
        iexpon = 15 - u64::from(bits);
    }
    let index1 = ((x >> 8) << 1) as usize;
    // RH ~ 2^56/index1, LH ~ 2^48 * log2(index1/256).
    let rh = RH_LH_TBL[index1 - 256] as u64;
    let lh = RH_LH_TBL[index1 + 1 - 256] as u64;
    // RH*x ~ 2^48 * (2^15 + xf), xf < 2^8.
    let xl64 = u64::from(x).wrapping_mul(rh) >> 48;
    let mut result = iexpon << (12 + 32);
    let index2 = (xl64 & 0xff) as usize;
    // LL ~ 2^48*log2(1.0+index2/2^15).
    let ll = LL_TBL[index2] as u64;
    let lh = lh.wrapping_add(ll) >> (48 - 12 - 32);
    result = result.wrapping_add(lh);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_entries_follow_the_formulas() {
        assert_eq!(RH_LH_TBL[0], 1 << 48);
        assert_eq!(RH_LH_TBL[1], 0);
        assert_eq!(RH_LH_TBL[2], 0x0000_fe03_f80f_e040);
        assert_eq!(RH_LH_TBL[3], 0x0000_02df_ca16_dde1);
        assert_eq!(RH_LH_TBL[256], 0x0000_8000_0000_0000);
        assert_eq!(LL_TBL[0], 0);
        assert_eq!(LL_TBL[1], 0x0000_0002_e2a6_0a00);
        assert_eq!(LL_TBL[2], 0x0000_0007_0cb6_4ec5);
    }

    #[test]
    fn ln_is_monotonic_and_bounded() {
        // Monotonic up to 0xfffe; 0xffff uses the clamped last LH entry.
        let mut prev = 0;
        for u in 0..0xffffu32 {
            let v = crush_ln(u);
            assert!(v >= prev, "crush_ln not monotonic at {u}");
            assert!(v < 1 << 48);
            prev = v;
        }
        assert_eq!(crush_ln(0), 0);
        assert!(crush_ln(0xffff) < 1 << 48);
    }
}
