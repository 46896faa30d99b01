//! Workloads and the replica rules (anti-affinity, spread, PDB, HPA) that decide whether a
//! failure or a drain takes them down.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::defaults;

/// An application the cluster runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workload {
    /// Object name.
    pub name: String,
    /// Namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Controller kind.
    pub kind: WorkloadKind,
    /// Container image.
    pub image: String,
    /// Container port the Service and probes use.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Replica count (ignored for DaemonSets, which run one pod per eligible node).
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// Pod anti-affinity on `kubernetes.io/hostname`.
    #[serde(default)]
    pub anti_affinity: AntiAffinity,
    /// Topology spread constraint on `kubernetes.io/hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread: Option<TopologySpread>,
    /// Also run on control-plane hosts (tolerate their NoSchedule taint).
    #[serde(default)]
    pub tolerate_control_plane: bool,
    /// PodDisruptionBudget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb: Option<Pdb>,
    /// HorizontalPodAutoscaler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<Hpa>,
    /// Readiness, liveness and startup probes.
    #[serde(default)]
    pub probes: Probes,
    /// Persistent volumes (StatefulSet volume claim templates, or one PVC for a Deployment).
    #[serde(default)]
    pub volumes: Vec<VolumeClaim>,
    /// CPU request in millicores.
    #[serde(default = "default_cpu_millis")]
    pub cpu_millis: u32,
    /// Memory request in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
}

fn default_namespace() -> String {
    defaults::WORKLOAD_NAMESPACE.to_owned()
}
fn default_port() -> u16 {
    defaults::WORKLOAD_PORT
}
fn default_replicas() -> u32 {
    defaults::WORKLOAD_REPLICAS
}
fn default_cpu_millis() -> u32 {
    defaults::WORKLOAD_CPU_MILLIS
}
fn default_memory_mib() -> u64 {
    defaults::WORKLOAD_MEMORY_MIB
}

impl Workload {
    /// The replica rules the analysis and the renderer share.
    pub fn policy(&self) -> ReplicaPolicy {
        let per_node = self.kind == WorkloadKind::DaemonSet;
        ReplicaPolicy {
            replicas: self.replicas,
            anti_affinity: self.anti_affinity,
            topology_spread: self.topology_spread.clone(),
            tolerate_control_plane: self.tolerate_control_plane,
            pdb: self.pdb.clone(),
            per_node,
            // The renderer creates no HPA for a DaemonSet, so its bounds do not apply.
            hpa: self.hpa.clone().filter(|_| !per_node),
        }
    }
}

/// Controller kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WorkloadKind {
    /// Stateless replicas.
    Deployment,
    /// Ordered replicas with their own volumes.
    StatefulSet,
    /// One pod per eligible node.
    DaemonSet,
}

/// How replicas of one workload may share a node, and what may disrupt them: the part of a
/// workload that decides availability under faults and drains.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplicaPolicy {
    /// Replica count.
    pub replicas: u32,
    /// Pod anti-affinity on `kubernetes.io/hostname`.
    pub anti_affinity: AntiAffinity,
    /// Topology spread constraint on `kubernetes.io/hostname`.
    pub topology_spread: Option<TopologySpread>,
    /// Runs on control-plane hosts too.
    pub tolerate_control_plane: bool,
    /// PodDisruptionBudget.
    pub pdb: Option<Pdb>,
    /// A DaemonSet: one pod on every eligible node, whatever `replicas` says.
    pub per_node: bool,
    /// The HorizontalPodAutoscaler that owns the replica count, if any.
    pub hpa: Option<Hpa>,
}

/// Pod anti-affinity between replicas of one workload, per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AntiAffinity {
    /// No rule: the scheduler may put every replica on one node.
    #[default]
    None,
    /// `preferredDuringSchedulingIgnoredDuringExecution`: a wish the scheduler may ignore.
    Preferred,
    /// `requiredDuringSchedulingIgnoredDuringExecution`: at most one replica per node; extra
    /// replicas stay Pending.
    Required,
}

