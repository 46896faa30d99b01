//! The fault vocabulary: what can go wrong, when, as plain data. The simulator applies these
//! plans to its models and the drills apply the very same plans to real hosts, so a failing
//! simulated case can be re-run on real infrastructure. Plans serialize as Kubernetes-style
//! YAML/JSON (camelCase fields, `type` discriminators, durations written like `1m30s`), and
//! `FaultPlan::validate` checks them against the hosts, disks and processes a cluster has.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod effect;
mod file;
#[cfg(feature = "proptest")]
pub mod strategy;

pub use effect::NoOp;
pub use file::{ScenarioFileError, load_scenario, parse_scenario};

/// `apiVersion` of a Scenario document.
pub const SCENARIO_API_VERSION: &str = "spofless.dev/v1alpha1";
/// `kind` of a Scenario document.
pub const SCENARIO_KIND: &str = "Scenario";

/// One thing that goes wrong (or is put right) at an instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Fault {
    /// The host stops at once: every process dies, volatile state is lost, disks survive.
    HostCrash { host: String },
    /// A crashed host boots again; its processes start from their durable state.
    HostRestart { host: String },
    /// One process is stopped (SIGKILL): it loses volatile state.
    ProcessStop { host: String, process: String },
    /// One process is asked to stop (SIGTERM, `systemctl stop`): it runs its shutdown path
    /// (etcd hands leadership over, keepalived sends a priority-0 advert), then exits and stays
    /// stopped like after `ProcessStop`. A process with no shutdown path exits at once.
    ProcessTerminate { host: String, process: String },
    /// A stopped process is started again.
    ProcessStart { host: String, process: String },
    /// A process is frozen (SIGSTOP, a VM pause, a long GC): it keeps its state, handles nothing.
    ProcessPause { host: String, process: String },
    /// A paused process resumes and handles everything that queued up meanwhile.
    ProcessResume { host: String, process: String },
    /// A disk (and any OSD on it) is lost for good.
    DiskLoss { host: String, disk: String },
    /// Hosts in different groups cannot reach each other. Hosts not named form one more group.
    Partition { groups: Vec<Vec<String>> },
    /// Packets from `from` to `to` are dropped; the reverse direction still works.
    OneWay { from: String, to: String },
    /// Every network fault (partition, one-way cut, slow or lossy link) is removed.
    Heal,
    /// The link between `a` and `b` gets `latency` of extra delay in both directions.
    LinkSlow {
        a: String,
        b: String,
        #[serde(with = "span")]
        #[schemars(with = "String")]
        latency: Duration,
    },
    /// The link between `a` and `b` drops each packet with probability `loss` (0 to 1).
    LinkLossy { a: String, b: String, loss: f64 },
    /// The host is cordoned and its pods evicted (kubectl drain).
    Drain { host: String },
    /// The host accepts pods again (kubectl uncordon).
    Uncordon { host: String },
    /// The operator marks the host out of service (`kubectl taint nodes <host>
    /// node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`) once it is known to be down:
    /// its pods are deleted and a StatefulSet replica there can be replaced.
    OutOfService { host: String },
    /// The operator removes the out-of-service taint (the host is back).
    InService { host: String },
}

/// A fault and the moment, counted from the start of the run, when it happens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimedFault {
    /// Offset from the start of the run, written like `30s` or `2m`.
    #[serde(with = "span")]
    #[schemars(with = "String")]
    pub at: Duration,
    /// What happens then.
    #[serde(flatten)]
    pub fault: Fault,
}

/// A schedule of faults. Faults at the same instant apply in list order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultPlan {
    /// The faults, in any order; `sorted` orders them by time, keeping list order for ties.
    #[serde(default)]
    pub faults: Vec<TimedFault>,
}

/// A named failure drill: a fault plan and how long to watch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    /// Always [`SCENARIO_API_VERSION`].
    pub api_version: String,
    /// Always [`SCENARIO_KIND`].
    pub kind: String,
    /// Name and description.
    pub metadata: ScenarioMetadata,
    /// Duration and faults.
    pub spec: ScenarioSpec,
}

