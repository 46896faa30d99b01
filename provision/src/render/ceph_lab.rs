//! Ceph from Debian's packages on the lab's guests, with the daemon layout the topology gives
//! Rook: a monitor on every `ceph-mon` host, a manager on every `ceph-mgr` host, one OSD per
//! disk of every `ceph-osd` host, and the topology's pools. Rook needs Kubernetes, which the
//! lab cannot run here, so this is how storage behaviour is confirmed on real daemons; real
//! hosts get Ceph from Rook's manifests instead.
//!
//! Follows Ceph's manual deployment (docs.ceph.com/en/pacific/install/manual-deployment):
//! every key is generated here and seeded into the monitors' auth database by
//! `ceph-mon --mkfs --keyring`, so no daemon needs an `auth get-or-create` round trip.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use topology::{Cluster, Pool, Role};

use super::error::RenderError;
use super::tree::{PUBLIC_MODE, SECRET_MODE};
use super::{FileContents, RenderedFile};
use crate::secrets::{RandomSource, Secret, SecretStore, random_bytes};

/// The cluster configuration every Ceph host reads.
pub const CONF_PATH: &str = "/etc/ceph/ceph.conf";
/// `client.admin`'s keyring (Ceph's default path for the `ceph` CLI).
pub const ADMIN_KEYRING: &str = "/etc/ceph/ceph.client.admin.keyring";
/// The keyring `ceph-mon --mkfs` seeds the auth database from.
pub const MON_KEYRING: &str = "/etc/ceph/ceph.mon.keyring";
/// `client.bootstrap-osd`'s keyring, where `ceph-volume` looks for it.
pub const BOOTSTRAP_OSD_KEYRING: &str = "/var/lib/ceph/bootstrap-osd/ceph.keyring";
/// Ceph's `CEPH_CRYPTO_AES` key type (src/include/ceph_fs.h).
const CEPH_CRYPTO_AES: u16 = 1;
/// AES-128 secret length in bytes.
const SECRET_BYTES: usize = 16;

/// A monitor's data directory (Ceph's default `mon_data`).
pub fn mon_data(host: &str) -> PathBuf {
    PathBuf::from(format!("/var/lib/ceph/mon/ceph-{host}"))
}

/// A manager's keyring in its data directory (Ceph's default `mgr_data`).
pub fn mgr_keyring(host: &str) -> PathBuf {
    PathBuf::from(format!("/var/lib/ceph/mgr/ceph-{host}/keyring"))
}

/// The lab's Ceph: files per host and the layout apply acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct CephLab {
    /// Files, by topology host.
    pub files: Vec<(String, RenderedFile)>,
    /// Monitors: host and address.
    pub mons: Vec<(String, IpAddr)>,
    /// Managers.
    pub mgrs: Vec<String>,
    /// OSD disks: host, device path, and the OSD's fsid (fixed per disk, so a creation cut
    /// short and run again asks the monitors for the same OSD id instead of a new one).
    pub osds: Vec<(String, String, String)>,
    /// Pools to create.
    pub pools: Vec<Pool>,
}

/// A cephx secret as `ceph-authtool --gen-key` prints it: base64 of Ceph's `CryptoKey`
/// encoding (u16 type, utime_t created as u32 seconds + u32 nanoseconds, u16 length, the
/// secret), little-endian. `created` is left at zero: nothing checks it.
fn ceph_key(random: &dyn RandomSource) -> std::io::Result<Secret> {
    let mut raw = Vec::with_capacity(12 + SECRET_BYTES);
    raw.extend_from_slice(&CEPH_CRYPTO_AES.to_le_bytes());
    raw.extend_from_slice(&[0; 8]);
    raw.extend_from_slice(&(SECRET_BYTES as u16).to_le_bytes());
    raw.extend_from_slice(&random_bytes(random, SECRET_BYTES)?);
    Ok(Secret::new(crate::base64::encode(&raw)))
}