/// A topology spread constraint over `kubernetes.io/hostname`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopologySpread {
    /// Largest allowed difference in replica count between two nodes.
    pub max_skew: u32,
    /// What the scheduler does when the constraint cannot be met.
    pub when_unsatisfiable: UnsatisfiableAction,
}

/// `whenUnsatisfiable` of a topology spread constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UnsatisfiableAction {
    /// A hard rule.
    DoNotSchedule,
    /// A soft preference.
    ScheduleAnyway,
}

/// A PodDisruptionBudget: exactly one of the two fields is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pdb {
    /// Pods that must stay available during voluntary disruptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrPercent>,
    /// Pods that may be unavailable during voluntary disruptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
}

impl Pdb {
    /// `desiredHealthy` as the disruption controller computes it for a workload of
    /// `expected` replicas (`getExpectedPodCount`): `minAvailable` scaled (rounded up), or
    /// `expected` less `maxUnavailable` scaled (rounded up).
    pub fn desired_healthy(&self, expected: u32) -> u32 {
        match (&self.min_available, &self.max_unavailable) {
            (Some(min), _) => min.scaled(expected),
            (None, Some(max)) => expected.saturating_sub(max.scaled(expected)),
            (None, None) => 0,
        }
    }

    /// `disruptionsAllowed` with `healthy` Ready pods of `expected`.
    pub fn disruptions_allowed_with(&self, healthy: u32, expected: u32) -> u32 {
        healthy.saturating_sub(self.desired_healthy(expected))
    }

    /// A budget with `minAvailable: n`.
    pub fn min_available(n: u32) -> Pdb {
        Pdb {
            min_available: Some(IntOrPercent::Count(n)),
            max_unavailable: None,
        }
    }

    /// How many of `replicas` healthy pods the eviction API lets go at once
    /// (`status.disruptionsAllowed` with every pod healthy). Percentages of either field round
    /// up, as the disruption controller computes both with
    /// `GetScaledValueFromIntOrPercent(.., roundUp=true)`: `minAvailable: 50%` of 3 keeps 2,
    /// `maxUnavailable: 50%` of 3 lets 2 go.
    pub fn disruptions_allowed(&self, replicas: u32) -> u32 {
        if let Some(min) = &self.min_available {
            replicas.saturating_sub(min.scaled(replicas))
        } else if let Some(max) = &self.max_unavailable {
            max.scaled(replicas).min(replicas)
        } else {
            replicas
        }
    }
}

/// A Kubernetes `IntOrString` limited to counts and percentages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    /// An absolute number of pods.
    Count(u32),
    /// A percentage of the desired replicas.
    Percent(u32),
}

