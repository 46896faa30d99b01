//! The rendered default topology checked by the real tools: `kubernetes-validate --strict`
//! for every core Kubernetes object against the topology's Kubernetes release (CRD-typed
//! objects have no schema there and are reported as skipped), `haproxy -c`, `keepalived -t`,
//! `systemd-analyze verify` on every unit, `openssl verify` of every rendered certificate and
//! of kubeadm's CA pin, and `kubectl kustomize` on every layer and stage. A missing tool fails
//! the test with the package to install.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provision::render::kubeadm::kubernetes_release;
use provision::render::{Rendered, render};
use provision::secrets::SecretStore;
use testkit::output_text;
use time::OffsetDateTime;
use topology::{Cluster, Role};

fn default_cluster() -> Cluster {
    topology::default_cluster().expect("embedded topology is valid")
}

fn rendered_default(out: &Path, state: &Path) -> Rendered {
    let cluster = default_cluster();
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
            || !rel_s.ends_with(".yaml")
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
    // The release the topology installs (`v1.34.2` -> `1.34.2`), not a copy of it.
    let cluster = default_cluster();
    let version = kubernetes_release(&cluster);
    let mut args = vec!["--strict", "--kubernetes-version", version];
    let paths: Vec<String> = core.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let o = run(
        "kubernetes-validate",
        "PyPI kubernetes-validate (pip install kubernetes-validate)",
        &args,
    );
    let report = output_text(&o);
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
    let mut args = vec!["--strict", "--kubernetes-version", version];
    args.extend(crd_paths.iter().map(String::as_str));
    let o = run("kubernetes-validate", "PyPI kubernetes-validate", &args);
    let report = output_text(&o);
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
            output_text(&o)
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
            output_text(&o)
        );
    }
}

/// Every rendered systemd unit (swap-off on every host, etcd on the etcd members) passes
/// `systemd-analyze verify`, which also checks that `ExecStart=`'s program exists. It runs
/// against this machine's root with no substitution: the programs the units start are the
/// Debian paths `/usr/bin/etcd` (etcd-server) and `/usr/sbin/swapoff` (util-linux), both
/// installed here, so the check is the one a host would make.
#[test]
fn units_pass_systemd_analyze_verify() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = rendered_default(out.path(), state.path());
    let units: Vec<PathBuf> = rendered
        .tree
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| {
            p.parent()
                .is_some_and(|d| d.ends_with("etc/systemd/system"))
                && p.extension().is_some_and(|e| e == "service")
        })
        .collect();
    let cluster = default_cluster();
    let etcd_members = cluster.hosts_with(Role::Etcd).count();
    assert_eq!(
        units.len(),
        cluster.spec.hosts.len() + etcd_members,
        "one swap-off unit per host and one etcd unit per member: {units:?}"
    );
    let mut kinds = BTreeSet::new();
    for rel in units {
        let path = out.path().join(&rel);
        let text = std::fs::read_to_string(&path).expect("read unit");
        let program = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("{} has no ExecStart", rel.display()));
        assert!(
            Path::new(program).is_file(),
            "{} starts {program}, which is not installed here (etcd-server / util-linux)",
            rel.display()
        );
        let o = run(
            "systemd-analyze",
            "Debian package systemd",
            &["verify", &path.display().to_string()],
        );
        let report = output_text(&o);
        let name = rel
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            o.status.success() && !report.contains(&name),
            "systemd-analyze verify {}:\n{report}",
            rel.display()
        );
        kinds.insert(name);
    }
    assert_eq!(
        kinds,
        BTreeSet::from([
            "etcd.service".to_owned(),
            "spofless-swapoff.service".to_owned()
        ])
    );
}

fn openssl(args: &[&str]) -> Output {
    run("openssl", "Debian package openssl", args)
}

fn openssl_verify(ca: &Path, cert: &Path, purpose: &str) {
    let o = openssl(&[
        "verify",
        "-CAfile",
        &ca.display().to_string(),
        "-purpose",
        purpose,
        &cert.display().to_string(),
    ]);
    assert!(
        o.status.success(),
        "openssl verify -purpose {purpose} {} against {}:\n{}",
        cert.display(),
        ca.display(),
        output_text(&o)
    );
}

/// The certificate's public key equals the one derived from its key file.
fn key_matches(cert: &Path, key: &Path) {
    let from_cert = openssl(&[
        "x509",
        "-in",
        &cert.display().to_string(),
        "-noout",
        "-pubkey",
    ]);
    let from_key = openssl(&["pkey", "-in", &key.display().to_string(), "-pubout"]);
    assert!(from_cert.status.success() && from_key.status.success());
    assert_eq!(
        from_cert.stdout,
        from_key.stdout,
        "{} does not belong to {}",
        key.display(),
        cert.display()
    );
}

