//! The Node and Pod objects the node lifecycle works on, reduced to the fields it reads and
//! writes: a Node's Ready condition and the taints the node controller owns
//! (`node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable`, NoSchedule and
//! NoExecute); a Pod's node, Ready condition, NoExecute toleration and deletion.

use topology::policy::scheduler::cluster::{NOT_READY_TAINT, UNREACHABLE_TAINT};
use topology::{IntOrPercent, Pdb, WorkloadKind};

use super::api::{ApiObject, Kind};
use crate::engine::SimTime;

/// A Node condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    /// `True`.
    True,
    /// `False`: the kubelet reports the node not ready.
    False,
    /// `Unknown`: the node controller heard nothing for the grace period.
    Unknown,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::True => "True",
            Condition::False => "False",
            Condition::Unknown => "Unknown",
        }
    }

    fn parse(s: &str) -> Option<Condition> {
        match s {
            "True" => Some(Condition::True),
            "False" => Some(Condition::False),
            "Unknown" => Some(Condition::Unknown),
            _ => None,
        }
    }

    /// The node controller's taint for a node whose Ready is `self`, if any:
    /// `not-ready` for False, `unreachable` for Unknown.
    pub fn taint_key(self) -> Option<TaintKey> {
        match self {
            Condition::True => None,
            Condition::False => Some(TaintKey::NotReady),
            Condition::Unknown => Some(TaintKey::Unreachable),
        }
    }
}

/// The node controller's taint keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaintKey {
    /// `node.kubernetes.io/not-ready`.
    NotReady,
    /// `node.kubernetes.io/unreachable`.
    Unreachable,
}

impl TaintKey {
    /// The full key.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintKey::NotReady => NOT_READY_TAINT,
            TaintKey::Unreachable => UNREACHABLE_TAINT,
        }
    }

    fn short(self) -> &'static str {
        match self {
            TaintKey::NotReady => "not-ready",
            TaintKey::Unreachable => "unreachable",
        }
    }
}

/// A taint's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// New pods are not scheduled there.
    NoSchedule,
    /// Pods that do not tolerate it are evicted.
    NoExecute,
}

impl Effect {
    /// As Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::NoSchedule => "NoSchedule",
            Effect::NoExecute => "NoExecute",
        }
    }
}

/// A taint the node controller set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Taint {
    /// Its key.
    pub key: TaintKey,
    /// Its effect.
    pub effect: Effect,
    /// `timeAdded` (NoExecute taints carry it; nothing upstream reads it for eviction).
    pub added: SimTime,
}

/// A Node, as far as its lifecycle goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    /// The Ready condition.
    pub ready: Condition,
    /// `spec.unschedulable`: cordoned.
    pub unschedulable: bool,
    /// The operator's `node.kubernetes.io/out-of-service` NoExecute taint.
    pub out_of_service: bool,
    /// The node controller's taints, in (key, effect) order.
    pub taints: Vec<Taint>,
}

impl NodeRecord {
    /// A freshly registered, ready node.
    pub fn registered() -> Self {
        NodeRecord {
            ready: Condition::True,
            unschedulable: false,
            out_of_service: false,
            taints: Vec::new(),
        }
    }

    /// Whether it has a taint with `key` and `effect`.
    pub fn has(&self, key: TaintKey, effect: Effect) -> bool {
        self.taints
            .iter()
            .any(|t| t.key == key && t.effect == effect)
    }

    /// Sets the taints of `effect` to `key` alone (or none): the node controller's
    /// `SwapNodeControllerTaint`. An unchanged taint keeps its `timeAdded`.
    pub fn swap(&mut self, effect: Effect, key: Option<TaintKey>, now: SimTime) {
        let keep = |t: &Taint| t.effect != effect || Some(t.key) == key;
        self.taints.retain(keep);
        if let Some(key) = key
            && !self.has(key, effect)
        {
            self.taints.push(Taint {
                key,
                effect,
                added: now,
            });
            self.taints.sort();
        }
    }

    /// The NoExecute taints.
    pub fn no_execute(&self) -> impl Iterator<Item = &Taint> {
        self.taints.iter().filter(|t| t.effect == Effect::NoExecute)
    }
}

impl ApiObject for NodeRecord {
    const KIND: Kind = Kind::Node;

