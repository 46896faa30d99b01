//! The rendered default topology checked by the real tools: `kubernetes-validate --strict`
//! for every core Kubernetes object (CRD-typed objects have no schema there and are reported
//! as skipped), `haproxy -c`, `keepalived -t` and `systemd-analyze verify`. A missing tool fails
//! the test with the package to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provision::render::{Rendered, render};
use provision::secrets::SecretStore;
use time::OffsetDateTime;

/// The Kubernetes release the manifests target.
const KUBERNETES_VERSION: &str = "1.34.0";

fn rendered_default(out: &Path, state: &Path) -> Rendered {
    let cluster = topology::default_cluster().expect("embedded topology is valid");
    let store = SecretStore::open(state).expect("state dir");
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("timestamp");
    let rendered = render(&cluster, &store, now).expect("render");
    rendered.tree.write_to(out).expect("write tree");
    rendered
}

/// Runs `tool args`, failing clearly when the tool is not installed.
fn run(tool: &str, package: &str, args: &[&str]) -> Output {
    match Command::new(tool).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{tool}` is not installed: install {package} (CI installs it)")
        }
        Err(e) => panic!("running {tool}: {e}"),
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files_named(rendered: &Rendered, suffix: &str) -> Vec<PathBuf> {
    rendered
        .tree
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

/// API groups kubernetes-validate has schemas for (core Kubernetes).
fn is_core(api_version: &str) -> bool {
    match api_version.split_once('/') {
        None => true,
        Some((group, _)) => {
            !group.contains('.') || group.ends_with(".k8s.io") && !group.starts_with("kustomize.")
        }
    }
}

#[test]
fn every_core_object_passes_kubernetes_validate_strict() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = rendered_default(out.path(), state.path());
    let docs_dir = tempfile::tempdir().expect("tempdir");
    let mut core = Vec::new();
    let mut crd = Vec::new();
    for (rel, file) in rendered.tree.iter() {
        let rel_s = rel.to_string_lossy();
        if !rel_s.starts_with("manifests/")
            || rel_s.ends_with("kustomization.yaml")
            || rel_s.ends_with("-values.yaml")
        {
            continue;
        }
        let body = String::from_utf8_lossy(file.contents.as_bytes()).into_owned();
        for (i, doc) in body.split("\n---\n").enumerate() {
            let api = doc
                .lines()
                .find_map(|l| l.strip_prefix("apiVersion: "))
                .unwrap_or("")
                .trim()
                .to_owned();
            let path = docs_dir
                .path()
                .join(format!("{}-{i}.yaml", rel_s.replace('/', "_")));
            std::fs::write(&path, doc).expect("write doc");
            if is_core(&api) {
                core.push(path)
            } else {
                crd.push((path, api))
            }
        }
    }
    assert!(
        core.len() >= 18,
        "expected the core objects, found {}",
        core.len()
    );
    let mut args = vec!["--strict", "--kubernetes-version", KUBERNETES_VERSION];
    let paths: Vec<String> = core.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let o = run(
        "kubernetes-validate",
        "PyPI kubernetes-validate (pip install kubernetes-validate)",
        &args,
    );
    let report = text(&o);
    assert!(o.status.success(), "kubernetes-validate failed:\n{report}");
    let passed = report
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(
        passed,
        core.len(),
        "not every core object was validated:\n{report}"
    );
    // CRD-typed objects: kubernetes-validate has no schema for them and only warns.
    let crd_paths: Vec<String> = crd.iter().map(|(p, _)| p.display().to_string()).collect();
    let mut args = vec!["--strict", "--kubernetes-version", KUBERNETES_VERSION];
    args.extend(crd_paths.iter().map(String::as_str));
    let o = run("kubernetes-validate", "PyPI kubernetes-validate", &args);
    let report = text(&o);
    let skipped = report
        .lines()
        .filter(|l| l.contains("Couldn't find schema"))
        .count();
    eprintln!(
        "kubernetes-validate: {passed} core objects passed; {skipped} CRD objects skipped (no schema): {:?}",
        crd.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(skipped, crd.len(), "{report}");
}

#[test]
fn every_haproxy_cfg_passes_haproxy_check() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = rendered_default(out.path(), state.path());
    let cfgs = files_named(&rendered, "etc/haproxy/haproxy.cfg");
    assert_eq!(cfgs.len(), 3, "one haproxy.cfg per control-plane host");
    for rel in cfgs {
        let path = out.path().join(&rel);
        let o = run(
            "haproxy",
            "Debian package haproxy",
            &["-c", "-f", &path.display().to_string()],
        );
        assert!(
            o.status.success(),
            "haproxy -c rejected {}:\n{}",
            rel.display(),
            text(&o)
        );
    }
}

#[test]
fn every_keepalived_conf_passes_keepalived_test() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = rendered_default(out.path(), state.path());
    let confs = files_named(&rendered, "etc/keepalived/keepalived.conf");
    assert_eq!(confs.len(), 3, "one keepalived.conf per control-plane host");
    for rel in confs {
        let path = out.path().join(&rel);
        // keepalived -t fails when the vrrp_script does not exist, so point the config at the
        // script rendered beside it (same contents, in the test's output tree).
        let script = path.with_file_name("check_apiserver.sh");
        assert!(
            script.exists(),
            "check script not rendered next to {}",
            rel.display()
        );
        let conf = std::fs::read_to_string(&path).expect("read conf").replace(
            provision::render::vip::CHECK_SCRIPT_PATH,
            &script.display().to_string(),
        );
        let local = path.with_file_name("keepalived.test.conf");
        std::fs::write(&local, conf).expect("write conf");
        let o = run(
            "keepalived",
            "Debian package keepalived",
            &["-t", "-f", &local.display().to_string()],
        );
        assert!(
            o.status.success(),
            "keepalived -t rejected {} (rc {:?}):\n{}",
            rel.display(),
            o.status.code(),
            text(&o)
        );
    }
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = rendered_default(out.path(), state.path());
    let units = files_named(&rendered, "spofless-swapoff.service");
    assert_eq!(units.len(), 5, "one swap-off unit per host");
    for rel in units {
        let path = out.path().join(&rel);
        let o = run(
            "systemd-analyze",
            "Debian package systemd",
            &["verify", &path.display().to_string()],
        );
        let report = text(&o);
        assert!(
            o.status.success() && !report.contains("spofless-swapoff"),
            "systemd-analyze verify {}:\n{report}",
            rel.display()
        );
    }
}

#[test]
fn containerd_config_is_toml_with_systemd_cgroups() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = rendered_default(out.path(), state.path());
    let configs = files_named(&rendered, "etc/containerd/config.toml");
    assert_eq!(configs.len(), 5, "one containerd config per host");
    // Python's tomllib is a strict TOML 1.0 parser.
    let check = "import sys, tomllib\n\
                 d = tomllib.load(open(sys.argv[1], 'rb'))\n\
                 cri = d['plugins']['io.containerd.grpc.v1.cri']\n\
                 assert d['version'] == 2\n\
                 assert cri['containerd']['runtimes']['runc']['options']['SystemdCgroup'] is True\n";
    for rel in configs {
        let path = out.path().join(&rel).display().to_string();
        let o = run(
            "python3",
            "Debian package python3 (3.11+, for tomllib)",
            &["-c", check, &path],
        );
        assert!(
            o.status.success(),
            "{} is not the expected TOML:\n{}",
            rel.display(),
            text(&o)
        );
    }
}

/// Layers that reference no remote manifests build offline with kubectl's built-in kustomize.
#[test]
fn local_layers_build_with_kubectl_kustomize() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    rendered_default(out.path(), state.path());
    for layer in ["20-coredns", "30-ingress", "40-rook", "50-workloads"] {
        let dir = out
            .path()
            .join("manifests")
            .join(layer)
            .display()
            .to_string();
        let o = run(
            "kubectl",
            "kubectl (Kubernetes apt repository, package kubectl)",
            &["kustomize", &dir],
        );
        assert!(
            o.status.success(),
            "kubectl kustomize {layer} failed:\n{}",
            text(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("kind: "),
            "{layer} built nothing"
        );
    }
}
