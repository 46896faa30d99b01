//! What each host should have after `apply`: the rendered files sorted into phases, with their
//! owners, and the packages, units and kernel settings each phase needs on that host.
//!
//! Everything here derives from the render tree and the topology, so `plan` and `apply` cannot
//! disagree with `render`: a rendered file that no phase claims is an error, not a file that
//! silently never reaches its host.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use topology::{Cluster, Pool, Role};

use crate::host::Owner;
use crate::render::ceph_lab::CephLab;
use crate::render::etcd::{CLIENT_PORT, EtcdLayout, HEALTHCHECK_STEM};
use crate::render::{FileContents, Rendered, RenderedFile};

/// The order apply works in; each phase finishes (and verifies) before the next starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Kernel modules, sysctls, swap off, containerd and chrony.
    Prepare,
    /// The external etcd cluster with its TLS PKI.
    Etcd,
    /// keepalived and haproxy for the API VIP.
    Vip,
    /// Ceph's configuration on every Ceph host, and the monitors (the lab only: real hosts
    /// get Ceph from Rook in the Kubernetes phase).
    CephMons,
    /// Ceph's managers, OSDs and pools (the lab only).
    Ceph,
    /// kubeadm init and joins.
    Kubernetes,
}

impl Phase {
    /// Every phase in apply order.
    pub const ALL: [Phase; 6] = [
        Phase::Prepare,
        Phase::Etcd,
        Phase::Vip,
        Phase::CephMons,
        Phase::Ceph,
        Phase::Kubernetes,
    ];

    /// The phase's name in output.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Etcd => "etcd",
            Phase::Vip => "vip",
            Phase::CephMons => "ceph-mons",
            Phase::Ceph => "ceph",
            Phase::Kubernetes => "kubernetes",
        }
    }

    /// The phase a rendered host file belongs to, by where it goes on the host.
    pub fn of_path(path: &Path) -> Option<Phase> {
        const PREFIXES: [(&str, Phase); 14] = [
            ("/etc/modules-load.d/", Phase::Prepare),
            ("/etc/sysctl.d/", Phase::Prepare),
            ("/etc/containerd/", Phase::Prepare),
            ("/etc/chrony/", Phase::Prepare),
            ("/etc/ceph/", Phase::CephMons),
            ("/var/lib/ceph/mgr/", Phase::Ceph),
            ("/var/lib/ceph/bootstrap-osd/", Phase::Ceph),
            (
                "/etc/systemd/system/spofless-swapoff.service",
                Phase::Prepare,
            ),
            ("/etc/etcd/", Phase::Etcd),
            ("/etc/default/etcd", Phase::Etcd),
            ("/etc/systemd/system/etcd.service", Phase::Etcd),
            ("/etc/haproxy/", Phase::Vip),
            ("/etc/keepalived/", Phase::Vip),
            ("/etc/kubernetes/", Phase::Kubernetes),
        ];
        let text = path.to_str()?;
        PREFIXES
            .iter()
            .find(|(prefix, _)| text == *prefix || text.starts_with(prefix))
            .map(|(_, phase)| *phase)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happens to a running unit when one of its files changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnChange {
    /// Restart on every host at once (nothing depends on this unit across hosts).
    Restart,
    /// Restart one host at a time, each gated on the phase's cluster check (etcd quorum, one
    /// VIP holder): k0sctl once lost etcd quorum by restarting every controller together
    /// (k0sctl PR #1148).
    RollingRestart,
    /// Nothing to restart (a oneshot unit whose effect the phase checks directly).
    Nothing,
}

/// A systemd unit a phase enables and starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredUnit {
    /// Unit name (`etcd.service`).
    pub name: String,
    /// What a change to one of `files` does to the running unit.
    pub on_change: OnChange,
    /// Start without waiting for readiness (etcd's first member waits for its peers: the
    /// phase's cluster check is the wait).
    pub no_block: bool,
    /// Rendered files whose change needs this unit restarted.
    pub files: Vec<PathBuf>,
}

