//! libvirt domain and network XML for the lab, built as text with every value escaped.
//!
//! Careful string building rather than a serde model: the documents are small and fixed in
//! shape, and reading the XML here is the easiest way to review what libvirt gets. Tests run
//! every document through `virt-xml-validate` (libvirt's Relax-NG schemas).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::accel::Accel;
use super::spec::{LabSpec, VmSpec};

/// QEMU translation-block cache under TCG, in MiB. QEMU's default (1 GiB) made each guest's
/// RSS 1.6 GB here; 128 MiB keeps it near 700 MB (LAB-NOTES, measured).
pub const TCG_TB_CACHE_MIB: u32 = 128;

/// XML namespace of the lab's `<metadata>` element, which marks domains as the lab's.
pub const METADATA_NS: &str = "https://spofless.dev/xmlns/lab/1";

/// Kernel command line for direct kernel boot. `net.ifnames=0` keeps the NIC `eth0`;
/// `quiet` and a serial console keep TCG from spending time on a framebuffer;
/// `no_timer_check` skips the IO-APIC timer check, which under TCG on a loaded host panicked
/// the kernel here ("IO-APIC + timer doesn't work!"); the floppy driver only probes an absent
/// drive. `mitigations=off` drops the kernel's speculative-execution mitigations (retpolines,
/// barriers), which TCG pays for in translated code: a lab guest is disposable and reachable
/// only from the lab's own network (in isolated mode a private network namespace with nothing
/// routed in or out), and runs only the lab's own workloads. For the same reason two more
/// hardening defaults of Debian's kernel are off: `init_on_alloc=0` (Debian builds with
/// `CONFIG_INIT_ON_ALLOC_DEFAULT_ON=y`, which zeroes every page and slab object as it is
/// allocated, a memset TCG emulates instruction by instruction) and `audit=0` (no audit
/// records for journald to take in while the guest boots).
pub const KERNEL_CMDLINE: &str = "root=LABEL=root rw console=ttyS0 net.ifnames=0 quiet \
     no_timer_check modprobe.blacklist=floppy mitigations=off init_on_alloc=0 audit=0";

/// Files one guest boots from.
#[derive(Debug, Clone)]
pub struct DomainFiles {
    /// Kernel image (from the cached image).
    pub kernel: PathBuf,
    /// Initial ramdisk (from the cached image).
    pub initrd: PathBuf,
    /// The guest's copy-on-write overlay (qcow2) on the base image.
    pub overlay: PathBuf,
    /// Extra disks (qcow2), in the order of [`VmSpec::disks`].
    pub disks: Vec<PathBuf>,
    /// The NoCloud seed ISO.
    pub seed: PathBuf,
    /// Serial console log.
    pub console_log: PathBuf,
}

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn p(path: &Path) -> String {
    escape(&path.to_string_lossy())
}

/// The lab network: a bridge with the lab's gateway address, no forwarding (isolated: nothing
/// routed to or from the outside), no DNS and no DHCP (guests have static addresses), so
/// libvirt starts no dnsmasq.
pub fn network_xml(spec: &LabSpec) -> String {
    let mut x = String::new();
    let _ = writeln!(x, "<network>");
    let _ = writeln!(x, "  <name>{}</name>", escape(&spec.network));
    let _ = writeln!(
        x,
        "  <bridge name='{}' stp='off' delay='0'/>",
        escape(&spec.bridge)
    );
    let _ = writeln!(x, "  <dns enable='no'/>");
    let _ = writeln!(
        x,
        "  <ip address='{}' prefix='{}'/>",
        spec.gateway, spec.prefix
    );
    let _ = writeln!(x, "</network>");
    x
}

/// The `<interface>` element of a guest, with its link `up` or `down` (`lab fault isolate`
/// updates the live device with `down`).
pub fn interface_xml(spec: &LabSpec, vm: &VmSpec, link_up: bool) -> String {
    format!(
        "<interface type='network'>\n  <mac address='{}'/>\n  <source network='{}'/>\n  \
         <model type='virtio'/>\n  <link state='{}'/>\n</interface>\n",
        escape(&vm.mac),
        escape(&spec.network),
        if link_up { "up" } else { "down" }
    )
}

