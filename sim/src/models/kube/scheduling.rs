//! kube-scheduler's leader: Pod and Node informers on its own apiserver, the scheduling queue
//! (`pkg/scheduler/internal/queue`, v1.31-v1.34 defaults) and the default profile's policy
//! ([`topology::policy::scheduler`], the same code `spofless check` places with).
//!
//! - A new unbound pod enters the active queue at once; pods are scheduled one at a time in
//!   queue order. A bound pod is "assumed" on its node until the informer shows the binding,
//!   so the next pod sees it.
//! - A pod no node takes gets its FailedScheduling message and waits with the unschedulable
//!   pods. A cluster event that may free room (a Node added or changed, an assigned Pod
//!   deleted or Terminating) moves them out: to the active queue if their back-off is over,
//!   else to the back-off queue. (Upstream's queueing hints skip the events that cannot help a
//!   given pod; moving every pod only costs a retry that fails again.) The back-off is
//!   `podInitialBackoffSeconds` (1 s) doubled per failed attempt up to
//!   `podMaxBackoffSeconds` (10 s); the back-off queue is flushed every second, the
//!   unschedulable pods every 30 s once they waited `podMaxInUnschedulablePodsDuration`
//!   (5 min).
//! - A failed binding forgets the assumption and sends the pod to back-off.
//!
//! Nodes are the registered Node objects, with the topology's labels, resources and kubeadm's
//! control-plane taint, and the node controller's taints and the cordon as the Node object
//! has them; pods
//! are the workloads' pods as `render` writes them.

use std::collections::{BTreeMap, VecDeque};

use topology::Cluster;
use topology::policy::scheduler::cluster::{nodes as topology_nodes, workload_pod};
use topology::policy::scheduler::{
    Node as PolicyNode, OUT_OF_SERVICE_TAINT, OUT_OF_SERVICE_VALUE, Outcome, Placed,
    Pod as PolicyPod, Taint as PolicyTaint, TaintEffect, UNSCHEDULABLE_TAINT, schedule,
};

use super::api::{ApiError, ApiOp, Stored, split_name};
use super::elector::LeaderWork;
use super::facts::{PodPending, PodScheduled};
use super::informer::{ApiPath, Change, Informer};
use super::objects::{Effect, NodeRecord, PodRecord};
use super::writes::Writes;
use crate::engine::{Ctx, Event, Port, SimDuration, SimTime, route_to};

/// `podInitialBackoffSeconds`.
pub const INITIAL_BACKOFF: SimDuration = SimDuration::from_secs(1);
/// `podMaxBackoffSeconds`.
pub const MAX_BACKOFF: SimDuration = SimDuration::from_secs(10);
/// How often the back-off queue is flushed (`flushBackoffQCompleted`, every second).
pub const BACKOFF_FLUSH: SimDuration = SimDuration::from_secs(1);
/// How often long-unschedulable pods are flushed (`flushUnschedulablePodsLeftover`).
pub const UNSCHEDULABLE_FLUSH: SimDuration = SimDuration::from_secs(30);
/// `podMaxInUnschedulablePodsDuration`.
pub const MAX_IN_UNSCHEDULABLE: SimDuration = SimDuration::from_secs(300);

const PODS_PORT: Port = Port(10);
const BINDS_PORT: Port = Port(11);
const NODES_PORT: Port = Port(12);

/// `calculateBackoffDuration`: the initial back-off doubled per attempt after the first, at
/// most the maximum.
pub fn backoff(attempts: u32) -> SimDuration {
    let mut d = INITIAL_BACKOFF;
    for _ in 1..attempts {
        d = d + d;
        if d > MAX_BACKOFF {
            return MAX_BACKOFF;
        }
    }
    d
}

/// What the scheduler knows from the topology.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Every host as a node, in topology order (the tie-break order).
    pub nodes: Vec<PolicyNode>,
    /// Each workload's pod, by (namespace, workload).
    pub templates: BTreeMap<(String, String), PolicyPod>,
}

impl SchedulerConfig {
    /// From `cluster`.
    pub fn from_topology(cluster: &Cluster) -> Self {
        SchedulerConfig {
            nodes: topology_nodes(cluster),
            templates: cluster
                .spec
                .workloads
                .iter()
                .map(|w| ((w.namespace.clone(), w.name.clone()), workload_pod(w)))
                .collect(),
        }
    }
}

