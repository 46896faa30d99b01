//! Hash maps keyed by the cluster's own strings (node names, label keys and values).
//! [`super::schedule`] looks up the node of every placed pod on each call and the
//! anti-affinity filter looks up every node's domain, and std's SipHash made those lookups
//! most of the cost on large clusters. Its protection against crafted keys buys nothing
//! here: the keys come from the cluster's own objects, and a slow map would only slow
//! scheduling down. Nothing iterates these maps in a way that reaches a result (only
//! lookups, `any` and sums), so their order cannot leak into an outcome.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with [`FastHasher`].
pub(super) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// FxHash, rustc's hasher: a multiply and a rotate per 8 bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FastHasher(u64);

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
