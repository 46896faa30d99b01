//! Typed errors of the transports. A host key problem is its own variant so callers can never
//! mistake it for a network hiccup and retry into a man-in-the-middle.

/// Why a command could not be run on a host.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No pinned key is known for the host.
    #[error("no pinned host key for {host}; refusing to connect (no trust on first use)")]
    UnknownHost {
        /// The host as addressed.
        host: String,
    },
    /// The server offered a key other than the pinned one.
    #[error(
        "host key of {host} changed: pinned {expected}, offered {offered}; refusing to connect"
    )]
    HostKeyMismatch {
        /// The host as addressed.
        host: String,
        /// SHA-256 fingerprint of the pinned key.
        expected: String,
        /// SHA-256 fingerprint of the offered key (or `certificate`).
        offered: String,
    },
    /// The TCP connection failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server refused the client key.
    #[error("{user}@{host}: public key authentication refused")]
    AuthRefused {
        /// The login user.
        user: String,
        /// The host.
        host: String,
    },
    /// The SSH protocol failed.
    #[error("ssh: {0}")]
    Ssh(#[from] russh::Error),
    /// Reading a known_hosts file failed or it is malformed.
    #[error("known_hosts {path}: {reason}")]
    KnownHosts {
        /// The file.
        path: String,
        /// The problem.
        reason: String,
    },
    /// The command or connection exceeded its bound.
    #[error("timed out after {seconds} s: {what}")]
    Timeout {
        /// What timed out.
        what: String,
        /// The bound in seconds.
        seconds: u64,
    },
}
