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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Static SPOF analysis: component x fault matrix, findings and a verdict.
    Check(commands::check::CheckArgs),
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
    let result = match &cli.command {
        Command::Check(args) => commands::check::run(args),
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
