//! The plan: per phase and host, what apply would change, computed from the desired state and
//! the host's facts. `plan` prints it; `apply` executes it. A step with no changes is up to
//! date, so a second apply after a complete one plans nothing.
//!
//! Restarts owed survive interruption: before apply changes a file that needs a running unit
//! restarted, it leaves a marker on the host ([`super::facts::MARKER_DIR`]) and removes it only
//! after the restart (a rolling one: after the restart and the phase's gate). An apply killed
//! between the file and the restart therefore still restarts the unit next time, although the
//! file then already matches.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::desired::{Desired, HostDesired, HostPhase, OnChange, Phase};
use super::facts::{HostFacts, MARKER_DIR, missing_program};
use crate::render::ceph_lab::{MON_KEYRING, mon_data};

/// Why a file is (re)written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileReason {
    /// Not on the host.
    New,
    /// Different contents.
    Content,
    /// Same contents, other mode or owner.
    Permissions,
}

/// One change apply makes on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// Install Debian packages.
    InstallPackages {
        /// Package names.
        packages: Vec<String>,
    },
    /// `systemctl unmask` a unit the host masked (before any file: a mask is a symlink to
    /// /dev/null where a rendered unit file may go).
    Unmask {
        /// Unit.
        unit: String,
    },
    /// Write a rendered file.
    PutFile {
        /// Where.
        path: PathBuf,
        /// Mode, octal text (`0600`).
        mode: String,
        /// `user:group`.
        owner: String,
        /// Whether the contents are secret (never shown).
        secret: bool,
        /// Why.
        reason: FileReason,
    },
    /// systemd reloads its unit files: one changed, a unit was unmasked, or systemd reports a
    /// unit's loaded definition stale. Apply folds it into the step's `systemctl enable`
    /// (which reloads) when there is one, and else reloads before the first start.
    DaemonReload,
    /// Load kernel modules now (the rendered modules-load.d file covers boots).
    LoadModules {
        /// Module names.
        modules: Vec<String>,
    },
    /// `sysctl --system` for keys whose value differs.
    ApplySysctls {
        /// The keys that differ.
        keys: Vec<String>,
    },
    /// Turn swap off now.
    SwapOff,
    /// `systemctl enable`.
    Enable {
        /// Unit.
        unit: String,
    },
    /// `systemctl start`.
    Start {
        /// Unit.
        unit: String,
        /// `--no-block`: the phase gate waits for it.
        no_block: bool,
    },
    /// Create a Ceph monitor's store (`ceph-mon --mkfs`), seeded with the rendered keys.
    CreateMonitor {
        /// Monitor id (the host name).
        id: String,
    },
    /// Create a bluestore OSD on a blank disk (`ceph-volume lvm create`), which starts it.
    CreateOsd {
        /// The disk.
        device: String,
        /// The OSD's fsid, fixed per disk: run again after a kill, `ceph osd new` hands back
        /// the id it already gave instead of leaving an orphan.
        osd_fsid: String,
    },
    /// Start OSDs that exist on this host's disks but are not running.
    ActivateOsds,
    /// Create a replicated pool with the topology's size, min_size and pg_num.
    CreatePool {
        /// Pool name.
        name: String,
        /// Placement groups (the autoscaler is off, so the lab keeps the simulator's count).
        pg_num: u32,
        /// Replicas.
        size: u8,
        /// Replicas needed for I/O.
        min_size: u8,
    },
    /// `systemctl restart`, one host at a time when `rolling`.
    Restart {
        /// Unit.
        unit: String,
        /// One host at a time, gated on the phase's cluster check.
        rolling: bool,
        /// Why (files changed, or owed by an interrupted apply).
        why: String,
    },
}

