//! The operator's `kubectl drain --ignore-daemonsets`, `kubectl uncordon` and `kubectl taint
//! node.kubernetes.io/out-of-service`, run from outside the cluster through the API VIP when
//! the plan says `Drain`, `Uncordon`, `OutOfService` or `InService` (kubectl `pkg/drain`,
//! v1.29-v1.32):
//! - cordon: the Node's `spec.unschedulable` set (uncordon clears it);
//! - the node's pods, DaemonSet pods left alone, each evicted through the Eviction API; a 429
//!   (the budget allows no disruption now) is printed and retried every 5 s, without end
//!   (`--timeout` 0, the default);
//! - an evicted pod is waited for until it is gone (`waitForDelete` polls every second; a pod
//!   of the same name that is not being deleted is a new one, as kubectl tells by UID);
//! - done when every pod is gone.
//!
//! Errors other than 429 (the API unreachable) are retried at the same pace: kubectl would
//! exit and the operator run it again. A request whose connection never comes up fails after
//! the dial timeout; an answered one is bounded by the apiserver's and haproxy's deadlines.

use std::collections::BTreeMap;

use topology::fault::Fault;
use topology::{Cluster, WorkloadKind};

use super::api::{
    ApiError, ApiListResponse, ApiOp, ApiRequest, ApiResponse, Kind, ObjectRef, split_name,
};
use super::facts::{DrainBlocked, DrainDone, NodeCordoned, NodeOutOfService};
use super::informer::DIAL_TIMEOUT;
use super::objects::{NodeRecord, PodRecord};
use crate::engine::{Address, Ctx, Event, Model, SimDuration};
use crate::models::vip::HAPROXY_MODEL;
use crate::models::vip::msg::HttpAccepted;

/// kubectl drain's pause before evicting again after a 429.
pub const EVICTION_RETRY: SimDuration = SimDuration::from_secs(5);
/// `waitForDelete`'s poll interval.
pub const DELETE_POLL: SimDuration = SimDuration::from_secs(1);
/// The pause before a failed cordon, uncordon or list is tried again (the operator's).
pub const RETRY: SimDuration = SimDuration::from_secs(1);

/// A change to a Node the operator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeEdit {
    /// `spec.unschedulable` set (cordon) or cleared (uncordon).
    Cordon(bool),
    /// The out-of-service taint added or removed.
    OutOfService(bool),
}

impl NodeEdit {
    fn apply(self, node: &mut NodeRecord) {
        match self {
            NodeEdit::Cordon(on) => node.unschedulable = on,
            NodeEdit::OutOfService(on) => node.out_of_service = on,
        }
    }
}

/// What a request was for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Read the node to make this change.
    GetNode(String, NodeEdit),
    /// Write it.
    PutNode(String, NodeEdit),
    /// List the pods of the node being drained.
    ListPods(String),
    /// Evict a pod of the node.
    Evict(String, String),
    /// See whether an evicted pod is gone.
    Poll(String, String),
}

/// A request still unanswered after the apiserver's longest deadline (`--request-timeout`,
/// 60 s) lost its connection on the way (a live server answers by then): kubectl's HTTP/2
/// health check has found the connection dead by now.
pub const ANSWER_TIMEOUT: SimDuration = SimDuration::from_secs(61);

/// The drainer's timers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum DrainTimer {
    /// Do this step (again).
    Do(Step),
    /// Request `id` got no connection.
    Dial(u64),
    /// Request `id` got no answer.
    Answer(u64),
}

/// One pod of a drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PodState {
    Evicting,
    Waiting,
    Gone,
}

/// A drain in progress.
#[derive(Debug, Default)]
struct Drain {
    pods: BTreeMap<String, PodState>,
    /// What was last printed per pod, so a repeated 429 is stated once.
    said: BTreeMap<String, String>,
    listed: bool,
}

/// `kubectl drain` and `kubectl uncordon`.
#[derive(Debug)]
pub struct Drainer {
    vip: Address,
    /// Each workload's controller kind, by (namespace, name).
    kinds: BTreeMap<(String, String), WorkloadKind>,
    drains: BTreeMap<String, Drain>,
    next_id: u64,
    /// Requests out: id -> (step, connection up).
    pending: BTreeMap<u64, (Step, bool)>,
}

