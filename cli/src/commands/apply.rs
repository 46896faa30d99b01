//! `spofless plan` and `spofless apply`: what apply would change on each host, and doing it.
//!
//! Both render the cluster exactly as `render` does (same secret state directory), derive the
//! desired state, and read each host's facts over SSH (`--target lab`: the lab's guests with
//! its pinned keys). `plan --assume-fresh` plans against empty hosts without connecting.
//! The work is `provision::apply`'s; this module resolves flags, connects, and prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use miette::{IntoDiagnostic as _, WrapErr as _, miette};
use provision::apply::{
    self, Bounds, Desired, HostFacts, Plan, Progress, StepState, TargetAbilities,
};
use provision::host::{Host, SshHost};
use provision::lab::LabState;
use provision::lab::guest::{Guests, runtime};
use provision::lab::spec::LabSpec;
use serde::Serialize;

use super::render::{DEFAULT_STATE_DIR, open_store};
use crate::output::{Format, print_structured};
use crate::{exit, outln};

/// Which machines plan and apply act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The local libvirt lab (`spofless lab up`), reached with the lab's pinned keys.
    Lab,
    /// The topology's real hosts over SSH.
    Hosts,
}

impl Target {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Lab => "lab",
            Target::Hosts => "hosts",
        }
    }
}

/// Flags `plan` and `apply` share.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Topology file; the embedded bolabaden topology when omitted.
    pub file: Option<PathBuf>,
    /// The machines to act on.
    #[arg(long, value_enum)]
    pub target: Target,
    /// Where generated keys and tokens are kept (the same directory `render` uses), and the
    /// apply journal (`apply/<target>.jsonl`).
    #[arg(long, default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// The lab's state directory (`lab up --state-dir`).
    #[arg(
        long,
        env = "SPOFLESS_LAB_STATE_DIR",
        default_value = ".spofless-state/lab"
    )]
    pub lab_state_dir: PathBuf,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Arguments of `spofless plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Plan against empty hosts without connecting anywhere (machines not built yet).
    #[arg(long)]
    pub assume_fresh: bool,
    /// Under each change, the commands it runs on the host.
    #[arg(long)]
    pub commands: bool,
}

/// Arguments of `spofless apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The cluster as the target runs it. A lab whose guests are emulated (TCG) runs etcd with
/// stretched timers (`topology::model::EMULATED_ETCD_TIMER_FACTOR`): the emulated guests
/// cannot keep etcd's default 100 ms heartbeat.
pub(crate) fn as_target_runs_it(
    args: &TargetArgs,
    cluster: &topology::Cluster,
) -> miette::Result<topology::Cluster> {
    if args.target != Target::Lab {
        return Ok(cluster.clone());
    }
    let emulated = LabState::load(&args.lab_state_dir)
        .into_diagnostic()?
        .is_some_and(|s| s.accel == "tcg");
    if !emulated {
        return Ok(cluster.clone());
    }
    let lab = cluster.for_emulated_lab();
    eprintln!(
        "the lab's guests are emulated (tcg): etcd runs with a {} ms heartbeat and a {} ms \
         election timeout ({}x the topology's)",
        lab.spec.etcd.heartbeat_interval_ms,
        lab.spec.etcd.election_timeout_ms,
        topology::model::EMULATED_ETCD_TIMER_FACTOR
    );
    Ok(lab)
}

/// The rendered cluster (as the target runs it, [`as_target_runs_it`]) as a desired state.
pub(crate) fn desired_state(
    args: &TargetArgs,
    cluster: &topology::Cluster,
) -> miette::Result<Desired> {
    let store = open_store(&args.state_dir)?;
    let rendered = provision::render::render(cluster, &store, time::OffsetDateTime::now_utc())
        .into_diagnostic()
        .wrap_err("render failed")?;
    let lab = match args.target {
        Target::Lab => Some(
            apply::LabExtras::render(cluster, &store)
                .into_diagnostic()
                .wrap_err("rendering the lab's Ceph and clock sync failed")?,
        ),
        Target::Hosts => None,
    };
    apply::desired(cluster, &rendered, lab.as_ref()).into_diagnostic()
}

fn abilities(target: Target) -> TargetAbilities {
    TargetAbilities {
        // The lab's guests have no route to a package mirror.
        can_install: target == Target::Hosts,
    }
}

pub(crate) fn hosts_unsupported() -> miette::Report {
    miette!(
        help = "`spofless plan --target hosts --assume-fresh` shows what apply would do on \
                fresh machines; `--target lab` applies to the local lab",
        "--target hosts needs each host's SSH user, port and pinned host key (`spofless hosts \
         trust`), which this version does not have yet"
    )
}

/// Opens pinned SSH connections to every lab guest, in topology order.
async fn connect_lab(guests: &Guests, order: &[String]) -> miette::Result<Vec<SshHost>> {
    let mut out = Vec::new();
    for host in order {
        out.push(
            guests
                .host(host)
                .await
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot reach lab guest {host}"))?,
        );
    }
    Ok(out)
}