/// `DNS:x`, `IP Address:y` entries of the certificate's subjectAltName.
fn sans(cert: &Path) -> BTreeSet<String> {
    let o = openssl(&[
        "x509",
        "-in",
        &cert.display().to_string(),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .flat_map(|l| l.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every certificate under `hosts/*/etc/etcd/pki` and `hosts/*/etc/kubernetes/pki` of the
/// written tree verifies against its CA for the purpose it serves, its key (when rendered)
/// belongs to it, etcd server and peer certificates name their member, every key file is 0600,
/// and kubeadm's `caCertHashes` pin is what openssl computes from the cluster CA.
#[test]
fn every_rendered_certificate_verifies_with_openssl() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    rendered_default(out.path(), state.path());
    let cluster = default_cluster();
    let mut verified = BTreeSet::new();
    let mut etcd_cas = BTreeSet::new();
    let mut cluster_ca = None;
    for host in &cluster.spec.hosts {
        let root = out.path().join("hosts").join(&host.name);
        let etcd_pki = root.join("etc/etcd/pki");
        let kube_pki = root.join("etc/kubernetes/pki");
        let mut certs = Vec::new();
        files_under(&etcd_pki, &mut certs);
        files_under(&kube_pki, &mut certs);
        for path in &certs {
            let mode = std::fs::metadata(path).expect("meta").permissions().mode() & 0o777;
            if path.extension().is_some_and(|e| e == "key") {
                assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
            }
        }
        assert_eq!(
            etcd_pki.exists(),
            host.has_role(Role::Etcd),
            "{}: etcd PKI only on etcd members",
            host.name
        );
        for cert in certs
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        {
            let stem = cert
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            let key = cert.with_extension("key");
            let (ca, purposes): (PathBuf, &[&str]) = if stem == "ca" {
                // A CA verifies against itself (self-signed root).
                (cert.clone(), &["any"])
            } else if cert.starts_with(&etcd_pki) {
                let purposes: &[&str] = match stem.as_str() {
                    "server" | "peer" => &["sslserver", "sslclient"],
                    _ => &["sslclient"],
                };
                (etcd_pki.join("ca.crt"), purposes)
            } else if stem == "apiserver-etcd-client" {
                (kube_pki.join("etcd/ca.crt"), &["sslclient"])
            } else {
                panic!(
                    "{}: no CA known for this certificate; extend the test",
                    cert.display()
                );
            };
            for purpose in purposes {
                openssl_verify(&ca, cert, purpose);
            }
            if key.exists() {
                key_matches(cert, &key);
            }
            if stem == "ca" {
                let t = output_text(&openssl(&[
                    "x509",
                    "-in",
                    &cert.display().to_string(),
                    "-noout",
                    "-text",
                ]));
                assert!(t.contains("CA:TRUE"), "{}", cert.display());
                if cert.starts_with(&kube_pki) && !cert.ends_with("etcd/ca.crt") {
                    cluster_ca = Some(cert.clone());
                } else {
                    etcd_cas.insert(std::fs::read(cert).expect("read CA"));
                }
            }
            if matches!(stem.as_str(), "server" | "peer") {
                let got = sans(cert);
                for want in [
                    format!("DNS:{}", host.name),
                    format!("DNS:{}", cluster.fqdn(host)),
                    format!("IP Address:{}", host.address),
                ] {
                    assert!(
                        got.contains(&want),
                        "{} lacks {want}: {got:?}",
                        cert.display()
                    );
                }
            }
            if stem == "apiserver-etcd-client" {
                let subject = output_text(&openssl(&[
                    "x509",
                    "-in",
                    &cert.display().to_string(),
                    "-noout",
                    "-subject",
                ]));
                assert!(
                    subject.contains("O = system:masters, CN = kube-apiserver-etcd-client"),
                    "{subject}"
                );
            }
            verified.insert(
                cert.strip_prefix(out.path())
                    .expect("in tree")
                    .to_path_buf(),
            );
        }
    }
    // One etcd CA everywhere: on the members and in every apiserver's etcd trust.
    assert_eq!(etcd_cas.len(), 1, "several etcd CAs rendered");
    let etcd = cluster.hosts_with(Role::Etcd).count();
    let cps = cluster.hosts_with(Role::ControlPlane).count();
    // Per member: ca, server, peer, healthcheck-client; per control plane: etcd CA and the
    // apiserver client; the cluster CA once.
    assert_eq!(verified.len(), 4 * etcd + 2 * cps + 1, "{verified:?}");

    // kubeadm's discovery pin: sha256 of the CA's DER SubjectPublicKeyInfo, computed by openssl.
    let ca = cluster_ca.expect("the cluster CA is rendered on the init host");
    let pipeline = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | sha256sum",
        ca.display()
    );
    let o = run("sh", "Debian package dash", &["-c", &pipeline]);
    assert!(o.status.success(), "{}", output_text(&o));
    let digest = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_owned();
    assert_eq!(digest.len(), 64);
    let mut joins = 0;
    for host in &cluster.spec.hosts {
        let join = out
            .path()
            .join("hosts")
            .join(&host.name)
            .join("etc/kubernetes/spofless/kubeadm-join.yaml");
        let Ok(text) = std::fs::read_to_string(&join) else {
            continue;
        };
        let pins: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- sha256:"))
            .collect();
        assert_eq!(pins, vec![digest.as_str()], "{}", join.display());
        joins += 1;
    }
    assert_eq!(
        joins,
        cluster.spec.hosts.len() - 1,
        "every host but the init host joins"
    );
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
            output_text(&o)
        );
    }
}

