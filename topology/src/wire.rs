//! Client operation histories as data: what each client of a key-value store (etcd) asked,
//! when, and what it learnt. One serde shape for the simulator's clients and the real clients
//! of a drill (recorded from `etcdctl`), so one linearizability checker judges both and a
//! drill's history can be written, read back and compared.
//!
//! The request and answer types follow etcd's v3 API (`KeyValue`, `Compare`, `RequestOp`,
//! `ResponseOp`, `TxnResponse`): the simulator's store (`sim::models::kv`) gives them their
//! semantics. Times are nanoseconds on one clock per history (virtual time in the simulator, a
//! monotonic clock since a real run started); only their order matters.
//!
//! The outcome distinguishes what a client can know after a call:
//! - `ok`: the server answered; the operation took effect exactly once, between call and return;
//! - `indeterminate`: the client gave up (timeout, connection lost): the operation may have
//!   taken effect at any time after its call, even after the client gave up, or never;
//! - `failed`: the server definitely rejected it (e.g. a compare error before apply): it never
//!   took effect and the checker ignores it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One key as etcd returns it (`mvccpb.KeyValue` without the lease).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Revision of the put that created this generation of the key.
    pub create_revision: i64,
    /// Revision of the last put to the key.
    pub mod_revision: i64,
    /// Number of puts since the key was created; a delete resets it (the key disappears).
    pub version: i64,
}

/// Which field of a key a txn compare looks at (etcd `Compare.CompareTarget`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareTarget {
    /// Compare the value (always false when the key is missing).
    Value(String),
    /// Compare the version (0 when missing).
    Version(i64),
    /// Compare the create revision (0 when missing).
    CreateRevision(i64),
    /// Compare the mod revision (0 when missing).
    ModRevision(i64),
}

/// The comparison operator (etcd `Compare.CompareResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `<` (the key's field is less than the target)
    Less,
    /// `>` (the key's field is greater than the target)
    Greater,
}

impl CompareOp {
    /// Whether `ordering` (key field compared with target) satisfies this operator.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            CompareOp::Equal => ordering == Equal,
            CompareOp::NotEqual => ordering != Equal,
            CompareOp::Less => ordering == Less,
            CompareOp::Greater => ordering == Greater,
        }
    }
}

/// One guard of a txn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Compare {
    /// Key compared.
    pub key: String,
    /// Operator.
    pub op: CompareOp,
    /// Field and the value it is compared with.
    pub target: CompareTarget,
}

/// A request inside a txn branch, or on its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RequestOp {
    /// Set `key` to `value`.
    Put { key: String, value: String },
    /// Read one key.
    Get { key: String },
    /// Read every key starting with `prefix` (`etcdctl get --prefix`).
    Range { prefix: String },
    /// Delete one key.
    Delete { key: String },
}

impl RequestOp {
    /// The key this request writes, if it writes.
    pub fn written_key(&self) -> Option<&str> {
        match self {
            RequestOp::Put { key, .. } | RequestOp::Delete { key } => Some(key),
            RequestOp::Get { .. } | RequestOp::Range { .. } => None,
        }
    }
}

/// A client operation on the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KvOp {
    /// Set `key` to `value`.
    Put { key: String, value: String },
    /// Read one key.
    Get { key: String },
    /// Read every key starting with `prefix`.
    Range { prefix: String },
    /// Delete one key.
    Delete { key: String },
    /// If every compare holds, run `success`, else run `failure`; atomically, one revision.
    Txn {
        compares: Vec<Compare>,
        success: Vec<RequestOp>,
        failure: Vec<RequestOp>,
    },
}

impl KvOp {
    /// A get or a range: answered without changing the store, and safe to send again
    /// (clientv3 retries it; linearizable ones go through ReadIndex, not the log).
    pub fn is_read(&self) -> bool {
        matches!(self, KvOp::Get { .. } | KvOp::Range { .. })
    }

