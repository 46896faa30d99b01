//! The rendered tree of the default topology: snapshots (secrets and certificates redacted),
//! byte-identical re-renders, file modes, `--explain`, and a property test that variants of the
//! default topology that still validate all render.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use proptest::prelude::*;
use provision::render::{Rendered, render};
use provision::secrets::SecretStore;
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
        "manifests/40-rook/storage-ha.yaml",
        "manifests/50-workloads/stateful-storage-ha.yaml",
        "manifests/kustomization.yaml",
        "hosts/cloudserver2/etc/haproxy/haproxy.cfg",
        "hosts/blackboar/etc/kubernetes/spofless/kubeadm-join.yaml",
    ] {
        assert!(rendered.tree.get(rel).is_some(), "{rel} not rendered");
    }
}

/// A variant of the default topology, or `None` when it does not validate.
fn variant(
    keep_workers: Vec<bool>,
    coredns: u32,
    ingress: u32,
    web: u32,
    pool_size: u8,
    cp_keep: usize,
) -> Option<Cluster> {
    let mut c = default_cluster();
    let mut worker_i = 0;
    let mut cp_i = 0;
    c.spec.hosts.retain(|h| {
        if h.has_role(Role::ControlPlane) {
            cp_i += 1;
            cp_i <= cp_keep
        } else {
            worker_i += 1;
            keep_workers.get(worker_i - 1).copied().unwrap_or(true)
        }
    });
    let names: Vec<String> = c.spec.hosts.iter().map(|h| h.name.clone()).collect();
    c.spec.api_endpoint.priority.retain(|n| names.contains(n));
    c.spec.coredns.replicas = coredns;
    c.spec.ingress.replicas = ingress;
    for w in &mut c.spec.workloads {
        if w.name == "web" {
            w.replicas = web;
            if let Some(h) = &mut w.hpa {
                h.min_replicas = web;
                h.max_replicas = web * 2;
            }
        }
    }
    for p in &mut c.spec.ceph.pools {
        p.size = pool_size;
        p.min_size = Some(pool_size - pool_size / 2);
    }
    let json = serde_json::to_string(&c).ok()?;
    topology::load_valid(&SourceFile::new("variant.yaml", json)).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn variants_of_the_default_topology_render(
        keep_workers in proptest::collection::vec(any::<bool>(), 2),
        coredns in 1u32..6,
        ingress in 1u32..5,
        web in 1u32..8,
        pool_size in 1u8..=5,
        cp_keep in 1usize..=3,
    ) {
        let Some(cluster) = variant(keep_workers, coredns, ingress, web, pool_size, cp_keep) else {
            return Err(TestCaseError::reject("variant does not validate"));
        };
        let state = tempfile::tempdir().expect("tempdir");
        let store = SecretStore::open(state.path()).expect("state dir");
        let rendered = render(&cluster, &store, now());
        prop_assert!(rendered.is_ok(), "render failed: {:?}", rendered.err());
    }
}

#[test]
fn changed_knobs_reach_the_files_and_explain_marks_them() {
    let mut cluster = default_cluster();
    cluster
        .spec
        .control_plane
        .node_lifecycle
        .node_monitor_grace_period_seconds = 20;
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
