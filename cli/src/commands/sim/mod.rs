//! `spofless sim`: run a named scenario (or a scenario file) through the deterministic
//! simulator, explore random fault plans across many seeds in parallel, and replay a failing
//! case. Exit codes: 0 every invariant held, 1 a violation was found, 2 bad input or an error.

mod explore;
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use sim::scenario::{self, Origin, PlanSource};
use topology::Cluster;
use topology::fault::{Scenario, span};

use crate::output::Format;

/// Seed used when none is given: runs are reproducible by default.
const DEFAULT_SEED: u64 = 1;

/// A duration flag: a Go-style span that is not zero (a run of no time shows nothing).
fn parse_positive_span(text: &str) -> Result<Duration, String> {
    let d = span::parse(text)?;
    if d.is_zero() {
        return Err(
            "a run of no time shows nothing; give a positive duration like `30s` or `10m`"
                .to_owned(),
        );
    }
    Ok(d)
}

/// `spofless sim ...`
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run one scenario and print availability per component.
    Run(RunArgs),
    /// Run many random fault plans in parallel; stop at the first violation and shrink it.
    Explore(explore::ExploreArgs),
    /// Rerun a plan (e.g. the shrunk plan `explore` wrote) with its seed.
    Replay(ReplayArgs),
}

/// Where a run's results go.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the JSON-lines trace (every event) here.
    #[arg(long, value_name = "FILE.jsonl")]
    pub trace: Option<PathBuf>,
    /// Write the self-contained HTML report here.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// `spofless sim run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario name (node-failure, control-plane-failure, storage-failure, network-partition,
    /// node-drain, random) or a Scenario YAML file.
    #[arg(long)]
    pub scenario: String,
    /// Seed of the run; the same seed gives the same trace.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Simulated time, e.g. `30m` (default: the scenario's own duration); faults after it are
    /// not applied, and the run says so.
    #[arg(long, value_parser = parse_positive_span)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `spofless sim replay`
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The case's seed, as printed by `explore`.
    #[arg(long)]
    pub seed: u64,
    /// Scenario YAML holding the plan.
    #[arg(long, value_name = "FILE.yaml")]
    pub plan: PathBuf,
    /// Simulated time (default: the file's duration); faults after it are not applied, and the
    /// run says so.
    #[arg(long, value_parser = parse_positive_span)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs a `sim` subcommand against `cluster`, loaded from `topology` (`None`: the embedded
/// default), which the printed replay commands pass on with `-t`.
pub fn run(
    cmd: &SimCommand,
    cluster: &Cluster,
    topology: Option<&Path>,
) -> miette::Result<ExitCode> {
    let topology = topology.map(|p| p.display().to_string());
    let (scenario, plan, seed, duration, output) = match cmd {
        SimCommand::Run(args) => {
            let scenario = load_scenario(&args.scenario, cluster, args.seed)?;
            let plan = if scenario::NAMES.contains(&args.scenario.as_str()) {
                PlanSource::Named {
                    name: args.scenario.clone(),
                }
            } else {
                PlanSource::File {
                    path: args.scenario.clone(),
                }
            };
            (scenario, plan, args.seed, args.duration, &args.output)
        }
        SimCommand::Replay(args) => {
            let scenario = read_scenario(&args.plan, cluster)?;
            let plan = PlanSource::File {
                path: args.plan.display().to_string(),
            };
            (scenario, plan, args.seed, args.duration, &args.output)
        }
        SimCommand::Explore(args) => return explore::run(args, cluster, topology.as_deref()),
    };
    let origin = Origin { plan, topology };
    run::execute(cluster, &scenario, seed, duration, origin, output)
}

fn read_scenario(path: &Path, cluster: &Cluster) -> miette::Result<Scenario> {
    let targets = topology::fault::FaultTargets::from_cluster(cluster);
    Ok(topology::fault::load_scenario(path, &targets)?)
}

/// An unknown scenario name that is not a file either.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("unknown scenario `{name}` (or the cluster lacks the hosts it needs)")]
#[diagnostic(
    code(spofless::sim::scenario),
    help("use one of: {known}, or the path of a Scenario YAML file")
)]
struct UnknownScenario {
    name: String,
    known: String,
}

fn load_scenario(name_or_file: &str, cluster: &Cluster, seed: u64) -> miette::Result<Scenario> {
    if let Some(scenario) = scenario::named(name_or_file, cluster, seed) {
        return Ok(scenario);
    }
    let path = Path::new(name_or_file);
    if path.exists() {
        return read_scenario(path, cluster);
    }
    Err(UnknownScenario {
        name: name_or_file.to_owned(),
        known: scenario::NAMES.join(", "),
    }
    .into())
}