impl Change {
    /// The shell lines this change runs on the host, for `plan` output (a file's contents are
    /// never shown: secrets stay secret and configs are in `render`'s tree).
    pub fn commands(&self) -> Vec<String> {
        match self {
            Change::InstallPackages { packages } => vec![format!(
                "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
                packages.join(" ")
            )],
            Change::PutFile {
                path,
                mode,
                owner,
                secret,
                ..
            } => vec![format!(
                "write {} from stdin{}: mktemp beside it (umask 077), chown {owner}, chmod \
                 {mode}, mv into place",
                path.display(),
                if *secret {
                    " (secret, never shown)"
                } else {
                    ""
                }
            )],
            Change::Unmask { unit } => vec![format!("systemctl unmask --no-reload {unit}")],
            Change::DaemonReload => vec!["systemctl daemon-reload".to_owned()],
            Change::LoadModules { modules } => {
                modules.iter().map(|m| format!("modprobe {m}")).collect()
            }
            Change::ApplySysctls { .. } => vec!["sysctl --system".to_owned()],
            Change::SwapOff => vec!["swapoff --all".to_owned()],
            Change::Enable { unit } => vec![format!("systemctl enable {unit}")],
            Change::Start { unit, no_block } => vec![format!(
                "systemctl start {}{unit}",
                if *no_block { "--no-block " } else { "" }
            )],
            Change::CreateMonitor { id } => {
                let data = mon_data(id);
                vec![
                    format!(
                        "runuser -u ceph -- ceph-mon --mkfs -i {id} --mon-data {}.spofless-tmp \
                         --keyring {MON_KEYRING}",
                        data.display()
                    ),
                    format!(
                        "touch {0}.spofless-tmp/done && mv {0}.spofless-tmp {0}",
                        data.display()
                    ),
                ]
            }
            Change::CreateOsd { device, osd_fsid } => vec![format!(
                "ceph-volume lvm create --bluestore --data {device} --osd-fsid {osd_fsid}"
            )],
            Change::ActivateOsds => vec!["ceph-volume lvm activate --all".to_owned()],
            Change::CreatePool {
                name,
                pg_num,
                size,
                min_size,
            } => super::mon::create_pool(name, *pg_num, *size, *min_size)
                .iter()
                .map(|c| format!("mon_command {c}   (librados, as `ceph` sends it)"))
                .collect(),
            Change::Restart { unit, .. } => vec![
                format!("touch {MARKER_DIR}/{unit}   (before any file changes)"),
                format!("systemctl restart {unit}"),
                format!("rm {MARKER_DIR}/{unit}   (after the restart; a rolling one, its gate)"),
            ],
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::InstallPackages { packages } => write!(f, "install {}", packages.join(", ")),
            Change::PutFile {
                path,
                mode,
                owner,
                secret,
                reason,
            } => {
                let sign = match reason {
                    FileReason::New => "+",
                    FileReason::Content | FileReason::Permissions => "~",
                };
                let why = match reason {
                    FileReason::New => "",
                    FileReason::Content => ", contents differ",
                    FileReason::Permissions => ", mode or owner differs",
                };
                let secret = if *secret { ", secret" } else { "" };
                write!(f, "{sign} {} ({mode} {owner}{secret}{why})", path.display())
            }
            Change::Unmask { unit } => write!(f, "unmask {unit} (masked on the host)"),
            Change::DaemonReload => f.write_str("systemctl daemon-reload"),
            Change::LoadModules { modules } => write!(f, "load modules {}", modules.join(", ")),
            Change::ApplySysctls { keys } => write!(f, "apply sysctls {}", keys.join(", ")),
            Change::SwapOff => f.write_str("turn swap off"),
            Change::CreateMonitor { id } => write!(f, "create the monitor store of mon.{id}"),
            Change::CreateOsd { device, .. } => write!(f, "create an OSD on {device}"),
            Change::ActivateOsds => f.write_str("start the OSDs on this host's disks"),
            Change::CreatePool {
                name,
                pg_num,
                size,
                min_size,
            } => write!(
                f,
                "create pool {name} (size {size}, min_size {min_size}, {pg_num} PGs)"
            ),
            Change::Enable { unit } => write!(f, "enable {unit}"),
            Change::Start { unit, .. } => write!(f, "start {unit}"),
            Change::Restart { unit, rolling, why } => {
                let how = if *rolling {
                    " one host at a time, gated"
                } else {
                    ""
                };
                write!(f, "restart {unit}{how} ({why})")
            }
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum StepState {
    /// Changes to make.
    Changes,
    /// Nothing to change.
    UpToDate,
    /// Cannot run on this host; apply reports it and goes on.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Cannot run, and apply must not start (nothing half-applied).
    Blocked {
        /// Why.
        reason: String,
    },
}

/// One phase on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The phase.
    pub phase: Phase,
    /// The host.
    pub host: String,
    /// Where it stands.
    #[serde(flatten)]
    pub state: StepState,
    /// What it changes, in the order apply makes the changes.
    pub changes: Vec<Change>,
}

impl Step {
    /// `phase/host`, the step's name in the journal and in messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.phase, self.host)
    }
}

/// What apply would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every step, in apply order (phase, then topology host order).
    pub steps: Vec<Step>,
    /// The checks that end each phase.
    pub gates: Vec<Gate>,
}

