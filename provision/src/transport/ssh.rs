//! The SSH transport (russh) with host-key pinning.
//!
//! The client handler compares the server's key with the one pinned for the target; any other
//! key (or a certificate) makes russh abort the handshake, and the transport reports
//! [`TransportError::HostKeyMismatch`] with both fingerprints. Authentication is by public key
//! only. The private key is held in memory and never formatted into logs or errors.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use super::{KnownHosts, TransportError, tcp};
use crate::exec::{Command, Output};

/// Bound on TCP connect plus SSH handshake and authentication.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where and as whom to connect, and the key the host must present.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// Host label for messages (the topology host name).
    pub host: String,
    /// Address and port of the SSH server.
    pub addr: SocketAddr,
    /// Login user.
    pub user: String,
    /// The pinned host key.
    pub host_key: PublicKey,
    /// Network namespace to open the socket in (isolated lab), if any.
    pub netns: Option<String>,
    /// Bound on connect + handshake + authentication.
    pub connect_timeout: Duration,
}

impl SshTarget {
    /// A target pinned to the key `known` holds for `addr`'s IP address (the way the lab's
    /// `known_hosts` is keyed). An address without a pin is [`TransportError::UnknownHost`],
    /// returned before any connection is made: there is no trust on first use.
    pub fn pinned_from(
        known: &KnownHosts,
        host: impl Into<String>,
        addr: SocketAddr,
        user: impl Into<String>,
        netns: Option<String>,
    ) -> Result<Self, TransportError> {
        let host_key = known.get(&addr.ip().to_string())?.clone();
        Ok(SshTarget {
            host: host.into(),
            addr,
            user: user.into(),
            host_key,
            netns,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }
}

struct Pinned {
    expected: PublicKey,
    offered: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let offered = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                if key.key_data() == self.expected.key_data() {
                    return Ok(true);
                }
                key.fingerprint(HashAlg::Sha256).to_string()
            }
            PublicKeyOrCertificate::Certificate(_) => "a certificate".to_owned(),
        };
        if let Ok(mut slot) = self.offered.lock() {
            *slot = Some(offered);
        }
        Ok(false)
    }
}

/// An authenticated SSH connection to one host.
pub struct SshTransport {
    target: SshTarget,
    handle: Handle<Pinned>,
}

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// How long a connection may receive nothing before we send a keepalive.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// Keepalives without an answer after which the connection counts as dead.
const KEEPALIVE_MAX: usize = 3;

impl SshTransport {
    /// Connects, verifies the pinned host key and authenticates with `identity`.
    pub async fn connect(
        target: SshTarget,
        identity: Arc<PrivateKey>,
    ) -> Result<Self, TransportError> {
        let bound = target.connect_timeout;
        match tokio::time::timeout(bound, Self::connect_inner(target.clone(), identity)).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout {
                what: format!("ssh connect to {} ({})", target.host, target.addr),
                seconds: bound.as_secs(),
            }),
        }
    }

    async fn connect_inner(
        target: SshTarget,
        identity: Arc<PrivateKey>,
    ) -> Result<Self, TransportError> {
        let (netns, addr, timeout) = (target.netns.clone(), target.addr, target.connect_timeout);
        let std_stream =
            tokio::task::spawn_blocking(move || tcp::connect(netns.as_deref(), addr, timeout))
                .await
                .map_err(|e| TransportError::Connect {
                    addr: addr.to_string(),
                    source: std::io::Error::other(e.to_string()),
                })?
                .map_err(|source| TransportError::Connect {
                    addr: addr.to_string(),
                    source,
                })?;
        let stream = std_stream
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpStream::from_std(std_stream))
            .map_err(|source| TransportError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        // A connection idle for the inactivity timeout is dropped, and a host whose lane is
        // done can sit idle while others work (a lab apply's Ceph phase once kept a finished
        // host silent for more than 300 s, and the next command on it failed with "Channel
        // send error"). Keepalives, as OpenSSH's `ServerAliveInterval` and
        // `ServerAliveCountMax` send them, keep a live connection open and still find a dead
        // host within about `KEEPALIVE_INTERVAL * (KEEPALIVE_MAX + 1)` (russh gives up when the
        // unanswered ones exceed the maximum).
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(300)),
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            keepalive_max: KEEPALIVE_MAX,
            ..client::Config::default()
        });
        let offered = Arc::new(Mutex::new(None));
        let handler = Pinned {
            expected: target.host_key.clone(),
            offered: offered.clone(),
        };
        let mut handle = match client::connect_stream(config, stream, handler).await {
            Ok(h) => h,
            Err(e) => {
                let seen = offered.lock().ok().and_then(|mut s| s.take());
                return Err(match seen {
                    Some(offered) => TransportError::HostKeyMismatch {
                        host: format!("{} ({})", target.host, target.addr),
                        expected: target.host_key.fingerprint(HashAlg::Sha256).to_string(),
                        offered,
                    },
                    None => TransportError::Ssh(e),
                });
            }
        };
        let auth = handle
            .authenticate_publickey(
                target.user.clone(),
                PrivateKeyWithHashAlg::new(identity, None),
            )
            .await?;
        if !auth.success() {
            return Err(TransportError::AuthRefused {
                user: target.user.clone(),
                host: target.host.clone(),
            });
        }
        Ok(SshTransport { target, handle })
    }

    /// The target this transport is connected to.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    async fn run_inner(&self, cmd: &Command) -> Result<Output, TransportError> {
        let mut channel = self.handle.channel_open_session().await?;
        channel.exec(true, cmd.remote_line()).await?;
        if let Some(data) = cmd.stdin_data() {
            channel.data(data).await?;
        }
        channel.eof().await?;
        let mut out = Output::default();
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => {
                    out.status = Some(i32::try_from(exit_status).unwrap_or(i32::MAX));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Runs `cmd` to completion or its bound; a command that outlives it is
    /// [`TransportError::Timeout`] (its channel is dropped, which makes sshd hang up on it).
    pub async fn run(&self, cmd: &Command) -> Result<Output, TransportError> {
        let bound = cmd.time_limit();
        match tokio::time::timeout(bound, self.run_inner(cmd)).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout {
                what: format!("`{cmd}` on {}", self.target.host),
                seconds: bound.as_secs(),
            }),
        }
    }

    /// Closes the connection politely.
    pub async fn close(self) -> Result<(), TransportError> {
        self.handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await
            .map_err(TransportError::Ssh)
    }
}