/// The queue's tickers, tagged with the leadership generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedulerTimer {
    /// Flush the back-off queue.
    BackoffFlush(u64),
    /// Flush the long-unschedulable pods.
    UnschedulableFlush(u64),
}

/// One pod's standing in the queue.
#[derive(Clone, Copy, Debug, Default)]
struct Attempts {
    count: u32,
    last: SimTime,
}

/// The scheduler.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    pods: Informer,
    nodes: Informer,
    binds: Writes<(String, String)>,
    active: VecDeque<String>,
    backoff_q: BTreeMap<String, SimTime>,
    unschedulable: BTreeMap<String, SimTime>,
    attempts: BTreeMap<String, Attempts>,
    /// Bound here, not yet seen bound: pod -> node.
    assumed: BTreeMap<String, String>,
    /// The last FailedScheduling message stated per pod.
    stated: BTreeMap<String, String>,
    generation: u64,
    started: SimTime,
    backoff_armed: bool,
    unschedulable_armed: bool,
}

impl Scheduler {
    /// A scheduler with `config`.
    pub fn new(config: SchedulerConfig) -> Self {
        Scheduler {
            config,
            pods: Informer::new::<PodRecord>("", ApiPath::Local),
            nodes: Informer::new::<NodeRecord>("", ApiPath::Local),
            binds: Writes::new(ApiPath::Local, BINDS_PORT),
            active: VecDeque::new(),
            backoff_q: BTreeMap::new(),
            unschedulable: BTreeMap::new(),
            attempts: BTreeMap::new(),
            assumed: BTreeMap::new(),
            stated: BTreeMap::new(),
            generation: 0,
            started: SimTime::ZERO,
            backoff_armed: false,
            unschedulable_armed: false,
        }
    }

    fn pod(&self, full: &str) -> Option<PodRecord> {
        self.pods.objects().get(full)?.object()
    }

    fn queued(&self, full: &str) -> bool {
        self.active.iter().any(|p| p == full)
            || self.backoff_q.contains_key(full)
            || self.unschedulable.contains_key(full)
            || self.assumed.contains_key(full)
    }

    fn forget(&mut self, full: &str) {
        self.active.retain(|p| p != full);
        self.backoff_q.remove(full);
        self.unschedulable.remove(full);
        self.attempts.remove(full);
        self.stated.remove(full);
    }

    fn on_pod_changes(&mut self, ctx: &mut Ctx<'_>, changes: Vec<Change>) {
        let mut room = false;
        for change in changes {
            match change {
                Change::Upsert { name, object } => {
                    let Some(p) = object.object::<PodRecord>() else {
                        continue;
                    };
                    if !p.node.is_empty() || p.deleted.is_some() {
                        self.assumed.remove(&name);
                        self.forget(&name);
                        // An assigned pod going away frees room.
                        room |= p.deleted.is_some() && !p.node.is_empty();
                    } else if !self.queued(&name) {
                        self.active.push_back(name);
                    }
                }
                Change::Delete { name } => {
                    self.assumed.remove(&name);
                    self.forget(&name);
                    room = true;
                }
                Change::Listed => {}
            }
        }
        if room {
            self.move_all(ctx);
            if !self.backoff_q.is_empty() {
                self.arm_backoff_flush(ctx);
            }
        }
        self.run(ctx);
    }

    /// `MoveAllToActiveOrBackoffQueue`.
    fn move_all(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        for (pod, _) in std::mem::take(&mut self.unschedulable) {
            let a = self.attempts.get(&pod).copied().unwrap_or_default();
            let until = a.last + backoff(a.count);
            if until > now {
                self.backoff_q.insert(pod, until);
            } else {
                self.active.push_back(pod);
            }
        }
    }

