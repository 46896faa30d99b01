//! Generated topologies serialise to YAML and parse back equal.

use proptest::prelude::*;
use topology::{
    AntiAffinity, Cluster, DeviceClass, Disk, FailureDomain, Hpa, IntOrPercent, Pdb, Pool, Role,
    Workload, WorkloadKind, default_cluster,
};

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn arb_cluster() -> impl Strategy<Value = Cluster> {
    (
        prop::collection::vec(
            (prop::collection::vec(role(), 1..4), 0u64..4, 1u32..64),
            1..8,
        ),
        prop::collection::vec(
            (1u8..5, prop::option::of(1u8..4), any::<bool>(), 0u32..3),
            0..3,
        ),
        prop::collection::vec(
            (
                0u32..6,
                prop::sample::select(vec![
                    AntiAffinity::None,
                    AntiAffinity::Preferred,
                    AntiAffinity::Required,
                ]),
                prop::option::of((0u32..4, any::<bool>())),
                prop::option::of((1u32..4, 0u32..6)),
                "[a-z]{1,8}( [a-z0-9:/.]{0,6})?",
            ),
            0..4,
        ),
    )
        .prop_map(|(hosts, pools, workloads)| {
            let mut c = default_cluster().expect("default is valid");
            c.spec.hosts = hosts
                .into_iter()
                .enumerate()
                .map(|(i, (roles, disks, cpu))| {
                    let mut h = c.spec.hosts[0].clone();
                    h.name = format!("host{i}");
                    h.address = format!("10.77.0.{}", 20 + i).parse().expect("ip");
                    h.roles = roles;
                    h.resources.cpu = cpu;
                    h.disks = (0..disks)
                        .map(|d| Disk {
                            device: format!("/dev/vd{}", (b'b' + d as u8) as char),
                            size_gib: 10 * (d + 1),
                            device_class: if d % 2 == 0 {
                                DeviceClass::Ssd
                            } else {
                                DeviceClass::Hdd
                            },
                        })
                        .collect();
                    h
                })
                .collect();
            c.spec.ceph.pools = pools
                .into_iter()
                .enumerate()
                .map(|(i, (size, min, by_osd, pg))| Pool {
                    name: format!("pool{i}"),
                    size,
                    min_size: min,
                    failure_domain: if by_osd {
                        FailureDomain::Osd
                    } else {
                        FailureDomain::Host
                    },
                    pg_num: 16 << pg,
                    device_class: None,
                    data_gib: u64::from(pg),
                })
                .collect();
            c.spec.workloads = workloads
                .into_iter()
                .enumerate()
                .map(|(i, (replicas, aa, pdb, hpa, image))| Workload {
                    name: format!("w{i}"),
                    namespace: "default".to_owned(),
                    kind: WorkloadKind::Deployment,
                    image,
                    port: 8080,
                    replicas,
                    anti_affinity: aa,
                    topology_spread: None,
                    tolerate_control_plane: i % 2 == 0,
                    pdb: pdb.map(|(n, pct)| Pdb {
                        min_available: Some(if pct {
                            IntOrPercent::Percent(n * 25)
                        } else {
                            IntOrPercent::Count(n)
                        }),
                        max_unavailable: None,
                    }),
                    hpa: hpa.map(|(min, extra)| Hpa {
                        min_replicas: min,
                        max_replicas: min + extra,
                        target_cpu_utilization_percent: 70,
                    }),
                    probes: Default::default(),
                    volumes: vec![],
                    cpu_millis: 100,
                    memory_mib: 128,
                })
                .collect();
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn yaml_round_trip(cluster in arb_cluster()) {
        let text = serde_saphyr::to_string(&cluster).expect("serialise");
        let back: Cluster = serde_saphyr::from_str(&text).expect("parse back");
        prop_assert_eq!(back, cluster);
    }

    #[test]
    fn analysis_never_panics(cluster in arb_cluster()) {
        let report = topology::analysis::analyze(&cluster);
        prop_assert_eq!(report.single_faults.len(), topology::analysis::single_faults(&cluster).len());
    }
}

#[test]
fn default_round_trips() {
    let c = default_cluster().expect("valid");
    let text = serde_saphyr::to_string(&c).expect("serialise");
    let back: Cluster = serde_saphyr::from_str(&text).expect("parse back");
    assert_eq!(back, c);
}