/// One file a host should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredFile {
    /// Absolute path on the host.
    pub path: PathBuf,
    /// Permission bits.
    pub mode: u32,
    /// Owner and group.
    pub owner: Owner,
    /// Hex SHA-256 of the contents (what inspection compares).
    pub sha256: String,
    /// The contents (a secret's `Debug` is redacted).
    pub contents: FileContents,
}

/// What one phase needs on one host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostPhase {
    /// Debian packages that must be installed.
    pub packages: Vec<String>,
    /// Programs that must exist before the phase can run at all (otherwise it is skipped).
    pub requires: Vec<String>,
    /// Files, in path order.
    pub files: Vec<DesiredFile>,
    /// Kernel modules that must be loaded.
    pub modules: Vec<String>,
    /// Sysctl keys and the values they must have.
    pub sysctls: Vec<(String, String)>,
    /// Whether swap must be off.
    pub swap_off: bool,
    /// Units to enable and keep running.
    pub units: Vec<DesiredUnit>,
    /// The Ceph monitor this host runs (its id, the host name).
    pub ceph_mon: Option<String>,
    /// Disks this host gives Ceph as OSDs, with the fsid of the OSD each carries.
    pub osd_devices: Vec<(String, String)>,
    /// Pools this host creates (the first monitor host, in the Ceph phase).
    pub pools: Vec<Pool>,
    /// Why the phase cannot run on any target yet, if so.
    pub unsupported: Option<String>,
}

/// Everything one host should have, by phase.
#[derive(Debug, Clone, PartialEq)]
pub struct HostDesired {
    /// Topology host name.
    pub host: String,
    /// Phases with work on this host, in apply order.
    pub phases: BTreeMap<Phase, HostPhase>,
}

/// How apply checks the etcd cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdCheck {
    /// Member names in topology order.
    pub members: Vec<String>,
    /// Client URLs of every member.
    pub endpoints: Vec<String>,
    /// CA, client certificate and key (the rendered healthcheck client) on the members.
    pub tls: [PathBuf; 3],
}

/// How apply checks the API VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipCheck {
    /// The virtual address.
    pub vip: std::net::IpAddr,
    /// The port haproxy listens on at the VIP.
    pub port: u16,
    /// The interface keepalived adds the VIP to.
    pub interface: String,
    /// Hosts that run keepalived.
    pub holders: Vec<String>,
}

/// How apply checks the lab's Ceph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephCheck {
    /// Monitor hosts (also their ids), in topology order.
    pub mons: Vec<String>,
    /// OSDs expected up and in (one per disk).
    pub osds: usize,
}

/// The whole desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// Every host, in topology order.
    pub hosts: Vec<HostDesired>,
    /// The etcd cluster check, when the topology has etcd hosts.
    pub etcd: Option<EtcdCheck>,
    /// The VIP check, when the topology has control-plane hosts.
    pub vip: Option<VipCheck>,
    /// The Ceph check, when apply deploys Ceph (the lab).
    pub ceph: Option<CephCheck>,
}

/// Why the desired state could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// A rendered file no phase claims.
    #[error(
        "rendered file {path} for host {host} belongs to no apply phase (a renderer added a \
         path apply does not know; add it to Phase::of_path)"
    )]
    Unclaimed {
        /// The host.
        host: String,
        /// The file.
        path: PathBuf,
    },
    /// A rendered file for a host the topology does not have.
    #[error("rendered file {path} is for host {host}, which is not in the topology")]
    UnknownHost {
        /// The host.
        host: String,
        /// The file.
        path: PathBuf,
    },
}

/// Packages each phase needs (Debian names; the lab image's `ha` layer carries them).
fn phase_packages(phase: Phase) -> &'static [&'static str] {
    match phase {
        Phase::Prepare => &["containerd", "chrony", "kmod", "procps"],
        Phase::Etcd => &["etcd-server", "etcd-client"],
        // curl: the rendered keepalived check script calls /usr/bin/curl.
        Phase::Vip => &["haproxy", "keepalived", "curl"],
        Phase::CephMons => &["ceph-mon", "ceph-common"],
        Phase::Ceph | Phase::Kubernetes => &[],
    }
}

