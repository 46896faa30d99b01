//! `spofless drill`: one of the seed's failover tests on the applied lab, predicted by the
//! simulator and then observed, side by side and judged.
//!
//! A drill is one phase plan (`topology::drill::PhasePlan`) that both sides walk: the
//! simulator over several seeds on the cluster as the lab runs it (an emulated lab's stretched
//! etcd timers included), then the lab through the one fault injector, with clients probing
//! from this machine (inside the isolated lab's namespace). The judge in `topology::compare`
//! compares each figure against the seeds' range widened by a stated tolerance, and every
//! acknowledged write of the drill's ledger is read back afterwards.
//!
//! Drills break things on purpose, so they refuse any target but the lab unless
//! `--i-mean-it` names the cluster.

mod etcd;
mod report;
mod vip;

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use miette::miette;
use topology::drill::{PhaseFault, Target as Member};

use super::apply::{Target, TargetArgs};

/// The drills `spofless drill` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrillName {
    /// SIGKILL the etcd leader (its unit held stopped); start it at the end of the phase.
    EtcdLeaderKill,
    /// SIGSTOP the etcd leader; SIGCONT at the end of the phase.
    EtcdLeaderPause,
    /// Take the etcd leader's guest link down; up at the end of the phase.
    EtcdLeaderCut,
    /// Power off the guest holding the API VIP; boot it again after 20 s.
    VipHolderCrash,
}

impl DrillName {
    /// The drill's name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DrillName::EtcdLeaderKill => "etcd-leader-kill",
            DrillName::EtcdLeaderPause => "etcd-leader-pause",
            DrillName::EtcdLeaderCut => "etcd-leader-cut",
            DrillName::VipHolderCrash => "vip-holder-crash",
        }
    }

    /// The etcd phase's name and fault, for the etcd drills.
    #[cfg_attr(not(feature = "libvirt"), allow(dead_code))]
    fn etcd_phase(self) -> Option<(&'static str, PhaseFault)> {
        Some(match self {
            DrillName::EtcdLeaderKill => ("kill-leader", PhaseFault::Kill(Member::Leader)),
            DrillName::EtcdLeaderPause => ("pause-leader", PhaseFault::Pause(Member::Leader)),
            DrillName::EtcdLeaderCut => ("cut-leader", PhaseFault::CutLink(Member::Leader)),
            DrillName::VipHolderCrash => return None,
        })
    }
}

/// Arguments of `spofless drill`.
#[derive(Debug, Clone, Args)]
pub struct DrillArgs {
    /// The drill.
    #[arg(value_enum)]
    pub drill: DrillName,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Simulator seeds the observation is judged against (their lowest to highest figure). A
    /// re-election waits a randomised timeout between one and two election timeouts, so the
    /// seeds must sample that spread: five seeds once spanned only 12.8-16.6 s of 10-20 s and a
    /// real 10.5 s re-election fell outside; twenty cost a few seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=200))]
    pub seeds: u64,
    /// Allows a drill on a target other than the lab: the cluster's name (`metadata.name`).
    #[arg(long, value_name = "CLUSTER")]
    pub i_mean_it: Option<String>,
    /// Write a self-contained HTML report here: predicted and observed lanes on one axis, and
    /// the figures.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,
}

/// Writes `html` to the `--report` file, if one was asked for.
#[cfg_attr(not(feature = "libvirt"), allow(dead_code))]
fn write_report(args: &DrillArgs, html: impl FnOnce() -> String) -> miette::Result<()> {
    use miette::{IntoDiagnostic as _, WrapErr as _};
    if let Some(path) = &args.report {
        std::fs::write(path, html())
            .into_diagnostic()
            .wrap_err_with(|| format!("writing the report {}", path.display()))?;
        eprintln!("report: {}", path.display());
    }
    Ok(())
}

/// Refuses a destructive drill on anything but the lab unless `--i-mean-it` names the cluster.
fn confirm_target(args: &DrillArgs, cluster: &topology::Cluster) -> miette::Result<()> {
    if args.target.target == Target::Lab {
        return Ok(());
    }
    let name = &cluster.metadata.name;
    if args.i_mean_it.as_deref() != Some(name.as_str()) {
        return Err(miette!(
            help = format!(
                "pass `--i-mean-it {name}` to break the real cluster on purpose, or use \
                 `--target lab`"
            ),
            "`spofless drill {}` injects real failures and refuses `--target {}` unless \
             --i-mean-it names the cluster",
            args.drill.as_str(),
            args.target.target.name()
        ));
    }
    Err(super::apply::hosts_unsupported())
}

/// Runs the drill.
pub fn run(args: &DrillArgs, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
    confirm_target(args, cluster)?;
    match args.drill {
        DrillName::EtcdLeaderKill | DrillName::EtcdLeaderPause | DrillName::EtcdLeaderCut => {
            etcd::run(args, cluster)
        }
        DrillName::VipHolderCrash => vip::run(args, cluster),
    }
}

/// The lab `lab up` recorded in `--lab-state-dir`, or why there is none.
#[cfg(feature = "libvirt")]
fn recorded_lab(
    cluster: &topology::Cluster,
    dir: &std::path::Path,
) -> miette::Result<provision::lab::ops::Lab> {
    use miette::IntoDiagnostic as _;
    provision::lab::ops::Lab::recorded(cluster, dir)
        .into_diagnostic()?
        .ok_or_else(|| {
            miette!(
                help = "run `spofless lab up` and `spofless apply --target lab` first, or pass \
                        the lab's --lab-state-dir",
                "no lab is recorded in {}",
                dir.display()
            )
        })
}

/// Why a drill cannot run in a build without the lab.
#[cfg(not(feature = "libvirt"))]
fn without_lab() -> miette::Report {
    miette!(
        help = "install libvirt-dev and pkg-config (.ci/lab-packages.sh), then build with \
                `cargo build -p spofless --features libvirt`",
        "drills run on the lab, and this spofless was built without it (cargo feature `libvirt`)"
    )
}
