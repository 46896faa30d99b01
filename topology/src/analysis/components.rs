//! Quorum and placement rules: the state of each component under a given damage.
//!
//! Up (OK in the matrix) means full service with full redundancy; Degraded means full service
//! with less redundancy, or a failover gap that heals by itself; Down means the service is
//! interrupted for some or all clients until someone acts.

use serde::Serialize;

use super::faults::Damage;
use super::placement::{
    eligible_nodes, envelope, pool_failure_domains, worst_case_replicas, worst_survivors,
};
use crate::component::Component;
use crate::model::{ApiEndpointMethod, Cluster, Pool, ReplicaPolicy, Role};
use crate::policy::quorum::majority;
use crate::policy::scheduler::cluster::{Placement, place_workloads};

/// How a component fares: the same [`Status`] the simulator's and the drills' timelines use
/// (`Up` is full service with full redundancy).
pub use crate::timeline::Status;

/// One component's state and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentState {
    /// Component name (`etcd`, `pool/replicapool`, `workload/default/web`...).
    pub component: String,
    /// How it fares.
    pub status: Status,
    /// One sentence of why.
    pub reason: String,
}

fn state(
    component: impl Into<String>,
    status: Status,
    reason: impl Into<String>,
) -> ComponentState {
    ComponentState {
        component: component.into(),
        status,
        reason: reason.into(),
    }
}

/// Majority of `n` voters (the one rule in [`crate::policy::quorum`]).
pub fn quorum(n: usize) -> usize {
    majority(n)
}

/// The state of every component of `cluster` under `damage`, in a fixed order.
pub fn evaluate(cluster: &Cluster, damage: &Damage) -> Vec<ComponentState> {
    let etcd = etcd(cluster, damage);
    let etcd_ok = etcd.status != Status::Down;
    let api = api(cluster, damage, etcd_ok);
    let mons = ceph_mon(cluster, damage);
    let mon_ok = mons.status != Status::Down;
    let metallb = metallb(cluster, damage);
    let mut out = vec![
        etcd,
        api,
        leader_elected(cluster, damage, etcd_ok, Component::KubeScheduler),
        leader_elected(cluster, damage, etcd_ok, Component::KubeControllerManager),
        mons,
        ceph_mgr(cluster, damage),
    ];
    let pools: Vec<ComponentState> = cluster
        .spec
        .ceph
        .pools
        .iter()
        .map(|p| pool(cluster, damage, p, mon_ok))
        .collect();
    out.extend(pools.iter().cloned());
    out.push(calico(cluster, damage));
    let ingress = replicas(
        cluster,
        damage,
        &Component::Ingress.to_string(),
        &cluster.spec.ingress.policy(),
    );
    out.push(worse_of(
        ingress,
        &metallb,
        "external traffic needs MetalLB",
    ));
    out.push(metallb);
    out.push(replicas(
        cluster,
        damage,
        &Component::Coredns.to_string(),
        &cluster.spec.coredns.policy(),
    ));
    let placements = place_workloads(cluster);
    for w in &cluster.spec.workloads {
        let name = Component::Workload {
            namespace: w.namespace.clone(),
            name: w.name.clone(),
        }
        .to_string();
        let mine = placements
            .iter()
            .find(|p| p.namespace == w.namespace && p.workload == w.name && !p.daemon);
        let mut s = replicas_placed(cluster, damage, &name, &w.policy(), mine);
        for v in &w.volumes {
            if let Some(p) = pools
                .iter()
                .find(|p| Component::Pool(v.pool.clone()).is(&p.component))
            {
                s = worse_of(s, p, "its volumes live there");
            }
        }
        out.push(s);
    }
    out
}

/// `a`, made as bad as `dep` when `dep` is worse, naming the dependency.
fn worse_of(mut a: ComponentState, dep: &ComponentState, why: &str) -> ComponentState {
    if dep.status > a.status {
        a.status = dep.status;
        a.reason = format!("{} is {} ({why})", dep.component, dep.status.as_str());
    }
    a
}

