//! The etcd drill on the applied lab: the client certificate from the state directory, the
//! members reached from this machine (inside the isolated lab's namespace), the plan walked
//! through `provision::drill::lab_etcd`, a write ledger read back, the history checked.

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use comfy_table::Table;
use miette::{IntoDiagnostic as _, WrapErr as _, miette};
use provision::drill::etcd_ledger::{Ledger, LedgerCount};
use provision::drill::lab_etcd::LabEtcd;
use provision::drill::{
    EtcdClient, EtcdTarget as _, FaultRun, FaultScheduleConfig, PhaseOutcome, WorkloadMix,
    run_fault_schedule,
};
use provision::pki::ensure_etcd_pki;
use provision::render::bundle::etcd_cluster;
use serde::Serialize;
use sim::checks::linearizability::{CheckConfig, Verdict, check_with_stats};
use sim::models::etcd::client::DEFAULT_REQUEST_TIMEOUT;
use sim::models::etcd::drill::differential_client;
use topology::compare::{Disagreement, Tolerances};
use topology::drill::PhasePlan;
use topology::timeline::Timeline;

use super::{CLIENTS, Figure, JUDGED_UNTIL_REPAIR, Observation, Predicted, Setup, judge, since};
use crate::commands::apply::as_target_runs_it;
use crate::commands::drill::report::{self, Row, Side};
use crate::commands::drill::{DrillArgs, recorded_lab, write_report};
use crate::commands::render::open_store;
use crate::output::{Format, print_structured};
use crate::{exit, outln};

/// One ledger put every this long (a fifth of the workload clients' pace: it only counts).
const LEDGER_EVERY: Duration = Duration::from_millis(500);

/// `-o json|yaml`: both sides, the figures and the safety counts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DrillReport<'a> {
    drill: &'static str,
    target: &'static str,
    cluster: &'a str,
    heartbeat_ms: u64,
    election_timeout_ms: u64,
    plan: &'a PhasePlan,
    predicted: &'a [Predicted],
    observed: Observed<'a>,
    figures: &'a [Figure],
    disagreements: &'a [Disagreement],
    /// What the client lanes cover.
    lanes_cover: &'static str,
    ledger: LedgerCount,
    history_linearizable: bool,
    /// Why the history is not known to be linearizable.
    history_problem: Option<&'a str>,
    /// Where the whole run (phases, every call with its answer) was written.
    run_file: &'a Path,
    agrees: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Observed<'a> {
    phases: &'a [PhaseOutcome],
    reelection_seconds: Option<f64>,
    injection_seconds: f64,
    /// From the repair until every member was healthy again (a killed member's start-up).
    member_startup_seconds: Option<f64>,
    write_share: &'a [(String, f64)],
    timelines: &'a [Timeline],
    operations: usize,
}

/// Writes the etcd CA and the health-check client's certificate and key (0600, in a 0700
/// directory under the state directory, which already holds them) for `etcdctl`.
fn client_tls(state_dir: &Path, cluster: &topology::Cluster) -> miette::Result<[PathBuf; 3]> {
    let store = open_store(state_dir)?;
    let pki = ensure_etcd_pki(
        &store,
        &etcd_cluster(cluster),
        time::OffsetDateTime::now_utc(),
    )
    .into_diagnostic()
    .wrap_err("the etcd PKI in the state directory")?;
    let dir = state_dir.join("drill");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .into_diagnostic()
        .wrap_err_with(|| format!("creating {}", dir.display()))?;
    let files = [
        ("etcd-ca.crt", pki.ca.cert_pem.as_str()),
        ("etcd-client.crt", pki.healthcheck_client.cert_pem.as_str()),
        ("etcd-client.key", pki.healthcheck_client.key.expose()),
    ];
    let mut paths = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .into_diagnostic()
            .wrap_err_with(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).into_diagnostic()?;
        paths.push(path);
    }
    let [ca, cert, key]: [PathBuf; 3] = paths.try_into().map_err(|_| miette!("three TLS files"))?;
    Ok([ca, cert, key])
}

