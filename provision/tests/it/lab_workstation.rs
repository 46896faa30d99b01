//! The workstation path (an existing libvirt at a URI) through the same code as the real lab,
//! against libvirt's `test:///default` driver: define and start the network and five domains
//! from the default topology, read their state, inject every fault, and tear down twice.
//! Also: `down` refuses a same-named domain it did not create. Guests of the test driver run
//! nothing, so no SSH here (the isolated end-to-end test covers that).

#![cfg(feature = "libvirt")]

use std::path::Path;

use provision::inject::lab::LabFaults;
use provision::inject::{FaultTarget, InjectError};
use provision::lab::accel::Accel;
use provision::lab::driver::{Libvirt, RunState};
use provision::lab::ops::Lab;
use provision::lab::xml::{DomainFiles, domain_xml};
use provision::lab::{LabError, LabOptions, LabState, Mode};
use topology::fault::Fault;

const TEST_URI: &str = "test:///default";

fn lab(state: &Path) -> Lab {
    let cluster = topology::default_cluster().unwrap_or_else(|e| panic!("{e:?}"));
    let opts = LabOptions {
        mode: Mode::Workstation {
            uri: TEST_URI.into(),
        },
        accel: Some(Accel::Test),
        vcpus: 1,
        memory_mib: 2048,
        state_dir: state.to_owned(),
        cache_dir: state.join("cache"),
        with_ceph: false,
    };
    Lab::new(&cluster, opts).unwrap_or_else(|e| panic!("{e}"))
}

fn files(lab: &Lab, state: &Path) -> Vec<DomainFiles> {
    lab.spec
        .vms
        .iter()
        .map(|vm| {
            let d = state.join("vms").join(&vm.host);
            DomainFiles {
                kernel: state.join("vmlinuz"),
                initrd: state.join("initrd.img"),
                overlay: d.join("root.qcow2"),
                disks: vm
                    .disks
                    .iter()
                    .map(|(dev, _)| d.join(format!("disk-{dev}.qcow2")))
                    .collect(),
                seed: d.join("seed.iso"),
                console_log: d.join("console.log"),
            }
        })
        .collect()
}

fn states(lab: &Lab) -> Vec<RunState> {
    lab.status()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|s| s.state)
        .collect()
}

#[test]
fn define_start_fault_destroy_through_the_test_driver() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let lab = lab(dir.path());
    // The test driver's state lives as long as one connection in this process: keep it open.
    let lv = Libvirt::open(TEST_URI).unwrap_or_else(|e| panic!("{e}"));
    let st = lab
        .up_objects(&lv, Accel::Test, &files(&lab, dir.path()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.domains.len(), 5);
    assert!(st.network.is_some());
    assert_eq!(LabState::load(dir.path()).ok().flatten(), Some(st.clone()));
    assert_eq!(states(&lab), vec![RunState::Running; 5]);

    let h = &lab.spec.vms[2].host;
    let mut faults = LabFaults::new(&lab);
    lab.pause(h).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(states(&lab)[2], RunState::Paused);
    let restart = Fault::HostRestart { host: h.clone() };
    faults.apply(&restart).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(states(&lab)[2], RunState::Running);
    faults
        .apply(&Fault::HostCrash { host: h.clone() })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(states(&lab)[2], RunState::Off);
    faults.apply(&restart).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(states(&lab)[2], RunState::Running);
    let isolate = faults.apply(&Fault::Partition {
        groups: vec![vec![h.clone()]],
    });
    // The test driver may not implement live device updates; anything else must work.
    if let Err(e) = &isolate {
        assert!(e.to_string().contains("not supported"), "isolate: {e}");
    }
    let unknown = faults.apply(&Fault::HostCrash {
        host: "nosuchhost".into(),
    });
    assert!(
        matches!(&unknown, Err(InjectError::Lab { source, .. }) if matches!(**source, LabError::UnknownHost(_))),
        "{unknown:?}"
    );
    // What the lab cannot express is refused, typed, before anything is touched.
    for f in [
        Fault::OneWay {
            from: h.clone(),
            to: lab.spec.vms[0].host.clone(),
        },
        Fault::Partition {
            groups: vec![
                lab.spec.vms[..2].iter().map(|v| v.host.clone()).collect(),
                lab.spec.vms[2..].iter().map(|v| v.host.clone()).collect(),
            ],
        },
    ] {
        let r = faults.apply(&f);
        assert!(
            matches!(r, Err(InjectError::Unsupported { .. })),
            "{f}: {r:?}"
        );
    }

    lab.down(&mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert!(LabState::load(dir.path()).ok().flatten().is_none());
    for vm in &lab.spec.vms {
        let c = st
            .domain(&vm.host)
            .cloned()
            .unwrap_or_else(|| panic!("no record"));
        assert_eq!(
            lv.state(&c).ok(),
            Some(RunState::Missing),
            "{} left behind",
            vm.domain
        );
    }
    // Safe to run twice.
    assert!(lab.down(&mut |_| {}).map(|p| p.is_empty()).unwrap_or(false));
}

#[test]
fn down_refuses_objects_it_did_not_create() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cluster = topology::default_cluster().unwrap_or_else(|e| panic!("{e:?}"));
    let mut other = cluster.clone();
    other.metadata.name = "refuse-test".into();
    let lab = lab_for(&other, dir.path());
    let lv = Libvirt::open(TEST_URI).unwrap_or_else(|e| panic!("{e}"));
    let st = lab
        .up_objects(&lv, Accel::Test, &files(&lab, dir.path()))
        .unwrap_or_else(|e| panic!("{e}"));
    // Someone replaces one of the lab's domains with their own of the same name.
    let victim = st.domains[0].1.clone();
    lv.remove_domain(&victim).unwrap_or_else(|e| panic!("{e}"));
    let xml = domain_xml(
        &lab.spec,
        &lab.spec.vms[0],
        Accel::Test,
        &files(&lab, dir.path())[0],
    );
    let theirs = lv
        .define_domain(&victim.name, &xml)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(theirs.uuid, victim.uuid);
    // Best-effort down removes the rest, refuses theirs, and keeps the state file listing the
    // one recorded domain it could not remove.
    let err = lab.down(&mut |_| {});
    match &err {
        Err(LabError::Down { errors, remaining }) => {
            assert!(remaining, "{errors:?}");
            assert!(
                matches!(
                    errors.as_slice(),
                    [LabError::NotOurs { kind: "domain", .. }]
                ),
                "{errors:?}"
            );
        }
        other => panic!("expected Down with one NotOurs, got {other:?}"),
    }
    let kept = provision::lab::LabState::load(dir.path())
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("state file removed although a domain remains"));
    assert_eq!(kept.domains.len(), 1);
    assert!(kept.network.is_none(), "the network was removed");
    assert_eq!(
        lv.state(&theirs).ok(),
        Some(RunState::Off),
        "their domain untouched"
    );
    // Up refuses to clobber an existing same-named object too.
    let again = lv.define_domain(&victim.name, &xml);
    assert!(matches!(again, Err(LabError::NotOurs { .. })));
    lv.remove_domain(&theirs).unwrap_or_else(|e| panic!("{e}"));
    lab.down(&mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
}

