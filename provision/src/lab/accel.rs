//! Choosing the guests' accelerator: KVM where this machine can really run a KVM guest, QEMU's
//! TCG otherwise.
//!
//! Neither a `/dev/kvm` node nor the CPU flags prove that KVM runs a guest. Some sandboxes
//! expose `kvm-pvm`, a paravirtual stand-in, on CPUs without vmx/svm: QEMU can create a VM
//! there (`-machine none -accel kvm` starts fine), and with the `qemu64` model even a BIOS and a
//! boot sector run, but Linux guests never boot (LAB-NOTES), and `-cpu host`, which the lab's
//! KVM domains use (`<cpu mode='host-passthrough'/>`), aborts at once on MSR 0x10a. So the lab
//! asks QEMU itself: [`probe_kvm`] boots a 512-byte boot sector under `-accel kvm -cpu host`
//! and KVM is chosen only if the guest code ran and exited through QEMU's `isa-debug-exit`
//! device within [`PROBE_TIMEOUT`]. That exercises VM and vCPU creation with the lab's CPU
//! model, the MSR setup that fails on kvm-pvm, firmware and a guest I/O exit; it costs well
//! under a second where KVM works and where it aborts. No `unsafe` KVM ioctls are needed.
//!
//! A boot sector is not enough everywhere: on some kvm-pvm hosts it runs, yet Linux stops
//! right after its real-mode setup ("Probing EDD", then nothing: the switch to protected and
//! long mode never completes). So when the lab's kernel is at hand, [`probe_kvm_kernel`] also
//! boots it (no disk: it panics for want of a root file system and QEMU exits, `panic=-1`
//! with `-no-reboot`) and KVM is chosen only if the kernel printed its `Linux version` banner
//! on the serial port within [`PROBE_TIMEOUT`]. Where KVM works that takes about a second.
//!
//! Overrides, strongest first: `--accel`, `SPOFLESS_LAB_ACCEL`, the topology's
//! `spec.lab.accelerator` ([`Accel::resolve`]). A value the lab does not know is an error, never
//! silently ignored.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::LabError;
use super::tool::QEMU_SYSTEM;
use crate::exec::{self, Command};

/// Environment variable that overrides the topology and the probe (`kvm`, `tcg` or `auto`).
pub const ACCEL_ENV: &str = "SPOFLESS_LAB_ACCEL";

/// I/O port the probe's `isa-debug-exit` device listens on (passed as `iobase`; QEMU's
/// hw/misc/debugexit.c defaults to 0x501, 0xf4 is the value its own tests and most examples
/// use).
pub const PROBE_EXIT_PORT: u8 = 0xf4;
/// QEMU's exit status when the guest writes `v` to `isa-debug-exit` is `(v << 1) | 1`
/// (hw/misc/debugexit.c); the probe writes 1, so a guest that ran ends QEMU with 3.
pub const PROBE_EXIT_STATUS: i32 = 3;
/// Bound on the probe. SeaBIOS reaches the boot sector in well under a second under KVM; a
/// probe still running after this is a KVM that does not run guests usefully.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The probe's boot sector: `mov al, 1` (B0 01), `out 0xf4, al` (E6 F4) to the exit device,
/// then `hlt` and `jmp` back to it (F4 EB FD) should the write not end QEMU; zero padding to
/// byte 510 and the 0x55 0xAA signature the BIOS requires of a bootable disk.
pub fn probe_boot_sector() -> [u8; 512] {
    let code = [0xB0, 0x01, 0xE6, PROBE_EXIT_PORT, 0xF4, 0xEB, 0xFD];
    let mut sector = [0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector
}

/// How guests execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation through KVM (`<domain type='kvm'>`).
    Kvm,
    /// QEMU's tiny code generator (`<domain type='qemu'>`), with a bounded translation cache.
    Tcg,
    /// libvirt's `test:///default` driver (`<domain type='test'>`): no guest runs at all.
    Test,
}

/// What the KVM probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmProbe {
    /// No `/dev/kvm`: nothing to probe.
    NoDevice,
    /// QEMU is not installed.
    NoQemu,
    /// The boot sector ran and exited through the exit device.
    Booted,
    /// QEMU ended otherwise: its exit status (none if killed by a signal) and stderr's tail.
    Failed {
        /// Exit status.
        status: Option<i32>,
        /// The last lines of its standard error.
        stderr: String,
    },
    /// Still running after [`PROBE_TIMEOUT`].
    TimedOut,
    /// The boot sector ran but the lab's kernel printed no banner within [`PROBE_TIMEOUT`]:
    /// the serial port's last line.
    KernelStalled {
        /// The last line the kernel's boot printed, if any.
        last_line: String,
    },
}