/// A guest: direct kernel boot, virtio disks (overlay, extra disks, seed), one NIC on the lab
/// network, serial console to a file, no graphics.
pub fn domain_xml(spec: &LabSpec, vm: &VmSpec, accel: Accel, files: &DomainFiles) -> String {
    let mut x = String::new();
    let _ = writeln!(x, "<domain type='{}'>", accel.domain_type());
    let _ = writeln!(x, "  <name>{}</name>", escape(&vm.domain));
    let _ = writeln!(x, "  <metadata>");
    let _ = writeln!(
        x,
        "    <spofless:lab xmlns:spofless='{METADATA_NS}' name='{}' host='{}'/>",
        escape(&spec.name),
        escape(&vm.host)
    );
    let _ = writeln!(x, "  </metadata>");
    let _ = writeln!(x, "  <memory unit='MiB'>{}</memory>", spec.memory_mib);
    let _ = writeln!(x, "  <vcpu>{}</vcpu>", spec.vcpus);
    let _ = writeln!(x, "  <os>");
    let _ = writeln!(x, "    <type arch='x86_64'>hvm</type>");
    let _ = writeln!(x, "    <kernel>{}</kernel>", p(&files.kernel));
    let _ = writeln!(x, "    <initrd>{}</initrd>", p(&files.initrd));
    let _ = writeln!(x, "    <cmdline>{}</cmdline>", escape(KERNEL_CMDLINE));
    let _ = writeln!(x, "  </os>");
    let _ = writeln!(x, "  <features>");
    let _ = writeln!(x, "    <acpi/>");
    if accel == Accel::Tcg {
        let _ = writeln!(x, "    <tcg>");
        let _ = writeln!(
            x,
            "      <tb-cache unit='MiB'>{TCG_TB_CACHE_MIB}</tb-cache>"
        );
        let _ = writeln!(x, "    </tcg>");
    }
    let _ = writeln!(x, "  </features>");
    match accel {
        Accel::Kvm => {
            let _ = writeln!(x, "  <cpu mode='host-passthrough'/>");
        }
        Accel::Tcg => {
            // Every feature TCG emulates (QEMU's `-cpu max`, libvirt >= 7.1), as real hosts
            // have: under the default qemu64 model (SSE3 at most) Debian's Ceph dies with
            // SIGILL in gf-complete's gf_init_hard while preloading the jerasure plugin.
            // check='none': libvirt would otherwise compare the model with the host CPU.
            let _ = writeln!(x, "  <cpu mode='maximum' check='none'/>");
        }
        Accel::Test => {}
    }
    let _ = writeln!(x, "  <clock offset='utc'/>");
    let _ = writeln!(x, "  <on_poweroff>destroy</on_poweroff>");
    let _ = writeln!(x, "  <on_reboot>restart</on_reboot>");
    let _ = writeln!(x, "  <on_crash>destroy</on_crash>");
    let _ = writeln!(x, "  <devices>");
    disk(&mut x, &files.overlay, "qcow2", "vda", false);
    for ((dev, _), path) in vm.disks.iter().zip(&files.disks) {
        disk(&mut x, path, "qcow2", dev, false);
    }
    // The seed goes last so the OSD disks keep the device names the topology gives them.
    disk(&mut x, &files.seed, "raw", "vdz", true);
    for line in interface_xml(spec, vm, true).lines() {
        let _ = writeln!(x, "    {line}");
    }
    if accel != Accel::Test {
        let _ = writeln!(x, "    <serial type='file'>");
        let _ = writeln!(x, "      <source path='{}'/>", p(&files.console_log));
        let _ = writeln!(x, "      <target port='0'/>");
        let _ = writeln!(x, "    </serial>");
        let _ = writeln!(x, "    <console type='file'>");
        let _ = writeln!(x, "      <source path='{}'/>", p(&files.console_log));
        let _ = writeln!(x, "      <target type='serial' port='0'/>");
        let _ = writeln!(x, "    </console>");
        let _ = writeln!(x, "    <rng model='virtio'>");
        let _ = writeln!(x, "      <backend model='random'>/dev/urandom</backend>");
        let _ = writeln!(x, "    </rng>");
        let _ = writeln!(x, "    <memballoon model='none'/>");
    }
    let _ = writeln!(x, "  </devices>");
    let _ = writeln!(x, "</domain>");
    x
}

fn disk(x: &mut String, path: &Path, format: &str, dev: &str, readonly: bool) {
    let _ = writeln!(x, "    <disk type='file' device='disk'>");
    let _ = writeln!(x, "      <driver name='qemu' type='{format}'/>");
    let _ = writeln!(x, "      <source file='{}'/>", p(path));
    let _ = writeln!(x, "      <target dev='{}' bus='virtio'/>", escape(dev));
    if readonly {
        let _ = writeln!(x, "      <readonly/>");
    }
    let _ = writeln!(x, "    </disk>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
    }
}
