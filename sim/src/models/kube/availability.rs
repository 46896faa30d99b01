//! Lanes from the control plane's facts. The leader lanes: `kube-scheduler` and
//! `kube-controller-manager` are up while some process leads their Lease, from the
//! candidates' [`LeaderChange`] facts; a leader that dies or is paused stops leading at that
//! instant. Each lane starts at its first leader, so start-up does not count as an outage.
//! The node lanes: `node/<name>` follows the node's Ready condition as written to the API
//! ([`NodeReady`]: Unknown by the node lifecycle controller, True by the kubelet), from its
//! registration. The apiserver lanes: `apiserver/<host>` is up while that apiserver's
//! `/readyz` answers 200 ([`ApiserverReady`]), down from a 500 or from the moment the process
//! dies or is paused, from its first answer. The workload lanes: `workload/<ns>/<name>` is up
//! while all of its replicas are Ready (the most it ever had Ready at once), degraded while
//! some are, down while none is, from when it was first whole. The Service lanes are the
//! data path's ([`super::data_path`]).

use std::collections::{BTreeMap, BTreeSet};

use super::api::split_name;
use super::facts::{
    ApiserverReady, EvictionGranted, LeaderChange, NodeReady, PodCreated, PodEvicted, PodGone,
    PodNotReady, PodReady, PodRestarting,
};
use crate::checks::timeline::{Interval, Timeline};
use crate::engine::{FactRecord, LogEntry, LogKind, Observer, Record, SimTime, Status};
use topology::component::Component;

/// One lane per Lease seen in `log`, named after the Lease, until `end`.
pub fn leader_lanes(log: &[LogEntry], end: SimTime) -> Vec<Timeline> {
    // Per lease: the leading (actor, identity) now, and the lane's changes.
    let mut leading: BTreeMap<String, BTreeSet<(u32, String)>> = BTreeMap::new();
    let mut changes: BTreeMap<String, Vec<(SimTime, Status)>> = BTreeMap::new();
    for entry in log {
        let touched: Vec<String> = match &entry.kind {
            LogKind::Record {
                observer: Observer::Actor(actor),
                record: Record::Fact(fact),
            } => match fact.get::<LeaderChange>() {
                Some(c) => {
                    let set = leading.entry(c.lease.clone()).or_default();
                    set.retain(|(_, id)| *id != c.identity);
                    if c.leading {
                        set.insert((*actor, c.identity.clone()));
                    }
                    vec![c.lease.clone()]
                }
                None => Vec::new(),
            },
            LogKind::ActorDown(a) => leading
                .iter_mut()
                .filter_map(|(lease, set)| {
                    let before = set.len();
                    set.retain(|(actor, _)| *actor != a.0);
                    (set.len() != before).then(|| lease.clone())
                })
                .collect(),
            _ => Vec::new(),
        };
        for lease in touched {
            let up = leading.get(&lease).is_some_and(|s| !s.is_empty());
            let status = if up { Status::Up } else { Status::Down };
            let lane = changes.entry(lease).or_default();
            if lane.is_empty() && status == Status::Down {
                continue;
            }
            push_change(lane, entry.time, status);
        }
    }
    changes
        .into_iter()
        .map(|(lease, lane)| to_timeline(lease, &lane, end))
        .collect()
}

/// One `node/<name>` lane per node the node lifecycle controller judged, until `end`.
pub fn node_lanes(log: &[LogEntry], end: SimTime) -> Vec<Timeline> {
    let mut changes: BTreeMap<String, Vec<(SimTime, Status)>> = BTreeMap::new();
    for entry in log {
        let Some(fact) = entry.fact_record() else {
            continue;
        };
        let Some(NodeReady { node, ready }) = fact.get() else {
            continue;
        };
        let status = if *ready { Status::Up } else { Status::Down };
        push_change(changes.entry(node.clone()).or_default(), entry.time, status);
    }
    changes
        .into_iter()
        .map(|(node, lane)| to_timeline(Component::Node(node).to_string(), &lane, end))
        .collect()
}

/// One `apiserver/<host>` lane per apiserver that answered `/readyz`, until `end`.
pub fn apiserver_lanes(log: &[LogEntry], end: SimTime) -> Vec<Timeline> {
    let mut host_of: BTreeMap<u32, String> = BTreeMap::new();
    let mut changes: BTreeMap<String, Vec<(SimTime, Status)>> = BTreeMap::new();
    for entry in log {
        let (host, status) = match &entry.kind {
            LogKind::Record {
                observer: Observer::Actor(actor),
                record: Record::Fact(fact),
            } => {
                let Some(ApiserverReady { host, ready }) = fact.get() else {
                    continue;
                };
                host_of.insert(*actor, host.clone());
                let status = if *ready { Status::Up } else { Status::Down };
                (host.clone(), status)
            }
            LogKind::ActorDown(a) => match host_of.get(&a.0) {
                Some(host) => (host.clone(), Status::Down),
                None => continue,
            },
            _ => continue,
        };
        push_change(changes.entry(host).or_default(), entry.time, status);
    }
    changes
        .into_iter()
        .map(|(host, lane)| to_timeline(Component::Apiserver(host).to_string(), &lane, end))
        .collect()
}

