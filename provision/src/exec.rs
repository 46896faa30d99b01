//! A command as a value, its output, and the one bounded runner for local processes.
//!
//! As in colmena, a [`Command`] is data (program, arguments, stdin, environment and a time
//! bound) that any [`Host`](crate::host::Host) can run: locally through [`run`], inside a
//! network namespace, or over SSH as one POSIX-shell-quoted line (so arguments never undergo
//! word splitting on the remote side). Plans can print exactly what would run.
//!
//! [`run`] never lets a child outlive its bound: the child gets its own process group, and when
//! the deadline passes the whole group is SIGKILLed and reaped, so a shell and whatever it
//! started die together. Every error is an [`ExecError`] that names the command; a missing
//! program names the Debian package that provides it.

use std::borrow::Cow;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

/// Default bound on one command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// PATH given to commands that run with a cleared environment (see [`Command::clear_env`]), so
/// stray variables of the calling process (e.g. `ETCD_*`) never leak into them.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How often a running child is polled for exit.
const POLL: Duration = Duration::from_millis(5);
/// How long output readers get after the child is gone (a daemon it forked may hold the pipe).
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// Lines of stderr kept in a [`ExecError::Failed`].
const STDERR_TAIL_LINES: usize = 8;

/// A command to run on a host.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    program: String,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    env: Vec<(String, String)>,
    clear_env: bool,
    timeout: Duration,
}

impl Command {
    /// `program` with no arguments, the caller's environment and [`DEFAULT_TIMEOUT`].
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            stdin: None,
            env: Vec::new(),
            clear_env: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `sh -c script`: for pipelines and redirections the caller writes as shell.
    pub fn shell(script: impl Into<String>) -> Self {
        Command::new("sh").arg("-c").arg(script)
    }

    /// Appends one argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Bytes written to the command's standard input (then closed). Without it stdin is empty.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Sets one environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts from an empty environment (plus `PATH=`[`SAFE_PATH`]) instead of the caller's.
    pub fn clear_env(mut self) -> Self {
        self.clear_env = true;
        self
    }

    /// Bound on the whole command.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The same command run by `wrapper` (e.g. `ip netns exec NS`): the wrapper's words come
    /// first, then this command's program and arguments; stdin, environment and bound stay.
    pub fn wrapped<I, S>(&self, wrapper: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut words: Vec<String> = wrapper.into_iter().map(Into::into).collect();
        if words.is_empty() {
            return self.clone();
        }
        let program = words.remove(0);
        words.push(self.program.clone());
        words.extend(self.args.iter().cloned());
        Command {
            program,
            args: words,
            ..self.clone()
        }
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The arguments.
    pub fn arguments(&self) -> &[String] {
        &self.args
    }

    /// The stdin bytes, if any.
    pub fn stdin_data(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// The environment variables set on top of the base environment.
    pub fn env_vars(&self) -> &[(String, String)] {
        &self.env
    }

    /// Whether the base environment is empty (plus `PATH`).
    pub fn env_cleared(&self) -> bool {
        self.clear_env
    }

    /// The time bound.
    pub fn time_limit(&self) -> Duration {
        self.timeout
    }

    /// The program and arguments as one POSIX shell line, each word single-quoted unless
    /// plainly safe. The environment is not included (see [`Command::remote_line`]).
    pub fn shell_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The line a remote shell runs: [`Command::shell_line`], prefixed with `env [-i
    /// PATH=...] K=V ...` when the command sets or clears its environment.
    pub fn remote_line(&self) -> String {
        if self.env.is_empty() && !self.clear_env {
            return self.shell_line();
        }
        let mut words = vec!["env".to_owned()];
        if self.clear_env {
            words.push("-i".to_owned());
            words.push(quote(&format!("PATH={SAFE_PATH}")));
        }
        words.extend(self.env.iter().map(|(k, v)| quote(&format!("{k}={v}"))));
        words.push(self.shell_line());
        words.join(" ")
    }
}

/// Shows the command line only: stdin and environment values may hold secrets.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shell_line())
    }
}

