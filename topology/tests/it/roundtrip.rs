//! Generated topologies serialise to YAML and parse back equal, and nothing the generator can
//! produce (huge timers, spreads and replica counts included) makes validation or the
//! analysis panic.
//!
//! The generator covers the whole model: network, API endpoint, control-plane and etcd
//! timers, Ceph, Calico, MetalLB, CoreDNS, ingress, workloads with probes, volumes, spreads,
//! PDBs and HPAs, host labels and disks. Strings are drawn partly from YAML 1.1 look-alikes
//! (`yes`, `on`, `12:30`...) that a YAML 1.1 reader would turn into booleans or numbers
//! unless the writer quotes them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;
use topology::{
    AntiAffinity, ApiEndpoint, ApiEndpointMethod, Calico, CalicoEncapsulation, CephSpec, Cidr,
    Cluster, ControlPlane, CoreDns, DeviceClass, Disk, EtcdSpec, FailureDomain, HealthCheck, Host,
    Hpa, Ingress, IngressController, IntOrPercent, IpRange, LeaderElection, MetalLb, MetalLbMode,
    NetworkSpec, NodeLifecycle, Pdb, Pool, Probe, ProbeAction, Probes, Resources, Role,
    TopologySpread, UnsatisfiableAction, VolumeAccessMode, VolumeClaim, Vrrp, Workload,
    WorkloadKind, default_cluster,
};

/// Strings a YAML 1.1 reader takes for something other than a string.
const YAML11_LOOKALIKES: &[&str] = &[
    "yes", "no", "on", "off", "y", "n", "Y", "N", "true", "False", "null", "~", "12:30", "1:20:30",
    "0x1F", "0o17", "010", "1e3", ".inf", "-.inf", ".nan", "1_000", "+12", "",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(YAML11_LOOKALIKES).prop_map(str::to_owned),
        "[a-z0-9][a-z0-9 :./#-]{0,10}",
    ]
}

/// Mostly small numbers, sometimes the extremes that once overflowed.
fn num() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..8,
        1 => Just(u32::MAX),
        1 => (u32::MAX / 2)..=u32::MAX,
        1 => any::<u32>(),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn anti_affinity() -> impl Strategy<Value = AntiAffinity> {
    prop::sample::select(vec![
        AntiAffinity::None,
        AntiAffinity::Preferred,
        AntiAffinity::Required,
    ])
}

fn int_or_percent() -> impl Strategy<Value = IntOrPercent> {
    prop_oneof![
        num().prop_map(IntOrPercent::Count),
        (0u32..=100).prop_map(IntOrPercent::Percent),
    ]
}

fn pdb() -> impl Strategy<Value = Pdb> {
    (any::<bool>(), int_or_percent()).prop_map(|(min, v)| Pdb {
        min_available: min.then_some(v),
        max_unavailable: (!min).then_some(v),
    })
}

fn spread() -> impl Strategy<Value = TopologySpread> {
    (num(), any::<bool>()).prop_map(|(max_skew, hard)| TopologySpread {
        max_skew,
        when_unsatisfiable: if hard {
            UnsatisfiableAction::DoNotSchedule
        } else {
            UnsatisfiableAction::ScheduleAnyway
        },
    })
}

fn cidr() -> impl Strategy<Value = Cidr> {
    prop::sample::select(vec![
        "10.77.0.0/24",
        "10.77.0.1/24",
        "192.168.0.0/16",
        "10.96.0.0/12",
        "fd00::/64",
        "0.0.0.0/0",
    ])
    .prop_map(|s| s.parse().expect("valid CIDR"))
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        4 => (0u8..=255).prop_map(|x| IpAddr::from([10, 77, 0, x])),
        1 => any::<[u8; 4]>().prop_map(IpAddr::from),
        1 => any::<[u16; 8]>().prop_map(IpAddr::from),
    ]
}

fn ip_range() -> impl Strategy<Value = IpRange> {
    (0u8..=255, 0u8..=255).prop_map(|(a, b)| IpRange {
        first: IpAddr::from([10, 77, 0, a.min(b)]),
        last: IpAddr::from([10, 77, 0, a.max(b)]),
    })
}

fn network() -> impl Strategy<Value = NetworkSpec> {
    (text(), cidr(), cidr(), cidr(), text()).prop_map(|(domain, node, pod, service, cd)| {
        NetworkSpec {
            domain,
            node_subnet: node,
            pod_subnet: pod,
            service_subnet: service,
            cluster_domain: cd,
        }
    })
}

