//! Running the system tools the lab is built from (ip, qemu-img, genisoimage, libvirtd, ...).
//!
//! Each tool is named together with the Debian package that provides it, so a missing tool is
//! reported as "install package X" rather than a bare "No such file or directory". Tools run
//! through the one bounded runner ([`crate::exec`]).

use std::time::Duration;

use super::LabError;
use crate::exec::{Command, Output, run_checked};

/// Bound on one tool run (disk conversions and ISO builds take seconds; libvirtd's start
/// returns once it has daemonised).
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// A system program and the Debian package it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// Program name looked up on `PATH` (and in `/usr/sbin`, `/sbin`).
    pub program: &'static str,
    /// Debian package that provides it.
    pub package: &'static str,
}

/// `ip` from iproute2: network namespaces.
pub const IP: Tool = Tool {
    program: "ip",
    package: "iproute2",
};
/// `qemu-img`: overlays and disks.
pub const QEMU_IMG: Tool = Tool {
    program: "qemu-img",
    package: "qemu-utils",
};
/// `genisoimage`: the NoCloud seed ISO.
pub const GENISOIMAGE: Tool = Tool {
    program: "genisoimage",
    package: "genisoimage",
};
/// `libvirtd`: the isolated lab's own daemon.
pub const LIBVIRTD: Tool = Tool {
    program: "libvirtd",
    package: "libvirt-daemon-system",
};
/// `virtlogd`: console logs for the isolated daemon's guests.
pub const VIRTLOGD: Tool = Tool {
    program: "virtlogd",
    package: "libvirt-daemon-system",
};
/// `unshare`: a private mount namespace for the isolated daemon's directories.
pub const UNSHARE: Tool = Tool {
    program: "unshare",
    package: "util-linux",
};
/// `qemu-system-x86_64`: the guests.
pub const QEMU_SYSTEM: Tool = Tool {
    program: "qemu-system-x86_64",
    package: "qemu-system-x86",
};
/// `ssh`: the interactive `lab ssh` session.
pub const SSH: Tool = Tool {
    program: "ssh",
    package: "openssh-client",
};
/// `debootstrap`: the image recipe.
pub const DEBOOTSTRAP: Tool = Tool {
    program: "debootstrap",
    package: "debootstrap",
};

impl Tool {
    /// Full path of the program, or the typed "install package" error.
    pub fn path(&self) -> Result<std::path::PathBuf, LabError> {
        let path_var = std::env::var_os("PATH").unwrap_or_default();
        let extra = [
            std::path::PathBuf::from("/usr/sbin"),
            std::path::PathBuf::from("/sbin"),
        ];
        std::env::split_paths(&path_var)
            .chain(extra)
            .map(|dir| dir.join(self.program))
            .find(|p| p.is_file())
            .ok_or(LabError::MissingTool {
                tool: self.program,
                package: self.package,
            })
    }

    /// A [`Command`] for the program (by its full path, after checking it is installed),
    /// bounded by [`TOOL_TIMEOUT`].
    pub fn command(&self) -> Result<Command, LabError> {
        Ok(Command::new(self.path()?.display().to_string()).timeout(TOOL_TIMEOUT))
    }

    /// Runs the program with `args`, capturing output; a non-zero exit is a [`LabError::Exec`].
    pub fn run<I, S>(&self, args: I) -> Result<Output, LabError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(run_checked(&self.command()?.args(args))?)
    }
}