/// Like [`Display`](fmt::Display), plus environment names and stdin length, never values.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("line", &self.shell_line())
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("clear_env", &self.clear_env)
            .field("stdin_bytes", &self.stdin.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status; `None` if the command ended without one (killed by a signal).
    pub status: Option<i32>,
    /// Captured standard output.
    pub stdout: Vec<u8>,
    /// Captured standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Standard output as (lossy) UTF-8.
    pub fn stdout_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// Standard error as (lossy) UTF-8.
    pub fn stderr_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// Standard output as (lossy) UTF-8, trimmed.
    pub fn stdout_text(&self) -> String {
        self.stdout_str().trim().to_owned()
    }

    /// `self` if the command exited 0, else [`ExecError::Failed`] naming `cmd`.
    pub fn checked(self, cmd: &Command) -> Result<Self, ExecError> {
        if self.success() {
            Ok(self)
        } else {
            Err(ExecError::Failed {
                command: cmd.to_string(),
                status: match self.status {
                    Some(c) => format!("exit status {c}"),
                    None => "no exit status (killed by a signal)".to_owned(),
                },
                stderr: tail(&self.stderr),
            })
        }
    }
}

/// The last few lines of a command's output, trimmed.
pub fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    lines[start..].join("\n").trim().to_owned()
}

/// Why a command did not run to a successful end.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program is not installed.
    #[error("`{command}`: `{program}` not found; install the Debian package `{package}`")]
    NotFound {
        /// The command line.
        command: String,
        /// The missing program.
        program: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// Starting, feeding or waiting for the process failed.
    #[error("`{command}`: {what}")]
    Io {
        /// The command line.
        command: String,
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The bound passed; the command (and its process group) was killed.
    #[error("`{command}` timed out after {after:?} and was killed")]
    Timeout {
        /// The command line.
        command: String,
        /// The bound.
        after: Duration,
    },
    /// The command ran and did not exit 0 (only from [`Output::checked`] or [`run_checked`]).
    #[error("`{command}` failed with {status}: {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// The exit status, in words.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },
}

impl ExecError {
    /// Whether the command ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ExecError::Timeout { .. })
    }
}

/// The Debian package providing a program the provisioner or its tests run.
pub fn package_for(program: &str) -> &'static str {
    match program.rsplit('/').next().unwrap_or(program) {
        "ip" | "bridge" | "tc" => "iproute2",
        "etcd" => "etcd-server",
        "etcdctl" => "etcd-client",
        "openssl" => "openssl",
        "qemu-img" => "qemu-utils",
        "qemu-system-x86_64" => "qemu-system-x86",
        "genisoimage" => "genisoimage",
        "libvirtd" | "virtlogd" => "libvirt-daemon-system",
        "unshare" | "nsenter" => "util-linux",
        "ssh" => "openssh-client",
        "sshd" => "openssh-server",
        "debootstrap" => "debootstrap",
        "ping" => "iputils-ping",
        "pkill" | "pgrep" => "procps",
        _ => "the package providing it",
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

/// Runs `cmd` on this machine, capturing its output, and kills its process group if it outlives
/// its bound. A non-zero exit is returned as data (see [`Output::checked`]).
pub fn run(cmd: &Command) -> Result<Output, ExecError> {
    let line = cmd.to_string();
    tracing::debug!(command = %line, timeout = ?cmd.timeout, "running");
    let mut proc = std::process::Command::new(&cmd.program);
    proc.args(&cmd.args);
    if cmd.clear_env {
        proc.env_clear().env("PATH", SAFE_PATH);
    }
    proc.envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: on expiry the group is killed, children included.
        .process_group(0);
    let start = Instant::now();
    let mut child = proc.spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ExecError::NotFound {
                command: line.clone(),
                program: cmd.program.clone(),
                package: package_for(&cmd.program),
            }
        } else {
            ExecError::Io {
                command: line.clone(),
                what: "spawning",
                source,
            }
        }
    })?;
    let out_rx = child.stdout.take().map(reader);
    let err_rx = child.stderr.take().map(reader);
    if let (Some(mut stdin), Some(data)) = (child.stdin.take(), cmd.stdin.clone()) {
        // A writer thread: a child that never reads must not block us past the deadline.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let pgid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= cmd.timeout => {
                if let Some(pgid) = pgid {
                    let _ = kill_process_group(pgid, Signal::KILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecError::Timeout {
                    command: line,
                    after: cmd.timeout,
                });
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(source) => {
                if let Some(pgid) = pgid {
                    let _ = kill_process_group(pgid, Signal::KILL);
                }
                let _ = child.wait();
                return Err(ExecError::Io {
                    command: line,
                    what: "waiting",
                    source,
                });
            }
        }
    };
    let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| {
        rx.and_then(|rx| rx.recv_timeout(DRAIN_GRACE).ok())
            .unwrap_or_default()
    };
    Ok(Output {
        status: status.code(),
        stdout: collect(out_rx),
        stderr: collect(err_rx),
    })
}