    /// The registered nodes as the policy sees them.
    fn nodes(&self) -> Vec<PolicyNode> {
        self.config
            .nodes
            .iter()
            .filter_map(|n| {
                let stored = self.nodes.objects().get(&n.name)?;
                let record = stored.decode::<NodeRecord>()?.object;
                let mut node = n.clone();
                node.unschedulable = record.unschedulable;
                // The node lifecycle controller taints a cordoned node on the Node update
                // (`doNoScheduleTaintingPass`, milliseconds later); here it comes with the
                // cordon. A spread constraint honouring taints then skips the node.
                if record.unschedulable {
                    node.taints.push(PolicyTaint {
                        key: UNSCHEDULABLE_TAINT.to_owned(),
                        value: String::new(),
                        effect: TaintEffect::NoSchedule,
                    });
                }
                if record.out_of_service {
                    node.taints.push(PolicyTaint {
                        key: OUT_OF_SERVICE_TAINT.to_owned(),
                        value: OUT_OF_SERVICE_VALUE.to_owned(),
                        effect: TaintEffect::NoExecute,
                    });
                }
                node.taints
                    .extend(record.taints.iter().map(|t| PolicyTaint {
                        key: t.key.as_str().to_owned(),
                        value: String::new(),
                        effect: match t.effect {
                            Effect::NoSchedule => TaintEffect::NoSchedule,
                            Effect::NoExecute => TaintEffect::NoExecute,
                        },
                    }));
                Some(node)
            })
            .collect()
    }

    fn template(&self, full: &str, owner: &str) -> Option<&PolicyPod> {
        let ns = split_name(full).0.to_owned();
        self.config.templates.get(&(ns, owner.to_owned()))
    }

    /// Every bound pod (and assumed one) on its node.
    fn placed(&self) -> Vec<Placed> {
        let mut placed = Vec::new();
        for (name, stored) in self.pods.objects() {
            let Some(p) = stored.object::<PodRecord>() else {
                continue;
            };
            let node = match self.assumed.get(name) {
                Some(n) if p.node.is_empty() => n.clone(),
                _ => p.node.clone(),
            };
            if node.is_empty() {
                continue;
            }
            let Some(mut pod) = self.template(name, &p.owner).cloned() else {
                continue;
            };
            pod.node_name = Some(node.clone());
            placed.push(Placed {
                node,
                pod,
                terminating: p.deleted.is_some(),
            });
        }
        placed
    }

    /// Schedules the active queue, one pod after another.
    fn run(&mut self, ctx: &mut Ctx<'_>) {
        if !self.pods.synced() || !self.nodes.synced() {
            return;
        }
        // Nodes do not change while the queue drains (their events queue behind).
        let nodes = self.nodes();
        while let Some(full) = self.active.pop_front() {
            let Some(p) = self.pod(&full) else { continue };
            if !p.node.is_empty() || p.deleted.is_some() || self.assumed.contains_key(&full) {
                continue;
            }
            let Some(template) = self.template(&full, &p.owner).cloned() else {
                continue;
            };
            let a = self.attempts.entry(full.clone()).or_default();
            a.count += 1;
            a.last = ctx.now();
            match schedule(&template, &nodes, &self.placed()) {
                Outcome::Scheduled { node, .. } => self.bind(ctx, &full, node),
                Outcome::Unschedulable { message } => {
                    self.unschedulable.insert(full.clone(), ctx.now());
                    self.arm_unschedulable_flush(ctx);
                    if self.stated.get(&full) != Some(&message) {
                        self.stated.insert(full.clone(), message.clone());
                        ctx.fact(PodPending { pod: full, message });
                    }
                }
            }
        }
    }

    fn bind(&mut self, ctx: &mut Ctx<'_>, full: &str, node: String) {
        let Some(stored) = self.pods.objects().get(full) else {
            return;
        };
        let Some(mut p) = stored.object::<PodRecord>() else {
            return;
        };
        let rv = stored.resource_version;
        p.node = node.clone();
        self.assumed.insert(full.to_owned(), node.clone());
        let (ns, name) = split_name(full);
        let op = ApiOp::put(ns, name, &p, Some(rv));
        self.binds.send(ctx, op, (full.to_owned(), node));
    }

    fn bound(
        &mut self,
        ctx: &mut Ctx<'_>,
        full: String,
        node: String,
        result: Result<Stored, ApiError>,
    ) {
        match result {
            Ok(_) => {
                self.attempts.remove(&full);
                self.stated.remove(&full);
                ctx.fact(PodScheduled { pod: full, node });
            }
            Err(_) => {
                self.assumed.remove(&full);
                let a = self.attempts.get(&full).copied().unwrap_or_default();
                self.backoff_q.insert(full, a.last + backoff(a.count));
                self.arm_backoff_flush(ctx);
            }
        }
    }

