//! Hand-written histories with known verdicts for the linearizability checker: each anomaly
//! etcd's guarantees rule out, and the indeterminate cases a client timeout creates.

use sim::checks::linearizability::{
    CheckConfig, History, Operation, Outcome, Verdict, check, history::HistoryError,
};
use sim::models::kv::{
    Compare, CompareOp, CompareTarget, KeyValue, KvOp, KvResult, RequestOp, ResponseOp,
};

fn at(client: u32, call: u64, ret: u64, op: KvOp, outcome: Outcome) -> Operation {
    Operation {
        client,
        op,
        call_time: call,
        return_time: Some(ret),
        outcome,
    }
}

fn put(c: u32, call: u64, ret: u64, k: &str, v: &str, rev: i64) -> Operation {
    let op = KvOp::Put {
        key: k.into(),
        value: v.into(),
    };
    at(
        c,
        call,
        ret,
        op,
        Outcome::Ok(KvResult::Put { revision: rev }),
    )
}

fn put_timeout(c: u32, call: u64, k: &str, v: &str) -> Operation {
    let op = KvOp::Put {
        key: k.into(),
        value: v.into(),
    };
    at(c, call, call + 5, op, Outcome::Indeterminate)
}

/// A key as a read shows it: (value, create_revision, mod_revision, version).
fn kv(k: &str, v: &str, create: i64, modr: i64, version: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
        create_revision: create,
        mod_revision: modr,
        version,
    }
}

fn get(c: u32, call: u64, ret: u64, k: &str, seen: Option<KeyValue>, header: i64) -> Operation {
    let result = KvResult::Get {
        revision: header,
        kv: seen,
    };
    at(
        c,
        call,
        ret,
        KvOp::Get { key: k.into() },
        Outcome::Ok(result),
    )
}

/// `if value(k) == expect then put(k, new) else get(k)`, answered.
fn cas(
    c: u32,
    call: u64,
    ret: u64,
    k: &str,
    expect: &str,
    new: &str,
    result: KvResult,
) -> Operation {
    let op = KvOp::Txn {
        compares: vec![Compare {
            key: k.into(),
            op: CompareOp::Equal,
            target: CompareTarget::Value(expect.into()),
        }],
        success: vec![RequestOp::Put {
            key: k.into(),
            value: new.into(),
        }],
        failure: vec![RequestOp::Get { key: k.into() }],
    };
    at(c, call, ret, op, Outcome::Ok(result))
}

fn verdict(ops: Vec<Operation>) -> Verdict {
    check(&History::new(ops), &CheckConfig::default()).expect("valid history")
}

/// The indices of the minimal witness, or a panic saying what came back instead.
fn witness(ops: Vec<Operation>) -> Vec<usize> {
    match verdict(ops) {
        Verdict::NotLinearizable(v) => {
            assert!(v.minimal, "shrinker finished within budget");
            v.indices
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn sequential_and_overlapping_histories_are_linearizable() {
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        get(1, 20, 30, "a", Some(kv("a", "1", 2, 2, 1)), 2),
        // Overlaps the next put: may read before or after it.
        get(1, 40, 60, "a", Some(kv("a", "2", 2, 3, 2)), 3),
        put(0, 45, 50, "a", "2", 3),
        get(2, 41, 42, "b", None, 2),
    ];
    assert_eq!(verdict(ops), Verdict::Linearizable);
}

#[test]
fn value_flipping_back_is_caught_with_every_operation_needed() {
    // Put is slow; one read sees it, a later read does not.
    let ops = vec![
        put(0, 0, 100, "a", "1", 2),
        get(1, 10, 20, "a", Some(kv("a", "1", 2, 2, 1)), 2),
        get(2, 30, 40, "a", None, 1),
    ];
    assert_eq!(witness(ops), vec![0, 1, 2]);
}

#[test]
fn stale_read_shrinks_to_the_two_writes_and_the_read() {
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        get(3, 12, 14, "b", None, 2),
        put(0, 20, 30, "a", "2", 3),
        get(2, 31, 35, "a", Some(kv("a", "2", 2, 3, 2)), 3),
        put(3, 36, 38, "b", "x", 4),
        get(1, 40, 50, "a", Some(kv("a", "1", 2, 2, 1)), 3),
    ];
    assert_eq!(witness(ops), vec![0, 2, 5]);
}

#[test]
fn lost_acknowledged_write_is_caught() {
    let ops = vec![put(0, 0, 10, "a", "1", 2), get(1, 20, 30, "a", None, 2)];
    assert_eq!(witness(ops), vec![0, 1]);
}

#[test]
fn read_of_a_value_nobody_wrote_shrinks_to_the_read() {
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        get(1, 20, 30, "a", Some(kv("a", "ghost", 7, 7, 1)), 7),
    ];
    assert_eq!(witness(ops.clone()), vec![1]);
    // Claiming the revision of an acknowledged put ties the read to that put: the witness
    // keeps it, which says "revision 2 was put 0, and it wrote 1, not ghost".
    let mut tied = ops;
    tied[1] = get(1, 20, 30, "a", Some(kv("a", "ghost", 2, 2, 1)), 2);
    assert_eq!(witness(tied), vec![0, 1]);
}

