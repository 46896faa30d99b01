//! The rendered tree of the default topology: snapshots (secrets and certificates redacted),
//! byte-identical re-renders, file modes, `--explain` (and that it agrees with the files), the
//! kubeadm API per Kubernetes release, typed refusals, and a property test that any topology
//! the validator accepts renders, deterministically.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use proptest::prelude::*;
use provision::render::{RenderError, Rendered, render};
use std::sync::Arc;

use provision::secrets::{SecretStore, SeededRandom};
use time::OffsetDateTime;
use topology::{Cluster, Role, SourceFile};

/// A fixed clock: certificate validity is the only thing `now` decides.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("valid timestamp")
}

fn default_cluster() -> Cluster {
    topology::default_cluster().expect("the embedded topology is valid")
}

fn render_in(cluster: &Cluster, state: &Path) -> Rendered {
    let store = SecretStore::open(state).expect("state dir");
    render(cluster, &store, now()).expect("render")
}

/// Replaces every secret stored in `state` and every PEM certificate with a placeholder.
fn redact(text: &str, secrets: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in secrets {
        let value = value.trim_end();
        if !value.is_empty() {
            out = out.replace(value, &format!("<redacted:{name}>"));
        }
    }
    let mut result = String::new();
    let mut rest = out.as_str();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        result.push_str(&rest[..start]);
        let end_marker = "-----END CERTIFICATE-----";
        match rest[start..].find(end_marker) {
            Some(end) => {
                result.push_str("<certificate>");
                rest = &rest[start + end + end_marker.len()..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    result.push_str(rest);
    redact_ca_hashes(&result)
}

/// The CA pin `sha256:<64 hex>` changes with the generated CA key.
fn redact_ca_hashes(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("sha256:") {
        let hex = &rest[i + 7..];
        let n = hex.chars().take_while(char::is_ascii_hexdigit).count();
        out.push_str(&rest[..i]);
        if n == 64 {
            out.push_str("sha256:<ca-public-key-hash>");
            rest = &hex[64..];
        } else {
            out.push_str("sha256:");
            rest = hex;
        }
    }
    out.push_str(rest);
    out
}

fn stored_secrets(state: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(state).expect("read state dir") {
        let entry = entry.expect("entry");
        let mode = entry.metadata().expect("metadata").permissions().mode() & 0o777;
        if mode == 0o600 {
            let name = entry.file_name().to_string_lossy().into_owned();
            out.insert(
                name,
                std::fs::read_to_string(entry.path()).expect("secret text"),
            );
        }
    }
    out
}

#[test]
fn default_tree_matches_snapshots() {
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&default_cluster(), state.path());
    let secrets = stored_secrets(state.path());
    assert!(
        secrets.len() >= 3,
        "expected generated secrets in the state dir, got {:?}",
        secrets.keys()
    );
    let mut listing = String::new();
    for (rel, file) in rendered.tree.iter() {
        listing.push_str(&format!(
            "{:o} {}{}\n",
            file.mode,
            rel.display(),
            if file.contents.is_secret() {
                " (secret)"
            } else {
                ""
            }
        ));
    }
    let settings = {
        let mut s = insta::Settings::clone_current();
        s.set_prepend_module_to_snapshot(false);
        s
    };
    settings.bind(|| {
        insta::assert_snapshot!("tree_listing", listing);
        for (rel, file) in rendered.tree.iter() {
            let text = String::from_utf8_lossy(file.contents.as_bytes());
            let name = rel.display().to_string().replace('/', "__");
            insta::assert_snapshot!(name, redact(&text, &secrets));
        }
    });
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let cluster = default_cluster();
    let first = render_in(&cluster, state.path());
    let report1 = first.tree.write_to(out.path()).expect("write");
    assert_eq!(report1.written.len(), first.tree.len());
    let second = render_in(&cluster, state.path());
    assert_eq!(
        first.tree, second.tree,
        "a second render from the same state differs"
    );
    let report2 = second.tree.write_to(out.path()).expect("write");
    assert!(
        report2.written.is_empty(),
        "second write rewrote {:?}",
        report2.written
    );
    assert_eq!(report2.unchanged.len(), second.tree.len());
}

/// Every file's path, mode and bytes (secrets exposed: this stays inside the test).
fn bytes_of(r: &Rendered) -> Vec<(String, u32, Vec<u8>)> {
    r.tree
        .iter()
        .map(|(p, f)| {
            (
                p.display().to_string(),
                f.mode,
                f.contents.as_bytes().to_vec(),
            )
        })
        .collect()
}

/// Render is a function of (topology, secret source, now): two fresh state directories fed by
/// the same seeded source give byte-identical trees (keys, tokens, certificates and their
/// signatures included); another seed changes every secret.
#[test]
fn the_same_secret_source_renders_byte_identical_trees() {
    let cluster = default_cluster();
    let render_with = |seed: u64| {
        let state = tempfile::tempdir().expect("tempdir");
        let store =
            SecretStore::open_with(state.path(), Arc::new(SeededRandom::new(seed))).expect("state");
        bytes_of(&render(&cluster, &store, now()).expect("render"))
    };
    let (a, b, other) = (render_with(7), render_with(7), render_with(8));
    assert!(!a.is_empty());
    assert_eq!(a, b, "same source, different bytes");
    let differing: Vec<&str> = a
        .iter()
        .zip(&other)
        .filter(|(x, y)| x.2 != y.2)
        .map(|(x, _)| x.0.as_str())
        .collect();
    for secret in ["kubeadm-join.yaml", "etcd/pki/peer.key", "etcd/pki/ca.crt"] {
        assert!(
            differing.iter().any(|p| p.ends_with(secret)),
            "{secret} did not change with the seed: {differing:?}"
        );
    }
}

#[test]
fn secrets_are_written_0600_and_scripts_0755() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&default_cluster(), state.path());
    rendered.tree.write_to(out.path()).expect("write");
    let mut secrets = 0;
    for (rel, file) in rendered.tree.iter() {
        let mode = std::fs::metadata(out.path().join(rel))
            .expect("written")
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, file.mode, "{} has mode {mode:o}", rel.display());
        if file.contents.is_secret() {
            secrets += 1;
            assert_eq!(mode, 0o600, "secret {} must be 0600", rel.display());
        }
    }
    assert!(secrets > 0);
    let script = out
        .path()
        .join("hosts/micklethefickle/etc/keepalived/check_apiserver.sh");
    assert_eq!(
        std::fs::metadata(script)
            .expect("script")
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    // The kubeadm files hold the bootstrap token: secret.
    let init = rendered
        .tree
        .get("hosts/micklethefickle/etc/kubernetes/spofless/kubeadm-init.yaml")
        .expect("init file");
    assert!(init.contents.is_secret());
}

