//! `spofless sim`: run a named scenario (or a scenario file) through the deterministic
//! simulator, explore random fault plans across many seeds in parallel, and replay a failing
//! case. Exit codes: 0 every invariant held, 1 a violation was found, 2 bad input or an error.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use miette::{IntoDiagnostic, WrapErr, miette};
use serde::Serialize;
use sim::checks::invariant::Violation;
use sim::report::{JsonlSink, SummaryRow, TraceDetail, html, summary_rows};
use sim::scenario::{
    self, ExploreConfig, Origin, PlanSource, RunOutcome, explore, replay_command,
    run_scenario_traced,
};
use topology::Cluster;
use topology::fault::{FaultPlan, Scenario, span};

use crate::output::{Format, structured};

/// Exit code when an invariant was violated.
pub const EXIT_VIOLATION: u8 = 1;
/// Seed used when none is given: runs are reproducible by default.
const DEFAULT_SEED: u64 = 1;

fn parse_span(text: &str) -> Result<Duration, String> {
    span::parse(text)
}

/// `spofless sim ...`
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run one scenario and print availability per component.
    Run(RunArgs),
    /// Run many random fault plans in parallel; stop at the first violation and shrink it.
    Explore(ExploreArgs),
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
    /// Simulated time, e.g. `30m` (default: the scenario's own duration).
    #[arg(long, value_parser = parse_span)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `spofless sim explore`
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Number of random cases.
    #[arg(long, default_value_t = 100)]
    pub cases: u64,
    /// Seed every case's seed derives from.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Worker threads (default: available cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Simulated time per case.
    #[arg(long, default_value = "10m", value_parser = parse_span)]
    pub duration: Duration,
    /// Most faults per plan.
    #[arg(long, default_value_t = scenario::RANDOM_MAX_FAULTS)]
    pub max_faults: usize,
    /// Where to write the shrunk failing plan (default: sim-failure-<seed>.yaml).
    #[arg(long, value_name = "FILE.yaml")]
    pub plan_out: Option<PathBuf>,
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
    /// Simulated time (default: the file's duration).
    #[arg(long, value_parser = parse_span)]
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
    match cmd {
        SimCommand::Run(args) => {
            let scenario = load_scenario(&args.scenario, cluster, args.seed)?;
            let duration = args.duration.unwrap_or(scenario.spec.duration);
            let plan = if scenario::NAMES.contains(&args.scenario.as_str()) {
                PlanSource::Named {
                    name: args.scenario.clone(),
                }
            } else {
                PlanSource::File {
                    path: args.scenario.clone(),
                }
            };
            let origin = Origin { plan, topology };
            execute(
                cluster,
                &scenario,
                args.seed,
                duration,
                origin,
                &args.output,
            )
        }
        SimCommand::Replay(args) => {
            let scenario = read_scenario(&args.plan)?;
            let duration = args.duration.unwrap_or(scenario.spec.duration);
            let origin = Origin {
                plan: PlanSource::File {
                    path: args.plan.display().to_string(),
                },
                topology,
            };
            execute(
                cluster,
                &scenario,
                args.seed,
                duration,
                origin,
                &args.output,
            )
        }
        SimCommand::Explore(args) => run_explore(args, cluster, topology.as_deref()),
    }
}

fn read_scenario(path: &Path) -> miette::Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    Scenario::from_yaml(&text).map_err(|e| miette!("{}: {e}", path.display()))
}

fn load_scenario(name_or_file: &str, cluster: &Cluster, seed: u64) -> miette::Result<Scenario> {
    if let Some(scenario) = scenario::named(name_or_file, cluster, seed) {
        return Ok(scenario);
    }
    let path = Path::new(name_or_file);
    if path.exists() {
        return read_scenario(path);
    }
    Err(miette!(
        help = format!(
            "use one of: {}, or the path of a Scenario YAML file",
            scenario::NAMES.join(", ")
        ),
        "unknown scenario `{name_or_file}` (or the cluster lacks the hosts it needs)"
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunReport<'a> {
    scenario: &'a str,
    seed: u64,
    /// Simulated time covered (less than requested when the run stopped at a violation).
    duration: String,
    requested_duration: String,
    /// When the run stopped at the first violation, if it did.
    stopped_at: Option<String>,
    replay: String,
    plan: &'a FaultPlan,
    notes: &'a [String],
    events: u64,
    delivered: u64,
    dropped: u64,
    passed: bool,
    violations: &'a [Violation],
    faults: Vec<String>,
    summary: Vec<SummaryRow>,
    facts: &'a [sim::scenario::facts::Fact],
}

fn execute(
    cluster: &Cluster,
    scenario: &Scenario,
    seed: u64,
    duration: Duration,
    origin: Origin,
    out: &OutputArgs,
) -> miette::Result<ExitCode> {
    let mut outcome = match &out.trace {
        Some(path) => {
            let file = File::create(path)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot create {}", path.display()))?;
            let mut sink = JsonlSink::new(BufWriter::new(file), TraceDetail::Full);
            let outcome = run_scenario_traced(cluster, scenario, seed, duration, &mut sink)
                .into_diagnostic()?;
            sink.finish()
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            outcome
        }
        None => scenario::run_scenario(cluster, scenario, seed, duration).into_diagnostic()?,
    };
    outcome.origin = origin;
    if let Some(path) = &out.report {
        std::fs::write(path, html::render(&outcome))
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    }
    print_outcome(&outcome, out.format)?;
    Ok(if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VIOLATION)
    })
}