fn api_endpoint() -> impl Strategy<Value = ApiEndpoint> {
    (
        ip(),
        any::<u16>(),
        any::<bool>(),
        prop::collection::vec(text(), 0..3),
        prop::option::of((text(), num(), num(), num())),
        (any::<u8>(), num()),
    )
        .prop_map(
            |(vip, port, keepalived, priority, hc, (vrid, advert))| ApiEndpoint {
                vip,
                port,
                method: if keepalived {
                    ApiEndpointMethod::KeepalivedHaproxy
                } else {
                    ApiEndpointMethod::None
                },
                priority,
                health_check: hc.map(|(path, interval_seconds, fall, rise)| HealthCheck {
                    path,
                    interval_seconds,
                    fall,
                    rise,
                }),
                vrrp: Vrrp {
                    virtual_router_id: vrid,
                    advert_interval_seconds: advert,
                },
            },
        )
}

fn control_plane() -> impl Strategy<Value = ControlPlane> {
    (
        text(),
        (num(), num(), num()),
        (num(), num(), num(), num(), num()),
    )
        .prop_map(
            |(kubernetes_version, (lease, renew, retry), (period, grace, lease_n, nr, un))| {
                ControlPlane {
                    kubernetes_version,
                    leader_election: LeaderElection {
                        lease_duration_seconds: lease,
                        renew_deadline_seconds: renew,
                        retry_period_seconds: retry,
                    },
                    node_lifecycle: NodeLifecycle {
                        node_monitor_period_seconds: period,
                        node_monitor_grace_period_seconds: Some(grace),
                        node_lease_duration_seconds: lease_n,
                        not_ready_toleration_seconds: nr,
                        unreachable_toleration_seconds: un,
                    },
                }
            },
        )
}

fn etcd() -> impl Strategy<Value = EtcdSpec> {
    (num(), num(), any::<bool>(), any::<u64>()).prop_map(|(hb, et, pre_vote, snap)| EtcdSpec {
        heartbeat_interval_ms: hb,
        election_timeout_ms: et,
        pre_vote,
        snapshot_count: snap,
    })
}

fn device_class() -> impl Strategy<Value = DeviceClass> {
    prop::sample::select(vec![DeviceClass::Hdd, DeviceClass::Ssd, DeviceClass::Nvme])
}

fn ceph() -> impl Strategy<Value = CephSpec> {
    (
        prop::collection::vec(
            (
                text(),
                any::<u8>(),
                prop::option::of(any::<u8>()),
                any::<bool>(),
                num(),
                prop::option::of(device_class()),
                any::<u64>(),
            ),
            0..3,
        ),
        (num(), num(), num(), num()),
    )
        .prop_map(|(pools, (grace, out, reporters, mibps))| CephSpec {
            pools: pools
                .into_iter()
                .map(|(name, size, min_size, by_osd, pg_num, dc, data)| Pool {
                    name,
                    size,
                    min_size,
                    failure_domain: if by_osd {
                        FailureDomain::Osd
                    } else {
                        FailureDomain::Host
                    },
                    pg_num,
                    device_class: dc,
                    data_gib: data,
                })
                .collect(),
            osd_heartbeat_grace_seconds: grace,
            down_out_interval_seconds: out,
            min_down_reporters: reporters,
            recovery_mibps: mibps,
        })
}

fn calico() -> impl Strategy<Value = Calico> {
    (
        any::<bool>(),
        any::<u32>(),
        any::<bool>(),
        prop::sample::select(vec![
            CalicoEncapsulation::None,
            CalicoEncapsulation::IPIP,
            CalicoEncapsulation::IPIPCrossSubnet,
            CalicoEncapsulation::VXLAN,
        ]),
    )
        .prop_map(|(bgp, as_number, mesh, encapsulation)| Calico {
            bgp,
            as_number,
            node_to_node_mesh: mesh,
            encapsulation,
        })
}

fn metallb() -> impl Strategy<Value = MetalLb> {
    (any::<bool>(), prop::collection::vec(ip_range(), 0..3)).prop_map(|(l2, pools)| MetalLb {
        mode: if l2 {
            MetalLbMode::L2
        } else {
            MetalLbMode::Bgp
        },
        address_pool: pools,
    })
}

fn coredns() -> impl Strategy<Value = CoreDns> {
    (
        num(),
        anti_affinity(),
        prop::option::of(spread()),
        prop::option::of(pdb()),
    )
        .prop_map(|(replicas, anti_affinity, topology_spread, pdb)| CoreDns {
            replicas,
            anti_affinity,
            topology_spread,
            pdb,
        })
}

