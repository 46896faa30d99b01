//! The workload controllers of the kube-controller-manager leader, over informers on the
//! workload objects and the Pods of the leader's own apiserver. A workload is acted on once
//! its object exists (the operator applies them once the nodes have joined: see `apply`),
//! with the replica count the object says:
//! - **ReplicaSet** (`pkg/controller/replicaset`, what a Deployment's pods come from): the
//!   active pods are the owner's pods without a `deletionTimestamp` (`FilterActivePods`); a
//!   pod being deleted (evicted from a dead node, Terminating for as long as its kubelet
//!   is gone) no longer counts, so a replacement is created at once, named
//!   `<name>-<five random characters>`. Creations not yet seen
//!   come back through the informer count as made (the controller's "expectations"), so
//!   nothing is created twice.
//! - **StatefulSet** (`pkg/controller/statefulset`, `podManagementPolicy: OrderedReady`, the
//!   default): replica `i` is always the pod `<name>-<i>`. Ordinals are walked upwards: a
//!   missing pod is created and the walk stops; a pod not Ready, or Terminating, stops the
//!   walk. A Terminating pod is never replaced while its object exists: on a dead node it
//!   stays until the node returns (its kubelet finishes the deletion) or an operator
//!   force-deletes it.
//! - **DaemonSet** (`pkg/controller/daemon`): one pod per node its pod fits, created bound to
//!   that node, tolerating `not-ready` and `unreachable` without limit.
//!
//! A failed creation is retried through the controllers' work queue rate limiter
//! (`DefaultControllerRateLimiter`: 5 ms doubling per failure, at most 1000 s; one counter for
//! all workloads here, upstream's is per item), and any informer event syncs at once. Scaling down
//! (HPA), rolling updates and ReplicaSet's slow-start batches are not modelled.

use std::collections::BTreeMap;

use rand::Rng;
use topology::policy::scheduler::cluster::place_workloads;
use topology::{Cluster, WorkloadKind};

use super::api::{ApiError, ApiOp, Stored, split_name};
use super::disruption::DisruptionController;
use super::endpointslice::EndpointSliceController;
use super::facts::PodCreated;
use super::informer::{ApiPath, Informer};
use super::objects::{PodRecord, WorkloadRecord};
use super::writes::{SyncOutcome as Outcome, Writes};
use crate::engine::{Ctx, Event, Port, SimDuration, SimTime, route_to};

/// The controllers' Pod informer's port.
const PODS_PORT: Port = Port(10);
/// The port their creations go out and come back on.
const WRITES_PORT: Port = Port(11);
/// The workload objects' informer's port.
const WORKLOADS_PORT: Port = Port(12);
/// How long a creation stays expected without the informer showing it
/// (`ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT: SimDuration = SimDuration::from_secs(300);
/// `DefaultControllerRateLimiter`'s per-item base delay.
pub const RETRY_BASE: SimDuration = SimDuration::from_millis(5);
/// Its longest delay.
pub const RETRY_MAX: SimDuration = SimDuration::from_secs(1000);

/// One workload as its controller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Namespace.
    pub namespace: String,
    /// Name (the pods' owner).
    pub name: String,
    /// Its controller.
    pub kind: WorkloadKind,
    /// `spec.replicas` (unused for a DaemonSet).
    pub replicas: u32,
    /// `tolerationSeconds` of the pods' `not-ready` and `unreachable` NoExecute tolerations
    /// (`None`: without limit).
    pub tolerate: [Option<u64>; 2],
    /// A DaemonSet's nodes: those its pod fits.
    pub daemon_nodes: Vec<String>,
}

/// Every workload of `cluster`: the DefaultTolerationSeconds admission plugin's tolerations
/// from the topology (a DaemonSet's without limit), a DaemonSet's nodes by the scheduler's
/// filters.
pub fn workload_specs(cluster: &Cluster) -> Vec<WorkloadSpec> {
    let nl = &cluster.spec.control_plane.node_lifecycle;
    cluster
        .spec
        .workloads
        .iter()
        .zip(place_workloads(cluster))
        .map(|(w, placed)| {
            let daemon = w.kind == WorkloadKind::DaemonSet;
            let limit = |secs: u32| (!daemon).then_some(u64::from(secs));
            WorkloadSpec {
                namespace: w.namespace.clone(),
                name: w.name.clone(),
                kind: w.kind,
                replicas: w.replicas,
                tolerate: [
                    limit(nl.not_ready_toleration_seconds),
                    limit(nl.unreachable_toleration_seconds),
                ],
                daemon_nodes: if daemon { placed.nodes } else { Vec::new() },
            }
        })
        .collect()
}

/// A retry of the controllers' sync, tagged with the leadership generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkloadResync(u64);

