//! Client operation histories: what each client asked, when, and what it learnt.
//!
//! One format serves the simulator and real etcd runs (recorded from `etcdctl`), so the same
//! checker judges both. Times are nanoseconds on one clock per history (virtual time in the
//! simulator, a monotonic clock in a real run); only their order matters.
//!
//! The outcome distinguishes what a client can know after a call:
//! - `ok`: the server answered; the operation took effect exactly once, between call and return;
//! - `indeterminate`: the client gave up (timeout, connection lost): the operation may have
//!   taken effect at any time after its call, even after the client gave up, or never;
//! - `failed`: the server definitely rejected it (e.g. a compare error before apply): it never
//!   took effect and the checker ignores it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::models::kv::{KvOp, KvResult, ResponseOp};

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
                    use crate::models::kv::RequestOp as Rq;
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