#[test]
fn explain_shows_knob_value_and_upstream_default() {
    let rendered = {
        let state = tempfile::tempdir().expect("tempdir");
        render_in(&default_cluster(), state.path())
    };
    let lines: Vec<String> = rendered.explain.iter().map(ToString::to_string).collect();
    let want = "spec.controlPlane.nodeLifecycle.nodeMonitorGracePeriodSeconds = 50 (upstream default 50, kube-controller-manager --node-monitor-grace-period)";
    assert!(
        lines.iter().any(|l| l == want),
        "missing {want:?} in\n{}",
        lines.join("\n")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("spec.ceph.pools[0].size = 3 (upstream default 3"))
    );
    // Every explained controller-manager value really is in the kubeadm file.
    let init = rendered
        .tree
        .get("hosts/micklethefickle/etc/kubernetes/spofless/kubeadm-init.yaml")
        .expect("init");
    let text = String::from_utf8_lossy(init.contents.as_bytes());
    assert!(
        text.contains("name: node-monitor-grace-period\n    value: 50s"),
        "{text}"
    );
}

#[test]
fn seed_file_names_exist() {
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&default_cluster(), state.path());
    for rel in [
        "manifests/41-rook/storage-ha.yaml",
        "manifests/50-workloads/stateful-storage-ha.yaml",
        "manifests/apply.sh",
        "hosts/cloudserver2/etc/haproxy/haproxy.cfg",
        "hosts/blackboar/etc/kubernetes/spofless/kubeadm-join.yaml",
    ] {
        assert!(rendered.tree.get(rel).is_some(), "{rel} not rendered");
    }
}