fn print_outcome(outcome: &RunOutcome, format: Format) -> miette::Result<()> {
    let rows = summary_rows(&outcome.timelines);
    if format != Format::Table {
        let report = RunReport {
            scenario: &outcome.scenario,
            seed: outcome.seed,
            duration: outcome.duration.to_string(),
            requested_duration: outcome.requested.to_string(),
            stopped_at: outcome.stopped_at.map(|t| t.to_string()),
            replay: outcome.replay_command(),
            plan: &outcome.plan,
            notes: &outcome.notes,
            events: outcome.stats.events,
            delivered: outcome.stats.delivered,
            dropped: outcome.stats.dropped,
            passed: outcome.passed(),
            violations: &outcome.violations,
            faults: outcome
                .faults
                .iter()
                .map(|(t, f)| format!("{t} {f}"))
                .collect(),
            summary: rows,
            facts: &outcome.facts,
        };
        print!("{}", structured(&report, format)?);
        return Ok(());
    }
    println!(
        "scenario {} · seed {} · simulated {} · {} events",
        outcome.scenario, outcome.seed, outcome.duration, outcome.stats.events
    );
    for (t, fault) in &outcome.faults {
        println!("  {t}  {fault}");
    }
    let mut table = Table::new();
    table.set_header([
        "component",
        "availability",
        "degraded",
        "down",
        "incidents",
        "max time to recover",
        "final",
    ]);
    for row in rows {
        table.add_row([
            row.component,
            format!("{:.2}%", row.availability_pct),
            row.degraded,
            row.down,
            row.incidents.to_string(),
            row.max_time_to_recover,
            row.final_status.as_str().to_owned(),
        ]);
    }
    println!("{table}");
    for fact in &outcome.facts {
        println!("{}: {}", fact.name, fact.value);
    }
    for note in &outcome.notes {
        println!("note: {note}");
    }
    if let Some(stopped) = outcome.stopped_at {
        println!(
            "the run stopped at {stopped}, at the first violation (of {} requested); timelines end there",
            outcome.requested
        );
    }
    if outcome.passed() {
        println!("all invariants held");
    } else {
        for v in &outcome.violations {
            println!("VIOLATION {v}");
        }
        println!("replay: {}", outcome.replay_command());
    }
    Ok(())
}

fn run_explore(
    args: &ExploreArgs,
    cluster: &Cluster,
    topology: Option<&str>,
) -> miette::Result<ExitCode> {
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config = ExploreConfig {
        cases: args.cases,
        seed: args.seed,
        jobs,
        duration: args.duration,
        max_faults: args.max_faults,
    };
    let bar = ProgressBar::new(args.cases);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} cases {msg}",
    ) {
        bar.set_style(style);
    }
    let outcome = explore(cluster, &config, &|done| bar.set_position(done)).into_diagnostic()?;
    bar.finish_and_clear();
    let Some(failure) = outcome.failure else {
        println!(
            "{} cases, seed {}, {} jobs: no violation",
            outcome.cases_run, args.seed, jobs
        );
        return Ok(ExitCode::SUCCESS);
    };
    let path = args
        .plan_out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("sim-failure-{}.yaml", failure.seed)));
    let plan_scenario = Scenario::new(
        &format!("explore-case-{}", failure.case),
        &format!(
            "shrunk from {} faults in {} steps",
            failure.original.faults.len(),
            failure.shrink_steps
        ),
        args.duration,
        failure.shrunk.clone(),
    );
    let yaml = plan_scenario.to_yaml().map_err(|e| miette!("{e}"))?;
    std::fs::write(&path, &yaml)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    println!(
        "violation in case {} (of {} run), seed {}:",
        failure.case, outcome.cases_run, failure.seed
    );
    for v in &failure.violations {
        println!("  {v}");
    }
    println!(
        "shrunk plan ({} faults, from {}):",
        failure.shrunk.faults.len(),
        failure.original.faults.len()
    );
    print_plan(&failure.shrunk);
    println!("written to {}", path.display());
    // The same command the replayed run's own reports print.
    let origin = Origin {
        plan: PlanSource::File {
            path: path.display().to_string(),
        },
        topology: topology.map(str::to_owned),
    };
    println!(
        "replay: {}",
        replay_command(&origin, failure.seed, args.duration.into())
    );
    Ok(ExitCode::from(EXIT_VIOLATION))
}

fn print_plan(plan: &FaultPlan) {
    for fault in plan.sorted() {
        println!("  {fault}");
    }
}
