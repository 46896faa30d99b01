//! The lab's generated documents against the real validators: libvirt domain and network XML
//! through `virt-xml-validate` (libvirt-clients), cloud-init user-data, meta-data-free network
//! config and seed ISOs through `cloud-init schema` and `genisoimage`.

use std::path::{Path, PathBuf};
use std::process::Command;

use provision::lab::accel::Accel;
use provision::lab::spec::LabSpec;
use provision::lab::xml::{DomainFiles, domain_xml, interface_xml, network_xml};
use provision::lab::{keys, seed};

fn spec() -> LabSpec {
    let cluster = topology::default_cluster().unwrap_or_else(|e| panic!("{e:?}"));
    LabSpec::from_cluster(&cluster, 1, 2048).unwrap_or_else(|e| panic!("{e}"))
}

/// A lab tool from Debian package `package` (.ci/lab-packages.sh installs them).
fn lab_tool(program: &str, package: &str) -> PathBuf {
    testkit::tool(
        program,
        &format!("the Debian package `{package}` (.ci/lab-packages.sh)"),
    )
}

fn validate_xml(kind: &str, xml: &str) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let f = dir.path().join(format!("{kind}.xml"));
    std::fs::write(&f, xml).unwrap_or_else(|e| panic!("{e}"));
    // virt-xml-validate is a shell script around xmllint.
    lab_tool("xmllint", "libxml2-utils");
    let out = Command::new(lab_tool("virt-xml-validate", "libvirt-clients"))
        .arg(&f)
        .arg(kind)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "virt-xml-validate {kind} failed:\n{}{}\n--- document ---\n{xml}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files(dir: &Path) -> DomainFiles {
    DomainFiles {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
        overlay: dir.join("root.qcow2"),
        disks: vec![dir.join("disk-vdb.qcow2")],
        seed: dir.join("seed.iso"),
        console_log: dir.join("console.log"),
    }
}

#[test]
fn domain_xml_validates_for_every_accelerator() {
    let spec = spec();
    let f = files(Path::new("/var/lib/spofless/lab & co"));
    for accel in [Accel::Tcg, Accel::Kvm, Accel::Test] {
        for vm in &spec.vms {
            let xml = domain_xml(&spec, vm, accel, &f);
            validate_xml("domain", &xml);
        }
    }
    let tcg = domain_xml(&spec, &spec.vms[0], Accel::Tcg, &f);
    assert!(tcg.contains("<domain type='qemu'>"));
    assert!(tcg.contains("<tb-cache unit='MiB'>128</tb-cache>"));
    // Every feature TCG emulates: Debian's Ceph needs more than qemu64 (SIGILL otherwise).
    assert!(tcg.contains("<cpu mode='maximum' check='none'/>"));
    assert!(tcg.contains("lab &amp; co"), "paths are escaped");
    let kvm = domain_xml(&spec, &spec.vms[0], Accel::Kvm, &f);
    assert!(kvm.contains("<domain type='kvm'>") && !kvm.contains("tb-cache"));
}

#[test]
fn network_xml_validates_and_is_isolated() {
    let spec = spec();
    let xml = network_xml(&spec);
    validate_xml("network", &xml);
    assert!(
        !xml.contains("<forward"),
        "no forwarding: nothing routed in or out"
    );
    assert!(xml.contains("<ip address='10.77.0.1' prefix='24'/>"));
    assert!(xml.contains("<dns enable='no'/>"));
}

#[test]
fn interface_xml_fragment_is_valid_inside_a_domain() {
    let spec = spec();
    let f = files(Path::new("/tmp/x"));
    let down = interface_xml(&spec, &spec.vms[2], false);
    assert!(down.contains("<link state='down'/>"));
    let xml = domain_xml(&spec, &spec.vms[2], Accel::Tcg, &f)
        .replace("<link state='up'/>", "<link state='down'/>");
    validate_xml("domain", &xml);
}

#[test]
fn cloud_init_user_data_passes_schema_and_seed_iso_builds() {
    let spec = spec();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let client = keys::generate("lab").unwrap_or_else(|e| panic!("{e}"));
    let host = keys::generate("host").unwrap_or_else(|e| panic!("{e}"));
    let cloud_init = lab_tool("cloud-init", "cloud-init");
    for vm in &spec.vms {
        let docs = seed::render(
            &spec,
            vm,
            &keys::public_line(client.public_key()).unwrap_or_else(|e| panic!("{e}")),
            &keys::private_pem(&host).unwrap_or_else(|e| panic!("{e}")),
            &keys::public_line(host.public_key()).unwrap_or_else(|e| panic!("{e}")),
        );
        let ud = dir.path().join(format!("{}-user-data", vm.host));
        keys::write_private(&ud, docs.user_data.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let out = Command::new(&cloud_init)
            .args(["schema", "--config-file"])
            .arg(&ud)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "cloud-init schema rejected user-data of {}:\n{}{}",
            vm.host,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            docs.network_config
                .contains(&format!("\"{}/24\"", vm.address))
        );
    }
    let vm_dir = dir.path().join("vm");
    keys::private_dir(&vm_dir).unwrap_or_else(|e| panic!("{e}"));
    let docs = seed::render(
        &spec,
        &spec.vms[0],
        "ssh-ed25519 AAAA x",
        "k",
        "ssh-ed25519 BBBB",
    );
    lab_tool("genisoimage", "genisoimage");
    let iso = seed::build_iso(&vm_dir, &docs).unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&iso)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o600, "the seed holds a private host key");
    let bytes = std::fs::read(&iso).unwrap_or_else(|e| panic!("{e}"));
    assert!(bytes.len() > 32 * 1024);
    assert!(
        bytes.windows(6).any(|w| w == b"cidata"),
        "volume id cidata (NoCloud)"
    );
}