    fn encode(&self) -> String {
        let mut s = self.ready.as_str().to_owned();
        if self.unschedulable {
            s.push_str(" cordoned");
        }
        if self.out_of_service {
            s.push_str(" out-of-service");
        }
        for t in &self.taints {
            s.push_str(&format!(
                " {}:{}:{}",
                t.key.short(),
                t.effect.as_str(),
                t.added.as_nanos()
            ));
        }
        s
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(' ').peekable();
        let ready = Condition::parse(parts.next()?)?;
        let unschedulable = parts.next_if_eq(&"cordoned").is_some();
        let out_of_service = parts.next_if_eq(&"out-of-service").is_some();
        let taints = parts
            .map(|p| {
                let mut f = p.split(':');
                let key = match f.next()? {
                    "not-ready" => TaintKey::NotReady,
                    "unreachable" => TaintKey::Unreachable,
                    _ => return None,
                };
                let effect = match f.next()? {
                    "NoSchedule" => Effect::NoSchedule,
                    "NoExecute" => Effect::NoExecute,
                    _ => return None,
                };
                let added = SimTime::from_nanos(f.next()?.parse().ok()?);
                Some(Taint { key, effect, added })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(NodeRecord {
            ready,
            unschedulable,
            out_of_service,
            taints,
        })
    }
}

/// A Pod, as far as the node lifecycle, the scheduler and the workload controllers go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRecord {
    /// The workload whose controller made it (`metadata.ownerReferences`, reduced to the
    /// topology's workload name).
    pub owner: String,
    /// `spec.nodeName`: empty until the scheduler binds it.
    pub node: String,
    /// The `Ready` condition.
    pub ready: bool,
    /// `tolerationSeconds` of its toleration of `not-ready:NoExecute`: the
    /// DefaultTolerationSeconds admission plugin's `--default-not-ready-toleration-seconds`,
    /// or `None` for a toleration without limit (DaemonSet pods).
    pub tolerate_not_ready: Option<u64>,
    /// The same for `unreachable:NoExecute` (`--default-unreachable-toleration-seconds`).
    pub tolerate_unreachable: Option<u64>,
    /// `metadata.deletionTimestamp`: the pod was deleted (evicted) and is terminating.
    pub deleted: Option<SimTime>,
}

impl PodRecord {
    /// A new pod of `owner`, not bound, not ready, tolerating `not-ready` and `unreachable`
    /// for `tolerate` seconds each (`None`: without limit).
    pub fn new(owner: &str, tolerate: [Option<u64>; 2]) -> Self {
        PodRecord {
            owner: owner.to_owned(),
            node: String::new(),
            ready: false,
            tolerate_not_ready: tolerate[0],
            tolerate_unreachable: tolerate[1],
            deleted: None,
        }
    }

    /// Bound to a node and not deleted: its containers should run there.
    pub fn running_on(&self, node: &str) -> bool {
        self.node == node && self.deleted.is_none()
    }

    /// `getMinTolerationTime` over NoExecute taints with `keys`: the shortest
    /// `tolerationSeconds`, or `None` when every one is tolerated without limit. (Every pod
    /// here tolerates both keys: the admission plugin adds both.)
    pub fn min_toleration(&self, keys: &[TaintKey]) -> Option<u64> {
        keys.iter()
            .filter_map(|k| match k {
                TaintKey::NotReady => self.tolerate_not_ready,
                TaintKey::Unreachable => self.tolerate_unreachable,
            })
            .min()
    }
}

impl ApiObject for PodRecord {
    const KIND: Kind = Kind::Pod;