fn lab_guests(args: &TargetArgs, cluster: &topology::Cluster) -> miette::Result<Guests> {
    let dir = &args.lab_state_dir;
    let state = LabState::load(dir).into_diagnostic()?.ok_or_else(|| {
        miette!(
            help = "run `spofless lab up` first, or pass the lab's --lab-state-dir",
            "no lab is recorded in {}",
            dir.display()
        )
    })?;
    // Only names, addresses and the namespace matter for reaching the guests.
    let spec = LabSpec::from_cluster(cluster, 1, 1024).into_diagnostic()?;
    Guests::load(&spec, dir, state.netns.as_deref()).into_diagnostic()
}

fn host_order(desired: &Desired) -> Vec<String> {
    desired.hosts.iter().map(|h| h.host.clone()).collect()
}

/// `plan`'s JSON: the plan with each change's commands.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanReport<'a> {
    target: &'static str,
    assumed_fresh: bool,
    changes: usize,
    steps: Vec<StepReport<'a>>,
    gates: &'a [apply::plan::Gate],
    /// The plan's rolling restarts replayed through the simulator (empty when it has none).
    simulated_rolling_restarts: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepReport<'a> {
    id: String,
    #[serde(flatten)]
    step: &'a apply::Step,
    commands: Vec<Vec<String>>,
}

fn print_plan(plan: &Plan, args: &PlanArgs, simulated: &[String]) -> miette::Result<()> {
    if args.target.format != Format::Table {
        let report = PlanReport {
            target: args.target.target.name(),
            assumed_fresh: args.assume_fresh,
            changes: plan.change_count(),
            steps: plan
                .steps
                .iter()
                .map(|s| StepReport {
                    id: s.id(),
                    step: s,
                    commands: s.changes.iter().map(apply::Change::commands).collect(),
                })
                .collect(),
            gates: &plan.gates,
            simulated_rolling_restarts: simulated,
        };
        return print_structured(&report, args.target.format);
    }
    for step in &plan.steps {
        match &step.state {
            StepState::UpToDate => outln!("{}: up to date", step.id())?,
            StepState::Skipped { reason } => {
                outln!("{}: skipped: {reason}", step.id())?;
            }
            StepState::Blocked { reason } => outln!("{}: BLOCKED: {reason}", step.id())?,
            StepState::Changes => {
                outln!("{}: {} changes", step.id(), step.changes.len())?;
                for c in &step.changes {
                    outln!("    {c}")?;
                    if args.commands {
                        for line in c.commands() {
                            outln!("        $ {line}")?;
                        }
                    }
                }
            }
        }
        if plan.phase(step.phase).last() == Some(step) {
            for g in plan.gates.iter().filter(|g| g.phase == step.phase) {
                outln!("{} gate: {}", g.phase, g.check)?;
            }
        }
    }
    for line in simulated {
        outln!("{line}")?;
    }
    let skipped = plan
        .steps
        .iter()
        .filter(|s| matches!(s.state, StepState::Skipped { .. }))
        .count();
    outln!(
        "plan: {} changes in {} steps, {} skipped{}",
        plan.change_count(),
        plan.steps
            .iter()
            .filter(|s| s.state == StepState::Changes)
            .count(),
        skipped,
        if args.assume_fresh {
            " (hosts assumed fresh; nothing was contacted)"
        } else {
            ""
        }
    )?;
    Ok(())
}

/// `spofless plan`.
pub fn run_plan(args: &PlanArgs, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
    // What plan shows and what its rolling restarts are simulated with: one cluster.
    let cluster = &as_target_runs_it(&args.target, cluster)?;
    let desired = desired_state(&args.target, cluster)?;
    let facts: Vec<Result<HostFacts, String>> = if args.assume_fresh {
        desired
            .hosts
            .iter()
            .map(|h| {
                let mut f = HostFacts::fresh();
                if args.target.target == Target::Lab {
                    // A fresh lab guest boots from the image, whose layers carry every package.
                    for p in h.phases.values().flat_map(|hp| &hp.packages) {
                        f.packages
                            .insert(p.clone(), "from the lab image".to_owned());
                    }
                }
                Ok(f)
            })
            .collect()
    } else {
        match args.target.target {
            Target::Hosts => return Err(hosts_unsupported()),
            Target::Lab => {
                let guests = lab_guests(&args.target, cluster)?;
                let rt = runtime().into_diagnostic()?;
                rt.block_on(async {
                    // Connect to each host, then inspect them all at once; a host that
                    // cannot be reached is reported as such.
                    let mut conns = Vec::new();
                    for d in &desired.hosts {
                        conns.push(guests.host(&d.host).await.map_err(|e| e.to_string()));
                    }
                    let hosts: Vec<Result<&dyn Host, String>> = conns
                        .iter()
                        .map(|c| c.as_ref().map(|h| h as &dyn Host).map_err(Clone::clone))
                        .collect();
                    let facts = apply::inspect_reachable(&desired, &hosts).await;
                    for c in conns.into_iter().flatten() {
                        let _ = c.close().await;
                    }
                    facts
                })
            }
        }
    };
    let plan = apply::plan::plan(&desired, &facts, abilities(args.target.target));
    let simulated = super::rolling::predict(cluster, &plan);
    print_plan(&plan, args, &simulated)?;
    Ok(exit::code(if plan.blocked().is_some() {
        exit::ERROR
    } else {
        exit::SUCCESS
    }))
}

