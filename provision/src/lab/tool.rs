//! Running the system tools the lab is built from (ip, qemu-img, genisoimage, libvirtd, ...).
//!
//! Each tool is named together with the Debian package that provides it, so a missing tool is
//! reported as "install package X" rather than a bare "No such file or directory".

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

use super::LabError;

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

    /// A `Command` for the program, after checking it is installed.
    pub fn command(&self) -> Result<Command, LabError> {
        Ok(Command::new(self.path()?))
    }

    /// Runs the program with `args`, capturing output; a non-zero exit is a [`LabError::Tool`].
    pub fn run<I, S>(&self, args: I) -> Result<Output, LabError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command()?;
        cmd.args(args);
        run_checked(&mut cmd)
    }
}

/// Runs `cmd` with stdin closed, capturing output; a non-zero exit becomes [`LabError::Tool`].
pub fn run_checked(cmd: &mut Command) -> Result<Output, LabError> {
    let line = describe(cmd);
    tracing::debug!(command = %line, "running");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::io("running", line.clone(), e))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError::Tool {
            command: line,
            status: out.status.to_string(),
            stderr: tail(&out.stderr),
        })
    }
}

/// The command line as text, for messages (the lab never passes secrets as arguments).
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The last few lines of a tool's output, trimmed.
pub fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(8);
    lines[start..].join("\n").trim().to_owned()
}
