//! Reaching the lab's guests: SSH targets with pinned keys, readiness waits, one-off commands.
//!
//! Each guest's target carries the host key the lab generated for it; the transport refuses any
//! other. Readiness means "answers SSH with the pinned key and runs a command", retried on
//! connection errors (the guest is still booting) but never on a key mismatch, which fails at
//! once. Every wait is bounded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::PrivateKey;

use super::LabError;
use super::keys;
use super::spec::LabSpec;
use crate::exec::{Command, Output};
use crate::host::SshHost;
use crate::transport::{KnownHosts, SshTarget, SshTransport, TransportError};

/// SSH port of the guests.
pub const SSH_PORT: u16 = 22;
/// The guests' login user (cloud-init installs the lab key for root).
pub const LOGIN_USER: &str = "root";
/// Pause between connection attempts while a guest boots.
pub const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// The lab's SSH directory under its state directory.
pub fn ssh_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("ssh")
}

/// The lab's client (login) key path.
pub fn client_key_path(state_dir: &Path) -> PathBuf {
    ssh_dir(state_dir).join("id_ed25519")
}

/// A guest's host key path.
pub fn host_key_path(state_dir: &Path, host: &str) -> PathBuf {
    ssh_dir(state_dir)
        .join("hosts")
        .join(format!("{host}_ed25519"))
}

/// The lab's `known_hosts` (one pinned key per guest address).
pub fn known_hosts_path(state_dir: &Path) -> PathBuf {
    ssh_dir(state_dir).join("known_hosts")
}

/// How to reach every guest.
#[derive(Debug, Clone)]
pub struct Guests {
    targets: Vec<SshTarget>,
    identity: Arc<PrivateKey>,
}

impl Guests {
    /// Builds targets from the lab's keys and `known_hosts`; `netns` is the isolated lab's
    /// namespace (`None` in workstation mode).
    pub fn load(spec: &LabSpec, state_dir: &Path, netns: Option<&str>) -> Result<Self, LabError> {
        let known = KnownHosts::load(&known_hosts_path(state_dir)).map_err(|source| {
            LabError::Transport {
                host: "lab".to_owned(),
                source,
            }
        })?;
        let identity = Arc::new(keys::load_or_create(
            &client_key_path(state_dir),
            "spofless-lab",
        )?);
        let mut targets = Vec::new();
        for vm in &spec.vms {
            let host_key = known
                .get(&vm.address.to_string())
                .map_err(|source| LabError::Transport {
                    host: vm.host.clone(),
                    source,
                })?
                .clone();
            targets.push(SshTarget {
                host: vm.host.clone(),
                addr: SocketAddr::new(vm.address.into(), SSH_PORT),
                user: LOGIN_USER.to_owned(),
                host_key,
                netns: netns.map(str::to_owned),
                connect_timeout: Duration::from_secs(15),
            });
        }
        Ok(Guests { targets, identity })
    }

    /// Host names, in topology order.
    pub fn hosts(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.host.clone()).collect()
    }

    /// The target of `host`.
    pub fn target(&self, host: &str) -> Result<&SshTarget, LabError> {
        self.targets
            .iter()
            .find(|t| t.host == host)
            .ok_or_else(|| LabError::UnknownHost(host.to_owned()))
    }

    /// Opens an authenticated, pinned SSH connection to `host`.
    pub async fn connect(&self, host: &str) -> Result<SshTransport, LabError> {
        let target = self.target(host)?.clone();
        SshTransport::connect(target, self.identity.clone())
            .await
            .map_err(|source| LabError::Transport {
                host: host.to_owned(),
                source,
            })
    }

    /// `host` as a [`crate::host::Host`]: an authenticated, pinned SSH connection.
    pub async fn host(&self, host: &str) -> Result<SshHost, LabError> {
        Ok(SshHost::from_transport(self.connect(host).await?))
    }

    /// Runs `cmd` on `host` over a fresh connection.
    pub async fn run(&self, host: &str, cmd: &Command) -> Result<Output, LabError> {
        let t = self.connect(host).await?;
        let out = t.run(cmd).await.map_err(|source| LabError::Transport {
            host: host.to_owned(),
            source,
        });
        let _ = t.close().await;
        out
    }

    /// Waits until `host` answers SSH with its pinned key and runs `true`, up to `deadline`.
    /// Returns the time waited. A changed host key fails immediately.
    pub async fn wait_ready(&self, host: &str, deadline: Instant) -> Result<Duration, LabError> {
        let start = Instant::now();
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            match self
                .run(host, &Command::new("true").timeout(Duration::from_secs(20)))
                .await
            {
                Ok(out) if out.success() => return Ok(start.elapsed()),
                Ok(out) => last = format!("`true` exited {:?}", out.status),
                Err(LabError::Transport {
                    source:
                        e
                        @ (TransportError::HostKeyMismatch { .. } | TransportError::AuthRefused { .. }),
                    ..
                }) => {
                    // sshd may be up before cloud-init installed the login key: auth refusal
                    // is retried, a host key mismatch never is.
                    if matches!(e, TransportError::HostKeyMismatch { .. }) {
                        return Err(LabError::Transport {
                            host: host.to_owned(),
                            source: e,
                        });
                    }
                    last = e.to_string();
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        Err(LabError::Timeout {
            what: format!("SSH on {host} (last error: {last})"),
            seconds: deadline.saturating_duration_since(start).as_secs(),
        })
    }

    /// Waits for every guest concurrently; returns each host's wait time.
    pub async fn wait_all(&self, deadline: Instant) -> Result<Vec<(String, Duration)>, LabError> {
        let mut set = tokio::task::JoinSet::new();
        for host in self.hosts() {
            let me = self.clone();
            set.spawn(async move {
                let r = me.wait_ready(&host, deadline).await;
                (host, r)
            });
        }
        let mut done = Vec::new();
        let mut first_err = None;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((host, Ok(d))) => done.push((host, d)),
                Ok((_, Err(e))) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(LabError::Timeout {
                        what: format!("SSH wait task: {e}"),
                        seconds: 0,
                    });
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => {
                let order = self.hosts();
                done.sort_by_key(|(h, _)| order.iter().position(|o| o == h));
                Ok(done)
            }
        }
    }
}

/// A single-threaded Tokio runtime for the lab's blocking entry points.
pub fn runtime() -> Result<tokio::runtime::Runtime, LabError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LabError::io("starting the async runtime", "tokio", e))
}