    /// Compare-and-swap as controllers write it: if `key`'s field equals `target`, put `value`,
    /// else read the key back.
    pub fn compare_and_put(key: String, target: CompareTarget, value: String) -> KvOp {
        KvOp::Txn {
            compares: vec![Compare {
                key: key.clone(),
                op: CompareOp::Equal,
                target,
            }],
            success: vec![RequestOp::Put {
                key: key.clone(),
                value,
            }],
            failure: vec![RequestOp::Get { key }],
        }
    }
}

/// The answer to one request inside a txn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseOp {
    /// A put inside a txn (its revision is the txn's).
    Put,
    /// The key, or `None` when absent.
    Get { kv: Option<KeyValue> },
    /// Matching keys in key order.
    Range { kvs: Vec<KeyValue> },
    /// Number of keys deleted (0 or 1).
    Delete { deleted: i64 },
}

/// The answer to a [`KvOp`]. `revision` is the response header revision: the revision the
/// request created if it changed the store, else the store revision it read at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KvResult {
    /// A put; `revision` is the new revision.
    Put { revision: i64 },
    /// A single-key read.
    Get { revision: i64, kv: Option<KeyValue> },
    /// A prefix read.
    Range { revision: i64, kvs: Vec<KeyValue> },
    /// A delete; the revision moves only when `deleted > 0`.
    Delete { revision: i64, deleted: i64 },
    /// A txn: which branch ran and its answers, in request order.
    Txn {
        revision: i64,
        succeeded: bool,
        responses: Vec<ResponseOp>,
    },
}

impl KvResult {
    /// The response header revision.
    pub fn revision(&self) -> i64 {
        match self {
            KvResult::Put { revision }
            | KvResult::Get { revision, .. }
            | KvResult::Range { revision, .. }
            | KvResult::Delete { revision, .. }
            | KvResult::Txn { revision, .. } => *revision,
        }
    }
}

/// What the client learnt about one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered; the result is what the server said.
    Ok(KvResult),
    /// Unknown: may have taken effect (at any point after the call) or not.
    Indeterminate,
    /// Definitely not applied.
    Failed,
}

/// One client call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Client (process) that issued the call.
    pub client: u32,
    /// The request.
    pub op: KvOp,
    /// When the request was sent (ns).
    pub call_time: u64,
    /// When the client got an answer or gave up (ns); `None` if it never heard back.
    pub return_time: Option<u64>,
    /// What the client learnt.
    pub outcome: Outcome,
}

impl Operation {
    /// Whether the operation could change the store if it took effect.
    pub fn may_write(&self) -> bool {
        match &self.op {
            KvOp::Put { .. } | KvOp::Delete { .. } => true,
            KvOp::Get { .. } | KvOp::Range { .. } => false,
            KvOp::Txn {
                success, failure, ..
            } => success
                .iter()
                .chain(failure)
                .any(|r| r.written_key().is_some()),
        }
    }
}

/// A history: operations in any order (the checker sorts by call time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The calls.
    pub operations: Vec<Operation>,
}

/// A history the checker cannot judge.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// An `ok` operation without a return time.
    #[error("operation {index}: outcome is ok but there is no return_time")]
    MissingReturn { index: usize },
    /// A return before its call.
    #[error("operation {index}: return_time {ret} is before call_time {call}")]
    ReturnBeforeCall { index: usize, call: u64, ret: u64 },
    /// The result does not answer the request (e.g. a Get result for a Put).
    #[error("operation {index}: the result's kind does not match the request")]
    ResultMismatch { index: usize },
    /// The JSON did not parse.
    #[error("history JSON: {0}")]
    Json(String),
}

impl History {
    /// Wrap a list of operations.
    pub fn new(operations: Vec<Operation>) -> Self {
        Self { operations }
    }