fn ingress() -> impl Strategy<Value = Ingress> {
    (
        num(),
        anti_affinity(),
        prop::option::of(spread()),
        any::<bool>(),
        prop::option::of(pdb()),
    )
        .prop_map(
            |(replicas, anti_affinity, topology_spread, cp, pdb)| Ingress {
                controller: IngressController::Traefik,
                replicas,
                anti_affinity,
                topology_spread,
                tolerate_control_plane: cp,
                pdb,
            },
        )
}

fn probe() -> impl Strategy<Value = Probe> {
    (
        prop_oneof![
            text().prop_map(|path| ProbeAction::HttpGet { path }),
            Just(ProbeAction::TcpSocket {}),
            prop::collection::vec(text(), 0..3).prop_map(|command| ProbeAction::Exec { command }),
        ],
        (num(), num(), num(), num()),
    )
        .prop_map(|(action, (delay, period, timeout, fail))| Probe {
            action,
            initial_delay_seconds: delay,
            period_seconds: period,
            timeout_seconds: timeout,
            failure_threshold: fail,
        })
}

fn volume() -> impl Strategy<Value = VolumeClaim> {
    (text(), text(), text(), any::<u64>(), any::<bool>()).prop_map(
        |(name, mount_path, pool, size_gib, rwo)| VolumeClaim {
            name,
            mount_path,
            pool,
            size_gib,
            access_mode: if rwo {
                VolumeAccessMode::ReadWriteOnce
            } else {
                VolumeAccessMode::ReadWriteOncePod
            },
        },
    )
}

