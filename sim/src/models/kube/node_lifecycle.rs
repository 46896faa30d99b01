//! The node lifecycle controller as it runs in the kube-controller-manager leader
//! (`pkg/controller/nodelifecycle`, 1.29-1.32), with the taint eviction controller beside it
//! ([`Countdowns`]).
//!
//! Every `--node-monitor-period` (5 s, counted from the end of the previous pass) a pass reads
//! the node Leases, Nodes and Pods (a LIST each, standing for the informers' caches: a failed
//! LIST leaves the last contents, as a frozen informer does) through the leader's own
//! apiserver, then per node, in name order (`monitorNodeHealth`, `tryUpdateNodeHealth`):
//! - a node first seen by this leader gets `probeTimestamp = now` (a full grace period) and
//!   `markNodeAsReachable`: its NoExecute taints are removed, to be added again through the
//!   queue below, which restarts its pods' countdowns;
//! - a lease whose `renewTime` moved sets `probeTimestamp = now` (the controller's clock);
//! - `now > probe + --node-monitor-grace-period` (strictly) writes Ready=Unknown, together
//!   with the `unreachable:NoSchedule` taint (upstream adds that one a few milliseconds later,
//!   when its own write comes back through the node informer);
//! - `processTaintBaseEviction` on the Ready condition **as read before this pass wrote**:
//!   True removes both NoExecute taints (and the NoSchedule ones); Unknown or False swaps a
//!   NoExecute taint of the other key directly, or else queues the node for tainting. So the
//!   NoExecute taint comes one pass after Ready=Unknown (kubernetes/kubernetes#120815);
//! - a node whose Ready turned from True in this pass, or whose pods could not all be marked,
//!   gets `MarkPodsNotReady`: each of its pods' Ready=False.
//!
//! Then `handleDisruption` computes each zone's state ([`ZoneState`]) from the Ready
//! conditions as they stand after the pass and sets the zone's tainting rate. Each zone's
//! queue is tried every 100 ms through its token bucket; a taint written starts the pods'
//! countdowns. The kubelet writes Ready=True again when it is back (see `kubelet`).
//!
//! A node the operator tainted `node.kubernetes.io/out-of-service` (NoExecute): the taint
//! eviction controller deletes its pods at the next pass (none tolerates that taint), and
//! the pod garbage collector (`gcTerminating`, every 20 s) force-deletes the ones still
//! Terminating while the node is not Ready, so their controllers can replace them. Upstream
//! reacts to the taint through the node informer within milliseconds; here the next pass
//! (at most `--node-monitor-period` later) sees it.
//!
//! Writes carry the `resourceVersion` read; one that fails is tried again at a later pass
//! (a taint of the queue is queued again). The controller's client has no timeout of its own,
//! so a write is given up after the apiserver's write deadline.

use std::collections::{BTreeMap, BTreeSet};

use super::api::{
    ApiError, ApiListResponse, ApiOp, ApiRequest, ApiResponse, Kind, LeaseRecord,
    NODE_LEASE_NAMESPACE, Stored, Versioned, split_name,
};
use super::apiserver::WRITE_TIMEOUT;
use super::facts::{
    NodeReady, NodeTaint, PodEvicted, PodForceDeleted, PodNotReady, ZoneDisruption,
};
use super::objects::{Condition, Effect, NodeRecord, PodRecord, Taint};
use super::taint_eviction::Countdowns;
use super::zones::{
    NODE_EVICTION_PERIOD, TokenBucket, UNHEALTHY_ZONE_THRESHOLD, ZoneState, node_zones,
};
use crate::engine::{Ctx, SimDuration, SimTime};
use crate::models::vip::APISERVER_MODEL;

/// Request ids of the controller start here, apart from the leader election's.
const FIRST_ID: u64 = 1 << 40;