/// A cluster check that ends a phase (and follows each rolling restart in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    /// The phase it ends.
    pub phase: Phase,
    /// What it checks.
    pub check: String,
}

impl Plan {
    /// How many changes in total.
    pub fn change_count(&self) -> usize {
        self.steps.iter().map(|s| s.changes.len()).sum()
    }

    /// The first blocked step, if any.
    pub fn blocked(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| matches!(s.state, StepState::Blocked { .. }))
    }

    /// The steps of `phase`.
    pub fn phase(&self, phase: Phase) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.phase == phase)
    }
}

/// What the target can do beyond the rendered files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetAbilities {
    /// Whether missing packages can be installed (the lab has no package mirror).
    pub can_install: bool,
}

fn file_changes(hp: &HostPhase, facts: &HostFacts) -> Vec<(Change, PathBuf)> {
    hp.files
        .iter()
        .filter_map(|f| {
            let reason = match facts.files.get(&f.path) {
                None => FileReason::New,
                Some(have) if have.sha256 != f.sha256 => FileReason::Content,
                Some(have) if have.mode != f.mode || !have.owned_by(&f.owner) => {
                    FileReason::Permissions
                }
                Some(_) => return None,
            };
            let change = Change::PutFile {
                path: f.path.clone(),
                mode: format!("{:04o}", f.mode),
                owner: f.owner.spec(),
                secret: f.contents.is_secret(),
                reason,
            };
            Some((change, f.path.clone()))
        })
        .collect()
}

