//! One interface to a machine the provisioner acts on, whatever reaches it.
//!
//! A [`Host`] runs a [`Command`] value under its time bound, puts a file with a mode and an
//! owner, and reads a file back; it has a name for messages. Plans, apply steps and the fault
//! injector are written against `&dyn Host`, so the same code drives a real machine over SSH
//! ([`SshHost`], host key pinned, never trust on first use) and a host in a network namespace of
//! the test bed ([`NetnsHost`]). The methods return boxed futures so the trait stays object safe
//! and steps can run on many hosts at once; [`block_on`] serves synchronous callers.

mod netns;
mod ssh;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

pub use netns::NetnsHost;
pub use ssh::SshHost;

use crate::exec::{Command, ExecError, Output};
use crate::transport::TransportError;

/// The future a [`Host`] method returns.
pub type HostFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HostError>> + Send + 'a>>;

/// Who owns a file put on a host (names, resolved on the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// User name.
    pub user: String,
    /// Group name.
    pub group: String,
}

impl Owner {
    /// `root:root`.
    pub fn root() -> Self {
        Owner::new("root", "root")
    }

    /// `user:group`.
    pub fn new(user: impl Into<String>, group: impl Into<String>) -> Self {
        Owner {
            user: user.into(),
            group: group.into(),
        }
    }

    /// `user:group`, as `chown` takes it.
    pub fn spec(&self) -> String {
        format!("{}:{}", self.user, self.group)
    }
}

/// A machine commands run on and files are put on.
pub trait Host: Send + Sync {
    /// The host's name, for messages (the topology host name).
    fn name(&self) -> &str;

    /// Runs `cmd` to completion or its bound; a non-zero exit is data in the [`Output`].
    fn run<'a>(&'a self, cmd: &'a Command) -> HostFuture<'a, Output>;

    /// Writes `contents` to `path` (parents must exist), owned by `owner` with `mode`. The
    /// file is written beside `path` with mode 0600 first and renamed into place, so readers
    /// never see a partial file and secrets are never readable by others, even briefly.
    fn put_file<'a>(
        &'a self,
        path: &'a Path,
        contents: &'a [u8],
        mode: u32,
        owner: &'a Owner,
    ) -> HostFuture<'a, ()>;

    /// The contents of `path`.
    fn read_file<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Vec<u8>>;
}

/// Why a host could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Running the command failed or ran out of time.
    #[error("host {host}: {source}")]
    Exec {
        /// The host.
        host: String,
        /// What went wrong.
        #[source]
        source: ExecError,
    },
    /// The connection to the host failed (unknown or changed host key, refused login, ...).
    #[error("host {host}: {source}")]
    Transport {
        /// The host.
        host: String,
        /// What went wrong.
        #[source]
        source: TransportError,
    },
    /// A file could not be put or read.
    #[error("host {host}: {action} {path}: {source}")]
    File {
        /// The host.
        host: String,
        /// `writing`, `reading`, ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A path that cannot be passed to the host (not absolute, or not UTF-8).
    #[error("host {host}: unusable path {path}: {reason}")]
    BadPath {
        /// The host.
        host: String,
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
}

impl HostError {
    /// Whether the error is a command that ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, HostError::Exec { source, .. } if source.is_timeout())
    }
}

/// The path as UTF-8 text, absolute, for commands run on `host`.
pub(crate) fn path_text<'p>(host: &str, path: &'p Path) -> Result<&'p str, HostError> {
    let bad = |reason| HostError::BadPath {
        host: host.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let text = path.to_str().ok_or_else(|| bad("not UTF-8"))?;
    if !path.is_absolute() {
        return Err(bad("not absolute"));
    }
    Ok(text)
}

/// Runs `fut` to completion on a private single-threaded runtime, for synchronous callers
/// (tests, the fault injector). Must not be called from inside an async runtime.
pub fn block_on<T>(fut: impl Future<Output = T>) -> Result<T, std::io::Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(fut))
}