/// Identifies a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioMetadata {
    /// Short name, e.g. `node-failure`.
    pub name: String,
    /// What the scenario checks, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// What a scenario does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioSpec {
    /// How long the run lasts, written like `30m`.
    #[serde(with = "span")]
    #[schemars(with = "String")]
    pub duration: Duration,
    /// The faults.
    #[serde(flatten)]
    pub plan: FaultPlan,
}

/// The names a plan may refer to: hosts, and on each host its disks and processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultTargets {
    /// Host name to what can fail on it.
    pub hosts: BTreeMap<String, HostTargets>,
    /// Whether a generated plan may drain and uncordon hosts (the world carries them out).
    pub drains: bool,
}

/// Disks and processes of one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostTargets {
    /// Disk names (as in the topology's `disks`).
    pub disks: Vec<String>,
    /// Process names (e.g. `etcd`, `kube-apiserver`, `kubelet`, `ceph-osd`).
    pub processes: Vec<String>,
}

impl FaultTargets {
    /// What can fail in `cluster`: each host's disks (by device path) and the processes its
    /// roles run (see [`processes_for`]).
    pub fn from_cluster(cluster: &crate::Cluster) -> Self {
        let hosts = cluster
            .spec
            .hosts
            .iter()
            .map(|host| {
                let disks = host.disks.iter().map(|d| d.device.clone()).collect();
                (
                    host.name.clone(),
                    HostTargets {
                        disks,
                        processes: processes_for(host),
                    },
                )
            })
            .collect();
        FaultTargets {
            hosts,
            drains: false,
        }
    }

    /// Keeps only the processes for which `keep(host, process)` holds, e.g. the ones a
    /// simulator actually models, so generated plans never stop a process nobody runs.
    pub fn retain_processes(&mut self, keep: impl Fn(&str, &str) -> bool) {
        for (host, targets) in &mut self.hosts {
            targets.processes.retain(|p| keep(host, p));
        }
    }
}

/// Processes every Kubernetes node runs (kubeadm: the kubelet and the container runtime).
pub const NODE_PROCESSES: [&str; 2] = ["kubelet", "containerd"];
/// Processes of a control-plane host (kubeadm static pods plus the VIP's keepalived/haproxy).
pub const CONTROL_PLANE_PROCESSES: [&str; 5] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "keepalived",
    "haproxy",
];

/// The processes `host` runs, by role, in a fixed order; these are the names `ProcessStop` and
/// friends use, and the names models register under.
pub fn processes_for(host: &crate::Host) -> Vec<String> {
    let mut out: Vec<&str> = NODE_PROCESSES.to_vec();
    for role in &host.roles {
        match role {
            crate::Role::ControlPlane => out.extend(CONTROL_PLANE_PROCESSES),
            crate::Role::Etcd => out.push("etcd"),
            crate::Role::CephMon => out.push("ceph-mon"),
            crate::Role::CephMgr => out.push("ceph-mgr"),
            crate::Role::CephOsd => out.push("ceph-osd"),
            crate::Role::Worker => {}
        }
    }
    let mut seen = BTreeSet::new();
    out.into_iter()
        .filter(|p| seen.insert(*p))
        .map(str::to_owned)
        .collect()
}

