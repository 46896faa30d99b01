//! `spofless plan` and `spofless apply` as a user meets them without a lab: a plan for fresh
//! machines that contacts nothing, JSON with the commands, and clear refusals where the
//! target is missing or not built yet. The lab end to end (apply, then `spofless drill`) is
//! this package's `lab_e2e` test.

use crate::common::{scratch, spofless, succeed, text};

#[test]
fn plan_for_fresh_hosts_contacts_nothing_and_shows_every_phase() {
    let dir = scratch("apply", "fresh");
    let state = dir.join("state");
    let state = state.to_str().expect("utf-8");
    let out = succeed(&[
        "plan",
        "--target",
        "hosts",
        "--assume-fresh",
        "--commands",
        "--state-dir",
        state,
    ]);
    for want in [
        "prepare/micklethefickle: ",
        "    install containerd, chrony",
        "        $ systemctl daemon-reload",
        "+ /etc/etcd/pki/server.key (0600 etcd:etcd, secret)",
        "etcd gate: etcdctl with the healthcheck client certificate: 3 members started",
        "vip gate: 10.77.0.10 held by exactly one of",
        "ceph/cloudserver3: skipped: real hosts get Ceph from Rook",
        "kubernetes/blackboar: skipped: kubeadm is not installed",
        "(hosts assumed fresh; nothing was contacted)",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("PRIVATE KEY"));

    // The lab's plan adds Ceph's daemons and pools and the guests' clock sync.
    let lab = succeed(&[
        "plan",
        "--target",
        "lab",
        "--assume-fresh",
        "--state-dir",
        state,
    ]);
    for want in [
        "create the monitor store of mon.micklethefickle",
        "create an OSD on /dev/vdb",
        "create pool replicapool",
        "+ /etc/chrony/sources.d/spofless-lab.sources",
        "ceph gate: ceph status: HEALTH_OK, 5 OSDs up and in, every PG active+clean",
    ] {
        assert!(lab.contains(want), "missing {want:?} in:\n{lab}");
    }

    let json = succeed(&[
        "plan",
        "--target",
        "hosts",
        "--assume-fresh",
        "--state-dir",
        state,
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("plan JSON");
    assert_eq!(v["assumedFresh"], true);
    let steps = v["steps"].as_array().expect("steps");
    let etcd = steps
        .iter()
        .find(|s| s["id"] == "etcd/cloudserver1")
        .expect("etcd step");
    assert_eq!(etcd["state"], "changes");
    assert!(
        etcd["commands"]
            .as_array()
            .expect("commands")
            .iter()
            .flat_map(|c| c.as_array().into_iter().flatten())
            .any(|c| c == "systemctl start --no-block etcd.service"),
        "{etcd}"
    );
}

#[test]
fn apply_refuses_what_it_cannot_reach_with_the_reason() {
    let dir = scratch("apply", "refusals");
    let state = dir.join("state");
    let state = state.to_str().expect("utf-8");
    let o = spofless(&["apply", "--target", "hosts", "--state-dir", state]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--target hosts needs each host's SSH user"),
        "{err}"
    );

    let lab_dir = dir.join("no-lab");
    let o = spofless(&[
        "apply",
        "--target",
        "lab",
        "--state-dir",
        state,
        "--lab-state-dir",
        lab_dir.to_str().expect("utf-8"),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no lab is recorded in"), "{err}");
    assert!(err.contains("spofless lab up"), "{err}");
}

/// A drill breaks things on purpose: anything but the lab needs the cluster's name, and the
/// lab must exist. Both refusals come before anything is contacted.
#[test]
fn drill_refuses_a_real_target_without_the_cluster_name_and_a_missing_lab() {
    let dir = scratch("apply", "drill");
    let o = spofless(&["drill", "etcd-leader-kill", "--target", "hosts"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let (_, err) = text(&o);
    assert!(err.contains("--i-mean-it bolabaden"), "{err}");
    let o = spofless(&[
        "drill",
        "etcd-leader-kill",
        "--target",
        "hosts",
        "--i-mean-it",
        "bolabaden",
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        text(&o).1.contains("--target hosts needs"),
        "{:?}",
        text(&o)
    );
    let lab = dir.join("no-lab");
    let o = spofless(&[
        "drill",
        "vip-holder-crash",
        "--target",
        "lab",
        "--lab-state-dir",
        lab.to_str().expect("utf-8"),
        "--state-dir",
        dir.join("state").to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let (_, err) = text(&o);
    assert!(
        err.contains("no lab is recorded") || err.contains("built without"),
        "{err}"
    );
}
