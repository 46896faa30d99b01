//! The sequential specification the search linearizes against: etcd's KV semantics over the
//! keys of one partition, with revisions the checker may not know.
//!
//! Why not replay [`KvStore`] directly: the store revision is shared by all keys, so once the
//! history is split per key (which is what keeps the search small) a partition cannot compute
//! the revision a write got. And an indeterminate write's revision is unknown even in a single
//! partition. So revisions here are *observed*, not computed:
//! - a write that answered carries its revision in the response header; it must exceed every
//!   revision seen before it in the linearization (the partition's `floor`) and becomes the
//!   `mod_revision` (and `create_revision` when it creates) of what it wrote;
//! - a read's header revision must be at least the floor; a write after it must exceed it;
//! - an indeterminate write leaves its keys' revisions unknown but above the floor at the time it
//!   took effect; the first read or `=` compare that shows them binds them.
//!
//! Values and versions are always known (a put sets the value and adds one to the version), so
//! every constraint here is one real etcd obeys: a partition that fails is a real violation.
//! Constraints that span partitions (the order of revisions across keys) are only checked when
//! the checker runs on one partition (`per_key = false`).

use std::cmp::Ordering;

use crate::models::kv::{
    Compare, CompareOp, CompareTarget, KeyValue, KvOp, KvResult, KvStore, RequestOp, ResponseOp,
};

use super::history::{Operation, Outcome};

/// A revision the checker may or may not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Rev {
    Known(i64),
    /// Unknown, but greater than this (the floor when the write took effect).
    After(i64),
}

/// One key's state. Absent keys have no value, version 0 and revisions 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Slot {
    value: Option<String>,
    version: i64,
    create: Rev,
    modr: Rev,
}

impl Slot {
    const ABSENT: Slot = Slot {
        value: None,
        version: 0,
        create: Rev::Known(0),
        modr: Rev::Known(0),
    };
}

/// The state of one partition: a slot per key (in the partition's key order) and the highest
/// revision known to precede the next operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct State {
    slots: Vec<Slot>,
    floor: i64,
}

/// What the client saw, normalised so single requests look like one-request txns.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    revision: i64,
    succeeded: bool,
    responses: Vec<ResponseOp>,
}

/// An operation normalised to (compares, success, failure) plus what was observed.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    compares: Vec<Compare>,
    success: Vec<RequestOp>,
    failure: Vec<RequestOp>,
    observed: Option<Observed>,
}

/// The value a timed-out put whose value no read saw is given in the search. Such puts differ
/// only in a value nobody observed, so making it the same lets their states coincide.
pub(crate) const UNOBSERVED: &str = "\u{0}unobserved";

impl Prepared {
    /// Replace the values this operation puts with [`UNOBSERVED`].
    pub(crate) fn anonymise(&mut self) {
        for r in self.success.iter_mut().chain(self.failure.iter_mut()) {
            if let RequestOp::Put { value, .. } = r {
                *value = UNOBSERVED.to_owned();
            }
        }
    }

    /// Normalise `op`. `Failed` operations never take effect and are not prepared.
    pub(crate) fn new(op: &Operation) -> Option<Self> {
        let observed = match &op.outcome {
            Outcome::Failed => return None,
            Outcome::Indeterminate => None,
            Outcome::Ok(r) => Some(observe(r)),
        };
        let single = |r: RequestOp| (Vec::new(), vec![r], Vec::new());
        let (compares, success, failure) = match &op.op {
            KvOp::Put { key, value } => single(RequestOp::Put {
                key: key.clone(),
                value: value.clone(),
            }),
            KvOp::Get { key } => single(RequestOp::Get { key: key.clone() }),
            KvOp::Range { prefix } => single(RequestOp::Range {
                prefix: prefix.clone(),
            }),
            KvOp::Delete { key } => single(RequestOp::Delete { key: key.clone() }),
            KvOp::Txn {
                compares,
                success,
                failure,
            } => (compares.clone(), success.clone(), failure.clone()),
        };
        Some(Self {
            compares,
            success,
            failure,
            observed,
        })
    }
}