/// Why a plan or scenario is not valid for a cluster.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    /// A fault names a host the cluster does not have.
    #[error(
        "fault #{index} ({kind}) names host `{host}`, which is not in the cluster; known hosts: {known}"
    )]
    UnknownHost {
        index: usize,
        kind: &'static str,
        host: String,
        known: String,
    },
    /// A fault names a disk the host does not have.
    #[error("fault #{index} names disk `{disk}` on host `{host}`, which has disks: {known}")]
    UnknownDisk {
        index: usize,
        host: String,
        disk: String,
        known: String,
    },
    /// A fault names a process the host does not run.
    #[error("fault #{index} names process `{process}` on host `{host}`, which runs: {known}")]
    UnknownProcess {
        index: usize,
        host: String,
        process: String,
        known: String,
    },
    /// A host appears in two partition groups.
    #[error(
        "fault #{index}: host `{host}` is in more than one partition group; each host may appear once"
    )]
    OverlappingGroups { index: usize, host: String },
    /// A link fault whose two ends are the same host: there is no link to cut, slow or lose.
    #[error(
        "fault #{index} ({kind}) names host `{host}` at both ends; a link fault needs two different hosts"
    )]
    SameHost {
        index: usize,
        kind: &'static str,
        host: String,
    },
    /// Loss outside 0..=1.
    #[error("fault #{index}: loss {loss} is not a probability; use a number from 0 to 1")]
    BadLoss { index: usize, loss: f64 },
    /// A fault falls after the end of the scenario.
    #[error(
        "fault #{index} at {at:?} is after the scenario ends ({duration:?}); move it earlier or lengthen `duration`"
    )]
    AfterEnd {
        index: usize,
        at: Duration,
        duration: Duration,
    },
    /// The document is not a Scenario.
    #[error(
        "expected apiVersion `{SCENARIO_API_VERSION}` and kind `{SCENARIO_KIND}`, found `{api_version}` / `{kind}`"
    )]
    WrongKind { api_version: String, kind: String },
    /// YAML or JSON did not parse.
    #[error("cannot parse scenario: {0}")]
    Parse(String),
}

impl Fault {
    /// The variant name as written in YAML (`HostCrash`, `Partition`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::HostCrash { .. } => "HostCrash",
            Fault::HostRestart { .. } => "HostRestart",
            Fault::ProcessStop { .. } => "ProcessStop",
            Fault::ProcessTerminate { .. } => "ProcessTerminate",
            Fault::ProcessStart { .. } => "ProcessStart",
            Fault::ProcessPause { .. } => "ProcessPause",
            Fault::ProcessResume { .. } => "ProcessResume",
            Fault::DiskLoss { .. } => "DiskLoss",
            Fault::Partition { .. } => "Partition",
            Fault::OneWay { .. } => "OneWay",
            Fault::Heal => "Heal",
            Fault::LinkSlow { .. } => "LinkSlow",
            Fault::LinkLossy { .. } => "LinkLossy",
            Fault::Drain { .. } => "Drain",
            Fault::Uncordon { .. } => "Uncordon",
            Fault::OutOfService { .. } => "OutOfService",
            Fault::InService { .. } => "InService",
        }
    }

    /// An operator's action through the API (`kubectl drain`, `kubectl uncordon`) rather than
    /// something that happens to a host: the operator's own tools carry it out.
    pub fn is_operator_action(&self) -> bool {
        matches!(
            self,
            Fault::Drain { .. }
                | Fault::Uncordon { .. }
                | Fault::OutOfService { .. }
                | Fault::InService { .. }
        )
    }

    /// The one host a host-local fault happens on (its processes can notice it); `None` for
    /// network faults, which span hosts.
    pub fn local_host(&self) -> Option<&str> {
        match self {
            Fault::HostCrash { host }
            | Fault::HostRestart { host }
            | Fault::ProcessStop { host, .. }
            | Fault::ProcessTerminate { host, .. }
            | Fault::ProcessStart { host, .. }
            | Fault::ProcessPause { host, .. }
            | Fault::ProcessResume { host, .. }
            | Fault::DiskLoss { host, .. }
            | Fault::Drain { host }
            | Fault::Uncordon { host }
            | Fault::OutOfService { host }
            | Fault::InService { host } => Some(host),
            Fault::Partition { .. }
            | Fault::OneWay { .. }
            | Fault::Heal
            | Fault::LinkSlow { .. }
            | Fault::LinkLossy { .. } => None,
        }
    }

    /// (host, process) of a process fault (stop, terminate, start, pause, resume).
    pub fn process_target(&self) -> Option<(&str, &str)> {
        match self {
            Fault::ProcessStop { host, process }
            | Fault::ProcessTerminate { host, process }
            | Fault::ProcessStart { host, process }
            | Fault::ProcessPause { host, process }
            | Fault::ProcessResume { host, process } => Some((host, process)),
            _ => None,
        }
    }

    /// Every host name the fault mentions, in the order written.
    pub fn hosts(&self) -> Vec<&str> {
        if let Some(host) = self.local_host() {
            return vec![host];
        }
        match self {
            Fault::Partition { groups } => groups.iter().flatten().map(String::as_str).collect(),
            Fault::OneWay { from, to } => vec![from.as_str(), to.as_str()],
            Fault::LinkSlow { a, b, .. } | Fault::LinkLossy { a, b, .. } => {
                vec![a.as_str(), b.as_str()]
            }
            // Heal names no host; host-local faults were answered above.
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::HostCrash { host }
            | Fault::HostRestart { host }
            | Fault::Drain { host }
            | Fault::Uncordon { host }
            | Fault::OutOfService { host }
            | Fault::InService { host } => write!(f, "{} {host}", self.kind()),
            Fault::ProcessStop { host, process }
            | Fault::ProcessTerminate { host, process }
            | Fault::ProcessStart { host, process }
            | Fault::ProcessPause { host, process }
            | Fault::ProcessResume { host, process } => {
                write!(f, "{} {host}/{process}", self.kind())
            }
            Fault::DiskLoss { host, disk } => {
                // Device paths start with `/`; `host:/dev/vdb` reads better than `host//dev/vdb`.
                let sep = if disk.starts_with('/') { ":" } else { "/" };
                write!(f, "DiskLoss {host}{sep}{disk}")
            }
            Fault::Partition { groups } => {
                let groups: Vec<String> = groups
                    .iter()
                    .map(|g| format!("[{}]", g.join(",")))
                    .collect();
                write!(f, "Partition {}", groups.join(" | "))
            }
            Fault::OneWay { from, to } => write!(f, "OneWay {from} -/-> {to}"),
            Fault::Heal => f.write_str("Heal"),
            Fault::LinkSlow { a, b, latency } => {
                write!(f, "LinkSlow {a}<->{b} +{}", span::format(*latency))
            }
            Fault::LinkLossy { a, b, loss } => write!(f, "LinkLossy {a}<->{b} loss={loss}"),
        }
    }
}