impl KvmProbe {
    /// Reads a finished probe's outcome from QEMU's exit status and standard error.
    pub fn from_exit(status: Option<i32>, stderr: &str) -> KvmProbe {
        if status == Some(PROBE_EXIT_STATUS) {
            KvmProbe::Booted
        } else {
            KvmProbe::Failed {
                status,
                stderr: exec::tail(stderr.as_bytes()),
            }
        }
    }

    /// The accelerator this outcome calls for: KVM only for a guest that really ran.
    pub fn accel(&self) -> Accel {
        match self {
            KvmProbe::Booted => Accel::Kvm,
            _ => Accel::Tcg,
        }
    }
}

impl fmt::Display for KvmProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvmProbe::NoDevice => f.write_str("no /dev/kvm"),
            KvmProbe::NoQemu => f.write_str("qemu-system-x86_64 not installed"),
            KvmProbe::Booted => f.write_str("a KVM guest with the host CPU model ran"),
            KvmProbe::Failed { status, stderr } => {
                write!(f, "KVM guest failed (exit {status:?}): {stderr}")
            }
            KvmProbe::TimedOut => write!(
                f,
                "KVM guest did not finish a boot sector in {} s",
                PROBE_TIMEOUT.as_secs()
            ),
            KvmProbe::KernelStalled { last_line } => write!(
                f,
                "a boot sector ran under KVM but the lab's kernel printed no banner in {} s (last serial line: {last_line:?})",
                PROBE_TIMEOUT.as_secs()
            ),
        }
    }
}

impl Accel {
    /// The explicit choice, if any: the command-line flag, else [`ACCEL_ENV`] (`env`), else the
    /// topology's setting. `Ok(None)` means "probe". An unknown [`ACCEL_ENV`] value is an error.
    pub fn resolve(
        flag: Option<Accel>,
        env: Option<&str>,
        topology: topology::Accelerator,
    ) -> Result<Option<Accel>, LabError> {
        if flag.is_some() {
            return Ok(flag);
        }
        if let Some(v) = env.map(str::trim).filter(|v| !v.is_empty())
            && !v.eq_ignore_ascii_case("auto")
        {
            return v.parse().map(Some).map_err(|reason| LabError::BadSetting {
                setting: ACCEL_ENV.to_owned(),
                reason,
            });
        }
        Ok(match topology {
            topology::Accelerator::Auto => None,
            topology::Accelerator::Kvm => Some(Accel::Kvm),
            topology::Accelerator::Tcg => Some(Accel::Tcg),
        })
    }

    /// [`Accel::resolve`] with [`ACCEL_ENV`] read from the environment.
    pub fn from_overrides(
        flag: Option<Accel>,
        topology: topology::Accelerator,
    ) -> Result<Option<Accel>, LabError> {
        let env = match std::env::var(ACCEL_ENV) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(v)) => {
                return Err(LabError::BadSetting {
                    setting: ACCEL_ENV.to_owned(),
                    reason: format!("not UTF-8: {}", v.to_string_lossy()),
                });
            }
        };
        Accel::resolve(flag, env.as_deref(), topology)
    }

    /// Probes this machine ([`probe_kvm_kernel`] with the lab's `kernel`) and returns the
    /// accelerator with the probe's outcome.
    pub fn detect(kernel: &Path) -> (Accel, KvmProbe) {
        let probe = probe_kvm_kernel(kernel);
        (probe.accel(), probe)
    }

    /// The `<domain type=...>` attribute.
    pub fn domain_type(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "qemu",
            Accel::Test => "test",
        }
    }
}

/// Boots [`probe_boot_sector`] under `-accel kvm -cpu host`, bounded by [`PROBE_TIMEOUT`].
pub fn probe_kvm() -> KvmProbe {
    if !Path::new("/dev/kvm").exists() {
        return KvmProbe::NoDevice;
    }
    run_probe(&["-accel", "kvm", "-cpu", "host"])
}