fn kustomize(dir: &Path) -> String {
    let o = run(
        "kubectl",
        "kubectl (Kubernetes apt repository, package kubectl)",
        &["kustomize", &dir.display().to_string()],
    );
    assert!(
        o.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        output_text(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[derive(serde::Deserialize)]
struct KustomizationFile {
    resources: Vec<String>,
}

fn kustomization_resources(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("kustomization.yaml")).expect("kustomization");
    serde_saphyr::from_str::<KustomizationFile>(&text)
        .expect("kustomization YAML")
        .resources
}

/// CRDs and the objects of those CRDs are never applied together (on a fresh cluster that is
/// "no matches for kind"): operator layers hold only upstream CRD/operator URLs, resource
/// layers only rendered objects and each builds offline with kubectl's kustomize, and
/// `apply.sh` (valid sh) applies every layer in order, waiting for CRDs (and MetalLB's webhook)
/// after each operator layer and before the objects that need them.
#[test]
fn layers_build_with_kubectl_kustomize_and_crds_come_first() {
    let out = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let rendered = rendered_default(out.path(), state.path());
    let manifests = out.path().join("manifests");
    assert!(
        !manifests.join("kustomization.yaml").exists(),
        "a root kustomization would apply CRDs and their objects at once"
    );
    let mut layers: Vec<String> = std::fs::read_dir(&manifests)
        .expect("manifests")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    layers.sort();
    let mut kinds = BTreeSet::new();
    let mut operator_layers = Vec::new();
    for layer in &layers {
        let dir = manifests.join(layer);
        if !dir.join("kustomization.yaml").exists() {
            // A Helm-installed operator: only its values file.
            assert!(layer.ends_with("-operator"), "{layer} has no kustomization");
            operator_layers.push(layer.clone());
            continue;
        }
        let resources = kustomization_resources(&dir);
        let remote = resources
            .iter()
            .filter(|r| r.starts_with("https://"))
            .count();
        if remote > 0 {
            assert_eq!(
                remote,
                resources.len(),
                "{layer} mixes URLs and local objects"
            );
            assert_eq!(
                std::fs::read_dir(&dir).expect("layer dir").count(),
                1,
                "operator layer {layer} holds more than its kustomization"
            );
            operator_layers.push(layer.clone());
            continue;
        }
        let built = kustomize(&dir);
        for l in built.lines() {
            if let Some(k) = l.strip_prefix("kind: ") {
                kinds.insert(k.trim().to_owned());
            }
        }
    }
    for k in [
        "Installation",
        "IPPool",
        "IPAddressPool",
        "CephCluster",
        "CephBlockPool",
        "StorageClass",
        "Deployment",
    ] {
        assert!(
            kinds.contains(k),
            "no resource layer renders {k}: {kinds:?}"
        );
    }
    assert!(!kinds.contains("CustomResourceDefinition"));
    assert_eq!(
        operator_layers,
        [
            "00-calico-operator",
            "10-metallb-operator",
            "40-rook-operator"
        ]
    );

    let script = manifests.join("apply.sh");
    let mode = std::fs::metadata(&script)
        .expect("apply.sh")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o755);
    let o = run(
        "sh",
        "Debian package dash",
        &["-n", &script.display().to_string()],
    );
    assert!(
        o.status.success(),
        "apply.sh is not valid sh: {}",
        output_text(&o)
    );
    let text = std::fs::read_to_string(&script).expect("read");
    // Every layer appears, in directory order.
    let mut last = 0;
    for layer in &layers {
        let at = text
            .find(&format!("\n# {layer}\n"))
            .unwrap_or_else(|| panic!("apply.sh skips {layer}:\n{text}"));
        assert!(at >= last, "apply.sh applies {layer} out of order:\n{text}");
        last = at;
    }
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("apply.sh lacks {needle:?}:\n{text}"))
    };
    let crd_wait = "kubectl wait --for=condition=Established --timeout=300s crd --all";
    let calico_op = at("kubectl apply --server-side -k 00-calico-operator\n");
    let calico = at("kubectl apply -k 01-calico\n");
    let metallb_op = at("kubectl apply --server-side -k 10-metallb-operator\n");
    let webhook = at("--for=condition=Available --timeout=300s deployment/controller");
    let metallb = at("kubectl apply -k 11-metallb\n");
    let helm = at(
        "helm upgrade --install rook-ceph rook-ceph --repo https://charts.rook.io/release --version v1.18.3",
    );
    let rook = at("kubectl apply -k 41-rook\n");
    let waits_between = |a: usize, b: usize| text[a..b].contains(crd_wait);
    assert!(waits_between(calico_op, calico), "{text}");
    assert!(
        waits_between(metallb_op, webhook) && webhook < metallb,
        "{text}"
    );
    assert!(waits_between(helm, rook), "{text}");
    assert!(
        calico < metallb_op,
        "MetalLB's controller needs the pod network first"
    );
    assert!(
        manifests
            .join("40-rook-operator/rook-ceph-operator-values.yaml")
            .is_file()
    );
    assert!(
        rendered
            .tree
            .get("manifests/41-rook/storage-ha.yaml")
            .is_some()
    );
}