fn etcd(c: &Cluster, d: &Damage) -> ComponentState {
    let members: Vec<_> = c.hosts_with(Role::Etcd).collect();
    let n = members.len();
    let up = members.iter().filter(|h| d.reachable(&h.name)).count();
    if n == 0 {
        return state(Component::Etcd, Status::Down, "no etcd members");
    }
    let q = quorum(n);
    if up < q {
        state(
            Component::Etcd,
            Status::Down,
            format!(
                "{up} of {n} members reachable, quorum needs {q}: writes and linearizable reads stop"
            ),
        )
    } else if up < n {
        let cut: Vec<_> = members
            .iter()
            .filter(|h| d.isolated.contains(&h.name))
            .map(|h| h.name.as_str())
            .collect();
        let mut r = format!("{up} of {n} members keep quorum ({q})");
        if !cut.is_empty() {
            r.push_str(&format!(
                "; cut-off {} cannot commit (check-quorum steps a minority leader down)",
                cut.join(", ")
            ));
        }
        state(Component::Etcd, Status::Degraded, r)
    } else {
        state(
            Component::Etcd,
            Status::Up,
            format!("{n} members, quorum {q}"),
        )
    }
}

fn api(c: &Cluster, d: &Damage, etcd_ok: bool) -> ComponentState {
    let ep = &c.spec.api_endpoint;
    let cps: Vec<_> = c.hosts_with(Role::ControlPlane).collect();
    let serving = |h: &str| d.reachable(h) && !d.apiserver_stopped.contains(h);
    let healthy = cps.iter().filter(|h| serving(&h.name)).count();
    if !etcd_ok {
        return state(Component::KubeApiserver, Status::Down, "etcd has no quorum");
    }
    match ep.method {
        ApiEndpointMethod::None => {
            let Some(first) = cps.first() else {
                return state(
                    Component::KubeApiserver,
                    Status::Down,
                    "no control-plane host",
                );
            };
            if serving(&first.name) {
                let s = if healthy < cps.len() {
                    Status::Degraded
                } else {
                    Status::Up
                };
                state(
                    Component::KubeApiserver,
                    s,
                    format!("clients use {} directly (no VIP)", first.name),
                )
            } else {
                state(
                    Component::KubeApiserver,
                    Status::Down,
                    format!("clients use {} directly and it is not serving", first.name),
                )
            }
        }
        ApiEndpointMethod::KeepalivedHaproxy => {
            if healthy == 0 {
                return state(
                    Component::KubeApiserver,
                    Status::Down,
                    "no apiserver is serving",
                );
            }
            if healthy == cps.len() {
                return state(
                    Component::KubeApiserver,
                    Status::Up,
                    format!("{healthy} apiservers behind the VIP"),
                );
            }
            if ep.health_check.is_none() {
                return state(
                    Component::KubeApiserver,
                    Status::Down,
                    "the VIP has no health check: haproxy keeps sending a share of requests to a dead apiserver",
                );
            }
            state(
                Component::KubeApiserver,
                Status::Degraded,
                format!(
                    "{healthy} of {} apiservers serving; haproxy's /readyz check takes the rest out",
                    cps.len()
                ),
            )
        }
    }
}

fn leader_elected(c: &Cluster, d: &Damage, etcd_ok: bool, name: Component) -> ComponentState {
    let cps: Vec<_> = c.hosts_with(Role::ControlPlane).collect();
    // kubeadm points scheduler.conf and controller-manager.conf at the local apiserver, so
    // an instance whose apiserver is stopped cannot renew its lease.
    let live = cps
        .iter()
        .filter(|h| d.reachable(&h.name) && !d.apiserver_stopped.contains(&h.name))
        .count();
    let lease = c.spec.control_plane.leader_election.lease_duration_seconds;
    if !etcd_ok {
        state(
            name,
            Status::Down,
            "etcd has no quorum, so no lease can be renewed",
        )
    } else if live == 0 {
        state(name, Status::Down, "no instance can reach its apiserver")
    } else if live < cps.len() {
        state(
            name,
            Status::Degraded,
            format!(
                "{live} of {} instances; a standby takes the lease within {lease} s",
                cps.len()
            ),
        )
    } else {
        state(name, Status::Up, format!("{live} instances, one leader"))
    }
}

