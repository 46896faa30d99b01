//! The names of what can be up, degraded or down: one vocabulary for `spofless check`'s matrix,
//! the simulator's availability records and timelines, and a drill's observed timelines, so a
//! prediction and an observation of the same thing carry the same name.
//!
//! A name is built from a [`Component`] (never written by hand) and printed as a short path:
//! `etcd`, `etcd-writes/client0`, `ceph/mon-quorum`, `pool/replicapool`, `host/n1`. Names
//! parse back with [`Component::parse`].

use std::fmt;

/// Something whose availability is judged or observed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// A host is running (`host/<name>`).
    Host(String),
    /// A host answers its peers' heartbeats (`heartbeat/<name>`).
    Heartbeat(String),
    /// A Kubernetes node's Ready condition as the node lifecycle controller sets it
    /// (`node/<name>`).
    Node(String),
    /// etcd serves writes and linearizable reads: a quorum with a serving leader (`etcd`).
    Etcd,
    /// One etcd client's writes are answered (`etcd-writes/<client host>`).
    EtcdWrites(String),
    /// The Kubernetes API through its VIP (`kube-apiserver`).
    KubeApiserver,
    /// One control-plane host's kube-apiserver answers `/readyz` with 200
    /// (`apiserver/<host>`).
    Apiserver(String),
    /// The scheduler's leader election (`kube-scheduler`).
    KubeScheduler,
    /// The controller manager's leader election (`kube-controller-manager`).
    KubeControllerManager,
    /// Ceph's monitors hold a quorum (`ceph/mon-quorum`).
    CephMonQuorum,
    /// Ceph managers (`ceph/mgr`).
    CephMgr,
    /// One client's I/O over every pool it writes to (`ceph/io`).
    CephIo,
    /// One Ceph pool's I/O (`pool/<name>`).
    Pool(String),
    /// One OSD as the cluster map has it (`osd/<id>`).
    Osd(u32),
    /// Pod networking (`calico`).
    Calico,
    /// LoadBalancer addresses (`metallb`).
    Metallb,
    /// The ingress controller (`ingress`).
    Ingress,
    /// Cluster DNS (`coredns`).
    Coredns,
    /// A workload (`workload/<namespace>/<name>`).
    Workload {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A workload's Service as the nodes route it: its endpoints as kube-proxy programmed
    /// them, answering or not (`service/<namespace>/<name>`).
    Service {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

/// Names of the components without a parameter, with their variant.
const FIXED: [(&str, Component); 11] = [
    ("etcd", Component::Etcd),
    ("kube-apiserver", Component::KubeApiserver),
    ("kube-scheduler", Component::KubeScheduler),
    ("kube-controller-manager", Component::KubeControllerManager),
    ("ceph/mon-quorum", Component::CephMonQuorum),
    ("ceph/mgr", Component::CephMgr),
    ("ceph/io", Component::CephIo),
    ("calico", Component::Calico),
    ("metallb", Component::Metallb),
    ("ingress", Component::Ingress),
    ("coredns", Component::Coredns),
];

impl Component {
    /// The component called `name`, if it is a name this vocabulary makes.
    pub fn parse(name: &str) -> Option<Component> {
        if let Some((_, c)) = FIXED.iter().find(|(n, _)| *n == name) {
            return Some(c.clone());
        }
        let (kind, rest) = name.split_once('/')?;
        let nonempty = |s: &str| (!s.is_empty() && !s.contains('/')).then(|| s.to_owned());
        Some(match kind {
            "host" => Component::Host(nonempty(rest)?),
            "heartbeat" => Component::Heartbeat(nonempty(rest)?),
            "node" => Component::Node(nonempty(rest)?),
            "apiserver" => Component::Apiserver(nonempty(rest)?),
            "etcd-writes" => Component::EtcdWrites(nonempty(rest)?),
            "pool" => Component::Pool(nonempty(rest)?),
            "osd" => Component::Osd(rest.parse().ok()?),
            "workload" | "service" => {
                let (namespace, name) = rest.split_once('/')?;
                let (namespace, name) = (nonempty(namespace)?, nonempty(name)?);
                if kind == "workload" {
                    Component::Workload { namespace, name }
                } else {
                    Component::Service { namespace, name }
                }
            }
            _ => return None,
        })
    }

    /// Whether `name` names this component (no allocation: for checks that read every record).
    pub fn is(&self, name: &str) -> bool {
        let tail = |prefix: &str, want: &str| {
            name.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| r == want)
        };
        match self {
            Component::Host(h) => tail("host", h),
            Component::Heartbeat(h) => tail("heartbeat", h),
            Component::Node(n) => tail("node", n),
            Component::Apiserver(h) => tail("apiserver", h),
            Component::EtcdWrites(c) => tail("etcd-writes", c),
            Component::Pool(p) => tail("pool", p),
            Component::Osd(o) => name
                .strip_prefix("osd/")
                .and_then(|r| r.parse::<u32>().ok())
                .is_some_and(|r| r == *o),
            Component::Workload { namespace, name: w } => name
                .strip_prefix("workload/")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(n, x)| n == namespace && x == w),
            Component::Service { namespace, name: w } => name
                .strip_prefix("service/")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(n, x)| n == namespace && x == w),
            fixed => fixed.fixed_name() == Some(name),
        }
    }

    fn fixed_name(&self) -> Option<&'static str> {
        FIXED.iter().find(|(_, c)| c == self).map(|(n, _)| *n)
    }

    /// A short label for a matrix column: `api`, `mon`, a pool's or workload's own name.
    pub fn short(&self) -> String {
        match self {
            Component::KubeApiserver => "api".to_owned(),
            Component::KubeScheduler => "sched".to_owned(),
            Component::KubeControllerManager => "kcm".to_owned(),
            Component::CephMonQuorum => "mon".to_owned(),
            Component::CephMgr => "mgr".to_owned(),
            Component::Pool(p) => p.clone(),
            Component::Workload { name, .. } => name.clone(),
            Component::Service { name, .. } => format!("svc/{name}"),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Component::Host(h) => write!(f, "host/{h}"),
            Component::Heartbeat(h) => write!(f, "heartbeat/{h}"),
            Component::Node(n) => write!(f, "node/{n}"),
            Component::Apiserver(h) => write!(f, "apiserver/{h}"),
            Component::EtcdWrites(c) => write!(f, "etcd-writes/{c}"),
            Component::Pool(p) => write!(f, "pool/{p}"),
            Component::Osd(o) => write!(f, "osd/{o}"),
            Component::Workload { namespace, name } => write!(f, "workload/{namespace}/{name}"),
            Component::Service { namespace, name } => write!(f, "service/{namespace}/{name}"),
            fixed => f.write_str(fixed.fixed_name().unwrap_or("?")),
        }
    }
}