/// The `User=` of a rendered unit, if any.
fn unit_user(unit: &str) -> Option<&str> {
    unit.lines()
        .find_map(|l| l.trim().strip_prefix("User="))
        .map(str::trim)
}

/// Non-comment lines of a `modules-load.d` file.
fn modules_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(str::to_owned)
        .collect()
}

/// `key = value` lines of a `sysctl.d` file.
fn sysctls_of(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn files_under(files: &[DesiredFile], prefix: &str) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| f.path.to_str().is_some_and(|p| p.starts_with(prefix)))
        .map(|f| f.path.clone())
        .collect()
}

fn unit(name: &str, on_change: OnChange, files: Vec<PathBuf>) -> DesiredUnit {
    DesiredUnit {
        name: name.to_owned(),
        on_change,
        no_block: false,
        files,
    }
}

/// Fills in the units, modules and settings a phase needs from its files.
fn complete(phase: Phase, hp: &mut HostPhase) {
    if hp.packages.is_empty() {
        hp.packages = phase_packages(phase)
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
    }
    match phase {
        Phase::Prepare => {
            for f in &hp.files {
                let text = f.contents.public_text().unwrap_or_default();
                let p = f.path.to_string_lossy();
                if p.starts_with("/etc/modules-load.d/") {
                    hp.modules.extend(modules_of(text));
                } else if p.starts_with("/etc/sysctl.d/") {
                    hp.sysctls.extend(sysctls_of(text));
                } else if p.ends_with("spofless-swapoff.service") {
                    hp.swap_off = true;
                }
            }
            let containerd = files_under(&hp.files, "/etc/containerd/");
            let chrony = files_under(&hp.files, "/etc/chrony/");
            hp.units = vec![
                unit("containerd.service", OnChange::Restart, containerd),
                unit("chrony.service", OnChange::Restart, chrony),
            ];
            if hp.swap_off {
                hp.units.push(unit(
                    "spofless-swapoff.service",
                    OnChange::Nothing,
                    Vec::new(),
                ));
            }
        }
        Phase::Etcd => {
            let all = hp.files.iter().map(|f| f.path.clone()).collect();
            let mut etcd = unit("etcd.service", OnChange::RollingRestart, all);
            etcd.no_block = true;
            hp.units = vec![etcd];
        }
        Phase::Vip => {
            hp.units = vec![
                unit(
                    "haproxy.service",
                    OnChange::RollingRestart,
                    files_under(&hp.files, "/etc/haproxy/"),
                ),
                unit(
                    "keepalived.service",
                    OnChange::RollingRestart,
                    files_under(&hp.files, "/etc/keepalived/"),
                ),
            ];
        }
        Phase::Kubernetes => {
            hp.requires = vec!["kubeadm".to_owned(), "kubelet".to_owned()];
        }
        Phase::CephMons => {
            if hp.ceph_mon.is_none() {
                hp.packages = vec!["ceph-common".to_owned()];
            }
            if let Some(id) = &hp.ceph_mon {
                let conf = files_under(&hp.files, "/etc/ceph/ceph.conf");
                hp.units = vec![
                    unit("ceph.target", OnChange::Nothing, Vec::new()),
                    unit("ceph-mon.target", OnChange::Nothing, Vec::new()),
                    unit(
                        &format!("ceph-mon@{id}.service"),
                        OnChange::RollingRestart,
                        conf,
                    ),
                ];
            }
        }
        Phase::Ceph => {}
    }
}

/// The Ceph phase's units on a host: managers restart when their keyring changes; OSDs are
/// created and started by `ceph-volume` (their ids are the cluster's to give).
fn ceph_units(host: &str, hp: &mut HostPhase, mgr: bool) {
    hp.packages = vec!["ceph-common".to_owned()];
    if mgr {
        hp.packages.push("ceph-mgr".to_owned());
    }
    if !hp.osd_devices.is_empty() {
        hp.packages
            .extend(["ceph-osd".to_owned(), "lvm2".to_owned()]);
    }
    hp.units
        .push(unit("ceph.target", OnChange::Nothing, Vec::new()));
    if mgr {
        let keyring = files_under(&hp.files, "/var/lib/ceph/mgr/");
        hp.units
            .push(unit("ceph-mgr.target", OnChange::Nothing, Vec::new()));
        hp.units.push(unit(
            &format!("ceph-mgr@{host}.service"),
            OnChange::Restart,
            keyring,
        ));
    }
    if !hp.osd_devices.is_empty() {
        hp.units
            .push(unit("ceph-osd.target", OnChange::Nothing, Vec::new()));
    }
}

