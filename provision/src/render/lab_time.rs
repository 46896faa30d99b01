//! Guest clocks in the lab, synchronised to one guest.
//!
//! The lab has no route to an NTP server, and a guest's clock starts from the emulated RTC,
//! whose one-second resolution leaves guests up to a second apart after boot. Ceph's monitors
//! warn beyond `mon_clock_drift_allowed` (0.05 s), so the first host serves its clock
//! (`local stratum 10`) and every other guest follows it; chrony slews up to 83 ms per second
//! (`maxslewrate` default), so a second of offset is gone within seconds. Real hosts keep
//! Debian's configuration and its NTP pool.

use std::fmt::Write as _;

use topology::Cluster;

use super::tree::PUBLIC_MODE;
use super::{FileContents, RenderedFile};

/// chrony's drop-in directory for directives (Debian's chrony.conf: `confdir`).
pub const CONF_PATH: &str = "/etc/chrony/conf.d/spofless-lab.conf";
/// chrony's drop-in directory for sources (Debian's chrony.conf: `sourcedir`).
pub const SOURCES_PATH: &str = "/etc/chrony/sources.d/spofless-lab.sources";

/// chrony drop-ins per host: the first host serves the node subnet, the others use it.
pub fn render(cluster: &Cluster) -> Vec<(String, RenderedFile)> {
    let Some(server) = cluster.spec.hosts.first() else {
        return Vec::new();
    };
    let file = |path: &str, text: String| RenderedFile {
        path: path.into(),
        mode: PUBLIC_MODE,
        contents: FileContents::Public(text),
    };
    let header = "# Lab clock sync, rendered by spofless (the lab has no NTP server).\n";
    let mut out = Vec::new();
    for host in &cluster.spec.hosts {
        if host.name == server.name {
            let mut s = String::from(header);
            let _ = writeln!(s, "local stratum 10");
            let _ = writeln!(s, "allow {}", cluster.spec.network.node_subnet.0);
            out.push((host.name.clone(), file(CONF_PATH, s)));
        } else {
            let mut s = String::from(header);
            let _ = writeln!(s, "server {} iburst", server.address);
            out.push((host.name.clone(), file(SOURCES_PATH, s)));
        }
    }
    out
}
