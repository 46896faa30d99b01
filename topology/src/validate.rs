//! Semantic rules a topology must satisfy beyond its types.
//!
//! Each rule names the field it judges by path; the source map turns that into a position.
//! Rules never panic on odd input: whatever deserialised is checked.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::analysis::pool_failure_domains;
use crate::defaults;
use crate::diagnostic::{Code, Problem, SourceFile};
use crate::model::{
    API_VERSION, ApiEndpointMethod, CalicoEncapsulation, Cluster, FailureDomain, KIND, MetalLbMode,
    Pdb, Role, TopologySpread, WorkloadKind,
};
use crate::source_map::{ByteSpan, SourceMap};

/// etcd refuses to start when `--election-timeout` is below five heartbeat intervals
/// (etcd `embed/config.go`: "election-timeout should be at least as 5 times as
/// heartbeat-interval").
pub const ETCD_MIN_ELECTION_TO_HEARTBEAT_RATIO: u32 = 5;

struct Ctx<'a> {
    source: &'a SourceFile,
    map: &'a SourceMap,
    out: Vec<Problem>,
}

impl Ctx<'_> {
    fn push(&mut self, code: Code, field: &str, message: String, help: &str) {
        let span = self
            .map
            .locate(field)
            .unwrap_or(ByteSpan { offset: 0, len: 1 });
        self.out
            .push(Problem::new(code, self.source, span, field, message).help(help));
    }
}

/// Every semantic problem of `cluster`, in file order.
pub fn validate(cluster: &Cluster, source: &SourceFile, map: &SourceMap) -> Vec<Problem> {
    let mut cx = Ctx {
        source,
        map,
        out: Vec::new(),
    };
    header(cluster, &mut cx);
    hosts(cluster, &mut cx);
    addressing(cluster, &mut cx);
    api_endpoint(cluster, &mut cx);
    control_plane(cluster, &mut cx);
    etcd(cluster, &mut cx);
    ceph(cluster, &mut cx);
    networking(cluster, &mut cx);
    workloads(cluster, &mut cx);
    cx.out.sort_by_key(|p| p.span.offset);
    cx.out
}