/// The ReplicaSet, StatefulSet and DaemonSet controllers.
#[derive(Debug)]
pub struct WorkloadControllers {
    specs: Vec<WorkloadSpec>,
    workloads: Informer,
    pods: Informer,
    /// Creations in flight, by pod (`namespace/name`) and owner.
    creations: Writes<(String, String)>,
    /// The disruption controller, sharing the Pod and workload informers.
    disruption: DisruptionController,
    /// The EndpointSlice controller, sharing them too.
    endpoints: EndpointSliceController,
    /// Pods created and not yet seen by the informer: when, and their owner (the
    /// "expectations").
    expected: BTreeMap<String, (SimTime, String)>,
    failures: u32,
    generation: u64,
    retry_armed: bool,
}

impl WorkloadControllers {
    /// The controllers of `specs`.
    pub fn new(specs: Vec<WorkloadSpec>) -> Self {
        WorkloadControllers {
            specs,
            workloads: Informer::new::<WorkloadRecord>("", ApiPath::Local),
            pods: Informer::new::<PodRecord>("", ApiPath::Local),
            creations: Writes::new(ApiPath::Local, WRITES_PORT),
            disruption: DisruptionController::default(),
            endpoints: EndpointSliceController::default(),
            expected: BTreeMap::new(),
            failures: 0,
            generation: 0,
            retry_armed: false,
        }
    }

