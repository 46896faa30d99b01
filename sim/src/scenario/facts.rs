//! The figures a run's timelines do not show: how much data Ceph re-replicated, how the PGs
//! ended, how often etcd changed leader and its longest leader-election gap, which hosts held
//! the API VIP when, the API's longest outage through it, the scheduler's and controller
//! manager's leader changes, each failed or drained node's story (Unknown, taints, pods
//! marked not ready and evicted, Ready again; cordoned, drain blocked, drained) with the
//! zone's disruption states, each workload's Ready replicas once they fell short and came
//! back, each Service's outages and their cause, and the pods still Pending at the end. Read
//! from the log after the run, so the models only record facts and never summarise.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checks::timeline::Timeline;
use crate::engine::{LogEntry, LogKind, Record, SimDuration};
use crate::models::ceph::facts::{PgCounts, Recovered};
use crate::models::etcd::EtcdLeader;
use crate::models::etcd::availability::COMPONENT as ETCD_LANE;
use crate::models::kube::availability::{ReadyChange, ReadyReplicas};
use crate::models::kube::data_path::service_incidents;
use crate::models::kube::facts::{
    DrainBlocked, DrainDone, LeaderChange, NodeCordoned, NodeOutOfService, NodeReady, NodeTaint,
    PodEvicted, PodForceDeleted, PodNotReady, PodPending, PodScheduled, ZoneDisruption,
};
use crate::models::kube::setup::ELECTED;
use crate::models::vip::facts::VipMaster;
use crate::models::vip::probe::API_LANE;

/// One named figure, e.g. `ceph re-replicated` = `27.6 GB in 15 transfers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fact {
    /// What it measures.
    pub name: String,
    /// The figure, for people.
    pub value: String,
}

fn fact(name: &str, value: String) -> Fact {
    Fact {
        name: name.to_owned(),
        value,
    }
}

/// The run's figures from its `log` and `timelines`.
pub fn facts(log: &[LogEntry], timelines: &[Timeline]) -> Vec<Fact> {
    let mut out = Vec::new();
    let (mut bytes, mut transfers, mut pg_states, mut elections) = (0u64, 0u64, None, 0u64);
    let mut vip_masters: Vec<String> = Vec::new();
    let mut nodes = NodeStory::default();
    let mut workloads = WorkloadStory::default();
    let mut acquisitions: std::collections::BTreeMap<String, u64> = Default::default();
    for entry in log {
        if let LogKind::Record {
            record: Record::Fact(fact),
            ..
        } = &entry.kind
        {
            if let Some(r) = fact.get::<Recovered>() {
                bytes = bytes.saturating_add(r.bytes);
                transfers += 1;
            } else if let Some(PgCounts { summary }) = fact.get() {
                pg_states = Some(summary.clone());
            } else if fact.get::<EtcdLeader>().is_some() {
                elections += 1;
            } else if let Some(VipMaster { host }) = fact.get() {
                vip_masters.push(format!(
                    "{host} at {}",
                    crate::report::human(entry.time.since_start())
                ));
            } else if workloads.note(entry.time.since_start(), fact)
                | nodes.note(entry.time.since_start(), fact)
            {
            } else if let Some(c) = fact.get::<LeaderChange>()
                && c.leading
            {
                *acquisitions.entry(c.lease.clone()).or_default() += 1;
            }
        }
    }
    if transfers > 0 {
        out.push(fact(
            "ceph data moved by recovery and backfill",
            format!("{:.1} GB in {transfers} PG transfers", bytes as f64 / 1e9),
        ));
    }
    if let Some(states) = pg_states {
        out.push(fact("ceph PGs at the end", states));
    }
    if elections > 0 {
        let longest = timelines
            .iter()
            .find(|t| t.component == ETCD_LANE)
            .and_then(|t| {
                t.intervals
                    .iter()
                    .filter(|i| i.status != crate::engine::Status::Up)
                    .map(|i| i.len())
                    .max()
            });
        out.push(fact(
            "etcd leader elections",
            format!(
                "{elections}; longest leader-election gap {}",
                crate::report::human(longest.unwrap_or(SimDuration::ZERO))
            ),
        ));
    }
    for (node, events) in &nodes.per_node {
        out.push(fact(&format!("node {node}"), events.join("; ")));
    }
    for (workload, events) in workloads.story.iter().filter(|(_, e)| !e.is_empty()) {
        out.push(fact(&format!("workload {workload}"), events.join("; ")));
    }
    out.extend(service_facts(log));
    if !workloads.pending.is_empty() {
        let pending: Vec<String> = workloads
            .pending
            .iter()
            .map(|(pod, (since, why))| format!("{pod} since {since} ({why})"))
            .collect();
        out.push(fact("pods Pending at the end", pending.join("; ")));
    }
    if !nodes.zone.is_empty() {
        out.push(fact("node zone disruption", nodes.zone.join("; ")));
    }
    if !vip_masters.is_empty() {
        out.push(fact("API VIP masters", vip_masters.join(", ")));
    }
    let api_lane = API_LANE.to_string();
    if let Some(t) = timelines.iter().find(|t| t.component == api_lane) {
        out.push(fact(
            "API through the VIP",
            format!("longest outage {}", crate::report::human(longest_outage(t))),
        ));
    }
    for lease in ELECTED {
        let Some(n) = acquisitions.get(lease) else {
            continue;
        };
        let gap = timelines
            .iter()
            .find(|t| t.component == lease)
            .map_or(SimDuration::ZERO, longest_outage);
        out.push(fact(
            &format!("{lease} leaders"),
            format!(
                "{n} acquisitions; longest time without a leader {}",
                crate::report::human(gap)
            ),
        ));
    }
    out
}