/// Knobs the property test varies, drawn independently; [`Knobs::apply`] turns them into a
/// topology derived from the default, which the validator may still refuse.
#[derive(Debug, Clone)]
struct Knobs {
    keep_workers: Vec<bool>,
    cp_keep: usize,
    drop_mon: Vec<bool>,
    drop_mgr: Vec<bool>,
    reverse_priority: bool,
    kube_minor: u32,
    kube_patch: u32,
    api_none: bool,
    api_port: u16,
    metallb_bgp: bool,
    health_check: Option<(u32, u32, u32)>,
    vrrp: (u8, u32),
    leader: (u32, u32, u32),
    grace: u32,
    etcd: (u32, u32, bool, u64),
    calico: (bool, u8, u32, bool),
    coredns: (u32, u8, bool),
    ingress: (u32, u8, bool),
    web: u32,
    pools: Vec<(u8, bool, u32)>,
}

fn anti(i: u8) -> topology::AntiAffinity {
    match i % 3 {
        0 => topology::AntiAffinity::None,
        1 => topology::AntiAffinity::Preferred,
        _ => topology::AntiAffinity::Required,
    }
}

impl Knobs {
    /// The topology, or `None` when the validator refuses it.
    fn apply(&self) -> Option<Cluster> {
        let mut c = default_cluster();
        let (mut worker_i, mut cp_i, mut host_i) = (0, 0, 0);
        c.spec.hosts.retain(|h| {
            if h.has_role(Role::ControlPlane) {
                cp_i += 1;
                cp_i <= self.cp_keep
            } else {
                worker_i += 1;
                self.keep_workers.get(worker_i - 1).copied().unwrap_or(true)
            }
        });
        for h in &mut c.spec.hosts {
            if self.drop_mon.get(host_i).copied().unwrap_or(false) {
                h.roles.retain(|r| *r != Role::CephMon);
            }
            if self.drop_mgr.get(host_i).copied().unwrap_or(false) {
                h.roles.retain(|r| *r != Role::CephMgr);
            }
            host_i += 1;
        }
        let names: Vec<String> = c.spec.hosts.iter().map(|h| h.name.clone()).collect();
        let api = &mut c.spec.api_endpoint;
        api.priority.retain(|n| names.contains(n));
        if self.reverse_priority {
            api.priority.reverse();
        }
        if self.api_none {
            api.method = topology::ApiEndpointMethod::None;
        }
        api.port = self.api_port;
        api.health_check = self
            .health_check
            .map(|(interval, fall, rise)| topology::HealthCheck {
                interval_seconds: interval,
                fall,
                rise,
                ..topology::HealthCheck::default()
            });
        api.vrrp.virtual_router_id = self.vrrp.0;
        api.vrrp.advert_interval_seconds = self.vrrp.1;
        let cp = &mut c.spec.control_plane;
        cp.kubernetes_version = format!("v1.{}.{}", self.kube_minor, self.kube_patch);
        (
            cp.leader_election.lease_duration_seconds,
            cp.leader_election.renew_deadline_seconds,
            cp.leader_election.retry_period_seconds,
        ) = self.leader;
        cp.node_lifecycle.node_monitor_grace_period_seconds = Some(self.grace);
        let e = &mut c.spec.etcd;
        (
            e.heartbeat_interval_ms,
            e.election_timeout_ms,
            e.pre_vote,
            e.snapshot_count,
        ) = self.etcd;
        let (bgp, encap, asn, mesh) = self.calico;
        c.spec.calico.bgp = bgp;
        c.spec.calico.encapsulation = match encap % 4 {
            0 => topology::CalicoEncapsulation::None,
            1 => topology::CalicoEncapsulation::IPIP,
            2 => topology::CalicoEncapsulation::IPIPCrossSubnet,
            _ => topology::CalicoEncapsulation::VXLAN,
        };
        c.spec.calico.as_number = asn;
        if self.metallb_bgp {
            c.spec.metallb.mode = topology::MetalLbMode::Bgp;
        }
        c.spec.calico.node_to_node_mesh = mesh;
        let (replicas, aa, pdb) = self.coredns;
        c.spec.coredns.replicas = replicas;
        c.spec.coredns.anti_affinity = anti(aa);
        if !pdb {
            c.spec.coredns.pdb = None;
        }
        let (replicas, aa, pdb) = self.ingress;
        c.spec.ingress.replicas = replicas;
        c.spec.ingress.anti_affinity = anti(aa);
        if !pdb {
            c.spec.ingress.pdb = None;
        }
        for w in &mut c.spec.workloads {
            if w.name == "web" {
                w.replicas = self.web;
                if let Some(h) = &mut w.hpa {
                    h.min_replicas = self.web;
                    h.max_replicas = self.web * 2;
                }
            }
        }
        let template = c.spec.ceph.pools.first().cloned().unwrap_or_default();
        c.spec.ceph.pools = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, &(size, by_osd, pg_num))| topology::Pool {
                name: if i == 0 {
                    template.name.clone()
                } else {
                    format!("pool{i}")
                },
                size,
                min_size: Some(size - size / 2),
                failure_domain: if by_osd {
                    topology::FailureDomain::Osd
                } else {
                    topology::FailureDomain::Host
                },
                pg_num,
                ..template.clone()
            })
            .collect();
        let json = serde_json::to_string(&c).ok()?;
        topology::load_valid(&SourceFile::new("variant.yaml", json)).ok()
    }
}