impl Drainer {
    /// A drainer reaching the API through `vip`, knowing `cluster`'s workloads.
    pub fn new(vip: Address, cluster: &Cluster) -> Self {
        Drainer {
            vip,
            kinds: cluster
                .spec
                .workloads
                .iter()
                .map(|w| ((w.namespace.clone(), w.name.clone()), w.kind))
                .collect(),
            drains: BTreeMap::new(),
            next_id: 0,
            pending: BTreeMap::new(),
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_>, op: ApiOp, step: Step) {
        self.next_id += 1;
        let id = self.next_id;
        self.pending.insert(id, (step, false));
        ctx.send_to_service(self.vip.clone(), HAPROXY_MODEL, ApiRequest { id, op });
        ctx.set_timer(DIAL_TIMEOUT, DrainTimer::Dial(id));
        ctx.set_timer(ANSWER_TIMEOUT, DrainTimer::Answer(id));
    }

    fn act(&mut self, ctx: &mut Ctx<'_>, step: Step) {
        let op = match &step {
            Step::GetNode(node, _) => ApiOp::get::<NodeRecord>("", node),
            Step::PutNode(..) => return,
            Step::ListPods(_) => ApiOp::list::<PodRecord>(""),
            Step::Evict(_, pod) => {
                let (ns, name) = split_name(pod);
                ApiOp::Evict(ObjectRef::new(Kind::Pod, ns, name))
            }
            Step::Poll(_, pod) => {
                let (ns, name) = split_name(pod);
                ApiOp::get::<PodRecord>(ns, name)
            }
        };
        self.send(ctx, op, step);
    }

    fn later(&self, ctx: &mut Ctx<'_>, after: SimDuration, step: Step) {
        ctx.set_timer(after, DrainTimer::Do(step));
    }

    fn on_fault(&mut self, ctx: &mut Ctx<'_>, fault: &Fault) {
        match fault {
            Fault::Drain { host } => {
                self.drains.insert(host.clone(), Drain::default());
                self.act(ctx, Step::GetNode(host.clone(), NodeEdit::Cordon(true)));
            }
            Fault::Uncordon { host } => {
                self.act(ctx, Step::GetNode(host.clone(), NodeEdit::Cordon(false)));
            }
            Fault::OutOfService { host } => {
                self.act(
                    ctx,
                    Step::GetNode(host.clone(), NodeEdit::OutOfService(true)),
                );
            }
            Fault::InService { host } => {
                self.act(
                    ctx,
                    Step::GetNode(host.clone(), NodeEdit::OutOfService(false)),
                );
            }
            _ => {}
        }
    }

    fn failed(&mut self, ctx: &mut Ctx<'_>, step: Step) {
        let pause = match step {
            Step::Evict(..) => EVICTION_RETRY,
            Step::Poll(..) => DELETE_POLL,
            Step::GetNode(..) | Step::PutNode(..) | Step::ListPods(_) => RETRY,
        };
        let retry = match step {
            Step::PutNode(node, to) => Step::GetNode(node, to),
            other => other,
        };
        self.later(ctx, pause, retry);
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_>, r: &ApiResponse) {
        let Some((step, _)) = self.pending.remove(&r.id) else {
            return;
        };
        match (step, &r.result) {
            (Step::GetNode(node, edit), Ok(stored)) => {
                let Some(mut n) = stored.object::<NodeRecord>() else {
                    return;
                };
                edit.apply(&mut n);
                let op = ApiOp::put("", &node, &n, Some(stored.resource_version));
                self.send(ctx, op, Step::PutNode(node, edit));
            }
            (Step::PutNode(node, NodeEdit::OutOfService(on)), Ok(_)) => {
                ctx.fact(NodeOutOfService {
                    node,
                    out_of_service: on,
                });
            }
            (Step::PutNode(node, NodeEdit::Cordon(on)), Ok(_)) => {
                ctx.fact(NodeCordoned {
                    node: node.clone(),
                    cordoned: on,
                });
                if on && self.drains.contains_key(&node) {
                    self.act(ctx, Step::ListPods(node));
                }
            }
            (Step::Evict(node, pod), Ok(_)) => {
                self.set(&node, &pod, PodState::Waiting);
                self.act(ctx, Step::Poll(node, pod));
            }
            (Step::Evict(node, pod), Err(ApiError::NotFound))
            | (Step::Poll(node, pod), Err(ApiError::NotFound)) => {
                self.set(&node, &pod, PodState::Gone);
                self.finish(ctx, &node);
            }
            (Step::Poll(node, pod), Ok(stored)) => {
                // Still there and being deleted: wait; a new pod of the same name: gone.
                let terminating = stored
                    .object::<PodRecord>()
                    .is_some_and(|p| p.deleted.is_some());
                if terminating {
                    self.later(ctx, DELETE_POLL, Step::Poll(node, pod));
                } else {
                    self.set(&node, &pod, PodState::Gone);
                    self.finish(ctx, &node);
                }
            }
            (Step::Evict(node, pod), Err(e)) => {
                let message = match e {
                    ApiError::TooManyRequests(m) => m.clone(),
                    other => format!("{other:?}"),
                };
                if let Some(d) = self.drains.get_mut(&node)
                    && d.said.get(&pod) != Some(&message)
                {
                    d.said.insert(pod.clone(), message.clone());
                    ctx.fact(DrainBlocked {
                        node: node.clone(),
                        pod: pod.clone(),
                        message,
                    });
                }
                self.later(ctx, EVICTION_RETRY, Step::Evict(node, pod));
            }
            (step, Err(_)) => self.failed(ctx, step),
            (Step::ListPods(_), Ok(_)) => {}
        }
    }

    fn on_list(&mut self, ctx: &mut Ctx<'_>, r: &ApiListResponse) {
        let Some((Step::ListPods(node), _)) = self.pending.remove(&r.id) else {
            return;
        };
        let Ok(items) = &r.result else {
            self.later(ctx, RETRY, Step::ListPods(node));
            return;
        };
        let mut pods = Vec::new();
        for (full, stored) in items {
            let Some(p) = stored.object::<PodRecord>() else {
                continue;
            };
            let ns = split_name(full).0.to_owned();
            let daemon = self.kinds.get(&(ns, p.owner.clone())) == Some(&WorkloadKind::DaemonSet);
            if p.node == node && !daemon {
                pods.push(full.clone());
            }
        }
        let Some(d) = self.drains.get_mut(&node) else {
            return;
        };
        d.listed = true;
        for pod in &pods {
            d.pods.insert(pod.clone(), PodState::Evicting);
        }
        for pod in pods {
            self.act(ctx, Step::Evict(node.clone(), pod));
        }
        self.finish(ctx, &node);
    }

    fn set(&mut self, node: &str, pod: &str, state: PodState) {
        if let Some(d) = self.drains.get_mut(node) {
            d.pods.insert(pod.to_owned(), state);
        }
    }

    /// Reports the drain done once every pod is gone.
    fn finish(&mut self, ctx: &mut Ctx<'_>, node: &str) {
        let done = self
            .drains
            .get(node)
            .is_some_and(|d| d.listed && d.pods.values().all(|s| *s == PodState::Gone));
        if done && let Some(d) = self.drains.remove(node) {
            ctx.fact(DrainDone {
                node: node.to_owned(),
                pods: u32::try_from(d.pods.len()).unwrap_or(u32::MAX),
            });
        }
    }
}

impl Model for Drainer {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        match event {
            Event::Fault(f) => self.on_fault(ctx, f),
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiResponse>() {
                    self.on_response(ctx, r);
                } else if let Some(r) = msg.downcast_ref::<ApiListResponse>() {
                    self.on_list(ctx, r);
                } else if let Some(a) = msg.downcast_ref::<HttpAccepted>()
                    && let Some((_, up)) = self.pending.get_mut(&a.id)
                {
                    *up = true;
                }
            }
            Event::Timer { tag, .. } => match tag.downcast_ref::<DrainTimer>() {
                Some(DrainTimer::Do(step)) => self.act(ctx, step.clone()),
                Some(DrainTimer::Dial(id)) => {
                    if let Some((step, false)) = self.pending.get(id).cloned() {
                        self.pending.remove(id);
                        self.failed(ctx, step);
                    }
                }
                Some(DrainTimer::Answer(id)) => {
                    if let Some((step, _)) = self.pending.remove(id) {
                        self.failed(ctx, step);
                    }
                }
                None => {}
            },
            Event::Refused { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiRequest>()
                    && let Some((step, _)) = self.pending.remove(&r.id)
                {
                    self.failed(ctx, step);
                }
            }
            Event::Start { .. } | Event::Closed { .. } => {}
        }
    }

    fn on_crash(&mut self) {}
}
