//! Executes a plan over `&dyn Host` connections, phase by phase along the dependency lanes of
//! [`WAVES`] (etcd, the VIP and Ceph's monitors at once once hosts are prepared, then the OSDs,
//! then Kubernetes).
//!
//! Within a phase every host acts at once (packages, files, settings, enables, starts, plain
//! restarts); then each rolling restart runs one host at a time, each followed by the phase's
//! gate; then the gate runs once more for the whole phase. A phase's steps are journalled
//! `started` before they act and `verified` only after that final gate, so nothing is reported
//! done that was not checked. The plan is computed from fresh facts at the start of every run,
//! which is what makes a re-run after any interruption converge.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::Serialize;

use super::desired::{Desired, HostDesired, HostPhase, Phase};
use super::facts::{FactsError, HostFacts, MARKER_DIR, inspect};
use super::gate::{GateFailed, wait_ceph_healthy, wait_ceph_quorum, wait_etcd, wait_vip};
use super::journal::{Event, Interrupted, Journal, JournalError};
use super::mon;
use super::plan::{Change, Plan, Step, StepState, TargetAbilities, phase_changes, plan};
use crate::exec::Command;
use crate::host::{Host, HostError};
use crate::render::ceph_lab::{MON_KEYRING, mon_data};

/// Bound on one monitor command (a pool's creation waits for the monitors to commit it).
const MON_COMMAND: Duration = Duration::from_secs(30);

/// Time bounds of apply's commands and gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// One ordinary command (systemctl, modprobe, sysctl).
    pub command: Duration,
    /// `apt-get install`.
    pub install: Duration,
    /// The etcd gate (under TCG a member takes seconds to start).
    pub etcd_gate: Duration,
    /// The VIP gate (keepalived's first advertisements, `advert_int` 1 s).
    pub vip_gate: Duration,
    /// Each Ceph gate (under TCG a manager takes a minute to start, and OSD creation more).
    pub ceph_gate: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            command: Duration::from_secs(120),
            install: Duration::from_secs(15 * 60),
            etcd_gate: Duration::from_secs(180),
            vip_gate: Duration::from_secs(90),
            ceph_gate: Duration::from_secs(10 * 60),
        }
    }
}

/// What apply reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A phase begins: its hosts with changes and the number of changes.
    PhaseStarted {
        /// The phase.
        phase: Phase,
        /// Steps with changes.
        steps: usize,
        /// Changes in total.
        changes: usize,
    },
    /// A step is about to act.
    StepStarted {
        /// `phase/host`.
        step: String,
    },
    /// A step cannot run here.
    StepSkipped {
        /// `phase/host`.
        step: String,
        /// Why.
        reason: String,
    },
    /// A rolling restart begins on one host.
    Restarting {
        /// The host.
        host: String,
        /// The unit.
        unit: String,
    },
    /// A gate passed.
    GatePassed {
        /// The phase.
        phase: Phase,
        /// What it saw.
        detail: String,
        /// How long it waited.
        waited: Duration,
    },
    /// A host finished a step's changes (before the phase's rolling restarts and gate).
    StepActed {
        /// `phase/host`.
        step: String,
        /// Changes made.
        changes: usize,
        /// How long they took.
        elapsed: Duration,
    },
    /// A gate has not passed yet: what it last saw (every [`super::gate::REPORT_EVERY`]).
    GateWaiting {
        /// The phase.
        phase: Phase,
        /// What it last saw.
        seen: String,
        /// How long it has waited.
        waited: Duration,
    },
    /// A phase is verified.
    PhaseDone {
        /// The phase.
        phase: Phase,
        /// Its wall time.
        elapsed: Duration,
    },
}