fn knobs() -> impl Strategy<Value = Knobs> {
    let hosts = (
        proptest::collection::vec(any::<bool>(), 2),
        1usize..=3,
        proptest::collection::vec(proptest::bool::weighted(0.2), 5),
        proptest::collection::vec(proptest::bool::weighted(0.2), 5),
        any::<bool>(),
    );
    let api = (
        // From 1.22: older releases are refused by the renderer (no v1beta3 kubeadm API) but,
        // as of this writing, not yet by topology validation, so they are left out here.
        22u32..=36,
        0u32..=12,
        proptest::bool::weighted(0.2),
        prop_oneof![Just(8443u16), Just(6443u16), 1025u16..=65535],
        proptest::option::of((1u32..=10, 1u32..=5, 1u32..=5)),
        (1u8..=255, 1u32..=5),
        proptest::bool::weighted(0.2),
    );
    let timers = (
        (10u32..=60)
            .prop_flat_map(|lease| (Just(lease), 5u32..lease))
            .prop_flat_map(|(lease, renew)| (Just(lease), Just(renew), 1u32..renew)),
        10u32..=120,
        (20u32..=500, 5u32..=20, any::<bool>(), 1u64..=200_000)
            .prop_map(|(hb, ratio, pv, snap)| (hb, hb * ratio, pv, snap)),
    );
    let addons = (
        (any::<bool>(), 0u8..4, 64512u32..=65534, any::<bool>()),
        (1u32..=5, 0u8..3, any::<bool>()),
        (1u32..=4, 0u8..3, any::<bool>()),
        1u32..=6,
        proptest::collection::vec(
            (
                1u8..=4,
                proptest::bool::weighted(0.2),
                prop_oneof![Just(32u32), Just(64), Just(128)],
            ),
            1..=3,
        ),
    );
    (hosts, api, timers, addons).prop_map(
        |(
            (keep_workers, cp_keep, drop_mon, drop_mgr, reverse_priority),
            (kube_minor, kube_patch, api_none, api_port, health_check, vrrp, metallb_bgp),
            (leader, grace, etcd),
            (calico, coredns, ingress, web, pools),
        )| Knobs {
            keep_workers,
            cp_keep,
            drop_mon,
            drop_mgr,
            reverse_priority,
            kube_minor,
            kube_patch,
            api_none,
            api_port,
            metallb_bgp,
            health_check,
            vrrp,
            leader,
            grace,
            etcd,
            calico,
            coredns,
            ingress,
            web,
            pools,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_global_rejects: 20_000, ..ProptestConfig::default() })]
    /// Any topology the validator accepts renders, and rendering it twice from one state
    /// directory gives the same tree. A failure here is a combination validation must refuse
    /// (or the renderer must learn).
    #[test]
    fn any_valid_topology_renders_deterministically(k in knobs()) {
        let Some(cluster) = k.apply() else {
            return Err(TestCaseError::reject("the validator refuses this topology"));
        };
        let state = tempfile::tempdir().expect("tempdir");
        let store = SecretStore::open(state.path()).expect("state dir");
        let first = render(&cluster, &store, now());
        prop_assert!(first.is_ok(), "a validated topology failed to render: {:?}\n{k:?}", first.err());
        let again = render(&cluster, &store, now()).expect("second render");
        prop_assert_eq!(first.expect("checked").tree, again.tree);
    }
}

