//! What a host has now, read in one bounded command per host.
//!
//! The questions go in on stdin, one per line (`file PATH`, `unit NAME`, ...), and the answers
//! come back one per line with the free-form part (a path) last, so no path or name is ever
//! spliced into a shell line. `--assume-fresh` plans against [`HostFacts::fresh`] without
//! connecting anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::desired::{HostDesired, Phase};
use crate::exec::Command;
use crate::host::{Host, HostError, Owner};

/// Where apply leaves "restart owed" markers on a host (see [`super::plan`]).
pub const MARKER_DIR: &str = "/var/lib/spofless/restart";

/// Bound on the inspection command: stat and sha256 of a few dozen small files, systemctl,
/// dpkg-query, and on the first Ceph monitor host `osd pool ls` (its own 30 s bound;
/// Python and librados take seconds to start under TCG).
const INSPECT_TIMEOUT: Duration = Duration::from_secs(120);

/// Answers every question read from stdin. `read -r kind name` puts the rest of the line,
/// spaces included, into `name`.
const INSPECT_SCRIPT: &str = r#"
while read -r kind name; do
  case "$kind" in
  file)
    if [ -f "$name" ]; then
      meta=$(stat -c '%a %U %G' -- "$name") || continue
      sum=$(sha256sum < "$name") || continue
      printf 'file %s %s %s\n' "${sum%% *}" "$meta" "$name"
    else
      printf 'nofile %s\n' "$name"
    fi ;;
  unit)
    active=$(systemctl is-active -- "$name" 2>/dev/null)
    enabled=$(systemctl is-enabled -- "$name" 2>/dev/null)
    reload=$(systemctl show -p NeedDaemonReload --value -- "$name" 2>/dev/null)
    printf 'unit %s %s %s %s\n' "${active:-unknown}" "${enabled:-not-found}" \
      "${reload:-no}" "$name" ;;
  pkg)
    st=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' -- "$name" 2>/dev/null) || st='un|'
    printf 'pkg %s %s\n' "$(printf '%s' "$st" | tr -d ' ')" "$name" ;;
  cmd) command -v -- "$name" >/dev/null 2>&1 && printf 'cmd %s\n' "$name" ;;
  module) [ -d "/sys/module/$name" ] && printf 'module %s\n' "$name" ;;
  sysctl)
    v=$(sysctl -n -- "$name" 2>/dev/null) && printf 'sysctl %s %s\n' "$name" "$v" ;;
  marker) [ -e "$MARKERS/$name" ] && printf 'marker %s\n' "$name" ;;
  swap) printf 'swap %s\n' "$(tail -n +2 /proc/swaps | wc -l)" ;;
  exists) [ -e "$name" ] && printf 'exists %s\n' "$name" ;;
  nonempty) [ -n "$(ls -A "$name" 2>/dev/null)" ] && printf 'nonempty %s\n' "$name" ;;
  disk)
    if [ ! -b "$name" ]; then printf 'disk absent - %s\n' "$name"; continue; fi
    # Every signature wipefs finds, partition tables included (blkid -p misses a bare one).
    t=$(wipefs --no-act --noheadings --output TYPE "$name" 2>/dev/null | head -n 1)
    vg=$(pvs --noheadings -o vg_name "$name" 2>/dev/null | tr -d ' ')
    id=
    [ -n "$vg" ] && id=$(lvs --noheadings -o lv_tags "$vg" 2>/dev/null | tr ',' '\n' \
      | sed -n 's/^ *ceph\.osd_fsid=//p' | head -n 1)
    printf 'disk %s %s %s\n' "${t:--}" "${id:--}" "$name" ;;
  osds)
    n=$(systemctl list-units --state=active --no-legend --plain 'ceph-osd@*' 2>/dev/null | wc -l)
    printf 'osds %s\n' "$n" ;;
  pools)
    # `osd pool ls` through librados ($MON_COMMANDS, see apply::mon): one JSON line.
    if out=$(printf '%s' "$POOL_LS" | timeout 30 /usr/bin/python3 -c "$MON_COMMANDS" 10 2>/dev/null)
    then printf 'pools %s\n' "$out"; fi ;;
  esac
