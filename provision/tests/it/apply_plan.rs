//! `plan` without hosts: the default topology planned against fresh hosts (snapshot of every
//! step's changes and the commands they run), a host that already has everything plans
//! nothing, changed files restart their units one host at a time, a restart owed by an
//! interrupted apply is still made, and a target without a package mirror blocks instead of
//! half-applying.

use std::fmt::Write as _;

use provision::apply::facts::{DiskFact, FileFact, UnitFact};
use provision::apply::plan::plan;
use provision::apply::{
    Change, Desired, HostFacts, LabExtras, Phase, Plan, Step, StepState, TargetAbilities, desired,
};
use provision::render::render;
use provision::secrets::SecretStore;
use time::OffsetDateTime;

const HOSTS: TargetAbilities = TargetAbilities { can_install: true };
const LAB: TargetAbilities = TargetAbilities { can_install: false };

fn desired_for(lab: bool) -> Desired {
    let cluster = topology::default_cluster().expect("the embedded topology is valid");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SecretStore::open(dir.path()).expect("state dir");
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("timestamp");
    let rendered = render(&cluster, &store, now).expect("render");
    let extras = lab.then(|| LabExtras::render(&cluster, &store).expect("lab extras"));
    desired(&cluster, &rendered, extras.as_ref())
        .expect("every rendered host file belongs to a phase")
}

fn default_desired() -> Desired {
    desired_for(false)
}

/// Facts of a host on which apply has completed.
fn converged(d: &Desired) -> Vec<Result<HostFacts, String>> {
    d.hosts
        .iter()
        .map(|h| {
            let mut f = HostFacts::default();
            for hp in h.phases.values() {
                for file in &hp.files {
                    f.files.insert(
                        file.path.clone(),
                        FileFact {
                            sha256: file.sha256.clone(),
                            mode: file.mode,
                            user: file.owner.user.clone(),
                            group: file.owner.group.clone(),
                        },
                    );
                }
                for u in &hp.units {
                    f.units.insert(
                        u.name.clone(),
                        UnitFact {
                            active: "active".to_owned(),
                            enabled: "enabled".to_owned(),
                            needs_reload: false,
                        },
                    );
                }
                for p in &hp.packages {
                    f.packages.insert(p.clone(), "1".to_owned());
                }
                f.modules.extend(hp.modules.iter().cloned());
                f.sysctls.extend(hp.sysctls.iter().cloned());
                if let Some(id) = &hp.ceph_mon {
                    let data = provision::render::ceph_lab::mon_data(id);
                    f.exists.insert(data.join("done"));
                    f.nonempty.insert(data);
                }
                for (dev, osd_fsid) in &hp.osd_devices {
                    f.disks.insert(
                        dev.clone(),
                        DiskFact {
                            signature: "LVM2_member".to_owned(),
                            osd_fsid: Some(osd_fsid.clone()),
                        },
                    );
                    f.active_osds += 1;
                }
                if !hp.pools.is_empty() {
                    f.pools = Some(hp.pools.iter().map(|p| p.name.clone()).collect());
                }
            }
            Ok(f)
        })
        .collect()
}

fn host_index(d: &Desired, name: &str) -> usize {
    d.hosts.iter().position(|h| h.host == name).expect("host")
}

/// The plan's step `phase/host`.
fn step<'p>(p: &'p Plan, id: &str) -> &'p Step {
    p.steps
        .iter()
        .find(|s| s.id() == id)
        .unwrap_or_else(|| panic!("no step {id}"))
}

#[test]
fn fresh_hosts_plan_matches_the_snapshot() {
    let d = default_desired();
    let facts: Vec<_> = d.hosts.iter().map(|_| Ok(HostFacts::fresh())).collect();
    let p = plan(&d, &facts, HOSTS);
    let mut listing = String::new();
    for step in &p.steps {
        let _ = writeln!(listing, "{}: {:?}", step.id(), step.state);
        for c in &step.changes {
            let _ = writeln!(listing, "    {c}");
            for line in c.commands() {
                let _ = writeln!(listing, "        $ {line}");
            }
        }
    }
    for g in &p.gates {
        let _ = writeln!(listing, "gate {}: {}", g.phase, g.check);
    }
    insta::assert_snapshot!("plan_fresh_hosts", listing);
    // No contents reach the plan, and every etcd key is owned by the unit's user.
    assert!(!listing.contains("PRIVATE KEY"));
    let cs1 = &d.hosts[host_index(&d, "cloudserver1")];
    let key = cs1.phases[&Phase::Etcd]
        .files
        .iter()
        .find(|f| f.path.ends_with("server.key"))
        .expect("server key");
    assert_eq!((key.mode, key.owner.spec().as_str()), (0o600, "etcd:etcd"));
    assert!(key.contents.is_secret());
}