/// [`probe_kvm`], then, if the boot sector ran, `kernel` under the same accelerator: KVM
/// only if it prints its banner.
pub fn probe_kvm_kernel(kernel: &Path) -> KvmProbe {
    match probe_kvm() {
        KvmProbe::Booted => run_kernel_probe(kernel, &["-accel", "kvm", "-cpu", "host"]),
        other => other,
    }
}

/// A scratch file of this process and thread for a probe.
fn probe_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "spofless-kvm-{}-{:?}-{name}",
        std::process::id(),
        std::thread::current().id()
    ))
}

/// A headless PC with `memory_mib` and nothing attached, under `accel_args`.
fn probe_vm(qemu: &Path, accel_args: &[&str], memory_mib: u32) -> Command {
    Command::new(qemu.display().to_string())
        .args(accel_args.iter().copied())
        .args(["-machine", "pc", "-m"])
        .arg(memory_mib.to_string())
        .args(["-nodefaults", "-display", "none", "-monitor", "none"])
}

/// The banner `start_kernel` prints first.
const KERNEL_BANNER: &str = "Linux version";

/// Boots `kernel` without a disk under the given accelerator arguments: [`KvmProbe::Booted`]
/// if it printed [`KERNEL_BANNER`] on the serial port within [`PROBE_TIMEOUT`].
pub fn run_kernel_probe(kernel: &Path, accel_args: &[&str]) -> KvmProbe {
    let Ok(qemu) = QEMU_SYSTEM.path() else {
        return KvmProbe::NoQemu;
    };
    let serial = probe_file("kernel-probe.log");
    let cmd = probe_vm(&qemu, accel_args, 256)
        .args(["-no-reboot", "-serial"])
        .arg(format!("file:{}", serial.display()))
        .arg("-kernel")
        .arg(kernel.display().to_string())
        .args(["-append", "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1"])
        .timeout(PROBE_TIMEOUT);
    let ran = exec::run(&cmd);
    let printed = std::fs::read(&serial).unwrap_or_default();
    let _ = std::fs::remove_file(&serial);
    let text = String::from_utf8_lossy(&printed);
    if text.contains(KERNEL_BANNER) {
        return KvmProbe::Booted;
    }
    match ran {
        Err(e) if !e.is_timeout() => KvmProbe::Failed {
            status: None,
            stderr: e.to_string(),
        },
        _ => KvmProbe::KernelStalled {
            last_line: text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned(),
        },
    }
}

/// Runs the probe's boot sector with the given accelerator arguments (also used by the tests
/// to check the sector itself under TCG).
pub fn run_probe(accel_args: &[&str]) -> KvmProbe {
    let Ok(qemu) = QEMU_SYSTEM.path() else {
        return KvmProbe::NoQemu;
    };
    let image = probe_file("probe.img");
    if let Err(e) = std::fs::write(&image, probe_boot_sector()) {
        return KvmProbe::Failed {
            status: None,
            stderr: format!("writing {}: {e}", image.display()),
        };
    }
    let cmd = probe_vm(&qemu, accel_args, 16)
        .args([
            "-serial",
            "none",
            "-device",
            &format!("isa-debug-exit,iobase={PROBE_EXIT_PORT:#x},iosize=0x04"),
            "-drive",
        ])
        .arg(format!("file={},format=raw,if=ide", image.display()))
        .args(["-boot", "c"])
        .timeout(PROBE_TIMEOUT);
    let outcome = match exec::run(&cmd) {
        Ok(out) => KvmProbe::from_exit(out.status, &out.stderr_str()),
        Err(e) if e.is_timeout() => KvmProbe::TimedOut,
        Err(e) => KvmProbe::Failed {
            status: None,
            stderr: e.to_string(),
        },
    };
    let _ = std::fs::remove_file(&image);
    outcome
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
            Accel::Test => "test",
        })
    }
}

