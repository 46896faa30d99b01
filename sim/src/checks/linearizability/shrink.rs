//! Shrinking a non-linearizable part of a history to a minimal non-linearizable sub-history.
//!
//! A violation found in a thousand operations is unreadable; the few operations that cannot be
//! ordered are what a person needs. The shrinker removes operations while the rest stays
//! non-linearizable: first halves, then quarters, down to single operations, repeating single
//! removals until none succeeds (delta debugging in the style of Zeller's ddmin). The result is
//! 1-minimal: removing any one more operation makes it linearizable (or breaks the rule below).
//! Removal order depends only on the history, so the result is deterministic.
//!
//! One rule keeps the witness honest: an operation that produced what a kept read observed is
//! not removed on its own. Without it, a stale read "x = 1 after x = 2" would shrink to the
//! lone read "x = 1", which is non-linearizable only because nobody wrote 1 any more. So a kept
//! read of (key, value) keeps at least one writer of that value, and a kept read of a key whose
//! generation spans revisions [create_revision, mod_revision] keeps the answered writes to that
//! key inside that span (they account for its version) and the delete that preceded it; a read
//! that found a key absent keeps the last answered delete before it, and a delete that removed
//! the key keeps the last answered put before it. A txn whose `=` compare
//! on a value or revision held counts as a read of it. When answered puts do not account for an
//! observed version, the timed-out puts that may have landed before the read are kept too.

use std::collections::BTreeSet;

use crate::models::kv::{
    Compare, CompareOp, CompareTarget, KeyValue, KvOp, KvResult, RequestOp, ResponseOp,
};

use super::history::{Operation, Outcome};
use super::search::Found;

/// What keeping one operation requires of the kept set.
#[derive(Debug, Clone)]
enum Need {
    /// At least one of these must be kept (writers of an observed value).
    Any(Vec<usize>),
    /// All of these must be kept (answered writes inside an observed generation).
    All(Vec<usize>),
}

/// Writes an operation may perform: (key, value written or `None` for a delete).
fn writes(op: &Operation) -> Vec<(&str, Option<&str>)> {
    fn req(r: &RequestOp) -> Option<(&str, Option<&str>)> {
        match r {
            RequestOp::Put { key, value } => Some((key.as_str(), Some(value.as_str()))),
            RequestOp::Delete { key } => Some((key.as_str(), None)),
            _ => None,
        }
    }
    match (&op.op, &op.outcome) {
        (KvOp::Put { key, value }, _) => vec![(key.as_str(), Some(value.as_str()))],
        (KvOp::Delete { key }, _) => vec![(key.as_str(), None)],
        (
            KvOp::Txn {
                success, failure, ..
            },
            Outcome::Ok(KvResult::Txn { succeeded, .. }),
        ) => {
            let branch = if *succeeded { success } else { failure };
            branch.iter().filter_map(req).collect()
        }
        (
            KvOp::Txn {
                success, failure, ..
            },
            _,
        ) => success.iter().chain(failure).filter_map(req).collect(),
        _ => Vec::new(),
    }
}