/// One phase's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseReport {
    /// The phase.
    pub phase: Phase,
    /// Changes made.
    pub changes: usize,
    /// Steps skipped, with the reason.
    pub skipped: Vec<(String, String)>,
    /// What the final gate saw, if the phase has one.
    pub gate: Option<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyReport {
    /// The plan it executed.
    pub plan: Plan,
    /// Per phase, in order.
    pub phases: Vec<PhaseReport>,
    /// The journal run number.
    pub run: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Why apply stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A host could not be inspected.
    #[error("cannot inspect {host}: {source}")]
    Inspect {
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: FactsError,
    },
    /// A step cannot run; nothing was changed.
    #[error("step {step} is blocked, nothing was changed: {reason}")]
    Blocked {
        /// The step.
        step: String,
        /// Why.
        reason: String,
    },
    /// A command failed.
    #[error("step {step}: `{command}` failed: {detail}")]
    Command {
        /// The step.
        step: String,
        /// The command.
        command: String,
        /// Exit status and stderr, or the connection error.
        detail: String,
    },
    /// A file could not be put.
    #[error("step {step}: writing {path}: {source}")]
    Put {
        /// The step.
        step: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: HostError,
    },
    /// A gate did not pass.
    #[error("{phase} gate: {source}")]
    Gate {
        /// The phase.
        phase: Phase,
        /// What it last saw.
        #[source]
        source: GateFailed,
    },
    /// The journal could not be written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// `hosts` does not match the desired state's hosts.
    #[error("apply was given {given} host connections for {wanted} topology hosts")]
    Hosts {
        /// Connections given.
        given: usize,
        /// Hosts in the topology.
        wanted: usize,
    },
}

/// Reads every host's facts at once; `Err` is the reason a host could not be read.
pub async fn inspect_all(
    desired: &Desired,
    hosts: &[&dyn Host],
) -> Vec<Result<HostFacts, FactsError>> {
    join_all(desired.hosts.iter().zip(hosts).map(|(d, h)| inspect(*h, d))).await
}

/// Reads the facts of every host that could be reached, all at once; a host given as `Err`
/// (why it could not be reached) keeps that reason, for `plan` to show as blocked.
pub async fn inspect_reachable(
    desired: &Desired,
    hosts: &[Result<&dyn Host, String>],
) -> Vec<Result<HostFacts, String>> {
    join_all(desired.hosts.iter().zip(hosts).map(|(d, h)| async move {
        match h {
            Ok(h) => inspect(*h, d).await.map_err(|e| e.to_string()),
            Err(why) => Err(why.clone()),
        }
    }))
    .await
}

async fn run_ok(step: &str, host: &dyn Host, cmd: Command) -> Result<(), ApplyError> {
    let failed = |detail: String| ApplyError::Command {
        step: step.to_owned(),
        command: cmd.to_string(),
        detail,
    };
    match host.run(&cmd).await {
        Ok(out) if out.success() => Ok(()),
        Ok(out) => Err(failed(format!(
            "exit {:?}: {}",
            out.status,
            crate::exec::tail(&out.stderr)
        ))),
        Err(e) => Err(failed(e.to_string())),
    }
}

fn systemctl(args: &[&str], bound: Duration) -> Command {
    Command::new("systemctl")
        .args(args.iter().copied())
        .timeout(bound)
}

fn marker(unit: &str) -> String {
    format!("{MARKER_DIR}/{unit}")
}

/// Installs the step's missing packages, then plans the step again from fresh facts: a
/// package's maintainer script may start its daemon with the distribution's defaults (Debian's
/// etcd-server does), which turns a planned start into a restart.
async fn install_then_replan(
    host: &dyn Host,
    hd: &HostDesired,
    hp: &HostPhase,
    step: &Step,
    bounds: Bounds,
) -> Result<Vec<Change>, ApplyError> {
    let Some(Change::InstallPackages { packages }) = step.changes.first() else {
        return Ok(step.changes.clone());
    };
    let cmd = Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages.iter().cloned())
        .timeout(bounds.install);
    run_ok(&step.id(), host, cmd).await?;
    let facts = inspect(host, hd)
        .await
        .map_err(|source| ApplyError::Inspect {
            host: host.name().to_owned(),
            source,
        })?;
    Ok(phase_changes(hp, &facts))
}

