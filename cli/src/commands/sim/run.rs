//! `sim run` and `sim replay`: one deterministic run, printed as a table or as data, with the
//! trace and HTML report written where asked.

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;
use std::time::Duration;

use comfy_table::Table;
use miette::{IntoDiagnostic as _, WrapErr as _};
use serde::Serialize;
use sim::checks::invariant::Violation;
use sim::report::{JsonlSink, Summary, TraceDetail, html, outcome_summary, warm_up_line};
use sim::scenario::{self, Origin, RunOutcome, run_scenario_traced};
use topology::Cluster;
use topology::fault::{FaultPlan, Scenario, TimedFault, span};

use super::OutputArgs;
use crate::output::{Format, print_structured};
use crate::{exit, outln};

/// What a run shorter than its plan leaves out: its last faults would silently not happen,
/// so the run says which (on standard error and in the report's notes).
fn late_faults_note(scenario: &Scenario, duration: Duration) -> Option<String> {
    let late: Vec<TimedFault> = scenario.spec.plan.after(duration);
    let last = late.last()?;
    Some(format!(
        "--duration {} ends before {} of the plan's faults (the last at {}), which were not applied; \
         the scenario's own duration is {}",
        span::format(duration),
        late.len(),
        span::format(last.at),
        span::format(scenario.spec.duration)
    ))
}

/// Runs `scenario` and prints the outcome.
pub fn execute(
    cluster: &Cluster,
    scenario: &Scenario,
    seed: u64,
    duration: Option<Duration>,
    origin: Origin,
    out: &OutputArgs,
) -> miette::Result<ExitCode> {
    let duration = duration.unwrap_or(scenario.spec.duration);
    let late = late_faults_note(scenario, duration);
    if let Some(note) = &late {
        eprintln!("warning: {note}");
    }
    tracing::info!(scenario = %scenario.metadata.name, seed, duration = %span::format(duration), "simulating");
    let mut outcome = match &out.trace {
        Some(path) => {
            let file = File::create(path)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot create {}", path.display()))?;
            let mut sink = JsonlSink::new(BufWriter::new(file), TraceDetail::Full);
            let outcome = run_scenario_traced(cluster, scenario, seed, duration, &mut sink)
                .into_diagnostic()
                .wrap_err("the simulation could not run")?;
            sink.finish()
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            outcome
        }
        None => scenario::run_scenario(cluster, scenario, seed, duration)
            .into_diagnostic()
            .wrap_err("the simulation could not run")?,
    };
    outcome.origin = origin;
    outcome.notes.extend(late);
    if let Some(path) = &out.report {
        std::fs::write(path, html::render(&outcome))
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    }
    print_outcome(&outcome, out.format)?;
    Ok(exit::verdict(outcome.passed()))
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
    /// When the cluster was first healthy and where the figures' clock starts.
    summary: Summary,
    facts: &'a [sim::scenario::facts::Fact],
}

fn print_outcome(outcome: &RunOutcome, format: Format) -> miette::Result<()> {
    let summary = outcome_summary(outcome);
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
            summary,
            facts: &outcome.facts,
        };
        return print_structured(&report, format);
    }
    outln!(
        "scenario {} · seed {} · simulated {} · {} events",
        outcome.scenario,
        outcome.seed,
        outcome.duration,
        outcome.stats.events
    )?;
    for (t, fault) in &outcome.faults {
        outln!("  {t}  {fault}")?;
    }
    let mut table = Table::new();
    table.set_header([
        "component",
        "serving",
        "fully up",
        "degraded",
        "down",
        "incidents",
        "max time to recover",
        "final",
    ]);
    for row in &summary.rows {
        table.add_row([
            row.component.clone(),
            format!("{:.2}%", row.serving_pct),
            format!("{:.2}%", row.fully_up_pct),
            row.degraded.clone(),
            row.down.clone(),
            row.incidents.to_string(),
            row.max_time_to_recover.clone(),
            row.final_status.as_str().to_owned(),
        ]);
    }
    outln!("{table}")?;
    outln!(
        "serving = up or degraded (still answering, with less redundancy); fully up = up only. {}",
        warm_up_line(&summary)
    )?;
    for fact in &outcome.facts {
        outln!("{}: {}", fact.name, fact.value)?;
    }
    for note in &outcome.notes {
        outln!("note: {note}")?;
    }
    if let Some(stopped) = outcome.stopped_at {
        outln!(
            "the run stopped at {stopped}, at the first violation (of {} requested); timelines end there",
            outcome.requested
        )?;
    }
    if outcome.passed() {
        outln!("all invariants held")?;
    } else {
        for v in &outcome.violations {
            outln!("VIOLATION {}", super::explore::compact(&v.to_string()))?;
        }
        outln!("replay: {}", outcome.replay_command())?;
    }
    Ok(())
}
