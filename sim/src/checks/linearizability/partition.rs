//! Splitting a history into independent parts, one per group of keys.
//!
//! Linearizability is compositional over independent objects (Herlihy and Wing), so a history
//! whose operations each touch one key can be checked key by key, which turns one search over
//! n operations into many small ones. Operations that touch several keys (a prefix range, a
//! txn over two keys) join those keys into one group (union-find), so every operation lands in
//! exactly one part. A prefix range touches every key of the history that has the prefix: a
//! key never named in the history is never written, so it cannot change what the range sees.

use std::collections::BTreeMap;

use crate::models::kv::{KvOp, KvResult, KvStore, RequestOp, ResponseOp};

use super::history::{History, Operation, Outcome};

/// One independent part: its keys and the indices of its operations in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) keys: Vec<String>,
    pub(crate) ops: Vec<usize>,
}

/// Keys an operation names directly (requests, compares and keys in its result); prefixes of
/// its ranges are returned separately.
fn named(op: &Operation) -> (Vec<&str>, Vec<&str>) {
    let mut keys: Vec<&str> = Vec::new();
    let mut prefixes: Vec<&str> = Vec::new();
    fn request<'a>(r: &'a RequestOp, keys: &mut Vec<&'a str>, prefixes: &mut Vec<&'a str>) {
        match r {
            RequestOp::Put { key, .. } | RequestOp::Get { key } | RequestOp::Delete { key } => {
                keys.push(key.as_str())
            }
            RequestOp::Range { prefix } => prefixes.push(prefix.as_str()),
        }
    }
    match &op.op {
        KvOp::Put { key, .. } | KvOp::Get { key } | KvOp::Delete { key } => keys.push(key),
        KvOp::Range { prefix } => prefixes.push(prefix),
        KvOp::Txn {
            compares,
            success,
            failure,
        } => {
            keys.extend(compares.iter().map(|c| c.key.as_str()));
            for r in success.iter().chain(failure) {
                request(r, &mut keys, &mut prefixes);
            }
        }
    }
    if let Outcome::Ok(result) = &op.outcome {
        match result {
            KvResult::Get { kv: Some(kv), .. } => keys.push(&kv.key),
            KvResult::Range { kvs, .. } => keys.extend(kvs.iter().map(|kv| kv.key.as_str())),
            KvResult::Txn { responses, .. } => {
                for resp in responses {
                    match resp {
                        ResponseOp::Get { kv: Some(kv) } => keys.push(&kv.key),
                        ResponseOp::Range { kvs } => {
                            keys.extend(kvs.iter().map(|kv| kv.key.as_str()))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    (keys, prefixes)
}

/// Union-find over key indices.
struct Groups {
    parent: Vec<usize>,
}

impl Groups {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        // Keep the smaller index as root so the result does not depend on call order.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi] = lo;
    }
}

/// Split the non-failed operations of `history` into parts. With `per_key == false` there is
/// one part holding every key. Parts come out in order of their smallest key; operations that
/// touch no key at all (an empty range over keys nobody wrote) constrain nothing and are left
/// out.
pub(crate) fn split(history: &History, initial: &KvStore, per_key: bool) -> Vec<Part> {
    let ops: Vec<(usize, &Operation)> = history
        .operations
        .iter()
        .enumerate()
        .filter(|(_, o)| o.outcome != Outcome::Failed)
        .collect();
    let named: Vec<(Vec<&str>, Vec<&str>)> = ops.iter().map(|(_, o)| named(o)).collect();
    let mut universe: BTreeMap<&str, usize> = BTreeMap::new();
    for kv in initial.iter() {
        universe.insert(&kv.key, 0);
    }
    for (keys, _) in &named {
        for k in keys {
            universe.insert(k, 0);
        }
    }
    for (n, slot) in universe.values_mut().enumerate() {
        *slot = n;
    }
    let names: Vec<&str> = universe.keys().copied().collect();
    let mut groups = Groups {
        parent: (0..names.len()).collect(),
    };
    let mut touched: Vec<Vec<usize>> = Vec::with_capacity(ops.len());
    for (keys, prefixes) in &named {
        let mut t: Vec<usize> = keys
            .iter()
            .filter_map(|k| universe.get(k).copied())
            .collect();
        for p in prefixes {
            let matching = universe.range(*p..).take_while(|(k, _)| k.starts_with(p));
            t.extend(matching.map(|(_, &i)| i));
        }
        for w in t.windows(2) {
            groups.union(w[0], w[1]);
        }
        touched.push(t);
    }
    if !per_key {
        for i in 1..names.len() {
            groups.union(0, i);
        }
    }
    let mut parts: BTreeMap<usize, Part> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let root = groups.find(i);
        let part = parts.entry(root).or_insert_with(|| Part {
            keys: Vec::new(),
            ops: Vec::new(),
        });
        part.keys.push((*name).to_owned());
    }
    for ((index, _), t) in ops.iter().zip(&touched) {
        if let Some(&first) = t.first() {
            let root = groups.find(first);
            if let Some(part) = parts.get_mut(&root) {
                part.ops.push(*index);
            }
        }
    }
    parts.into_values().filter(|p| !p.ops.is_empty()).collect()
}
