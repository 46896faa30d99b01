//! The operator applying the topology's workloads, from outside the cluster through the API
//! VIP, as a bootstrap script does: `kubectl wait --for=condition=Ready nodes --all`, then,
//! workload after workload in the topology's order, `kubectl apply` of the workload and its
//! PodDisruptionBudget and `kubectl rollout status --timeout=60s`. So the controllers create
//! the replicas on a cluster whose nodes have all joined, one workload at a time, and the
//! scheduler places them in the order `spofless check` places them.
//!
//! The script looks every [`APPLY_RETRY`] (standing for kubectl's watches: the operator's
//! pace, not a Kubernetes timer); a creation that fails is tried again at the same pace
//! until it is created or found existing. A rollout that is not complete within
//! [`ROLLOUT_TIMEOUT`] (a fault during bootstrap, or replicas no node takes) is left as it is
//! and the next workload applied.

use topology::Cluster;
use topology::policy::scheduler::cluster::place_workloads;

use super::api::{ApiError, ApiListResponse, ApiOp, ApiRequest, ApiResponse};
use super::objects::{Condition, NodeRecord, PdbRecord, PodRecord, WorkloadRecord};
use crate::engine::{Address, Ctx, Event, Model, SimDuration, SimTime};
use crate::models::vip::HAPROXY_MODEL;

/// How often the operator's script looks again.
pub const APPLY_RETRY: SimDuration = SimDuration::from_secs(1);
/// `kubectl rollout status --timeout` in the script.
pub const ROLLOUT_TIMEOUT: SimDuration = SimDuration::from_secs(60);
/// Request id of the LISTs.
const LIST_ID: u64 = u64::MAX;
/// Creations are numbered `group x OPS_PER_GROUP + index`, so a late answer for one group
/// never counts for the next.
const OPS_PER_GROUP: u64 = 64;

/// One workload's manifests and what its rollout waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Namespace.
    pub namespace: String,
    /// The workload.
    pub workload: String,
    /// Its creations: the workload, then its budget.
    pub ops: Vec<ApiOp>,
    /// Ready pods that complete its rollout: the replicas the scheduler policy places.
    pub ready: usize,
}

/// The workloads of `cluster` and their budgets (named after the workload, as `render`
/// names them), in topology order.
pub fn manifests(cluster: &Cluster) -> Vec<Group> {
    cluster
        .spec
        .workloads
        .iter()
        .zip(place_workloads(cluster))
        .map(|(w, placed)| {
            let record = WorkloadRecord {
                kind: w.kind,
                replicas: w.replicas,
            };
            let mut ops = vec![ApiOp::put(&w.namespace, &w.name, &record, None)];
            if let Some(spec) = &w.pdb {
                let budget = PdbRecord {
                    owner: w.name.clone(),
                    spec: spec.clone(),
                    status: None,
                };
                ops.push(ApiOp::put(&w.namespace, &w.name, &budget, None));
            }
            Group {
                namespace: w.namespace.clone(),
                workload: w.name.clone(),
                ops,
                ready: placed.nodes.len(),
            }
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retry;

/// Where the script is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for every node to be Ready.
    Nodes,
    /// Applying group `.0` (creations done so far as a bit set) and waiting for its rollout
    /// since `.2`.
    Group(usize, u64, SimTime),
    /// Everything applied.
    Done,
}

/// The operator's bootstrap script.
#[derive(Debug)]
pub struct Applier {
    vip: Address,
    nodes: Vec<String>,
    groups: Vec<Group>,
    stage: Stage,
}

impl Applier {
    /// A script waiting for `nodes` and then applying `groups` through `vip`.
    pub fn new(vip: Address, nodes: Vec<String>, groups: Vec<Group>) -> Self {
        Applier {
            vip,
            nodes,
            groups,
            stage: Stage::Nodes,
        }
    }

    fn send(&self, ctx: &mut Ctx<'_>, id: u64, op: ApiOp) {
        ctx.send_to_service(self.vip.clone(), HAPROXY_MODEL, ApiRequest { id, op });
    }

    fn step(&mut self, ctx: &mut Ctx<'_>) {
        match self.stage {
            Stage::Nodes => self.send(ctx, LIST_ID, ApiOp::list::<NodeRecord>("")),
            Stage::Group(i, created, since) => {
                let group = &self.groups[i];
                let all = (1u64 << group.ops.len()) - 1;
                if created != all {
                    for (k, op) in group.ops.iter().enumerate() {
                        if created & (1 << k) == 0 {
                            self.send(ctx, i as u64 * OPS_PER_GROUP + k as u64, op.clone());
                        }
                    }
                } else if ctx.now().saturating_since(since) >= ROLLOUT_TIMEOUT {
                    self.next(ctx, i + 1);
                    return;
                } else {
                    let op = ApiOp::list::<PodRecord>(&group.namespace);
                    self.send(ctx, LIST_ID, op);
                }
            }
            Stage::Done => return,
        }
        ctx.set_timer(APPLY_RETRY, Retry);
    }

    /// Applies group `i` (or finishes).
    fn next(&mut self, ctx: &mut Ctx<'_>, i: usize) {
        if i >= self.groups.len() {
            self.stage = Stage::Done;
            return;
        }
        self.stage = Stage::Group(i, 0, ctx.now());
        for (k, op) in self.groups[i].ops.iter().enumerate() {
            self.send(ctx, i as u64 * OPS_PER_GROUP + k as u64, op.clone());
        }
    }

    fn on_list(&mut self, ctx: &mut Ctx<'_>, r: &ApiListResponse) {
        let Ok(items) = &r.result else { return };
        match self.stage {
            Stage::Nodes => {
                let ready = |name: &String| {
                    items.iter().any(|(n, s)| {
                        n == name
                            && s.object::<NodeRecord>()
                                .is_some_and(|n| n.ready == Condition::True)
                    })
                };
                if self.nodes.iter().all(ready) {
                    self.next(ctx, 0);
                }
            }
            Stage::Group(i, _, _) => {
                let group = &self.groups[i];
                let ready = items
                    .iter()
                    .filter_map(|(_, s)| s.object::<PodRecord>())
                    .filter(|p| p.owner == group.workload && p.ready && p.deleted.is_none())
                    .count();
                if ready >= group.ready {
                    self.next(ctx, i + 1);
                }
            }
            Stage::Done => {}
        }
    }

    fn on_created(&mut self, r: &ApiResponse) {
        if let Stage::Group(i, created, since) = self.stage
            && r.id != LIST_ID
            && r.id / OPS_PER_GROUP == i as u64
            && matches!(r.result, Ok(_) | Err(ApiError::Conflict))
        {
            self.stage = Stage::Group(i, created | (1 << (r.id % OPS_PER_GROUP)), since);
        }
    }
}

impl Model for Applier {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } | Event::Timer { .. } => self.step(ctx),
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiListResponse>() {
                    self.on_list(ctx, r);
                } else if let Some(r) = msg.downcast_ref::<ApiResponse>() {
                    self.on_created(r);
                }
            }
            Event::Refused { .. } | Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {}
}