/// A workload's Ready pods changed in number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyChange {
    /// `namespace/name`.
    pub workload: String,
    /// Ready pods before.
    pub before: usize,
    /// Ready pods now.
    pub now: usize,
    /// The most it ever had Ready at once (its whole count).
    pub most: usize,
}

/// Each workload's Ready pods as the pod facts tell them: Ready from its kubelet; not Ready
/// once marked so, evicted (by taint or through the Eviction API: a terminating pod's
/// endpoint is not ready) or gone. A pod's workload is known from its creation or its first
/// Ready (a create whose answer was lost).
#[derive(Debug, Default)]
pub struct ReadyReplicas {
    owner: BTreeMap<String, String>,
    ready: BTreeMap<String, BTreeSet<String>>,
    most: BTreeMap<String, usize>,
}

impl ReadyReplicas {
    /// Learns from `fact`; says when a workload's Ready count changed.
    pub fn observe(&mut self, fact: &FactRecord) -> Option<ReadyChange> {
        let owned = |pod: &str, workload: &str| format!("{}/{workload}", split_name(pod).0);
        let (pod, up) = if let Some(c) = fact.get::<PodCreated>() {
            self.owner.insert(c.pod.clone(), owned(&c.pod, &c.workload));
            return None;
        } else if let Some(p) = fact.get::<PodReady>() {
            self.owner.insert(p.pod.clone(), owned(&p.pod, &p.workload));
            (&p.pod, true)
        } else if let Some(p) = fact.get::<PodNotReady>() {
            (&p.pod, false)
        } else if let Some(p) = fact.get::<PodRestarting>() {
            (&p.pod, false)
        } else if let Some(p) = fact.get::<PodEvicted>() {
            (&p.pod, false)
        } else if let Some(p) = fact.get::<PodGone>() {
            (&p.pod, false)
        } else if let Some(e) = fact.get::<EvictionGranted>() {
            (&e.pod, false)
        } else {
            return None;
        };
        let workload = self.owner.get(pod)?.clone();
        let set = self.ready.entry(workload.clone()).or_default();
        let before = set.len();
        if up {
            set.insert(pod.clone());
        } else {
            set.remove(pod);
        }
        let now = set.len();
        let most = self.most.entry(workload.clone()).or_default();
        *most = (*most).max(now);
        (now != before).then_some(ReadyChange {
            workload,
            before,
            now,
            most: *most,
        })
    }
}

/// One `workload/<ns>/<name>` lane per workload whose pods became Ready, until `end`.
pub fn workload_lanes(log: &[LogEntry], end: SimTime) -> Vec<Timeline> {
    let mut replicas = ReadyReplicas::default();
    let mut changes: BTreeMap<String, Vec<(SimTime, Status)>> = BTreeMap::new();
    for entry in log {
        let Some(fact) = entry.fact_record() else {
            continue;
        };
        let Some(c) = replicas.observe(fact) else {
            continue;
        };
        let status = match c.now {
            0 => Status::Down,
            n if n >= c.most => Status::Up,
            _ => Status::Degraded,
        };
        let lane = changes.entry(c.workload).or_default();
        // Start-up is not an outage: the lane starts once the workload is whole, which a
        // later, larger count can still move (a rollout that grows).
        if status != Status::Up && lane.is_empty() {
            continue;
        }
        push_change(lane, entry.time, status);
    }
    changes
        .into_iter()
        .map(|(workload, lane)| {
            let (namespace, name) = split_name(&workload);
            let component = Component::Workload {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            };
            to_timeline(component.to_string(), &lane, end)
        })
        .collect()
}

/// Records that a lane is `status` from `time`: nothing if it already is, a replacement if
/// the lane changed at that same instant.
pub(super) fn push_change(lane: &mut Vec<(SimTime, Status)>, time: SimTime, status: Status) {
    match lane.last_mut() {
        Some((_, last)) if *last == status => {}
        Some((t, last)) if *t == time => *last = status,
        _ => lane.push((time, status)),
    }
}

pub(super) fn to_timeline(component: String, lane: &[(SimTime, Status)], end: SimTime) -> Timeline {
    Timeline {
        component,
        intervals: lane
            .iter()
            .enumerate()
            .filter_map(|(i, (start, status))| {
                let stop = lane.get(i + 1).map_or(end, |n| n.0).min(end);
                (stop > *start).then_some(Interval {
                    start: *start,
                    end: stop,
                    status: *status,
                })
            })
            .collect(),
    }
}
