//! The isolated lab's own libvirtd (and virtlogd), inside the lab's network namespace.
//!
//! libvirtd's qemu and network drivers keep their state under fixed paths (`/etc/libvirt`,
//! `/run/libvirt`, `/var/lib/libvirt`, ...). To run a second daemon that cannot clash with a
//! system one, the lab starts it in a private mount namespace in which those paths are bind
//! mounts of directories under the lab's state directory, and in the lab's network namespace,
//! so its bridge and firewall rules exist only there. The daemon runs QEMU as root with no
//! security driver (it is the lab's own, reachable only through its socket in the state
//! directory) and defines no default network. PID 1 need not be systemd: both daemons are
//! started with `-d` (LAB-NOTES).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use super::LabError;
use super::tool::{IP, LIBVIRTD, UNSHARE, VIRTLOGD};
use crate::exec::run_checked;

/// The standard libvirt directories the daemon sees, and the name of the private directory
/// mounted over each.
pub const MOUNTS: [(&str, &str); 5] = [
    ("etc", "/etc/libvirt"),
    ("run", "/run/libvirt"),
    ("lib", "/var/lib/libvirt"),
    ("cache", "/var/cache/libvirt"),
    ("log", "/var/log/libvirt"),
];

/// Directories libvirt-daemon-system ships under `/var/lib/libvirt`.
pub const LIB_SUBDIRS: [&str; 4] = ["boot", "dnsmasq", "images", "qemu"];

/// Bound on waiting for the daemon's socket (libvirtd answered about 8 s after start here).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

const LIBVIRTD_CONF: &str = "# spofless lab: private libvirtd\n\
listen_tls = 0\nlisten_tcp = 0\n\
log_outputs = \"3:file:/var/log/libvirt/libvirtd.log\"\n";

const QEMU_CONF: &str = "# spofless lab: private qemu driver\n\
user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nremember_owner = 0\n\
security_driver = \"none\"\nnamespaces = [ ]\ncgroup_controllers = [ ]\n";

/// A running (or recorded) private daemon rooted at `root`.
#[derive(Debug, Clone)]
pub struct PrivateDaemon {
    /// Root of the private directories.
    pub root: PathBuf,
}

impl PrivateDaemon {
    /// The daemon rooted at `root` (not started).
    pub fn new(root: PathBuf) -> Self {
        PrivateDaemon { root }
    }

    /// libvirt URI of the daemon's socket.
    pub fn uri(&self) -> String {
        format!("qemu:///system?socket={}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.root.join("run").join("libvirt-sock")
    }

    fn pidfile(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.pid"))
    }

    /// Writes the configuration and starts virtlogd and libvirtd inside `netns`, then waits
    /// for the socket.
    pub fn start(&self, netns: &str) -> Result<(), LabError> {
        for (dir, _) in MOUNTS {
            let d = self.root.join(dir);
            std::fs::create_dir_all(&d).map_err(|e| LabError::io("creating", &d, e))?;
        }
        // Subdirectories the Debian package normally ships under /var/lib/libvirt; the network
        // driver writes its MAC tables to `dnsmasq/` even when no dnsmasq runs.
        for sub in LIB_SUBDIRS {
            let d = self.root.join("lib").join(sub);
            std::fs::create_dir_all(&d).map_err(|e| LabError::io("creating", &d, e))?;
        }
        for (name, text) in [("libvirtd.conf", LIBVIRTD_CONF), ("qemu.conf", QEMU_CONF)] {
            let f = self.root.join("etc").join(name);
            std::fs::write(&f, text).map_err(|e| LabError::io("writing", &f, e))?;
        }
        let mut script = String::from("set -e\n");
        for (dir, target) in MOUNTS {
            script.push_str(&format!(
                "mkdir -p {target}\nmount --bind '{}' {target}\n",
                self.root.join(dir).display()
            ));
        }
        script.push_str(&format!(
            "'{}' -d -p '{}'\n'{}' -d -p '{}'\n",
            VIRTLOGD.path()?.display(),
            self.pidfile("virtlogd").display(),
            LIBVIRTD.path()?.display(),
            self.pidfile("libvirtd").display(),
        ));
        let cmd = IP
            .command()?
            .args(["netns", "exec", netns])
            .arg(UNSHARE.path()?.display().to_string())
            .args(["--mount", "--propagation", "private", "sh", "-c", &script]);
        run_checked(&cmd)?;
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(LabError::Timeout {
            what: format!("libvirtd socket {}", self.socket().display()),
            seconds: READY_TIMEOUT.as_secs(),
        })
    }

    /// Stops QEMU processes the daemon left, then libvirtd and virtlogd: each only if its
    /// pid file is ours and the process is the expected program. Absent is fine.
    pub fn stop(&self) -> Result<(), LabError> {
        self.stop_pidfile(&self.pidfile("libvirtd"), "libvirtd")?;
        let qemu_run = self.root.join("run").join("qemu");
        if let Ok(entries) = std::fs::read_dir(&qemu_run) {
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            for f in files
                .iter()
                .filter(|f| f.extension().is_some_and(|x| x == "pid"))
            {
                self.stop_pidfile(f, "qemu-system")?;
            }
        }
        self.stop_pidfile(&self.pidfile("virtlogd"), "virtlogd")?;
        Ok(())
    }

    fn stop_pidfile(&self, pidfile: &Path, program: &str) -> Result<(), LabError> {
        let Ok(text) = std::fs::read_to_string(pidfile) else {
            return Ok(());
        };
        let Some(pid) = text.trim().parse::<i32>().ok().and_then(Pid::from_raw) else {
            return Ok(());
        };
        if !is_program(pid, program) {
            let _ = std::fs::remove_file(pidfile);
            return Ok(());
        }
        let _ = kill_process(pid, Signal::TERM);
        let started = Instant::now();
        while is_program(pid, program) && started.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if is_program(pid, program) {
            let _ = kill_process(pid, Signal::KILL);
            let started = Instant::now();
            while is_program(pid, program) && started.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_file(pidfile);
        Ok(())
    }

    /// Removes the private directories (after [`stop`](Self::stop)).
    pub fn remove_dirs(&self) -> Result<(), LabError> {
        match std::fs::remove_dir_all(&self.root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LabError::io("removing", &self.root, e)),
        }
    }
}

/// Whether `pid` is alive and its command line's program contains `program` (a zombie or a
/// reused pid running something else does not count).
fn is_program(pid: Pid, program: &str) -> bool {
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero()));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()));
    let zombie = stat
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true);
    match cmdline {
        Ok(c) => {
            let argv0 = c.split(|b| *b == 0).next().unwrap_or_default();
            !zombie && String::from_utf8_lossy(argv0).contains(program)
        }
        Err(_) => false,
    }
}
