//! `spofless`: prove a five-node Kubernetes cluster has no single point of failure.
//!
//! Exit codes (as ripgrep documents its own): 0 success / verdict holds, 1 the verdict or a
//! comparison does not hold, 2 bad input or an error.

mod commands;
mod output;

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use topology::Loaded;

/// Prove a Kubernetes cluster free of single points of failure: analyse, simulate, render,
/// provision and drill it from one topology file.
#[derive(Debug, Parser)]
#[command(name = "spofless", version, about, propagate_version = true)]
struct Cli {
    /// Topology file for commands that take no FILE argument (default: the embedded
    /// bolabaden topology).
    #[arg(long, short = 't', global = true, value_name = "FILE")]
    topology: Option<std::path::PathBuf>,
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
    /// The local five-host libvirt lab (needs the `libvirt` cargo feature).
    #[command(subcommand)]
    Lab(commands::lab::LabCommand),
    /// Ceph tools: CRUSH placement identical to Ceph's `crushtool --test`.
    #[command(subcommand)]
    Ceph(commands::ceph::CephCommand),
    /// Print the JSON Schema of the topology file.
    Schema,
}

/// Loads `file`, or the embedded default topology. Deserialisation problems are fatal;
/// semantic problems travel with the cluster so `check` can still analyse it.
pub fn load_topology(file: Option<&Path>) -> miette::Result<Loaded> {
    let source = match file {
        Some(p) => topology::load::read(p)?,
        None => topology::embedded_source(),
    };
    Ok(topology::load(&source)?)
}

/// Loads a topology and refuses it while it has any problem.
pub fn load_valid_topology(file: Option<&Path>) -> miette::Result<topology::Cluster> {
    Ok(load_topology(file)?.into_valid()?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let topology = cli.topology.as_deref();
    let result = match cli.command {
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
        Command::Lab(cmd) => {
            load_valid_topology(topology).and_then(|c| commands::lab::run(cmd, &c))
        }
        Command::Ceph(cmd) => commands::ceph::run(cmd),
        Command::Schema => commands::schema::run(),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(commands::check::EXIT_BAD_INPUT)
        }
    }
}