#[test]
fn a_converged_cluster_plans_nothing() {
    let d = default_desired();
    let p = plan(&d, &converged(&d), LAB);
    assert_eq!(p.change_count(), 0, "{:#?}", p.steps);
    assert!(p.blocked().is_none());
    // Ceph and Kubernetes are reported as skipped with their reason, never as up to date.
    let skipped: Vec<_> = p
        .steps
        .iter()
        .filter(|s| matches!(s.state, StepState::Skipped { .. }))
        .map(|s| s.phase)
        .collect();
    assert!(skipped.contains(&Phase::Ceph) && skipped.contains(&Phase::Kubernetes));
    assert!(
        p.steps
            .iter()
            .filter(|s| matches!(s.phase, Phase::Prepare | Phase::Etcd | Phase::Vip))
            .all(|s| s.state == StepState::UpToDate)
    );
}

#[test]
fn a_changed_etcd_file_restarts_members_one_at_a_time_and_an_owed_restart_survives() {
    let d = default_desired();
    let mut facts = converged(&d);
    let cs2 = host_index(&d, "cloudserver2");
    let env = std::path::PathBuf::from("/etc/default/etcd");
    if let Ok(f) = &mut facts[cs2] {
        f.files.get_mut(&env).expect("env file").sha256 = "0".repeat(64);
    }
    let p = plan(&d, &facts, LAB);
    let etcd2 = step(&p, "etcd/cloudserver2");
    assert_eq!(etcd2.changes.len(), 2, "{:#?}", etcd2.changes);
    assert!(matches!(&etcd2.changes[0], Change::PutFile { path, .. } if *path == env));
    assert!(matches!(
        &etcd2.changes[1],
        Change::Restart { unit, rolling: true, why } if unit == "etcd.service" && why.contains("/etc/default/etcd")
    ));
    assert_eq!(p.change_count(), 2);

    // The apply that wrote the file was killed before restarting: the file matches now, but
    // the marker it left still owes the restart.
    let mut facts = converged(&d);
    if let Ok(f) = &mut facts[cs2] {
        f.restart_owed.insert("etcd.service".to_owned());
    }
    let p = plan(&d, &facts, LAB);
    let etcd2 = step(&p, "etcd/cloudserver2");
    assert!(matches!(
        etcd2.changes.as_slice(),
        [Change::Restart { why, .. }] if why.contains("interrupted")
    ));

    // A mode change alone rewrites the file but restarts nothing.
    let mut facts = converged(&d);
    if let Ok(f) = &mut facts[cs2] {
        f.files.get_mut(&env).expect("env file").mode = 0o666;
    }
    let p = plan(&d, &facts, LAB);
    assert_eq!(p.change_count(), 1);

    // The apply that wrote etcd.service was killed before systemd reloaded it: the file
    // matches, systemd says its definition is stale, and the owed restart must not run on it.
    let mut facts = converged(&d);
    if let Ok(f) = &mut facts[cs2] {
        f.restart_owed.insert("etcd.service".to_owned());
        f.units.get_mut("etcd.service").expect("unit").needs_reload = true;
    }
    let p = plan(&d, &facts, LAB);
    let etcd2 = step(&p, "etcd/cloudserver2");
    assert!(
        matches!(
            etcd2.changes.as_slice(),
            [Change::DaemonReload, Change::Restart { .. }]
        ),
        "{:#?}",
        etcd2.changes
    );
}