/// What only the lab gets: Ceph from Debian's packages, and guest clocks synchronised to one
/// guest (the lab has no route to an NTP server; Ceph's monitors need clocks within 50 ms).
#[derive(Debug, Clone, PartialEq)]
pub struct LabExtras {
    /// The lab's Ceph.
    pub ceph: CephLab,
    /// Extra host files (chrony), by host.
    pub files: Vec<(String, RenderedFile)>,
}

impl LabExtras {
    /// Renders the lab's extras for `cluster`, drawing Ceph's keys and fsid from `store`.
    pub fn render(
        cluster: &Cluster,
        store: &crate::secrets::SecretStore,
    ) -> Result<Self, crate::render::RenderError> {
        Ok(LabExtras {
            ceph: crate::render::ceph_lab::render(cluster, store)?,
            files: crate::render::lab_time::render(cluster),
        })
    }
}

/// Derives every host's desired state from `rendered` for `cluster`; `lab` adds what only the
/// lab gets.
pub fn desired(
    cluster: &Cluster,
    rendered: &Rendered,
    lab: Option<&LabExtras>,
) -> Result<Desired, DesiredError> {
    let mut hosts: Vec<HostDesired> = cluster
        .spec
        .hosts
        .iter()
        .map(|h| HostDesired {
            host: h.name.clone(),
            phases: BTreeMap::new(),
        })
        .collect();
    let etcd_user = rendered
        .tree
        .iter()
        .find(|(_, f)| f.path == Path::new("/etc/systemd/system/etcd.service"))
        .and_then(|(_, f)| f.contents.public_text().and_then(unit_user))
        .map(str::to_owned);
    let tree_files = rendered.tree.iter().filter_map(|(rel, file)| {
        let mut parts = rel.components();
        // Cluster manifests (outside hosts/) are applied through Kubernetes.
        (parts.next()?.as_os_str().to_str()? == "hosts")
            .then(|| Some((parts.next()?.as_os_str().to_str()?.to_owned(), file)))?
    });
    let extra_files = lab
        .into_iter()
        .flat_map(|l| l.files.iter().chain(&l.ceph.files))
        .map(|(h, f)| (h.clone(), f));
    for (host, file) in tree_files.chain(extra_files) {
        let entry =
            hosts
                .iter_mut()
                .find(|h| h.host == host)
                .ok_or_else(|| DesiredError::UnknownHost {
                    host: host.clone(),
                    path: file.path.clone(),
                })?;
        let phase = Phase::of_path(&file.path).ok_or_else(|| DesiredError::Unclaimed {
            host: host.clone(),
            path: file.path.clone(),
        })?;
        // etcd runs as the unit's `User=` and must read its own keys (0600); Debian's Ceph
        // daemons run as `ceph` and a manager reads its keyring itself (the monitors' seed keyring
        // stays root's: mkfs gets a copy that is deleted after).
        let owner = match (&etcd_user, file.path.starts_with("/etc/etcd/")) {
            (Some(user), true) => Owner::new(user.clone(), user.clone()),
            _ if file.path.starts_with("/var/lib/ceph/mgr/") => Owner::new("ceph", "ceph"),
            _ => Owner::root(),
        };
        entry
            .phases
            .entry(phase)
            .or_default()
            .files
            .push(DesiredFile {
                path: file.path.clone(),
                mode: file.mode,
                owner,
                sha256: sha256_hex(file.contents.as_bytes()),
                contents: file.contents.clone(),
            });
    }
    let first_mon = cluster
        .hosts_with(Role::CephMon)
        .next()
        .map(|h| h.name.clone());
    for (host, model) in hosts.iter_mut().zip(&cluster.spec.hosts) {
        let ceph_roles = [Role::CephMon, Role::CephMgr, Role::CephOsd];
        if ceph_roles.iter().any(|r| model.has_role(*r)) {
            match lab {
                None => {
                    host.phases.entry(Phase::Ceph).or_default().unsupported = Some(
                        "real hosts get Ceph from Rook (manifests/40-rook-*, 41-rook) in the \
                         Kubernetes phase"
                            .to_owned(),
                    );
                }
                Some(lab) => {
                    let name = host.host.clone();
                    let mons = host.phases.entry(Phase::CephMons).or_default();
                    mons.ceph_mon = model.has_role(Role::CephMon).then(|| name.clone());
                    let ceph = host.phases.entry(Phase::Ceph).or_default();
                    ceph.osd_devices = lab
                        .ceph
                        .osds
                        .iter()
                        .filter(|(h, _, _)| *h == name)
                        .map(|(_, d, id)| (d.clone(), id.clone()))
                        .collect();
                    if first_mon.as_deref() == Some(name.as_str()) {
                        ceph.pools = lab.ceph.pools.clone();
                    }
                    ceph_units(&name, ceph, lab.ceph.mgrs.contains(&name));
                }
            }
        }
        if model.has_role(Role::ControlPlane) || model.has_role(Role::Worker) {
            host.phases.entry(Phase::Kubernetes).or_default();
        }
        for (phase, hp) in host.phases.iter_mut() {
            complete(*phase, hp);
        }
    }
    Ok(Desired {
        etcd: etcd_check(cluster),
        vip: vip_check(cluster),
        ceph: lab.map(|l| CephCheck {
            mons: l.ceph.mons.iter().map(|(h, _)| h.clone()).collect(),
            osds: l.ceph.osds.len(),
        }),
        hosts,
    })
}