/// A random (version 4) UUID for the cluster's fsid.
fn uuid(random: &dyn RandomSource) -> std::io::Result<Secret> {
    let mut b = random_bytes(random, 16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(Secret::new(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )))
}

/// One keyring section: `[entity]`, its key and capabilities (sorted, as Ceph prints them).
fn section(out: &mut String, entity: &str, key: &Secret, caps: &[(&str, &str)]) {
    let _ = writeln!(out, "[{entity}]");
    let _ = writeln!(out, "\tkey = {}", key.expose());
    for (daemon, cap) in caps {
        let _ = writeln!(out, "\tcaps {daemon} = \"{cap}\"");
    }
}

fn file(path: impl Into<PathBuf>, mode: u32, contents: FileContents) -> RenderedFile {
    RenderedFile {
        path: path.into(),
        mode,
        contents,
    }
}

fn conf(cluster: &Cluster, fsid: &str, mons: &[(String, IpAddr)]) -> String {
    let ceph = &cluster.spec.ceph;
    let pool = ceph.pools.first().cloned().unwrap_or_default();
    let mut s =
        String::from("# Ceph for the spofless lab (Debian packages), rendered by spofless.\n");
    let _ = writeln!(s, "[global]");
    let _ = writeln!(s, "fsid = {fsid}");
    let names: Vec<&str> = mons.iter().map(|(h, _)| h.as_str()).collect();
    let addrs: Vec<String> = mons.iter().map(|(_, a)| a.to_string()).collect();
    let _ = writeln!(s, "mon_initial_members = {}", names.join(", "));
    let _ = writeln!(s, "mon_host = {}", addrs.join(","));
    let _ = writeln!(s, "public_network = {}", cluster.spec.network.node_subnet.0);
    for k in [
        "auth_cluster_required",
        "auth_service_required",
        "auth_client_required",
    ] {
        let _ = writeln!(s, "{k} = cephx");
    }
    // Pacific warns (AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED) until this is off; every
    // client here is new enough (CVE-2021-20288).
    let _ = writeln!(s, "auth_allow_insecure_global_id_reclaim = false");
    let _ = writeln!(s, "osd_pool_default_size = {}", pool.size);
    let _ = writeln!(
        s,
        "osd_pool_default_min_size = {}",
        pool.effective_min_size()
    );
    // CRUSH bucket type 1 is `host`: replicas on distinct hosts, as Rook's failureDomain: host.
    let _ = writeln!(s, "osd_crush_chooseleaf_type = 1");
    // The topology's Ceph timers, as Rook's cephConfig carries them.
    let _ = writeln!(
        s,
        "osd_heartbeat_grace = {}",
        ceph.osd_heartbeat_grace_seconds
    );
    let _ = writeln!(
        s,
        "mon_osd_down_out_interval = {}",
        ceph.down_out_interval_seconds
    );
    let _ = writeln!(
        s,
        "mon_osd_min_down_reporters = {}",
        ceph.min_down_reporters
    );
    s
}

