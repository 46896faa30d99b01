//! The VIP holder's crash on the applied lab.

use std::process::ExitCode;
use std::time::Duration;

use comfy_table::Table;
use miette::{IntoDiagnostic as _, WrapErr as _, miette};
use provision::drill::lab_vip::{VipDrillConfig, VipDrillRun, run_vip_holder_crash};
use provision::drill::tcp_probe::lane;
use serde::Serialize;
use topology::compare::{Disagreement, judge_figure};
use topology::timeline::{Status, Timeline};

use super::{VipPrediction, predict};
use crate::commands::apply::{as_target_runs_it, desired_state};
use crate::commands::drill::report::{self, Row, Side};
use crate::commands::drill::{DrillArgs, recorded_lab, write_report};
use crate::output::{Format, print_structured};
use crate::{exit, outln};

/// One probe attempt every 100 ms, each bounded by 250 ms: an attempt in flight when the VIP
/// moves (its SYN sent to the dead holder's MAC) times out, and the next one begins at most
/// 350 ms after the move. That resolution, plus an emulated guest's timers firing late on two
/// busy host cores (keepalived's advert and master-down timers run inside the guest; the lab
/// measured heartbeats 105 ms late at the median), is how far the observed time may exceed the
/// simulated range: [`TOLERANCE`], on top of the crash's own injection span.
const PROBE_EVERY: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
const TOLERANCE: Duration = Duration::from_millis(600);

/// How the lab drill runs: 5 s of probing first, the holder off for 20 s (several takeover
/// times), and up to 5 minutes for an emulated guest to boot and take the VIP back.
const CONFIG: VipDrillConfig = VipDrillConfig {
    settle: Duration::from_secs(5),
    hold: Duration::from_secs(20),
    probe_every: PROBE_EVERY,
    probe_timeout: PROBE_TIMEOUT,
    recovery_timeout: Duration::from_secs(300),
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VipReport<'a> {
    drill: &'static str,
    target: &'static str,
    cluster: &'a str,
    predicted: &'a [VipPrediction],
    observed: &'a VipDrillRun,
    observed_timeline: &'a Timeline,
    disagreements: &'a [Disagreement],
    agrees: bool,
}

/// The HTML report: the observed probe lane under the simulator's, which is the VIP not held
/// from the crash until the median simulated takeover (the model's answer to "when does the
/// VIP answer again"), both on the drill's clock.
fn html_report(
    run: &VipDrillRun,
    predicted: &[VipPrediction],
    observed: &Timeline,
    takeovers: &[Duration],
    disagreements: &[Disagreement],
) -> String {
    let mut sorted = takeovers.to_vec();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let end = observed.intervals.last().map_or(run.fault_at, |i| i.end);
    let simulated = Timeline::from_changes(
        "vip",
        &[
            (Duration::ZERO, Status::Up),
            (run.fault_at, Status::Down),
            (run.fault_at + median, Status::Up),
        ],
        end,
    );
    let secs = |d: Duration| format!("{:.2}s", d.as_secs_f64());
    let (lo, hi) = (
        sorted.first().copied().unwrap_or_default(),
        sorted.last().copied().unwrap_or_default(),
    );
    let (seen, range, tol) = (
        run.answered_again_after.map_or("never".to_owned(), secs),
        format!("{}..{}", secs(lo), secs(hi)),
        secs(TOLERANCE + run.injection),
    );
    let verdict = if disagreements.is_empty() {
        "agrees"
    } else {
        "DISAGREES"
    };
    let holder_seen = run.holder_during.join(", ");
    let holder_predicted = predicted.first().map_or("-", |p| p.new_holder.as_str());
    report::render(
        "spofless drill vip-holder-crash",
        &[format!(
            "{} powered off at {:.2} s for {:.0} s; predicted at {} points of the advert interval",
            run.holder_before,
            run.fault_at.as_secs_f64(),
            CONFIG.hold.as_secs_f64(),
            predicted.len()
        )],
        &[
            Side {
                name: "predicted (median takeover)",
                kind: "predicted",
                lanes: std::slice::from_ref(&simulated),
            },
            Side {
                name: "observed (TCP connects)",
                kind: "observed",
                lanes: std::slice::from_ref(observed),
            },
        ],
        Some(run.fault_at),
        &[
            Row {
                subject: "vip",
                figure: "answers again after the crash",
                observed: &seen,
                predicted: &range,
                tolerance: &tol,
                verdict,
            },
            Row {
                subject: "vip",
                figure: "holder while the old one is off",
                observed: &holder_seen,
                predicted: holder_predicted,
                tolerance: "-",
                verdict,
            },
        ],
    )
}