fn etcd_check(cluster: &Cluster) -> Option<EtcdCheck> {
    let members: Vec<_> = cluster.hosts_with(Role::Etcd).collect();
    if members.is_empty() {
        return None;
    }
    let layout = EtcdLayout::debian();
    Some(EtcdCheck {
        members: members.iter().map(|h| h.name.clone()).collect(),
        endpoints: members
            .iter()
            .map(|h| crate::render::etcd::url(h.address, CLIENT_PORT))
            .collect(),
        tls: [
            layout.ca_cert(),
            layout.cert(HEALTHCHECK_STEM),
            layout.key(HEALTHCHECK_STEM),
        ],
    })
}

fn vip_check(cluster: &Cluster) -> Option<VipCheck> {
    let holders: Vec<String> = cluster
        .hosts_with(Role::ControlPlane)
        .map(|h| h.name.clone())
        .collect();
    (!holders.is_empty()).then(|| VipCheck {
        vip: cluster.spec.api_endpoint.vip,
        port: cluster.spec.api_endpoint.port,
        interface: crate::render::vip::VRRP_INTERFACE.to_owned(),
        holders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_prefix_maps_and_unknown_paths_do_not() {
        assert_eq!(
            Phase::of_path(Path::new("/etc/etcd/pki/server.key")),
            Some(Phase::Etcd)
        );
        assert_eq!(
            Phase::of_path(Path::new("/etc/default/etcd")),
            Some(Phase::Etcd)
        );
        assert_eq!(
            Phase::of_path(Path::new("/etc/keepalived/keepalived.conf")),
            Some(Phase::Vip)
        );
        assert_eq!(Phase::of_path(Path::new("/etc/passwd")), None);
    }

    #[test]
    fn sysctl_and_module_files_parse() {
        assert_eq!(
            sysctls_of("# c\nnet.ipv4.ip_forward = 1\n\nkernel.x=2\n"),
            vec![
                ("net.ipv4.ip_forward".to_owned(), "1".to_owned()),
                ("kernel.x".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(
            modules_of("# c\noverlay\n br_netfilter \n"),
            ["overlay", "br_netfilter"]
        );
        assert_eq!(unit_user("[Service]\nUser=etcd\n"), Some("etcd"));
    }
}