fn header(c: &Cluster, cx: &mut Ctx<'_>) {
    if c.api_version != API_VERSION {
        cx.push(
            Code::WrongKind,
            "apiVersion",
            format!("apiVersion is `{}`", c.api_version),
            &format!("set `apiVersion: {API_VERSION}`"),
        );
    }
    if c.kind != KIND {
        cx.push(
            Code::WrongKind,
            "kind",
            format!("kind is `{}`", c.kind),
            "set `kind: Cluster`",
        );
    }
    if !is_dns_label(&c.metadata.name) {
        cx.push(
            Code::InvalidValue,
            "metadata.name",
            format!("`{}` is not a DNS label", c.metadata.name),
            "use lower-case letters, digits and '-', at most 63 characters",
        );
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn hosts(c: &Cluster, cx: &mut Ctx<'_>) {
    let hosts = &c.spec.hosts;
    if hosts.is_empty() {
        cx.push(
            Code::MissingField,
            "spec.hosts",
            "no hosts".to_owned(),
            "list at least the three control-plane hosts",
        );
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut addrs: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for (i, h) in hosts.iter().enumerate() {
        let at = |f: &str| format!("spec.hosts[{i}].{f}");
        if !is_dns_label(&h.name) {
            cx.push(
                Code::InvalidValue,
                &at("name"),
                format!("host name `{}` is not a DNS label", h.name),
                "use lower-case letters, digits and '-' (it becomes the Kubernetes node name)",
            );
        }
        if let Some(first) = names.insert(&h.name, i) {
            cx.push(
                Code::Duplicate,
                &at("name"),
                format!(
                    "host name `{}` is already used by spec.hosts[{first}]",
                    h.name
                ),
                "give every host its own name",
            );
        }
        if let Some(first) = addrs.insert(h.address, i) {
            cx.push(
                Code::Duplicate,
                &at("address"),
                format!(
                    "address {} is already used by spec.hosts[{first}]",
                    h.address
                ),
                "give every host its own address",
            );
        }
        if h.roles.is_empty() {
            cx.push(
                Code::MissingField,
                &at("roles"),
                format!("host `{}` has no roles", h.name),
                "add at least `worker` or `control-plane`",
            );
        }
        for (j, r) in h.roles.iter().enumerate() {
            if h.roles[..j].contains(r) {
                cx.push(
                    Code::Duplicate,
                    &format!("spec.hosts[{i}].roles[{j}]"),
                    format!("role `{r}` is listed twice"),
                    "list each role once",
                );
            }
        }
        if h.has_role(Role::CephOsd) && h.disks.is_empty() {
            cx.push(
                Code::Placement,
                &at("disks"),
                format!("host `{}` has the ceph-osd role but no disks", h.name),
                "list the raw disks Ceph may use, e.g. `disks: [{device: /dev/vdb, sizeGiB: 100}]`",
            );
        }
        for (j, d) in h.disks.iter().enumerate() {
            if h.disks[..j].iter().any(|o| o.device == d.device) {
                cx.push(
                    Code::Duplicate,
                    &format!("spec.hosts[{i}].disks[{j}].device"),
                    format!("disk {} is listed twice", d.device),
                    "list each device once",
                );
            }
        }
    }
    for role in [Role::ControlPlane, Role::Etcd] {
        if !hosts.is_empty() && c.hosts_with(role).next().is_none() {
            cx.push(
                Code::DanglingReference,
                "spec.hosts",
                format!("no host has the `{role}` role"),
                "give three hosts the control-plane and etcd roles",
            );
        }
    }
}

fn addressing(c: &Cluster, cx: &mut Ctx<'_>) {
    let net = &c.spec.network;
    let subnets = [
        ("spec.network.nodeSubnet", net.node_subnet),
        ("spec.network.podSubnet", net.pod_subnet),
        ("spec.network.serviceSubnet", net.service_subnet),
    ];
    for (field, net) in &subnets {
        if net.has_host_bits() {
            cx.push(
                Code::Addressing,
                field,
                format!(
                    "{net} has host bits set: the network it names is {}",
                    net.network()
                ),
                &format!("write the network address, `{}`", net.network()),
            );
        }
    }
    for (i, (fa, a)) in subnets.iter().enumerate() {
        for (fb, b) in &subnets[i + 1..] {
            if a.overlaps(b) {
                cx.push(
                    Code::Addressing,
                    fb,
                    format!("{b} overlaps {fa} ({a})"),
                    "node, pod and service subnets must be disjoint",
                );
            }
        }
    }
    for (i, h) in c.spec.hosts.iter().enumerate() {
        if !net.node_subnet.contains(h.address) {
            cx.push(
                Code::Addressing,
                &format!("spec.hosts[{i}].address"),
                format!(
                    "address {} is outside the node subnet {}",
                    h.address, net.node_subnet
                ),
                "put every host on spec.network.nodeSubnet, or widen it",
            );
        }
    }
    let vip = c.spec.api_endpoint.vip;
    for (i, r) in c.spec.metallb.address_pool.iter().enumerate() {
        let at = format!("spec.metallb.addressPool[{i}]");
        if !net.node_subnet.contains(r.first) || !net.node_subnet.contains(r.last) {
            cx.push(
                Code::Addressing,
                &at,
                format!("range {r} is not inside the node subnet {}", net.node_subnet),
                "in L2 mode MetalLB answers ARP for its addresses on the node segment: pick them from nodeSubnet",
            );
        }
        if r.contains(vip) {
            cx.push(
                Code::Addressing,
                &at,
                format!("range {r} contains the API VIP {vip}"),
                "keep the VIP out of MetalLB's pool",
            );
        }
        if let Some(h) = c.spec.hosts.iter().find(|h| r.contains(h.address)) {
            cx.push(
                Code::Addressing,
                &at,
                format!("range {r} contains host {}'s address {}", h.name, h.address),
                "keep host addresses out of MetalLB's pool",
            );
        }
        for (j, o) in c.spec.metallb.address_pool[..i].iter().enumerate() {
            if r.first <= o.last && o.first <= r.last {
                cx.push(
                    Code::Addressing,
                    &at,
                    format!("range {r} overlaps spec.metallb.addressPool[{j}] ({o})"),
                    "make the ranges disjoint",
                );
            }
        }
    }
}

fn api_endpoint(c: &Cluster, cx: &mut Ctx<'_>) {
    let ep = &c.spec.api_endpoint;
    let net = &c.spec.network;
    if ep.method != ApiEndpointMethod::None {
        if !net.node_subnet.contains(ep.vip) {
            cx.push(
                Code::Addressing,
                "spec.apiEndpoint.vip",
                format!("VIP {} is outside the node subnet {}", ep.vip, net.node_subnet),
                "VRRP moves the VIP between hosts on one L2 segment: pick a free address in nodeSubnet",
            );
        }
        if let Some(h) = c.spec.hosts.iter().find(|h| h.address == ep.vip) {
            cx.push(
                Code::Addressing,
                "spec.apiEndpoint.vip",
                format!("VIP {} is host {}'s own address", ep.vip, h.name),
                "the VIP must be an address no host owns",
            );
        }
        // haproxy runs on the control-plane hosts, where kube-apiserver already binds its
        // secure port on every address: the frontend could not bind the same port.
        if ep.port == defaults::APISERVER_PORT && c.hosts_with(Role::ControlPlane).next().is_some()
        {
            cx.push(
                Code::Addressing,
                "spec.apiEndpoint.port",
                format!(
                    "port {} is kube-apiserver's own port on the control-plane hosts, where haproxy also runs: the two cannot both bind it",
                    ep.port
                ),
                &format!(
                    "let haproxy listen on another port, e.g. `port: {}` (kubeadm's HA guide)",
                    defaults::API_VIP_PORT
                ),
            );
        }
    }
    for (i, name) in ep.priority.iter().enumerate() {
        let at = format!("spec.apiEndpoint.priority[{i}]");
        match c.host(name) {
            None => cx.push(
                Code::DanglingReference,
                &at,
                format!("no host is called `{name}`"),
                &format!(
                    "name one of the control-plane hosts: {}",
                    c.hosts_with(Role::ControlPlane)
                        .map(|h| h.name.as_str())
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Some(h) if !h.has_role(Role::ControlPlane) => cx.push(
                Code::DanglingReference,
                &at,
                format!("host `{name}` does not have the control-plane role"),
                "only control-plane hosts run keepalived for the VIP",
            ),
            Some(_) if ep.priority[..i].contains(name) => cx.push(
                Code::Duplicate,
                &at,
                format!("`{name}` is listed twice"),
                "list each control-plane host once",
            ),
            Some(_) => {}
        }
    }
}

fn control_plane(c: &Cluster, cx: &mut Ctx<'_>) {
    let cp = &c.spec.control_plane;
    let field = "spec.controlPlane.kubernetesVersion";
    match cp.kubernetes_release() {
        None => cx.push(
            Code::InvalidValue,
            field,
            format!(
                "'{}' is not an exact Kubernetes release; kubeadm installs exact versions",
                cp.kubernetes_version
            ),
            &format!("write a release such as {}", defaults::KUBERNETES_VERSION),
        ),
        Some((1, minor)) if minor >= defaults::OLDEST_KUBERNETES_MINOR => {}
        Some(_) => cx.push(
            Code::InvalidValue,
            field,
            format!(
                "Kubernetes {} is older than v1.{}, whose kubeadm is the oldest that reads the config API spofless writes (v1beta3)",
                cp.kubernetes_version,
                defaults::OLDEST_KUBERNETES_MINOR
            ),
            &format!(
                "use v1.{} or newer (default {})",
                defaults::OLDEST_KUBERNETES_MINOR,
                defaults::KUBERNETES_VERSION
            ),
        ),
    }
}

fn etcd(c: &Cluster, cx: &mut Ctx<'_>) {
    let members = c.hosts_with(Role::Etcd).count();
    if members > 0 && members.is_multiple_of(2) {
        // Point at the roles of the member that made the count even.
        let last = c
            .spec
            .hosts
            .iter()
            .rposition(|h| h.has_role(Role::Etcd))
            .unwrap_or(0);
        let role = c.spec.hosts[last]
            .roles
            .iter()
            .position(|r| *r == Role::Etcd)
            .unwrap_or(0);
        cx.push(
            Code::Quorum,
            &format!("spec.hosts[{last}].roles[{role}]"),
            format!(
                "{members} etcd members: an even count tolerates no more failures than {} members and adds a vote to lose",
                members - 1
            ),
            "give the etcd role to an odd number of hosts (3 or 5)",
        );
    }
    let e = &c.spec.etcd;
    // In u64: five times a u32 heartbeat may not fit in a u32.
    let min_election_ms =
        u64::from(ETCD_MIN_ELECTION_TO_HEARTBEAT_RATIO) * u64::from(e.heartbeat_interval_ms);
    if u64::from(e.election_timeout_ms) < min_election_ms {
        cx.push(
            Code::Inconsistent,
            "spec.etcd.electionTimeoutMs",
            format!(
                "election timeout {} ms is below 5 x heartbeat interval ({} ms); etcd refuses to start",
                e.election_timeout_ms, e.heartbeat_interval_ms
            ),
            "etcd's tuning guide recommends about 10 x the heartbeat interval",
        );
    }
    let le = &c.spec.control_plane.leader_election;
    if !(le.retry_period_seconds < le.renew_deadline_seconds
        && le.renew_deadline_seconds < le.lease_duration_seconds)
    {
        cx.push(
            Code::Inconsistent,
            "spec.controlPlane.leaderElection",
            "leader election needs retryPeriod < renewDeadline < leaseDuration".to_owned(),
            "the upstream defaults are 2 s, 10 s and 15 s",
        );
    }
}

fn ceph(c: &Cluster, cx: &mut Ctx<'_>) {
    let uses_ceph = !c.spec.ceph.pools.is_empty()
        || c.spec.hosts.iter().any(|h| {
            h.has_role(Role::CephMon) || h.has_role(Role::CephMgr) || h.has_role(Role::CephOsd)
        });
    let mons = c.hosts_with(Role::CephMon).count();
    if uses_ceph && (mons < 3 || mons.is_multiple_of(2)) {
        // Point at the roles of the last monitor (the one that made the count even), or at
        // the host list when there is none.
        let at = c
            .spec
            .hosts
            .iter()
            .rposition(|h| h.has_role(Role::CephMon))
            .and_then(|i| {
                let j = c.spec.hosts[i]
                    .roles
                    .iter()
                    .position(|r| *r == Role::CephMon)?;
                Some(format!("spec.hosts[{i}].roles[{j}]"))
            })
            .unwrap_or_else(|| "spec.hosts".to_owned());
        let why = if mons < 3 {
            "fewer than 3 cannot lose one and keep a majority"
        } else {
            "an even count tolerates no more failures than one fewer and adds a vote to lose"
        };
        cx.push(
            Code::Quorum,
            &at,
            format!("{mons} Ceph monitor(s): {why}"),
            "give the ceph-mon role to an odd number of hosts, at least 3 (Rook: mon.count 3)",
        );
    }
    for (i, p) in c.spec.ceph.pools.iter().enumerate() {
        let at = |f: &str| format!("spec.ceph.pools[{i}].{f}");
        if c.spec.ceph.pools[..i].iter().any(|o| o.name == p.name) {
            cx.push(
                Code::Duplicate,
                &at("name"),
                format!("pool `{}` is defined twice", p.name),
                "give every pool its own name",
            );
        }
        let min = p.effective_min_size();
        if p.size == 0 || min == 0 || min > p.size {
            cx.push(
                Code::Inconsistent,
                &at("minSize"),
                format!("size {} with min_size {min}", p.size),
                "use 1 <= minSize <= size; size 3 / minSize 2 is the safe choice",
            );
        }
        let domains = pool_failure_domains(c, p).len();
        let class = p
            .device_class
            .map_or(String::new(), |d| format!("{} ", d.as_str()));
        let kind = match p.failure_domain {
            FailureDomain::Host => format!("hosts with {class}OSDs"),
            FailureDomain::Osd => format!("{class}OSDs"),
        };
        if let Some(dc) = p.device_class
            && domains == 0
        {
            let mut classes: Vec<&str> = c
                .hosts_with(Role::CephOsd)
                .flat_map(|h| h.disks.iter().map(|d| d.device_class.as_str()))
                .collect();
            classes.sort_unstable();
            classes.dedup();
            let hint = if classes.is_empty() {
                format!(
                    "give ceph-osd hosts disks with `deviceClass: {}`",
                    dc.as_str()
                )
            } else {
                format!(
                    "the OSD disks are of class {}: use one of them, or give disks `deviceClass: {}`",
                    classes.join(", "),
                    dc.as_str()
                )
            };
            cx.push(
                Code::Placement,
                &at("deviceClass"),
                format!(
                    "pool `{}` is restricted to device class {} but no OSD has that class: it can place no data",
                    p.name,
                    dc.as_str()
                ),
                &hint,
            );
        } else if usize::from(p.size) > domains {
            cx.push(
                Code::Placement,
                &at("size"),
                format!(
                    "pool `{}` wants {} replicas in distinct failure domains but there are only {domains} {kind}",
                    p.name, p.size
                ),
                &format!(
                    "give the ceph-osd role (with disks) to at least {} hosts, or lower size",
                    p.size
                ),
            );
        }
        if p.pg_num == 0 || !p.pg_num.is_power_of_two() {
            cx.push(
                Code::InvalidValue,
                &at("pgNum"),
                format!("pg_num {} is not a power of two", p.pg_num),
                "Ceph warns POOL_PG_NUM_NOT_POWER_OF_TWO: use 32, 64, 128...",
            );
        }
    }
}

/// CNI and load-balancer combinations the cluster cannot run.
fn networking(c: &Cluster, cx: &mut Ctx<'_>) {
    let cal = &c.spec.calico;
    // Without BGP nothing tells a node where other nodes' pod blocks are; IP-in-IP still
    // needs BGP-learnt routes, so only VXLAN (Calico's own route distribution) works.
    if !cal.bgp && cal.encapsulation != CalicoEncapsulation::VXLAN {
        cx.push(
            Code::Inconsistent,
            "spec.calico.bgp",
            format!(
                "Calico without BGP and with encapsulation {:?}: no route reaches other nodes' pods",
                cal.encapsulation
            ),
            "set `encapsulation: VXLAN` (routes without BGP), or turn `bgp: true` back on",
        );
    }
    if c.spec.metallb.mode == MetalLbMode::Bgp {
        // Beside Calico's BGP the two speakers collide; without it MetalLB still has nobody to
        // announce to, as the model names no BGP peers (routers and their AS numbers).
        let (message, help) = if cal.bgp {
            (
                "MetalLB in BGP mode beside Calico's BGP: both speakers want TCP port 179 on every node",
                "use MetalLB `mode: l2`, or let Calico announce Service addresses (BGPConfiguration serviceLoadBalancerIPs)",
            )
        } else {
            (
                "MetalLB in BGP mode needs BGP peers (routers), and the topology names none: every LoadBalancer address would stay unreachable",
                "use MetalLB `mode: l2`: the speakers answer ARP for the pool on the node subnet",
            )
        };
        cx.push(
            Code::Inconsistent,
            "spec.metallb.mode",
            message.to_owned(),
            help,
        );
    }
}

fn workloads(c: &Cluster, cx: &mut Ctx<'_>) {
    check_pdb(c.spec.coredns.pdb.as_ref(), "spec.coredns.pdb", cx);
    check_pdb(c.spec.ingress.pdb.as_ref(), "spec.ingress.pdb", cx);
    check_spread(
        c.spec.coredns.topology_spread.as_ref(),
        "spec.coredns.topologySpread",
        cx,
    );
    check_spread(
        c.spec.ingress.topology_spread.as_ref(),
        "spec.ingress.topologySpread",
        cx,
    );
    for (i, w) in c.spec.workloads.iter().enumerate() {
        let at = |f: &str| format!("spec.workloads[{i}].{f}");
        if !is_dns_label(&w.name) {
            cx.push(
                Code::InvalidValue,
                &at("name"),
                format!("`{}` is not a DNS label", w.name),
                "use lower-case letters, digits and '-'",
            );
        }
        if c.spec.workloads[..i]
            .iter()
            .any(|o| o.name == w.name && o.namespace == w.namespace)
        {
            cx.push(
                Code::Duplicate,
                &at("name"),
                format!("workload `{}/{}` is defined twice", w.namespace, w.name),
                "give every workload its own name",
            );
        }
        check_pdb(w.pdb.as_ref(), &at("pdb"), cx);
        check_spread(w.topology_spread.as_ref(), &at("topologySpread"), cx);
        if let Some(h) = &w.hpa
            && (h.min_replicas == 0 || h.min_replicas > h.max_replicas)
        {
            cx.push(
                Code::Inconsistent,
                &at("hpa"),
                format!(
                    "minReplicas {} / maxReplicas {}",
                    h.min_replicas, h.max_replicas
                ),
                "use 1 <= minReplicas <= maxReplicas",
            );
        }
        if w.kind == WorkloadKind::DaemonSet && !w.volumes.is_empty() {
            cx.push(
                Code::Inconsistent,
                &at("volumes"),
                format!(
                    "DaemonSet `{}` has volumes: one claim cannot serve a pod on every node",
                    w.name
                ),
                "use a StatefulSet, which gives each replica its own claim",
            );
        }
        for (j, v) in w.volumes.iter().enumerate() {
            if !c.spec.ceph.pools.iter().any(|p| p.name == v.pool) {
                cx.push(
                    Code::DanglingReference,
                    &format!("spec.workloads[{i}].volumes[{j}].pool"),
                    format!("no Ceph pool is called `{}`", v.pool),
                    "name a pool from spec.ceph.pools",
                );
            }
        }
    }
}

fn check_pdb(pdb: Option<&Pdb>, at: &str, cx: &mut Ctx<'_>) {
    if let Some(p) = pdb
        && p.min_available.is_some() == p.max_unavailable.is_some()
    {
        cx.push(
            Code::Inconsistent,
            at,
            "a PodDisruptionBudget takes exactly one of minAvailable and maxUnavailable".to_owned(),
            "keep one of the two",
        );
    }
}

fn check_spread(spread: Option<&TopologySpread>, at: &str, cx: &mut Ctx<'_>) {
    if let Some(s) = spread
        && s.max_skew == 0
    {
        cx.push(
            Code::InvalidValue,
            &format!("{at}.maxSkew"),
            "maxSkew must be at least 1".to_owned(),
            "use maxSkew: 1 for an even spread",
        );
    }
}
