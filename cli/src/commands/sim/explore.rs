//! `sim explore`: random fault plans across many seeds, in parallel, stopping at the first
//! violation and shrinking it. Progress goes to standard error: a bar on a terminal, a line
//! every few seconds otherwise (CI logs), and the shrinking phase is shown as it runs, so a
//! long shrink never looks like a hang. A violation is printed compactly; its full text (a
//! linearizability counterexample can hold a whole client history) goes to a file.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use miette::{IntoDiagnostic as _, WrapErr as _};
use serde::Serialize;
use sim::scenario::{self, ExploreConfig, Origin, PlanSource, Progress, explore, replay_command};
use topology::Cluster;
use topology::fault::{FaultPlan, Scenario};

use super::parse_positive_span;
use crate::output::{Format, print_structured};
use crate::{exit, outln};

/// Violation texts longer than this are cut on the terminal; the whole text goes to a file.
const COMPACT_CHARS: usize = 400;
/// How often progress lines are printed when standard error is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// `spofless sim explore`
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Number of random cases.
    #[arg(long, default_value_t = 100)]
    pub cases: u64,
    /// Seed every case's seed derives from.
    #[arg(long, default_value_t = super::DEFAULT_SEED)]
    pub seed: u64,
    /// Worker threads (default: available cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Simulated time per case.
    #[arg(long, default_value = "10m", value_parser = parse_positive_span)]
    pub duration: Duration,
    /// Most faults per plan.
    #[arg(long, default_value_t = scenario::RANDOM_MAX_FAULTS)]
    pub max_faults: usize,
    /// Where to write the shrunk failing plan (default: sim-failure-<seed>.yaml); the full
    /// violation text goes beside it (`.violations.txt`).
    #[arg(long, value_name = "FILE.yaml")]
    pub plan_out: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The first line of `text`, cut to a screenful.
pub fn compact(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let cut: String = line.chars().take(COMPACT_CHARS).collect();
    if cut.len() < text.len() {
        format!(
            "{cut} … ({} more characters)",
            text.chars().count() - cut.chars().count()
        )
    } else {
        cut
    }
}

/// Shows progress on standard error.
struct Reporter {
    bar: Option<ProgressBar>,
    cases: u64,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Reporter {
    fn new(cases: u64) -> Reporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(cases);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} cases {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        let now = Instant::now();
        Reporter {
            bar,
            cases,
            started: now,
            last_line: Mutex::new(now),
        }
    }

    fn text(&self, p: Progress) -> String {
        match p {
            Progress::Cases { done } => {
                let minutes = self.started.elapsed().as_secs_f64() / 60.0;
                let rate = if minutes > 0.0 {
                    done as f64 / minutes
                } else {
                    0.0
                };
                format!("{done}/{} cases ({rate:.0} cases/min)", self.cases)
            }
            Progress::Shrinking { step, best_faults } => format!(
                "shrinking the failing case: step {step}, smallest failing plan so far {best_faults} faults"
            ),
        }
    }

    fn progress(&self, p: Progress) {
        if let Some(bar) = &self.bar {
            match p {
                Progress::Cases { done } => bar.set_position(done),
                Progress::Shrinking { .. } => bar.set_message(self.text(p)),
            }
            return;
        }
        let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
        let first_shrink = matches!(p, Progress::Shrinking { step: 1, .. });
        if last.elapsed() >= LINE_EVERY || first_shrink {
            *last = Instant::now();
            eprintln!("explore: {}", self.text(p));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExploreReport<'a> {
    cases: u64,
    cases_run: u64,
    seed: u64,
    jobs: usize,
    duration: String,
    failure: Option<FailureReport<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailureReport<'a> {
    case: u64,
    seed: u64,
    original: &'a FaultPlan,
    shrunk: &'a FaultPlan,
    shrink_steps: u32,
    violations: Vec<String>,
    plan_file: String,
    replay: String,
}

/// Runs the exploration and prints what it found.
pub fn run(
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
    let reporter = Reporter::new(args.cases);
    let outcome = explore(cluster, &config, &|p| reporter.progress(p))
        .into_diagnostic()
        .wrap_err("the exploration could not run")?;
    reporter.finish();
    let elapsed = reporter.started.elapsed();
    let mut report = ExploreReport {
        cases: args.cases,
        cases_run: outcome.cases_run,
        seed: args.seed,
        jobs,
        duration: topology::fault::span::format(args.duration),
        failure: None,
    };
    let Some(failure) = &outcome.failure else {
        if args.format != Format::Table {
            print_structured(&report, args.format)?;
        } else {
            outln!(
                "{} cases, seed {}, {} jobs: no violation ({:.0} cases/min)",
                outcome.cases_run,
                args.seed,
                jobs,
                outcome.cases_run as f64 / (elapsed.as_secs_f64() / 60.0).max(1e-9)
            )?;
        }
        return Ok(exit::code(exit::SUCCESS));
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
    let yaml = plan_scenario
        .to_yaml()
        .into_diagnostic()
        .wrap_err("encoding the shrunk plan")?;
    write(&path, &yaml)?;
    let full: Vec<String> = failure.violations.iter().map(ToString::to_string).collect();
    let full_path = path.with_extension("violations.txt");
    write(&full_path, &(full.join("\n\n") + "\n"))?;
    // The same command the replayed run's own reports print.
    let origin = Origin {
        plan: PlanSource::File {
            path: path.display().to_string(),
        },
        topology: topology.map(str::to_owned),
    };
    let replay = replay_command(&origin, failure.seed, args.duration.into());
    if args.format != Format::Table {
        report.failure = Some(FailureReport {
            case: failure.case,
            seed: failure.seed,
            original: &failure.original,
            shrunk: &failure.shrunk,
            shrink_steps: failure.shrink_steps,
            violations: full,
            plan_file: path.display().to_string(),
            replay,
        });
        print_structured(&report, args.format)?;
        return Ok(exit::code(exit::FINDING));
    }
    outln!(
        "violation in case {} (of {} run), seed {}:",
        failure.case,
        outcome.cases_run,
        failure.seed
    )?;
    for v in &full {
        outln!("  {}", compact(v))?;
    }
    outln!("  (full text in {})", full_path.display())?;
    outln!(
        "shrunk plan ({} faults, from {}, in {} steps):",
        failure.shrunk.faults.len(),
        failure.original.faults.len(),
        failure.shrink_steps
    )?;
    for fault in failure.shrunk.sorted() {
        outln!("  {fault}")?;
    }
    outln!("written to {}", path.display())?;
    outln!("replay: {replay}")?;
    Ok(exit::code(exit::FINDING))
}

fn write(path: &Path, text: &str) -> miette::Result<()> {
    std::fs::write(path, text)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_violations_are_cut_and_say_how_much_is_left() {
        assert_eq!(compact("short"), "short");
        let long = "x".repeat(COMPACT_CHARS + 50);
        let c = compact(&long);
        assert!(c.ends_with("(50 more characters)"), "{c}");
        let multi = format!("first line\n{}", "history ".repeat(1000));
        assert!(
            compact(&multi).starts_with("first line …"),
            "{}",
            compact(&multi)
        );
    }
}