/// Runs the VIP holder crash `args` on the lab.
pub fn run(args: &DrillArgs, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
    let t = &args.target;
    let lab_cluster = as_target_runs_it(t, cluster)?;
    let lab = recorded_lab(&lab_cluster, &t.lab_state_dir)?;
    let desired = desired_state(t, &lab_cluster)?;
    let check = desired
        .vip
        .ok_or_else(|| miette!("the topology has no API VIP to drill"))?;
    eprintln!(
        "observing {} on lab {}: {}:{} probed every {} ms",
        args.drill.as_str(),
        lab.spec.name,
        check.vip,
        check.port,
        PROBE_EVERY.as_millis()
    );
    let run = run_vip_holder_crash(&lab, &check.holders, &check, &CONFIG)
        .into_diagnostic()
        .wrap_err("the drill on the lab")?;
    eprintln!(
        "predicting the crash of {} at {} points of the advert interval",
        run.holder_before, args.seeds
    );
    let predicted = predict(&lab_cluster, &run.holder_before, args.seeds)?;
    let takeovers: Vec<Duration> = predicted.iter().map(|p| p.takeover).collect();
    let mut disagreements = Vec::new();
    match run.answered_again_after {
        Some(seen) => disagreements.extend(judge_figure(
            "vip",
            "answers again after the holder's crash",
            seen,
            &takeovers,
            TOLERANCE + run.injection,
        )),
        None => disagreements.push(Disagreement {
            subject: "vip".into(),
            figure: "answers again after the holder's crash".into(),
            observed: "never".into(),
            predicted: "a takeover".into(),
            off_by: "-".into(),
            tolerance: "-".into(),
        }),
    }
    let predicted_holders: Vec<&str> = predicted.iter().map(|p| p.new_holder.as_str()).collect();
    if !run
        .holder_during
        .iter()
        .all(|h| predicted_holders.contains(&h.as_str()))
        || run.holder_during.len() != 1
    {
        disagreements.push(Disagreement {
            subject: "vip".into(),
            figure: "holder while the old one is off".into(),
            observed: format!("[{}]", run.holder_during.join(", ")),
            predicted: format!("[{}]", predicted_holders.join(", ")),
            off_by: "-".into(),
            tolerance: "-".into(),
        });
    }
    let end = run
        .samples
        .last()
        .map_or(Duration::ZERO, |s| s.at + PROBE_EVERY);
    let timeline = lane("vip", &run.samples, Duration::ZERO, end);
    let agrees = disagreements.is_empty();
    write_report(args, || {
        html_report(&run, &predicted, &timeline, &takeovers, &disagreements)
    })?;
    if t.format != Format::Table {
        print_structured(
            &VipReport {
                drill: args.drill.as_str(),
                target: t.target.name(),
                cluster: &cluster.metadata.name,
                predicted: &predicted,
                observed: &run,
                observed_timeline: &timeline,
                disagreements: &disagreements,
                agrees,
            },
            t.format,
        )?;
        return Ok(exit::verdict(agrees));
    }
    let secs = |d: Duration| format!("{:.2}s", d.as_secs_f64());
    outln!(
        "drill {}: {} powered off for {:.0} s (injected in {}), VIP {}:{} probed every {} ms",
        args.drill.as_str(),
        run.holder_before,
        CONFIG.hold.as_secs_f64(),
        secs(run.injection),
        check.vip,
        check.port,
        PROBE_EVERY.as_millis()
    )?;
    let lo = takeovers.iter().min().copied().unwrap_or_default();
    let hi = takeovers.iter().max().copied().unwrap_or_default();
    let mut table = Table::new();
    table.set_header(["figure", "observed", "predicted", "tolerance"]);
    table.add_row([
        "VIP answers again after the crash".to_owned(),
        run.answered_again_after.map_or("never".into(), secs),
        format!("{}..{}", secs(lo), secs(hi)),
        secs(TOLERANCE + run.injection),
    ]);
    table.add_row([
        "holder while it is off".to_owned(),
        run.holder_during.join(", "),
        predicted_holders.first().copied().unwrap_or("-").to_owned(),
        "-".to_owned(),
    ]);
    table.add_row([
        "old holder holds it again after its boot".to_owned(),
        run.settled_after.map_or("not seen".into(), secs),
        "(not modelled: guest boot)".to_owned(),
        "-".to_owned(),
    ]);
    outln!("{table}")?;
    for d in &disagreements {
        outln!("DISAGREES: {d}")?;
    }
    Ok(exit::verdict(agrees))
}