#[test]
fn revisions_must_grow_along_the_linearization() {
    // Same values, but the second write reports a revision below what a read already saw.
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        get(1, 20, 30, "a", Some(kv("a", "1", 2, 2, 1)), 5),
        put(0, 40, 50, "a", "2", 4),
    ];
    assert_eq!(witness(ops), vec![0, 1, 2]);
}

#[test]
fn cross_key_revision_order_needs_the_whole_history_search() {
    // Each key alone is fine; together, a later write got an earlier revision.
    let ops = vec![put(0, 0, 10, "a", "1", 3), put(1, 20, 30, "b", "1", 2)];
    assert_eq!(verdict(ops.clone()), Verdict::Linearizable);
    let whole = CheckConfig {
        per_key: false,
        ..CheckConfig::default()
    };
    let v = check(&History::new(ops), &whole).expect("valid");
    assert!(
        matches!(v, Verdict::NotLinearizable(ref w) if w.indices == [0, 1]),
        "{v:?}"
    );
}

#[test]
fn two_compare_and_swaps_cannot_both_win() {
    let won = |rev| KvResult::Txn {
        revision: rev,
        succeeded: true,
        responses: vec![ResponseOp::Put],
    };
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        cas(1, 20, 30, "a", "1", "2", won(3)),
        cas(2, 20, 30, "a", "1", "3", won(4)),
        get(3, 25, 26, "z", None, 2),
    ];
    assert_eq!(witness(ops), vec![0, 1, 2]);
}

#[test]
fn compare_and_swap_losing_to_a_concurrent_one_is_linearizable() {
    let won = KvResult::Txn {
        revision: 3,
        succeeded: true,
        responses: vec![ResponseOp::Put],
    };
    let lost = KvResult::Txn {
        revision: 3,
        succeeded: false,
        responses: vec![ResponseOp::Get {
            kv: Some(kv("a", "2", 2, 3, 2)),
        }],
    };
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        cas(2, 20, 30, "a", "1", "3", lost),
        cas(1, 21, 29, "a", "1", "2", won),
    ];
    assert_eq!(verdict(ops), Verdict::Linearizable);
}

#[test]
fn compare_and_swap_failing_although_it_held_is_caught() {
    let lost = KvResult::Txn {
        revision: 2,
        succeeded: false,
        responses: vec![ResponseOp::Get {
            kv: Some(kv("a", "1", 2, 2, 1)),
        }],
    };
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        cas(1, 20, 30, "a", "1", "2", lost),
    ];
    assert_eq!(witness(ops), vec![0, 1]);
}

#[test]
fn compare_on_unknown_mod_revision_binds_it() {
    // An indeterminate put whose revision the client never learnt; a later CAS on
    // mod_revision 2 wins, so the put took effect at revision 2.
    let txn = KvOp::Txn {
        compares: vec![Compare {
            key: "a".into(),
            op: CompareOp::Equal,
            target: CompareTarget::ModRevision(2),
        }],
        success: vec![RequestOp::Put {
            key: "a".into(),
            value: "2".into(),
        }],
        failure: vec![],
    };
    let won = KvResult::Txn {
        revision: 3,
        succeeded: true,
        responses: vec![ResponseOp::Put],
    };
    let ops = vec![
        put_timeout(0, 0, "a", "1"),
        at(1, 50, 60, txn, Outcome::Ok(won)),
        get(1, 70, 80, "a", Some(kv("a", "2", 2, 3, 2)), 3),
    ];
    assert_eq!(verdict(ops.clone()), Verdict::Linearizable);
    // The same read claiming the key was created at revision 1 contradicts the binding.
    let mut bad = ops;
    bad[2] = get(1, 70, 80, "a", Some(kv("a", "2", 1, 3, 2)), 3);
    assert!(matches!(verdict(bad), Verdict::NotLinearizable(_)));
}

#[test]
fn indeterminate_write_that_must_have_happened() {
    let ops = vec![
        put_timeout(0, 0, "a", "1"),
        get(1, 50, 60, "a", Some(kv("a", "1", 2, 2, 1)), 2),
    ];
    assert_eq!(verdict(ops.clone()), Verdict::Linearizable);
    // The same write definitely rejected: the read has no writer left.
    let mut failed = ops;
    failed[0].outcome = Outcome::Failed;
    assert_eq!(witness(failed), vec![1]);
}

#[test]
fn indeterminate_write_may_land_after_the_client_gave_up() {
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        put_timeout(1, 20, "a", "2"),
        get(2, 100, 110, "a", Some(kv("a", "1", 2, 2, 1)), 2),
        get(2, 200, 210, "a", Some(kv("a", "2", 2, 3, 2)), 3),
    ];
    assert_eq!(verdict(ops), Verdict::Linearizable);
}

