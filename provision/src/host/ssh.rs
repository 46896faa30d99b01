//! [`Host`] over SSH: the russh transport with the host key pinned.
//!
//! Commands are sent as one quoted shell line ([`Command::remote_line`]). Files are streamed
//! through the command's stdin into a 0600 temporary file beside the target, chowned, chmoded
//! and renamed into place, so the contents never appear on a command line or in a log, and a
//! reader never sees half a file. The private key stays inside the transport, which never
//! formats it.

use std::path::Path;
use std::sync::Arc;

use russh::keys::PrivateKey;

use super::{Host, HostError, HostFuture, Owner, path_text};
use crate::exec::{Command, ExecError, Output};
use crate::transport::{SshTarget, SshTransport, TransportError};

/// Writes stdin to `$1` as `$2` (owner) with `$3` (octal mode), atomically, only when all `$4`
/// bytes arrived: a client killed mid-write closes stdin early and `cat` exits 0, so the size
/// is what keeps a truncated file from being renamed into place.
const PUT_SCRIPT: &str = "set -e; umask 077; t=$(mktemp \"$1.spofless.XXXXXX\"); \
    trap 'rm -f \"$t\"' EXIT; cat > \"$t\"; \
    [ \"$(wc -c < \"$t\")\" -eq \"$4\" ] || { echo \"short write: $1\" >&2; exit 1; }; \
    chown \"$2\" \"$t\"; chmod \"$3\" \"$t\"; mv -f \"$t\" \"$1\"; trap - EXIT";

/// One authenticated SSH connection, used as a [`Host`].
#[derive(Debug)]
pub struct SshHost {
    transport: SshTransport,
}

impl SshHost {
    /// Connects to `target` (whose host key must match its pin) and logs in with `identity`.
    pub async fn connect(target: SshTarget, identity: Arc<PrivateKey>) -> Result<Self, HostError> {
        let host = target.host.clone();
        SshTransport::connect(target, identity)
            .await
            .map(|transport| SshHost { transport })
            .map_err(|source| HostError::Transport { host, source })
    }

    /// Wraps an already connected transport.
    pub fn from_transport(transport: SshTransport) -> Self {
        SshHost { transport }
    }

    /// Closes the connection politely.
    pub async fn close(self) -> Result<(), HostError> {
        let host = self.transport.target().host.clone();
        self.transport
            .close()
            .await
            .map_err(|source| HostError::Transport { host, source })
    }

    async fn run_checked(&self, cmd: &Command) -> Result<Output, HostError> {
        let out = self.run_cmd(cmd).await?;
        out.checked(cmd).map_err(|source| HostError::Exec {
            host: self.name().to_owned(),
            source,
        })
    }

    async fn run_cmd(&self, cmd: &Command) -> Result<Output, HostError> {
        let host = self.name().to_owned();
        match self.transport.run(cmd).await {
            Ok(out) => Ok(out),
            // One timeout kind for every host: the command's own.
            Err(TransportError::Timeout { .. }) => Err(HostError::Exec {
                host,
                source: ExecError::Timeout {
                    command: cmd.to_string(),
                    after: cmd.time_limit(),
                },
            }),
            Err(source) => Err(HostError::Transport { host, source }),
        }
    }
}

impl Host for SshHost {
    fn name(&self) -> &str {
        &self.transport.target().host
    }

    fn run<'a>(&'a self, cmd: &'a Command) -> HostFuture<'a, Output> {
        Box::pin(self.run_cmd(cmd))
    }

    fn put_file<'a>(
        &'a self,
        path: &'a Path,
        contents: &'a [u8],
        mode: u32,
        owner: &'a Owner,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let p = path_text(self.name(), path)?;
            let cmd = Command::new("sh")
                .args(["-c", PUT_SCRIPT, "sh", p])
                .arg(owner.spec())
                .arg(format!("{mode:o}"))
                .arg(contents.len().to_string())
                .stdin(contents.to_vec());
            self.run_checked(&cmd).await.map(|_| ())
        })
    }

    fn read_file<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let p = path_text(self.name(), path)?;
            let cmd = Command::new("cat").args(["--", p]);
            self.run_checked(&cmd).await.map(|o| o.stdout)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The put script as the remote shell runs it, here with the local `sh`: `declared`
    /// bytes announced, `sent` bytes on stdin.
    fn put(dir: &Path, declared: usize, sent: &[u8]) -> Output {
        let target = dir.join("f");
        let owner = Owner::root();
        let cmd = Command::new("sh")
            .args(["-c", PUT_SCRIPT, "sh"])
            .arg(target.display().to_string())
            .arg(owner.spec())
            .arg("640")
            .arg(declared.to_string())
            .stdin(sent.to_vec());
        crate::exec::run(&cmd).expect("sh runs")
    }

    #[test]
    fn a_short_write_is_refused_and_leaves_nothing_behind() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED: chown to root needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = put(dir.path(), 10, b"12345");
        assert!(!out.success());
        assert!(
            out.stderr_str().contains("short write"),
            "{}",
            out.stderr_str()
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");

        let out = put(dir.path(), 5, b"12345");
        assert!(out.success(), "{}", out.stderr_str());
        let f = dir.path().join("f");
        assert_eq!(std::fs::read(&f).unwrap(), b"12345");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
