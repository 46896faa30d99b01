//! Real tools the tests run: where they are, and running them so a failure names the command,
//! its status and its stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Directories searched for a tool, in order (Debian's, then a local install).
const TOOL_DIRS: [&str; 5] = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"];

/// The path of `program`, or a panic that names what provides it: `package` is written as the
/// reader should act on it, e.g. "the Debian package `ceph-base`" or "PyPI kubernetes-validate".
pub fn tool(program: &str, package: &str) -> PathBuf {
    find(program).unwrap_or_else(|| panic!("`{program}` not found: install {package}"))
}

fn find(program: &str) -> Option<PathBuf> {
    TOOL_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// Runs `cmd` and returns its output, panicking with the command, its status and stderr when it
/// cannot start or exits unsuccessfully.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// [`run_ok`], returning stdout as text.
pub fn stdout_ok(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run_ok(cmd).stdout).into_owned()
}

/// Stdout then stderr of `out`, as text (for a validator's report, which may use either).
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_tool_every_debian_has_and_names_the_package_of_a_missing_one() {
        assert!(tool("sh", "dash").is_file());
        let missing = std::panic::catch_unwind(|| tool("no-such-tool-spofless", "the moon"));
        let message = missing
            .err()
            .and_then(|p| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert_eq!(
            message,
            "`no-such-tool-spofless` not found: install the moon"
        );
    }

    #[test]
    fn a_failing_command_panics_with_its_stderr() {
        assert_eq!(
            stdout_ok(Command::new("sh").args(["-c", "echo hi"])),
            "hi\n"
        );
        let failed = std::panic::catch_unwind(|| {
            run_ok(Command::new("sh").args(["-c", "echo oops >&2; exit 3"]))
        });
        let message = failed
            .err()
            .and_then(|p| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(message.contains("oops"), "{message}");
    }
}