impl IntOrPercent {
    /// The value for `replicas` pods, rounding percentages up as the disruption controller does.
    pub fn scaled(&self, replicas: u32) -> u32 {
        match *self {
            IntOrPercent::Count(n) => n,
            // A u32 times a u32 fits in a u64; the result exceeds u32 only for a percentage
            // above 100, which parsing refuses, so saturate rather than wrap.
            IntOrPercent::Percent(p) => {
                u32::try_from((u64::from(p) * u64::from(replicas)).div_ceil(100))
                    .unwrap_or(u32::MAX)
            }
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Count(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for IntOrPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrPercent::Count(n) => s.serialize_u32(*n),
            IntOrPercent::Percent(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IntOrPercent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a pod count such as 2 or a percentage such as \"50%\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(IntOrPercent::Count)
                    .map_err(|_| E::custom("pod count too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(IntOrPercent::Count)
                    .map_err(|_| E::custom("pod count must be 0 or more"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let pct = v
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<u32>().ok())
                    .filter(|p| *p <= 100);
                match (pct, v.trim().parse::<u32>()) {
                    (Some(p), _) => Ok(IntOrPercent::Percent(p)),
                    (None, Ok(n)) => Ok(IntOrPercent::Count(n)),
                    _ => Err(E::custom(format!(
                        "`{v}` is neither a pod count nor a percentage from 0% to 100%"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for IntOrPercent {
    fn schema_name() -> Cow<'static, str> {
        "IntOrPercent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]{1,3}%$"}
            ]
        })
    }
}

/// A HorizontalPodAutoscaler on CPU utilisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hpa {
    /// Lower bound of replicas.
    pub min_replicas: u32,
    /// Upper bound of replicas.
    pub max_replicas: u32,
    /// Target average CPU utilisation in percent of the request.
    #[serde(default = "default_cpu_target")]
    pub target_cpu_utilization_percent: u32,
}

fn default_cpu_target() -> u32 {
    defaults::HPA_TARGET_CPU_PERCENT
}

/// The three probe slots of a container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probes {
    /// Gates Service endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Probe>,
    /// Restarts a hung container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Probe>,
    /// Holds the other probes back while a slow container starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Probe>,
}

/// One probe with Kubernetes' defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// What the kubelet does to probe.
    pub action: ProbeAction,
    /// `initialDelaySeconds`.
    #[serde(default = "probe_initial_delay")]
    pub initial_delay_seconds: u32,
    /// `periodSeconds`.
    #[serde(default = "probe_period")]
    pub period_seconds: u32,
    /// `timeoutSeconds`.
    #[serde(default = "probe_timeout")]
    pub timeout_seconds: u32,
    /// `failureThreshold`.
    #[serde(default = "probe_failure_threshold")]
    pub failure_threshold: u32,
}

fn probe_initial_delay() -> u32 {
    defaults::PROBE_INITIAL_DELAY_S
}
fn probe_period() -> u32 {
    defaults::PROBE_PERIOD_S
}
fn probe_timeout() -> u32 {
    defaults::PROBE_TIMEOUT_S
}
fn probe_failure_threshold() -> u32 {
    defaults::PROBE_FAILURE_THRESHOLD
}

/// A probe handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum ProbeAction {
    /// HTTP GET on the workload's port.
    HttpGet {
        /// Request path.
        path: String,
    },
    /// TCP connect to the workload's port.
    TcpSocket {},
    /// A command run in the container.
    Exec {
        /// argv.
        command: Vec<String>,
    },
}

/// A persistent volume claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeClaim {
    /// Claim name (and mount name).
    pub name: String,
    /// Where the container mounts it.
    pub mount_path: String,
    /// Ceph pool backing the StorageClass.
    pub pool: String,
    /// Size in GiB.
    pub size_gib: u64,
    /// Access mode.
    #[serde(default)]
    pub access_mode: VolumeAccessMode,
}

/// PVC access modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum VolumeAccessMode {
    /// Mounted by one node at a time: a failed node's volume must be detached first.
    #[default]
    ReadWriteOnce,
    /// Mounted by one pod at a time.
    ReadWriteOncePod,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_scale_as_the_disruption_controller_does() {
        let min = |v| Pdb {
            min_available: Some(v),
            max_unavailable: None,
        };
        let max = |v| Pdb {
            min_available: None,
            max_unavailable: Some(v),
        };
        // minAvailable 2 of 3: two must stay, one may go while all three are Ready.
        assert_eq!(min(IntOrPercent::Count(2)).desired_healthy(3), 2);
        assert_eq!(
            min(IntOrPercent::Count(2)).disruptions_allowed_with(3, 3),
            1
        );
        assert_eq!(
            min(IntOrPercent::Count(2)).disruptions_allowed_with(2, 3),
            0
        );
        // Percentages round up: 50% of 3 keeps 2; maxUnavailable 50% of 3 lets 2 go.
        assert_eq!(min(IntOrPercent::Percent(50)).desired_healthy(3), 2);
        assert_eq!(max(IntOrPercent::Percent(50)).desired_healthy(3), 1);
        assert_eq!(
            max(IntOrPercent::Count(1)).disruptions_allowed_with(3, 3),
            1
        );
        // With every pod healthy both helpers agree.
        for pdb in [min(IntOrPercent::Count(2)), max(IntOrPercent::Percent(34))] {
            for n in 0..6 {
                assert_eq!(
                    pdb.disruptions_allowed_with(n, n),
                    pdb.disruptions_allowed(n)
                );
            }
        }
    }
}