/// The lab's Ceph files, checked by Ceph's own tools: every keyring lists with
/// `ceph-authtool -l` (a malformed key fails to decode), `ceph-conf` reads the fsid back, and
/// `monmaptool --generate` builds the initial monitor map from `mon_host` as `ceph-mon --mkfs`
/// does without `--monmap`.
#[test]
fn the_labs_ceph_files_pass_cephs_own_tools() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SecretStore::open(dir.path().join("state")).expect("state dir");
    let cluster = default_cluster();
    let lab = provision::render::ceph_lab::render(&cluster, &store).expect("ceph lab render");
    let mut written = Vec::new();
    for (host, f) in &lab.files {
        let path = dir
            .path()
            .join(host)
            .join(f.path.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, f.contents.as_bytes()).expect("write");
        written.push((host.clone(), f.path.clone(), path));
    }
    let mut entities = BTreeSet::new();
    let keyrings = written
        .iter()
        .filter(|(_, p, _)| p.to_string_lossy().ends_with("keyring"));
    for (_, on_host, path) in keyrings {
        let out = run(
            "ceph-authtool",
            "ceph-common",
            &["-l", path.to_str().expect("utf-8")],
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}: {}",
            on_host.display(),
            output_text(&out)
        );
        for line in stdout.lines().filter(|l| l.starts_with('[')) {
            entities.insert(line.trim_matches(['[', ']']).to_owned());
        }
    }
    for want in [
        "mon.",
        "client.admin",
        "client.bootstrap-osd",
        "mgr.cloudserver3",
    ] {
        assert!(entities.contains(want), "{want} missing from {entities:?}");
    }
    let conf = &written
        .iter()
        .find(|(_, p, _)| p.ends_with("ceph.conf"))
        .expect("ceph.conf")
        .2;
    let conf = conf.to_str().expect("utf-8");
    let fsid = run(
        "ceph-conf",
        "ceph-common",
        &["-c", conf, "--lookup", "fsid"],
    );
    let fsid_text = String::from_utf8_lossy(&fsid.stdout).into_owned();
    assert_eq!(fsid_text.trim().len(), 36, "{}", output_text(&fsid));
    let map = dir.path().join("monmap");
    let map = map.to_str().expect("utf-8");
    let made = run(
        "monmaptool",
        "ceph-base",
        &["--create", "--generate", "-c", conf, "--clobber", map],
    );
    assert!(made.status.success(), "{}", output_text(&made));
    let printed = run("monmaptool", "ceph-base", &["--print", map]);
    let text = String::from_utf8_lossy(&printed.stdout).into_owned();
    // Entries are `noname-a`... until each monitor renames the one with its own address to
    // its id at mkfs, and learns the others' names when they meet (ceph-deploy's bootstrap).
    for (_, addr) in &lab.mons {
        assert!(text.contains(&format!("v2:{addr}:3300")), "{text}");
    }
    assert_eq!(text.matches(" mon.").count(), lab.mons.len(), "{text}");
}