fn observe(r: &KvResult) -> Observed {
    let one = |revision, resp| Observed {
        revision,
        succeeded: true,
        responses: vec![resp],
    };
    match r {
        KvResult::Put { revision } => one(*revision, ResponseOp::Put),
        KvResult::Get { revision, kv } => one(*revision, ResponseOp::Get { kv: kv.clone() }),
        KvResult::Range { revision, kvs } => one(*revision, ResponseOp::Range { kvs: kvs.clone() }),
        KvResult::Delete { revision, deleted } => {
            one(*revision, ResponseOp::Delete { deleted: *deleted })
        }
        KvResult::Txn {
            revision,
            succeeded,
            responses,
        } => Observed {
            revision: *revision,
            succeeded: *succeeded,
            responses: responses.clone(),
        },
    }
}

/// Result of evaluating one compare when some revisions are unknown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

/// The keys of one partition, sorted; the model steps over them.
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    keys: Vec<String>,
}

impl KeySpace {
    pub(crate) fn new(mut keys: Vec<String>) -> Self {
        keys.sort();
        keys.dedup();
        Self { keys }
    }

    pub(crate) fn keys(&self) -> &[String] {
        &self.keys
    }

    fn index(&self, key: &str) -> Option<usize> {
        self.keys.binary_search_by(|k| k.as_str().cmp(key)).ok()
    }

    /// The state these keys have in `store`.
    pub(crate) fn initial(&self, store: &KvStore) -> State {
        let slots = self
            .keys
            .iter()
            .map(|k| match store.get(k) {
                None => Slot::ABSENT,
                Some(kv) => Slot {
                    value: Some(kv.value.clone()),
                    version: kv.version,
                    create: Rev::Known(kv.create_revision),
                    modr: Rev::Known(kv.mod_revision),
                },
            })
            .collect();
        State {
            slots,
            floor: store.revision(),
        }
    }

    /// Every state `op` can lead to from `state`, given what was observed; empty if `op`
    /// cannot be linearized here.
    pub(crate) fn step(&self, state: &State, op: &Prepared) -> Vec<State> {
        let mut evals = Vec::with_capacity(op.compares.len());
        for c in &op.compares {
            let Some(i) = self.index(&c.key) else {
                return Vec::new();
            };
            evals.push(eval(&state.slots[i], c));
        }
        let can_succeed = evals.iter().all(|t| *t != Tri::False);
        let can_fail = evals.iter().any(|t| *t != Tri::True);
        let branches: &[bool] = match &op.observed {
            Some(o) => &[o.succeeded][..],
            None => &[true, false][..],
        };
        let mut out = Vec::new();
        for &succeeded in branches {
            if (succeeded && !can_succeed) || (!succeeded && !can_fail) {
                continue;
            }
            let mut st = state.clone();
            if succeeded {
                self.bind_compares(&mut st, &op.compares, &evals);
            }
            let reqs = if succeeded { &op.success } else { &op.failure };
            if let Some(st) = self.run_branch(st, reqs, op.observed.as_ref()) {
                out.push(st);
            }
        }
        out
    }

    /// A successful `=` compare on an unknown revision tells us the revision.
    fn bind_compares(&self, st: &mut State, compares: &[Compare], evals: &[Tri]) {
        for (c, t) in compares.iter().zip(evals) {
            if *t != Tri::Unknown || c.op != CompareOp::Equal {
                continue;
            }
            let Some(i) = self.index(&c.key) else {
                continue;
            };
            match c.target {
                CompareTarget::CreateRevision(r) => st.slots[i].create = Rev::Known(r),
                CompareTarget::ModRevision(r) => st.slots[i].modr = Rev::Known(r),
                CompareTarget::Value(_) | CompareTarget::Version(_) => {}
            }
        }
    }