fn print_progress(p: &Progress) {
    let secs = |d: Duration| d.as_secs_f64();
    match p {
        Progress::PhaseStarted {
            phase,
            steps,
            changes,
        } => {
            if *steps > 0 {
                eprintln!("{phase}: {changes} changes on {steps} hosts");
            }
        }
        Progress::StepStarted { step } => tracing::info!(%step, "step started"),
        Progress::StepSkipped { step, reason } => tracing::info!(%step, %reason, "skipped"),
        Progress::Restarting { host, unit } => {
            eprintln!("  restarting {unit} on {host} (one host at a time)");
        }
        Progress::GatePassed {
            phase,
            detail,
            waited,
        } => eprintln!(
            "  {phase} gate passed after {:.1} s: {detail}",
            secs(*waited)
        ),
        Progress::StepActed {
            step,
            changes,
            elapsed,
        } => eprintln!(
            "  {step}: {changes} changes made in {:.1} s",
            secs(*elapsed)
        ),
        Progress::GateWaiting {
            phase,
            seen,
            waited,
        } => eprintln!(
            "  {phase} gate still waiting after {:.0} s: {seen}",
            secs(*waited)
        ),
        Progress::PhaseDone { phase, elapsed } => {
            eprintln!("{phase}: done in {:.1} s", secs(*elapsed));
        }
    }
}

/// Skipped steps (`phase/host`, reason) as (hosts, reason), one entry per distinct reason.
fn skipped_by_reason(skipped: &[(String, String)]) -> Vec<(Vec<&str>, &str)> {
    let mut out: Vec<(Vec<&str>, &str)> = Vec::new();
    for (step, reason) in skipped {
        let host = step.split_once('/').map_or(step.as_str(), |(_, h)| h);
        match out.iter_mut().find(|(_, r)| r == reason) {
            Some((hosts, _)) => hosts.push(host),
            None => out.push((vec![host], reason)),
        }
    }
    out
}

/// `spofless apply`.
pub fn run_apply(args: &ApplyArgs, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
    let t = &args.target;
    if t.target == Target::Hosts {
        return Err(hosts_unsupported());
    }
    let cluster = &as_target_runs_it(t, cluster)?;
    let desired = desired_state(t, cluster)?;
    let guests = lab_guests(t, cluster)?;
    let journal_path = apply::journal_path(&t.state_dir, t.target.name());
    let mut journal = apply::Journal::open(&journal_path).into_diagnostic()?;
    if let Some(prev) = journal.previous() {
        eprintln!(
            "the previous apply (run {}) stopped before finishing{}; every step is checked \
             again before it acts",
            prev.run,
            if prev.unfinished.is_empty() {
                String::new()
            } else {
                format!(", during {}", prev.unfinished.join(", "))
            }
        );
    }
    let rt = runtime().into_diagnostic()?;
    let report = rt.block_on(async {
        let conns = connect_lab(&guests, &host_order(&desired)).await?;
        let hosts: Vec<&dyn Host> = conns.iter().map(|h| h as &dyn Host).collect();
        let r = apply::apply(
            &desired,
            &hosts,
            abilities(t.target),
            Bounds::default(),
            &mut journal,
            &mut print_progress,
        )
        .await;
        for c in conns {
            let _ = c.close().await;
        }
        r.into_diagnostic()
            .wrap_err_with(|| format!("apply stopped (journal: {})", journal_path.display()))
    })?;
    if t.format != Format::Table {
        print_structured(&report, t.format)?;
        return Ok(exit::code(exit::SUCCESS));
    }
    let timings: Vec<String> = report
        .phases
        .iter()
        .map(|p| format!("{} {:.1} s", p.phase, p.seconds))
        .collect();
    outln!(
        "applied {} changes in {:.1} s (run {}); phases: {}",
        report.plan.change_count(),
        report.seconds,
        report.run,
        timings.join(", ")
    )?;
    for p in &report.phases {
        if let Some(g) = &p.gate {
            outln!("verified {}: {g}", p.phase)?;
        }
        for (hosts, reason) in skipped_by_reason(&p.skipped) {
            outln!("skipped {} on {}: {reason}", p.phase, hosts.join(", "))?;
        }
    }
    Ok(exit::code(exit::SUCCESS))
}
