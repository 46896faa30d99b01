//! `spofless`: prove a five-node Kubernetes cluster has no single point of failure.
//!
//! This file holds the command-line definition and the dispatch; each command lives in its
//! own module under `commands/` with its arguments and `run`. Every command returns
//! `miette::Result<ExitCode>`; errors go to the one reporter (`report.rs`) and exit statuses are
//! defined once (`exit.rs`) and documented at the end of `--help`.

mod commands;
mod exit;
mod logging;
mod output;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use topology::Loaded;

/// Prove a Kubernetes cluster free of single points of failure: analyse its topology,
/// simulate faults deterministically, render every artifact, and run a local VM lab.
#[derive(Debug, Parser)]
#[command(
    name = "spofless",
    version,
    about,
    propagate_version = true,
    after_help = exit::HELP
)]
pub struct Cli {
    /// Topology file for `sim` and `lab`, and for `check`, `render`, `plan`, `apply` and `drill` when they
    /// get no FILE (default: the embedded bolabaden topology). Other commands refuse it.
    #[arg(long, short = 't', value_name = "FILE")]
    topology: Option<PathBuf>,
    /// More diagnostics on standard error: -v info, -vv debug, -vvv trace (RUST_LOG, in
    /// tracing's EnvFilter syntax, overrides).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Static SPOF analysis: component x fault matrix, findings and a verdict.
    Check(commands::check::CheckArgs),
    /// Deterministic simulation: run a scenario, explore random fault plans, replay one.
    #[command(subcommand)]
    Sim(commands::sim::SimCommand),
    /// Render every artifact the cluster needs (etcd PKI and units, kubeadm, VIP, add-ons).
    Render(commands::render::RenderArgs),
    /// Show what `apply` would change on each host (files, packages, units, Ceph), changing nothing.
    Plan(commands::apply::PlanArgs),
    /// Put the rendered cluster on the lab's guests: prepare, etcd, VIP, Ceph; verified, resumable.
    Apply(commands::apply::ApplyArgs),
    /// A failover drill on the applied lab, predicted by the simulator and observed side by side.
    Drill(commands::drill::DrillArgs),
    /// The local five-host libvirt lab (needs the `libvirt` cargo feature).
    #[command(subcommand)]
    Lab(commands::lab::LabCommand),
    /// Ceph tools: CRUSH placement identical to Ceph's `crushtool --test`.
    #[command(subcommand)]
    Ceph(commands::ceph::CephCommand),
    /// Print the JSON Schema of the topology file.
    Schema,
    /// Print a shell completion script (e.g. `spofless completions bash > /etc/bash_completion.d/spofless`).
    Completions(commands::completions::CompletionsArgs),
    /// Print the man page, or write one page per command into a directory.
    Man(commands::man::ManArgs),
}

impl Command {
    /// Whether the command reads the topology that `-t` names.
    fn reads_topology(&self) -> bool {
        matches!(
            self,
            Command::Check(_)
                | Command::Sim(_)
                | Command::Render(_)
                | Command::Plan(_)
                | Command::Apply(_)
                | Command::Drill(_)
                | Command::Lab(_)
        )
    }

    /// The subcommand's name, for messages.
    fn name(&self) -> &'static str {
        match self {
            Command::Check(_) => "check",
            Command::Sim(_) => "sim",
            Command::Render(_) => "render",
            Command::Plan(_) => "plan",
            Command::Apply(_) => "apply",
            Command::Drill(_) => "drill",
            Command::Lab(_) => "lab",
            Command::Ceph(_) => "ceph",
            Command::Schema => "schema",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

/// Loads `file`, or the embedded default topology. Deserialisation problems are fatal;
/// semantic problems travel with the cluster so `check` can still analyse it.
pub fn load_topology(file: Option<&Path>) -> miette::Result<Loaded> {
    let source = match file {
        Some(p) => topology::load::read(p)?,
        None => topology::embedded_source(),
    };
    tracing::info!(file = %source.name, bytes = source.text.len(), "loading topology");
    Ok(topology::load(&source)?)
}

/// Loads a topology and refuses it while it has any problem.
pub fn load_valid_topology(file: Option<&Path>) -> miette::Result<topology::Cluster> {
    Ok(load_topology(file)?.into_valid()?)
}

/// `-t` given to a command that would ignore it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("-t/--topology has no effect on `spofless {command}`")]
#[diagnostic(
    code(spofless::usage),
    help(
        "`-t` picks the topology for check, sim, render, plan, apply, drill and lab; leave it out here"
    )
)]
struct TopologyIgnored {
    command: &'static str,
}

fn run(cli: Cli) -> miette::Result<ExitCode> {
    let topology = cli.topology.as_deref();
    if topology.is_some() && !cli.command.reads_topology() {
        return Err(TopologyIgnored {
            command: cli.command.name(),
        }
        .into());
    }
    match cli.command {
        Command::Check(mut args) => {
            if args.file.is_none() {
                args.file = topology.map(Path::to_path_buf);
            }
            commands::check::run(&args)
        }
        Command::Sim(cmd) => {
            load_valid_topology(topology).and_then(|c| commands::sim::run(&cmd, &c, topology))
        }
        Command::Render(args) => load_valid_topology(args.file.as_deref().or(topology))
            .and_then(|c| commands::render::run(&args, &c)),
        Command::Plan(args) => load_valid_topology(args.target.file.as_deref().or(topology))
            .and_then(|c| commands::apply::run_plan(&args, &c)),
        Command::Apply(args) => load_valid_topology(args.target.file.as_deref().or(topology))
            .and_then(|c| commands::apply::run_apply(&args, &c)),
        Command::Drill(args) => load_valid_topology(args.target.file.as_deref().or(topology))
            .and_then(|c| commands::drill::run(&args, &c)),
        Command::Lab(cmd) => {
            load_valid_topology(topology).and_then(|c| commands::lab::run(cmd, &c))
        }
        Command::Ceph(cmd) => commands::ceph::run(cmd),
        Command::Schema => commands::schema::run(),
        Command::Completions(args) => commands::completions::run(&args, Cli::command()),
        Command::Man(args) => commands::man::run(&args, Cli::command()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    report::install();
    logging::init(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(err) => report::report(&err),
    }
}
