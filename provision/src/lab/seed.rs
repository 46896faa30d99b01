//! cloud-init NoCloud seeds: per guest a `cidata` ISO with user-data, meta-data and
//! network-config.
//!
//! The seed gives the guest its hostname, its static address from the topology, the lab's
//! login key for root, and the Ed25519 host key the transport pins. Because it holds a private
//! key, every seed file is created 0600. Strings are emitted as JSON string literals, which are
//! valid YAML double-quoted scalars, so no value can break the document's structure. Tests run
//! the user-data through `cloud-init schema --config-file`.

use std::path::{Path, PathBuf};

use super::LabError;
use super::keys::write_private;
use super::spec::{LabSpec, VmSpec};
use super::tool::GENISOIMAGE;

/// The three NoCloud documents of one guest.
#[derive(Debug, Clone)]
pub struct SeedDocs {
    /// `#cloud-config` user-data (contains the host's private key).
    pub user_data: String,
    /// meta-data: instance id and local hostname.
    pub meta_data: String,
    /// Network config version 2: one NIC matched by MAC, static address, no gateway.
    pub network_config: String,
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Renders the seed documents for `vm`.
///
/// `authorized_key` is the lab's client public key line; `host_private`/`host_public` are the
/// guest's pinned Ed25519 host key in OpenSSH form.
pub fn render(
    spec: &LabSpec,
    vm: &VmSpec,
    authorized_key: &str,
    host_private: &str,
    host_public: &str,
) -> SeedDocs {
    let user_data = format!(
        "#cloud-config\n\
         hostname: {host}\n\
         fqdn: {fqdn}\n\
         prefer_fqdn_over_hostname: false\n\
         manage_etc_hosts: true\n\
         locale: \"C.UTF-8\"\n\
         disable_root: false\n\
         ssh_pwauth: false\n\
         ssh_deletekeys: true\n\
         ssh_genkeytypes: [ed25519]\n\
         ssh_keys:\n  ed25519_private: {private}\n  ed25519_public: {public}\n\
         users:\n  - name: root\n    lock_passwd: true\n    ssh_authorized_keys:\n      - {auth}\n",
        host = q(&vm.host),
        fqdn = q(&vm.fqdn),
        private = q(host_private),
        public = q(host_public.trim()),
        auth = q(authorized_key.trim()),
    );
    // `dsmode: local` makes cloud-init's first (pre-network) stage apply the whole seed, the
    // pinned host key included; the lab's image masks the later stages (vm-images/build.sh),
    // because each is a Python start that costs 10-35 s of a TCG boot.
    let meta_data = format!(
        "instance-id: {}\nlocal-hostname: {}\ndsmode: local\n",
        q(&vm.domain),
        q(&vm.host)
    );
    let network_config = format!(
        "version: 2\n\
         ethernets:\n  eth0:\n    match:\n      macaddress: {mac}\n    set-name: eth0\n    \
         addresses:\n      - {addr}\n",
        mac = q(&vm.mac),
        addr = q(&format!("{}/{}", vm.address, spec.prefix)),
    );
    SeedDocs {
        user_data,
        meta_data,
        network_config,
    }
}

/// Writes the documents into `dir` (0600 each) and builds `dir/seed.iso` (volume id `cidata`,
/// which is how NoCloud finds it). Returns the ISO's path.
pub fn build_iso(dir: &Path, docs: &SeedDocs) -> Result<PathBuf, LabError> {
    let files = [
        ("user-data", &docs.user_data),
        ("meta-data", &docs.meta_data),
        ("network-config", &docs.network_config),
    ];
    for (name, text) in files {
        write_private(&dir.join(name), text.as_bytes())?;
    }
    let iso = dir.join("seed.iso");
    // Created 0600 before genisoimage opens it, so the host key is never world-readable.
    write_private(&iso, b"")?;
    let mut args: Vec<String> = vec!["-quiet".into(), "-output".into()];
    args.push(iso.display().to_string());
    for a in ["-volid", "cidata", "-joliet", "-rock"] {
        args.push(a.into());
    }
    for (name, _) in files {
        args.push(dir.join(name).display().to_string());
    }
    GENISOIMAGE.run(args)?;
    Ok(iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_cloud_config_with_pinned_key() {
        let cluster = topology::default_cluster().unwrap_or_else(|e| panic!("{e:?}"));
        let spec = LabSpec::from_cluster(&cluster, 1, 2048).unwrap_or_else(|e| panic!("{e}"));
        let docs = render(
            &spec,
            &spec.vms[1],
            "ssh-ed25519 AAAA lab",
            "-----BEGIN\nx\n",
            "ssh-ed25519 BBBB",
        );
        assert!(docs.user_data.starts_with("#cloud-config\n"));
        assert!(docs.user_data.contains("hostname: \"cloudserver1\""));
        assert!(
            docs.user_data
                .contains("ed25519_private: \"-----BEGIN\\nx\\n\"")
        );
        assert!(docs.network_config.contains("\"10.77.0.12/24\""));
        assert!(docs.meta_data.contains("local-hostname: \"cloudserver1\""));
        assert!(docs.meta_data.lines().any(|l| l == "dsmode: local"));
    }
}