    /// When the first call that may write, sent at or after `from`, was answered `Ok` (its
    /// `return_time`): after a fault at `from`, the moment clients could write again. Calls
    /// sent before `from` are left out, so an answer already on its way when the fault struck
    /// does not count as a write through the new leader.
    pub fn first_write_acked_after(&self, from: u64) -> Option<u64> {
        self.operations
            .iter()
            .filter(|o| o.call_time >= from && o.may_write())
            .filter(|o| matches!(o.outcome, Outcome::Ok(_)))
            .filter_map(|o| o.return_time)
            .min()
    }

    /// Parse from JSON (an object with `operations`, or a bare array of operations).
    pub fn from_json(text: &str) -> Result<Self, HistoryError> {
        if let Ok(h) = serde_json::from_str::<History>(text) {
            return Ok(h);
        }
        serde_json::from_str::<Vec<Operation>>(text)
            .map(History::new)
            .map_err(|e| HistoryError::Json(e.to_string()))
    }

    /// Serialise to pretty JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Check times and that each result answers its request.
    pub fn validate(&self) -> Result<(), HistoryError> {
        for (index, o) in self.operations.iter().enumerate() {
            if let Some(ret) = o.return_time
                && ret < o.call_time
            {
                return Err(HistoryError::ReturnBeforeCall {
                    index,
                    call: o.call_time,
                    ret,
                });
            }
            if let Outcome::Ok(result) = &o.outcome {
                if o.return_time.is_none() {
                    return Err(HistoryError::MissingReturn { index });
                }
                if !result_matches(&o.op, result) {
                    return Err(HistoryError::ResultMismatch { index });
                }
            }
        }
        Ok(())
    }
}

fn result_matches(op: &KvOp, result: &KvResult) -> bool {
    match (op, result) {
        (KvOp::Put { .. }, KvResult::Put { .. })
        | (KvOp::Get { .. }, KvResult::Get { .. })
        | (KvOp::Range { .. }, KvResult::Range { .. })
        | (KvOp::Delete { .. }, KvResult::Delete { .. }) => true,
        (
            KvOp::Txn {
                success, failure, ..
            },
            KvResult::Txn {
                succeeded,
                responses,
                ..
            },
        ) => {
            let branch = if *succeeded { success } else { failure };
            branch.len() == responses.len()
                && branch.iter().zip(responses).all(|(req, resp)| {
                    use RequestOp as Rq;
                    matches!(
                        (req, resp),
                        (Rq::Put { .. }, ResponseOp::Put)
                            | (Rq::Get { .. }, ResponseOp::Get { .. })
                            | (Rq::Range { .. }, ResponseOp::Range { .. })
                            | (Rq::Delete { .. }, ResponseOp::Delete { .. })
                    )
                })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(op: KvOp, call_time: u64, return_time: Option<u64>, outcome: Outcome) -> Operation {
        Operation {
            client: 0,
            op,
            call_time,
            return_time,
            outcome,
        }
    }

    fn put() -> KvOp {
        KvOp::Put {
            key: "k".into(),
            value: "v".into(),
        }
    }

    #[test]
    fn first_write_after_a_fault_counts_only_answered_writes_sent_after_it() {
        let ok = || Outcome::Ok(KvResult::Put { revision: 2 });
        let history = History::new(vec![
            // Sent before the fault, answered after it: the old leader's last answer.
            call(put(), 90, Some(110), ok()),
            // A read answered early and a failed write do not count.
            call(
                KvOp::Get { key: "k".into() },
                100,
                Some(120),
                Outcome::Ok(KvResult::Get {
                    revision: 2,
                    kv: None,
                }),
            ),
            call(put(), 100, Some(105), Outcome::Failed),
            call(put(), 130, None, Outcome::Indeterminate),
            call(put(), 140, Some(400), ok()),
            call(put(), 200, Some(300), ok()),
        ]);
        assert_eq!(history.first_write_acked_after(100), Some(300));
        assert_eq!(history.first_write_acked_after(500), None);
    }
}