    fn encode(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        format!(
            "{} {} {} {} {} {}",
            self.owner,
            if self.node.is_empty() {
                "-"
            } else {
                &self.node
            },
            self.ready,
            opt(self.tolerate_not_ready),
            opt(self.tolerate_unreachable),
            opt(self.deleted.map(SimTime::as_nanos))
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(' ');
        let owner = parts.next()?.to_owned();
        let node = match parts.next()? {
            "-" => String::new(),
            n => n.to_owned(),
        };
        let ready = parts.next()?.parse().ok()?;
        let opt = |s: &str| -> Option<Option<u64>> {
            if s == "-" {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        let tolerate_not_ready = opt(parts.next()?)?;
        let tolerate_unreachable = opt(parts.next()?)?;
        let deleted = opt(parts.next()?)?.map(SimTime::from_nanos);
        Some(PodRecord {
            owner,
            node,
            ready,
            tolerate_not_ready,
            tolerate_unreachable,
            deleted,
        })
    }
}

/// A PodDisruptionBudget: its spec (selecting one workload's pods) and the status the
/// disruption controller writes, which the eviction API reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdbRecord {
    /// The workload whose pods it selects.
    pub owner: String,
    /// `minAvailable` / `maxUnavailable`.
    pub spec: Pdb,
    /// `status`, once the disruption controller computed it.
    pub status: Option<PdbStatus>,
}

/// A PDB's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PdbStatus {
    /// `currentHealthy`: Ready pods not being deleted.
    pub current_healthy: u32,
    /// `desiredHealthy`.
    pub desired_healthy: u32,
    /// `disruptionsAllowed`.
    pub disruptions_allowed: u32,
}

impl ApiObject for PdbRecord {
    const KIND: Kind = Kind::Pdb;

    fn encode(&self) -> String {
        let bound = |v: &Option<IntOrPercent>| v.map_or("-".to_owned(), |v| v.to_string());
        let status = self.status.map_or("-".to_owned(), |s| {
            format!(
                "{}/{}/{}",
                s.current_healthy, s.desired_healthy, s.disruptions_allowed
            )
        });
        format!(
            "{} {} {} {status}",
            self.owner,
            bound(&self.spec.min_available),
            bound(&self.spec.max_unavailable)
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(' ');
        let owner = parts.next()?.to_owned();
        let bound = |s: &str| -> Option<Option<IntOrPercent>> {
            match s {
                "-" => Some(None),
                s => match s.strip_suffix('%') {
                    Some(p) => Some(Some(IntOrPercent::Percent(p.parse().ok()?))),
                    None => Some(Some(IntOrPercent::Count(s.parse().ok()?))),
                },
            }
        };
        let min_available = bound(parts.next()?)?;
        let max_unavailable = bound(parts.next()?)?;
        let status = match parts.next()? {
            "-" => None,
            s => {
                let mut n = s.split('/').map(|v| v.parse::<u32>().ok());
                Some(PdbStatus {
                    current_healthy: n.next()??,
                    desired_healthy: n.next()??,
                    disruptions_allowed: n.next()??,
                })
            }
        };
        Some(PdbRecord {
            owner,
            spec: Pdb {
                min_available,
                max_unavailable,
            },
            status,
        })
    }
}

/// A workload object (Deployment, StatefulSet, DaemonSet) as its controller reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadRecord {
    /// Which controller owns it.
    pub kind: WorkloadKind,
    /// `spec.replicas` (a DaemonSet has none).
    pub replicas: u32,
}

impl ApiObject for WorkloadRecord {
    const KIND: Kind = Kind::Workload;

    fn encode(&self) -> String {
        let kind = match self.kind {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        };
        format!("{kind} {}", self.replicas)
    }

    fn decode(text: &str) -> Option<Self> {
        let (kind, replicas) = text.split_once(' ')?;
        let kind = match kind {
            "Deployment" => WorkloadKind::Deployment,
            "StatefulSet" => WorkloadKind::StatefulSet,
            "DaemonSet" => WorkloadKind::DaemonSet,
            _ => return None,
        };
        Some(WorkloadRecord {
            kind,
            replicas: replicas.parse().ok()?,
        })
    }
}

/// One endpoint of an EndpointSlice: a pod with an address (bound to a node) and its
/// conditions as the EndpointSlice controller sets them (`podToEndpoint`): `serving` is the
/// pod's Ready condition, `ready` is serving and not terminating, `terminating` is a set
/// `deletionTimestamp`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndpointRecord {
    /// The pod, `namespace/name`.
    pub pod: String,
    /// `nodeName`.
    pub node: String,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
}

/// The EndpointSlice of one workload's Service (a few replicas: one slice holds them all,
/// upstream's `maxEndpointsPerSlice` being 100), in pod order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointSliceRecord {
    /// The endpoints.
    pub endpoints: Vec<EndpointRecord>,
}