/// The controller's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorConfig {
    /// `--node-monitor-period`.
    pub period: SimDuration,
    /// `--node-monitor-grace-period`.
    pub grace: SimDuration,
    /// `--unhealthy-zone-threshold`.
    pub unhealthy_zone_threshold: f64,
    /// Each node's zone key (`topology.kubernetes.io/region` and `zone` labels); a node not
    /// listed is in the unlabelled zone `""`.
    pub zones: BTreeMap<String, String>,
    /// A planted bug for the invariant's test: a partially disrupted zone keeps tainting at
    /// the normal rate.
    pub planted_taint_in_unhealthy_zone: bool,
}

impl MonitorConfig {
    /// The topology's node-lifecycle timers and its hosts' zone labels.
    pub fn from_topology(cluster: &topology::Cluster) -> Self {
        let nl = &cluster.spec.control_plane.node_lifecycle;
        let s = |v: u32| SimDuration::from_secs(u64::from(v));
        MonitorConfig {
            period: s(nl.node_monitor_period_seconds),
            grace: s(cluster
                .spec
                .control_plane
                .node_monitor_grace_period_seconds()),
            unhealthy_zone_threshold: UNHEALTHY_ZONE_THRESHOLD,
            zones: node_zones(cluster),
            planted_taint_in_unhealthy_zone: false,
        }
    }
}

/// The controller's timers, tagged with the leadership generation that set them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControllerTimer {
    /// A monitor pass starts.
    Pass(u64),
    /// Pass number `.1` ran out of time.
    PassTimeout(u64, u64),
    /// The tainting queues are tried.
    Taint(u64),
    /// A pod's toleration ran out.
    Evict(u64, String),
    /// The pod garbage collector's pass.
    PodGc(u64),
}

/// The pod garbage collector's period (`gcCheckPeriod` in `pkg/controller/podgc`).
pub const POD_GC_PERIOD: SimDuration = SimDuration::from_secs(20);

/// What the controller knows of one node's heartbeat.
#[derive(Clone, Copy, Debug)]
struct NodeHealth {
    renewed: SimTime,
    probe: SimTime,
}

/// The LISTs of a pass.
#[derive(Debug)]
struct Pass {
    number: u64,
    /// The LISTs not answered yet, and what each lists.
    waiting: BTreeMap<u64, Kind>,
    renewals: Vec<(String, SimTime)>,
}

/// A write in flight.
#[derive(Clone, Debug)]
enum Write {
    Node {
        name: String,
        old: NodeRecord,
        new: NodeRecord,
        /// A taint from the queue: queued again if the write fails.
        queued: bool,
    },
    PodNotReady {
        pod: String,
        new: PodRecord,
    },
    Evict {
        pod: String,
        new: PodRecord,
    },
    /// The pod garbage collector's force delete.
    ForceDelete {
        pod: String,
        node: String,
    },
}

/// One zone's state, rate and queue.
#[derive(Debug)]
struct Zone {
    state: ZoneState,
    limiter: TokenBucket,
    queue: Vec<String>,
}

/// The node lifecycle and taint eviction controllers, alive while their process leads.
#[derive(Debug)]
pub struct NodeMonitor {
    config: MonitorConfig,
    /// Bumped on every start and stop: timers of another leadership are ignored.
    generation: u64,
    leading: bool,
    next_id: u64,
    passes: u64,
    pass: Option<Pass>,
    leases: BTreeMap<String, SimTime>,
    nodes: BTreeMap<String, Versioned<NodeRecord>>,
    pods: BTreeMap<String, Versioned<PodRecord>>,
    health: BTreeMap<String, NodeHealth>,
    writes: BTreeMap<u64, (SimTime, Write)>,
    zones: BTreeMap<String, Zone>,
    all_fully_disrupted: bool,
    /// Nodes whose pods are still to be marked not ready.
    pods_to_mark: BTreeSet<String>,
    /// Evictions whose write failed, tried again at the next pass.
    evictions_to_retry: BTreeSet<String>,
    countdowns: Countdowns,
    taint_tick: bool,
}

