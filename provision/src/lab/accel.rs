//! Choosing the guests' accelerator: KVM where the machine can really run a KVM guest, QEMU's
//! TCG otherwise.
//!
//! A `/dev/kvm` node alone proves nothing: some sandboxes expose a paravirtual stand-in
//! (`kvm-pvm`) on CPUs without vmx/svm, under which ordinary Linux guests never boot (LAB-NOTES:
//! `-cpu host` aborts on MSR 0x10a, libvirt `type='kvm'` ends `paused`). So KVM is chosen only
//! when the CPU advertises hardware virtualisation *and* the vendor KVM module is loaded.
//! Overrides, strongest first: `--accel`, `SPOFLESS_LAB_ACCEL`, the topology's
//! `spec.lab.accelerator` ([`Accel::choose`]).

use std::fmt;
use std::str::FromStr;

/// Environment variable that overrides detection (`kvm` or `tcg`).
pub const ACCEL_ENV: &str = "SPOFLESS_LAB_ACCEL";

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

impl Accel {
    /// The accelerator for a lab: the command-line choice, else [`ACCEL_ENV`], else the
    /// topology's setting, else what [`Accel::detect`] finds.
    pub fn choose(flag: Option<Accel>, topology: topology::Accelerator) -> Accel {
        flag.or_else(Accel::from_env)
            .or(match topology {
                topology::Accelerator::Auto => None,
                topology::Accelerator::Kvm => Some(Accel::Kvm),
                topology::Accelerator::Tcg => Some(Accel::Tcg),
            })
            .unwrap_or_else(Accel::detect)
    }

    /// The [`ACCEL_ENV`] override, if set to a known accelerator.
    pub fn from_env() -> Option<Accel> {
        std::env::var(ACCEL_ENV).ok().and_then(|v| v.parse().ok())
    }

    /// Probes this machine: KVM only if the CPU has vmx/svm, a vendor KVM module is loaded and
    /// `/dev/kvm` exists; TCG otherwise. An [`ACCEL_ENV`] value wins over the probe.
    pub fn detect() -> Accel {
        if let Some(a) = Accel::from_env() {
            return a;
        }
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let modules = ["/sys/module/kvm_intel", "/sys/module/kvm_amd"];
        if kvm_usable(
            &cpuinfo,
            modules.iter().any(|m| std::path::Path::new(m).exists()),
            std::path::Path::new("/dev/kvm").exists(),
        ) {
            Accel::Kvm
        } else {
            Accel::Tcg
        }
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

/// The pure decision behind [`Accel::detect`].
pub fn kvm_usable(cpuinfo: &str, vendor_module_loaded: bool, dev_kvm: bool) -> bool {
    let has_flag = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    has_flag && vendor_module_loaded && dev_kvm
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

    #[test]
    fn flag_then_topology_decide_before_the_probe() {
        // The test environment must not carry the override for this check.
        if Accel::from_env().is_some() {
            return;
        }
        let tcg = topology::Accelerator::Tcg;
        assert_eq!(Accel::choose(Some(Accel::Kvm), tcg), Accel::Kvm);
        assert_eq!(Accel::choose(None, tcg), Accel::Tcg);
        assert_eq!(Accel::choose(None, topology::Accelerator::Kvm), Accel::Kvm);
        assert_eq!(
            Accel::choose(None, topology::Accelerator::Auto),
            Accel::detect()
        );
    }

    #[test]
    fn kvm_needs_flag_module_and_device() {
        let vmx = "flags\t\t: fpu vme vmx sse\n";
        let none = "flags\t\t: fpu vme sse\n";
        assert!(kvm_usable(vmx, true, true));
        assert!(
            !kvm_usable(none, true, true),
            "kvm-pvm without vmx/svm must not count"
        );
        assert!(!kvm_usable(vmx, false, true));
        assert!(!kvm_usable(vmx, true, false));
    }

    #[test]
    fn parses_overrides() {
        assert_eq!("KVM".parse::<Accel>(), Ok(Accel::Kvm));
        assert_eq!("qemu".parse::<Accel>(), Ok(Accel::Tcg));
        assert!("xen".parse::<Accel>().is_err());
    }
}