fn ceph_mon(c: &Cluster, d: &Damage) -> ComponentState {
    let mons: Vec<_> = c.hosts_with(Role::CephMon).collect();
    let n = mons.len();
    if n == 0 {
        return state(Component::CephMonQuorum, Status::Down, "no monitors");
    }
    let up = mons.iter().filter(|h| d.reachable(&h.name)).count();
    let q = quorum(n);
    let s = if up < q {
        Status::Down
    } else if up < n {
        Status::Degraded
    } else {
        Status::Up
    };
    state(
        Component::CephMonQuorum,
        s,
        format!("{up} of {n} monitors, quorum needs {q}"),
    )
}

fn ceph_mgr(c: &Cluster, d: &Damage) -> ComponentState {
    let mgrs: Vec<_> = c.hosts_with(Role::CephMgr).collect();
    let up = mgrs.iter().filter(|h| d.reachable(&h.name)).count();
    let s = match (up, mgrs.len()) {
        (0, _) => Status::Down,
        (u, n) if u < n => Status::Degraded,
        _ => Status::Up,
    };
    state(
        Component::CephMgr,
        s,
        format!("{up} of {} managers (I/O does not need one)", mgrs.len()),
    )
}

/// A failure domain of a pool with its OSDs.
struct Domain {
    osds: usize,
    lost: usize,
}

fn pool_domains(c: &Cluster, d: &Damage, p: &Pool) -> Vec<Domain> {
    pool_failure_domains(c, p)
        .into_iter()
        .map(|dom| {
            let host = &dom.host.name;
            let lost = dom
                .disks
                .iter()
                .filter(|k| {
                    !d.reachable(host) || d.lost_disks.contains(&(host.clone(), k.device.clone()))
                })
                .count();
            Domain {
                osds: dom.disks.len(),
                lost,
            }
        })
        .collect()
}

fn pool(c: &Cluster, d: &Damage, p: &Pool, mon_ok: bool) -> ComponentState {
    let name = Component::Pool(p.name.clone()).to_string();
    let domains = pool_domains(c, d, p);
    let size = usize::from(p.size);
    let min = usize::from(p.effective_min_size());
    let placed = size.min(domains.len());
    if placed == 0 {
        return state(&name, Status::Down, "no OSDs to place data on");
    }
    // At worst one PG has a replica in every failed domain (whole domain lost) and in every
    // partly failed one (its PGs on the lost OSD lose that replica until it is marked out).
    let hit = domains.iter().filter(|x| x.lost > 0).count();
    let whole = domains.iter().filter(|x| x.lost == x.osds).count();
    let worst_up = placed - hit.min(placed);
    let spare = domains.len() - whole;
    let out_s = c.spec.ceph.down_out_interval_seconds;
    if !mon_ok {
        return state(
            &name,
            Status::Down,
            "monitors lost quorum: no map changes, I/O stalls",
        );
    }
    if worst_up == 0 {
        return state(
            &name,
            Status::Down,
            format!("some PGs have no replica left ({hit} failure domains hit)"),
        );
    }
    if worst_up < min {
        return state(
            &name,
            Status::Down,
            format!("some PGs keep {worst_up} replica(s) < min_size {min}: their I/O blocks"),
        );
    }
    if placed < size {
        return state(
            &name,
            Status::Degraded,
            format!("only {placed} failure domains for size {size}: PGs stay undersized"),
        );
    }
    if hit > 0 {
        let heal = if spare >= size {
            format!("re-replicates after {out_s} s (mon_osd_down_out_interval)")
        } else {
            format!("stays undersized: {spare} domains left for size {size}")
        };
        return state(
            &name,
            Status::Degraded,
            format!("worst PG keeps {worst_up} of {size} replicas, I/O continues; {heal}"),
        );
    }
    state(
        &name,
        Status::Up,
        format!("{size} replicas in {} domains", domains.len()),
    )
}

fn calico(c: &Cluster, d: &Damage) -> ComponentState {
    let nodes = kubernetes_nodes(c);
    let cal = &c.spec.calico;
    if cal.bgp && !cal.node_to_node_mesh {
        return state(
            Component::Calico,
            Status::Down,
            "BGP without the node-to-node mesh and without route reflectors distributes no routes",
        );
    }
    let down = nodes.iter().filter(|h| !d.reachable(&h.name)).count();
    if down == 0 {
        state(
            Component::Calico,
            Status::Up,
            format!("{} nodes peer in a full BGP mesh", nodes.len()),
        )
    } else {
        state(
            Component::Calico,
            Status::Degraded,
            format!("{down} node(s) gone; the rest keep routing (per-node data plane)"),
        )
    }
}

