//! The kubelet's side of its pods: a Pod informer through the API VIP (upstream's watch has a
//! `spec.nodeName` field selector; this one filters on arrival), containers started for each
//! pod bound to the node, Ready reported by the status manager once the readiness probe
//! passes, and a deleted pod's containers stopped and its object removed (the final delete
//! a dead node never sends).
//!
//! Readiness (`pkg/kubelet/prober`): a container without a readiness probe is Ready once it
//! runs. With one, the probe worker probes at once when the container starts (the prober
//! manager triggers a worker whose probe has not run yet), skips probes until
//! `initialDelaySeconds` have passed, and otherwise probes every `periodSeconds` from the
//! worker's start: Ready comes at the first probe at or after the initial delay, and the
//! workloads' probes pass. Image pulls, sandbox creation and container start take no time
//! here (not upstream timers: they depend on the image and the node), nor does stopping a
//! container on deletion (the workloads exit on SIGTERM). A status write that fails is
//! tried again at the status manager's next sync, 10 s later (`syncPeriod`).
//!
//! Containers run under containerd, not the kubelet: a kubelet that restarts finds them
//! running. A host that reboots loses them; its kubelet then reports every pod the API still
//! calls Ready not Ready and starts it again, as for a new pod.

use std::collections::{BTreeMap, BTreeSet};

use topology::{Cluster, Workload};

use super::api::{ApiError, ApiOp, Stored, split_name};
use super::facts::{PodGone, PodReady, PodRestarting};
use super::informer::{ApiPath, Informer};
use super::objects::PodRecord;
use super::writes::Writes;
use crate::engine::{Address, Ctx, Event, Port, SimDuration, route_to};

/// The status manager's `syncPeriod`.
pub const STATUS_SYNC_PERIOD: SimDuration = SimDuration::from_secs(10);

const PODS_PORT: Port = Port(20);
const STATUS_PORT: Port = Port(21);

/// How long after its container starts a pod of `w` is Ready.
pub fn ready_after(w: &Workload) -> SimDuration {
    let Some(p) = &w.probes.readiness else {
        return SimDuration::ZERO;
    };
    let delay = u64::from(p.initial_delay_seconds);
    let period = u64::from(p.period_seconds).max(1);
    SimDuration::from_secs(delay.div_ceil(period) * period)
}

/// Every workload's readiness delay, by (namespace, name).
pub fn ready_delays(cluster: &Cluster) -> BTreeMap<(String, String), SimDuration> {
    cluster
        .spec
        .workloads
        .iter()
        .map(|w| ((w.namespace.clone(), w.name.clone()), ready_after(w)))
        .collect()
}

/// A status write: the pod (of this workload) is Ready, not Ready (its containers died with
/// the host), or its object is to go.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Write {
    Ready(String),
    NotReady,
    Remove,
}

/// The worker's timers, tagged with the kubelet's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodTimer {
    /// `pod`'s readiness probe passes.
    Ready(u64, String),
    /// The status manager's next sync.
    Sync(u64),
}

/// The kubelet's pods.
#[derive(Debug)]
pub struct PodWorker {
    delays: BTreeMap<(String, String), SimDuration>,
    node: String,
    pods: Informer,
    status: Writes<(String, Write)>,
    /// Pods whose containers are starting.
    starting: BTreeSet<String>,
    /// Pods this kubelet removed, until the informer no longer has them.
    removed: BTreeSet<String>,
    /// The host boot its containers were started in (kept across the kubelet's own restarts,
    /// as the containers are: they run under containerd, not the kubelet).
    boot: Option<u64>,
    /// The host rebooted since the containers were started: the pods the API still calls
    /// Ready have none, and are reported not Ready at the first sync.
    containers_lost: bool,
    /// Pods whose containers died with the host, until their not-Ready status is written.
    lost: BTreeSet<String>,
    generation: u64,
    sync_armed: bool,
}

impl PodWorker {
    /// A worker reaching the API through `vip`, with the workloads' readiness `delays`.
    pub fn new(vip: Address, delays: BTreeMap<(String, String), SimDuration>) -> Self {
        let path = ApiPath::Vip(vip);
        PodWorker {
            delays,
            node: String::new(),
            pods: Informer::new::<PodRecord>("", path.clone()),
            status: Writes::new(path, STATUS_PORT),
            starting: BTreeSet::new(),
            removed: BTreeSet::new(),
            boot: None,
            containers_lost: false,
            lost: BTreeSet::new(),
            generation: 0,
            sync_armed: false,
        }
    }

    /// The kubelet (re)starts on `node`.
    pub fn start(&mut self, ctx: &mut Ctx<'_>, node: &str) {
        self.stop();
        self.node = node.to_owned();
        let boot = ctx.directory().reboots(ctx.host());
        self.containers_lost = self.boot.is_some_and(|b| b != boot);
        self.boot = Some(boot);
        self.pods.start(&mut ctx.scoped(PODS_PORT));
    }