impl NodeMonitor {
    /// A controller with `config`.
    pub fn new(config: MonitorConfig) -> Self {
        NodeMonitor {
            config,
            generation: 0,
            leading: false,
            next_id: FIRST_ID,
            passes: 0,
            pass: None,
            leases: BTreeMap::new(),
            nodes: BTreeMap::new(),
            pods: BTreeMap::new(),
            health: BTreeMap::new(),
            writes: BTreeMap::new(),
            zones: BTreeMap::new(),
            all_fully_disrupted: false,
            pods_to_mark: BTreeSet::new(),
            evictions_to_retry: BTreeSet::new(),
            countdowns: Countdowns::default(),
            taint_tick: false,
        }
    }

    /// Whether request `id` is the controller's.
    pub fn owns(&self, id: u64) -> bool {
        id >= FIRST_ID
    }

    /// Leadership is won: the first pass at once, with empty caches.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.stop();
        self.leading = true;
        ctx.set_timer(SimDuration::ZERO, ControllerTimer::Pass(self.generation));
        ctx.set_timer(POD_GC_PERIOD, ControllerTimer::PodGc(self.generation));
    }

    /// Leadership is gone: what the controllers knew goes with it.
    pub fn stop(&mut self) {
        let next_id = self.next_id;
        let generation = self.generation + 1;
        *self = NodeMonitor::new(self.config.clone());
        self.next_id = next_id;
        self.generation = generation;
    }

    fn send(&mut self, ctx: &mut Ctx<'_>, op: ApiOp) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        if let Some(api) = ctx.directory().actor_on(ctx.host(), APISERVER_MODEL) {
            ctx.send(api, ApiRequest { id, op });
        }
        id
    }

    /// A timer of the controller fired.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: &ControllerTimer) {
        match timer {
            ControllerTimer::Pass(g) if *g == self.generation && self.leading => {
                self.begin_pass(ctx);
            }
            ControllerTimer::PassTimeout(g, n)
                if *g == self.generation && self.pass.as_ref().is_some_and(|p| p.number == *n) =>
            {
                self.end_pass(ctx);
            }
            ControllerTimer::Taint(g) if *g == self.generation => {
                self.taint_tick = false;
                self.try_queues(ctx);
            }
            ControllerTimer::PodGc(g) if *g == self.generation => {
                self.gc_terminating(ctx);
                ctx.set_timer(POD_GC_PERIOD, ControllerTimer::PodGc(self.generation));
            }
            ControllerTimer::Evict(g, pod)
                if *g == self.generation && self.countdowns.fired(pod, ctx.now()).is_some() =>
            {
                self.evict(ctx, pod);
            }
            _ => {}
        }
    }

    fn begin_pass(&mut self, ctx: &mut Ctx<'_>) {
        if self.pass.is_some() {
            return;
        }
        self.passes += 1;
        let mut waiting = BTreeMap::new();
        let lists = [
            (
                Kind::Lease,
                ApiOp::list::<LeaseRecord>(NODE_LEASE_NAMESPACE),
            ),
            (Kind::Node, ApiOp::list::<NodeRecord>("")),
            (Kind::Pod, ApiOp::list::<PodRecord>("")),
        ];
        for (kind, op) in lists {
            waiting.insert(self.send(ctx, op), kind);
        }
        self.pass = Some(Pass {
            number: self.passes,
            waiting,
            renewals: Vec::new(),
        });
        let timeout = ControllerTimer::PassTimeout(self.generation, self.passes);
        ctx.set_timer(self.config.period, timeout);
    }

    /// A LIST came back. Returns whether it was the controller's.
    pub fn on_list(&mut self, ctx: &mut Ctx<'_>, resp: &ApiListResponse) -> bool {
        let Some(pass) = self.pass.as_mut() else {
            return self.owns(resp.id);
        };
        let Some(kind) = pass.waiting.remove(&resp.id) else {
            return self.owns(resp.id);
        };
        // A successful LIST is the whole collection: what it no longer has was deleted (a
        // pod its kubelet finished, or one force-deleted).
        if let Ok(items) = &resp.result {
            let listed: BTreeSet<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
            match kind {
                Kind::Node => self.nodes.retain(|n, _| listed.contains(n.as_str())),
                Kind::Pod => self.pods.retain(|n, _| listed.contains(n.as_str())),
                Kind::Lease | Kind::Workload | Kind::Pdb | Kind::EndpointSlice => {}
            }
        }
        for (name, stored) in resp.result.iter().flatten() {
            match kind {
                Kind::Lease => {
                    if let Some(lease) = stored.decode::<LeaseRecord>() {
                        pass.renewals.push((name.clone(), lease.object.renewed));
                    }
                }
                Kind::Node => {
                    if let Some(node) = stored.decode::<NodeRecord>() {
                        merge(&mut self.nodes, name, node);
                    }
                }
                Kind::Pod => {
                    if let Some(pod) = stored.decode::<PodRecord>() {
                        merge(&mut self.pods, name, pod);
                    }
                }
                Kind::Workload | Kind::Pdb | Kind::EndpointSlice => {}
            }
        }
        if pass.waiting.is_empty() {
            self.end_pass(ctx);
        }
        true
    }

    /// Request `id` was refused (the local apiserver is down).
    pub fn on_refused(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        if self
            .pass
            .as_ref()
            .is_some_and(|p| p.waiting.contains_key(&id))
        {
            let failed = ApiListResponse {
                id,
                result: Err(ApiError::Unavailable),
                revision: 0,
            };
            self.on_list(ctx, &failed);
            return;
        }
        let failed = ApiResponse {
            id,
            result: Err(ApiError::Unavailable),
        };
        self.on_response(ctx, &failed);
    }

    fn end_pass(&mut self, ctx: &mut Ctx<'_>) {
        let Some(pass) = self.pass.take() else {
            return;
        };
        let now = ctx.now();
        for (node, renewed) in pass.renewals {
            self.leases.insert(node, renewed);
        }
        // Writes the apiserver has given up on by now are failed.
        let expired: Vec<u64> = self
            .writes
            .iter()
            .filter(|(_, (sent, _))| now.saturating_since(*sent) > WRITE_TIMEOUT)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let failed = ApiResponse {
                id,
                result: Err(ApiError::Timeout),
            };
            self.on_response(ctx, &failed);
        }
        self.judge(ctx);
        self.evict_out_of_service(ctx);
        ctx.set_timer(self.config.period, ControllerTimer::Pass(self.generation));
    }

    /// The Ready condition a write in flight on `node` sets, if one is in flight.
    fn pending(&self, node: &str) -> Option<Condition> {
        self.writes.values().find_map(|(_, w)| match w {
            Write::Node { name, new, .. } if name == node => Some(new.ready),
            _ => None,
        })
    }

    fn busy(&self, node: &str) -> bool {
        self.pending(node).is_some()
    }

    fn zone_of(&self, node: &str) -> String {
        self.config.zones.get(node).cloned().unwrap_or_default()
    }

    fn judge(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for name in names {
            let renewed = self.leases.get(&name).copied().unwrap_or(SimTime::ZERO);
            let added = !self.health.contains_key(&name);
            let health = self.health.entry(name.clone()).or_insert(NodeHealth {
                renewed,
                probe: now,
            });
            if renewed > health.renewed {
                health.renewed = renewed;
                health.probe = now;
            }
            let health = *health;
            let Some(node) = self.nodes.get(&name).cloned() else {
                continue;
            };
            let observed = node.object.ready;
            // Upstream's pass waits for its writes; here a write still in flight counts as
            // done for the zone's verdict.
            let mut current = self.pending(&name).unwrap_or(observed);
            if !self.busy(&name) {
                let mut new = node.object.clone();
                if added || self.all_fully_disrupted {
                    self.mark_reachable(&name, &mut new, now);
                }
                if now > health.probe + self.config.grace && observed != Condition::Unknown {
                    new.ready = Condition::Unknown;
                    new.swap(Effect::NoSchedule, Condition::Unknown.taint_key(), now);
                    current = Condition::Unknown;
                }
                // NoExecute follows the condition as read before this pass; NoSchedule
                // follows the node as written (`doNoScheduleTaintingPass` on its update).
                match observed.taint_key() {
                    None => self.mark_reachable(&name, &mut new, now),
                    Some(key) => {
                        let other = new.no_execute().any(|t| t.key != key);
                        if other {
                            new.swap(Effect::NoExecute, Some(key), now);
                        } else if !new.has(key, Effect::NoExecute) && !self.all_fully_disrupted {
                            self.enqueue(&name);
                        }
                    }
                }
                new.swap(Effect::NoSchedule, new.ready.taint_key(), now);
                if new != node.object {
                    self.write_node(ctx, &name, &node, new, false);
                }
            }
            if current != Condition::True
                && (observed == Condition::True || self.pods_to_mark.contains(&name))
            {
                self.mark_pods_not_ready(ctx, &name);
            }
            let c = counts.entry(self.zone_of(&name)).or_default();
            if current == Condition::True {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
        self.handle_disruption(ctx, &counts);
        for pod in std::mem::take(&mut self.evictions_to_retry) {
            self.evict(ctx, &pod);
        }
        self.schedule_taint_tick(ctx);
    }

    /// `markNodeAsReachable`: no NoExecute taints, and out of the tainting queue.
    fn mark_reachable(&mut self, name: &str, node: &mut NodeRecord, now: SimTime) {
        node.swap(Effect::NoExecute, None, now);
        for zone in self.zones.values_mut() {
            zone.queue.retain(|n| n != name);
        }
    }

    fn enqueue(&mut self, name: &str) {
        let now_zone = self.zone_of(name);
        let zone = self.zones.entry(now_zone).or_insert_with(|| Zone {
            state: ZoneState::Normal,
            limiter: TokenBucket::new(ZoneState::Normal.qps(0), SimTime::ZERO),
            queue: Vec::new(),
        });
        if !zone.queue.iter().any(|n| n == name) {
            zone.queue.push(name.to_owned());
        }
    }

    /// `handleDisruption`: each zone's state from the conditions after this pass, and its rate.
    fn handle_disruption(&mut self, ctx: &mut Ctx<'_>, counts: &BTreeMap<String, (usize, usize)>) {
        let now = ctx.now();
        let all_full =
            !counts.is_empty() && counts.values().all(|&(ready, not)| ready == 0 && not > 0);
        if self.all_fully_disrupted && !all_full {
            // Leaving: every node gets a fresh grace period.
            for h in self.health.values_mut() {
                h.probe = now;
            }
        }
        self.all_fully_disrupted = all_full;
        for (zone_key, &(ready, not_ready)) in counts {
            let state = ZoneState::compute(ready, not_ready, self.config.unhealthy_zone_threshold);
            let size = ready + not_ready;
            let mut qps = if all_full { 0.0 } else { state.qps(size) };
            if self.config.planted_taint_in_unhealthy_zone && state == ZoneState::PartialDisruption
            {
                qps = ZoneState::Normal.qps(size);
            }
            let zone = self.zones.entry(zone_key.clone()).or_insert_with(|| Zone {
                state: ZoneState::Normal,
                limiter: TokenBucket::new(ZoneState::Normal.qps(size), now),
                queue: Vec::new(),
            });
            if zone.limiter.qps() != qps {
                zone.limiter.swap(qps, now);
            }
            if zone.state != state {
                zone.state = state;
                ctx.fact(ZoneDisruption {
                    zone: zone_key.clone(),
                    state: state.as_str(),
                    eviction_qps: qps,
                });
            }
        }
    }

    fn schedule_taint_tick(&mut self, ctx: &mut Ctx<'_>) {
        let queued = self.zones.values().any(|z| !z.queue.is_empty());
        if queued && !self.taint_tick && self.leading {
            self.taint_tick = true;
            ctx.set_timer(
                NODE_EVICTION_PERIOD,
                ControllerTimer::Taint(self.generation),
            );
        }
    }

    /// `doNoExecuteTaintingPass`: each zone's queue, as far as its limiter lets it.
    fn try_queues(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let keys: Vec<String> = self.zones.keys().cloned().collect();
        for key in keys {
            while let Some(zone) = self.zones.get_mut(&key) {
                let Some(name) = zone.queue.first().cloned() else {
                    break;
                };
                if !zone.limiter.try_accept(now) {
                    break;
                }
                zone.queue.remove(0);
                let Some(node) = self.nodes.get(&name).cloned() else {
                    continue;
                };
                if self.busy(&name) {
                    // Its other write decides; the next pass queues it again if need be.
                    continue;
                }
                let Some(taint) = node.object.ready.taint_key() else {
                    continue;
                };
                let mut new = node.object.clone();
                new.swap(Effect::NoExecute, Some(taint), now);
                if new != node.object {
                    self.write_node(ctx, &name, &node, new, true);
                }
            }
        }
        self.schedule_taint_tick(ctx);
    }

    fn write_node(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: &str,
        node: &Versioned<NodeRecord>,
        new: NodeRecord,
        queued: bool,
    ) {
        let op = ApiOp::put("", name, &new, Some(node.resource_version));
        let id = self.send(ctx, op);
        let write = Write::Node {
            name: name.to_owned(),
            old: node.object.clone(),
            new,
            queued,
        };
        self.writes.insert(id, (ctx.now(), write));
    }

    fn pods_on(&self, node: &str) -> Vec<(String, PodRecord)> {
        self.pods
            .iter()
            .filter(|(_, p)| p.object.node == node)
            .map(|(n, p)| (n.clone(), p.object.clone()))
            .collect()
    }

    /// The nodes the operator took out of service.
    fn out_of_service(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.object.out_of_service)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The taint eviction controller on the out-of-service taint: every pod there goes.
    fn evict_out_of_service(&mut self, ctx: &mut Ctx<'_>) {
        for node in self.out_of_service() {
            for (pod, p) in self.pods_on(&node) {
                if p.deleted.is_none() && !self.writing_pod(&pod) {
                    self.evict(ctx, &pod);
                }
            }
        }
    }

    /// `gcTerminating`: Terminating pods on an out-of-service node that is not Ready are
    /// deleted for good.
    fn gc_terminating(&mut self, ctx: &mut Ctx<'_>) {
        for node in self.out_of_service() {
            let ready = self
                .nodes
                .get(&node)
                .is_some_and(|n| n.object.ready == Condition::True);
            if ready {
                continue;
            }
            for (pod, p) in self.pods_on(&node) {
                if p.deleted.is_some() && !self.writing_pod(&pod) {
                    let (namespace, short) = split_name(&pod);
                    let id = self.send(ctx, ApiOp::delete::<PodRecord>(namespace, short));
                    let write = Write::ForceDelete {
                        pod,
                        node: node.clone(),
                    };
                    self.writes.insert(id, (ctx.now(), write));
                }
            }
        }
    }

    fn writing_pod(&self, pod: &str) -> bool {
        self.writes.values().any(|(_, w)| match w {
            Write::PodNotReady { pod: p, .. }
            | Write::Evict { pod: p, .. }
            | Write::ForceDelete { pod: p, .. } => p == pod,
            Write::Node { .. } => false,
        })
    }

    /// `MarkPodsNotReady`.
    fn mark_pods_not_ready(&mut self, ctx: &mut Ctx<'_>, node: &str) {
        self.pods_to_mark.remove(node);
        let pods: Vec<(String, Versioned<PodRecord>)> = self
            .pods
            .iter()
            .filter(|(_, p)| p.object.node == node && p.object.ready)
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect();
        for (name, pod) in pods {
            let new = PodRecord {
                ready: false,
                ..pod.object.clone()
            };
            let (namespace, short) = split_name(&name);
            let id = self.send(
                ctx,
                ApiOp::put(namespace, short, &new, Some(pod.resource_version)),
            );
            let write = Write::PodNotReady { pod: name, new };
            self.writes.insert(id, (ctx.now(), write));
        }
    }

    /// The taint eviction controller deletes `pod` (a graceful delete: the pod is terminating
    /// until its kubelet confirms, which a dead node never does).
    fn evict(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        let Some(pod) = self.pods.get(name).cloned() else {
            return;
        };
        if pod.object.deleted.is_some() {
            return;
        }
        let new = PodRecord {
            deleted: Some(ctx.now()),
            ..pod.object.clone()
        };
        let (namespace, short) = split_name(name);
        let id = self.send(
            ctx,
            ApiOp::put(namespace, short, &new, Some(pod.resource_version)),
        );
        let write = Write::Evict {
            pod: name.to_owned(),
            new,
        };
        self.writes.insert(id, (ctx.now(), write));
    }

    /// A write's answer. Returns whether it was the controller's.
    pub fn on_response(&mut self, ctx: &mut Ctx<'_>, resp: &ApiResponse) -> bool {
        let Some((_, write)) = self.writes.remove(&resp.id) else {
            return self.owns(resp.id);
        };
        match (write, &resp.result) {
            (Write::Node { name, old, new, .. }, Ok(stored)) => {
                self.node_written(ctx, &name, &old, new, stored);
            }
            (Write::Node { name, queued, .. }, Err(_)) => {
                if queued {
                    self.enqueue(&name);
                    self.schedule_taint_tick(ctx);
                }
            }
            (Write::PodNotReady { pod, new }, Ok(stored)) => {
                ctx.fact(PodNotReady {
                    pod: pod.clone(),
                    node: new.node.clone(),
                });
                self.pod_written(pod, new, stored);
            }
            (Write::PodNotReady { new, .. }, Err(_)) => {
                self.pods_to_mark.insert(new.node);
            }
            (Write::Evict { pod, new }, Ok(stored)) => {
                ctx.fact(PodEvicted {
                    pod: pod.clone(),
                    node: new.node.clone(),
                });
                self.pod_written(pod, new, stored);
            }
            (Write::Evict { pod, .. }, Err(_)) => {
                self.evictions_to_retry.insert(pod);
            }
            (Write::ForceDelete { pod, node }, Ok(_) | Err(ApiError::NotFound)) => {
                self.pods.remove(&pod);
                ctx.fact(PodForceDeleted { pod, node });
            }
            // The next collection tries again.
            (Write::ForceDelete { .. }, Err(_)) => {}
        }
        true
    }

    fn pod_written(&mut self, pod: String, new: PodRecord, stored: &Stored) {
        let v = Versioned {
            object: new,
            resource_version: stored.resource_version,
        };
        self.pods.insert(pod, v);
    }

    fn node_written(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: &str,
        old: &NodeRecord,
        new: NodeRecord,
        stored: &Stored,
    ) {
        if old.ready != new.ready {
            ctx.fact(NodeReady {
                node: name.to_owned(),
                ready: new.ready == Condition::True,
            });
        }
        let same = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
        for t in &old.taints {
            if !new.taints.iter().any(|n| same(n, t)) {
                taint_fact(ctx, name, t, false);
            }
        }
        for t in &new.taints {
            if !old.taints.iter().any(|o| same(o, t)) {
                taint_fact(ctx, name, t, true);
            }
        }
        let keys = |n: &NodeRecord| n.no_execute().map(|t| t.key).collect::<Vec<_>>();
        let taints = keys(&new);
        let no_execute_changed = keys(old) != taints;
        self.nodes.insert(
            name.to_owned(),
            Versioned {
                object: new,
                resource_version: stored.resource_version,
            },
        );
        if no_execute_changed {
            let pods = self.pods_on(name);
            let generation = self.generation;
            self.countdowns
                .node_updated(ctx, name, &taints, &pods, |pod| {
                    ControllerTimer::Evict(generation, pod.to_owned())
                });
        }
    }
}

fn taint_fact(ctx: &mut Ctx<'_>, node: &str, t: &Taint, added: bool) {
    ctx.fact(NodeTaint {
        node: node.to_owned(),
        key: t.key.as_str(),
        effect: t.effect.as_str(),
        added,
    });
}

/// A LISTed object replaces the cached one unless the cache already holds a newer version
/// (the controller's own write came back first).
fn merge<T>(cache: &mut BTreeMap<String, Versioned<T>>, name: &str, fresh: Versioned<T>) {
    let newer = cache
        .get(name)
        .is_none_or(|c| c.resource_version <= fresh.resource_version);
    if newer {
        cache.insert(name.to_owned(), fresh);
    }
}
