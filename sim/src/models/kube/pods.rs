//! The topology's workloads as Pod objects, created through the API VIP as the run starts.
//!
//! Until the scheduler is modelled, each replica is bound where a spreading scheduler would
//! put it on an idle cluster: the eligible node with the fewest replicas of its workload,
//! then the fewest pods, then the first in the topology's host order. DaemonSets get one pod
//! per eligible node. Every pod carries the tolerations the DefaultTolerationSeconds admission
//! plugin adds (`not-ready` and `unreachable` NoExecute for the topology's
//! `notReadyTolerationSeconds` and `unreachableTolerationSeconds`); DaemonSet pods tolerate
//! them without limit, as the DaemonSet controller makes them.

use std::collections::{BTreeMap, BTreeSet};

use topology::analysis::eligible_nodes;
use topology::{Cluster, WorkloadKind};

use super::api::{ApiError, ApiOp, ApiRequest, ApiResponse};
use super::objects::PodRecord;
use crate::engine::{Address, Ctx, Event, Model, SimDuration};
use crate::models::vip::HAPROXY_MODEL;

/// How often the seeder tries the pods not created yet.
pub const SEED_RETRY: SimDuration = SimDuration::from_secs(1);

/// One pod to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The object.
    pub record: PodRecord,
}

/// The pods of `cluster`'s workloads, bound as described above.
pub fn initial_pods(cluster: &Cluster) -> Vec<SeedPod> {
    let nl = &cluster.spec.control_plane.node_lifecycle;
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pods = Vec::new();
    for w in &cluster.spec.workloads {
        let policy = w.policy();
        let eligible = eligible_nodes(cluster, &policy);
        let daemon = w.kind == WorkloadKind::DaemonSet;
        let limit = |secs: u32| (!daemon).then_some(u64::from(secs));
        let record = |node: &str| PodRecord {
            node: node.to_owned(),
            ready: true,
            tolerate_not_ready: limit(nl.not_ready_toleration_seconds),
            tolerate_unreachable: limit(nl.unreachable_toleration_seconds),
            deleted: None,
        };
        let nodes: Vec<&str> = if daemon {
            eligible.iter().map(|h| h.name.as_str()).collect()
        } else {
            let mut mine: BTreeMap<&str, usize> = BTreeMap::new();
            let mut chosen = Vec::new();
            for _ in 0..w.replicas {
                let best = eligible.iter().enumerate().min_by_key(|(i, h)| {
                    let n = h.name.as_str();
                    (
                        mine.get(n).copied().unwrap_or(0),
                        per_node.get(n).copied().unwrap_or(0),
                        *i,
                    )
                });
                let Some((_, host)) = best else {
                    break;
                };
                *mine.entry(host.name.as_str()).or_default() += 1;
                *per_node.entry(host.name.as_str()).or_default() += 1;
                chosen.push(host.name.as_str());
            }
            chosen
        };
        for (i, node) in nodes.into_iter().enumerate() {
            pods.push(SeedPod {
                namespace: w.namespace.clone(),
                name: format!("{}-{i}", w.name),
                record: record(node),
            });
        }
    }
    pods
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retry;

/// Creates the pods through the API VIP (as `kubectl apply` would), trying the ones not yet
/// created every [`SEED_RETRY`] until each is created or found existing.
#[derive(Debug)]
pub struct PodSeeder {
    vip: Address,
    pods: Vec<SeedPod>,
    /// Indices into `pods` created (or found existing).
    created: BTreeSet<usize>,
}

impl PodSeeder {
    /// A seeder creating `pods` through `vip`.
    pub fn new(vip: Address, pods: Vec<SeedPod>) -> Self {
        PodSeeder {
            vip,
            pods,
            created: BTreeSet::new(),
        }
    }

    /// Whether every pod exists.
    pub fn done(&self) -> bool {
        self.created.len() == self.pods.len()
    }

    fn try_all(&mut self, ctx: &mut Ctx<'_>) {
        if self.done() {
            return;
        }
        for (i, pod) in self.pods.iter().enumerate() {
            if self.created.contains(&i) {
                continue;
            }
            let op = ApiOp::put(&pod.namespace, &pod.name, &pod.record, None);
            let request = ApiRequest { id: i as u64, op };
            ctx.send_to_service(self.vip.clone(), HAPROXY_MODEL, request);
        }
        ctx.set_timer(SEED_RETRY, Retry);
    }
}

impl Model for PodSeeder {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Start { .. } | Event::Timer { .. } => self.try_all(ctx),
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiResponse>()
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