/// Renders the lab's Ceph for `cluster`, drawing keys and the fsid from `store` once.
pub fn render(cluster: &Cluster, store: &SecretStore) -> Result<CephLab, RenderError> {
    let mons: Vec<(String, IpAddr)> = cluster
        .hosts_with(Role::CephMon)
        .map(|h| (h.name.clone(), h.address))
        .collect();
    let mgrs: Vec<String> = cluster
        .hosts_with(Role::CephMgr)
        .map(|h| h.name.clone())
        .collect();
    let mut osds = Vec::new();
    for h in cluster.hosts_with(Role::CephOsd) {
        for d in &h.disks {
            let dev = d.device.trim_start_matches("/dev/").replace('/', "_");
            let id = store.get_or_create(&format!("ceph-lab-osd-fsid-{}-{dev}", h.name), uuid)?;
            osds.push((h.name.clone(), d.device.clone(), id.expose().to_owned()));
        }
    }
    let fsid = store.get_or_create("ceph-lab-fsid", uuid)?;
    let key = |entity: &str| store.get_or_create(&format!("ceph-lab-key-{entity}"), ceph_key);
    let (mon_key, admin_key, bootstrap_key) = (
        key("mon.")?,
        key("client.admin")?,
        key("client.bootstrap-osd")?,
    );
    const ADMIN_CAPS: [(&str, &str); 4] = [
        ("mds", "allow *"),
        ("mgr", "allow *"),
        ("mon", "allow *"),
        ("osd", "allow *"),
    ];
    const BOOTSTRAP_OSD_CAPS: [(&str, &str); 2] =
        [("mgr", "allow r"), ("mon", "profile bootstrap-osd")];
    const MGR_CAPS: [(&str, &str); 3] = [
        ("mds", "allow *"),
        ("mon", "allow profile mgr"),
        ("osd", "allow *"),
    ];
    let mut seed = String::new();
    section(&mut seed, "mon.", &mon_key, &[("mon", "allow *")]);
    section(&mut seed, "client.admin", &admin_key, &ADMIN_CAPS);
    section(
        &mut seed,
        "client.bootstrap-osd",
        &bootstrap_key,
        &BOOTSTRAP_OSD_CAPS,
    );
    let mut mgr_keyrings = Vec::new();
    for m in &mgrs {
        let k = key(&format!("mgr.{m}"))?;
        section(&mut seed, &format!("mgr.{m}"), &k, &MGR_CAPS);
        let mut own = String::new();
        section(&mut own, &format!("mgr.{m}"), &k, &[]);
        mgr_keyrings.push((m.clone(), own));
    }
    let mut admin = String::new();
    section(&mut admin, "client.admin", &admin_key, &ADMIN_CAPS);
    let mut bootstrap = String::new();
    section(&mut bootstrap, "client.bootstrap-osd", &bootstrap_key, &[]);

    let conf = conf(cluster, fsid.expose(), &mons);
    let mut files = Vec::new();
    for host in &cluster.spec.hosts {
        let name = &host.name;
        let is = |r| host.has_role(r);
        if !(is(Role::CephMon) || is(Role::CephMgr) || is(Role::CephOsd)) {
            continue;
        }
        let mut add = |f| files.push((name.clone(), f));
        add(file(
            CONF_PATH,
            PUBLIC_MODE,
            FileContents::Public(conf.clone()),
        ));
        if is(Role::CephMon) {
            add(file(
                ADMIN_KEYRING,
                SECRET_MODE,
                FileContents::Secret(Secret::new(admin.clone())),
            ));
            add(file(
                MON_KEYRING,
                SECRET_MODE,
                FileContents::Secret(Secret::new(seed.clone())),
            ));
        }
        if let Some((_, own)) = mgr_keyrings.iter().find(|(m, _)| m == name) {
            add(file(
                mgr_keyring(name),
                SECRET_MODE,
                FileContents::Secret(Secret::new(own.clone())),
            ));
        }
        if is(Role::CephOsd) {
            add(file(
                BOOTSTRAP_OSD_KEYRING,
                SECRET_MODE,
                FileContents::Secret(Secret::new(bootstrap.clone())),
            ));
        }
    }
    Ok(CephLab {
        files,
        mons,
        mgrs,
        osds,
        pools: cluster.spec.ceph.pools.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SeededRandom;

    #[test]
    fn keys_have_cephs_layout_and_length() {
        let r = SeededRandom::new(7);
        let k = ceph_key(&r).unwrap();
        // 28 bytes encode to 40 characters; ceph-authtool's keys start "AQ" (type 1, LE).
        assert_eq!(k.expose().len(), 40);
        assert!(k.expose().starts_with("AQ"), "{}", k.expose());
        let id = uuid(&r).unwrap();
        assert_eq!(id.expose().len(), 36);
        assert_eq!(&id.expose()[14..15], "4");
    }
}