done
exit 0
"#;

/// A file as it is on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFact {
    /// Hex SHA-256 of the contents.
    pub sha256: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner user.
    pub user: String,
    /// Owner group.
    pub group: String,
}

impl FileFact {
    /// Whether the owner is `owner`.
    pub fn owned_by(&self, owner: &Owner) -> bool {
        self.user == owner.user && self.group == owner.group
    }
}

/// A unit as systemd reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitFact {
    /// `systemctl is-active`: active, activating, inactive, failed, ...
    pub active: String,
    /// `systemctl is-enabled`: enabled, disabled, static, masked, not-found.
    pub enabled: String,
    /// systemd's `NeedDaemonReload`: its loaded definition is older than the files on disk
    /// (an apply stopped between writing a unit file, or unmasking, and the reload).
    pub needs_reload: bool,
}

impl UnitFact {
    /// Running or on its way (etcd's first member waits for its peers in `activating`).
    pub fn is_running(&self) -> bool {
        matches!(self.active.as_str(), "active" | "activating" | "reloading")
    }
}

/// A disk as `wipefs` and LVM see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskFact {
    /// The first signature found (`LVM2_member`, `ext4`, `gpt`, ...), `-` for a blank disk,
    /// `absent` when there is no such block device.
    pub signature: String,
    /// The `ceph.osd_fsid` tag of the logical volume on it, when it is a Ceph OSD.
    pub osd_fsid: Option<String>,
}

/// Everything inspection learned about one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    /// Files asked about that exist.
    pub files: BTreeMap<PathBuf, FileFact>,
    /// Units asked about.
    pub units: BTreeMap<String, UnitFact>,
    /// Installed packages asked about, with their versions.
    pub packages: BTreeMap<String, String>,
    /// Programs found on `PATH`.
    pub commands: BTreeSet<String>,
    /// Loaded kernel modules asked about.
    pub modules: BTreeSet<String>,
    /// Sysctl values asked about (keys that exist).
    pub sysctls: BTreeMap<String, String>,
    /// Active swap areas.
    pub swap_areas: u32,
    /// Units with a restart owed by an earlier, interrupted apply.
    pub restart_owed: BTreeSet<String>,
    /// Paths asked about that exist (any kind).
    pub exists: BTreeSet<PathBuf>,
    /// Directories asked about that have entries.
    pub nonempty: BTreeSet<PathBuf>,
    /// Disks asked about.
    pub disks: BTreeMap<String, DiskFact>,
    /// Active `ceph-osd@` units.
    pub active_osds: u32,
    /// The cluster's pools, when the cluster answered (`None`: not running, or not asked).
    pub pools: Option<BTreeSet<String>>,
}

impl HostFacts {
    /// An empty host: nothing installed, nothing running (`--assume-fresh`). Swap is assumed
    /// on, as on a stock install.
    pub fn fresh() -> Self {
        HostFacts {
            swap_areas: 1,
            ..HostFacts::default()
        }
    }
}

/// The questions for `host`'s phases, one per line.
pub fn questions(host: &HostDesired) -> String {
    let mut q = BTreeSet::new();
    for hp in host.phases.values() {
        for f in &hp.files {
            q.insert(format!("file {}", f.path.display()));
        }
        for u in &hp.units {
            q.insert(format!("unit {}", u.name));
            q.insert(format!("marker {}", u.name));
        }
        for p in &hp.packages {
            q.insert(format!("pkg {p}"));
        }
        for c in &hp.requires {
            q.insert(format!("cmd {c}"));
        }
        for m in &hp.modules {
            q.insert(format!("module {m}"));
        }
        for (k, _) in &hp.sysctls {
            q.insert(format!("sysctl {k}"));
        }
        if hp.swap_off {
            q.insert("swap -".to_owned());
        }
        if let Some(id) = &hp.ceph_mon {
            let data = crate::render::ceph_lab::mon_data(id);
            q.insert(format!("exists {}", data.join("done").display()));
            q.insert(format!("nonempty {}", data.display()));
        }
        for (d, _) in &hp.osd_devices {
            q.insert(format!("disk {d}"));
            q.insert("osds -".to_owned());
        }
        if !hp.pools.is_empty() {
            q.insert("pools -".to_owned());
        }
    }
    let mut text: String = q.into_iter().map(|l| l + "\n").collect();
    if text.is_empty() {
        text.push('\n');
    }
    text
}