/// Everything of `step` but its rolling restarts, on its host; returns the changes it planned
/// (re-planned after installing packages), whose rolling restarts the phase then makes.
async fn act(
    host: &dyn Host,
    hd: &HostDesired,
    hp: &HostPhase,
    step: &Step,
    bounds: Bounds,
) -> Result<Vec<Change>, ApplyError> {
    let id = step.id();
    let changes = install_then_replan(host, hd, hp, step, bounds).await?;
    let restarts: Vec<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Restart { unit, .. } => Some(unit.as_str()),
            _ => None,
        })
        .collect();
    if !restarts.is_empty() {
        // The restart is owed from here on, whatever happens to this apply.
        let mut cmd = Command::new("sh").args([
            "-c",
            "mkdir -p \"$0\" && cd \"$0\" && touch -- \"$@\"",
            MARKER_DIR,
        ]);
        cmd = cmd.args(restarts.iter().copied()).timeout(bounds.command);
        run_ok(&id, host, cmd).await?;
    }
    let parents: Vec<String> = hp
        .files
        .iter()
        .filter_map(|f| f.path.parent().map(|p| p.display().to_string()))
        .collect();
    let (mut made_parents, mut enabled, mut started) = (false, false, false);
    // systemd reloads its configuration for every unmask, enable and daemon-reload, which
    // costs seconds under TCG (six reloads were most of a lab guest's minute of preparation).
    // Unmasks do not reload; one reload happens before anything starts: `systemctl enable`'s
    // own (systemctl(1): "the system manager configuration is reloaded") when the step
    // enables a unit, else an explicit daemon-reload before the first change that uses units,
    // or at the end (the phase's rolling restarts follow).
    let (mut unmasked, mut reload_owed) = (false, false);
    for change in &changes {
        // Starts and restarts need systemd to see the new unit files, and so do OSD creation
        // and activation (ceph-volume enables and starts units itself).
        let uses_units = matches!(
            change,
            Change::Start { .. }
                | Change::Restart { .. }
                | Change::CreateOsd { .. }
                | Change::ActivateOsds
        );
        if reload_owed && uses_units {
            run_ok(&id, host, systemctl(&["daemon-reload"], bounds.command)).await?;
            reload_owed = false;
        }
        match change {
            Change::InstallPackages { packages } => {
                return Err(ApplyError::Command {
                    step: id,
                    command: format!("apt-get install {}", packages.join(" ")),
                    detail: "the packages are still missing after installing them".to_owned(),
                });
            }
            Change::PutFile { path, .. } => {
                if !made_parents {
                    let cmd = Command::new("mkdir")
                        .arg("-p")
                        .args(parents.iter().cloned())
                        .timeout(bounds.command);
                    run_ok(&id, host, cmd).await?;
                    made_parents = true;
                }
                let Some(f) = hp.files.iter().find(|f| &f.path == path) else {
                    continue;
                };
                host.put_file(&f.path, f.contents.as_bytes(), f.mode, &f.owner)
                    .await
                    .map_err(|source| ApplyError::Put {
                        step: id.clone(),
                        path: f.path.clone(),
                        source,
                    })?;
            }
            Change::Unmask { .. } if !unmasked => {
                unmasked = true;
                reload_owed = true;
                let units = changes.iter().filter_map(|c| match c {
                    Change::Unmask { unit } => Some(unit.as_str()),
                    _ => None,
                });
                let cmd = systemctl(&["unmask", "--no-reload"], bounds.command).args(units);
                run_ok(&id, host, cmd).await?;
            }
            Change::Unmask { .. } => {}
            Change::DaemonReload => reload_owed = true,
            Change::LoadModules { modules } => {
                let cmd = Command::new("modprobe")
                    .arg("--all")
                    .args(modules.iter().cloned())
                    .timeout(bounds.command);
                run_ok(&id, host, cmd).await?;
            }
            Change::ApplySysctls { .. } => {
                let cmd = Command::new("sysctl")
                    .arg("--system")
                    .timeout(bounds.command);
                run_ok(&id, host, cmd).await?;
            }
            Change::SwapOff => {
                let cmd = Command::new("swapoff").arg("--all").timeout(bounds.command);
                run_ok(&id, host, cmd).await?;
            }
            // One systemctl call for all of a step's enables and one per kind of start: each
            // call costs an SSH round trip, and Debian's sysv-install hook seconds under TCG.
            Change::Enable { .. } if !enabled => {
                enabled = true;
                let units = changes.iter().filter_map(|c| match c {
                    Change::Enable { unit } => Some(unit.as_str()),
                    _ => None,
                });
                let cmd = systemctl(&["enable"], bounds.command).args(units);
                run_ok(&id, host, cmd).await?;
                reload_owed = false;
            }
            Change::Enable { .. } => {}
            Change::Start { .. } if !started => {
                started = true;
                for want_no_block in [false, true] {
                    let units: Vec<&str> = changes
                        .iter()
                        .filter_map(|c| match c {
                            Change::Start { unit, no_block } if *no_block == want_no_block => {
                                Some(unit.as_str())
                            }
                            _ => None,
                        })
                        .collect();
                    if units.is_empty() {
                        continue;
                    }
                    let flags: &[&str] = if want_no_block {
                        &["start", "--no-block"]
                    } else {
                        &["start"]
                    };
                    let cmd = systemctl(flags, bounds.command).args(units.iter().copied());
                    run_ok(&id, host, cmd).await?;
                    // A start satisfies a restart an interrupted apply owed.
                    let cmd = Command::new("rm")
                        .arg("-f")
                        .args(units.iter().map(|u| marker(u)))
                        .timeout(bounds.command);
                    run_ok(&id, host, cmd).await?;
                }
            }
            Change::Start { .. } => {}
            Change::Restart {
                unit,
                rolling: false,
                ..
            } => {
                run_ok(&id, host, systemctl(&["restart", unit], bounds.command)).await?;
                clear_marker(&id, host, unit, bounds).await?;
            }
            Change::Restart { rolling: true, .. } => {}
            Change::CreateMonitor { id: mon } => {
                run_ok(&id, host, create_monitor(mon, bounds)).await?;
            }
            Change::CreateOsd { device, osd_fsid } => {
                let cmd = Command::new("ceph-volume")
                    .args(["lvm", "create", "--bluestore", "--data", device])
                    .args(["--osd-fsid", osd_fsid])
                    .timeout(bounds.install);
                run_ok(&id, host, cmd).await?;
            }
            Change::ActivateOsds => {
                let cmd = Command::new("ceph-volume")
                    .args(["lvm", "activate", "--all"])
                    .timeout(bounds.install);
                run_ok(&id, host, cmd).await?;
            }
            Change::CreatePool {
                name,
                pg_num,
                size,
                min_size,
            } => {
                let commands = mon::create_pool(name, *pg_num, *size, *min_size);
                run_ok(&id, host, mon::mon_commands(&commands, MON_COMMAND)).await?;
            }
        }
    }
    if reload_owed {
        run_ok(&id, host, systemctl(&["daemon-reload"], bounds.command)).await?;
    }
    Ok(changes)
}