/// Each Service's outages after it was first whole, with what its data path looked like as
/// each began (which routed pods were dead, and where).
fn service_facts(log: &[LogEntry]) -> Vec<Fact> {
    let end = log.last().map_or(crate::engine::SimTime::ZERO, |e| e.time);
    let mut per: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in service_incidents(log, end) {
        let status = match i.status {
            crate::engine::Status::Down => "down",
            _ => "degraded",
        };
        let from = crate::report::human(i.start.since_start());
        let span = match i.end {
            Some(e) => format!(
                "to {} ({})",
                crate::report::human(e.since_start()),
                crate::report::human(e.saturating_since(i.start))
            ),
            None => "to the end".to_owned(),
        };
        per.entry(i.component)
            .or_default()
            .push(format!("{status} from {from} {span}: {}", i.cause));
    }
    per.into_iter()
        .map(|(component, events)| {
            let name = component.strip_prefix("service/").unwrap_or(&component);
            fact(&format!("service {name}"), events.join("; "))
        })
        .collect()
}

/// What happened to each node once it first stopped being Ready: its condition, the node
/// controller's taints, its pods marked not ready and evicted (counted per instant); and the
/// zone's disruption states.
#[derive(Debug, Default)]
struct NodeStory {
    per_node: std::collections::BTreeMap<String, Vec<String>>,
    zone: Vec<String>,
}

impl NodeStory {
    /// Notes `fact` if it is a node-lifecycle fact.
    fn note(&mut self, at: SimDuration, fact: &crate::engine::FactRecord) -> bool {
        let at = crate::report::human(at);
        if let Some(NodeReady { node, ready }) = fact.get() {
            // Registration is not news; Ready after a verdict is.
            if !ready {
                self.push(node, format!("Unknown at {at}"));
            } else if self.per_node.contains_key(node) {
                self.push(node, format!("Ready at {at}"));
            }
        } else if let Some(t) = fact.get::<NodeTaint>() {
            let verb = if t.added { "tainted" } else { "untainted" };
            let key = t.key.rsplit('/').next().unwrap_or(t.key);
            self.push(&t.node, format!("{verb} {key}:{} at {at}", t.effect));
        } else if let Some(PodNotReady { node, .. }) = fact.get() {
            self.count(node, "pods marked not ready", &at);
        } else if let Some(PodEvicted { node, .. }) = fact.get() {
            self.count(node, "pods evicted", &at);
        } else if let Some(NodeCordoned { node, cordoned }) = fact.get() {
            let verb = if *cordoned { "cordoned" } else { "uncordoned" };
            self.push(node, format!("{verb} at {at}"));
        } else if let Some(b) = fact.get::<DrainBlocked>() {
            self.push(
                &b.node,
                format!("drain blocked on {} at {at}: {}", b.pod, b.message),
            );
        } else if let Some(o) = fact.get::<NodeOutOfService>() {
            let what = if o.out_of_service {
                "tainted out-of-service"
            } else {
                "out-of-service taint removed"
            };
            self.push(&o.node, format!("{what} at {at}"));
        } else if let Some(PodForceDeleted { node, .. }) = fact.get() {
            self.count(node, "pods force-deleted", &at);
        } else if let Some(DrainDone { node, pods }) = fact.get() {
            self.push(node, format!("drained at {at} ({pods} pods evicted)"));
        } else if let Some(z) = fact.get::<ZoneDisruption>() {
            let zone = if z.zone.is_empty() {
                "(unlabelled)"
            } else {
                &z.zone
            };
            let halt = if z.eviction_qps == 0.0 {
                ", no new taints"
            } else {
                ""
            };
            self.zone.push(format!("{zone} {} at {at}{halt}", z.state));
        } else {
            return false;
        }
        true
    }

