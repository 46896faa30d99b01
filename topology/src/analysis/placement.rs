//! Where replicas of a workload can land, and how many one node can hold at worst.
//!
//! The analysis does not guess the scheduler's choice: it takes the worst placement the
//! workload's hard rules allow. Preferred anti-affinity and `ScheduleAnyway` spreads are
//! wishes the scheduler may ignore under pressure, so they allow every replica on one node.

use crate::model::{
    AntiAffinity, Cluster, Disk, FailureDomain, Host, Pool, ReplicaPolicy, Role,
    UnsatisfiableAction,
};

/// Kubernetes nodes a workload may run on: workers, plus control-plane hosts when it
/// tolerates kubeadm's `node-role.kubernetes.io/control-plane:NoSchedule` taint.
pub fn eligible_nodes<'a>(cluster: &'a Cluster, policy: &ReplicaPolicy) -> Vec<&'a Host> {
    cluster
        .spec
        .hosts
        .iter()
        .filter(|h| {
            h.has_role(Role::Worker)
                || (policy.tolerate_control_plane && h.has_role(Role::ControlPlane))
        })
        .collect()
}

/// The fewest pods a replica set may run with every node healthy, which is what a fault must
/// be judged against. A DaemonSet runs one pod per eligible node. Otherwise an HPA owns the
/// count and may scale down to `minReplicas`, so the worst case is the lower of that and
/// `replicas` (an HPA that can reach 1 hides a single point of failure behind `replicas: 3`).
pub fn worst_case_replicas(policy: &ReplicaPolicy, eligible: u32) -> u32 {
    if policy.per_node {
        return eligible;
    }
    match &policy.hpa {
        Some(h) => policy.replicas.min(h.min_replicas),
        None => policy.replicas,
    }
}

/// The placement envelope of one replica set on `eligible` nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// Replicas that can be scheduled at all.
    pub scheduled: u32,
    /// Replicas left Pending because hard rules leave no node for them.
    pub pending: u32,
    /// The most replicas one node can hold under the hard rules.
    pub max_per_node: u32,
}

/// Worst-case envelope for `replicas` pods under `policy` on `eligible` nodes.
pub fn envelope(policy: &ReplicaPolicy, replicas: u32, eligible: u32) -> Envelope {
    if eligible == 0 {
        return Envelope {
            scheduled: 0,
            pending: if policy.per_node { 0 } else { replicas },
            max_per_node: 0,
        };
    }
    if policy.per_node {
        // The DaemonSet controller places exactly one pod on each eligible node.
        return Envelope {
            scheduled: eligible,
            pending: 0,
            max_per_node: 1,
        };
    }
    if policy.anti_affinity == AntiAffinity::Required {
        let scheduled = replicas.min(eligible);
        return Envelope {
            scheduled,
            pending: replicas - scheduled,
            max_per_node: 1,
        };
    }
    let max_per_node = match &policy.topology_spread {
        Some(s) if s.when_unsatisfiable == UnsatisfiableAction::DoNotSchedule => {
            // With skew s over E nodes the fullest node holds m where the others hold at
            // least m - s each: m + (E-1)(m-s) <= n.
            // In u64: skew and replicas come from the file and their sum can pass u32::MAX.
            let s = u64::from(s.max_skew.max(1));
            let e = u64::from(eligible);
            let m = s.saturating_mul(e - 1).saturating_add(u64::from(replicas)) / e;
            u32::try_from(m).unwrap_or(u32::MAX).min(replicas)
        }
        _ => replicas,
    };
    Envelope {
        scheduled: replicas,
        pending: 0,
        max_per_node,
    }
}

/// One CRUSH failure domain a pool may put a replica in, with the OSDs in it that the pool
/// may use.
#[derive(Debug, Clone)]
pub struct PoolDomain<'a> {
    /// The host the OSDs sit on.
    pub host: &'a Host,
    /// Its disks of the pool's device class: all of them for `failureDomain: host`, one for
    /// `failureDomain: osd`.
    pub disks: Vec<&'a Disk>,
}

/// The failure domains of `pool`: hosts with the `ceph-osd` role (or single OSDs, for
/// `failureDomain: osd`) holding at least one disk of the pool's device class. Validation,
/// the design findings and the fault rules all count domains through this one function, so
/// a pool restricted to a device class is judged by the OSDs its CRUSH rule can choose.
pub fn pool_failure_domains<'a>(cluster: &'a Cluster, pool: &Pool) -> Vec<PoolDomain<'a>> {
    let mut out = Vec::new();
    for host in cluster.hosts_with(Role::CephOsd) {
        let disks: Vec<&Disk> = host
            .disks
            .iter()
            .filter(|d| pool.device_class.is_none_or(|dc| dc == d.device_class))
            .collect();
        match pool.failure_domain {
            FailureDomain::Host if !disks.is_empty() => out.push(PoolDomain { host, disks }),
            FailureDomain::Host => {}
            FailureDomain::Osd => out.extend(disks.into_iter().map(|d| PoolDomain {
                host,
                disks: vec![d],
            })),
        }
    }
    out
}

/// Replicas still running at worst when `failed` of the eligible nodes are gone.
pub fn worst_survivors(env: &Envelope, failed: u32) -> u32 {
    env.scheduled
        .saturating_sub(failed.saturating_mul(env.max_per_node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TopologySpread;

    fn policy(aa: AntiAffinity, spread: Option<u32>) -> ReplicaPolicy {
        ReplicaPolicy {
            replicas: 0,
            anti_affinity: aa,
            topology_spread: spread.map(|s| TopologySpread {
                max_skew: s,
                when_unsatisfiable: UnsatisfiableAction::DoNotSchedule,
            }),
            tolerate_control_plane: false,
            pdb: None,
            per_node: false,
            hpa: None,
        }
    }

    #[test]
    fn required_anti_affinity_leaves_extra_replicas_pending() {
        let e = envelope(&policy(AntiAffinity::Required, None), 3, 2);
        assert_eq!((e.scheduled, e.pending, e.max_per_node), (2, 1, 1));
        assert_eq!(worst_survivors(&e, 1), 1);
    }

    #[test]
    fn hard_spread_bounds_the_fullest_node() {
        let e = envelope(&policy(AntiAffinity::Preferred, Some(1)), 3, 2);
        assert_eq!(e.max_per_node, 2);
        assert_eq!(worst_survivors(&e, 1), 1);
        let e = envelope(&policy(AntiAffinity::None, Some(1)), 6, 3);
        assert_eq!(e.max_per_node, 2);
    }

    #[test]
    fn preferred_allows_everything_on_one_node() {
        let e = envelope(&policy(AntiAffinity::Preferred, None), 4, 5);
        assert_eq!(e.max_per_node, 4);
        assert_eq!(worst_survivors(&e, 1), 0);
    }
}