/// The changes `hp` needs on a host with `facts`.
pub(crate) fn phase_changes(hp: &HostPhase, facts: &HostFacts) -> Vec<Change> {
    let mut changes = Vec::new();
    let missing: Vec<String> = hp
        .packages
        .iter()
        .filter(|p| !facts.packages.contains_key(*p))
        .cloned()
        .collect();
    if !missing.is_empty() {
        changes.push(Change::InstallPackages { packages: missing });
    }
    for u in &hp.units {
        if facts
            .units
            .get(&u.name)
            .is_some_and(|h| h.enabled.starts_with("masked"))
        {
            changes.push(Change::Unmask {
                unit: u.name.clone(),
            });
        }
    }
    let files = file_changes(hp, facts);
    let content_changed: Vec<&PathBuf> = files
        .iter()
        .filter(|(c, _)| {
            !matches!(
                c,
                Change::PutFile {
                    reason: FileReason::Permissions,
                    ..
                }
            )
        })
        .map(|(_, p)| p)
        .collect();
    let unmasked = changes.iter().any(|c| matches!(c, Change::Unmask { .. }));
    // A unit systemd still holds in an older definition: an earlier apply wrote its file or
    // unmasked it and stopped before the reload, and this run sees no file to change.
    let stale = hp
        .units
        .iter()
        .any(|u| facts.units.get(&u.name).is_some_and(|h| h.needs_reload));
    let unit_file_changed = unmasked
        || stale
        || content_changed
            .iter()
            .any(|p| p.starts_with("/etc/systemd/system"));
    changes.extend(files.iter().map(|(c, _)| c.clone()));
    if unit_file_changed {
        changes.push(Change::DaemonReload);
    }
    if let Some(id) = &hp.ceph_mon
        && !facts.exists.contains(&mon_data(id).join("done"))
    {
        changes.push(Change::CreateMonitor { id: id.clone() });
    }
    let modules: Vec<String> = hp
        .modules
        .iter()
        .filter(|m| !facts.modules.contains(*m))
        .cloned()
        .collect();
    if !modules.is_empty() {
        changes.push(Change::LoadModules { modules });
    }
    let keys: Vec<String> = hp
        .sysctls
        .iter()
        .filter(|(k, v)| facts.sysctls.get(k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    if !keys.is_empty() {
        changes.push(Change::ApplySysctls { keys });
    }
    if hp.swap_off && facts.swap_areas > 0 {
        changes.push(Change::SwapOff);
    }
    for u in &hp.units {
        let have = facts.units.get(&u.name);
        if have.is_none_or(|h| h.enabled != "enabled") {
            changes.push(Change::Enable {
                unit: u.name.clone(),
            });
        }
    }
    for u in &hp.units {
        let running = facts.units.get(&u.name).is_some_and(|h| h.is_running());
        if !running {
            changes.push(Change::Start {
                unit: u.name.clone(),
                no_block: u.no_block,
            });
            continue;
        }
        let changed: Vec<String> = u
            .files
            .iter()
            .filter(|f| content_changed.contains(f))
            .map(|f| f.display().to_string())
            .collect();
        let why = if !changed.is_empty() {
            format!("changed: {}", changed.join(", "))
        } else if facts.restart_owed.contains(&u.name) {
            "owed by an interrupted apply".to_owned()
        } else {
            continue;
        };
        match u.on_change {
            OnChange::Nothing => {}
            OnChange::Restart | OnChange::RollingRestart => changes.push(Change::Restart {
                unit: u.name.clone(),
                rolling: u.on_change == OnChange::RollingRestart,
                why,
            }),
        }
    }
    changes.extend(ceph_changes(hp, facts));
    changes
}

/// OSDs and pools: blank disks get an OSD, existing OSDs that are down are started, missing
/// pools are created (all of them when the cluster did not answer: creation is idempotent).
fn ceph_changes(hp: &HostPhase, facts: &HostFacts) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut in_use = 0;
    for (d, osd_fsid) in &hp.osd_devices {
        match facts.disks.get(d).map(|f| f.signature.as_str()) {
            Some("-") | None => changes.push(Change::CreateOsd {
                device: d.clone(),
                osd_fsid: osd_fsid.clone(),
            }),
            Some(_) => in_use += 1,
        }
    }
    if in_use > facts.active_osds {
        changes.push(Change::ActivateOsds);
    }
    for p in &hp.pools {
        if facts
            .pools
            .as_ref()
            .is_none_or(|have| !have.contains(&p.name))
        {
            changes.push(Change::CreatePool {
                name: p.name.clone(),
                pg_num: p.pg_num,
                size: p.size,
                min_size: p.effective_min_size(),
            });
        }
    }
    changes
}

/// Why Ceph's part of `hp` must not run on this host: apply never wipes a disk or a monitor
/// store it did not create.
fn ceph_blocker(host: &str, hp: &HostPhase, facts: &HostFacts) -> Option<String> {
    if let Some(id) = &hp.ceph_mon {
        let data = mon_data(id);
        if !facts.exists.contains(&data.join("done")) && facts.nonempty.contains(&data) {
            return Some(format!(
                "{} on {host} holds a monitor store without apply's `done` marker; apply \
                 never overwrites one: remove it, or touch done if it is this cluster's",
                data.display()
            ));
        }
    }
    for (d, osd_fsid) in &hp.osd_devices {
        let Some(disk) = facts.disks.get(d) else {
            continue;
        };
        let ours = disk.osd_fsid.as_deref() == Some(osd_fsid.as_str());
        let why = match disk.signature.as_str() {
            "-" => continue,
            "absent" => format!("disk {d} does not exist on {host}"),
            "LVM2_member" if ours => continue,
            "LVM2_member" => format!(
                "disk {d} on {host} is an LVM volume that is not this cluster's OSD on it (no \
                 ceph.osd_fsid={osd_fsid} tag)"
            ),
            kind => format!("disk {d} on {host} holds a {kind} signature"),
        };
        return Some(format!(
            "{why}; apply never wipes a disk (`ceph-volume lvm zap --destroy {d}` there, if \
             its data may go)"
        ));
    }
    None
}

fn plan_step(
    phase: Phase,
    host: &HostDesired,
    hp: &HostPhase,
    facts: &HostFacts,
    abilities: TargetAbilities,
) -> Step {
    let step = |state, changes| Step {
        phase,
        host: host.host.clone(),
        state,
        changes,
    };
    if let Some(reason) = &hp.unsupported {
        return step(
            StepState::Skipped {
                reason: reason.clone(),
            },
            Vec::new(),
        );
    }
    if phase == Phase::Kubernetes {
        let reason = match missing_program(facts, host, phase) {
            Some(program) => format!(
                "{program} is not installed (Kubernetes packages come from pkgs.k8s.io, which \
                 apply does not install from yet)"
            ),
            None => "kubeadm init and join are not implemented yet (issue 14)".to_owned(),
        };
        return step(StepState::Skipped { reason }, Vec::new());
    }
    if let Some(reason) = ceph_blocker(&host.host, hp, facts) {
        return step(StepState::Blocked { reason }, Vec::new());
    }
    let changes = phase_changes(hp, facts);
    let missing = changes.iter().find_map(|c| match c {
        Change::InstallPackages { packages } if !abilities.can_install => Some(packages),
        _ => None,
    });
    if let Some(packages) = missing {
        let reason = format!(
            "packages {} are not installed on {} and this target has no package mirror: \
             rebuild the lab (`lab down`, `lab up`) so its image carries them",
            packages.join(", "),
            host.host
        );
        return step(StepState::Blocked { reason }, changes);
    }
    let state = if changes.is_empty() {
        StepState::UpToDate
    } else {
        StepState::Changes
    };
    step(state, changes)
}

/// Plans `desired` against each host's facts (same order as `desired.hosts`); a host whose
/// facts could not be read (`Err` says why) has every step blocked.
pub fn plan(
    desired: &Desired,
    facts: &[Result<HostFacts, String>],
    abilities: TargetAbilities,
) -> Plan {
    let mut steps = Vec::new();
    for phase in Phase::ALL {
        for (host, f) in desired.hosts.iter().zip(facts) {
            let Some(hp) = host.phases.get(&phase) else {
                continue;
            };
            steps.push(match f {
                Ok(f) => plan_step(phase, host, hp, f, abilities),
                Err(why) => Step {
                    phase,
                    host: host.host.clone(),
                    state: StepState::Blocked {
                        reason: format!("cannot inspect {}: {why}", host.host),
                    },
                    changes: Vec::new(),
                },
            });
        }
    }
    let mut gates = Vec::new();
    if let Some(etcd) = &desired.etcd {
        gates.push(Gate {
            phase: Phase::Etcd,
            check: format!(
                "etcdctl with the healthcheck client certificate: {} members started and \
                 every endpoint healthy ({})",
                etcd.members.len(),
                etcd.endpoints.join(", ")
            ),
        });
    }
    if let Some(ceph) = &desired.ceph {
        gates.push(Gate {
            phase: Phase::CephMons,
            check: format!(
                "ceph quorum_status: all of {} in quorum",
                ceph.mons.join(", ")
            ),
        });
        gates.push(Gate {
            phase: Phase::Ceph,
            check: format!(
                "ceph status: HEALTH_OK, {} OSDs up and in, every PG active+clean",
                ceph.osds
            ),
        });
    }
    if let Some(vip) = &desired.vip {
        gates.push(Gate {
            phase: Phase::Vip,
            check: format!(
                "{} held by exactly one of {} and accepting TCP on port {}",
                vip.vip,
                vip.holders.join(", "),
                vip.port
            ),
        });
    }
    Plan { steps, gates }
}