/// Why inspection failed.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// The host could not run the inspection.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The inspection exited non-zero.
    #[error("inspecting {host} failed (exit {status:?}): {stderr}")]
    Failed {
        /// The host.
        host: String,
        /// Exit status.
        status: Option<i32>,
        /// Its stderr tail.
        stderr: String,
    },
    /// An answer line that does not parse.
    #[error("inspecting {host}: unexpected answer line {line:?}")]
    Parse {
        /// The host.
        host: String,
        /// The line.
        line: String,
    },
}

/// Reads `desired`'s facts from `host` in one command.
pub async fn inspect(host: &dyn Host, desired: &HostDesired) -> Result<HostFacts, FactsError> {
    let cmd = Command::new("sh")
        .args(["-c", INSPECT_SCRIPT])
        .env("MARKERS", MARKER_DIR)
        .env("MON_COMMANDS", super::mon::SCRIPT)
        .env(
            "POOL_LS",
            serde_json::Value::Array(vec![super::mon::pool_ls()]).to_string(),
        )
        .env("LC_ALL", "C")
        .stdin(questions(desired).into_bytes())
        .timeout(INSPECT_TIMEOUT);
    let out = host.run(&cmd).await?;
    if !out.success() {
        return Err(FactsError::Failed {
            host: host.name().to_owned(),
            status: out.status,
            stderr: crate::exec::tail(&out.stderr),
        });
    }
    parse(host.name(), &out.stdout_text())
}

/// Parses the inspection's answers.
pub fn parse(host: &str, text: &str) -> Result<HostFacts, FactsError> {
    let mut facts = HostFacts::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || FactsError::Parse {
            host: host.to_owned(),
            line: line.to_owned(),
        };
        let (kind, rest) = line.split_once(' ').ok_or_else(bad)?;
        match kind {
            "file" => {
                let mut it = rest.splitn(5, ' ');
                let (Some(sum), Some(mode), Some(user), Some(group), Some(path)) =
                    (it.next(), it.next(), it.next(), it.next(), it.next())
                else {
                    return Err(bad());
                };
                let mode = u32::from_str_radix(mode, 8).map_err(|_| bad())?;
                facts.files.insert(
                    PathBuf::from(path),
                    FileFact {
                        sha256: sum.to_owned(),
                        mode,
                        user: user.to_owned(),
                        group: group.to_owned(),
                    },
                );
            }
            "nofile" => {}
            "unit" => {
                let mut it = rest.splitn(4, ' ');
                let (Some(active), Some(enabled), Some(reload), Some(name)) =
                    (it.next(), it.next(), it.next(), it.next())
                else {
                    return Err(bad());
                };
                facts.units.insert(
                    name.to_owned(),
                    UnitFact {
                        active: active.to_owned(),
                        enabled: enabled.to_owned(),
                        needs_reload: reload == "yes",
                    },
                );
            }
            "pkg" => {
                let (status, name) = rest.split_once(' ').ok_or_else(bad)?;
                let (abbrev, version) = status.split_once('|').ok_or_else(bad)?;
                // "ii": desired install, status installed.
                if abbrev == "ii" {
                    facts.packages.insert(name.to_owned(), version.to_owned());
                }
            }
            "cmd" => {
                facts.commands.insert(rest.to_owned());
            }
            "module" => {
                facts.modules.insert(rest.to_owned());
            }
            "sysctl" => {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                facts.sysctls.insert(k.to_owned(), v.trim().to_owned());
            }
            "marker" => {
                facts.restart_owed.insert(rest.to_owned());
            }
            "swap" => facts.swap_areas = rest.trim().parse().map_err(|_| bad())?,
            "exists" => {
                facts.exists.insert(PathBuf::from(rest));
            }
            "nonempty" => {
                facts.nonempty.insert(PathBuf::from(rest));
            }
            "disk" => {
                let mut it = rest.splitn(3, ' ');
                let (Some(kind), Some(id), Some(dev)) = (it.next(), it.next(), it.next()) else {
                    return Err(bad());
                };
                facts.disks.insert(
                    dev.to_owned(),
                    DiskFact {
                        signature: kind.to_owned(),
                        osd_fsid: (id != "-").then(|| id.to_owned()),
                    },
                );
            }
            "osds" => facts.active_osds = rest.trim().parse().map_err(|_| bad())?,
            "pools" => {
                // An answer that does not read is no answer: pool creation is idempotent.
                facts.pools = super::mon::parse_outputs(rest)
                    .ok()
                    .and_then(|outs| outs.into_iter().next())
                    .and_then(|ls| serde_json::from_str::<BTreeSet<String>>(&ls).ok());
            }
            _ => return Err(bad()),
        }
    }
    Ok(facts)
}

