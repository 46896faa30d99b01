//! Running commands on hosts: commands are values, transports run them.
//!
//! A [`Command`](crate::exec::Command) is built as data and handed to a transport, which decides
//! how it reaches the host; [`crate::host::SshHost`] puts the [`crate::host::Host`] interface on
//! top. [`ssh::SshTransport`] runs commands over SSH with the host's key pinned: an unknown or changed host key is a typed error, never a
//! prompt and never a silent accept. The SSH socket may be opened inside a network namespace
//! ([`tcp::connect`]), which is how the isolated lab reaches its guests.

mod error;
pub mod pin;
pub mod ssh;
pub mod tcp;

pub use error::TransportError;
pub use pin::KnownHosts;
pub use ssh::{SshTarget, SshTransport};
