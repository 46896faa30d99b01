//! Static SPOF analysis of the seed topology and of the variants issue 2 names, with the
//! exact findings each must produce.

use topology::analysis::{Report, Status, analyze};
use topology::{
    Cluster, DeviceClass, Hpa, IntOrPercent, Pdb, Role, Workload, WorkloadKind, default_cluster,
};

fn codes(r: &Report) -> Vec<(&str, &str)> {
    r.findings
        .iter()
        .map(|f| (f.code, f.subject.as_str()))
        .collect()
}

fn seed() -> Cluster {
    default_cluster().expect("valid")
}

fn state<'a>(
    r: &'a Report,
    fault: &str,
    component: &str,
) -> &'a topology::analysis::ComponentState {
    let o = r
        .single_faults
        .iter()
        .find(|o| o.faults[0].to_string() == fault)
        .unwrap_or_else(|| panic!("no fault {fault}"));
    o.states
        .iter()
        .find(|s| s.component == component)
        .unwrap_or_else(|| panic!("no component {component}"))
}

#[test]
fn seed_topology_is_zero_spof() {
    let r = analyze(&seed());
    assert_eq!(codes(&r), Vec::<(&str, &str)>::new());
    assert!(r.zero_spof);
    assert_eq!(r.single_faults.len(), 5 + 5 + 5 + 3);
    assert_eq!(r.pairs_tried, 18 * 17 / 2);
    assert!(
        r.baseline.iter().all(|s| s.status == Status::Up),
        "{:#?}",
        r.baseline
    );
    // One control-plane host down: etcd keeps quorum 2 of 3, the VIP moves.
    assert_eq!(
        state(&r, "micklethefickle down", "etcd").status,
        Status::Degraded
    );
    assert_eq!(
        state(&r, "micklethefickle down", "kube-apiserver").status,
        Status::Degraded
    );
    assert_eq!(
        state(&r, "cloudserver3 down", "ingress").status,
        Status::Degraded
    );
    assert_eq!(
        state(&r, "blackboar:/dev/vdb lost", "pool/replicapool").status,
        Status::Degraded
    );
    // Two control-plane hosts down: etcd and the Ceph monitors lose quorum together.
    let both = r
        .pairs_down()
        .find(|p| {
            p.faults[0].to_string() == "micklethefickle down"
                && p.faults[1].to_string() == "cloudserver1 down"
        })
        .expect("pair breaks quorum");
    assert!(both.down().contains(&"etcd"));
    assert!(both.down().contains(&"ceph/mon-quorum"));
}

#[test]
fn every_pair_keeps_every_component_state() {
    let r = analyze(&seed());
    assert_eq!(r.pairs.len(), r.pairs_tried);
    assert!(
        r.pairs
            .iter()
            .all(|p| p.faults.len() == 2 && p.states.len() == r.components.len())
    );
    // A pair that takes nothing down is kept too, with its DEGRADED and OK components: a
    // worker disk lost and one apiserver stopped.
    let pair = r
        .pairs
        .iter()
        .find(|p| {
            p.faults[0].to_string() == "cloudserver3:/dev/vdb lost"
                && p.faults[1].to_string() == "apiserver on micklethefickle stopped"
        })
        .expect("pair tried");
    assert!(pair.down().is_empty(), "{:#?}", pair.states);
    let status = |c: &str| {
        pair.states
            .iter()
            .find(|s| s.component == c)
            .map(|s| s.status)
    };
    assert_eq!(status("pool/replicapool"), Some(Status::Degraded));
    assert_eq!(status("kube-apiserver"), Some(Status::Degraded));
    assert_eq!(status("etcd"), Some(Status::Up));
    // The data output carries them as well.
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(
        json["pairs"].as_array().map(Vec::len),
        Some(r.pairs_tried),
        "pairs in JSON"
    );
    assert_eq!(
        json["pairs"][0]["states"].as_array().map(Vec::len),
        Some(r.components.len())
    );
    assert!(r.pairs_down().count() < r.pairs.len());
}

#[test]
fn two_osd_hosts_cannot_hold_size_three() {
    let mut c = seed();
    for h in c
        .spec
        .hosts
        .iter_mut()
        .filter(|h| h.has_role(Role::ControlPlane))
    {
        h.roles.retain(|r| *r != Role::CephOsd);
    }
    let r = analyze(&c);
    assert_eq!(
        codes(&r),
        [
            ("pool-fewer-domains-than-size", "pool/replicapool"),
            ("single-point-of-failure", "pool/replicapool"),
            ("single-point-of-failure", "workload/default/kv"),
        ]
    );
    assert!(!r.zero_spof);
    assert_eq!(
        state(&r, "cloudserver3 down", "pool/replicapool").status,
        Status::Down
    );
}

