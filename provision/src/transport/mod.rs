//! Running commands on hosts: commands are values, transports run them.
//!
//! As in colmena, a [`Command`] is built as data (argv, optional stdin, a time bound) and handed
//! to a [`Transport`], which decides how it reaches the host. [`ssh::SshTransport`] runs it over
//! SSH with the host's key pinned: an unknown or changed host key is a typed error, never a
//! prompt and never a silent accept. The SSH socket may be opened inside a network namespace
//! ([`tcp::connect`]), which is how the isolated lab reaches its guests.

mod command;
mod error;
pub mod pin;
pub mod ssh;
pub mod tcp;

pub use command::{Command, Output};
pub use error::TransportError;
pub use pin::KnownHosts;
pub use ssh::{SshTarget, SshTransport};

use std::future::Future;

/// Something that runs [`Command`]s on one host.
pub trait Transport {
    /// Runs `cmd` to completion (or its timeout) and returns its exit status and output.
    fn run(&self, cmd: &Command) -> impl Future<Output = Result<Output, TransportError>> + Send;
}
