//! Running a short command with a hard time limit and captured output.
//!
//! Setup commands (`ip`) and probes (`etcdctl`) must never hang a test: the child is killed
//! when its deadline passes, and a timeout is reported as data (an indeterminate probe), not
//! as an error, so callers decide what it means.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::NetnsError;

/// How often a running child is polled for exit.
const POLL: Duration = Duration::from_millis(5);
/// How long output readers get after the child is gone.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The result of a bounded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when killed by a signal or timed out.
    pub code: Option<i32>,
    /// Whether the deadline passed and the command was killed.
    pub timed_out: bool,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// Wall time from spawn to exit (or kill).
    pub elapsed: Duration,
}

impl CommandOutput {
    /// Exited with status 0 before the deadline.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

fn reader(mut source: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = source.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Runs `command` (stdin closed, output captured) and kills it after `timeout`.
pub fn run_bounded(mut command: Command, timeout: Duration) -> Result<CommandOutput, NetnsError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                NetnsError::ToolMissing {
                    package: package_for(&program).to_owned(),
                    tool: program.clone(),
                }
            } else {
                NetnsError::Io {
                    what: format!("spawning {program}"),
                    source,
                }
            }
        })?;
    let out_rx = child.stdout.take().map(reader);
    let err_rx = child.stderr.take().map(reader);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(source) => {
                return Err(NetnsError::Io {
                    what: format!("waiting for {program}"),
                    source,
                });
            }
        }
    };
    let elapsed = start.elapsed();
    let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| {
        rx.and_then(|rx| rx.recv_timeout(DRAIN_GRACE).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    Ok(CommandOutput {
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        timed_out,
        stdout: collect(out_rx),
        stderr: collect(err_rx),
        elapsed,
    })
}

/// The Debian package providing a tool the harness or its tests run.
pub(crate) fn package_for(tool: &str) -> &'static str {
    match tool.rsplit('/').next().unwrap_or(tool) {
        "ip" | "bridge" | "tc" => "iproute2",
        "etcd" => "etcd-server",
        "etcdctl" => "etcd-client",
        "openssl" => "openssl",
        _ => "the package providing it",
    }
}