    /// The next tick of a ticker of `period` started with the leadership.
    fn next_tick(&self, ctx: &Ctx<'_>, period: SimDuration) -> SimDuration {
        let elapsed = ctx.now().saturating_since(self.started).as_nanos();
        let p = period.as_nanos().max(1);
        let next = self.started + SimDuration::from_nanos((elapsed / p + 1) * p);
        next.saturating_since(ctx.now())
    }

    fn arm_backoff_flush(&mut self, ctx: &mut Ctx<'_>) {
        if std::mem::replace(&mut self.backoff_armed, true) {
            return;
        }
        let after = self.next_tick(ctx, BACKOFF_FLUSH);
        ctx.scoped(Port::MAIN)
            .set_timer(after, SchedulerTimer::BackoffFlush(self.generation));
    }

    fn arm_unschedulable_flush(&mut self, ctx: &mut Ctx<'_>) {
        if std::mem::replace(&mut self.unschedulable_armed, true) {
            return;
        }
        let after = self.next_tick(ctx, UNSCHEDULABLE_FLUSH);
        ctx.scoped(Port::MAIN)
            .set_timer(after, SchedulerTimer::UnschedulableFlush(self.generation));
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: SchedulerTimer) {
        let now = ctx.now();
        match timer {
            SchedulerTimer::BackoffFlush(g) if g == self.generation => {
                self.backoff_armed = false;
                let done: Vec<String> = self
                    .backoff_q
                    .iter()
                    .filter(|(_, until)| **until <= now)
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in done {
                    self.backoff_q.remove(&p);
                    self.active.push_back(p);
                }
                if !self.backoff_q.is_empty() {
                    self.arm_backoff_flush(ctx);
                }
            }
            SchedulerTimer::UnschedulableFlush(g) if g == self.generation => {
                self.unschedulable_armed = false;
                let stale: Vec<String> = self
                    .unschedulable
                    .iter()
                    .filter(|(_, since)| now.saturating_since(**since) > MAX_IN_UNSCHEDULABLE)
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in stale {
                    self.unschedulable.remove(&p);
                    self.active.push_back(p);
                }
                if !self.unschedulable.is_empty() {
                    self.arm_unschedulable_flush(ctx);
                }
            }
            _ => return,
        }
        self.run(ctx);
    }
}

impl LeaderWork for Scheduler {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.stop();
        self.started = ctx.now();
        self.pods.start(&mut ctx.scoped(PODS_PORT));
        self.nodes.start(&mut ctx.scoped(NODES_PORT));
    }

    fn stop(&mut self) {
        self.generation += 1;
        self.pods.stop();
        self.nodes.stop();
        self.binds.clear();
        self.active.clear();
        self.backoff_q.clear();
        self.unschedulable.clear();
        self.attempts.clear();
        self.assumed.clear();
        self.stated.clear();
        self.backoff_armed = false;
        self.unschedulable_armed = false;
    }

    fn offer<'e>(&mut self, ctx: &mut Ctx<'_>, event: Event<'e>) -> Result<(), Event<'e>> {
        let event = match route_to(&mut self.pods, PODS_PORT, ctx, event) {
            Ok(changes) => {
                if !changes.is_empty() {
                    self.on_pod_changes(ctx, changes);
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let event = match route_to(&mut self.nodes, NODES_PORT, ctx, event) {
            Ok(changes) => {
                if !changes.is_empty() {
                    self.move_all(ctx);
                    if !self.backoff_q.is_empty() {
                        self.arm_backoff_flush(ctx);
                    }
                    self.run(ctx);
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let event = match route_to(&mut self.binds, BINDS_PORT, ctx, event) {
            Ok(done) => {
                for ((pod, node), result) in done {
                    self.bound(ctx, pod, node, result);
                }
                self.run(ctx);
                return Ok(());
            }
            Err(e) => e,
        };
        if let Event::Timer { tag, .. } = &event
            && let Some(t) = tag.downcast_ref::<SchedulerTimer>()
        {
            self.on_timer(ctx, *t);
            return Ok(());
        }
        Err(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_ten() {
        let secs: Vec<u64> = (1..=6)
            .map(|a| backoff(a).as_nanos() / 1_000_000_000)
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }
}
