//! Where replicas of a workload can land, and how many one node can hold at worst.
//!
//! The analysis does not guess the scheduler's choice: it takes the worst placement the
//! workload's hard rules allow. Preferred anti-affinity and `ScheduleAnyway` spreads are
//! wishes the scheduler may ignore under pressure, so they allow every replica on one node.

use crate::model::{AntiAffinity, Cluster, Host, ReplicaPolicy, Role, UnsatisfiableAction};

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
            pending: replicas,
            max_per_node: 0,
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
            let s = s.max_skew.max(1);
            ((replicas + s * (eligible - 1)) / eligible).min(replicas)
        }
        _ => replicas,
    };
    Envelope {
        scheduled: replicas,
        pending: 0,
        max_per_node,
    }
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