#[test]
fn a_stopped_unit_is_started_and_missing_packages_block_the_lab() {
    let d = default_desired();
    let mut facts = converged(&d);
    let mick = host_index(&d, "micklethefickle");
    if let Ok(f) = &mut facts[mick] {
        f.units.get_mut("keepalived.service").expect("unit").active = "failed".to_owned();
    }
    let p = plan(&d, &facts, LAB);
    assert!(matches!(
        step(&p, "vip/micklethefickle").changes.as_slice(),
        [Change::Start { unit, no_block: false }] if unit == "keepalived.service"
    ));

    let mut facts = converged(&d);
    if let Ok(f) = &mut facts[mick] {
        f.packages.remove("curl");
    }
    let p = plan(&d, &facts, LAB);
    let blocked = p.blocked().expect("a lab without curl blocks");
    assert_eq!(blocked.id(), "vip/micklethefickle");
    let plan_for_hosts = plan(&d, &facts, HOSTS);
    assert!(plan_for_hosts.blocked().is_none());

    let mut facts = converged(&d);
    facts[mick] = Err("connection refused".to_owned());
    let p = plan(&d, &facts, LAB);
    assert!(matches!(
        &p.blocked().expect("unreachable blocks").state,
        StepState::Blocked { reason } if reason.contains("connection refused")
    ));
}

#[test]
fn the_labs_ceph_is_planned_converges_and_never_wipes() {
    let d = desired_for(true);
    let facts: Vec<_> = d
        .hosts
        .iter()
        .map(|h| {
            let mut f = HostFacts::fresh();
            for p in h.phases.values().flat_map(|hp| &hp.packages) {
                f.packages.insert(p.clone(), "1".to_owned());
            }
            for (dev, _) in h.phases.values().flat_map(|hp| &hp.osd_devices) {
                f.disks.insert(
                    dev.clone(),
                    DiskFact {
                        signature: "-".to_owned(),
                        osd_fsid: None,
                    },
                );
            }
            Ok(f)
        })
        .collect();
    let p = plan(&d, &facts, LAB);
    assert!(p.blocked().is_none(), "{:?}", p.blocked());
    let count = |pred: fn(&Change) -> bool| {
        p.steps
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| pred(c))
            .count()
    };
    assert_eq!(count(|c| matches!(c, Change::CreateMonitor { .. })), 3);
    assert_eq!(count(|c| matches!(c, Change::CreateOsd { .. })), 5);
    assert_eq!(count(|c| matches!(c, Change::CreatePool { .. })), 1);
    // Every OSD host syncs its clock to the first host, which serves the node subnet.
    let chrony =
        count(|c| matches!(c, Change::PutFile { path, .. } if path.starts_with("/etc/chrony")));
    assert_eq!(chrony, 5);

    let converged_lab = converged(&d);
    assert_eq!(plan(&d, &converged_lab, LAB).change_count(), 0);

    // A down OSD is started again; a disk holding a filesystem blocks the whole apply.
    let cs3 = host_index(&d, "cloudserver3");
    let mut facts = converged(&d);
    if let Ok(f) = &mut facts[cs3] {
        f.active_osds = 0;
    }
    let p = plan(&d, &facts, LAB);
    assert!(matches!(
        step(&p, "ceph/cloudserver3").changes.as_slice(),
        [Change::ActivateOsds]
    ));
    let others = [
        ("ext4", None),
        ("gpt", None),
        ("LVM2_member", Some("other")),
    ];
    for (signature, osd_fsid) in others {
        let mut facts = converged(&d);
        if let Ok(f) = &mut facts[cs3] {
            f.disks.insert(
                "/dev/vdb".to_owned(),
                DiskFact {
                    signature: signature.to_owned(),
                    osd_fsid: osd_fsid.map(str::to_owned),
                },
            );
        }
        let p = plan(&d, &facts, LAB);
        assert!(
            matches!(
                &p.blocked().expect("a disk that is not ours blocks").state,
                StepState::Blocked { reason } if reason.contains("never wipes")
            ),
            "{signature}"
        );
    }
    // So does a monitor store apply did not finish or did not make.
    let mick = host_index(&d, "micklethefickle");
    let mut facts = converged(&d);
    if let Ok(f) = &mut facts[mick] {
        f.exists.clear();
    }
    let p = plan(&d, &facts, LAB);
    assert_eq!(
        p.blocked().map(|s| s.id()).as_deref(),
        Some("ceph-mons/micklethefickle")
    );
}