#[test]
fn indeterminate_write_that_must_not_have_happened() {
    // Never observed: fine to drop it.
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        put_timeout(1, 20, "a", "2"),
        get(2, 30, 40, "a", Some(kv("a", "1", 2, 2, 1)), 2),
    ];
    assert_eq!(verdict(ops), Verdict::Linearizable);
    // Observed before it was called: impossible.
    let ops = vec![
        put(0, 0, 10, "a", "1", 2),
        get(2, 12, 15, "a", Some(kv("a", "2", 2, 3, 2)), 3),
        put_timeout(1, 20, "a", "2"),
    ];
    assert_eq!(witness(ops), vec![0, 1, 2]);
}

#[test]
fn exhausted_budget_says_unknown_instead_of_hanging() {
    // Timed-out txns (unlike plain puts of unseen values) are not interchangeable, so each
    // subset of them is a different state.
    let mut ops = vec![put(0, 0, 10, "a", "1", 2)];
    for n in 0..40u32 {
        let op = KvOp::Txn {
            compares: vec![],
            success: vec![RequestOp::Put {
                key: "a".into(),
                value: format!("x{n}"),
            }],
            failure: vec![],
        };
        let call = 20 + u64::from(n);
        ops.push(at(n, call, call + 5, op, Outcome::Indeterminate));
    }
    ops.push(get(
        99,
        1000,
        1010,
        "a",
        Some(kv("a", "never", 2, 9, 9)),
        50,
    ));
    let cfg = CheckConfig {
        max_steps: 500,
        ..CheckConfig::default()
    };
    let v = check(&History::new(ops), &cfg).expect("valid");
    assert_eq!(
        v,
        Verdict::Unknown {
            keys: vec!["a".into()]
        }
    );
}

#[test]
fn prefix_range_joins_keys_and_sees_an_atomic_snapshot() {
    let range = |call, ret, kvs: Vec<KeyValue>, rev| {
        let op = KvOp::Range {
            prefix: "p/".into(),
        };
        at(
            9,
            call,
            ret,
            op,
            Outcome::Ok(KvResult::Range { revision: rev, kvs }),
        )
    };
    let both = vec![kv("p/1", "a", 2, 2, 1), kv("p/2", "b", 3, 3, 1)];
    let ops = vec![
        put(0, 0, 10, "p/1", "a", 2),
        put(1, 20, 30, "p/2", "b", 3),
        range(40, 50, both, 3),
        // Sees p/2 without p/1, after both were acknowledged: not a snapshot of any instant.
        range(60, 70, vec![kv("p/2", "b", 3, 3, 1)], 3),
    ];
    assert_eq!(witness(ops), vec![0, 1, 3]);
}

#[test]
fn histories_load_from_json_and_are_validated() {
    let text = r#"[
      {"client": 1, "op": {"type": "put", "key": "a", "value": "1"},
       "call_time": 0, "return_time": 10, "outcome": {"ok": {"type": "put", "revision": 2}}},
      {"client": 2, "op": {"type": "get", "key": "a"}, "call_time": 20, "return_time": null,
       "outcome": "indeterminate"},
      {"client": 3, "op": {"type": "delete", "key": "a"}, "call_time": 30, "return_time": 35,
       "outcome": "failed"}
    ]"#;
    let h = History::from_json(text).expect("parses");
    assert_eq!(h.operations.len(), 3);
    assert_eq!(History::from_json(&h.to_json()).expect("round trip"), h);
    assert_eq!(
        check(&h, &CheckConfig::default()),
        Ok(Verdict::Linearizable)
    );
    let bad = History::new(vec![at(
        0,
        10,
        5,
        KvOp::Get { key: "a".into() },
        Outcome::Failed,
    )]);
    assert!(matches!(
        check(&bad, &CheckConfig::default()),
        Err(HistoryError::ReturnBeforeCall { index: 0, .. })
    ));
}

#[test]
fn many_unobserved_timeouts_stay_tractable() {
    // Forty timed-out puts whose values nobody read: interchangeable, so the search places
    // them in call order only, and still finds that two of them must have landed.
    let mut ops = vec![put(0, 0, 10, "a", "1", 2)];
    for n in 0..40u32 {
        ops.push(put_timeout(n, 20 + u64::from(n), "a", &format!("x{n}")));
    }
    ops.push(put(99, 1000, 1010, "a", "2", 50));
    ops.push(get(99, 1020, 1030, "a", Some(kv("a", "2", 2, 50, 4)), 50));
    assert_eq!(verdict(ops.clone()), Verdict::Linearizable);
    // Version 43 would need 41 puts before the last one: impossible with 40 timeouts.
    let n = ops.len();
    ops[n - 1] = get(99, 1020, 1030, "a", Some(kv("a", "2", 2, 50, 43)), 50);
    assert!(matches!(verdict(ops), Verdict::NotLinearizable(_)));
}