impl ApiObject for EndpointSliceRecord {
    const KIND: Kind = Kind::EndpointSlice;

    fn encode(&self) -> String {
        let flag = |b: bool, c: char| if b { c } else { '-' };
        self.endpoints
            .iter()
            .map(|e| {
                format!(
                    "{}@{}:{}{}{}",
                    e.pod,
                    e.node,
                    flag(e.ready, 'r'),
                    flag(e.serving, 's'),
                    flag(e.terminating, 't')
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn decode(text: &str) -> Option<Self> {
        let endpoints = text
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| {
                let (pod, rest) = w.split_once('@')?;
                let (node, flags) = rest.rsplit_once(':')?;
                let flags = flags.as_bytes();
                if flags.len() != 3 {
                    return None;
                }
                Some(EndpointRecord {
                    pod: pod.to_owned(),
                    node: node.to_owned(),
                    ready: flags[0] == b'r',
                    serving: flags[1] == b's',
                    terminating: flags[2] == b't',
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(EndpointSliceRecord { endpoints })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_survive_encoding() {
        let mut n = NodeRecord::registered();
        n.ready = Condition::Unknown;
        n.swap(
            Effect::NoSchedule,
            Some(TaintKey::Unreachable),
            SimTime::from_nanos(5),
        );
        n.swap(
            Effect::NoExecute,
            Some(TaintKey::NotReady),
            SimTime::from_nanos(9),
        );
        assert_eq!(NodeRecord::decode(&n.encode()), Some(n.clone()));
        // A swap replaces the other key of the same effect and keeps the other effect.
        n.swap(
            Effect::NoExecute,
            Some(TaintKey::Unreachable),
            SimTime::from_nanos(11),
        );
        assert!(n.has(TaintKey::Unreachable, Effect::NoExecute));
        assert!(!n.has(TaintKey::NotReady, Effect::NoExecute));
        assert!(n.has(TaintKey::Unreachable, Effect::NoSchedule));
        let p = PodRecord {
            owner: "web".into(),
            node: "cloudserver3".into(),
            ready: false,
            tolerate_not_ready: Some(300),
            tolerate_unreachable: None,
            deleted: None,
        };
        assert_eq!(PodRecord::decode(&p.encode()), Some(p));
        let unbound = PodRecord::new("kv", [Some(300), None]);
        assert_eq!(PodRecord::decode(&unbound.encode()), Some(unbound));
        let w = WorkloadRecord {
            kind: WorkloadKind::StatefulSet,
            replicas: 3,
        };
        assert_eq!(WorkloadRecord::decode(&w.encode()), Some(w));
        let mut pdb = PdbRecord {
            owner: "web".into(),
            spec: Pdb::min_available(2),
            status: None,
        };
        assert_eq!(PdbRecord::decode(&pdb.encode()), Some(pdb.clone()));
        pdb.spec.min_available = None;
        pdb.spec.max_unavailable = Some(IntOrPercent::Percent(34));
        pdb.status = Some(PdbStatus {
            current_healthy: 3,
            desired_healthy: 1,
            disruptions_allowed: 2,
        });
        assert_eq!(PdbRecord::decode(&pdb.encode()), Some(pdb));
        let slice = EndpointSliceRecord {
            endpoints: vec![
                EndpointRecord {
                    pod: "default/web-abcde".into(),
                    node: "cloudserver3".into(),
                    ready: true,
                    serving: true,
                    terminating: false,
                },
                EndpointRecord {
                    pod: "default/web-fghij".into(),
                    node: "blackboar".into(),
                    ready: false,
                    serving: true,
                    terminating: true,
                },
            ],
        };
        assert_eq!(EndpointSliceRecord::decode(&slice.encode()), Some(slice));
        let empty = EndpointSliceRecord::default();
        assert_eq!(EndpointSliceRecord::decode(&empty.encode()), Some(empty));
        let mut cordoned = NodeRecord::registered();
        cordoned.unschedulable = true;
        cordoned.out_of_service = true;
        cordoned.swap(
            Effect::NoSchedule,
            Some(TaintKey::NotReady),
            SimTime::from_nanos(1),
        );
        assert_eq!(NodeRecord::decode(&cordoned.encode()), Some(cordoned));
        assert_eq!(NodeRecord::decode("Maybe"), None);
    }
}