impl fmt::Display for TimedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", span::format(self.at), self.fault)
    }
}

impl FaultPlan {
    /// A plan of the given faults.
    pub fn new(faults: Vec<TimedFault>) -> Self {
        FaultPlan { faults }
    }

    /// The faults ordered by time; faults at the same instant keep their list order.
    pub fn sorted(&self) -> Vec<TimedFault> {
        let mut faults = self.faults.clone();
        faults.sort_by_key(|f| f.at);
        faults
    }

    /// Checks every name against `targets` and every number against its range.
    pub fn validate(&self, targets: &FaultTargets) -> Result<(), FaultError> {
        for (index, timed) in self.faults.iter().enumerate() {
            validate_fault(index, &timed.fault, targets)?;
        }
        Ok(())
    }
}

fn validate_fault(index: usize, fault: &Fault, targets: &FaultTargets) -> Result<(), FaultError> {
    let known_hosts = || targets.hosts.keys().cloned().collect::<Vec<_>>().join(", ");
    for host in fault.hosts() {
        if !targets.hosts.contains_key(host) {
            return Err(FaultError::UnknownHost {
                index,
                kind: fault.kind(),
                host: host.to_owned(),
                known: known_hosts(),
            });
        }
    }
    match fault {
        Fault::OneWay { from: a, to: b }
        | Fault::LinkSlow { a, b, .. }
        | Fault::LinkLossy { a, b, .. }
            if a == b =>
        {
            return Err(FaultError::SameHost {
                index,
                kind: fault.kind(),
                host: a.clone(),
            });
        }
        Fault::DiskLoss { host, disk } => {
            let disks = targets
                .hosts
                .get(host)
                .map(|h| h.disks.as_slice())
                .unwrap_or_default();
            if !disks.iter().any(|d| d == disk) {
                return Err(FaultError::UnknownDisk {
                    index,
                    host: host.clone(),
                    disk: disk.clone(),
                    known: disks.join(", "),
                });
            }
        }
        Fault::ProcessStop { host, process }
        | Fault::ProcessTerminate { host, process }
        | Fault::ProcessStart { host, process }
        | Fault::ProcessPause { host, process }
        | Fault::ProcessResume { host, process } => {
            let procs = targets
                .hosts
                .get(host)
                .map(|h| h.processes.as_slice())
                .unwrap_or_default();
            if !procs.iter().any(|p| p == process) {
                return Err(FaultError::UnknownProcess {
                    index,
                    host: host.clone(),
                    process: process.clone(),
                    known: procs.join(", "),
                });
            }
        }
        Fault::Partition { groups } => {
            let mut seen = BTreeSet::new();
            for host in groups.iter().flatten() {
                if !seen.insert(host) {
                    return Err(FaultError::OverlappingGroups {
                        index,
                        host: host.clone(),
                    });
                }
            }
        }
        Fault::LinkLossy { loss, .. } if !(0.0..=1.0).contains(loss) => {
            return Err(FaultError::BadLoss { index, loss: *loss });
        }
        _ => {}
    }
    Ok(())
}

