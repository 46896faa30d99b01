//! The Eviction API as kube-apiserver serves it (`pkg/registry/core/pod/storage/eviction.go`,
//! v1.29-v1.32, `unhealthyPodEvictionPolicy: IfHealthyBudget`, the default), in two storage
//! steps: one txn reads the pod and its namespace's PodDisruptionBudgets, then the verdict:
//! - no such pod: 404; a pod already being deleted, or not yet bound (Pending), or selected
//!   by no budget: deleted without looking at a budget;
//! - more than one budget selects it: 500;
//! - the budget's status not yet computed by the disruption controller: 429;
//! - a pod that is not Ready while the budget is satisfied (`currentHealthy >=
//!   desiredHealthy`): deleted without using up a disruption;
//! - `disruptionsAllowed` 0: 429 "Cannot evict pod as it would violate the pod's disruption
//!   budget.";
//! - otherwise `disruptionsAllowed` minus one and the pod's deletion, written together on the
//!   revisions read (upstream updates the budget first, then deletes the pod, recording it
//!   in `disruptedPods` so the controller does not count it in between: the same effect).
//!
//! A write that lost a race (something changed since the read) starts over, up to
//! `EvictionsRetry`'s 20 steps. The read also takes the namespace's pods, so a granted
//! eviction states how many of the workload's pods were Ready in the same snapshot (an
//! invariant weighs that against the budget, apart from the controller's status).

use topology::wire::{Compare, CompareOp, CompareTarget, KeyValue, RequestOp, ResponseOp};

use super::api::{ApiError, ApiObject, ObjectRef, Stored, collection_prefix};
use super::facts::EvictionGranted;
use super::objects::{PdbRecord, PodRecord};
use crate::engine::SimTime;
use crate::models::kv::KvOp;

/// `EvictionsRetry.Steps`.
pub const MAX_TRIES: u32 = 20;
/// The 429 message when the budget allows no disruption.
pub const VIOLATES_BUDGET: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";
/// The 429 message while the controller has not computed the budget's status.
pub const BUDGET_NOT_OBSERVED: &str =
    "The disruption budget is still being processed by the server.";

/// The read: the pod and every budget of its namespace.
pub fn read(pod: &ObjectRef) -> KvOp {
    KvOp::Txn {
        compares: Vec::new(),
        success: vec![
            RequestOp::Range {
                prefix: collection_prefix(super::api::Kind::Pdb, &pod.namespace),
            },
            RequestOp::Get { key: pod.key() },
            RequestOp::Range {
                prefix: collection_prefix(super::api::Kind::Pod, &pod.namespace),
            },
        ],
        failure: Vec::new(),
    }
}

/// What to do after the read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer now.
    Answer(Result<Stored, ApiError>),
    /// Run this txn; if it fails its compares, start over; once it succeeds, state this.
    Write(KvOp, EvictionGranted),
}

/// The verdict on evicting the pod whose read answered `responses`, at `now`.
pub fn decide(pod_ref: &ObjectRef, responses: &[ResponseOp], now: SimTime) -> Verdict {
    let (pdbs, pod_kv, pods) = match responses {
        [
            ResponseOp::Range { kvs },
            ResponseOp::Get { kv },
            ResponseOp::Range { kvs: pods },
        ] => (kvs, kv, pods),
        _ => {
            return Verdict::Answer(Err(ApiError::Storage(format!(
                "unexpected eviction read {responses:?}"
            ))));
        }
    };
    let Some(pod_kv) = pod_kv else {
        return Verdict::Answer(Err(ApiError::NotFound));
    };
    let Some(pod) = PodRecord::decode(&pod_kv.value) else {
        return Verdict::Answer(Err(ApiError::Storage("undecodable pod".into())));
    };
    if pod.deleted.is_some() {
        return Verdict::Answer(Ok(stored(pod_kv)));
    }
    let ready_before = pods
        .iter()
        .filter_map(|kv| PodRecord::decode(&kv.value))
        .filter(|p| p.owner == pod.owner && p.ready && p.deleted.is_none())
        .count();
    let budgets = pdbs
        .iter()
        .filter_map(|kv| PdbRecord::decode(&kv.value))
        .filter(|b| b.owner == pod.owner)
        .count();
    let granted = EvictionGranted {
        pod: format!("{}/{}", pod_ref.namespace, pod_ref.name),
        workload: pod.owner.clone(),
        was_ready: pod.ready,
        ready_before: u32::try_from(ready_before).unwrap_or(u32::MAX),
        budgets: u32::try_from(budgets).unwrap_or(u32::MAX),
    };
    let mine: Vec<(&KeyValue, PdbRecord)> = pdbs
        .iter()
        .filter_map(|kv| Some((kv, PdbRecord::decode(&kv.value)?)))
        .filter(|(_, b)| b.owner == pod.owner)
        .collect();
    let delete = |pod: &PodRecord| {
        let mut gone = pod.clone();
        gone.deleted = Some(now);
        gone
    };
    let (kv, budget) = match mine.as_slice() {
        _ if pod.node.is_empty() => {
            return Verdict::Write(delete_txn(pod_kv, &delete(&pod)), granted);
        }
        [] => return Verdict::Write(delete_txn(pod_kv, &delete(&pod)), granted),
        [one] => one,
        _ => {
            return Verdict::Answer(Err(ApiError::Storage(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource \
                 does not support."
                    .into(),
            )));
        }
    };
    let Some(status) = budget.status else {
        return Verdict::Answer(Err(ApiError::TooManyRequests(BUDGET_NOT_OBSERVED.into())));
    };
    if !pod.ready && status.current_healthy >= status.desired_healthy {
        return Verdict::Write(delete_txn(pod_kv, &delete(&pod)), granted);
    }
    if status.disruptions_allowed == 0 {
        return Verdict::Answer(Err(ApiError::TooManyRequests(VIOLATES_BUDGET.into())));
    }
    let mut spent = budget.clone();
    if let Some(s) = spent.status.as_mut() {
        s.disruptions_allowed -= 1;
    }
    let op = KvOp::Txn {
        compares: vec![unchanged(pod_kv), unchanged(kv)],
        success: vec![
            RequestOp::Put {
                key: kv.key.clone(),
                value: spent.encode(),
            },
            RequestOp::Put {
                key: pod_kv.key.clone(),
                value: delete(&pod).encode(),
            },
        ],
        failure: Vec::new(),
    };
    Verdict::Write(op, granted)
}

fn unchanged(kv: &KeyValue) -> Compare {
    Compare {
        key: kv.key.clone(),
        op: CompareOp::Equal,
        target: CompareTarget::ModRevision(kv.mod_revision),
    }
}

fn delete_txn(pod_kv: &KeyValue, deleted: &PodRecord) -> KvOp {
    KvOp::Txn {
        compares: vec![unchanged(pod_kv)],
        success: vec![RequestOp::Put {
            key: pod_kv.key.clone(),
            value: deleted.encode(),
        }],
        failure: Vec::new(),
    }
}

fn stored(kv: &KeyValue) -> Stored {
    Stored {
        value: kv.value.clone(),
        resource_version: kv.mod_revision,
    }
}