    /// Leadership won: start the informer; the first sync follows its LIST.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.stop();
        self.workloads.start(&mut ctx.scoped(WORKLOADS_PORT));
        self.pods.start(&mut ctx.scoped(PODS_PORT));
        self.disruption.start(ctx);
        self.endpoints.start(ctx);
    }

    /// Leadership lost: forget everything.
    pub fn stop(&mut self) {
        self.generation += 1;
        self.workloads.stop();
        self.pods.stop();
        self.creations.clear();
        self.disruption.stop();
        self.endpoints.stop();
        self.expected.clear();
        self.failures = 0;
        self.retry_armed = false;
    }

    /// Takes the event if it is the controllers' own.
    pub fn offer<'e>(&mut self, ctx: &mut Ctx<'_>, event: Event<'e>) -> Result<(), Event<'e>> {
        let event = match route_to(&mut self.pods, PODS_PORT, ctx, event) {
            Ok(changes) => {
                if !changes.is_empty() {
                    self.sync(ctx);
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let event = match route_to(&mut self.workloads, WORKLOADS_PORT, ctx, event) {
            Ok(changes) => {
                if !changes.is_empty() {
                    self.sync(ctx);
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let outcome = match self.disruption.offer(ctx, event) {
            Ok(o) => Ok(o),
            Err(e) => self.endpoints.offer(ctx, e),
        };
        let event = match outcome {
            Ok(Outcome::Changed) => {
                self.sync(ctx);
                return Ok(());
            }
            Ok(Outcome::WriteFailed) => {
                self.retry_later(ctx);
                return Ok(());
            }
            Ok(Outcome::Nothing) => return Ok(()),
            Err(e) => e,
        };
        let event = match route_to(&mut self.creations, WRITES_PORT, ctx, event) {
            Ok(done) => {
                for ((pod, owner), result) in done {
                    self.created(ctx, pod, owner, &result);
                }
                return Ok(());
            }
            Err(e) => e,
        };
        if let Event::Timer { tag, .. } = &event
            && let Some(WorkloadResync(g)) = tag.downcast_ref::<WorkloadResync>()
        {
            if *g == self.generation {
                self.retry_armed = false;
                self.sync(ctx);
            }
            return Ok(());
        }
        Err(event)
    }

    fn created(
        &mut self,
        ctx: &mut Ctx<'_>,
        pod: String,
        workload: String,
        result: &Result<Stored, ApiError>,
    ) {
        match result {
            Ok(_) => {
                self.failures = 0;
                self.expected
                    .insert(pod.clone(), (ctx.now(), workload.clone()));
                ctx.fact(PodCreated { pod, workload });
            }
            // It exists: the informer will say so.
            Err(ApiError::Conflict) => {}
            Err(_) => self.retry_later(ctx),
        }
    }

    /// A write failed: sync again after the rate limiter's delay.
    fn retry_later(&mut self, ctx: &mut Ctx<'_>) {
        self.failures += 1;
        if !self.retry_armed {
            self.retry_armed = true;
            let shift = self.failures.saturating_sub(1).min(20);
            let delay = SimDuration::from_nanos(RETRY_BASE.as_nanos() << shift).min(RETRY_MAX);
            ctx.scoped(Port::MAIN)
                .set_timer(delay, WorkloadResync(self.generation));
        }
    }

    fn pod(&self, full: &str) -> Option<PodRecord> {
        self.pods.objects().get(full)?.object()
    }

    /// Whether `full` exists or is being created.
    fn known(&self, full: &str) -> bool {
        self.pods.objects().contains_key(full) || self.creating(full)
    }

    fn creating(&self, full: &str) -> bool {
        self.creations.keys().any(|(pod, _)| pod == full) || self.expected.contains_key(full)
    }

    fn create(&mut self, ctx: &mut Ctx<'_>, spec: &WorkloadSpec, name: &str, node: &str) {
        let mut record = PodRecord::new(&spec.name, spec.tolerate);
        record.node = node.to_owned();
        let op = ApiOp::put(&spec.namespace, name, &record, None);
        let full = format!("{}/{name}", spec.namespace);
        self.creations.send(ctx, op, (full, spec.name.clone()));
    }

    /// Brings every workload towards its spec.
    fn sync(&mut self, ctx: &mut Ctx<'_>) {
        if !self.pods.synced() || !self.workloads.synced() {
            return;
        }
        // Creations that succeeded stay expected until the informer shows them, or for
        // `ExpectationsTimeout` (5 min) at most.
        let now = ctx.now();
        let cache = self.pods.objects();
        self.expected.retain(|pod, (since, _)| {
            !cache.contains_key(pod) && now.saturating_since(*since) < EXPECTATIONS_TIMEOUT
        });
        self.disruption
            .sync(ctx, self.pods.objects(), self.workloads.objects());
        self.endpoints
            .sync(ctx, self.pods.objects(), self.workloads.objects());
        for mut spec in self.specs.clone() {
            let full = format!("{}/{}", spec.namespace, spec.name);
            let Some(object) = self
                .workloads
                .objects()
                .get(&full)
                .and_then(|s| s.object::<WorkloadRecord>())
            else {
                continue;
            };
            spec.replicas = object.replicas;
            match spec.kind {
                WorkloadKind::Deployment => self.sync_replicaset(ctx, &spec),
                WorkloadKind::StatefulSet => self.sync_statefulset(ctx, &spec),
                WorkloadKind::DaemonSet => self.sync_daemonset(ctx, &spec),
            }
        }
    }

    fn sync_replicaset(&mut self, ctx: &mut Ctx<'_>, spec: &WorkloadSpec) {
        let prefix = format!("{}/", spec.namespace);
        let active = self
            .pods
            .objects()
            .iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .filter_map(|(n, s)| Some((n, s.object::<PodRecord>()?)))
            .filter(|(n, p)| p.owner == spec.name && p.deleted.is_none() && !self.creating(n))
            .count();
        let creating = self.creations_of(spec);
        let missing = (spec.replicas as usize).saturating_sub(active + creating);
        for _ in 0..missing {
            let name = loop {
                let name = format!("{}-{}", spec.name, random_suffix(ctx));
                if !self.known(&format!("{prefix}{name}")) {
                    break name;
                }
            };
            self.create(ctx, spec, &name, "");
        }
    }

    fn creations_of(&self, spec: &WorkloadSpec) -> usize {
        let mine =
            |full: &str, owner: &str| owner == spec.name && split_name(full).0 == spec.namespace;
        let in_flight = self
            .creations
            .keys()
            .filter(|(full, owner)| mine(full, owner))
            .count();
        let expected = self
            .expected
            .iter()
            .filter(|(full, (_, owner))| mine(full, owner))
            .count();
        in_flight + expected
    }

    fn sync_statefulset(&mut self, ctx: &mut Ctx<'_>, spec: &WorkloadSpec) {
        for i in 0..spec.replicas {
            let name = format!("{}-{i}", spec.name);
            let full = format!("{}/{name}", spec.namespace);
            if self.creating(&full) {
                return;
            }
            match self.pod(&full) {
                None => {
                    self.create(ctx, spec, &name, "");
                    return;
                }
                Some(p) if p.deleted.is_some() || !p.ready => return,
                Some(_) => {}
            }
        }
    }

    fn sync_daemonset(&mut self, ctx: &mut Ctx<'_>, spec: &WorkloadSpec) {
        for node in &spec.daemon_nodes {
            let name = format!("{}-{node}", spec.name);
            if !self.known(&format!("{}/{name}", spec.namespace)) {
                self.create(ctx, spec, &name, node);
            }
        }
    }
}

/// The alphabet of `generateName` suffixes (`utilrand.String`: no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A pod name's random five-character suffix, from the run's random stream (upstream names a
/// ReplicaSet's pods `<name>-<template hash>-<suffix>`; one template here, so no hash).
fn random_suffix(ctx: &mut Ctx<'_>) -> String {
    (0..5)
        .map(|_| {
            let i = ctx.rng().random_range(0..SUFFIX_ALPHABET.len());
            char::from(SUFFIX_ALPHABET[i])
        })
        .collect()
}
