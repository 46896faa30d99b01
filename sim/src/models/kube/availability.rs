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
//! some are, down while none is, from when it was first whole. The Service lanes
//! ([`service_lanes`]): `service/<ns>/<name>` follows the data path, each running node's
//! kube-proxy rules against the pods that really run.

use std::collections::{BTreeMap, BTreeSet};

use super::api::split_name;
use super::facts::{
    ApiserverReady, EvictionGranted, LeaderChange, NodeReady, PodCreated, PodEvicted, PodGone,
    PodNotReady, PodReady, PodRestarting, ProxyRules,
};
use crate::checks::timeline::{Interval, Timeline};
use crate::engine::{FactRecord, LogEntry, LogKind, Observer, Record, SimTime, Status};
use topology::component::Component;
use topology::defaults::{COREDNS_NAME, COREDNS_NAMESPACE, INGRESS_NAME};

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

/// Where the data path of the Services stands: each node's rules (from its kube-proxy's
/// [`ProxyRules`]), the hosts that run, and the pods whose containers run (Ready from their
/// kubelet, until the kubelet removed them or their host crashed).
#[derive(Debug, Default)]
struct DataPath {
    down_hosts: BTreeSet<String>,
    /// Pod -> its node, while its containers run.
    serving: BTreeMap<String, String>,
    /// (Service, node) -> the pods the node's rules send it to.
    rules: BTreeMap<(String, String), Vec<String>>,
}

impl DataPath {
    /// Learns from `entry`; says whether it may change a Service.
    fn observe(&mut self, entry: &LogEntry) -> bool {
        if let LogKind::Record {
            observer: Observer::Engine,
            record: Record::Availability {
                component, status, ..
            },
        } = &entry.kind
            && let Some(Component::Host(host)) = Component::parse(component)
        {
            if *status == Status::Up {
                self.down_hosts.remove(&host);
            } else {
                // A crash takes the containers and the kernel's rules with it: once the host
                // is back, its clients reach no Service until its kube-proxy programs it.
                self.serving.retain(|_, node| *node != host);
                for ((_, node), pods) in &mut self.rules {
                    if *node == host {
                        pods.clear();
                    }
                }
                self.down_hosts.insert(host);
            }
            return true;
        }
        let Some(fact) = entry.fact_record() else {
            return false;
        };
        if let Some(r) = fact.get::<ProxyRules>() {
            self.rules
                .insert((r.service.clone(), r.node.clone()), r.endpoints.clone());
        } else if let Some(p) = fact.get::<PodReady>() {
            self.serving.insert(p.pod.clone(), p.node.clone());
        } else if let Some(p) = fact.get::<PodGone>() {
            self.serving.remove(&p.pod);
        } else {
            return false;
        }
        true
    }

    /// `service` as clients on the running nodes see it: up when every such node sends it
    /// only to running pods, down when none sends it to any, degraded between (some requests
    /// fail or hang).
    fn status(&self, service: &str) -> Status {
        let mut full = 0;
        let mut dead = 0;
        let mut nodes = 0;
        for ((s, node), pods) in &self.rules {
            if s != service || self.down_hosts.contains(node) {
                continue;
            }
            nodes += 1;
            let running = pods
                .iter()
                .filter(|p| self.serving.contains_key(*p))
                .count();
            if running == 0 {
                dead += 1;
            } else if running == pods.len() {
                full += 1;
            }
        }
        if nodes == 0 || dead == nodes {
            Status::Down
        } else if full == nodes {
            Status::Up
        } else {
            Status::Degraded
        }
    }
}

/// One `service/<ns>/<name>` lane per Service some kube-proxy programmed (CoreDNS's is
/// `coredns`, the ingress controller's `ingress`), until `end`: the
/// data path as a client on a running node meets it (see [`DataPath::status`]). It shows what
/// the workload lane cannot: a pod on a crashed node is still Ready in the API, and still in
/// every node's rules, until the node lifecycle controller marks it not Ready and kube-proxy
/// drops it. Links are not judged: a running pod behind a cut link counts as answering. Each
/// lane starts once the Service is first whole.
pub fn service_lanes(log: &[LogEntry], end: SimTime) -> Vec<Timeline> {
    let mut path = DataPath::default();
    let mut services: BTreeSet<String> = BTreeSet::new();
    let mut changes: BTreeMap<String, Vec<(SimTime, Status)>> = BTreeMap::new();
    for entry in log {
        if !path.observe(entry) {
            continue;
        }
        if let Some(r) = entry.fact_record().and_then(|f| f.get::<ProxyRules>()) {
            services.insert(r.service.clone());
        }
        for service in &services {
            let status = path.status(service);
            let lane = changes.entry(service.clone()).or_default();
            if status != Status::Up && lane.is_empty() {
                continue;
            }
            push_change(lane, entry.time, status);
        }
    }
    changes
        .into_iter()
        .filter(|(_, lane)| !lane.is_empty())
        .map(|(service, lane)| {
            let (namespace, name) = split_name(&service);
            // CoreDNS's and the ingress controller's Services are the lanes `check` judges
            // by those names.
            let component = if (namespace, name) == (COREDNS_NAMESPACE, COREDNS_NAME) {
                Component::Coredns
            } else if (namespace, name) == (INGRESS_NAME, INGRESS_NAME) {
                Component::Ingress
            } else {
                Component::Service {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                }
            };
            to_timeline(component.to_string(), &lane, end)
        })
        .collect()
}

/// Records that a lane is `status` from `time`: nothing if it already is, a replacement if
/// the lane changed at that same instant.
fn push_change(lane: &mut Vec<(SimTime, Status)>, time: SimTime, status: Status) {
    match lane.last_mut() {
        Some((_, last)) if *last == status => {}
        Some((t, last)) if *t == time => *last = status,
        _ => lane.push((time, status)),
    }
}

fn to_timeline(component: String, lane: &[(SimTime, Status)], end: SimTime) -> Timeline {
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
