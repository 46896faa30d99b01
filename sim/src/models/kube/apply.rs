//! The operator applying the topology's workloads, from outside the cluster through the API
//! VIP, as a bootstrap script does: `kubectl wait --for=condition=Ready nodes --all`, then
//! `kubectl apply` of every Deployment, StatefulSet and DaemonSet. So the workload
//! controllers create the first replicas on a cluster whose nodes have all joined, and the
//! scheduler places them as `spofless check` does.
//!
//! The wait reads the Nodes every [`APPLY_RETRY`] (standing for kubectl's watch: the
//! operator's pace, not a Kubernetes timer); each workload not yet created is tried again
//! at the same pace until it is created or found existing.

use std::collections::BTreeSet;

use topology::Cluster;

use super::api::{ApiError, ApiListResponse, ApiOp, ApiRequest, ApiResponse};
use super::objects::{Condition, NodeRecord, WorkloadRecord};
use crate::engine::{Address, Ctx, Event, Model, SimDuration};
use crate::models::vip::HAPROXY_MODEL;

/// How often the operator's script looks again.
pub const APPLY_RETRY: SimDuration = SimDuration::from_secs(1);
/// Request id of the Node LIST (workload creations use their index).
const LIST_ID: u64 = u64::MAX;

/// One workload object to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The object.
    pub record: WorkloadRecord,
}

/// The workloads of `cluster` as objects.
pub fn manifests(cluster: &Cluster) -> Vec<Manifest> {
    cluster
        .spec
        .workloads
        .iter()
        .map(|w| Manifest {
            namespace: w.namespace.clone(),
            name: w.name.clone(),
            record: WorkloadRecord {
                kind: w.kind,
                replicas: w.replicas,
            },
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retry;

/// The operator's bootstrap script.
#[derive(Debug)]
pub struct Applier {
    vip: Address,
    nodes: Vec<String>,
    manifests: Vec<Manifest>,
    nodes_ready: bool,
    /// Indices into `manifests` created (or found existing).
    created: BTreeSet<usize>,
}

impl Applier {
    /// A script waiting for `nodes` and then applying `manifests` through `vip`.
    pub fn new(vip: Address, nodes: Vec<String>, manifests: Vec<Manifest>) -> Self {
        Applier {
            vip,
            nodes,
            manifests,
            nodes_ready: false,
            created: BTreeSet::new(),
        }
    }

    fn send(&self, ctx: &mut Ctx<'_>, id: u64, op: ApiOp) {
        ctx.send_to_service(self.vip.clone(), HAPROXY_MODEL, ApiRequest { id, op });
    }

    fn step(&mut self, ctx: &mut Ctx<'_>) {
        if !self.nodes_ready {
            self.send(ctx, LIST_ID, ApiOp::list::<NodeRecord>(""));
        } else {
            for (i, m) in self.manifests.iter().enumerate() {
                if !self.created.contains(&i) {
                    let op = ApiOp::put(&m.namespace, &m.name, &m.record, None);
                    self.send(ctx, i as u64, op);
                }
            }
        }
        if self.created.len() < self.manifests.len() {
            ctx.set_timer(APPLY_RETRY, Retry);
        }
    }

    fn on_nodes(&mut self, ctx: &mut Ctx<'_>, r: &ApiListResponse) {
        let Ok(items) = &r.result else { return };
        let ready: BTreeSet<&str> = items
            .iter()
            .filter(|(_, s)| {
                s.object::<NodeRecord>()
                    .is_some_and(|n| n.ready == Condition::True)
            })
            .map(|(n, _)| n.as_str())
            .collect();
        if !self.nodes_ready && self.nodes.iter().all(|n| ready.contains(n.as_str())) {
            self.nodes_ready = true;
            // Apply at once rather than at the next look.
            for (i, m) in self.manifests.iter().enumerate() {
                let op = ApiOp::put(&m.namespace, &m.name, &m.record, None);
                self.send(ctx, i as u64, op);
            }
        }
    }
}

impl Model for Applier {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } | Event::Timer { .. } => self.step(ctx),
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiListResponse>() {
                    self.on_nodes(ctx, r);
                } else if let Some(r) = msg.downcast_ref::<ApiResponse>()
                    && r.id != LIST_ID
                    && matches!(r.result, Ok(_) | Err(ApiError::Conflict))
                {
                    self.created.insert(r.id as usize);
                }
            }
            Event::Refused { .. } | Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {}
}