impl Scenario {
    /// A scenario document with the current apiVersion and kind.
    pub fn new(name: &str, description: &str, duration: Duration, plan: FaultPlan) -> Self {
        Scenario {
            api_version: SCENARIO_API_VERSION.to_owned(),
            kind: SCENARIO_KIND.to_owned(),
            metadata: ScenarioMetadata {
                name: name.to_owned(),
                description: description.to_owned(),
            },
            spec: ScenarioSpec { duration, plan },
        }
    }

    /// Parses a YAML (or JSON, which is YAML) scenario document and checks its kind.
    pub fn from_yaml(text: &str) -> Result<Self, FaultError> {
        let scenario: Scenario =
            serde_saphyr::from_str(text).map_err(|e| FaultError::Parse(e.to_string()))?;
        if scenario.api_version != SCENARIO_API_VERSION || scenario.kind != SCENARIO_KIND {
            return Err(FaultError::WrongKind {
                api_version: scenario.api_version,
                kind: scenario.kind,
            });
        }
        Ok(scenario)
    }

    /// The scenario as YAML.
    pub fn to_yaml(&self) -> Result<String, FaultError> {
        serde_saphyr::to_string(self).map_err(|e| FaultError::Parse(e.to_string()))
    }

    /// Validates the plan against `targets` and checks every fault falls inside the duration.
    pub fn validate(&self, targets: &FaultTargets) -> Result<(), FaultError> {
        self.spec.plan.validate(targets)?;
        for (index, timed) in self.spec.plan.faults.iter().enumerate() {
            if timed.at > self.spec.duration {
                return Err(FaultError::AfterEnd {
                    index,
                    at: timed.at,
                    duration: self.spec.duration,
                });
            }
        }
        Ok(())
    }
}

