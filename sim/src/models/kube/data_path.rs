//! The Services' data path, as clients on the nodes meet it: each running node's kube-proxy
//! rules ([`ProxyRules`]) against the pods whose containers really run (Ready from their
//! kubelet until the kubelet removed them or their host crashed). It gives each Service its
//! lane ([`service_lanes`]) and each outage its cause ([`service_incidents`]): a pod on a
//! crashed node is still Ready in the API, and still in every node's rules, until the node
//! lifecycle controller marks it not Ready and kube-proxy drops it. Links are not judged: a
//! running pod behind a cut link counts as answering.

use std::collections::{BTreeMap, BTreeSet};

use topology::component::Component;
use topology::defaults::{COREDNS_NAME, COREDNS_NAMESPACE, INGRESS_NAME};

use super::api::split_name;
use super::availability::{push_change, to_timeline};
use super::facts::{PodGone, PodReady, ProxyRules};
use crate::checks::timeline::Timeline;
use crate::engine::{LogEntry, LogKind, Observer, Record, SimTime, Status};

/// Where the data path of the Services stands: each node's rules (from its kube-proxy's
/// [`ProxyRules`]), the hosts that run, and the pods whose containers run (Ready from their
/// kubelet, until the kubelet removed them or their host crashed).
#[derive(Debug, Default)]
struct DataPath {
    down_hosts: BTreeSet<String>,
    /// Pod -> its node, while its containers run.
    serving: BTreeMap<String, String>,
    /// Pod -> the node it last ran on (kept after it stops, to say where a dead one was).
    placed: BTreeMap<String, String>,
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
            self.placed.insert(p.pod.clone(), p.node.clone());
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

    /// Why `service` is not up: the pods running nodes route it to that do not run, each
    /// with its node and whether that host is down; or that no running node routes it.
    fn cause(&self, service: &str) -> String {
        let mut dead: BTreeSet<(String, String)> = BTreeSet::new();
        let mut routing_nodes = 0;
        for ((s, node), pods) in &self.rules {
            if s != service || self.down_hosts.contains(node) {
                continue;
            }
            routing_nodes += 1;
            for p in pods.iter().filter(|p| !self.serving.contains_key(*p)) {
                let at = self.placed.get(p).cloned().unwrap_or_default();
                dead.insert((p.clone(), at));
            }
        }
        if routing_nodes == 0 {
            return "no running node routes it".to_owned();
        }
        if dead.is_empty() {
            return "a running node has no rules for it yet".to_owned();
        }
        let pods: Vec<String> = dead
            .iter()
            .map(|(pod, node)| {
                let state = if self.down_hosts.contains(node) {
                    "down"
                } else {
                    "not running there"
                };
                format!("{} on {node} ({state})", split_name(pod).1)
            })
            .collect();
        format!("routed to {}", pods.join(", "))
    }
}

/// A stretch during which a Service was not up, and why it began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceIncident {
    /// The lane's component name.
    pub component: String,
    /// Degraded or down (the worse it reached).
    pub status: Status,
    /// When it began.
    pub start: SimTime,
    /// When the Service was up again (`None`: not by the end).
    pub end: Option<SimTime>,
    /// What the data path looked like as it began.
    pub cause: String,
}

/// The lane name of Service `namespace/name`: CoreDNS's and the ingress controller's are the
/// lanes `check` judges by those names.
fn component(service: &str) -> String {
    let (namespace, name) = split_name(service);
    if (namespace, name) == (COREDNS_NAMESPACE, COREDNS_NAME) {
        Component::Coredns.to_string()
    } else if (namespace, name) == (INGRESS_NAME, INGRESS_NAME) {
        Component::Ingress.to_string()
    } else {
        Component::Service {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
        .to_string()
    }
}

/// Each Service's lane (see [`DataPath::status`]) and its incidents, from `log` until `end`.
/// A lane starts once its Service is first whole.
fn walk(log: &[LogEntry], end: SimTime) -> (Vec<Timeline>, Vec<ServiceIncident>) {
    let mut path = DataPath::default();
    let mut services: BTreeSet<String> = BTreeSet::new();
    let mut changes: BTreeMap<String, Vec<(SimTime, Status)>> = BTreeMap::new();
    let mut open: BTreeMap<String, ServiceIncident> = BTreeMap::new();
    let mut incidents = Vec::new();
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
            match (status, open.get_mut(service)) {
                (Status::Up, Some(_)) => {
                    let mut done = open.remove(service).expect("open incident");
                    done.end = Some(entry.time);
                    incidents.push(done);
                }
                (Status::Up, None) => {}
                (s, Some(i)) => {
                    if s == Status::Down {
                        i.status = Status::Down;
                    }
                }
                (s, None) => {
                    open.insert(
                        service.clone(),
                        ServiceIncident {
                            component: component(service),
                            status: s,
                            start: entry.time,
                            end: None,
                            cause: path.cause(service),
                        },
                    );
                }
            }
        }
    }
    incidents.extend(open.into_values());
    incidents.sort_by(|a, b| (a.start, &a.component).cmp(&(b.start, &b.component)));
    let lanes = changes
        .into_iter()
        .filter(|(_, lane)| !lane.is_empty())
        .map(|(service, lane)| to_timeline(component(&service), &lane, end))
        .collect();
    (lanes, incidents)
}

/// One lane per Service some kube-proxy programmed (`service/<ns>/<name>`; CoreDNS's is
/// `coredns`, the ingress controller's `ingress`), until `end`.
pub fn service_lanes(log: &[LogEntry], end: SimTime) -> Vec<Timeline> {
    walk(log, end).0
}

/// Every stretch a Service was not up after it was first whole, with its cause, in order.
pub fn service_incidents(log: &[LogEntry], end: SimTime) -> Vec<ServiceIncident> {
    walk(log, end).1
}
