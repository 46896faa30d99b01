//! `spofless render` as a user runs it: two runs from one state directory write identical
//! trees, `--explain` lists every knob with its upstream default, no private key reaches the
//! terminal, and the generated secrets are 0600 in a 0700 state directory.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{scratch, spofless};

/// Every file under `root`: relative path -> (mode, bytes).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o7777;
                let bytes = std::fs::read(&path).expect("read");
                out.insert(
                    path.strip_prefix(root).expect("under root").to_path_buf(),
                    (mode, bytes),
                );
            }
        }
    }
    out
}

fn render(out: &Path, state: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "render",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--state-dir",
        state.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let o = spofless(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    for stream in [&stdout, &stderr] {
        assert!(
            !stream.contains("PRIVATE KEY"),
            "key material on the terminal:\n{stream}"
        );
    }
    (stdout, stderr)
}

#[test]
fn rendering_twice_writes_identical_trees_and_keeps_secrets_private() {
    let dir = scratch("render", "twice");
    let (out, state) = (dir.join("out"), dir.join("state"));
    let (_, first_err) = render(&out, &state, &[]);
    let first = snapshot(&out);
    assert!(first.len() > 50, "only {} files rendered", first.len());
    assert!(first_err.contains(" written, 0 unchanged"), "{first_err}");

    let (_, second_err) = render(&out, &state, &[]);
    assert_eq!(first, snapshot(&out), "the second render changed the tree");
    assert!(second_err.contains(" (0 written, "), "{second_err}");

    // The same state rendered into a fresh directory gives the same bytes again.
    let other = dir.join("out2");
    render(&other, &state, &[]);
    assert_eq!(first, snapshot(&other));

    // Secrets (keys, the bootstrap token, the certificate key) are 0600 in a 0700 directory;
    // only certificates and their issuing descriptors are public, and those hold no key.
    let state_mode = std::fs::metadata(&state)
        .expect("state dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(state_mode, 0o700);
    let secrets = snapshot(&state);
    assert!(!secrets.is_empty());
    let mut private = 0;
    for (name, (mode, bytes)) in &secrets {
        let public = name
            .extension()
            .is_some_and(|e| e == "crt" || e == "descriptor");
        if public {
            assert!(
                !String::from_utf8_lossy(bytes).contains("PRIVATE KEY"),
                "{} is public and holds a key",
                name.display()
            );
        } else {
            assert_eq!(*mode, 0o600, "secret {} has mode {mode:o}", name.display());
            private += 1;
        }
    }
    assert!(
        secrets
            .keys()
            .any(|n| n.to_string_lossy().contains("bootstrap-token")),
        "{:?}",
        secrets.keys()
    );
    assert!(private >= 10, "expected keys and tokens, found {private}");
    assert!(
        secrets
            .values()
            .any(|(_, b)| String::from_utf8_lossy(b).contains("PRIVATE KEY")),
        "the state directory holds the keys"
    );
    // Rendered private keys (each etcd member's server and peer keys, the apiserver's etcd
    // client key) are 0600 too; counted, so the check cannot pass by finding none.
    let mut rendered_keys = 0;
    for (name, (mode, bytes)) in &first {
        if String::from_utf8_lossy(bytes).contains("PRIVATE KEY") {
            assert_eq!(*mode, 0o600, "{} has mode {mode:o}", name.display());
            rendered_keys += 1;
        }
    }
    assert!(
        rendered_keys >= 6,
        "expected the etcd members' server and peer keys among the rendered files, found {rendered_keys}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explain_lists_knobs_with_their_upstream_defaults() {
    let dir = scratch("render", "explain");
    let (stdout, _) = render(&dir.join("out"), &dir.join("state"), &["--explain"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() > 40, "{stdout}");
    for line in &lines {
        assert!(
            line.contains(" = ") && line.contains(" (upstream default "),
            "not a knob line: {line:?}"
        );
    }
    for prefix in [
        "spec.etcd.heartbeatIntervalMs = 100 (upstream default 100,",
        "spec.etcd.electionTimeoutMs = 1000 (upstream default 1000,",
        "spec.etcd.preVote = true (upstream default false,",
        "spec.etcd.snapshotCount = 100000 (upstream default 100000,",
        "spec.controlPlane.nodeLifecycle.nodeMonitorGracePeriodSeconds = 50 (upstream default 50,",
        "spec.hosts[roles contains ceph-mon] (count) = 3 (upstream default 3,",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(prefix)),
            "missing {prefix:?} in\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