impl FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "kvm" => Ok(Accel::Kvm),
            "tcg" | "qemu" => Ok(Accel::Tcg),
            "test" => Ok(Accel::Test),
            other => Err(format!("unknown accelerator `{other}` (kvm, tcg)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::Accelerator as Topo;

    #[test]
    fn flag_then_env_then_topology_decide_before_the_probe() {
        let (kvm, tcg) = (Some(Accel::Kvm), Some(Accel::Tcg));
        let r = |flag, env, topo| Accel::resolve(flag, env, topo).ok();
        assert_eq!(r(kvm, Some("tcg"), Topo::Tcg), Some(kvm));
        assert_eq!(r(None, Some("kvm"), Topo::Tcg), Some(kvm));
        assert_eq!(r(None, Some(" TCG "), Topo::Kvm), Some(tcg));
        assert_eq!(r(None, None, Topo::Tcg), Some(tcg));
        assert_eq!(r(None, Some(""), Topo::Kvm), Some(kvm));
        assert_eq!(r(None, Some("auto"), Topo::Kvm), Some(kvm));
        assert_eq!(r(None, None, Topo::Auto), Some(None), "auto means probe");
    }

    #[test]
    fn a_misspelled_env_override_is_an_error() {
        let e = Accel::resolve(None, Some("kmv"), Topo::Auto);
        assert!(
            matches!(&e, Err(LabError::BadSetting { setting, reason })
                if setting == ACCEL_ENV && reason.contains("kmv")),
            "{e:?}"
        );
        // A flag given explicitly wins, so the bad variable is not consulted.
        assert!(Accel::resolve(Some(Accel::Tcg), Some("kmv"), Topo::Auto).is_ok());
    }

    #[test]
    fn only_a_guest_that_ran_selects_kvm() {
        assert_eq!(KvmProbe::from_exit(Some(3), "").accel(), Accel::Kvm);
        // kvm-pvm here: `-cpu host` aborts on the MSR (SIGABRT, so no exit status).
        let pvm = "qemu-system-x86_64: error: failed to set MSR 0x10a to 0xc000069\n\
                   kvm.c:3849: kvm_buf_set_msrs: Assertion failed.";
        let p = KvmProbe::from_exit(None, pvm);
        assert_eq!(p.accel(), Accel::Tcg);
        assert!(p.to_string().contains("MSR 0x10a"), "{p}");
        assert_eq!(KvmProbe::from_exit(Some(1), "").accel(), Accel::Tcg);
        assert_eq!(KvmProbe::from_exit(Some(0), "").accel(), Accel::Tcg);
        let stalled = KvmProbe::KernelStalled {
            last_line: "Probing EDD (edd=off to disable)... ok".into(),
        };
        for p in [
            KvmProbe::NoDevice,
            KvmProbe::NoQemu,
            KvmProbe::TimedOut,
            stalled,
        ] {
            assert_eq!(p.accel(), Accel::Tcg, "{p}");
        }
    }

    #[test]
    fn boot_sector_is_well_formed() {
        let s = probe_boot_sector();
        assert_eq!(&s[510..], &[0x55, 0xAA]);
        assert_eq!(&s[..4], &[0xB0, 0x01, 0xE6, PROBE_EXIT_PORT]);
    }

    /// Whether QEMU is here; under CI its absence fails the test, elsewhere it is a loud skip.
    fn qemu_installed() -> bool {
        if QEMU_SYSTEM.path().is_ok() {
            return true;
        }
        assert!(
            !matches!(std::env::var("CI").as_deref(), Ok("true" | "1")),
            "qemu-system-x86_64 missing under CI"
        );
        eprintln!("SKIPPED: qemu-system-x86_64 missing (Debian qemu-system-x86)");
        false
    }

    /// The probe's guest code really runs and exits through the device: checked under TCG,
    /// which works everywhere QEMU is installed (CI installs it for the lab).
    #[test]
    fn probe_sector_exits_through_the_device_under_tcg() {
        if !qemu_installed() {
            return;
        }
        let p = run_probe(&["-accel", "tcg", "-cpu", "qemu64"]);
        assert_eq!(p, KvmProbe::Booted);
    }

    /// A file that is no kernel prints no banner, so it never selects KVM (checked under TCG).
    #[test]
    fn a_kernel_that_prints_no_banner_is_not_booted() {
        if !qemu_installed() {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let not_a_kernel = dir.path().join("vmlinuz");
        std::fs::write(&not_a_kernel, [0u8; 4096]).expect("write");
        let p = run_kernel_probe(&not_a_kernel, &["-accel", "tcg", "-cpu", "qemu64"]);
        assert_ne!(p, KvmProbe::Booted, "{p}");
        assert_eq!(p.accel(), Accel::Tcg);
    }

    #[test]
    fn parses_overrides() {
        assert_eq!("KVM".parse::<Accel>(), Ok(Accel::Kvm));
        assert_eq!("qemu".parse::<Accel>(), Ok(Accel::Tcg));
        assert!("xen".parse::<Accel>().is_err());
    }
}