fn workload() -> impl Strategy<Value = Workload> {
    (
        (text(), text(), text(), any::<u16>()),
        (
            prop::sample::select(vec![
                WorkloadKind::Deployment,
                WorkloadKind::StatefulSet,
                WorkloadKind::DaemonSet,
            ]),
            num(),
            anti_affinity(),
            prop::option::of(spread()),
            any::<bool>(),
        ),
        (
            prop::option::of(pdb()),
            prop::option::of((num(), num(), num())),
            (
                prop::option::of(probe()),
                prop::option::of(probe()),
                prop::option::of(probe()),
            ),
            prop::collection::vec(volume(), 0..3),
            num(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (name, namespace, image, port),
                (kind, replicas, anti_affinity, topology_spread, cp),
                (pdb, hpa, (readiness, liveness, startup), volumes, cpu_millis, memory_mib),
            )| Workload {
                name,
                namespace,
                kind,
                image,
                port,
                replicas,
                anti_affinity,
                topology_spread,
                tolerate_control_plane: cp,
                pdb,
                hpa: hpa.map(|(min, max, target)| Hpa {
                    min_replicas: min,
                    max_replicas: max,
                    target_cpu_utilization_percent: target,
                }),
                probes: Probes {
                    readiness,
                    liveness,
                    startup,
                },
                volumes,
                cpu_millis,
                memory_mib,
            },
        )
}

fn host(i: usize) -> impl Strategy<Value = Host> {
    (
        prop::option::of(text()),
        ip(),
        prop::collection::vec(role(), 1..4),
        (num(), any::<u64>()),
        prop::collection::vec((device_class(), any::<u64>()), 0..3),
        prop::collection::btree_map(text(), text(), 0..3),
    )
        .prop_map(
            move |(fqdn, address, roles, (cpu, memory_mib), disks, labels)| Host {
                name: format!("host{i}"),
                fqdn,
                address,
                roles,
                resources: Resources { cpu, memory_mib },
                disks: disks
                    .into_iter()
                    .enumerate()
                    .map(|(d, (device_class, size_gib))| Disk {
                        device: format!("/dev/vd{}", char::from(b'b' + d as u8)),
                        size_gib,
                        device_class,
                    })
                    .collect(),
                labels: labels.into_iter().collect::<BTreeMap<_, _>>(),
            },
        )
}

fn hosts() -> impl Strategy<Value = Vec<Host>> {
    (1usize..8).prop_flat_map(|n| (0..n).map(host).collect::<Vec<_>>())
}

fn arb_cluster() -> impl Strategy<Value = Cluster> {
    (
        text(),
        network(),
        hosts(),
        api_endpoint(),
        control_plane(),
        etcd(),
        ceph(),
        calico(),
        metallb(),
        coredns(),
        ingress(),
        prop::collection::vec(workload(), 0..4),
    )
        .prop_map(
            |(
                name,
                network,
                hosts,
                api_endpoint,
                control_plane,
                etcd,
                ceph,
                calico,
                metallb,
                coredns,
                ingress,
                workloads,
            )| {
                let mut c = default_cluster().expect("default is valid");
                c.metadata.name = name;
                c.spec.network = network;
                c.spec.hosts = hosts;
                c.spec.api_endpoint = api_endpoint;
                c.spec.control_plane = control_plane;
                c.spec.etcd = etcd;
                c.spec.ceph = ceph;
                c.spec.calico = calico;
                c.spec.metallb = metallb;
                c.spec.coredns = coredns;
                c.spec.ingress = ingress;
                c.spec.workloads = workloads;
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn yaml_round_trip(cluster in arb_cluster()) {
        let text = serde_saphyr::to_string(&cluster).expect("serialise");
        let back: Cluster = serde_saphyr::from_str(&text).expect("parse back");
        prop_assert_eq!(back, cluster, "{}", text);
    }

    #[test]
    fn analysis_never_panics(cluster in arb_cluster()) {
        let report = topology::analysis::analyze(&cluster);
        prop_assert_eq!(report.single_faults.len(), topology::analysis::single_faults(&cluster).len());
        let n = report.single_faults.len();
        prop_assert_eq!(report.pairs.len(), n * n.saturating_sub(1) / 2);
    }

    #[test]
    fn validation_never_panics(cluster in arb_cluster()) {
        let text = serde_saphyr::to_string(&cluster).expect("serialise");
        let source = topology::SourceFile::new("generated.yaml", text);
        let loaded = topology::load(&source);
        prop_assert!(loaded.is_ok(), "a serialised model must deserialise: {:?}", loaded.err());
    }
}

#[test]
fn huge_numbers_are_judged_not_overflowed() {
    let mut c = default_cluster().expect("valid");
    // 5 x u32::MAX heartbeat does not fit in a u32: the rule must still refuse it.
    c.spec.etcd.heartbeat_interval_ms = u32::MAX;
    c.spec.etcd.election_timeout_ms = u32::MAX;
    let w = &mut c.spec.workloads[0];
    w.replicas = u32::MAX;
    w.hpa = None;
    w.topology_spread = Some(TopologySpread {
        max_skew: u32::MAX,
        when_unsatisfiable: UnsatisfiableAction::DoNotSchedule,
    });
    let text = serde_saphyr::to_string(&c).expect("serialise");
    let loaded = topology::load(&topology::SourceFile::new("huge.yaml", text)).expect("loads");
    let fields: Vec<&str> = loaded.problems.iter().map(|p| p.field.as_str()).collect();
    assert!(
        fields.contains(&"spec.etcd.electionTimeoutMs"),
        "{fields:?}"
    );
    let report = topology::analysis::analyze(&c);
    // A skew of u32::MAX is no constraint at all: every replica may share one node.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code == "replicas-can-share-a-node" && f.subject == "workload/default/web"),
        "{:#?}",
        report.findings
    );
}

#[test]
fn yaml_11_look_alikes_are_quoted_and_read_back_equal() {
    let mut c = default_cluster().expect("valid");
    for (i, word) in ["yes", "on", "no", "12:30", "off", "y", "null", "0x1F"]
        .iter()
        .enumerate()
    {
        c.spec.hosts[0]
            .labels
            .insert(format!("k{i}"), (*word).to_owned());
        c.spec.hosts[1]
            .labels
            .insert((*word).to_owned(), format!("v{i}"));
    }
    c.metadata.name = "on".to_owned();
    c.spec.workloads[0].name = "yes".to_owned();
    c.spec.workloads[0].namespace = "no".to_owned();
    c.spec.workloads[1].image = "12:30".to_owned();
    let text = serde_saphyr::to_string(&c).expect("serialise");
    for line in [
        "k0: \"yes\"",
        "k3: \"12:30\"",
        "\"on\": v1",
        "name: \"on\"",
        "name: \"yes\"",
        "namespace: \"no\"",
        "image: \"12:30\"",
    ] {
        let quoted_single = line.replace('"', "'");
        assert!(
            text.contains(line) || text.contains(&quoted_single),
            "`{line}` is not quoted in:\n{text}"
        );
    }
    let back: Cluster = serde_saphyr::from_str(&text).expect("parse back");
    assert_eq!(back, c);
}

#[test]
fn default_round_trips() {
    let c = default_cluster().expect("valid");
    let text = serde_saphyr::to_string(&c).expect("serialise");
    let back: Cluster = serde_saphyr::from_str(&text).expect("parse back");
    assert_eq!(back, c);
}
