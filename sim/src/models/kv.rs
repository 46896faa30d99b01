//! The etcd-style key-value state machine that the etcd model applies committed entries to and
//! that the API server model reuses.
//!
//! Why a model of its own: etcd's client-visible behaviour is not just "a map". Every mutation
//! bumps one store-wide revision, every key carries `create_revision`, `mod_revision` and
//! `version`, and transactions compare on those. The linearizability checker, the simulated etcd
//! members and the differential test against real etcd all have to agree on those numbers, so
//! they live here once, pure and deterministic (`BTreeMap`, no clock, no RNG).
//!
//! Semantics follow etcd's mvcc package and its documented API guarantees:
//! - the store starts at revision 1 ([`INITIAL_REVISION`]);
//! - a request (put, delete, txn) that changes the store increments the revision exactly once,
//!   however many keys it touches; one that changes nothing (a read, a delete of a missing key,
//!   a txn whose branch only reads) leaves it unchanged (mvcc `storeTxnWrite.End`);
//! - a put of an absent key sets `create_revision = mod_revision = new revision, version = 1`;
//!   a put of a present key keeps `create_revision`, sets `mod_revision` and increments
//!   `version`; a delete removes the key, so a later put starts a new generation at version 1;
//! - a txn compare on a missing key sees `version = create_revision = mod_revision = 0`, and a
//!   compare on the value of a missing key is always false (etcd `applyCompare`);
//! - a txn may not write the same key twice (`etcdserver: duplicate key given in txn request`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Revision of a freshly created etcd store. Source: etcd docs, "Data model": "When the store
/// is created, the initial revision is 1." Value: 1.
pub const INITIAL_REVISION: i64 = 1;

pub use topology::wire::{
    Compare, CompareOp, CompareTarget, KeyValue, KvOp, KvResult, RequestOp, ResponseOp,
};

/// Requests etcd rejects before applying anything.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KvError {
    /// etcd: `etcdserver: duplicate key given in txn request`.
    #[error("duplicate key {key:?} given in txn request")]
    DuplicateKey { key: String },
    /// etcd: `etcdserver: key is not provided`.
    #[error("key is not provided")]
    EmptyKey,
}

/// What a watcher is told about one key a write changed (etcd `mvccpb.Event`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvEvent {
    /// The key was put; its new state (`mod_revision` is the event's revision).
    Put(KeyValue),
    /// The key was deleted at `revision`.
    Delete {
        /// The key.
        key: String,
        /// The revision of the delete.
        revision: i64,
    },
}

impl KvEvent {
    /// The key the event is about.
    pub fn key(&self) -> &str {
        match self {
            KvEvent::Put(kv) => &kv.key,
            KvEvent::Delete { key, .. } => key,
        }
    }

    /// The revision of the write that caused it.
    pub fn revision(&self) -> i64 {
        match self {
            KvEvent::Put(kv) => kv.mod_revision,
            KvEvent::Delete { revision, .. } => *revision,
        }
    }
}

/// The store: current revision and the live keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KvStore {
    revision: i64,
    keys: BTreeMap<String, KeyValue>,
}

impl Default for KvStore {
    fn default() -> Self {
        Self::new()
    }
}

impl KvStore {
    /// An empty store at [`INITIAL_REVISION`].
    pub fn new() -> Self {
        Self::at_revision(INITIAL_REVISION)
    }

    /// An empty store whose current revision is `revision` (for histories recorded against a
    /// cluster that had already seen writes to other keys).
    pub fn at_revision(revision: i64) -> Self {
        Self {
            revision,
            keys: BTreeMap::new(),
        }
    }

    /// Current store revision.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The live key, if any.
    pub fn get(&self, key: &str) -> Option<&KeyValue> {
        self.keys.get(key)
    }

    /// Live keys starting with `prefix`, in key order.
    pub fn range(&self, prefix: &str) -> Vec<KeyValue> {
        self.keys
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect()
    }