    /// The kubelet died.
    pub fn stop(&mut self) {
        self.generation += 1;
        self.pods.stop();
        self.status.clear();
        self.starting.clear();
        self.removed.clear();
        self.lost.clear();
        self.sync_armed = false;
    }

    /// Takes the event if it is the worker's own.
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
        let event = match route_to(&mut self.status, STATUS_PORT, ctx, event) {
            Ok(done) => {
                for ((pod, write), result) in done {
                    self.written(ctx, pod, write, &result);
                }
                return Ok(());
            }
            Err(e) => e,
        };
        if let Event::Timer { tag, .. } = &event
            && let Some(t) = tag.downcast_ref::<PodTimer>()
        {
            match t {
                PodTimer::Ready(g, pod) if *g == self.generation => {
                    self.starting.remove(pod);
                    self.report_ready(ctx, pod);
                    // A pod deleted while it started gets its final delete now.
                    self.sync(ctx);
                }
                PodTimer::Sync(g) if *g == self.generation => {
                    self.sync_armed = false;
                    self.sync(ctx);
                }
                _ => {}
            }
            return Ok(());
        }
        Err(event)
    }

    fn writing(&self, pod: &str) -> bool {
        self.status.keys().any(|(p, _)| p == pod)
    }

    /// Acts on every pod bound to this node.
    fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let cached = self.pods.objects();
        self.removed.retain(|p| cached.contains_key(p));
        let mine: Vec<(String, PodRecord)> = self
            .pods
            .objects()
            .iter()
            .filter_map(|(n, s)| Some((n.clone(), s.object::<PodRecord>()?)))
            .filter(|(_, p)| p.node == self.node)
            .collect();
        if self.containers_lost && self.pods.synced() {
            // After a reboot the sandboxes are gone: every pod the API still calls Ready is
            // reported not Ready, then started again as any new pod is (`SyncPod` creates a
            // new sandbox; the status manager reports the containers not ready meanwhile).
            self.containers_lost = false;
            self.lost = mine
                .iter()
                .filter(|(_, p)| p.ready && p.deleted.is_none())
                .map(|(n, _)| n.clone())
                .collect();
        }
        self.lost.retain(|p| cached.contains_key(p));
        for (full, p) in mine {
            if self.writing(&full) || self.starting.contains(&full) || self.removed.contains(&full)
            {
                continue;
            }
            if self.lost.contains(&full) && p.ready && p.deleted.is_none() {
                let rv = self.pods.objects()[&full].resource_version;
                let mut down = p.clone();
                down.ready = false;
                let (ns, name) = split_name(&full);
                let op = ApiOp::put(ns, name, &down, Some(rv));
                self.status.send(ctx, op, (full, Write::NotReady));
                continue;
            }
            self.lost.remove(&full);
            if p.deleted.is_some() {
                let (ns, name) = split_name(&full);
                let op = ApiOp::delete::<PodRecord>(ns, name);
                self.status.send(ctx, op, (full, Write::Remove));
            } else if !p.ready {
                let ns = split_name(&full).0.to_owned();
                let delay = self
                    .delays
                    .get(&(ns, p.owner.clone()))
                    .copied()
                    .unwrap_or(SimDuration::ZERO);
                self.starting.insert(full.clone());
                ctx.scoped(Port::MAIN)
                    .set_timer(delay, PodTimer::Ready(self.generation, full));
            }
        }
    }

    fn report_ready(&mut self, ctx: &mut Ctx<'_>, full: &str) {
        let Some(stored) = self.pods.objects().get(full) else {
            return;
        };
        let Some(mut p) = stored.object::<PodRecord>() else {
            return;
        };
        if !p.running_on(&self.node) || p.ready {
            return;
        }
        let rv = stored.resource_version;
        p.ready = true;
        let (ns, name) = split_name(full);
        let op = ApiOp::put(ns, name, &p, Some(rv));
        self.status
            .send(ctx, op, (full.to_owned(), Write::Ready(p.owner.clone())));
    }

    fn written(
        &mut self,
        ctx: &mut Ctx<'_>,
        pod: String,
        write: Write,
        result: &Result<Stored, ApiError>,
    ) {
        let node = self.node.clone();
        match (write, result) {
            (Write::Ready(workload), Ok(_)) => ctx.fact(PodReady {
                pod,
                workload,
                node,
            }),
            (Write::NotReady, Ok(_)) => {
                self.lost.remove(&pod);
                ctx.fact(PodRestarting { pod, node });
            }
            (Write::Remove, Ok(_)) => {
                self.removed.insert(pod.clone());
                ctx.fact(PodGone { pod, node });
            }
            // Someone else removed it first (a force delete).
            (Write::Remove, Err(ApiError::NotFound)) => {
                self.removed.insert(pod);
            }
            (_, Err(_)) => {
                if !std::mem::replace(&mut self.sync_armed, true) {
                    ctx.scoped(Port::MAIN)
                        .set_timer(STATUS_SYNC_PERIOD, PodTimer::Sync(self.generation));
                }
            }
        }
    }
}