/// Keys an answered operation observed.
fn observed(op: &Operation) -> Vec<&KeyValue> {
    let Outcome::Ok(result) = &op.outcome else {
        return Vec::new();
    };
    match result {
        KvResult::Get { kv, .. } => kv.iter().collect(),
        KvResult::Range { kvs, .. } => kvs.iter().collect(),
        KvResult::Txn { responses, .. } => responses
            .iter()
            .flat_map(|r| match r {
                ResponseOp::Get { kv } => kv.iter().collect::<Vec<_>>(),
                ResponseOp::Range { kvs } => kvs.iter().collect(),
                _ => Vec::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn revision_of(o: &Operation) -> Option<i64> {
    match &o.outcome {
        Outcome::Ok(r) => Some(r.revision()),
        _ => None,
    }
}

/// Single keys an answered operation found absent, with the header revision it read at.
fn absent(op: &Operation) -> Vec<(&str, i64)> {
    match (&op.op, &op.outcome) {
        (
            KvOp::Delete { key },
            Outcome::Ok(KvResult::Delete {
                deleted: 0,
                revision,
            }),
        ) => {
            vec![(key.as_str(), *revision)]
        }
        (KvOp::Get { key }, Outcome::Ok(KvResult::Get { kv: None, revision })) => {
            vec![(key.as_str(), *revision)]
        }
        (
            KvOp::Txn {
                success, failure, ..
            },
            Outcome::Ok(KvResult::Txn {
                succeeded,
                responses,
                revision,
            }),
        ) => {
            let branch = if *succeeded { success } else { failure };
            branch
                .iter()
                .zip(responses)
                .filter_map(|(req, resp)| match (req, resp) {
                    (RequestOp::Get { key }, ResponseOp::Get { kv: None }) => {
                        Some((key.as_str(), *revision))
                    }
                    _ => None,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Timed-out writes to `key` called before `ret`: they may have landed before it.
fn timed_out(
    ops: &[&Operation],
    writes: &[Vec<(&str, Option<&str>)>],
    key: &str,
    ret: u64,
) -> Need {
    Need::All(
        (0..ops.len())
            .filter(|&w| revision_of(ops[w]).is_none() && ops[w].call_time < ret)
            .filter(|&w| writes[w].iter().any(|(k, _)| *k == key))
            .collect(),
    )
}

/// Needs of an operation that found `key` absent at revision `bound` (returning at `ret`): the
/// last answered delete up to `bound`, and, if an answered put came after that delete, the
/// timed-out writes (one of them must be the delete that made the key absent).
fn absent_at(
    ops: &[&Operation],
    writes: &[Vec<(&str, Option<&str>)>],
    key: &str,
    bound: i64,
    ret: u64,
) -> Vec<Need> {
    let del = last_delete(ops, writes, key, bound);
    let since = del.map_or(0, |(r, _)| r);
    let mut out: Vec<Need> = del.map(|(_, w)| Need::All(vec![w])).into_iter().collect();
    let put_after = (0..ops.len()).any(|w| {
        writes[w].iter().any(|(k, v)| *k == key && v.is_some())
            && revision_of(ops[w]).is_some_and(|r| r > since && r <= bound)
    });
    if put_after {
        out.push(timed_out(ops, writes, key, ret));
    }
    out
}

/// The answered delete of `key` with the highest revision not above `bound`: (revision, op).
fn last_delete(
    ops: &[&Operation],
    writes: &[Vec<(&str, Option<&str>)>],
    key: &str,
    bound: i64,
) -> Option<(i64, usize)> {
    (0..ops.len())
        .filter(|&w| writes[w].contains(&(key, None)))
        .filter(|&w| {
            !matches!(
                ops[w].outcome,
                Outcome::Ok(KvResult::Delete { deleted: 0, .. })
            )
        })
        .filter_map(|w| match &ops[w].outcome {
            Outcome::Ok(r) if r.revision() <= bound => Some((r.revision(), w)),
            _ => None,
        })
        .max()
}

/// The compares of an answered txn that took its success branch, or of a timed-out txn (which
/// a kept read may need to have succeeded, so it keeps what made its compares hold).
fn held_compares(op: &Operation) -> &[Compare] {
    match (&op.op, &op.outcome) {
        (
            KvOp::Txn { compares, .. },
            Outcome::Ok(KvResult::Txn {
                succeeded: true, ..
            }),
        )
        | (KvOp::Txn { compares, .. }, Outcome::Indeterminate) => compares,
        _ => &[],
    }
}

fn needs(ops: &[&Operation]) -> Vec<Vec<Need>> {
    let writes: Vec<Vec<(&str, Option<&str>)>> = ops.iter().map(|o| writes(o)).collect();
    let revision = |o: &Operation| match &o.outcome {
        Outcome::Ok(r) => Some(r.revision()),
        _ => None,
    };
    ops.iter()
        .enumerate()
        .map(|(me, o)| {
            let mut out = Vec::new();
            let ret = o.return_time.unwrap_or(u64::MAX);
            let timed_out = |key: &str| timed_out(ops, &writes, key, ret);
            // A txn whose `=` compare held saw that value or revision.
            for c in held_compares(o).iter().filter(|c| c.op == CompareOp::Equal) {
                let ws: Vec<usize> = (0..ops.len())
                    .filter(|&w| w != me && writes[w].iter().any(|(k, _)| *k == c.key))
                    .filter(|&w| match &c.target {
                        CompareTarget::Value(v) => {
                            writes[w].contains(&(c.key.as_str(), Some(v.as_str())))
                        }
                        CompareTarget::ModRevision(r) | CompareTarget::CreateRevision(r) => {
                            revision(ops[w]) == Some(*r)
                        }
                        CompareTarget::Version(_) => false,
                    })
                    .collect();
                let revision_target = matches!(
                    c.target,
                    CompareTarget::ModRevision(1..) | CompareTarget::CreateRevision(1..)
                );
                if !ws.is_empty() {
                    out.push(Need::Any(ws));
                } else if revision_target {
                    // No answered write has that revision: a timed-out one made it.
                    out.push(timed_out(&c.key));
                }
                // Revision 0 means absent: keep the delete that made it so.
                if let (
                    CompareTarget::ModRevision(0) | CompareTarget::CreateRevision(0),
                    Some(at),
                ) = (&c.target, revision(o))
                {
                    out.extend(absent_at(ops, &writes, &c.key, at - 1, ret));
                }
                // A version is the count of puts since the last delete: keep them all.
                if let (CompareTarget::Version(_), Some(at)) = (&c.target, revision(o)) {
                    let del = last_delete(ops, &writes, &c.key, at - 1);
                    let since = del.map_or(0, |(r, _)| r);
                    let puts: Vec<usize> = (0..ops.len())
                        .filter(|&w| {
                            w != me && writes[w].iter().any(|(k, v)| *k == c.key && v.is_some())
                        })
                        .filter(|&w| revision(ops[w]).is_some_and(|r| r > since && r < at))
                        .collect();
                    out.extend(del.map(|(_, w)| Need::All(vec![w])));
                    out.push(timed_out(&c.key));
                    if !puts.is_empty() {
                        out.push(Need::All(puts));
                    }
                }
            }
            for kv in observed(o) {
                let writers: Vec<usize> = (0..ops.len())
                    .filter(|&w| w != me)
                    .filter(|&w| writes[w].contains(&(kv.key.as_str(), Some(kv.value.as_str()))))
                    .collect();
                if !writers.is_empty() {
                    out.push(Need::Any(writers));
                }
                let span: Vec<usize> = (0..ops.len())
                    .filter(|&w| w != me && writes[w].iter().any(|(k, _)| *k == kv.key))
                    .filter(|&w| {
                        revision(ops[w])
                            .is_some_and(|r| (kv.create_revision..=kv.mod_revision).contains(&r))
                    })
                    .collect();
                // Fewer answered puts than the version counts: timed-out puts made up the
                // rest, so keep every one that could have landed before this read.
                if (span.len() as i64) < kv.version {
                    out.push(timed_out(&kv.key));
                }
                if !span.is_empty() {
                    out.push(Need::All(span));
                }
                // The delete that ended the previous generation (else an older put would
                // make this generation's version look wrong).
                out.extend(absent_at(
                    ops,
                    &writes,
                    &kv.key,
                    kv.create_revision - 1,
                    ret,
                ));
            }
            // A read that found the key absent keeps the delete it saw.
            for (key, header) in absent(o) {
                out.extend(absent_at(ops, &writes, key, header, ret));
            }
            // A delete that removed something keeps the last put before it.
            if let (
                KvOp::Delete { key },
                Outcome::Ok(KvResult::Delete {
                    deleted: 1,
                    revision,
                }),
            ) = (&o.op, &o.outcome)
            {
                let puts = (0..ops.len())
                    .filter(|&w| writes[w].iter().any(|(k, v)| k == key && v.is_some()))
                    .filter_map(|w| revision_of(ops[w]).filter(|r| r < revision).map(|r| (r, w)))
                    .max();
                out.extend(puts.map(|(_, w)| Need::All(vec![w])));
                // An answered delete after that put: a timed-out put recreated the key.
                let since = puts.map_or(0, |(r, _)| r);
                if last_delete(ops, &writes, key, revision - 1).is_some_and(|(d, _)| d > since) {
                    out.push(timed_out(key));
                }
            }
            out
        })
        .collect()
}

fn allowed(kept: &[usize], needs: &[Vec<Need>]) -> bool {
    let set: BTreeSet<usize> = kept.iter().copied().collect();
    kept.iter().all(|&o| {
        needs[o].iter().all(|n| match n {
            Need::Any(ws) => ws.iter().any(|w| set.contains(w)),
            Need::All(ws) => ws.iter().all(|w| set.contains(w)),
        })
    })
}

/// Shrink the operations `ops` (all of one part, known to be non-linearizable) using `check`,
/// which judges a subset given as positions into `ops`. Returns the kept positions (ascending)
/// and whether the result is known to be 1-minimal (false when a check was inconclusive or
/// `max_checks` ran out).
pub(crate) fn shrink(
    ops: &[&Operation],
    max_checks: usize,
    mut check: impl FnMut(&[usize]) -> Found,
) -> (Vec<usize>, bool) {
    let needs = needs(ops);
    let mut cur: Vec<usize> = (0..ops.len()).collect();
    let mut minimal = true;
    let mut checks = 0usize;
    let mut chunk = (cur.len() / 2).max(1);
    loop {
        let mut progress = false;
        let mut i = 0;
        while i < cur.len() {
            let end = (i + chunk).min(cur.len());
            let cand: Vec<usize> = cur[..i].iter().chain(&cur[end..]).copied().collect();
            if cand.is_empty() || !allowed(&cand, &needs) {
                i += chunk;
                continue;
            }
            if checks >= max_checks {
                return (cur, false);
            }
            checks += 1;
            match check(&cand) {
                Found::NotLinearizable => {
                    cur = cand;
                    progress = true;
                }
                Found::Unknown => {
                    minimal = false;
                    i += chunk;
                }
                Found::Linearizable => i += chunk,
            }
        }
        if chunk > 1 {
            chunk = (chunk / 2).max(1);
        } else if !progress {
            return (cur, minimal);
        }
    }
}
