//! What every command's tests share: running the built binary and scratch space.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the built `spofless` with `args` (colour off) and returns what it did.
pub fn spofless(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spofless"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run spofless")
}

/// (stdout, stderr) as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `spofless` with `args`, asserts it exited 0 (showing both streams if not), and
/// returns its stdout.
pub fn succeed(args: &[&str]) -> String {
    let o = spofless(args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{args:?}\n{out}\n{err}");
    out
}

/// A fresh, empty directory `group/name` under cargo's per-target scratch space for
/// integration tests (never the source tree); emptied again when a later run reuses it.
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
