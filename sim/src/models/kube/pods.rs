//! The topology's workloads as Pod objects, created through the API VIP as the run starts.
//!
//! Each replica is placed by kube-scheduler's default profile ([`topology::policy::scheduler`])
//! in workload order, one after another, as the controllers would create them on an idle
//! cluster; a DaemonSet gets one pod on every node its pod fits (the DaemonSet controller pins
//! each to its node). A replica no node takes is created unbound (Pending, `node` empty).
//! Every pod carries the tolerations the DefaultTolerationSeconds admission plugin adds
//! (`not-ready` and `unreachable` NoExecute for the topology's `notReadyTolerationSeconds` and
//! `unreachableTolerationSeconds`); DaemonSet pods tolerate them without limit, as the
//! DaemonSet controller makes them.

use std::collections::BTreeSet;

use topology::Cluster;
use topology::policy::scheduler::cluster::place_workloads;

use super::api::{ApiError, ApiOp, ApiRequest, ApiResponse};
use super::facts::PodPending;
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
    /// Why no node took it, for a Pending pod (the FailedScheduling message).
    pub pending: Option<String>,
}

/// The pods of `cluster`'s workloads, placed as described above.
pub fn initial_pods(cluster: &Cluster) -> Vec<SeedPod> {
    let nl = &cluster.spec.control_plane.node_lifecycle;
    let mut pods = Vec::new();
    for p in place_workloads(cluster) {
        let limit = |secs: u32| (!p.daemon).then_some(u64::from(secs));
        let bound = p.nodes.iter().map(|n| (n.clone(), None));
        let pending = (0..p.pending).map(|_| (String::new(), p.why.clone()));
        for (i, (node, why)) in bound.chain(pending).enumerate() {
            pods.push(SeedPod {
                namespace: p.namespace.clone(),
                name: format!("{}-{i}", p.workload),
                record: PodRecord {
                    ready: why.is_none(),
                    node,
                    tolerate_not_ready: limit(nl.not_ready_toleration_seconds),
                    tolerate_unreachable: limit(nl.unreachable_toleration_seconds),
                    deleted: None,
                },
                pending: why,
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
                    && self.created.insert(r.id as usize)
                    && let Some(pod) = self.pods.get(r.id as usize)
                    && let Some(message) = &pod.pending
                {
                    ctx.fact(PodPending {
                        pod: format!("{}/{}", pod.namespace, pod.name),
                        message: message.clone(),
                    });
                }
            }
            Event::Refused { .. } | Event::Closed { .. } | Event::Fault(_) => {}
        }
    }

    fn on_crash(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_topologys_pods_follow_their_rules() {
        let cluster = topology::default_cluster().expect("default topology");
        let pods = initial_pods(&cluster);
        let on = |prefix: &str| -> Vec<&str> {
            pods.iter()
                .filter(|p| p.name.starts_with(prefix))
                .map(|p| p.record.node.as_str())
                .collect()
        };
        assert!(pods.iter().all(|p| p.pending.is_none()), "{pods:?}");
        // web: a hard spread of maxSkew 1 over the two workers is a 2+1 split.
        let web = on("web-");
        assert_eq!(web.len(), 3);
        let workers = ["cloudserver3", "blackboar"];
        assert!(web.iter().all(|n| workers.contains(n)), "{web:?}");
        let mut counts: Vec<usize> = workers
            .iter()
            .map(|w| web.iter().filter(|n| *n == w).count())
            .collect();
        counts.sort();
        assert_eq!(counts, [1, 2], "{web:?}");
        // kv: required anti-affinity, one per node.
        let kv = on("kv-");
        let distinct: BTreeSet<&&str> = kv.iter().collect();
        assert_eq!((kv.len(), distinct.len()), (3, 3), "{kv:?}");
    }
}
