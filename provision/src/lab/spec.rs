//! What the lab will build, derived from the topology alone: names, addresses, MACs, sizes.
//!
//! Pure: no file, daemon or network is touched here, so the same [`LabSpec`] drives the XML
//! renderers, the seed builder, `lab up` and the tests. Names are derived from the cluster's
//! name so two labs of different clusters never share a domain, network or namespace.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use std::net::IpAddr;

use topology::Cluster;

use super::LabError;
use super::accel::Accel;

/// vCPUs per guest unless overridden: the "1 vCPU each" keeps five TCG guests on two
/// host cores.
pub const DEFAULT_VCPUS: u32 = 1;
/// Memory per guest in MiB unless overridden ("about 2 GiB each"). Guests touch about 220 MiB
/// at boot, so the rest is reserved, not resident.
pub const DEFAULT_MEMORY_MIB: u64 = 2048;

/// How the lab reaches its libvirt daemon and its guests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The lab's own libvirtd in a network namespace the lab creates (tests, CI).
    Isolated,
    /// An existing libvirt at `uri` (default `qemu:///system`); guests are reached over the
    /// lab network's bridge on the host.
    Workstation {
        /// libvirt connection URI.
        uri: String,
    },
}

/// Choices the topology does not (yet) carry: mode, accelerator, sizes, directories.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Isolated or workstation.
    pub mode: Mode,
    /// Accelerator from `--accel`; `None` leaves it to `SPOFLESS_LAB_ACCEL`, the topology and
    /// the KVM probe ([`Accel::resolve`], [`crate::lab::accel::probe_kvm`]).
    pub accel: Option<Accel>,
    /// vCPUs per guest.
    pub vcpus: u32,
    /// Memory per guest in MiB.
    pub memory_mib: u64,
    /// Where the lab keeps its state file, keys, overlays and seeds.
    pub state_dir: PathBuf,
    /// Where built images are cached (keyed by recipe hash).
    pub cache_dir: PathBuf,
    /// Whether the image carries the Ceph packages layer.
    pub with_ceph: bool,
}

/// One guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    /// Topology host name (also the guest's hostname).
    pub host: String,
    /// The host's fully qualified name.
    pub fqdn: String,
    /// libvirt domain name.
    pub domain: String,
    /// Static address from the topology.
    pub address: Ipv4Addr,
    /// MAC of the guest's one NIC (derived from the address, so stable across runs).
    pub mac: String,
    /// Extra raw disks (Ceph OSD disks): guest device name and size in GiB.
    pub disks: Vec<(String, u64)>,
}

/// Everything the lab creates, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSpec {
    /// Lab name (`spofless-<cluster>`), prefix of every object.
    pub name: String,
    /// libvirt network name.
    pub network: String,
    /// Bridge device (at most 15 bytes, Linux's IFNAMSIZ - 1).
    pub bridge: String,
    /// Network namespace name for isolated mode.
    pub netns: String,
    /// The bridge's own address (the lab side of the network).
    pub gateway: Ipv4Addr,
    /// Prefix length of the node subnet.
    pub prefix: u8,
    /// DNS domain of the hosts.
    pub domain: String,
    /// The guests, in topology order.
    pub vms: Vec<VmSpec>,
    /// vCPUs per guest.
    pub vcpus: u32,
    /// Memory per guest in MiB.
    pub memory_mib: u64,
}