    fn push(&mut self, node: &str, event: String) {
        self.per_node
            .entry(node.to_owned())
            .or_default()
            .push(event);
    }

    /// Counts `what` from `at`: "2 pods evicted from 7m51s" while no other event of the node
    /// comes between.
    fn count(&mut self, node: &str, what: &str, at: &str) {
        let events = self.per_node.entry(node.to_owned()).or_default();
        let infix = format!(" {what} from ");
        if let Some(last) = events.last_mut()
            && let Some((n, since)) = last.split_once(&infix)
            && let Ok(n) = n.parse::<u32>()
        {
            *last = format!("{}{infix}{since}", n + 1);
            return;
        }
        events.push(format!("1{infix}{at}"));
    }
}

/// Each workload's Ready pods: once the count falls below the most it had, when it fell and
/// when it was whole again (a replica Running and Ready elsewhere); and the pods Pending when
/// the run ended, with the scheduler's reason.
#[derive(Debug, Default)]
struct WorkloadStory {
    replicas: ReadyReplicas,
    story: BTreeMap<String, Vec<String>>,
    pending: BTreeMap<String, (String, String)>,
}

impl WorkloadStory {
    /// Notes `fact` if it is a pod fact.
    fn note(&mut self, at: SimDuration, fact: &crate::engine::FactRecord) -> bool {
        let at = crate::report::human(at);
        if let Some(c) = self.replicas.observe(fact) {
            self.tell(c, &at);
        } else if let Some(PodScheduled { pod, .. }) = fact.get() {
            self.pending.remove(pod);
        } else if let Some(p) = fact.get::<PodPending>() {
            let since = self
                .pending
                .get(&p.pod)
                .map_or(at.clone(), |(since, _)| since.clone());
            self.pending
                .insert(p.pod.clone(), (since, p.message.clone()));
        } else {
            return false;
        }
        true
    }

    fn tell(&mut self, c: ReadyChange, at: &str) {
        let ReadyChange {
            workload,
            before,
            now,
            most,
        } = c;
        let story = self.story.entry(workload).or_default();
        if now < before && before >= most {
            story.push(format!("{now}/{most} Ready from {at}"));
        } else if now < before
            && let Some(last) = story.last_mut()
            && let Some((_, since)) = last.split_once(" Ready from ")
        {
            // Fell further before it recovered: keep the lowest count.
            *last = format!("{now}/{most} Ready from {since}");
        } else if now == most && before < most && !story.is_empty() {
            story.push(format!("{most}/{most} Ready again at {at}"));
        }
    }
}

/// The longest stretch `t` was not up after it first was (start-up is not an outage).
fn longest_outage(t: &Timeline) -> SimDuration {
    t.intervals
        .iter()
        .skip_while(|i| i.status != crate::engine::Status::Up)
        .filter(|i| i.status != crate::engine::Status::Up)
        .map(|i| i.len())
        .max()
        .unwrap_or(SimDuration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FactRecord, Observer, SimTime};
    use crate::models::ceph::layout::PgId;

    #[test]
    fn sums_bytes_from_typed_recovery_facts() {
        let recovered = |bytes| LogEntry {
            time: SimTime::ZERO,
            kind: LogKind::Record {
                observer: Observer::Actor(0),
                record: Record::Fact(FactRecord::new(Recovered {
                    pg: PgId { pool: 1, ps: 10 },
                    how: "recovery",
                    osd: 3,
                    bytes,
                    host_total: bytes,
                })),
            },
        };
        let out = facts(&[recovered(1_500_000_000), recovered(500_000_000)], &[]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].value, "2.0 GB in 2 PG transfers");
    }
}
