//! The cluster as one scheduling cycle reads it, as upstream's `framework.NodeInfo` snapshot
//! holds it: the nodes by name and, per name, how many pods are bound there, their summed
//! requests and their host ports, so NodePorts, NodeResourcesFit and the resource scores
//! ask about a node in O(1) instead of rescanning every placed pod.
//!
//! [`schedule`](super::schedule) builds one per call (O(nodes + placed)). A caller placing
//! many pods one after another keeps one [`Snapshot`] and [`Snapshot::add`]s each pod it
//! binds, as kube-scheduler's cache assumes a pod onto its node, so a cycle costs what the
//! pod asks for (O(nodes), plus O(placed) only for pods with spread constraints or
//! anti-affinity, or placed pods with anti-affinity) instead of re-indexing the cluster.
//! [`Snapshot::choose`] gives the same decision without naming every feasible node in
//! [`Outcome`]'s totals: on thousands of nodes those names cost as much as the cycle.
//!
//! Nodes are indexed by name because that is how the scheduler always matched pods to
//! nodes (`placed.node == node.name`): two nodes given with the same name (never the case
//! in a real cluster) share their pods, and a pod bound to a name no node has counts
//! nowhere, exactly as before.

use super::fast_hash::FastMap;
use super::prefilter::PreFilter;
use super::{Node, Outcome, Placed, Pod, Resources, filters, fit_error, scores};

/// What the filters and scores need about the pods bound to one node name.
#[derive(Clone, Debug, Default)]
pub(super) struct NodeInfo {
    /// Pods bound there, terminating ones included (they still hold their resources).
    pub pods: usize,
    /// Their summed requests (`Pod::requests`), saturating.
    pub requested: Resources,
    /// Their summed requests as LeastAllocated counts them (`Pod::non_zero_requests`).
    pub non_zero: Resources,
    /// Their host ports, every pod's (NodePorts only asks whether one is there).
    pub ports: Vec<u16>,
}

/// A placed pod and the slot of its node's name.
#[derive(Clone, Debug)]
pub(super) struct Bound<'a> {
    /// Index into [`Snapshot::infos`].
    pub slot: usize,
    /// The pod, borrowed from [`super::schedule`]'s caller or owned after [`Snapshot::add`].
    pub placed: Held<'a>,
}

/// A `Cow` whose owned side is boxed: a `Placed` is a few hundred bytes, and `schedule`
/// borrows every pod it is given, so inline it would make each of those entries as large.
#[derive(Clone, Debug)]
pub(super) enum Held<'a> {
    /// The caller's.
    Borrowed(&'a Placed),
    /// Added.
    Owned(Box<Placed>),
}

impl std::ops::Deref for Held<'_> {
    type Target = Placed;

    fn deref(&self) -> &Placed {
        match self {
            Held::Borrowed(p) => p,
            Held::Owned(p) => p,
        }
    }
}

/// The nodes, and the pods bound to them, indexed for scheduling many pods.
#[derive(Clone, Debug)]
pub struct Snapshot<'a> {
    pub(super) nodes: &'a [Node],
    /// Node name -> slot; one slot per distinct name.
    slots: FastMap<&'a str, usize>,
    /// The slot of each node, by position in `nodes`.
    pub(super) slot_of: Vec<usize>,
    /// Per slot, the first node with that name: the one whose labels the preferred
    /// anti-affinity score reads for a pod bound there (it always looked the first one up).
    pub(super) first: Vec<usize>,
    /// Per node, the next node with the same name: the required anti-affinity filter read
    /// the labels of every node with a placed pod's name.
    next_same: Vec<Option<usize>>,
    /// Per slot: what is bound to that name.
    pub(super) infos: Vec<NodeInfo>,
    /// Pods on known names, in the order they were added.
    pub(super) placed: Vec<Bound<'a>>,
    /// Positions in `placed` of the pods with anti-affinity terms: the only ones whose terms
    /// an incoming pod must be checked against.
    pub(super) with_terms: Vec<usize>,
}

impl<'a> Snapshot<'a> {
    /// `nodes` with nothing bound yet.
    pub fn new(nodes: &'a [Node]) -> Self {
        let mut slots = FastMap::with_capacity_and_hasher(nodes.len(), Default::default());
        let mut slot_of = Vec::with_capacity(nodes.len());
        let mut first = Vec::new();
        let mut last: Vec<usize> = Vec::new();
        let mut next_same = vec![None; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            let slot = *slots.entry(n.name.as_str()).or_insert_with(|| {
                first.push(i);
                last.push(i);
                first.len() - 1
            });
            if last[slot] != i {
                next_same[last[slot]] = Some(i);
                last[slot] = i;
            }
            slot_of.push(slot);
        }
        Snapshot {
            nodes,
            slots,
            slot_of,
            infos: vec![NodeInfo::default(); first.len()],
            first,
            next_same,
            placed: Vec::new(),
            with_terms: Vec::new(),
        }
    }