    fn run_branch(
        &self,
        mut st: State,
        reqs: &[RequestOp],
        observed: Option<&Observed>,
    ) -> Option<State> {
        let mut idx = Vec::with_capacity(reqs.len());
        let mut changed = false;
        for r in reqs {
            match r {
                RequestOp::Put { key, .. } | RequestOp::Get { key } | RequestOp::Delete { key } => {
                    let i = self.index(key)?;
                    changed |= match r {
                        RequestOp::Put { .. } => true,
                        RequestOp::Delete { .. } => st.slots[i].value.is_some(),
                        _ => false,
                    };
                    idx.push(i);
                }
                RequestOp::Range { .. } => idx.push(usize::MAX),
            }
        }
        let write_rev = match observed {
            Some(o) if changed => {
                if o.revision <= st.floor {
                    return None;
                }
                Rev::Known(o.revision)
            }
            Some(o) => {
                if o.revision < st.floor {
                    return None;
                }
                Rev::Known(o.revision)
            }
            None => Rev::After(st.floor),
        };
        if let Some(o) = observed {
            st.floor = o.revision;
            if o.responses.len() != reqs.len() {
                return None;
            }
        }
        for (n, (r, &i)) in reqs.iter().zip(&idx).enumerate() {
            let seen = observed.map(|o| (&o.responses[n], o.revision));
            match r {
                RequestOp::Put { value, .. } => {
                    let slot = &mut st.slots[i];
                    if slot.value.is_none() {
                        slot.create = write_rev;
                    }
                    slot.value = Some(value.clone());
                    slot.version += 1;
                    slot.modr = write_rev;
                    if let Some((resp, _)) = seen
                        && *resp != ResponseOp::Put
                    {
                        return None;
                    }
                }
                RequestOp::Delete { .. } => {
                    let deleted = i64::from(st.slots[i].value.is_some());
                    st.slots[i] = Slot::ABSENT;
                    match seen {
                        Some((ResponseOp::Delete { deleted: d }, _)) if *d == deleted => {}
                        Some(_) => return None,
                        None => {}
                    }
                }
                RequestOp::Get { key } => match seen {
                    Some((ResponseOp::Get { kv }, h))
                        if match_kv(&mut st.slots[i], key, kv.as_ref(), h) => {}
                    Some(_) => return None,
                    None => {}
                },
                RequestOp::Range { prefix } => match seen {
                    Some((ResponseOp::Range { kvs }, h))
                        if self.match_range(&mut st, prefix, kvs, h) => {}
                    Some(_) => return None,
                    None => {}
                },
            }
        }
        Some(st)
    }

    fn match_range(&self, st: &mut State, prefix: &str, kvs: &[KeyValue], h: i64) -> bool {
        let mut seen = kvs.iter();
        for (i, key) in self.keys.iter().enumerate() {
            if !key.starts_with(prefix) || st.slots[i].value.is_none() {
                continue;
            }
            let Some(kv) = seen.next() else { return false };
            if !match_kv(&mut st.slots[i], key, Some(kv), h) {
                return false;
            }
        }
        seen.next().is_none()
    }
}

/// Does the observed key agree with the slot? Binds unknown revisions to what was seen.
fn match_kv(slot: &mut Slot, key: &str, kv: Option<&KeyValue>, header: i64) -> bool {
    let Some(kv) = kv else {
        return slot.value.is_none();
    };
    if kv.key != key
        || slot.value.as_deref() != Some(kv.value.as_str())
        || slot.version != kv.version
        || kv.create_revision > kv.mod_revision
        || kv.mod_revision > header
    {
        return false;
    }
    bind(&mut slot.create, kv.create_revision) && bind(&mut slot.modr, kv.mod_revision)
}

fn bind(rev: &mut Rev, seen: i64) -> bool {
    match *rev {
        Rev::Known(r) => r == seen,
        Rev::After(floor) => {
            *rev = Rev::Known(seen);
            seen > floor
        }
    }
}

fn eval(slot: &Slot, c: &Compare) -> Tri {
    let tri = |o: Ordering| if c.op.holds(o) { Tri::True } else { Tri::False };
    let rev = |r: Rev, t: i64| match r {
        Rev::Known(x) => tri(x.cmp(&t)),
        Rev::After(floor) if t <= floor => tri(Ordering::Greater),
        Rev::After(_) => Tri::Unknown,
    };
    match &c.target {
        CompareTarget::Value(v) => match &slot.value {
            None => Tri::False,
            Some(x) => tri(x.as_str().cmp(v.as_str())),
        },
        CompareTarget::Version(t) => tri(slot.version.cmp(t)),
        CompareTarget::CreateRevision(t) => rev(slot.create, *t),
        CompareTarget::ModRevision(t) => rev(slot.modr, *t),
    }
}
