//! A long-running process inside a lab host's namespace, and the signals the drills send it.
//!
//! `ip netns exec NS PROGRAM` enters the namespace and then `exec`s PROGRAM, so the child we
//! spawn *is* the daemon: its pid is the one to SIGSTOP, SIGCONT or SIGKILL, and reaping it
//! tells us when it is gone.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process, kill_process_group};

use super::{NetnsError, wait_until};
use crate::exec::SAFE_PATH;

/// How long a SIGKILLed process gets to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run: program, arguments and the complete environment (besides `PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSpec {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment (the rest is cleared).
    pub env: Vec<(String, String)>,
}

/// A daemon's handle in its lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DaemonId(pub(crate) usize);

/// Where a daemon is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonState {
    /// Running.
    Running,
    /// Stopped by SIGSTOP.
    Paused,
    /// Exited (exit code, `None` if killed by a signal).
    Exited(Option<i32>),
}

#[derive(Debug)]
pub(crate) struct Daemon {
    pub(crate) host: usize,
    pub(crate) spec: DaemonSpec,
    pub(crate) log: PathBuf,
    child: Option<Child>,
    paused: bool,
    last_exit: Option<Option<i32>>,
}

impl Daemon {
    pub(crate) fn start(
        host: usize,
        namespace: &str,
        spec: DaemonSpec,
        log: PathBuf,
    ) -> Result<Self, NetnsError> {
        let mut d = Self {
            host,
            spec,
            log,
            child: None,
            paused: false,
            last_exit: None,
        };
        d.spawn(namespace)?;
        Ok(d)
    }

    pub(crate) fn spawn(&mut self, namespace: &str) -> Result<(), NetnsError> {
        let io = |what: &str, log: &Path| {
            let what = format!("{what} {}", log.display());
            move |source| NetnsError::Io { what, source }
        };
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io("opening log", &self.log))?;
        let err = out.try_clone().map_err(io("cloning log", &self.log))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", namespace])
            .arg(&self.spec.program)
            .args(&self.spec.args)
            .env_clear()
            .env("PATH", SAFE_PATH)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Own process group: a terminal's ^C reaches the test, whose Drop cleans up.
            .process_group(0);
        let child = cmd.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                NetnsError::ToolMissing {
                    tool: "ip".into(),
                    package: "iproute2".into(),
                }
            } else {
                NetnsError::Io {
                    what: format!("spawning {}", self.spec.program.display()),
                    source,
                }
            }
        })?;
        tracing::debug!(pid = child.id(), program = %self.spec.program.display(), namespace, "started daemon");
        self.child = Some(child);
        self.paused = false;
        self.last_exit = None;
        Ok(())
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub(crate) fn state(&mut self) -> DaemonState {
        if let Some(child) = &mut self.child
            && let Ok(Some(status)) = child.try_wait()
        {
            self.last_exit = Some(status.code());
            self.child = None;
            self.paused = false;
        }
        match (&self.child, self.paused) {
            (Some(_), true) => DaemonState::Paused,
            (Some(_), false) => DaemonState::Running,
            (None, _) => DaemonState::Exited(self.last_exit.flatten()),
        }
    }

    pub(crate) fn signal(&mut self, signal: Signal) -> Result<(), NetnsError> {
        if self.state() != DaemonState::Running && self.state() != DaemonState::Paused {
            return Err(NetnsError::NotRunning {
                log: self.log.clone(),
            });
        }
        let raw = self.pid().and_then(|p| i32::try_from(p).ok());
        let pid = raw
            .and_then(Pid::from_raw)
            .ok_or_else(|| NetnsError::NotRunning {
                log: self.log.clone(),
            })?;
        kill_process(pid, signal).map_err(|e| NetnsError::Io {
            what: format!("sending {signal:?} to pid {}", pid.as_raw_nonzero()),
            source: e.into(),
        })?;
        if signal == Signal::STOP {
            self.paused = true;
        } else if signal == Signal::CONT {
            self.paused = false;
        }
        Ok(())
    }

    /// SIGTERM then SIGCONT (so a paused daemon handles it, as `systemctl stop` does), then
    /// waits for the exit up to `grace`, and SIGKILLs a daemon still running after that.
    pub(crate) fn terminate(&mut self, grace: Duration) -> Result<(), NetnsError> {
        if matches!(self.state(), DaemonState::Exited(_)) {
            return Ok(());
        }
        self.signal(Signal::TERM)?;
        self.signal(Signal::CONT)?;
        let Some(child) = &mut self.child else {
            return Ok(());
        };
        let exited = wait_until(
            "a SIGTERMed daemon to exit",
            grace,
            Duration::from_millis(5),
            || child.try_wait().ok().flatten(),
        );
        match exited {
            Ok(status) => {
                self.last_exit = Some(status.code());
                self.child = None;
                self.paused = false;
                Ok(())
            }
            Err(_) => self.kill(),
        }
    }

    /// SIGKILL to the daemon's whole process group (it leads its own, see `spawn`), as
    /// systemd kills every process of a unit, and reap, bounded: a daemon that forks workers
    /// (keepalived's VRRP child) loses them too, and none gets to run a shutdown path. A
    /// daemon that already exited is left as it is.
    pub(crate) fn kill(&mut self) -> Result<(), NetnsError> {
        let Some(child) = &mut self.child else {
            return Ok(());
        };
        if let Some(group) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
            let _ = kill_process_group(group, Signal::KILL);
        }
        let _ = child.kill();
        let status = wait_until(
            "a SIGKILLed daemon to exit",
            REAP_TIMEOUT,
            Duration::from_millis(2),
            || child.try_wait().ok().flatten(),
        )?;
        self.last_exit = Some(status.code());
        self.child = None;
        self.paused = false;
        Ok(())
    }
}
