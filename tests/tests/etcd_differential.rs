//! The etcd differential test: one fault schedule through real etcd and through the simulator.
//!
//! Real half: three Debian etcd members (TLS with client certificates, started from the
//! rendered units, pre-vote as the topology says) in network namespaces, while the schedule
//! SIGKILLs the leader, SIGSTOPs a follower, cuts a follower's link and then the leader's;
//! two etcdctl clients record every call. Simulated half: the same phases, targets chosen the
//! same way, the same deadlines, on the simulated members. Both histories must satisfy the same
//! Wing-Gong/Lowe checker; per phase, writes must succeed (or not) alike and leadership must
//! change (or not) alike; the leader re-election times are printed side by side and must both
//! sit in the window etcd's timing implies. This lives in the workspace test crate because
//! `provision` (real etcd) and `sim` (model and checker) never import each other.

use provision::netns::{EtcdLab, FaultRun, FaultScheduleConfig, run_fault_schedule};
use sim::checks::linearizability::{CheckConfig, History, Verdict, check_with_stats};
use sim::engine::SimDuration;
use sim::models::etcd::EtcdSimConfig;
use sim::models::etcd::drill::{DrillConfig, SimDrill, run_drill};

/// Re-election window for etcd's default timing (100 ms heartbeat, 1 s election timeout):
/// no sooner than one timeout less one heartbeat after the fault, and within two timeouts plus
/// a vote round and the observing poll (the real poll spawns etcdctl against two members,
/// which takes up to ~0.5 s on this machine).
const REELECTION_MIN_MS: u64 = 900;
const REELECTION_MAX_MS: u64 = 3000;

fn judge(label: &str, history: &History) {
    assert!(
        history.operations.len() >= 100,
        "{label}: too few operations recorded to judge anything: {}",
        history.operations.len()
    );
    let (verdict, stats) =
        check_with_stats(history, &CheckConfig::default()).expect("history is well-formed");
    eprintln!(
        "{label}: {} operations, {} key groups, {} search steps: {verdict:?}",
        history.operations.len(),
        stats.parts,
        stats.steps
    );
    match verdict {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(v) => panic!("{label} history is not linearizable: {v:?}"),
        Verdict::Unknown { keys } => {
            panic!("{label}: the checker ran out of budget on keys {keys:?}; raise max_steps")
        }
    }
}

fn simulate(real: &FaultRun, members: Vec<String>, cfg: &FaultScheduleConfig) -> SimDrill {
    let drill = DrillConfig {
        members,
        etcd: EtcdSimConfig::default(),
        phase: SimDuration::from(cfg.phase),
        clients: cfg.clients,
        timeout: SimDuration::from(cfg.command_timeout),
        recovery_timeout: SimDuration::from(cfg.recovery_timeout),
    };
    let sim = run_drill(1, &drill).expect("the simulated schedule runs");
    assert!(
        sim.sim.violations().is_empty(),
        "simulated invariants: {:?}",
        sim.sim.violations()
    );
    assert_eq!(
        sim.phases.iter().map(|p| &p.name).collect::<Vec<_>>(),
        real.phases.iter().map(|p| &p.name).collect::<Vec<_>>(),
        "both halves ran the same phases"
    );
    sim
}

fn in_window(ns: u64) -> bool {
    (REELECTION_MIN_MS * 1_000_000..=REELECTION_MAX_MS * 1_000_000).contains(&ns)
}

#[test]
fn real_etcd_and_the_simulator_agree_on_the_fault_schedule() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(mut lab) =
        EtcdLab::start_three_or_skip(tmp.path(), "spofless-diff", time::OffsetDateTime::now_utc())
            .unwrap_or_else(|e| panic!("starting the etcd lab: {e}"))
    else {
        return;
    };
    let cfg = FaultScheduleConfig::default();
    let members: Vec<String> = lab.members().iter().map(|m| m.name.clone()).collect();
    let real = run_fault_schedule(&mut lab, &cfg).unwrap_or_else(|e| panic!("fault schedule: {e}"));
    drop(lab);

    let real_history = History::from_json(&real.history_json()).expect("history JSON loads");
    judge("real etcd", &real_history);
    let sim = simulate(&real, members, &cfg);
    judge("simulated etcd", &sim.history);

    eprintln!(
        "{:<12} {:>18} {:>18} {:>14} {:>14}",
        "phase", "real puts ok/unk", "sim puts ok/unk", "real re-elect", "sim re-elect"
    );
    let phases = real.phases.iter().zip(&sim.phases);
    for (i, (r, s)) in phases.clone().enumerate() {
        eprintln!(
            "{:<12} {:>18} {:>18} {:>14} {:>14}",
            r.name,
            format!("{}/{}", r.puts_ok, r.puts_indeterminate),
            format!("{}/{}", s.puts_ok, s.puts_indeterminate),
            r.reelection_ns
                .map_or("-".into(), |n| format!("{:.3}s", n as f64 / 1e9)),
            s.reelection.map_or("-".into(), |d| d.to_string()),
        );
        // A majority survives every phase: writes keep succeeding in both.
        assert_eq!(
            r.puts_ok > 0,
            s.puts_ok > 0,
            "{}: writes succeed in one half only",
            r.name
        );
        assert!(r.puts_ok > 0, "{}: no write succeeded", r.name);
        // Leadership changes in the same phases.
        if let (Some(rn), Some(sn)) = (real.phases.get(i + 1), sim.phases.get(i + 1)) {
            assert_eq!(
                rn.leader_before != r.leader_before,
                sn.leader_before != s.leader_before,
                "{}: leadership changed in one half only (real {:?} -> {:?}, sim {:?} -> {:?})",
                r.name,
                r.leader_before,
                rn.leader_before,
                s.leader_before,
                sn.leader_before
            );
        }
        assert_eq!(
            r.new_leader.is_some(),
            s.new_leader.is_some(),
            "{}: a new leader was elected in one half only",
            r.name
        );
    }
    for (r, s) in phases {
        if let (Some(real_ns), Some(sim_d)) = (r.reelection_ns, s.reelection) {
            assert!(
                in_window(real_ns),
                "{}: real re-election {real_ns} ns",
                r.name
            );
            assert!(
                in_window(sim_d.as_nanos()),
                "{}: simulated re-election {sim_d}",
                r.name
            );
        }
    }
}