/// [`run`], then [`Output::checked`]: a non-zero exit is an [`ExecError::Failed`].
pub fn run_checked(cmd: &Command) -> Result<Output, ExecError> {
    run(cmd)?.checked(cmd)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn quotes_each_word_and_prefixes_env_remotely() {
        let c = Command::new("echo").arg("a b").arg("it's").arg("plain-1.2");
        assert_eq!(c.shell_line(), "echo 'a b' 'it'\\''s' plain-1.2");
        assert_eq!(Command::shell("x; y").shell_line(), "sh -c 'x; y'");
        assert_eq!(Command::new("e").arg("").shell_line(), "e ''");
        let e = Command::new("printenv").env("A", "x y").clear_env();
        assert_eq!(
            e.remote_line(),
            format!("env -i PATH={SAFE_PATH} 'A=x y' printenv")
        );
        assert_eq!(e.to_string(), "printenv", "Display never shows env values");
    }

    #[test]
    fn wrapped_puts_the_wrapper_first() {
        let c = Command::new("ping")
            .arg("-c1")
            .stdin("x")
            .timeout(Duration::from_secs(3));
        let w = c.wrapped(["ip", "netns", "exec", "ns1"]);
        assert_eq!(w.shell_line(), "ip netns exec ns1 ping -c1");
        assert_eq!(w.stdin_data(), Some(&b"x"[..]));
        assert_eq!(w.time_limit(), Duration::from_secs(3));
    }

    #[test]
    fn runs_with_stdin_env_and_status() {
        let out = run(&Command::shell("cat; printf \"$A\" >&2; exit 3")
            .stdin("in")
            .env("A", "env-value")
            .clear_env())
        .unwrap();
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.stderr, b"env-value");
        let err = out.clone().checked(&Command::new("x")).unwrap_err();
        assert!(
            matches!(&err, ExecError::Failed { command, stderr, .. } if command == "x" && stderr == "env-value"),
            "{err}"
        );
        let out = run(&Command::shell("printf \"${HOME:-unset}\"").clear_env()).unwrap();
        assert_eq!(out.stdout, b"unset", "cleared environment");
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild");
        // The shell starts a grandchild and waits; both must die at the deadline.
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let started = Instant::now();
        let err = run(&Command::shell(script).timeout(Duration::from_millis(300))).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(
            err.to_string().contains("sleep 30"),
            "names the command: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = (0..200).any(|_| {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
            if alive {
                std::thread::sleep(Duration::from_millis(10));
            }
            !alive
        });
        assert!(gone, "grandchild {pid} survived the timeout");
    }

    #[test]
    fn missing_program_names_its_package() {
        let err = run(&Command::new("/nonexistent/etcdctl")).unwrap_err();
        assert!(
            matches!(
                err,
                ExecError::NotFound {
                    package: "etcd-client",
                    ..
                }
            ),
            "{err}"
        );
    }
}
