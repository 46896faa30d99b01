//! The embedded seed topology loads without a single problem and says what the seed says.

use topology::{Role, default_cluster, embedded_source, load};

#[test]
fn embedded_default_is_valid() {
    let loaded = load(&embedded_source()).expect("deserialises");
    let problems: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn default_matches_the_seed() {
    let c = default_cluster().expect("valid");
    let names = |r: Role| c.hosts_with(r).map(|h| h.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(Role::ControlPlane),
        ["micklethefickle", "cloudserver1", "cloudserver2"]
    );
    assert_eq!(names(Role::Etcd), names(Role::ControlPlane));
    assert_eq!(names(Role::Worker), ["cloudserver3", "blackboar"]);
    assert!(
        c.spec
            .hosts
            .iter()
            .all(|h| c.fqdn(h).ends_with(".bolabaden.org"))
    );
    assert_eq!(c.spec.ceph.pools[0].size, 3);
    assert_eq!(c.spec.ceph.pools[0].effective_min_size(), 2);
    assert!(
        names(Role::CephOsd).len() >= 3,
        "size 3 needs three OSD hosts"
    );
}