fn workload() -> WorkloadMix {
    let client = differential_client(DEFAULT_REQUEST_TIMEOUT);
    WorkloadMix {
        clients: CLIENTS,
        ops: client.op_mix(),
        request_timeout: Duration::from_nanos(client.timeout.as_nanos()),
    }
}

/// The observed run's figures, its lanes cut to the phases and moved to start with them, and
/// each phase's share of writes answered.
fn observation(real: &FaultRun) -> (Observation, Vec<(String, f64)>) {
    let fault = real.phases.iter().find(|p| p.fault_window_ns.is_some());
    let from = Duration::from_nanos(real.phases.first().map_or(0, |p| p.start_ns));
    // Judged up to the repair, as the prediction is (see `JUDGED_UNTIL_REPAIR`).
    let to = Duration::from_nanos(
        fault
            .and_then(|p| p.fault_window_ns)
            .map(|(_, repaired)| repaired)
            .or(real.phases.last().map(|p| p.end_ns))
            .unwrap_or(0),
    );
    let lanes = real
        .observed_timelines()
        .into_iter()
        .map(|t| since(&t.window(from, to), from))
        .collect();
    let seen = Observation {
        reelection: fault
            .and_then(|p| p.reelection_ns)
            .map(Duration::from_nanos),
        injection: Duration::from_nanos(fault.and_then(|p| p.injection_ns).unwrap_or(0)),
        timelines: lanes,
    };
    let shares = real
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.counts.answered_share_and_misses().0))
        .collect();
    (seen, shares)
}

/// The HTML report: the first seed's lanes above the observed ones, the fault marked.
#[allow(clippy::too_many_arguments)]
fn html_report(
    args: &DrillArgs,
    setup: &Setup,
    real: &FaultRun,
    predicted: &[Predicted],
    seen: &Observation,
    figures: &[Figure],
    ledger: LedgerCount,
    linearizable: bool,
) -> String {
    let first = real.phases.first().map_or(0, |p| p.start_ns);
    let fault_at = real
        .phases
        .iter()
        .find_map(|p| p.fault_window_ns)
        .map(|(at, _)| Duration::from_nanos(at.saturating_sub(first)));
    let seed_name = predicted.first().map_or("predicted".to_owned(), |p| {
        format!("predicted (seed {})", p.seed)
    });
    let none = Vec::new();
    let sides = [
        Side {
            name: &seed_name,
            kind: "predicted",
            lanes: predicted.first().map_or(&none, |p| &p.timelines),
        },
        Side {
            name: "observed",
            kind: "observed",
            lanes: &seen.timelines,
        },
    ];
    let rows: Vec<Row<'_>> = figures
        .iter()
        .map(|f| Row {
            subject: &f.subject,
            figure: &f.figure,
            observed: &f.observed,
            predicted: &f.predicted,
            tolerance: &f.tolerance,
            verdict: f.verdict(),
        })
        .collect();
    report::render(
        &format!("spofless drill {}", args.drill.as_str()),
        &[
            format!(
                "{} phases of {:.0} s, heartbeat {}, election timeout {}; predicted over {} seeds",
                setup.plan.names().join(" / "),
                setup.plan.phase.as_secs_f64(),
                setup.etcd.heartbeat,
                setup.etcd.election_timeout,
                predicted.len()
            ),
            JUDGED_UNTIL_REPAIR.to_owned(),
            format!(
                "ledger: {} puts, {} acknowledged, {} lost; history {}",
                ledger.sent,
                ledger.acknowledged,
                ledger.lost,
                if linearizable {
                    "linearizable"
                } else {
                    "NOT linearizable"
                }
            ),
        ],
        &sides,
        fault_at,
        &rows,
    )
}

/// From the repair of `phase`'s fault until every member answered `endpoint health`: for a
/// kill, how long the restarted member took to start and catch up.
fn member_startup(phase: &PhaseOutcome) -> Option<Duration> {
    let (_, repaired) = phase.fault_window_ns?;
    Some(Duration::from_nanos(phase.end_ns.saturating_sub(repaired)))
}

