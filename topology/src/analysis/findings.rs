//! Findings: what is wrong with a design, and the concrete change that fixes it.

use serde::Serialize;

use super::components::{ComponentState, Status};
use super::faults::StaticFault;
use super::placement::{eligible_nodes, envelope, pool_failure_domains, worst_case_replicas};
use crate::component::Component;
use crate::model::{AntiAffinity, ApiEndpointMethod, Cluster, ReplicaPolicy, Role};
use crate::policy::quorum::tolerated_failures;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the zero-SPOF verdict.
    Error,
    /// Worth fixing; the verdict still holds.
    Warning,
}

/// One thing wrong with the design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier, e.g. `pdb-blocks-drain`.
    pub code: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// The component or workload it is about.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// The change that fixes it.
    pub fix: String,
}

fn finding(
    code: &'static str,
    severity: Severity,
    subject: &str,
    message: String,
    fix: &str,
) -> Finding {
    Finding {
        code,
        severity,
        subject: subject.to_owned(),
        message,
        fix: fix.to_owned(),
    }
}

/// Findings from the design alone, before any fault.
pub fn design_findings(c: &Cluster) -> Vec<Finding> {
    let mut out = Vec::new();
    let etcd = c.hosts_with(Role::Etcd).count();
    if etcd < 3 {
        out.push(finding(
            "etcd-too-few-members",
            Severity::Error,
            &Component::Etcd.to_string(),
            format!("{etcd} etcd member(s): losing any one stops etcd"),
            "give the etcd role to 3 (or 5) hosts",
        ));
    } else if etcd.is_multiple_of(2) {
        out.push(finding(
            "etcd-even-members",
            Severity::Error,
            &Component::Etcd.to_string(),
            format!(
                "{etcd} etcd members tolerate {} failure(s), no more than {} would, with one more member to lose",
                tolerated_failures(etcd),
                etcd - 1
            ),
            "use an odd number of etcd members (3 or 5)",
        ));
    }
    let mons = c.hosts_with(Role::CephMon).count();
    if mons < 3 || mons.is_multiple_of(2) {
        out.push(finding(
            "ceph-mon-quorum",
            Severity::Error,
            &Component::CephMonQuorum.to_string(),
            format!("{mons} Ceph monitor(s): use an odd number of at least 3"),
            "give the ceph-mon role to 3 hosts (Rook: mon.count 3, allowMultiplePerNode false)",
        ));
    }
    if c.hosts_with(Role::CephMgr).count() < 2 {
        out.push(finding(
            "ceph-mgr-single",
            Severity::Warning,
            &Component::CephMgr.to_string(),
            "fewer than 2 Ceph managers: no standby for the dashboard, orchestrator and metrics"
                .to_owned(),
            "give the ceph-mgr role to 2 hosts",
        ));
    }
    for p in &c.spec.ceph.pools {
        let domains = pool_failure_domains(c, p).len();
        if domains < usize::from(p.size) {
            out.push(finding(
                "pool-fewer-domains-than-size",
                Severity::Error,
                &Component::Pool(p.name.clone()).to_string(),
                format!(
                    "size {} needs {} failure domains ({:?}) but there are {domains}: PGs stay undersized and one more loss blocks I/O",
                    p.size, p.size, p.failure_domain
                ),
                "put OSDs on at least as many hosts as the pool's size (one more lets Ceph heal back to full size)",
            ));
        }
        if p.effective_min_size() >= p.size && p.size > 1 {
            out.push(finding(
                "pool-min-size-equals-size",
                Severity::Error,
                &Component::Pool(p.name.clone()).to_string(),
                format!(
                    "min_size {} = size: losing any replica blocks I/O",
                    p.effective_min_size()
                ),
                "use min_size = size - 1 (2 for size 3)",
            ));
        }
    }
    match (
        &c.spec.api_endpoint.method,
        &c.spec.api_endpoint.health_check,
    ) {
        (ApiEndpointMethod::None, _) => out.push(finding(
            "api-no-vip",
            Severity::Error,
            "kube-apiserver",
            "clients use one control-plane host's address: it is a single point of failure"
                .to_owned(),
            "set apiEndpoint.method: keepalived-haproxy with a VIP",
        )),
        (ApiEndpointMethod::KeepalivedHaproxy, None) => out.push(finding(
            "vip-without-health-check",
            Severity::Error,
            "kube-apiserver",
            "the API VIP has no health check: a stopped apiserver keeps receiving requests"
                .to_owned(),
            "add apiEndpoint.healthCheck (path /readyz) so haproxy and keepalived react",
        )),
        _ => {}
    }
    let mut sets: Vec<(String, ReplicaPolicy)> = vec![
        ("coredns".to_owned(), c.spec.coredns.policy()),
        ("ingress".to_owned(), c.spec.ingress.policy()),
    ];
    sets.extend(
        c.spec
            .workloads
            .iter()
            .map(|w| (format!("workload/{}/{}", w.namespace, w.name), w.policy())),
    );
    for (name, policy) in &sets {
        replica_findings(c, name, policy, &mut out);
    }
    out
}

