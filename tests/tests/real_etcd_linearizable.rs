//! Real etcd, judged by the simulator's checker.
//!
//! Three Debian etcd members (TLS with client certificates, started from the rendered units)
//! run in network namespaces while the fault schedule kills the leader, stops a follower and
//! cuts links; two etcdctl clients record every put and get with call and return times. The
//! recorded history, timed-out calls included as indeterminate, must be linearizable under
//! the same Wing-Gong/Lowe checker that judges simulated histories. This lives here because
//! `provision` (which drives real etcd) and `sim` (which owns the checker) never import each
//! other.

use provision::netns::{EtcdLab, FaultScheduleConfig, run_fault_schedule};
use sim::checks::linearizability::{CheckConfig, History, Verdict, check_with_stats};

#[test]
fn real_etcd_history_under_faults_is_linearizable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(mut lab) =
        EtcdLab::start_three_or_skip(tmp.path(), "spofless-linz", time::OffsetDateTime::now_utc())
            .unwrap_or_else(|e| panic!("starting the etcd lab: {e}"))
    else {
        return;
    };
    let run = run_fault_schedule(&mut lab, &FaultScheduleConfig::default())
        .unwrap_or_else(|e| panic!("fault schedule: {e}"));
    drop(lab);

    let history = History::from_json(&run.history_json()).expect("history JSON loads");
    assert!(
        history.operations.len() >= 100,
        "too few operations recorded to judge anything: {}",
        history.operations.len()
    );
    let (verdict, stats) =
        check_with_stats(&history, &CheckConfig::default()).expect("history is well-formed");
    eprintln!(
        "{} operations, {} key groups, {} search steps: {verdict:?}",
        history.operations.len(),
        stats.parts,
        stats.steps
    );
    match verdict {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(v) => panic!("real etcd history is not linearizable: {v:?}"),
        Verdict::Unknown { keys } => {
            panic!("the checker ran out of budget on keys {keys:?}; raise max_steps")
        }
    }
}