#[test]
fn changed_knobs_reach_the_files_and_explain_marks_them() {
    let mut cluster = default_cluster();
    cluster
        .spec
        .control_plane
        .node_lifecycle
        .node_monitor_grace_period_seconds = Some(20);
    cluster
        .spec
        .control_plane
        .leader_election
        .lease_duration_seconds = 30;
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&cluster, state.path());
    let init = rendered
        .tree
        .get("hosts/micklethefickle/etc/kubernetes/spofless/kubeadm-init.yaml")
        .expect("init");
    let text = String::from_utf8_lossy(init.contents.as_bytes());
    assert!(
        text.contains("name: node-monitor-grace-period\n    value: 20s"),
        "{text}"
    );
    assert_eq!(
        text.matches("name: leader-elect-lease-duration\n    value: 30s")
            .count(),
        2,
        "scheduler and controller-manager"
    );
    let line = rendered
        .explain
        .iter()
        .find(|e| e.knob == "spec.controlPlane.nodeLifecycle.nodeMonitorGracePeriodSeconds")
        .expect("explained");
    assert_eq!(
        line.to_string(),
        "spec.controlPlane.nodeLifecycle.nodeMonitorGracePeriodSeconds = 20 (upstream default 50, kube-controller-manager --node-monitor-grace-period) [changed]"
    );
}

/// A failing health check must drop any host below every healthy one, or the VIP stays on a
/// host whose apiserver path is broken.
#[test]
fn a_failing_vrrp_check_drops_below_every_healthy_host() {
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&default_cluster(), state.path());
    let mut prio = Vec::new();
    let mut weight = 0i64;
    for (rel, file) in rendered.tree.iter() {
        if rel.ends_with("etc/keepalived/keepalived.conf") {
            let text = String::from_utf8_lossy(file.contents.as_bytes()).into_owned();
            let num = |key: &str| -> i64 {
                text.lines()
                    .find_map(|l| l.trim().strip_prefix(key))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("keepalived key")
            };
            prio.push(num("priority "));
            weight = num("weight ");
        }
    }
    assert_eq!(prio.len(), 3);
    let lowest = *prio.iter().min().expect("priorities");
    for p in &prio {
        assert!(
            p + weight < lowest,
            "priority {p} with weight {weight} stays >= {lowest}"
        );
    }
}

fn file_text(rendered: &Rendered, rel: &str) -> String {
    let f = rendered
        .tree
        .get(rel)
        .unwrap_or_else(|| panic!("{rel} not rendered"));
    String::from_utf8_lossy(f.contents.as_bytes()).into_owned()
}

fn explained<'a>(rendered: &'a Rendered, knob: &str) -> &'a provision::render::explain::Explained {
    rendered
        .explain
        .iter()
        .find(|e| e.knob == knob)
        .unwrap_or_else(|| panic!("{knob} not explained"))
}

#[test]
fn etcd_knobs_are_explained_and_rendered() {
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&default_cluster(), state.path());
    for (knob, line) in [
        (
            "spec.etcd.heartbeatIntervalMs",
            "spec.etcd.heartbeatIntervalMs = 100 (upstream default 100, etcd --heartbeat-interval",
        ),
        (
            "spec.etcd.electionTimeoutMs",
            "spec.etcd.electionTimeoutMs = 1000 (upstream default 1000, etcd --election-timeout",
        ),
        (
            "spec.etcd.preVote",
            "spec.etcd.preVote = true (upstream default false, etcd --pre-vote",
        ),
        (
            "spec.etcd.snapshotCount",
            "spec.etcd.snapshotCount = 100000 (upstream default 100000, etcd --snapshot-count",
        ),
    ] {
        let got = explained(&rendered, knob).to_string();
        assert!(got.starts_with(line), "{got}");
    }

    let mut cluster = default_cluster();
    cluster.spec.etcd.snapshot_count = 25_000;
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&cluster, state.path());
    let members: Vec<_> = cluster.hosts_with(Role::Etcd).collect();
    assert_eq!(members.len(), 3);
    for m in members {
        let env = file_text(&rendered, &format!("hosts/{}/etc/default/etcd", m.name));
        assert!(env.contains("\nETCD_SNAPSHOT_COUNT=25000\n"), "{env}");
    }
    assert!(
        explained(&rendered, "spec.etcd.snapshotCount")
            .to_string()
            .ends_with("[changed]")
    );
}