fn lab_for(cluster: &topology::Cluster, state: &Path) -> Lab {
    let opts = LabOptions {
        mode: Mode::Workstation {
            uri: TEST_URI.into(),
        },
        accel: Some(Accel::Test),
        vcpus: 1,
        memory_mib: 1024,
        state_dir: state.to_owned(),
        cache_dir: state.join("cache"),
        with_ceph: false,
    };
    Lab::new(cluster, opts).unwrap_or_else(|e| panic!("{e}"))
}

/// `lab ssh` follows the mode recorded in the state file, not the flags it is given: a lab
/// brought up isolated is entered through its namespace even without `--isolated`, and a
/// workstation lab is not, even with it.
#[test]
fn ssh_follows_the_recorded_mode() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let workstation = lab(dir.path());
    let host = workstation.spec.vms[0].host.clone();
    let isolated = {
        let cluster = topology::default_cluster().unwrap_or_else(|e| panic!("{e:?}"));
        let mut opts = workstation.opts.clone();
        opts.mode = Mode::Isolated;
        Lab::new(&cluster, opts).unwrap_or_else(|e| panic!("{e}"))
    };
    let argv = |l: &Lab| l.ssh_argv(&host).unwrap_or_else(|e| panic!("{e}"));
    let recorded = |netns: Option<&str>| {
        LabState {
            lab: workstation.spec.name.clone(),
            uri: TEST_URI.to_owned(),
            netns: netns.map(str::to_owned),
            accel: "test".to_owned(),
            ..LabState::default()
        }
        .save(dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    };

    recorded(Some(&workstation.spec.netns));
    let ns_prefix = [
        "ip",
        "netns",
        "exec",
        workstation.spec.netns.as_str(),
        "ssh",
    ];
    assert_eq!(argv(&workstation)[..5], ns_prefix);
    assert_eq!(argv(&isolated)[..5], ns_prefix);

    recorded(None);
    assert_eq!(argv(&isolated)[0], "ssh");
    assert_eq!(argv(&workstation)[0], "ssh");
    let a = argv(&isolated);
    assert!(
        a.last()
            .is_some_and(|t| t.ends_with(&workstation.spec.vms[0].address.to_string())),
        "{a:?}"
    );

    // Nothing recorded yet: the given mode decides.
    LabState::remove(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(argv(&isolated)[0], "ip");
    assert_eq!(argv(&workstation)[0], "ssh");
}