/// Whether the phase needs `requires` programs that the host lacks; names the first missing.
pub fn missing_program<'a>(
    facts: &HostFacts,
    desired: &'a HostDesired,
    phase: Phase,
) -> Option<&'a str> {
    desired
        .phases
        .get(&phase)?
        .requires
        .iter()
        .find(|c| !facts.commands.contains(*c))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_with_spaces_in_paths() {
        let text = "file ab12 600 etcd etcd /etc/etcd/pki/a key.pem\n\
                    nofile /etc/x\n\
                    unit activating enabled yes etcd.service\n\
                    pkg ii|3.4.23-4+b5 etcd-server\n\
                    pkg un| haproxy\n\
                    cmd kubeadm\n\
                    module overlay\n\
                    sysctl net.ipv4.ip_forward 1\n\
                    marker etcd.service\n\
                    swap 0\n\
                    exists /var/lib/ceph/mon/ceph-a/done\n\
                    disk LVM2_member 5b1f0c3e-0000-4000-8000-000000000000 /dev/vdb\n\
                    osds 1\n\
                    pools [\"[\\\"replicapool\\\",\\\".mgr\\\"]\"]\n";
        let f = parse("h", text).unwrap();
        let key = &f.files[&PathBuf::from("/etc/etcd/pki/a key.pem")];
        assert_eq!((key.mode, key.user.as_str()), (0o600, "etcd"));
        assert!(f.units["etcd.service"].is_running());
        assert!(f.units["etcd.service"].needs_reload);
        assert_eq!(f.packages.len(), 1);
        assert_eq!(f.packages["etcd-server"], "3.4.23-4+b5");
        assert!(f.commands.contains("kubeadm") && f.modules.contains("overlay"));
        assert_eq!(f.sysctls["net.ipv4.ip_forward"], "1");
        assert!(f.restart_owed.contains("etcd.service"));
        assert_eq!(f.swap_areas, 0);
        assert!(
            f.exists
                .contains(&PathBuf::from("/var/lib/ceph/mon/ceph-a/done"))
        );
        assert_eq!(f.disks["/dev/vdb"].signature, "LVM2_member");
        assert!(f.disks["/dev/vdb"].osd_fsid.is_some());
        assert_eq!(f.active_osds, 1);
        assert!(f.pools.as_ref().is_some_and(|p| p.contains(".mgr")));
        assert_eq!(f.pools.as_ref().map(BTreeSet::len), Some(2));
        assert!(parse("h", "bogus line\n").is_err());
        assert!(parse("h", "file short\n").is_err());
    }
}