impl PartialEq<Component> for str {
    fn eq(&self, other: &Component) -> bool {
        other.is(self)
    }
}

impl PartialEq<Component> for String {
    fn eq(&self, other: &Component) -> bool {
        other.is(self)
    }
}

impl From<Component> for String {
    fn from(c: Component) -> String {
        c.to_string()
    }
}

impl From<&Component> for String {
    fn from(c: &Component) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Component> {
        let mut v: Vec<Component> = FIXED.iter().map(|(_, c)| c.clone()).collect();
        v.extend([
            Component::Host("n1".into()),
            Component::Heartbeat("n2".into()),
            Component::Node("n3".into()),
            Component::Apiserver("n1".into()),
            Component::EtcdWrites("client0".into()),
            Component::Pool("replicapool".into()),
            Component::Osd(12),
            Component::Workload {
                namespace: "default".into(),
                name: "web".into(),
            },
            Component::Service {
                namespace: "default".into(),
                name: "web".into(),
            },
        ]);
        v
    }

    #[test]
    fn every_name_parses_back_and_matches_only_itself() {
        let all = all();
        for c in &all {
            let name = c.to_string();
            assert_eq!(Component::parse(&name).as_ref(), Some(c), "{name}");
            for other in &all {
                assert_eq!(other.is(&name), other == c, "{other:?} is {name}?");
            }
        }
    }

    #[test]
    fn the_simulator_and_check_names_are_these() {
        assert_eq!(Component::CephMonQuorum.to_string(), "ceph/mon-quorum");
        assert_eq!(Component::CephIo.to_string(), "ceph/io");
        assert_eq!(
            Component::EtcdWrites("c".into()).to_string(),
            "etcd-writes/c"
        );
        assert_eq!(Component::Host("n1".into()).to_string(), "host/n1");
        for bad in [
            "",
            "ceph-mon",
            "pool/",
            "osd/x",
            "host/a/b",
            "workload/x",
            "nope/a",
        ] {
            assert_eq!(Component::parse(bad), None, "{bad}");
        }
    }
}