#[test]
fn four_etcd_members_are_flagged() {
    let mut c = seed();
    c.spec.hosts[3].roles.push(Role::Etcd);
    let r = analyze(&c);
    assert_eq!(codes(&r), [("etcd-even-members", "etcd")]);
    assert!(!r.zero_spof);
}

#[test]
fn single_etcd_member_is_a_spof() {
    let mut c = seed();
    for h in c.spec.hosts.iter_mut().skip(1) {
        h.roles.retain(|r| *r != Role::Etcd);
    }
    let r = analyze(&c);
    assert_eq!(
        codes(&r),
        [
            ("etcd-too-few-members", "etcd"),
            ("single-point-of-failure", "etcd"),
            ("single-point-of-failure", "kube-apiserver"),
            ("single-point-of-failure", "kube-scheduler"),
            ("single-point-of-failure", "kube-controller-manager"),
        ]
    );
}

#[test]
fn three_ingress_replicas_with_required_anti_affinity_on_two_workers() {
    let mut c = seed();
    c.spec.ingress.replicas = 3;
    let r = analyze(&c);
    assert_eq!(
        codes(&r),
        [("anti-affinity-leaves-pods-pending", "ingress")]
    );
    assert_eq!(
        r.baseline
            .iter()
            .find(|s| s.component == "ingress")
            .map(|s| s.status),
        Some(Status::Degraded)
    );
}

#[test]
fn pdb_min_available_equal_to_replicas_blocks_drains() {
    let mut c = seed();
    c.spec.workloads[0].pdb = Some(Pdb {
        min_available: Some(IntOrPercent::Count(3)),
        max_unavailable: None,
    });
    let r = analyze(&c);
    assert_eq!(
        codes(&r),
        [("pdb-blocks-every-drain", "workload/default/web")]
    );
}

#[test]
fn coredns_without_anti_affinity_can_share_a_node() {
    let mut c = seed();
    c.spec.coredns.anti_affinity = topology::AntiAffinity::Preferred;
    let r = analyze(&c);
    assert_eq!(
        codes(&r),
        [
            ("replicas-can-share-a-node", "coredns"),
            ("single-point-of-failure", "coredns"),
        ]
    );
}

#[test]
fn vip_without_health_check_is_a_spof() {
    let mut c = seed();
    c.spec.api_endpoint.health_check = None;
    let r = analyze(&c);
    assert_eq!(
        codes(&r),
        [
            ("vip-without-health-check", "kube-apiserver"),
            ("single-point-of-failure", "kube-apiserver"),
        ]
    );
    assert_eq!(
        state(&r, "apiserver on micklethefickle stopped", "kube-apiserver").status,
        Status::Down
    );
}

#[test]
fn ingress_without_anti_affinity_can_share_a_node() {
    let mut c = seed();
    c.spec.ingress.anti_affinity = topology::AntiAffinity::Preferred;
    let r = analyze(&c);
    assert_eq!(
        codes(&r),
        [
            ("replicas-can-share-a-node", "ingress"),
            ("single-point-of-failure", "ingress"),
        ]
    );
    assert_eq!(state(&r, "blackboar down", "ingress").status, Status::Down);
}

fn daemon_set() -> Workload {
    Workload {
        name: "node-agent".to_owned(),
        namespace: "monitoring".to_owned(),
        kind: WorkloadKind::DaemonSet,
        image: "docker.io/prom/node-exporter:v1.8.2".to_owned(),
        port: 9100,
        // Left at the default: a DaemonSet ignores it.
        replicas: 1,
        anti_affinity: topology::AntiAffinity::None,
        topology_spread: None,
        tolerate_control_plane: true,
        pdb: None,
        hpa: None,
        probes: Default::default(),
        volumes: vec![],
        cpu_millis: 100,
        memory_mib: 64,
    }
}

#[test]
fn a_daemon_set_is_judged_by_its_eligible_nodes_not_replicas() {
    let mut c = seed();
    c.spec.workloads.push(daemon_set());
    let r = analyze(&c);
    assert_eq!(codes(&r), Vec::<(&str, &str)>::new());
    let name = "workload/monitoring/node-agent";
    let base = r.baseline.iter().find(|s| s.component == name);
    assert_eq!(
        base.map(|s| (s.status, s.reason.as_str())),
        Some((Status::Up, "5 pods, one per eligible node"))
    );
    assert_eq!(
        state(&r, "cloudserver3 down", name).status,
        Status::Degraded
    );
    // The same pod spec as a Deployment with its one replica is a single point of failure.
    c.spec.workloads.last_mut().expect("pushed").kind = WorkloadKind::Deployment;
    let r = analyze(&c);
    assert_eq!(
        codes(&r),
        [("single-replica", name), ("single-point-of-failure", name)]
    );
}