    /// Every live key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &KeyValue> {
        self.keys.values()
    }

    /// Apply one operation atomically and return etcd's answer. On error nothing changed.
    pub fn apply(&mut self, op: &KvOp) -> Result<KvResult, KvError> {
        match op {
            KvOp::Put { key, value } => {
                let req = RequestOp::Put {
                    key: key.clone(),
                    value: value.clone(),
                };
                self.run_single(&req)?;
                Ok(KvResult::Put {
                    revision: self.revision,
                })
            }
            KvOp::Get { key } => {
                non_empty(key)?;
                Ok(KvResult::Get {
                    revision: self.revision,
                    kv: self.keys.get(key).cloned(),
                })
            }
            KvOp::Range { prefix } => Ok(KvResult::Range {
                revision: self.revision,
                kvs: self.range(prefix),
            }),
            KvOp::Delete { key } => {
                let req = RequestOp::Delete { key: key.clone() };
                let deleted = match self.run_single(&req)? {
                    ResponseOp::Delete { deleted } => deleted,
                    _ => 0,
                };
                Ok(KvResult::Delete {
                    revision: self.revision,
                    deleted,
                })
            }
            KvOp::Txn {
                compares,
                success,
                failure,
            } => {
                check_txn(compares, success, failure)?;
                let succeeded = compares.iter().all(|c| self.compare(c));
                let branch = if succeeded { success } else { failure };
                let next = self.revision + 1;
                let mut changed = false;
                let responses = branch
                    .iter()
                    .map(|req| self.exec(req, next, &mut changed))
                    .collect();
                if changed {
                    self.revision = next;
                }
                Ok(KvResult::Txn {
                    revision: self.revision,
                    succeeded,
                    responses,
                })
            }
        }
    }

    /// [`KvStore::apply`], plus the watch events the operation caused, in key order: a put
    /// event for every key it put, a delete event for every live key it deleted (a delete of a
    /// missing key changes nothing and tells watchers nothing, as in etcd's mvcc).
    pub fn apply_with_events(&mut self, op: &KvOp) -> (Result<KvResult, KvError>, Vec<KvEvent>) {
        let written: std::collections::BTreeSet<&str> = match op {
            KvOp::Put { key, .. } | KvOp::Delete { key } => [key.as_str()].into(),
            KvOp::Get { .. } | KvOp::Range { .. } => Default::default(),
            KvOp::Txn {
                success, failure, ..
            } => success
                .iter()
                .chain(failure)
                .filter_map(RequestOp::written_key)
                .collect(),
        };
        let before: Vec<(String, Option<KeyValue>)> = written
            .iter()
            .map(|k| ((*k).to_owned(), self.keys.get(*k).cloned()))
            .collect();
        let result = self.apply(op);
        let revision = self.revision;
        let events = before
            .into_iter()
            .filter_map(|(key, was)| match (was, self.keys.get(&key)) {
                (_, Some(now)) if now.mod_revision == revision => Some(KvEvent::Put(now.clone())),
                (Some(_), None) => Some(KvEvent::Delete { key, revision }),
                _ => None,
            })
            .collect();
        (result, events)
    }

    /// Evaluate one txn guard against the current state, as etcd's `applyCompare` does.
    pub fn compare(&self, c: &Compare) -> bool {
        let kv = self.keys.get(&c.key);
        match (&c.target, kv) {
            (CompareTarget::Value(_), None) => false,
            (CompareTarget::Value(v), Some(kv)) => c.op.holds(kv.value.as_str().cmp(v)),
            (CompareTarget::Version(t), kv) => c.op.holds(kv.map_or(0, |k| k.version).cmp(t)),
            (CompareTarget::CreateRevision(t), kv) => {
                c.op.holds(kv.map_or(0, |k| k.create_revision).cmp(t))
            }
            (CompareTarget::ModRevision(t), kv) => {
                c.op.holds(kv.map_or(0, |k| k.mod_revision).cmp(t))
            }
        }
    }

    fn run_single(&mut self, req: &RequestOp) -> Result<ResponseOp, KvError> {
        if let Some(key) = req.written_key() {
            non_empty(key)?;
        }
        let next = self.revision + 1;
        let mut changed = false;
        let resp = self.exec(req, next, &mut changed);
        if changed {
            self.revision = next;
        }
        Ok(resp)
    }

    /// Run one request as part of the write that will get revision `next`.
    fn exec(&mut self, req: &RequestOp, next: i64, changed: &mut bool) -> ResponseOp {
        match req {
            RequestOp::Put { key, value } => {
                *changed = true;
                let kv = self.keys.entry(key.clone()).or_insert_with(|| KeyValue {
                    key: key.clone(),
                    value: String::new(),
                    create_revision: next,
                    mod_revision: next,
                    version: 0,
                });
                kv.value.clone_from(value);
                kv.mod_revision = next;
                kv.version += 1;
                ResponseOp::Put
            }
            RequestOp::Get { key } => ResponseOp::Get {
                kv: self.keys.get(key).cloned(),
            },
            RequestOp::Range { prefix } => ResponseOp::Range {
                kvs: self.range(prefix),
            },
            RequestOp::Delete { key } => {
                let deleted = i64::from(self.keys.remove(key).is_some());
                *changed |= deleted > 0;
                ResponseOp::Delete { deleted }
            }
        }
    }
}