/// `ceph-mon --mkfs` into a scratch directory beside the store, `done` inside it, then one
/// rename: a store without `done` is never left where the monitor would start from it, and a
/// scratch directory left by a kill is ours to remove. The seed keyring (every key, root's
/// 0600) reaches `ceph` only as a copy that is deleted after. `flock` keeps a run that
/// outlived its killed apply from racing the next one; `mv -T` never moves into a directory.
fn create_monitor(id: &str, bounds: Bounds) -> Command {
    const SCRIPT: &str = r#"set -e
data=$1; id=$2; keyring=$3; tmp=$data.spofless-tmp; seed=$tmp.keyring
exec 9>"$data.spofless-lock"
flock 9
rm -rf "$tmp" "$seed"
trap 'rm -f "$seed"' EXIT
install -d -o ceph -g ceph "$tmp"
install -m 0600 -o ceph -g ceph "$keyring" "$seed"
runuser -u ceph -- ceph-mon --mkfs -i "$id" --mon-data "$tmp" --keyring "$seed"
runuser -u ceph -- touch "$tmp/done"
rmdir "$data" 2>/dev/null || true
mv -T "$tmp" "$data"
"#;
    Command::new("sh")
        .args(["-c", SCRIPT, "sh"])
        .arg(mon_data(id).display().to_string())
        .arg(id)
        .arg(MON_KEYRING)
        .timeout(bounds.command)
}