#[test]
fn a_daemon_set_on_one_eligible_node_is_a_spof() {
    let mut c = seed();
    let mut ds = daemon_set();
    ds.tolerate_control_plane = false;
    c.spec.workloads.push(ds);
    // One worker left: the DaemonSet has one node to run on.
    c.spec.hosts[4].roles.retain(|r| *r != Role::Worker);
    let r = analyze(&c);
    let name = "workload/monitoring/node-agent";
    let ds: Vec<_> = r.findings.iter().filter(|f| f.subject == name).collect();
    assert_eq!(
        ds.iter().map(|f| f.code).collect::<Vec<_>>(),
        ["single-replica", "single-point-of-failure"]
    );
    assert!(
        ds[0].message.contains("DaemonSet with 1 eligible node"),
        "{}",
        ds[0].message
    );
}

#[test]
fn an_hpa_that_can_scale_to_one_hides_a_spof() {
    let mut c = seed();
    let web = &mut c.spec.workloads[0];
    assert_eq!(web.replicas, 3);
    web.hpa = Some(Hpa {
        min_replicas: 1,
        max_replicas: 6,
        target_cpu_utilization_percent: 70,
    });
    web.pdb = Some(Pdb {
        min_available: None,
        max_unavailable: Some(IntOrPercent::Count(1)),
    });
    let r = analyze(&c);
    let name = "workload/default/web";
    assert_eq!(
        codes(&r),
        [
            ("hpa-min-below-replicas", name),
            ("single-replica", name),
            ("single-point-of-failure", name),
        ]
    );
    assert!(!r.zero_spof);
    assert_eq!(state(&r, "cloudserver3 down", name).status, Status::Down);
    // minReplicas 2 with the hard spread keeps one pod through any single node loss.
    c.spec.workloads[0].hpa.as_mut().expect("hpa").min_replicas = 2;
    let r = analyze(&c);
    assert_eq!(codes(&r), [("hpa-min-below-replicas", name)]);
    assert!(r.zero_spof);
}

#[test]
fn failure_domains_count_only_the_pools_device_class_everywhere() {
    let mut c = seed();
    // Only the two workers have HDDs; a pool restricted to hdd has two failure domains.
    for h in c.spec.hosts.iter_mut().filter(|h| h.has_role(Role::Worker)) {
        h.disks[0].device_class = DeviceClass::Hdd;
    }
    c.spec.ceph.pools[0].device_class = Some(DeviceClass::Hdd);
    // Validation...
    let text = serde_saphyr::to_string(&c).expect("serialise");
    let loaded = topology::load(&topology::SourceFile::new("hdd.yaml", text)).expect("loads");
    let problems: Vec<String> = loaded.problems.iter().map(|p| p.message.clone()).collect();
    assert_eq!(
        problems,
        [
            "pool `replicapool` wants 3 replicas in distinct failure domains but there are only 2 hosts with hdd OSDs"
        ]
    );
    // ...the design findings...
    let r = analyze(&c);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "pool-fewer-domains-than-size")
        .expect("finding");
    assert!(f.message.contains("there are 2:"), "{}", f.message);
    // ...and the fault rules agree: the control-plane OSDs (ssd) do not hold this pool.
    let base = r
        .baseline
        .iter()
        .find(|s| s.component == "pool/replicapool");
    assert_eq!(base.map(|s| s.status), Some(Status::Degraded));
    assert_eq!(
        state(&r, "micklethefickle:/dev/vdb lost", "pool/replicapool").status,
        Status::Degraded,
        "an ssd OSD is not in the hdd pool"
    );
    assert_eq!(
        state(&r, "blackboar:/dev/vdb lost", "pool/replicapool").status,
        Status::Down
    );
}

/// Placement is the scheduler policy's: web's third replica asks 5 CPUs where each worker has
/// 8 and already runs one, so it stays Pending with kube-scheduler's own message, which the
/// hard rules alone (taints, spread) would not show.
#[test]
fn a_replica_that_fits_no_node_is_pending_with_the_schedulers_message() {
    let mut c = seed();
    let web = c
        .spec
        .workloads
        .iter_mut()
        .find(|w| w.name == "web")
        .expect("web");
    web.cpu_millis = 5000;
    web.hpa = None;
    let r = analyze(&c);
    let web = r
        .baseline
        .iter()
        .find(|s| s.component == "workload/default/web")
        .expect("web");
    assert_eq!(web.status, Status::Degraded);
    assert_eq!(
        web.reason,
        "at worst 2 of 3 replicas running; 1 Pending: 0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling."
    );
}
