//! `plan`'s promise that rolling restarts keep quorum, backed by the simulator: the plan's
//! restarts of quorum members and the VIP's daemons (etcd, Ceph monitors, keepalived, haproxy)
//! replayed in the plan's order through the etcd, Ceph and control-plane models, on the same
//! topology, for a few seeds.
//! This lives in the CLI because it joins `provision` (the plan) and `sim` (the models).

use std::time::Duration;

use provision::apply::{Change, Plan};
use sim::scenario::run::run_scenario;
use topology::Cluster;
use topology::fault::{Fault, FaultPlan, Scenario, TimedFault};
use topology::timeline::Status;

/// When the first restart happens: the simulated cluster is healthy well before (etcd elects in
/// about a second, Ceph's PGs peer within seconds).
const FIRST_RESTART: Duration = Duration::from_secs(60);
/// SIGTERM to start again: systemd's restart of a daemon that stops promptly.
const DOWN_FOR: Duration = Duration::from_secs(2);
/// From one restart to the next: the gate between them passed after 0.7-23 s in the lab under
/// TCG (session 8), so 30 s is a realistic spacing, and a gate that fails stops apply.
const SPACING: Duration = Duration::from_secs(30);
/// Watched after the last restart.
const TAIL: Duration = Duration::from_secs(60);
/// Seeds each order is run with.
const SEEDS: [u64; 3] = [1, 2, 3];

/// The simulated process a unit's restart stops, and the component whose availability shows
/// whether quorum held.
fn modelled(unit: &str) -> Option<(&'static str, &'static str)> {
    match unit.split(['@', '.']).next()? {
        "etcd" => Some(("etcd", "etcd")),
        "ceph-mon" => Some(("ceph-mon", "ceph/mon-quorum")),
        "keepalived" => Some(("keepalived", "kube-apiserver")),
        "haproxy" => Some(("haproxy", "kube-apiserver")),
        _ => None,
    }
}

/// The plan's rolling restarts, in the order apply makes them: (host, process, component).
fn rolling(plan: &Plan) -> Vec<(String, &'static str, &'static str)> {
    plan.steps
        .iter()
        .flat_map(|s| {
            s.changes.iter().filter_map(move |c| match c {
                Change::Restart {
                    unit,
                    rolling: true,
                    ..
                } => modelled(unit).map(|(p, comp)| (s.host.clone(), p, comp)),
                _ => None,
            })
        })
        .collect()
}

/// One line per simulated seed set, or nothing when the plan restarts no quorum member.
pub fn predict(cluster: &Cluster, plan: &Plan) -> Vec<String> {
    let order = rolling(plan);
    if order.is_empty() {
        return Vec::new();
    }
    let mut faults = Vec::new();
    for (i, (host, process, _)) in order.iter().enumerate() {
        let at = FIRST_RESTART + SPACING * u32::try_from(i).unwrap_or(u32::MAX);
        let (host, process) = (host.clone(), (*process).to_owned());
        faults.push(TimedFault {
            at,
            fault: Fault::ProcessTerminate {
                host: host.clone(),
                process: process.clone(),
            },
        });
        faults.push(TimedFault {
            at: at + DOWN_FOR,
            fault: Fault::ProcessStart { host, process },
        });
    }
    let last = faults.last().map_or(FIRST_RESTART, |f| f.at);
    let duration = last + TAIL;
    let scenario = Scenario::new(
        "rolling-restart",
        "the plan's rolling restarts in its order",
        duration,
        FaultPlan::new(faults),
    );
    let mut components: Vec<&str> = order.iter().map(|(_, _, c)| *c).collect();
    components.dedup();
    let described: Vec<String> = order.iter().map(|(h, p, _)| format!("{p}@{h}")).collect();
    let mut lines = vec![format!(
        "simulated: the rolling restarts {} (SIGTERM, start {} s later, {} s apart), seeds {:?}:",
        described.join(" -> "),
        DOWN_FOR.as_secs(),
        SPACING.as_secs(),
        SEEDS
    )];
    for seed in SEEDS {
        let outcome = match run_scenario(cluster, &scenario, seed, duration) {
            Ok(o) => o,
            Err(e) => {
                lines.push(format!("  seed {seed}: not simulated: {e}"));
                continue;
            }
        };
        let mut parts = Vec::new();
        for comp in &components {
            let Some(t) = outcome.timelines.iter().find(|t| t.component == *comp) else {
                parts.push(format!("{comp}: not modelled"));
                continue;
            };
            let down = t.total(Status::Down);
            let longest = t
                .incidents()
                .iter()
                .filter(|i| i.worst == Status::Down)
                .filter_map(|i| i.recovered_after)
                .max()
                .unwrap_or_default();
            parts.push(if down == sim::engine::SimDuration::ZERO {
                format!("{comp} never down")
            } else {
                format!(
                    "{comp} down {:.3} s in all, longest {:.3} s",
                    down.as_secs_f64(),
                    longest.as_secs_f64()
                )
            });
        }
        let verdict = if outcome.passed() {
            "every invariant held".to_owned()
        } else {
            format!("{} invariant(s) failed", outcome.violations.len())
        };
        lines.push(format!(
            "  seed {seed}: {} faults applied; {}; {verdict}",
            outcome.faults.len(),
            parts.join(", ")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use provision::apply::{Phase, Step, StepState};

    use super::*;

    fn restart(host: &str, unit: &str) -> Step {
        Step {
            phase: Phase::Etcd,
            host: host.to_owned(),
            state: StepState::Changes,
            changes: vec![Change::Restart {
                unit: unit.to_owned(),
                rolling: true,
                why: "changed: /etc/default/etcd".to_owned(),
            }],
        }
    }

    #[test]
    fn rolling_etcd_restarts_keep_quorum_in_the_simulator() {
        let cluster = topology::default_cluster().expect("embedded topology");
        let plan = Plan {
            steps: ["micklethefickle", "cloudserver1", "cloudserver2"]
                .into_iter()
                .map(|h| restart(h, "etcd.service"))
                .collect(),
            gates: Vec::new(),
        };
        let lines = predict(&cluster, &plan);
        assert_eq!(lines.len(), 1 + SEEDS.len(), "{lines:#?}");
        assert!(
            lines[0].contains("etcd@micklethefickle -> etcd@cloudserver1 -> etcd@cloudserver2"),
            "{}",
            lines[0]
        );
        for line in &lines[1..] {
            assert!(line.contains("every invariant held"), "{line}");
            assert!(line.contains(" 6 faults applied"), "{line}");
            // One member down at a time never costs quorum; a restarted leader costs an
            // election (about one election timeout, 1 s), never more than a few seconds.
            if let Some(i) = line.find("longest ") {
                let secs: f64 = line[i + 8..]
                    .split(' ')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("seconds");
                assert!(secs < 5.0, "{line}");
            }
        }
        // A plan without quorum members' restarts predicts nothing.
        let quiet = Plan {
            steps: vec![restart("cloudserver3", "containerd.service")],
            gates: Vec::new(),
        };
        assert!(predict(&cluster, &quiet).is_empty());
    }
}