fn metallb(c: &Cluster, d: &Damage) -> ComponentState {
    if c.spec.metallb.address_pool.is_empty() {
        return state(
            Component::Metallb,
            Status::Down,
            "no address pool: LoadBalancer Services get no IP",
        );
    }
    // The speaker DaemonSet tolerates the control-plane taint, so every node announces.
    let nodes = kubernetes_nodes(c);
    let up = nodes.iter().filter(|h| d.reachable(&h.name)).count();
    if up == 0 {
        state(Component::Metallb, Status::Down, "no speaker left")
    } else if up < nodes.len() {
        state(
            Component::Metallb,
            Status::Degraded,
            format!(
                "{up} of {} speakers; IPs announced by a lost node move to another",
                nodes.len()
            ),
        )
    } else {
        state(Component::Metallb, Status::Up, format!("{up} speakers"))
    }
}

/// Hosts that are Kubernetes nodes (kubelet runs there): workers and control-plane hosts.
fn kubernetes_nodes(c: &Cluster) -> Vec<&crate::model::Host> {
    c.spec
        .hosts
        .iter()
        .filter(|h| h.has_role(Role::Worker) || h.has_role(Role::ControlPlane))
        .collect()
}

/// Worst-case state of a replica set under `damage`: a DaemonSet counts one pod per eligible
/// node, and an HPA counts at its `minReplicas` when that is below `replicas`.
pub fn replicas(c: &Cluster, d: &Damage, name: &str, policy: &ReplicaPolicy) -> ComponentState {
    replicas_placed(c, d, name, policy, None)
}

/// [`replicas`] for a workload the scheduler policy placed: whether each of the first `n`
/// replicas fits anywhere (resources, taints, anti-affinity, spread together) is the
/// scheduler's verdict, with its message; the worst case under faults stays the hard rules'
/// envelope.
fn replicas_placed(
    c: &Cluster,
    d: &Damage,
    name: &str,
    policy: &ReplicaPolicy,
    placement: Option<&Placement>,
) -> ComponentState {
    let eligible = eligible_nodes(c, policy);
    let n_eligible = u32::try_from(eligible.len()).unwrap_or(u32::MAX);
    let n = worst_case_replicas(policy, n_eligible);
    let mut env = envelope(policy, n, n_eligible);
    let mut pending_why = None;
    if let Some(p) = placement {
        let placed = u32::try_from(p.nodes.len()).unwrap_or(u32::MAX).min(n);
        env.scheduled = placed;
        env.pending = n - placed;
        if env.pending > 0 {
            pending_why = p.why.clone();
        }
    }
    let failed = eligible.iter().filter(|h| !d.reachable(&h.name)).count();
    let failed = u32::try_from(failed).unwrap_or(u32::MAX);
    let left = worst_survivors(&env, failed);
    if n == 0 {
        let why = if policy.per_node {
            "DaemonSet with no eligible node"
        } else {
            "0 replicas"
        };
        return state(name, Status::Down, why);
    }
    if left == 0 {
        let why = if env.scheduled == 0 {
            "no eligible node".to_owned()
        } else {
            format!(
                "at worst all {} scheduled replicas sat on the {failed} lost node(s)",
                env.scheduled
            )
        };
        return state(name, Status::Down, why);
    }
    if left < n {
        let mut r = format!("at worst {left} of {n} replicas running");
        match (&pending_why, env.pending) {
            (_, 0) => {}
            (Some(why), p) => r.push_str(&format!("; {p} Pending: {why}")),
            (None, p) => r.push_str(&format!("; {p} Pending (no node fits)")),
        }
        return state(name, Status::Degraded, r);
    }
    let what = if policy.per_node {
        format!("{n} pods, one per eligible node")
    } else if n < policy.replicas {
        format!(
            "{} replicas; judged at the HPA's minReplicas {n}",
            policy.replicas
        )
    } else {
        format!("{n} replicas")
    };
    state(name, Status::Up, what)
}
