//! The test bed: hosts in network namespaces on a bridge, started and torn down by tests, on
//! which real daemons (etcd, and later haproxy, keepalived, Ceph) run and faults are injected.
//!
//! A [`Testbed`] creates a bridge in a namespace of its own and one namespace per host, joined by
//! veth pairs and addressed from a 10.254.x.0/24 subnet that exists only inside those
//! namespaces, so nothing on the machine's own network is touched and labs of parallel tests
//! never see each other. Daemons are started with `ip netns exec`; faults are SIGKILL,
//! SIGSTOP/SIGCONT, a link taken down, and per-direction packet blocks. Every wait is bounded,
//! and dropping the `Testbed` kills its processes and deletes its namespaces (and with them every
//! link), also when a test panics. Where `ip netns add` is not permitted, [`Testbed::new`] returns
//! [`NetnsError::NotPermitted`], which tests turn into a loud skip.

mod bed;
mod daemon;

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use bed::{Impairment, Testbed};
pub use daemon::{DaemonId, DaemonSpec, DaemonState};

/// Errors from the test bed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// This machine does not let us create network namespaces (not root, no CAP_SYS_ADMIN, or
    /// a container without the right privileges).
    #[error("network namespaces are not available here: {detail}")]
    NotPermitted {
        /// What `ip netns add` said.
        detail: String,
    },
    /// A required program is not installed.
    #[error("`{tool}` not found; install the Debian package `{package}`")]
    ToolMissing {
        /// The program.
        tool: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// A setup command or probe failed, ran out of time or is missing.
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    /// A fault the test bed cannot apply as asked.
    #[error("{what}: {reason}")]
    Unsupported {
        /// What was asked.
        what: String,
        /// Why not.
        reason: String,
    },
    /// A bounded wait ran out.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// An I/O failure (spawning, log files, signals).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A host name the lab does not have.
    #[error("no host named {name:?} in this lab")]
    UnknownHost {
        /// The name.
        name: String,
    },
    /// A host name unusable in namespace names.
    #[error("host name {name:?} must be 1-32 chars of a-z, 0-9 and '-'")]
    BadHostName {
        /// The name.
        name: String,
    },
    /// More hosts than one /24 can address.
    #[error("a lab holds at most {max} hosts, {requested} requested")]
    TooManyHosts {
        /// Requested.
        requested: usize,
        /// Maximum.
        max: usize,
    },
    /// A daemon id from another lab.
    #[error("unknown daemon id {0}")]
    UnknownDaemon(usize),
    /// An operation that needs a live daemon on one that has exited.
    #[error("daemon {log} is not running")]
    NotRunning {
        /// The daemon's log file.
        log: PathBuf,
    },
}

/// Polls `probe` every `poll` until it returns `Some`, for at most `timeout`.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T, NetnsError> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(NetnsError::Timeout {
                what: what.to_owned(),
                after: start.elapsed(),
            });
        }
        std::thread::sleep(poll.min(timeout.saturating_sub(start.elapsed())));
    }
}