/// Durations written the way Go and Kubernetes write them: `1h2m3s`, `1.5s`, `250ms`, `10us`.
pub mod span {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Units accepted, longest suffix first so `ms` is not read as `m`.
    const UNITS: [(&str, u128); 7] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];

    /// Formats `d` as the shortest Go-style string (`0s`, `250ms`, `1m30s`, `1.5s`).
    pub fn format(d: Duration) -> String {
        let nanos = d.as_nanos();
        if nanos == 0 {
            return "0s".to_owned();
        }
        if !nanos.is_multiple_of(1_000_000) {
            return if nanos.is_multiple_of(1_000) {
                format!("{}us", nanos / 1_000)
            } else {
                format!("{nanos}ns")
            };
        }
        let millis = nanos / 1_000_000;
        if millis < 1000 {
            return format!("{millis}ms");
        }
        let (h, rest) = (millis / 3_600_000, millis % 3_600_000);
        let (m, rest) = (rest / 60_000, rest % 60_000);
        let (s, ms) = (rest / 1000, rest % 1000);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        match (s, ms) {
            (0, 0) => {}
            (s, 0) => out.push_str(&format!("{s}s")),
            (s, ms) => out.push_str(&format!(
                "{s}.{}s",
                format!("{ms:03}").trim_end_matches('0')
            )),
        }
        out
    }

    /// Parses a Go-style duration. A bare `0` is accepted; anything else needs a unit.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text == "0" {
            return Ok(Duration::ZERO);
        }
        let bad =
            || format!("`{text}` is not a duration; write it like `30s`, `1m30s`, `250ms` or `2h`");
        if text.is_empty() {
            return Err(bad());
        }
        let mut rest = text;
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let (number, after) = rest.split_at(number_len);
            let (unit, scale) = UNITS
                .iter()
                .filter(|(u, _)| after.starts_with(u))
                .max_by_key(|(u, _)| u.len())
                .ok_or_else(bad)?;
            let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
            if whole.is_empty() && frac.is_empty() {
                return Err(bad());
            }
            let whole: u128 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| bad())?
            };
            let mut value = whole.checked_mul(*scale).ok_or_else(bad)?;
            let mut place = *scale;
            for digit in frac.chars() {
                place /= 10;
                value += u128::from(digit.to_digit(10).ok_or_else(bad)?) * place;
            }
            total = total.checked_add(value).ok_or_else(bad)?;
            rest = &after[unit.len()..];
        }
        let nanos = u64::try_from(total).map_err(|_| bad())?;
        Ok(Duration::from_nanos(nanos))
    }

    /// serde: writes the Go-style string.
    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*d))
    }

    /// serde: reads the Go-style string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> FaultTargets {
        let mut hosts = BTreeMap::new();
        for name in ["n1", "n2", "n3"] {
            hosts.insert(
                name.to_owned(),
                HostTargets {
                    disks: vec!["sdb".to_owned()],
                    processes: vec!["etcd".to_owned()],
                },
            );
        }
        FaultTargets {
            hosts,
            drains: false,
        }
    }

    #[test]
    fn spans_round_trip() {
        for (text, nanos) in [
            ("0s", 0u64),
            ("250ms", 250_000_000),
            ("1m30s", 90_000_000_000),
            ("1.5s", 1_500_000_000),
            ("2h", 7_200_000_000_000),
            ("10us", 10_000),
            ("7ns", 7),
        ] {
            let d = span::parse(text).unwrap();
            assert_eq!(d.as_nanos(), u128::from(nanos), "{text}");
            assert_eq!(span::format(d), text);
        }
        assert_eq!(span::parse("0").unwrap(), Duration::ZERO);
        assert!(span::parse("5").is_err());
        assert!(span::parse("5 parsecs").is_err());
        assert!(span::parse("").is_err());
    }

    #[test]
    fn scenario_yaml_round_trips_in_kubernetes_style() {
        let scenario = Scenario::new(
            "demo",
            "two faults",
            Duration::from_secs(600),
            FaultPlan::new(vec![
                TimedFault {
                    at: Duration::from_secs(30),
                    fault: Fault::HostCrash { host: "n1".into() },
                },
                TimedFault {
                    at: Duration::from_secs(60),
                    fault: Fault::Partition {
                        groups: vec![vec!["n1".into()], vec!["n2".into()]],
                    },
                },
                TimedFault {
                    at: Duration::from_secs(61),
                    fault: Fault::LinkSlow {
                        a: "n1".into(),
                        b: "n2".into(),
                        latency: Duration::from_millis(200),
                    },
                },
                TimedFault {
                    at: Duration::from_secs(90),
                    fault: Fault::Heal,
                },
            ]),
        );
        let yaml = scenario.to_yaml().unwrap();
        assert!(yaml.contains("apiVersion: spofless.dev/v1alpha1"), "{yaml}");
        assert!(yaml.contains("type: HostCrash"), "{yaml}");
        assert!(yaml.contains("at: 30s"), "{yaml}");
        assert_eq!(Scenario::from_yaml(&yaml).unwrap(), scenario);
        let json = serde_json::to_string(&scenario).unwrap();
        assert!(
            json.contains(r#"{"at":"1m","type":"Partition","groups":[["n1"],["n2"]]}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Scenario>(&json).unwrap(), scenario);
        scenario.validate(&targets()).unwrap();
    }

    #[test]
    fn handwritten_yaml_parses() {
        let yaml = "apiVersion: spofless.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: x\nspec:\n  duration: 5m\n  faults:\n  - at: 10s\n    type: ProcessStop\n    host: n2\n    process: etcd\n  - at: 20s\n    type: LinkLossy\n    a: n1\n    b: n3\n    loss: 0.25\n";
        let scenario = Scenario::from_yaml(yaml).unwrap();
        assert_eq!(scenario.spec.plan.faults.len(), 2);
        assert_eq!(
            scenario.spec.plan.faults[1].fault,
            Fault::LinkLossy {
                a: "n1".into(),
                b: "n3".into(),
                loss: 0.25
            }
        );
        scenario.validate(&targets()).unwrap();
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let plan = |fault| {
            FaultPlan::new(vec![TimedFault {
                at: Duration::ZERO,
                fault,
            }])
        };
        let t = targets();
        let err = plan(Fault::HostCrash { host: "n9".into() })
            .validate(&t)
            .unwrap_err();
        assert!(err.to_string().contains("known hosts: n1, n2, n3"), "{err}");
        let err = plan(Fault::DiskLoss {
            host: "n1".into(),
            disk: "sdz".into(),
        })
        .validate(&t)
        .unwrap_err();
        assert!(matches!(err, FaultError::UnknownDisk { .. }));
        let err = plan(Fault::ProcessStop {
            host: "n1".into(),
            process: "x".into(),
        })
        .validate(&t)
        .unwrap_err();
        assert!(matches!(err, FaultError::UnknownProcess { .. }));
        let err = plan(Fault::Partition {
            groups: vec![vec!["n1".into()], vec!["n1".into()]],
        })
        .validate(&t)
        .unwrap_err();
        assert!(matches!(err, FaultError::OverlappingGroups { .. }));
        let err = plan(Fault::LinkLossy {
            a: "n1".into(),
            b: "n2".into(),
            loss: 1.5,
        })
        .validate(&t)
        .unwrap_err();
        assert!(matches!(err, FaultError::BadLoss { .. }));
        for same in [
            Fault::OneWay {
                from: "n2".into(),
                to: "n2".into(),
            },
            Fault::LinkSlow {
                a: "n2".into(),
                b: "n2".into(),
                latency: Duration::from_millis(5),
            },
            Fault::LinkLossy {
                a: "n2".into(),
                b: "n2".into(),
                loss: 0.5,
            },
        ] {
            let kind = same.kind();
            let err = plan(same).validate(&t).unwrap_err();
            assert!(matches!(err, FaultError::SameHost { .. }), "{err}");
            assert!(
                err.to_string().contains(kind)
                    && err.to_string().contains("`n2` at both ends")
                    && err.to_string().contains("two different hosts"),
                "{err}"
            );
        }
        let wrong = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  duration: 1m\n";
        assert!(matches!(
            Scenario::from_yaml(wrong),
            Err(FaultError::WrongKind { .. })
        ));
    }

    #[test]
    fn targets_of_the_default_cluster_name_roles_processes_and_disks() {
        let cluster = crate::default_cluster().unwrap();
        let targets = FaultTargets::from_cluster(&cluster);
        assert_eq!(targets.hosts.len(), cluster.spec.hosts.len());
        let etcd_hosts = targets
            .hosts
            .values()
            .filter(|h| h.processes.iter().any(|p| p == "etcd"))
            .count();
        assert!(etcd_hosts >= 3, "{targets:?}");
        assert!(
            targets
                .hosts
                .values()
                .all(|h| h.processes.iter().any(|p| p == "kubelet"))
        );
        assert!(targets.hosts.values().any(|h| !h.disks.is_empty()));
    }

    #[test]
    fn sorted_keeps_list_order_for_ties() {
        let plan = FaultPlan::new(vec![
            TimedFault {
                at: Duration::from_secs(5),
                fault: Fault::Heal,
            },
            TimedFault {
                at: Duration::from_secs(1),
                fault: Fault::HostCrash { host: "a".into() },
            },
            TimedFault {
                at: Duration::from_secs(1),
                fault: Fault::HostRestart { host: "a".into() },
            },
        ]);
        let kinds: Vec<_> = plan.sorted().iter().map(|f| f.fault.kind()).collect();
        assert_eq!(kinds, ["HostCrash", "HostRestart", "Heal"]);
    }
}