async fn clear_marker(
    step: &str,
    host: &dyn Host,
    unit: &str,
    bounds: Bounds,
) -> Result<(), ApplyError> {
    let cmd = Command::new("rm")
        .args(["-f", &marker(unit)])
        .timeout(bounds.command);
    run_ok(step, host, cmd).await
}

/// The phase's cluster check, when it has one; returns what it saw.
async fn gate(
    phase: Phase,
    desired: &Desired,
    hosts: &[&dyn Host],
    bounds: Bounds,
    shared: &Shared<'_>,
) -> Result<Option<String>, ApplyError> {
    let waiting = |seen: &str, waited: Duration| {
        shared.say(&Progress::GateWaiting {
            phase,
            seen: seen.to_owned(),
            waited,
        });
    };
    let by_name = |names: &[String]| -> Vec<&dyn Host> {
        names
            .iter()
            .filter_map(|n| {
                desired
                    .hosts
                    .iter()
                    .position(|h| &h.host == n)
                    .map(|i| hosts[i])
            })
            .collect()
    };
    let failed = |source| ApplyError::Gate { phase, source };
    match phase {
        Phase::Etcd => {
            let Some(check) = &desired.etcd else {
                return Ok(None);
            };
            let members = by_name(&check.members);
            let h = wait_etcd(&members, check, bounds.etcd_gate, &waiting)
                .await
                .map_err(failed)?;
            Ok(Some(format!(
                "{} of {} endpoints healthy, started: {}",
                h.healthy,
                check.members.len(),
                h.started.join(", ")
            )))
        }
        Phase::Vip => {
            let Some(check) = &desired.vip else {
                return Ok(None);
            };
            let holders = by_name(&check.holders);
            let prober = desired
                .hosts
                .iter()
                .position(|h| !check.holders.contains(&h.host))
                .map_or(holders[0], |i| hosts[i]);
            let holder = wait_vip(&holders, prober, check, bounds.vip_gate, &waiting)
                .await
                .map_err(failed)?;
            Ok(Some(format!(
                "{} held by {holder} only, port {} answers from {}",
                check.vip,
                check.port,
                prober.name()
            )))
        }
        Phase::CephMons | Phase::Ceph => {
            let Some(check) = &desired.ceph else {
                return Ok(None);
            };
            let mons = by_name(&check.mons);
            if phase == Phase::CephMons {
                let q = wait_ceph_quorum(&mons, check, bounds.ceph_gate, &waiting)
                    .await
                    .map_err(failed)?;
                return Ok(Some(format!("monitors in quorum: {}", q.join(", "))));
            }
            let st = wait_ceph_healthy(&mons, check, bounds.ceph_gate, &waiting)
                .await
                .map_err(failed)?;
            Ok(Some(format!(
                "{}, {} OSDs up and in, {} PGs active+clean",
                st.health, st.osds.1, st.pgs.1
            )))
        }
        Phase::Prepare | Phase::Kubernetes => Ok(None),
    }
}