/// Runs the etcd drill `args` on the lab.
pub fn run(args: &DrillArgs, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
    let t = &args.target;
    let lab_cluster = as_target_runs_it(t, cluster)?;
    let emulated = lab_cluster.spec.etcd != cluster.spec.etcd;
    let tol = if emulated {
        Tolerances::EMULATED_LAB
    } else {
        Tolerances::ETCD_SCHEDULE
    };
    let (name, fault) = args
        .drill
        .etcd_phase()
        .ok_or_else(|| miette!("`{}` is not an etcd drill", args.drill.as_str()))?;
    let setup = Setup::new(name, fault, &lab_cluster);
    let lab = recorded_lab(&lab_cluster, &t.lab_state_dir)?;
    eprintln!(
        "predicting {} on {} seeds ({} phases of {:.0} s)",
        args.drill.as_str(),
        args.seeds,
        setup.plan.phases.len(),
        setup.plan.phase.as_secs_f64()
    );
    let predicted = setup.predict(args.seeds)?;

    let tls = client_tls(&t.state_dir, &lab_cluster)?;
    let netns = lab.reach_netns().into_diagnostic()?;
    let client = EtcdClient::new(netns, tls);
    let etcd = etcd_cluster(&lab_cluster);
    let endpoints = etcd.client_endpoints();
    let members: Vec<(String, String)> = etcd
        .members
        .iter()
        .map(|m| m.name.clone())
        .zip(endpoints.iter().cloned())
        .collect();
    let mut target = LabEtcd::new(&lab, members, client.clone())
        .into_diagnostic()
        .wrap_err("connecting to the etcd members")?;
    target
        .wait_healthy(&endpoints, setup.plan.recovery_timeout)
        .into_diagnostic()
        .wrap_err("etcd is not healthy on the lab; `spofless apply --target lab` first")?;
    eprintln!("observing {} on lab {}", args.drill.as_str(), lab.spec.name);
    let prefix = format!(
        "spofless/drill/{}/{}/",
        args.drill.as_str(),
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let ledger = Ledger::start(
        client.clone(),
        endpoints.clone(),
        &prefix,
        LEDGER_EVERY,
        Duration::from_nanos(DEFAULT_REQUEST_TIMEOUT.as_nanos()),
    );
    let cfg = FaultScheduleConfig {
        plan: setup.plan.clone(),
        workload: workload(),
    };
    let real = run_fault_schedule(&mut target, &cfg);
    let ledger = ledger.finish(&client, &endpoints, Duration::from_secs(10));
    let real = real.into_diagnostic().wrap_err("the drill on the lab")?;
    let ledger = ledger
        .into_diagnostic()
        .wrap_err("reading the write ledger back")?;
    let history = real.history();
    let kept = t
        .state_dir
        .join("drill")
        .join(format!("{}-run.json", args.drill.as_str()));
    std::fs::write(&kept, real.to_json())
        .into_diagnostic()
        .wrap_err_with(|| format!("keeping the run in {}", kept.display()))?;
    let verdict = check_with_stats(&history, &CheckConfig::default())
        .map(|(v, _)| v)
        .map_err(|e| miette!("the drill's history: {e}"))?;
    let linearizable = verdict.is_linearizable();
    let history_problem = match verdict {
        Verdict::Linearizable => None,
        Verdict::NotLinearizable(v) => Some(format!("{v:?}")),
        Verdict::Unknown { keys } => Some(format!("the checker ran out of budget on {keys:?}")),
    };

    let (seen, write_share) = observation(&real);
    let (figures, disagreements) = judge(&seen, &predicted, &tol);
    let agrees = disagreements.is_empty() && ledger.lost == 0 && linearizable;
    write_report(args, || {
        html_report(
            args,
            &setup,
            &real,
            &predicted,
            &seen,
            &figures,
            ledger,
            linearizable,
        )
    })?;
    if t.format != Format::Table {
        print_structured(
            &DrillReport {
                drill: args.drill.as_str(),
                target: t.target.name(),
                cluster: &cluster.metadata.name,
                heartbeat_ms: setup.etcd.heartbeat.as_nanos() / 1_000_000,
                election_timeout_ms: setup.etcd.election_timeout.as_nanos() / 1_000_000,
                plan: &setup.plan,
                predicted: &predicted,
                observed: Observed {
                    phases: &real.phases,
                    reelection_seconds: seen.reelection.map(|d| d.as_secs_f64()),
                    injection_seconds: seen.injection.as_secs_f64(),
                    member_startup_seconds: real
                        .phases
                        .iter()
                        .find_map(member_startup)
                        .map(|d| d.as_secs_f64()),
                    write_share: &write_share,
                    timelines: &seen.timelines,
                    operations: real.operations.len(),
                },
                figures: &figures,
                disagreements: &disagreements,
                lanes_cover: JUDGED_UNTIL_REPAIR,
                ledger,
                history_linearizable: linearizable,
                history_problem: history_problem.as_deref(),
                run_file: &kept,
                agrees,
            },
            t.format,
        )?;
        return Ok(exit::verdict(agrees));
    }
    print_table(
        args,
        &setup,
        &real,
        seen.injection,
        &figures,
        &disagreements,
        ledger,
        linearizable,
    )?;
    if let Some(p) = &history_problem {
        outln!("history problem: {p}")?;
    }
    outln!(
        "the run (phases, every call and its answer): {}",
        kept.display()
    )?;
    Ok(exit::verdict(agrees))
}

#[allow(clippy::too_many_arguments)]
fn print_table(
    args: &DrillArgs,
    setup: &Setup,
    real: &FaultRun,
    injection: Duration,
    figures: &[Figure],
    disagreements: &[Disagreement],
    ledger: LedgerCount,
    linearizable: bool,
) -> miette::Result<()> {
    outln!(
        "drill {}: {} phases of {:.0} s (heartbeat {}, election timeout {}), predicted over {} seeds",
        args.drill.as_str(),
        setup.plan.names().join(" / "),
        setup.plan.phase.as_secs_f64(),
        setup.etcd.heartbeat,
        setup.etcd.election_timeout,
        args.seeds
    )?;
    for p in real.phases.iter().filter(|p| p.target.is_some()) {
        if let Some(up) = member_startup(p) {
            outln!(
                "  repair: {} answered `endpoint health` again {:.2} s after it (a restarted member's start-up, a resumed one's catch-up; not modelled)",
                p.target.as_deref().unwrap_or("-"),
                up.as_secs_f64()
            )?;
        }
        outln!(
            "  {}: hit {} (leader {}), fault instant known to {:.3} s; new leader {}",
            p.name,
            p.target.as_deref().unwrap_or("-"),
            p.leader_before.as_deref().unwrap_or("-"),
            injection.as_secs_f64(),
            match (&p.new_leader, p.reelection_ns) {
                (Some(l), Some(ns)) =>
                    format!("{l} after {:.2} s", Duration::from_nanos(ns).as_secs_f64()),
                _ => "none seen".to_owned(),
            }
        )?;
    }
    outln!("  {JUDGED_UNTIL_REPAIR}")?;
    let mut table = Table::new();
    table.set_header([
        "subject",
        "figure",
        "observed",
        "predicted",
        "tolerance",
        "verdict",
    ]);
    for f in figures {
        table.add_row([
            f.subject.as_str(),
            f.figure.as_str(),
            f.observed.as_str(),
            f.predicted.as_str(),
            f.tolerance.as_str(),
            f.verdict(),
        ]);
    }
    outln!("{table}")?;
    outln!(
        "ledger: {} puts, {} acknowledged, {} lost ({} unacknowledged took effect)",
        ledger.sent,
        ledger.acknowledged,
        ledger.lost,
        ledger.unacknowledged_present
    )?;
    outln!(
        "history: {} operations, {}",
        real.operations.len(),
        if linearizable {
            "linearizable"
        } else {
            "NOT linearizable"
        }
    )?;
    for d in disagreements {
        outln!("DISAGREES: {d}")?;
    }
    Ok(())
}
