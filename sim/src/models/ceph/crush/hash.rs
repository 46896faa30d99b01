//! The rjenkins1 hash family CRUSH uses for every pseudo-random choice.
//!
//! Placement must match Ceph bit for bit, so this is a straight port of the
//! arithmetic in Ceph's `src/crush/hash.c` (Robert Jenkins' 96-bit mix with
//! fixed salts). All arithmetic wraps on `u32`, exactly like the C code.

/// Hash algorithm id of rjenkins1 (`CRUSH_HASH_RJENKINS1` in Ceph's
/// `src/crush/hash.h`, value 0). The only hash Ceph has ever shipped.
pub const CRUSH_HASH_RJENKINS1: u8 = 0;

/// Seed xor-ed into every hash (`crush_hash_seed` in `src/crush/hash.c`,
/// value 1315423911).
pub const CRUSH_HASH_SEED: u32 = 1_315_423_911;

/// First fixed salt of the rjenkins1 family (`x = 231232` in `hash.c`).
const SALT_X: u32 = 231_232;
/// Second fixed salt of the rjenkins1 family (`y = 1232` in `hash.c`).
const SALT_Y: u32 = 1232;

/// Robert Jenkins' mix of three 32-bit values (`crush_hashmix`).
#[inline(always)]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 13);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 8);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 13);
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 12);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 16);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 5);
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 3);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 10);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 15);
}

/// `crush_hash32_rjenkins1(a)`.
#[inline]
pub fn hash32(a: u32) -> u32 {
    let mut a = a;
    let mut hash = CRUSH_HASH_SEED ^ a;
    let mut b = a;
    let mut x = SALT_X;
    let mut y = SALT_Y;
    mix(&mut b, &mut x, &mut hash);
    mix(&mut y, &mut a, &mut hash);
    hash
}

/// `crush_hash32_rjenkins1_2(a, b)`: used for OSD reweight rejection and for
/// the HASHPSPOOL placement seed.
#[inline]
pub fn hash32_2(a: u32, b: u32) -> u32 {
    let (mut a, mut b) = (a, b);
    let mut hash = CRUSH_HASH_SEED ^ a ^ b;
    let mut x = SALT_X;
    let mut y = SALT_Y;
    mix(&mut a, &mut b, &mut hash);
    mix(&mut x, &mut a, &mut hash);
    mix(&mut b, &mut y, &mut hash);
    hash
}

/// `crush_hash32_rjenkins1_3(a, b, c)`: the straw2 draw.
#[inline]
pub fn hash32_3(a: u32, b: u32, c: u32) -> u32 {
    let (mut a, mut b, mut c) = (a, b, c);
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c;
    let mut x = SALT_X;
    let mut y = SALT_Y;
    mix(&mut a, &mut b, &mut hash);
    mix(&mut c, &mut x, &mut hash);
    mix(&mut y, &mut a, &mut hash);
    mix(&mut b, &mut x, &mut hash);
    mix(&mut y, &mut c, &mut hash);
    hash
}

/// `crush_hash32_rjenkins1_4(a, b, c, d)`.
#[inline]
pub fn hash32_4(a: u32, b: u32, c: u32, d: u32) -> u32 {
    let (mut a, mut b, mut c, mut d) = (a, b, c, d);
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d;
    let mut x = SALT_X;
    let mut y = SALT_Y;
    mix(&mut a, &mut b, &mut hash);
    mix(&mut c, &mut d, &mut hash);
    mix(&mut a, &mut x, &mut hash);
    mix(&mut y, &mut b, &mut hash);
    mix(&mut c, &mut x, &mut hash);
    mix(&mut y, &mut d, &mut hash);
    hash
}

/// `crush_hash32_rjenkins1_5(a, b, c, d, e)`.
#[inline]
pub fn hash32_5(a: u32, b: u32, c: u32, d: u32, e: u32) -> u32 {
    let (mut a, mut b, mut c, mut d, mut e) = (a, b, c, d, e);
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d ^ e;
    let mut x = SALT_X;
    let mut y = SALT_Y;
    mix(&mut a, &mut b, &mut hash);
    mix(&mut c, &mut d, &mut hash);
    mix(&mut e, &mut x, &mut hash);
    mix(&mut y, &mut a, &mut hash);
    mix(&mut b, &mut x, &mut hash);
    mix(&mut y, &mut c, &mut hash);
    mix(&mut d, &mut x, &mut hash);
    mix(&mut y, &mut e, &mut hash);
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rjenkins1_test_vector() {
        // Known value recorded in ../shared/DEPENDENCIES.md (outside this repository) for
        // crush_hash32_2(rjenkins1, 10, 2).
        assert_eq!(hash32_2(10, 2), 1_838_530_675);
    }

    #[test]
    fn family_members_differ() {
        let v = [
            hash32(1),
            hash32_2(1, 2),
            hash32_3(1, 2, 3),
            hash32_4(1, 2, 3, 4),
            hash32_5(1, 2, 3, 4, 5),
        ];
        for i in 0..v.len() {
            for j in i + 1..v.len() {
                assert_ne!(v[i], v[j]);
            }
        }
    }
}
