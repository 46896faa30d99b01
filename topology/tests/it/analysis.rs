//! Static SPOF analysis of the seed topology and of the variants issue 2 names, with the
//! exact findings each must produce.

use topology::analysis::{Report, Status, analyze};
use topology::{Cluster, IntOrPercent, Pdb, Role, default_cluster};

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
        r.baseline.iter().all(|s| s.status == Status::Ok),
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
    assert!(both.down().contains(&"ceph-mon"));
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
    assert_eq!(status("etcd"), Some(Status::Ok));
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
