//! The real half of the etcd differential test (issue 4): three rendered etcd members in
//! network namespaces under the fault schedule (SIGKILL the leader, SIGSTOP a follower, cut a
//! follower's link, cut the leader's link, heal) with a put/get workload. Records per-phase
//! outcomes and leader re-election times, saves the history as JSON in the linearizability
//! checker's format, and checks what real etcd must guarantee: writes succeed with a majority,
//! a new leader appears within a bound, and every answered read returns a value some put wrote
//! (no invented or lost-and-resurrected values), with per-client revisions never going back.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use provision::netns::{
    EtcdLab, FaultScheduleConfig, RecordedOp, RecordedOutcome, RecordedResult, run_fault_schedule,
};
use time::OffsetDateTime;

/// Bound on re-election after losing the leader. etcd's default election timeout is 1 s
/// (randomised in [1 s, 2 s)); LAB-NOTES measured 1.2-2.5 s. Ten seconds flags a real problem.
const REELECTION_BOUND: Duration = Duration::from_secs(10);

#[test]
fn etcd_fault_schedule_history_and_reelection() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut lab) =
        EtcdLab::start_three_or_skip(tmp.path(), "spofless-faults", OffsetDateTime::now_utc())
            .unwrap_or_else(|e| panic!("starting the etcd lab: {e}"))
    else {
        return;
    };
    let run = run_fault_schedule(&mut lab, &FaultScheduleConfig::default())
        .unwrap_or_else(|e| panic!("fault schedule: {e}"));

    let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(out.join("etcd-fault-history.json"), run.history_json()).unwrap();
    std::fs::write(out.join("etcd-fault-run.json"), run.to_json()).unwrap();
    eprintln!("history: {}", out.join("etcd-fault-history.json").display());
    for p in &run.phases {
        eprintln!(
            "phase {:<12} target {:<7} leader {:<7} -> {:<7} re-election {:>8} puts ok/indet {:>3}/{:<3} gets ok/failed {:>3}/{:<3}",
            p.name,
            p.target.as_deref().unwrap_or("-"),
            p.leader_before.as_deref().unwrap_or("-"),
            p.new_leader.as_deref().unwrap_or("-"),
            p.reelection_ns
                .map(|n| format!("{:.3}s", n as f64 / 1e9))
                .unwrap_or("-".into()),
            p.puts_ok,
            p.puts_indeterminate,
            p.gets_ok,
            p.gets_failed
        );
    }

    let phase = |name: &str| run.phases.iter().find(|p| p.name == name).unwrap();
    // A healthy cluster answers (almost) everything: on a loaded machine an etcdctl call can
    // still exceed its command timeout now and then, so allow a few percent.
    for name in ["baseline", "healed"] {
        let p = phase(name);
        let unanswered = p.puts_indeterminate + p.gets_failed;
        assert!(
            p.puts_ok > 0 && unanswered * 20 <= p.puts_ok + p.gets_ok,
            "{p:?}"
        );
    }
    for o in run.operations.iter().filter(|o| o.detail.is_some()) {
        eprintln!("unanswered in {}: {:?} {:?}", o.phase, o.op, o.detail);
    }
    // With two of three members, writes go on.
    for name in ["kill-leader", "stop-member", "cut-member", "cut-leader"] {
        assert!(
            phase(name).puts_ok > 0,
            "no write succeeded in {name}: {:?}",
            phase(name)
        );
    }
    for name in ["kill-leader", "cut-leader"] {
        let p = phase(name);
        let t = p
            .reelection_ns
            .unwrap_or_else(|| panic!("no new leader in {name}: {p:?}"));
        assert!(Duration::from_nanos(t) < REELECTION_BOUND, "{name}: {p:?}");
        assert_ne!(p.new_leader, p.leader_before);
    }

    // Reads return only values some put wrote, called before the read returned.
    let mut written = BTreeSet::new();
    for o in &run.operations {
        if let RecordedOp::Put { value, .. } = &o.op {
            written.insert((value.clone(), o.call_time));
        }
    }
    let mut last_rev = std::collections::BTreeMap::new();
    for o in &run.operations {
        if let RecordedOutcome::Ok(result) = &o.outcome {
            let rev = match result {
                RecordedResult::Put { revision } => *revision,
                RecordedResult::Get { revision, kv } => {
                    if let Some(kv) = kv {
                        let ret = o.return_time.unwrap();
                        assert!(
                            written
                                .iter()
                                .any(|(v, call)| *v == kv.value && *call <= ret),
                            "read returned a value no put wrote: {o:?}"
                        );
                    }
                    *revision
                }
            };
            let last = last_rev.entry(o.client).or_insert(0);
            assert!(
                rev >= *last,
                "client {} saw revision go back: {o:?}",
                o.client
            );
            *last = rev;
        }
    }
}
