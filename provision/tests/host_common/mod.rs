//! What every `Host` must do, checked the same way for each implementation: commands as values
//! (argv quoting, stdin, environment, exit status, stderr, the time bound) and files put with a
//! mode and owner, atomically, then read back.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use provision::exec::Command;
use provision::host::{Host, Owner};

/// The user and group running the test (the owner files are put with).
pub fn me() -> Owner {
    let id = |flag: &str| {
        let out = std::process::Command::new("id")
            .arg(flag)
            .output()
            .unwrap_or_else(|e| panic!("id: {e}"));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    Owner::new(id("-un"), id("-gn"))
}

/// Runs the conformance checks against `host`, putting files into `dir` (which the host sees
/// at the same path).
pub async fn conforms(host: &dyn Host, dir: &Path) {
    let out = host
        .run(&Command::new("printf").arg("%s|").arg("a b").arg("it's"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout_text(), "a b|it's|");
    let out = host
        .run(&Command::new("cat").stdin(b"from stdin".to_vec()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout_text(), "from stdin");
    let out = host
        .run(&Command::shell("printf '%s' \"$SPOFLESS_T\"").env("SPOFLESS_T", "x y"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout_text(), "x y");
    let out = host
        .run(&Command::shell("echo oops >&2; exit 3"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status, Some(3));
    assert_eq!(out.stderr_str().trim(), "oops");

    let started = Instant::now();
    let slow = host
        .run(
            &Command::new("sleep")
                .arg("10")
                .timeout(Duration::from_millis(500)),
        )
        .await;
    match slow {
        Err(e) => {
            assert!(e.is_timeout(), "{e}");
            assert!(e.to_string().contains("sleep 10"), "names the command: {e}");
            assert!(e.to_string().contains(host.name()), "names the host: {e}");
        }
        Ok(o) => panic!("sleep outlived its bound: {o:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    let owner = me();
    let secret = dir.join("secret.key");
    host.put_file(&secret, b"first", 0o600, &owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    host.put_file(&secret, b"s3cret\n", 0o600, &owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let meta = std::fs::metadata(&secret).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), rustix::process::getuid().as_raw());
    assert_eq!(std::fs::read(&secret).unwrap_or_default(), b"s3cret\n");
    let public = dir.join("public.conf");
    host.put_file(&public, b"a = 1\n", 0o644, &owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let meta = std::fs::metadata(&public).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
    assert_eq!(
        host.read_file(&secret)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        b"s3cret\n"
    );
    // No temporary file left beside the targets.
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["public.conf", "secret.key"]);

    let missing = host.read_file(&dir.join("absent")).await;
    assert!(missing.is_err(), "reading a missing file succeeded");
    let relative = host
        .put_file(Path::new("relative"), b"x", 0o644, &owner)
        .await;
    assert!(relative.is_err(), "a relative path was accepted");
}
