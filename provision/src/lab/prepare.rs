//! Per-guest files: keys, `known_hosts`, cloud-init seeds, qcow2 overlays and extra disks.
//!
//! Everything here lives under the lab's state directory (one folder per guest) and is
//! recorded in the state file before any libvirt object refers to it, so `lab down` can remove
//! it. Keys are reused across runs; overlays and seeds are created fresh by every `lab up`.

use std::path::Path;

use super::LabError;
use super::guest::{client_key_path, host_key_path, known_hosts_path};
use super::image::Image;
use super::keys;
use super::seed;
use super::spec::LabSpec;
use super::tool::QEMU_IMG;
use super::xml::DomainFiles;

/// Creates keys and `known_hosts`, then for each guest its seed ISO, overlay and disks.
/// `record` is called with each guest directory before anything is written into it.
pub fn prepare(
    spec: &LabSpec,
    state_dir: &Path,
    image: &Image,
    record: &mut dyn FnMut(&Path) -> Result<(), LabError>,
) -> Result<Vec<DomainFiles>, LabError> {
    keys::traverse_only_dir(state_dir)?;
    keys::traverse_only_dir(&state_dir.join("vms"))?;
    let client = keys::load_or_create(&client_key_path(state_dir), "spofless-lab")?;
    let authorized = keys::public_line(client.public_key())?;
    let mut pins = Vec::new();
    let mut out = Vec::new();
    for vm in &spec.vms {
        let host_key = keys::load_or_create(&host_key_path(state_dir, &vm.host), &vm.fqdn)?;
        let host_public = keys::public_line(host_key.public_key())?;
        pins.push((vm.address.to_string(), host_key.public_key().clone()));
        let dir = spec.vm_dir(state_dir, vm);
        record(&dir)?;
        let _ = std::fs::remove_dir_all(&dir);
        // 0711: QEMU (which may run as another user in workstation mode) can open the files
        // libvirt hands it but cannot list the directory; the seed itself stays 0600.
        keys::traverse_only_dir(&dir)?;
        let docs = seed::render(
            spec,
            vm,
            &authorized,
            &keys::private_pem(&host_key)?,
            &host_public,
        );
        let seed_iso = seed::build_iso(&dir, &docs)?;
        let overlay = dir.join("root.qcow2");
        QEMU_IMG.run([
            "create".to_owned(),
            "-q".to_owned(),
            "-f".to_owned(),
            "qcow2".to_owned(),
            "-F".to_owned(),
            "qcow2".to_owned(),
            "-b".to_owned(),
            image.base.display().to_string(),
            overlay.display().to_string(),
        ])?;
        let mut disks = Vec::new();
        for (dev, gib) in &vm.disks {
            let path = dir.join(format!("disk-{dev}.qcow2"));
            let size = format!("{gib}G");
            QEMU_IMG.run([
                "create".to_owned(),
                "-q".to_owned(),
                "-f".to_owned(),
                "qcow2".to_owned(),
                path.display().to_string(),
                size,
            ])?;
            disks.push(path);
        }
        out.push(DomainFiles {
            kernel: image.kernel.clone(),
            initrd: image.initrd.clone(),
            overlay,
            disks,
            seed: seed_iso,
            console_log: dir.join("console.log"),
        });
    }
    keys::write_known_hosts(&known_hosts_path(state_dir), &pins)?;
    Ok(out)
}