impl LabSpec {
    /// Derives the lab from a validated topology.
    pub fn from_cluster(cluster: &Cluster, vcpus: u32, memory_mib: u64) -> Result<Self, LabError> {
        let name = format!("spofless-{}", sanitize(&cluster.metadata.name));
        let short = short_hash(&name);
        let net = cluster.spec.network.node_subnet.0;
        let (net_addr, prefix) = match net {
            ipnet::IpNet::V4(v4) => (v4.network(), v4.prefix_len()),
            ipnet::IpNet::V6(_) => {
                return Err(LabError::Topology(
                    "the lab supports IPv4 node subnets only".to_owned(),
                ));
            }
        };
        let mut vms = Vec::new();
        let mut taken = Vec::new();
        for host in &cluster.spec.hosts {
            let IpAddr::V4(address) = host.address else {
                return Err(LabError::Topology(format!(
                    "host {} has an IPv6 address; the lab supports IPv4 only",
                    host.name
                )));
            };
            taken.push(address);
            let o = address.octets();
            let disks = host
                .disks
                .iter()
                .map(|d| {
                    let dev = d.device.trim_start_matches("/dev/").to_owned();
                    (dev, d.size_gib)
                })
                .collect();
            vms.push(VmSpec {
                host: host.name.clone(),
                fqdn: cluster.fqdn(host),
                domain: format!("{name}-{}", host.name),
                address,
                mac: format!("52:54:00:{:02x}:{:02x}:{:02x}", o[1], o[2], o[3]),
                disks,
            });
        }
        if let IpAddr::V4(vip) = cluster.spec.api_endpoint.vip {
            taken.push(vip);
        }
        let gateway = first_free(net_addr, prefix, &taken).ok_or_else(|| {
            LabError::Topology(format!("no free address for the lab bridge in {net}"))
        })?;
        Ok(LabSpec {
            network: name.clone(),
            bridge: format!("spl{short}"),
            netns: format!("spofless-lab-{short}"),
            name,
            gateway,
            prefix,
            domain: cluster.spec.network.domain.clone(),
            vms,
            vcpus,
            memory_mib,
        })
    }

    /// The guest for topology host `host`.
    pub fn vm(&self, host: &str) -> Result<&VmSpec, LabError> {
        self.vms
            .iter()
            .find(|v| v.host == host)
            .ok_or_else(|| LabError::UnknownHost(host.to_owned()))
    }

    /// Directory for one guest's overlay, disks and seed under the lab's state directory.
    pub fn vm_dir(&self, state_dir: &Path, vm: &VmSpec) -> PathBuf {
        state_dir.join("vms").join(&vm.host)
    }
}

/// Keeps `[a-z0-9-]` so the name is valid for libvirt, bridges and namespaces.
fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if out.is_empty() {
        "lab".to_owned()
    } else {
        out
    }
}

/// Eight hex digits of SHA-256: short, stable, collision-unlikely names for kernel objects.
fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The lowest host address of the subnet not in `taken`.
fn first_free(net: Ipv4Addr, prefix: u8, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let base = u32::from(net);
    let size: u64 = 1u64 << (32 - u32::from(prefix.min(32)));
    (1..size.saturating_sub(1))
        .filter_map(|i| u32::try_from(i).ok())
        .map(|i| Ipv4Addr::from(base.wrapping_add(i)))
        .find(|a| !taken.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_topology_gives_five_guests_and_a_free_gateway() {
        let cluster = topology::default_cluster().unwrap_or_else(|e| panic!("{e:?}"));
        let spec = LabSpec::from_cluster(&cluster, 1, 2048).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.vms.len(), 5);
        assert_eq!(spec.gateway, Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(spec.prefix, 24);
        assert!(spec.bridge.len() <= 15);
        assert_eq!(spec.vms[0].mac, "52:54:00:4d:00:0b");
        assert_eq!(spec.vms[0].fqdn, "micklethefickle.bolabaden.org");
        assert_eq!(spec.vms[0].disks, vec![("vdb".to_owned(), 100)]);
    }

    #[test]
    fn first_free_skips_taken() {
        let net = Ipv4Addr::new(10, 0, 0, 0);
        let taken = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
        assert_eq!(
            first_free(net, 24, &taken),
            Some(Ipv4Addr::new(10, 0, 0, 3))
        );
        assert_eq!(first_free(net, 31, &taken), None);
    }
}
