//! Typed errors of the VM lab.
//!
//! Every failure names what the lab was doing and, where a system tool or package is missing,
//! which Debian package provides it, so `spofless lab` can print an actionable message.

use std::path::PathBuf;

use crate::transport::TransportError;

/// Anything that can go wrong while building, running or tearing down the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The topology cannot be turned into a lab (for example an IPv6 node subnet).
    #[error("topology not usable for the lab: {0}")]
    Topology(String),
    /// A system tool the lab runs is not installed.
    #[error("`{tool}` not found; install the Debian package `{package}` (.ci/lab-packages.sh)")]
    MissingTool {
        /// The program name.
        tool: &'static str,
        /// The Debian package providing it.
        package: &'static str,
    },
    /// A system tool failed, ran out of time or is missing.
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    /// A system tool ran and failed.
    #[error("`{command}` failed with {status}: {stderr}")]
    Tool {
        /// The command line, for the report.
        command: String,
        /// Exit status as printed by the OS.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },
    /// Reading or writing a lab file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What the lab was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The lab state file is unreadable or from another lab.
    #[error("lab state {path}: {reason}")]
    State {
        /// The state file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// A libvirt call failed.
    #[error("libvirt: {action}: {message}")]
    Libvirt {
        /// What the lab asked libvirt to do.
        action: String,
        /// libvirt's message.
        message: String,
    },
    /// An object exists that the lab's state file does not record as its own.
    #[error("refusing to touch {kind} `{name}`: the lab did not create it ({reason})")]
    NotOurs {
        /// `domain`, `network` or `namespace`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// How that was decided.
        reason: String,
    },
    /// No host of that name in the lab.
    #[error("no host `{0}` in the lab")]
    UnknownHost(String),
    /// No lab is up (no state file).
    #[error("no lab is up (no state file at {0})")]
    NotUp(PathBuf),
    /// Something did not happen within its time bound.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        seconds: u64,
    },
    /// A guest could not be reached or commanded over SSH.
    #[error("host `{host}`: {source}")]
    Transport {
        /// The guest.
        host: String,
        /// The transport's error.
        #[source]
        source: TransportError,
    },
    /// Generating or encoding an SSH key failed.
    #[error("ssh key: {0}")]
    Key(String),
    /// `lab down` went through every phase but some steps failed; each is listed.
    #[error("{}", down_message(errors, *remaining))]
    Down {
        /// Every failed step, in the order they happened.
        errors: Vec<LabError>,
        /// Whether the state file was kept because it still records objects (run `down` again).
        remaining: bool,
    },
    /// The value of a setting is not one the lab knows.
    #[error("{setting}: {reason}")]
    BadSetting {
        /// Flag or environment variable.
        setting: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn down_message(errors: &[LabError], remaining: bool) -> String {
    let mut s = format!("lab down: {} step(s) failed", errors.len());
    for e in errors {
        s.push_str("\n  - ");
        s.push_str(&e.to_string());
    }
    s.push_str(if remaining {
        "\nthe state file still lists what was not removed; run `spofless lab down` again"
    } else {
        "\neverything the state file recorded is gone"
    });
    s
}

impl LabError {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LabError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