/// Inspects every host, plans, and applies the plan. `hosts` are connections to the topology's
/// hosts in `desired.hosts` order. Nothing is changed when any step is blocked.
pub async fn apply(
    desired: &Desired,
    hosts: &[&dyn Host],
    abilities: TargetAbilities,
    bounds: Bounds,
    journal: &mut Journal,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ApplyReport, ApplyError> {
    if hosts.len() != desired.hosts.len() {
        return Err(ApplyError::Hosts {
            given: hosts.len(),
            wanted: desired.hosts.len(),
        });
    }
    let started = Instant::now();
    let mut facts = Vec::new();
    for (r, h) in inspect_all(desired, hosts).await.into_iter().zip(hosts) {
        match r {
            Ok(f) => facts.push(Ok(f)),
            Err(source) => {
                let e = ApplyError::Inspect {
                    host: h.name().to_owned(),
                    source,
                };
                journal.record("", Event::Failed, &e.to_string())?;
                return Err(e);
            }
        }
    }
    let plan = plan(desired, &facts, abilities);
    if let Some(step) = plan.blocked() {
        let StepState::Blocked { reason } = &step.state else {
            unreachable!("blocked() returns blocked steps");
        };
        let e = ApplyError::Blocked {
            step: step.id(),
            reason: reason.clone(),
        };
        journal.record(&step.id(), Event::Failed, &e.to_string())?;
        return Err(e);
    }
    let shared = Shared {
        journal: RefCell::new(journal),
        progress: RefCell::new(progress),
    };
    let mut phases = Vec::new();
    for wave in WAVES {
        let lanes = wave.iter().map(|lane| {
            let (plan, shared) = (&plan, &shared);
            async move {
                let mut done = Vec::new();
                for &phase in *lane {
                    let steps: Vec<&Step> = plan.phase(phase).collect();
                    if !steps.is_empty() {
                        done.push(
                            apply_phase(phase, &steps, desired, hosts, bounds, shared).await?,
                        );
                    }
                }
                Ok::<_, ApplyError>(done)
            }
        });
        for lane in join_all(lanes).await {
            phases.extend(lane?);
        }
    }
    phases.sort_by_key(|p| p.phase);
    let journal = shared.journal.into_inner();
    journal.record("", Event::RunFinished, "")?;
    Ok(ApplyReport {
        plan,
        phases,
        run: journal.run(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Phases in waves of lanes: the lanes of a wave run at once, the phases of a lane in order,
/// and a wave starts when the previous one is verified. etcd, the VIP and Ceph's monitors need
/// only prepared hosts (the monitors need the synchronised clocks), not each other; Kubernetes
/// needs etcd and the VIP.
///
/// The OSDs wait for a verified etcd although they do not need it: creating them formats a
/// disk on every Ceph host and saturates its disk and CPU, and etcd "is very sensitive to disk
/// write latency" (etcd's hardware guide), so a member still joining and publishing itself
/// under that load may not become healthy at all. The lab measured it: in CI run 23 the resumed
/// apply's etcd gate saw 2, then 1, then 0 of 3 members healthy for 180 s while five emulated
/// hosts created their OSDs, where every run whose etcd was verified before the OSD phase
/// began passed, and the two slowest passing gates (98 s and 192 s) were runs where it had not.
/// etcd is usually verified before the monitors anyway, so the wait costs nothing then.
const WAVES: [&[&[Phase]]; 4] = [
    &[&[Phase::Prepare]],
    &[&[Phase::Etcd], &[Phase::Vip], &[Phase::CephMons]],
    &[&[Phase::Ceph]],
    &[&[Phase::Kubernetes]],
];

/// The journal and the progress callback, shared by the lanes of a wave (one thread, borrowed
/// only between awaits).
struct Shared<'a> {
    journal: RefCell<&'a mut Journal>,
    progress: RefCell<&'a mut dyn FnMut(&Progress)>,
}

impl Shared<'_> {
    fn record(&self, step: &str, event: Event, detail: &str) -> Result<(), JournalError> {
        self.journal.borrow_mut().record(step, event, detail)
    }

    fn say(&self, p: &Progress) {
        (self.progress.borrow_mut())(p);
    }
}

async fn apply_phase(
    phase: Phase,
    steps: &[&Step],
    desired: &Desired,
    hosts: &[&dyn Host],
    bounds: Bounds,
    shared: &Shared<'_>,
) -> Result<PhaseReport, ApplyError> {
    let t0 = Instant::now();
    let index = |name: &str| desired.hosts.iter().position(|h| h.host == name);
    let mut skipped = Vec::new();
    let mut acting = Vec::new();
    for step in steps {
        match &step.state {
            StepState::Skipped { reason } => {
                shared.record(&step.id(), Event::Skipped, reason)?;
                shared.say(&Progress::StepSkipped {
                    step: step.id(),
                    reason: reason.clone(),
                });
                skipped.push((step.id(), reason.clone()));
            }
            StepState::Changes => acting.push(*step),
            StepState::UpToDate | StepState::Blocked { .. } => {}
        }
    }
    let changes = acting.iter().map(|s| s.changes.len()).sum();
    shared.say(&Progress::PhaseStarted {
        phase,
        steps: acting.len(),
        changes,
    });
    for step in &acting {
        shared.record(&step.id(), Event::Started, "")?;
        shared.say(&Progress::StepStarted { step: step.id() });
    }
    let work = acting.iter().filter_map(|step| {
        let i = index(&step.host)?;
        let hd = &desired.hosts[i];
        let hp = hd.phases.get(&phase)?;
        Some(async move {
            let t = Instant::now();
            let result = act(hosts[i], hd, hp, step, bounds).await;
            if let Ok(changes) = &result {
                shared.say(&Progress::StepActed {
                    step: step.id(),
                    changes: changes.len(),
                    elapsed: t.elapsed(),
                });
            }
            (step, i, result)
        })
    });
    let mut made = Vec::new();
    for (step, i, result) in join_all(work).await {
        match result {
            Ok(changes) => made.push((step, i, changes)),
            Err(e) => {
                shared.record(&step.id(), Event::Failed, &e.to_string())?;
                return Err(e);
            }
        }
    }
    for (step, i, changes) in &made {
        let i = *i;
        for change in changes {
            let Change::Restart {
                unit,
                rolling: true,
                ..
            } = change
            else {
                continue;
            };
            shared.say(&Progress::Restarting {
                host: step.host.clone(),
                unit: unit.clone(),
            });
            let id = step.id();
            let restarted = async {
                run_ok(&id, hosts[i], systemctl(&["restart", unit], bounds.command)).await?;
                let waited = Instant::now();
                gate(phase, desired, hosts, bounds, shared)
                    .await
                    .map(|seen| (seen, waited))
            };
            let (seen, waited) = match restarted.await {
                Ok(r) => r,
                Err(e) => {
                    shared.record(&id, Event::Failed, &e.to_string())?;
                    return Err(e);
                }
            };
            if let Some(detail) = seen {
                shared.say(&Progress::GatePassed {
                    phase,
                    detail,
                    waited: waited.elapsed(),
                });
            }
            clear_marker(&id, hosts[i], unit, bounds).await?;
        }
    }
    let waited = Instant::now();
    let gate_seen = match gate(phase, desired, hosts, bounds, shared).await {
        Ok(seen) => seen,
        Err(e) => {
            shared.record("", Event::Failed, &e.to_string())?;
            return Err(e);
        }
    };
    if let Some(detail) = &gate_seen {
        shared.say(&Progress::GatePassed {
            phase,
            detail: detail.clone(),
            waited: waited.elapsed(),
        });
    }
    for step in steps {
        if !matches!(step.state, StepState::Skipped { .. }) {
            shared.record(&step.id(), Event::Verified, "")?;
        }
    }
    shared.say(&Progress::PhaseDone {
        phase,
        elapsed: t0.elapsed(),
    });
    Ok(PhaseReport {
        phase,
        changes,
        skipped,
        gate: gate_seen,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The journal file for `target` under the apply state directory.
pub fn journal_path(state_dir: &Path, target: &str) -> PathBuf {
    state_dir.join("apply").join(format!("{target}.jsonl"))
}

/// The previous interrupted run, if the journal at `path` has one.
pub fn previous_run(path: &Path) -> Result<Option<Interrupted>, JournalError> {
    Ok(super::journal::interrupted(&super::journal::read(path)?))
}