fn replica_findings(c: &Cluster, name: &str, p: &ReplicaPolicy, out: &mut Vec<Finding>) {
    let eligible = u32::try_from(eligible_nodes(c, p).len()).unwrap_or(u32::MAX);
    // DaemonSets are judged by their eligible nodes, HPAs by their floor.
    let n = worst_case_replicas(p, eligible);
    let env = envelope(p, n, eligible);
    if let Some(h) = &p.hpa
        && h.min_replicas < p.replicas
    {
        out.push(finding(
            "hpa-min-below-replicas",
            Severity::Warning,
            name,
            format!(
                "replicas is {} but the HPA may scale down to minReplicas {}: availability is judged at {}",
                p.replicas, h.min_replicas, h.min_replicas
            ),
            "set hpa.minReplicas to at least replicas (and at least 2)",
        ));
    }
    if n == 1 {
        let why = if p.per_node {
            "a DaemonSet with 1 eligible node: that node is a single point of failure".to_owned()
        } else if n < p.replicas {
            "the HPA may scale it to 1 replica: its node is a single point of failure".to_owned()
        } else {
            "1 replica: its node is a single point of failure".to_owned()
        };
        let fix = if p.per_node {
            "make more nodes eligible (add workers, or tolerate the control-plane taint)"
        } else {
            "run at least 2 replicas (and hpa.minReplicas >= 2) with antiAffinity: required"
        };
        out.push(finding("single-replica", Severity::Error, name, why, fix));
    } else if n > 1 && env.max_per_node >= n {
        out.push(finding(
            "replicas-can-share-a-node",
            Severity::Error,
            name,
            format!(
                "nothing stops all {n} replicas landing on one node (anti-affinity {:?}, no hard spread)",
                p.anti_affinity
            ),
            "set antiAffinity: required, or topologySpread {maxSkew: 1, whenUnsatisfiable: DoNotSchedule}",
        ));
    }
    if env.pending > 0 {
        out.push(finding(
            "anti-affinity-leaves-pods-pending",
            Severity::Error,
            name,
            format!(
                "{n} replicas with required anti-affinity but only {eligible} eligible node(s): {} stay Pending",
                env.pending
            ),
            "lower replicas to the eligible node count, or tolerate the control-plane taint to widen the pool",
        ));
    }
    if let Some(pdb) = &p.pdb
        && n > 0
        && pdb.disruptions_allowed(n) == 0
    {
        out.push(finding(
                "pdb-blocks-every-drain",
                Severity::Error,
                name,
                format!(
                    "the PodDisruptionBudget allows 0 of {n} pods to be evicted: every `kubectl drain` of a node running one hangs"
                ),
                "use maxUnavailable: 1 (or minAvailable below the replica count)",
            ));
    }
    if let Some(max) = p.hpa.as_ref().map(|h| h.max_replicas)
        && p.anti_affinity == AntiAffinity::Required
        && max > eligible
    {
        out.push(finding(
                "hpa-beyond-eligible-nodes",
                Severity::Warning,
                name,
                format!(
                    "the HPA may scale to {max} but required anti-affinity fits {eligible}: extra pods stay Pending"
                ),
                "cap maxReplicas at the eligible node count or use a topology spread instead",
            ));
    }
}

/// One finding per component that some single fault takes DOWN, listing the faults.
pub fn spof_findings(singles: &[(StaticFault, Vec<ComponentState>)]) -> Vec<Finding> {
    let mut by_component: Vec<(String, Vec<String>, String)> = Vec::new();
    for (fault, states) in singles {
        for s in states.iter().filter(|s| s.status == Status::Down) {
            match by_component.iter_mut().find(|(c, ..)| *c == s.component) {
                Some((_, faults, _)) => faults.push(fault.to_string()),
                None => by_component.push((
                    s.component.clone(),
                    vec![fault.to_string()],
                    s.reason.clone(),
                )),
            }
        }
    }
    by_component
        .into_iter()
        .map(|(component, faults, reason)| {
            let fix = fix_for(&component);
            finding(
                "single-point-of-failure",
                Severity::Error,
                &component,
                format!(
                    "goes DOWN on a single fault: {} ({reason})",
                    faults.join(", ")
                ),
                fix,
            )
        })
        .collect()
}

fn fix_for(component: &str) -> &'static str {
    match Component::parse(component) {
        Some(Component::Etcd) => "run 3 or 5 etcd members on distinct hosts",
        Some(Component::KubeApiserver) => {
            "keep the API behind a health-checked VIP with 3 apiservers and a healthy etcd"
        }
        Some(Component::KubeScheduler | Component::KubeControllerManager) => {
            "run it on every control-plane host"
        }
        Some(Component::CephMonQuorum) => "run 3 monitors on distinct hosts",
        Some(Component::CephMgr) => "run 2 managers",
        Some(Component::Metallb) => "give MetalLB an address pool; its speakers run on every node",
        Some(Component::Calico) => "enable the node-to-node mesh or configure route reflectors",
        Some(Component::Pool(_)) => {
            "put OSDs on more hosts than the pool's size and keep min_size = size - 1"
        }
        _ => "run 2+ replicas with required anti-affinity (or a DoNotSchedule spread)",
    }
}
