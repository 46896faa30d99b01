//! `spofless check [FILE]`: static single-point-of-failure analysis.
//!
//! Exit status: 0 when the zero-SPOF verdict holds, 1 when it does not, 2 when the file has
//! problems (the matrix is still printed when the file deserialised, so a bad design shows
//! its consequences).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use topology::analysis::{Report, Severity, Status, analyze};

use crate::exit;
use crate::output::{Format, out, structured, use_color};

/// Arguments of `spofless check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Topology file; the embedded bolabaden topology when omitted.
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Runs the analysis and prints it.
pub fn run(args: &CheckArgs) -> miette::Result<ExitCode> {
    let loaded = crate::load_topology(args.file.as_deref())?;
    let report = analyze(&loaded.cluster);
    match args.output {
        Format::Table => out(render_table(&report, use_color()))?,
        f => out(structured(&report, f)?)?,
    }
    if !loaded.problems.is_empty() {
        let n = loaded.problems.len();
        let problems = topology::Problems {
            file: loaded.source.name.clone(),
            problems: loaded.problems,
        };
        eprintln!("{:?}", miette::Report::new(problems));
        eprintln!("{n} problem(s) in the topology file; fix them before provisioning.");
        return Ok(exit::code(exit::ERROR));
    }
    Ok(exit::verdict(report.zero_spof))
}

fn status_cell(s: Status, color: bool) -> Cell {
    let cell = Cell::new(match s {
        Status::Up => "OK",
        Status::Degraded => "DEG",
        Status::Down => "DOWN",
    });
    if !color {
        return cell;
    }
    cell.fg(match s {
        Status::Up => Color::Green,
        Status::Degraded => Color::Yellow,
        Status::Down => Color::Red,
    })
}

/// Short column headers so the matrix fits a terminal.
fn short(component: &str) -> String {
    topology::component::Component::parse(component)
        .map_or_else(|| component.to_owned(), |c| c.short())
}

/// What each shortened column header stands for, so the matrix and the lines below it use
/// one naming.
fn legend(components: &[String]) -> String {
    let pairs: Vec<String> = components
        .iter()
        .filter_map(|c| {
            let s = short(c);
            (s != *c).then(|| format!("{s} = {c}"))
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("Columns: {}", pairs.join(", "))
    }
}

/// The human-readable report: the fault x component matrix, pairs, findings, verdict.
pub fn render_table(report: &Report, color: bool) -> String {
    let mut out = String::new();
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let mut header = vec![Cell::new("fault \\ component")];
    header.extend(report.components.iter().map(|c| Cell::new(short(c))));
    table.set_header(header);
    let mut base = vec![Cell::new("(none)")];
    base.extend(report.baseline.iter().map(|s| status_cell(s.status, color)));
    table.add_row(base);
    for o in &report.single_faults {
        let label = o
            .faults
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" + ");
        let mut row = vec![Cell::new(label)];
        row.extend(o.states.iter().map(|s| status_cell(s.status, color)));
        table.add_row(row);
    }
    let _ = writeln!(
        out,
        "Cluster {}: component state under each single fault (DEG = degraded: still serving, less redundancy)\n{table}",
        report.cluster
    );
    let _ = writeln!(out, "{}", legend(&report.components));
    let pairs_down: Vec<_> = report.pairs_down().collect();
    let _ = writeln!(
        out,
        "\nPairs of faults: {} of {} take a component DOWN (worst-case placement; -o json gives every component's state under each pair).",
        pairs_down.len(),
        report.pairs_tried
    );
    let _ = writeln!(
        out,
        "The zero-SPOF verdict is about single faults: two faults at once may still take a component down, and these pairs show which."
    );
    // Group pairs by what they take down, largest outcome first, a few examples each.
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for p in &pairs_down {
        let pair = p
            .faults
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" + ");
        let down: Vec<String> = p.down().into_iter().map(short).collect();
        match groups.iter_mut().find(|(d, _)| *d == down) {
            Some((_, pairs)) => pairs.push(pair),
            None => groups.push((down, vec![pair])),
        }
    }
    groups.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(b.1.len().cmp(&a.1.len())));
    for (down, pairs) in &groups {
        let shown = pairs.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
        let more = pairs.len().saturating_sub(3);
        let _ = writeln!(out, "  DOWN {}:", down.join(", "));
        if more > 0 {
            let _ = writeln!(out, "    {} pairs, e.g. {shown}; {more} more", pairs.len());
        } else {
            let _ = writeln!(out, "    {shown}");
        }
    }
    if report.findings.is_empty() {
        let _ = writeln!(out, "\nFindings: none.");
    } else {
        let _ = writeln!(out, "\nFindings:");
        for f in &report.findings {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = writeln!(out, "  [{sev}] {} ({}): {}", f.subject, f.code, f.message);
            let _ = writeln!(out, "      fix: {}", f.fix);
        }
    }
    let verdict = if report.zero_spof {
        "Verdict: zero-SPOF. No single fault takes any component down."
    } else {
        "Verdict: NOT zero-SPOF. See the findings above."
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}