/// `count: N` under `key:` in the CephCluster.
fn ceph_count(yaml: &str, key: &str) -> usize {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != format!("{key}:"));
    lines.next().expect("section");
    lines
        .find_map(|l| l.trim().strip_prefix("count: "))
        .and_then(|v| v.parse().ok())
        .expect("count")
}

#[test]
fn explain_and_cephcluster_agree_on_mon_and_mgr_counts() {
    let stripped = {
        let mut c = default_cluster();
        for h in &mut c.spec.hosts {
            h.roles
                .retain(|r| !matches!(r, Role::CephMon | Role::CephMgr));
        }
        c
    };
    for cluster in [default_cluster(), stripped] {
        let state = tempfile::tempdir().expect("tempdir");
        let rendered = render_in(&cluster, state.path());
        let yaml = file_text(&rendered, "manifests/41-rook/cephcluster.yaml");
        let mons = explained(&rendered, "spec.hosts[roles contains ceph-mon] (count)");
        let mgrs = explained(
            &rendered,
            "spec.hosts[roles contains ceph-mgr] (count, max 2)",
        );
        assert_eq!(mons.value, ceph_count(&yaml, "mon").to_string(), "{yaml}");
        assert_eq!(mgrs.value, ceph_count(&yaml, "mgr").to_string(), "{yaml}");
        assert_ne!(mons.value, "0");
        assert_ne!(mgrs.value, "0");
    }
}

#[test]
fn kubeadm_api_follows_the_kubernetes_version() {
    let init = "hosts/micklethefickle/etc/kubernetes/spofless/kubeadm-init.yaml";
    let join = "hosts/blackboar/etc/kubernetes/spofless/kubeadm-join.yaml";
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&default_cluster(), state.path());
    let text = file_text(&rendered, init);
    assert_eq!(
        text.matches("apiVersion: kubeadm.k8s.io/v1beta4").count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("- name: leader-elect\n    value: \"true\""),
        "{text}"
    );

    let mut old = default_cluster();
    old.spec.control_plane.kubernetes_version = "v1.30.14".to_owned();
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = render_in(&old, state.path());
    let text = file_text(&rendered, init);
    assert_eq!(
        text.matches("apiVersion: kubeadm.k8s.io/v1beta3").count(),
        2,
        "{text}"
    );
    assert!(!text.contains("v1beta4"));
    // v1beta3 extraArgs are a map; before v1.32 upstream's grace period was 40 s, and an
    // unset grace follows the release.
    assert!(text.contains("node-monitor-grace-period: 40s"), "{text}");
    assert!(
        !text.contains("- name: node-monitor-grace-period"),
        "{text}"
    );
    let text = file_text(&rendered, join);
    assert!(
        text.contains("apiVersion: kubeadm.k8s.io/v1beta3"),
        "{text}"
    );
    assert!(text.contains("node-ip: "), "{text}");

    let mut ancient = default_cluster();
    ancient.spec.control_plane.kubernetes_version = "v1.21.3".to_owned();
    let state = tempfile::tempdir().expect("tempdir");
    let store = SecretStore::open(state.path()).expect("state");
    let err = render(&ancient, &store, now()).expect_err("v1.21 has no v1beta3");
    assert!(
        matches!(err, RenderError::KubernetesVersion { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("spec.controlPlane.kubernetesVersion"),
        "{err}"
    );
}

#[test]
fn metallb_bgp_without_peers_is_refused() {
    let mut cluster = default_cluster();
    cluster.spec.metallb.mode = topology::MetalLbMode::Bgp;
    let state = tempfile::tempdir().expect("tempdir");
    let store = SecretStore::open(state.path()).expect("state");
    let err = render(&cluster, &store, now()).expect_err("BGP mode has no peers");
    assert!(
        matches!(&err, RenderError::Unsupported { what, .. } if what == "spec.metallb.mode: bgp"),
        "{err}"
    );
}
