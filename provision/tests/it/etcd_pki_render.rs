//! The etcd PKI and member configuration checked with the real `openssl`: every chain verifies
//! for its purpose, SANs and subjects are what kubeadm and etcd expect, keys are 0600 and never
//! printed, and rendering twice from one state directory gives identical bytes.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use provision::pki::{EtcdPki, IssuedCert, ensure_etcd_pki};
use provision::render::etcd::{EtcdCluster, EtcdMember, render_cluster};
use provision::secrets::SecretStore;
use time::OffsetDateTime;

fn cluster() -> EtcdCluster {
    EtcdCluster::with_defaults(
        (1..=3)
            .map(|i| EtcdMember {
                name: format!("cp-{i}"),
                address: IpAddr::from([192, 168, 56, 10 + i]),
                fqdn: Some(format!("cp-{i}.lab.example")),
            })
            .collect(),
        "spofless-test",
    )
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}); install the Debian package `openssl`")
        })
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn verify(dir: &Path, ca: &str, name: &str, cert: &IssuedCert, purpose: &str) {
    let path = write(dir, name, &cert.cert_pem);
    let out = openssl(&["verify", "-CAfile", ca, "-purpose", purpose, &path]);
    assert!(
        out.status.success(),
        "openssl verify -purpose {purpose} {name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The key belongs to the certificate: compare public keys.
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&key_path, cert.key.expose()).unwrap();
    let from_key = openssl(&["pkey", "-in", key_path.to_str().unwrap(), "-pubout"]);
    let from_cert = openssl(&["x509", "-in", &path, "-noout", "-pubkey"]);
    assert!(from_key.status.success() && from_cert.status.success());
    assert_eq!(
        from_key.stdout, from_cert.stdout,
        "{name}: key does not match"
    );
}