    /// `nodes` with `placed` bound, borrowed (what [`super::schedule`] builds per call).
    pub fn with_placed(nodes: &'a [Node], placed: &'a [Placed]) -> Self {
        let mut snapshot = Snapshot::new(nodes);
        snapshot.placed.reserve(placed.len());
        for p in placed {
            snapshot.insert(Held::Borrowed(p));
        }
        snapshot
    }

    /// Binds a pod (what kube-scheduler's cache does when it assumes a pod onto the node it
    /// chose). A pod on a name no node has is dropped: it counts nowhere.
    pub fn add(&mut self, placed: Placed) {
        self.insert(Held::Owned(Box::new(placed)));
    }

    fn insert(&mut self, placed: Held<'a>) {
        let Some(&slot) = self.slots.get(placed.node.as_str()) else {
            return;
        };
        let info = &mut self.infos[slot];
        let pod = &placed.pod;
        info.pods += 1;
        // Saturating sums of unsigned values do not depend on the order they are taken in,
        // so a running sum equals the old per-node fold.
        info.requested = info.requested.saturating_add(pod.requests());
        info.non_zero = info.non_zero.saturating_add(pod.non_zero_requests());
        info.ports.extend_from_slice(&pod.host_ports);
        if !pod.anti_affinity.is_empty() {
            self.with_terms.push(self.placed.len());
        }
        self.placed.push(Bound { slot, placed });
    }

    /// The nodes, in the order ties are broken in.
    pub fn nodes(&self) -> &'a [Node] {
        self.nodes
    }

    /// Positions of the nodes named as `slot` is.
    pub(super) fn named(&self, slot: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.first.get(slot).copied(), |&i| self.next_same[i])
    }

    /// The bound pods with anti-affinity terms.
    pub(super) fn with_terms(&self) -> impl Iterator<Item = &Bound<'a>> + '_ {
        self.with_terms.iter().map(|&k| &self.placed[k])
    }

    /// Schedules `pod` (without binding it: [`Snapshot::add`] it to the chosen node to go
    /// on). The same [`Outcome`] as [`super::schedule`] with these nodes and pods.
    pub fn schedule(&self, pod: &Pod) -> Outcome {
        let name = |i: usize| self.nodes[i].name.clone();
        match self.cycle(pod) {
            Cycle::Unschedulable(message) => Outcome::Unschedulable { message },
            Cycle::Only(i) => Outcome::Scheduled {
                node: name(i),
                totals: Vec::new(),
            },
            Cycle::Scored { feasible, totals } => Outcome::Scheduled {
                node: name(feasible[best(&totals)]),
                totals: feasible.iter().map(|&i| name(i)).zip(totals).collect(),
            },
        }
    }

    /// The position in [`Snapshot::nodes`] of the node [`Snapshot::schedule`] chooses, or
    /// its FailedScheduling message. The same decision without naming every feasible node
    /// in `totals`: on thousands of nodes those names cost as much as the rest of a cycle.
    pub fn choose(&self, pod: &Pod) -> Result<usize, String> {
        match self.cycle(pod) {
            Cycle::Unschedulable(message) => Err(message),
            Cycle::Only(i) => Ok(i),
            Cycle::Scored { feasible, totals } => Ok(feasible[best(&totals)]),
        }
    }

    /// Filters every node, then scores the feasible ones if there are several.
    fn cycle(&self, pod: &Pod) -> Cycle {
        let pre = PreFilter::new(self, pod);
        let mut feasible = Vec::with_capacity(self.nodes.len());
        let mut rejections = Vec::new();
        for i in 0..self.nodes.len() {
            match filters::run(self, &pre, pod, i) {
                Ok(()) => feasible.push(i),
                Err(r) => rejections.push(r),
            }
        }
        match feasible.as_slice() {
            [] => Cycle::Unschedulable(fit_error(self.nodes.len(), &rejections)),
            [only] => Cycle::Only(*only),
            _ => {
                let totals = scores::totals(self, pod, &feasible);
                Cycle::Scored { feasible, totals }
            }
        }
    }
}

/// What a cycle found.
enum Cycle {
    /// No node passed the filters: the FailedScheduling message.
    Unschedulable(String),
    /// One node passed: taken without scoring, as upstream does.
    Only(usize),
    /// The feasible nodes' positions and their weighted totals.
    Scored {
        feasible: Vec<usize>,
        totals: Vec<i64>,
    },
}

/// The first of the highest totals (upstream picks at random among them; see the module).
fn best(totals: &[i64]) -> usize {
    let top = totals.iter().copied().max().unwrap_or(0);
    totals.iter().position(|&t| t == top).unwrap_or(0)
}