fn non_empty(key: &str) -> Result<(), KvError> {
    if key.is_empty() {
        Err(KvError::EmptyKey)
    } else {
        Ok(())
    }
}

/// etcd rejects a txn whose branches write one key twice (checked per branch, before applying).
pub fn check_txn(
    compares: &[Compare],
    success: &[RequestOp],
    failure: &[RequestOp],
) -> Result<(), KvError> {
    if compares.iter().any(|c| c.key.is_empty()) {
        return Err(KvError::EmptyKey);
    }
    for branch in [success, failure] {
        let mut seen = std::collections::BTreeSet::new();
        for key in branch.iter().filter_map(RequestOp::written_key) {
            non_empty(key)?;
            if !seen.insert(key) {
                return Err(KvError::DuplicateKey {
                    key: key.to_owned(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_tell_watchers_what_changed_and_reads_tell_nothing() {
        let mut s = KvStore::new();
        let (_, e) = s.apply_with_events(&put("a", "1"));
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].key(), e[0].revision()), ("a", 2));
        let (_, e) = s.apply_with_events(&KvOp::Get { key: "a".into() });
        assert_eq!(e, []);
        let (_, e) = s.apply_with_events(&KvOp::Delete { key: "zz".into() });
        assert_eq!(e, [], "deleting a missing key changes nothing");
        let txn = KvOp::Txn {
            compares: vec![],
            success: vec![
                RequestOp::Delete { key: "a".into() },
                RequestOp::Put {
                    key: "b".into(),
                    value: "2".into(),
                },
            ],
            failure: vec![],
        };
        let (_, e) = s.apply_with_events(&txn);
        assert_eq!(
            e,
            [
                KvEvent::Delete {
                    key: "a".into(),
                    revision: 3
                },
                KvEvent::Put(KeyValue {
                    key: "b".into(),
                    value: "2".into(),
                    create_revision: 3,
                    mod_revision: 3,
                    version: 1
                })
            ]
        );
    }

    fn put(k: &str, v: &str) -> KvOp {
        KvOp::Put {
            key: k.into(),
            value: v.into(),
        }
    }

    fn get(s: &mut KvStore, k: &str) -> Option<KeyValue> {
        match s.apply(&KvOp::Get { key: k.into() }) {
            Ok(KvResult::Get { kv, .. }) => kv,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn cas(k: &str, target: CompareTarget, then: RequestOp) -> KvOp {
        KvOp::Txn {
            compares: vec![Compare {
                key: k.into(),
                op: CompareOp::Equal,
                target,
            }],
            success: vec![then],
            failure: vec![RequestOp::Get { key: k.into() }],
        }
    }

    #[test]
    fn fresh_store_is_at_revision_one() {
        let s = KvStore::new();
        assert_eq!(s.revision(), 1);
    }

    /// Data model: creating a key starts a generation at version 1; each put increments the
    /// version and sets mod_revision to the put's revision; create_revision stays.
    #[test]
    fn put_sets_create_mod_and_version() {
        let mut s = KvStore::new();
        assert_eq!(s.apply(&put("a", "1")), Ok(KvResult::Put { revision: 2 }));
        assert_eq!(s.apply(&put("b", "x")), Ok(KvResult::Put { revision: 3 }));
        assert_eq!(s.apply(&put("a", "2")), Ok(KvResult::Put { revision: 4 }));
        let a = get(&mut s, "a").expect("a exists");
        assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 4, 2));
        assert_eq!(a.value, "2");
    }

    /// A delete ends the generation; the next put creates a new one (version 1, new create).
    /// Deleting a missing key changes nothing and does not move the revision.
    #[test]
    fn delete_resets_generation_and_missing_delete_keeps_revision() {
        let mut s = KvStore::new();
        s.apply(&put("a", "1")).expect("put");
        s.apply(&put("a", "2")).expect("put");
        let r = s.apply(&KvOp::Delete { key: "a".into() });
        assert_eq!(
            r,
            Ok(KvResult::Delete {
                revision: 4,
                deleted: 1
            })
        );
        let r = s.apply(&KvOp::Delete { key: "a".into() });
        assert_eq!(
            r,
            Ok(KvResult::Delete {
                revision: 4,
                deleted: 0
            })
        );
        assert_eq!(get(&mut s, "a"), None);
        s.apply(&put("a", "3")).expect("put");
        let a = get(&mut s, "a").expect("a exists");
        assert_eq!((a.create_revision, a.mod_revision, a.version), (5, 5, 1));
    }

    /// Reads report the current revision and never move it.
    #[test]
    fn reads_do_not_move_revision() {
        let mut s = KvStore::new();
        s.apply(&put("p/1", "x")).expect("put");
        s.apply(&put("p/2", "y")).expect("put");
        s.apply(&put("q", "z")).expect("put");
        let r = s
            .apply(&KvOp::Range {
                prefix: "p/".into(),
            })
            .expect("range");
        let KvResult::Range { revision, kvs } = r else {
            panic!("range")
        };
        assert_eq!(revision, 4);
        assert_eq!(
            kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
            ["p/1", "p/2"]
        );
        assert_eq!(s.revision(), 4);
    }

    /// A txn that writes several keys takes one revision, shared by every key it wrote; reads
    /// later in the same txn see its earlier writes.
    #[test]
    fn txn_takes_one_revision_for_all_writes() {
        let mut s = KvStore::new();
        let op = KvOp::Txn {
            compares: vec![],
            success: vec![
                RequestOp::Put {
                    key: "a".into(),
                    value: "1".into(),
                },
                RequestOp::Put {
                    key: "b".into(),
                    value: "2".into(),
                },
                RequestOp::Get { key: "a".into() },
            ],
            failure: vec![],
        };
        let KvResult::Txn {
            revision,
            succeeded,
            responses,
        } = s.apply(&op).expect("txn")
        else {
            panic!("txn")
        };
        assert!(succeeded);
        assert_eq!(revision, 2);
        let ResponseOp::Get { kv: Some(a) } = &responses[2] else {
            panic!("get")
        };
        assert_eq!((a.mod_revision, a.version), (2, 1));
        assert_eq!(get(&mut s, "b").map(|kv| kv.mod_revision), Some(2));
    }

    /// Compare-and-swap on value, version and mod_revision, with both branches.
    #[test]
    fn cas_on_value_version_and_mod_revision() {
        let mut s = KvStore::new();
        s.apply(&put("k", "v1")).expect("put"); // rev 2
        let swap = |v: &str| RequestOp::Put {
            key: "k".into(),
            value: v.into(),
        };
        let r = s
            .apply(&cas("k", CompareTarget::Value("v1".into()), swap("v2")))
            .expect("txn");
        assert!(matches!(
            r,
            KvResult::Txn {
                succeeded: true,
                revision: 3,
                ..
            }
        ));
        let r = s
            .apply(&cas("k", CompareTarget::Value("v1".into()), swap("v3")))
            .expect("txn");
        // Failure branch only reads: the revision does not move.
        assert!(matches!(
            r,
            KvResult::Txn {
                succeeded: false,
                revision: 3,
                ..
            }
        ));
        let r = s
            .apply(&cas("k", CompareTarget::Version(2), swap("v4")))
            .expect("txn");
        assert!(matches!(
            r,
            KvResult::Txn {
                succeeded: true,
                revision: 4,
                ..
            }
        ));
        let r = s
            .apply(&cas("k", CompareTarget::ModRevision(3), swap("v5")))
            .expect("txn");
        assert!(matches!(
            r,
            KvResult::Txn {
                succeeded: false,
                ..
            }
        ));
        let r = s
            .apply(&cas("k", CompareTarget::ModRevision(4), swap("v5")))
            .expect("txn");
        assert!(matches!(
            r,
            KvResult::Txn {
                succeeded: true,
                revision: 5,
                ..
            }
        ));
        assert_eq!(get(&mut s, "k").map(|kv| kv.value), Some("v5".into()));
    }

    /// etcd applyCompare: a missing key has version/create/mod 0, and a value compare on it is
    /// false even against the empty string; `create_revision = 0` is the "create if absent" idiom.
    #[test]
    fn compares_on_missing_key() {
        let s = KvStore::new();
        let c = |target, op| Compare {
            key: "m".into(),
            op,
            target,
        };
        assert!(s.compare(&c(CompareTarget::Version(0), CompareOp::Equal)));
        assert!(s.compare(&c(CompareTarget::CreateRevision(0), CompareOp::Equal)));
        assert!(s.compare(&c(CompareTarget::ModRevision(1), CompareOp::Less)));
        assert!(!s.compare(&c(CompareTarget::Value(String::new()), CompareOp::Equal)));
        assert!(!s.compare(&c(CompareTarget::Value(String::new()), CompareOp::NotEqual)));
    }

    #[test]
    fn txn_rejects_duplicate_writes_and_changes_nothing() {
        let mut s = KvStore::new();
        let op = KvOp::Txn {
            compares: vec![],
            success: vec![
                RequestOp::Put {
                    key: "a".into(),
                    value: "1".into(),
                },
                RequestOp::Delete { key: "a".into() },
            ],
            failure: vec![],
        };
        assert_eq!(s.apply(&op), Err(KvError::DuplicateKey { key: "a".into() }));
        assert_eq!(s, KvStore::new());
        assert_eq!(s.apply(&put("", "x")), Err(KvError::EmptyKey));
    }

    #[test]
    fn ops_and_results_round_trip_through_json() {
        let op = cas(
            "k",
            CompareTarget::ModRevision(4),
            RequestOp::Delete { key: "k".into() },
        );
        let text = serde_json::to_string(&op).expect("serialise");
        assert_eq!(serde_json::from_str::<KvOp>(&text).expect("parse"), op);
        let mut s = KvStore::new();
        s.apply(&put("k", "v")).expect("put");
        let json = serde_json::to_string(&s).expect("serialise");
        assert_eq!(serde_json::from_str::<KvStore>(&json).expect("parse"), s);
    }
}