fn text(dir: &Path, name: &str) -> String {
    let out = openssl(&[
        "x509",
        "-in",
        &dir.join(name).display().to_string(),
        "-noout",
        "-text",
    ]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn etcd_pki_chains_verify_with_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SecretStore::open(tmp.path().join("state")).unwrap();
    let pki = ensure_etcd_pki(&store, &cluster(), now()).unwrap();
    let dir = tmp.path();
    let ca = write(dir, "ca.crt", &pki.ca.cert_pem);
    let ca_text = text(dir, "ca.crt");
    assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
    assert!(ca_text.contains("Subject: CN = etcd-ca"), "{ca_text}");
    assert!(ca_text.contains("prime256v1"), "{ca_text}");
    for m in &pki.members {
        for (kind, cert) in [("server", &m.server), ("peer", &m.peer)] {
            let name = format!("{}-{kind}.crt", m.name);
            verify(dir, &ca, &name, cert, "sslserver");
            verify(dir, &ca, &name, cert, "sslclient");
            let t = text(dir, &name);
            let n: usize = m.name[3..].parse().unwrap();
            for san in [
                format!("DNS:{}", m.name),
                format!("DNS:{}.lab.example", m.name),
                "DNS:localhost".to_owned(),
                format!("IP Address:192.168.56.{}", 10 + n),
                "IP Address:127.0.0.1".to_owned(),
            ] {
                assert!(t.contains(&san), "{name} lacks {san}:\n{t}");
            }
            assert!(t.contains("TLS Web Server Authentication, TLS Web Client Authentication"));
            assert!(t.contains("CA:FALSE"));
        }
    }
    verify(
        dir,
        &ca,
        "healthcheck.crt",
        &pki.healthcheck_client,
        "sslclient",
    );
    verify(
        dir,
        &ca,
        "apiserver-etcd-client.crt",
        &pki.apiserver_etcd_client,
        "sslclient",
    );
    let t = text(dir, "apiserver-etcd-client.crt");
    assert!(
        t.contains("Subject: O = system:masters, CN = kube-apiserver-etcd-client"),
        "{t}"
    );
    // A client-only certificate must not pass as a server.
    let out = openssl(&[
        "verify",
        "-CAfile",
        &ca,
        "-purpose",
        "sslserver",
        &dir.join("healthcheck.crt").display().to_string(),
    ]);
    assert!(!out.status.success(), "client cert accepted as server");
}

fn all_bytes(pki: &EtcdPki, cluster: &EtcdCluster) -> Vec<(String, u32, Vec<u8>)> {
    render_cluster(cluster, pki)
        .unwrap()
        .into_iter()
        .flat_map(|(host, files)| {
            files.into_iter().map(move |f| {
                (
                    format!("{host}:{}", f.path.display()),
                    f.mode,
                    f.contents.as_bytes().to_vec(),
                )
            })
        })
        .collect()
}

#[test]
fn etcd_render_twice_is_identical_and_keys_stay_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let c = cluster();
    let first = ensure_etcd_pki(&SecretStore::open(&state).unwrap(), &c, now()).unwrap();
    // A later render (other process, later clock) from the same state directory.
    let later = now() + time::Duration::days(3);
    let second = ensure_etcd_pki(&SecretStore::open(&state).unwrap(), &c, later).unwrap();
    assert_eq!(first, second);
    assert_eq!(all_bytes(&first, &c), all_bytes(&second, &c));

    // A different state directory gives different keys.
    let other =
        ensure_etcd_pki(&SecretStore::open(tmp.path().join("b")).unwrap(), &c, now()).unwrap();
    assert_ne!(first.ca.key, other.ca.key);

    // Changing a member's address reissues its certificates with the same key.
    let mut moved = c.clone();
    moved.members[0].address = IpAddr::from([192, 168, 56, 99]);
    let third = ensure_etcd_pki(&SecretStore::open(&state).unwrap(), &moved, later).unwrap();
    assert_eq!(third.members[0].server.key, first.members[0].server.key);
    assert_ne!(
        third.members[0].server.cert_pem,
        first.members[0].server.cert_pem
    );
    assert_eq!(
        third.members[1].server.cert_pem,
        first.members[1].server.cert_pem
    );

    // Near expiry, certificates are renewed.
    let renewal = now() + time::Duration::days(340);
    let renewed = ensure_etcd_pki(&SecretStore::open(&state).unwrap(), &moved, renewal).unwrap();
    assert_ne!(
        renewed.members[1].peer.cert_pem,
        third.members[1].peer.cert_pem
    );
    assert_eq!(renewed.ca.cert_pem, third.ca.cert_pem);

    // Keys on disk are 0600; Debug never shows key material.
    for entry in std::fs::read_dir(&state).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        if name.ends_with(".key") {
            assert_eq!(mode, 0o600, "{name}");
        }
    }
    let debug = format!("{first:?} {:?}", render_cluster(&c, &first).unwrap());
    assert!(
        !debug.contains("PRIVATE KEY"),
        "key material in Debug output"
    );
    for (_, files) in render_cluster(&c, &first).unwrap() {
        for f in files {
            assert_eq!(
                f.contents.is_secret(),
                f.path.extension().unwrap_or_default() == "key"
            );
            assert_eq!(f.mode, if f.contents.is_secret() { 0o600 } else { 0o644 });
        }
    }
}

#[test]
fn etcd_unit_passes_systemd_analyze_verify() {
    assert!(
        Path::new("/usr/bin/etcd").is_file(),
        "`/usr/bin/etcd` is missing (the unit's ExecStart): install the Debian package `etcd-server`"
    );
    let tmp = tempfile::tempdir().unwrap();
    let c = cluster();
    let pki =
        ensure_etcd_pki(&SecretStore::open(tmp.path().join("s")).unwrap(), &c, now()).unwrap();
    for (host, files) in render_cluster(&c, &pki).unwrap() {
        let unit = files
            .iter()
            .find(|f| f.path.ends_with("etcd.service"))
            .unwrap();
        let dir = tmp.path().join(&host);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("etcd.service");
        std::fs::write(&path, unit.contents.as_bytes()).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run `systemd-analyze` ({e}); install the Debian package `systemd`")
            });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains(&path.display().to_string()),
            "systemd-analyze verify {host}: {stderr}"
        );
    }
}
