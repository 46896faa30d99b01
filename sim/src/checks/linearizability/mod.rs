//! Linearizability checking of etcd client histories, simulated or recorded from real etcd.
//!
//! etcd promises strict serializability for KV calls: each takes effect atomically at one point
//! between its call and its return, in one total order, with the result the sequential store
//! gives (etcd "API guarantees"). This module decides whether a [`History`] admits such an
//! order, the way Jepsen's Knossos and Porcupine do:
//!
//! 1. [`partition`] splits the history into independent groups of keys;
//! 2. [`search`] runs a Wing-Gong depth-first search with Lowe's memoisation on each group
//!    against the KV semantics of [`model`] (revisions included), under a step budget;
//! 3. on failure, [`shrink`] reduces the group to a minimal non-linearizable sub-history.
//!
//! Outcomes: `ok` operations must be placed inside their interval; `indeterminate` ones (client
//! timeouts) may be placed anywhere after their call or nowhere; `failed` ones never happened.
//! The verdict is [`Verdict::Unknown`] rather than a hang when the budget runs out.

pub mod generate;
pub mod history;
mod model;
mod partition;
mod search;
mod shrink;

pub use history::{History, HistoryError, Operation, Outcome};

use std::collections::BTreeSet;

use crate::models::kv::{CompareTarget, KeyValue, KvOp, KvResult, KvStore, ResponseOp};

use model::{KeySpace, Prepared};
use search::{Entry, Found};

/// Default model-step budget of one search (one part, or one shrink attempt). About a second
/// of work on a laptop core; raise it for long indeterminate-heavy histories.
pub const DEFAULT_MAX_STEPS: u64 = 2_000_000;

/// Default bound on the number of searches the shrinker may run.
pub const DEFAULT_MAX_SHRINK_CHECKS: usize = 2_000;

/// Default bound on the model steps all of the shrinker's searches may take together.
pub const DEFAULT_MAX_SHRINK_STEPS: u64 = 10 * DEFAULT_MAX_STEPS;

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The store before the first operation (default: empty, revision 1).
    pub initial: KvStore,
    /// Check each independent group of keys on its own (fast). When false, the whole history
    /// is one search, which also checks the order of revisions across keys.
    pub per_key: bool,
    /// Model steps allowed per search before giving up with [`Verdict::Unknown`].
    pub max_steps: u64,
    /// Shrink a violation to a minimal sub-history.
    pub shrink: bool,
    /// Searches the shrinker may run.
    pub max_shrink_checks: usize,
    /// Model steps the shrinker's searches may take together; past it the witness found so
    /// far is reported with `minimal: false`.
    pub max_shrink_steps: u64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            initial: KvStore::new(),
            per_key: true,
            max_steps: DEFAULT_MAX_STEPS,
            shrink: true,
            max_shrink_checks: DEFAULT_MAX_SHRINK_CHECKS,
            max_shrink_steps: DEFAULT_MAX_SHRINK_STEPS,
        }
    }
}

/// A non-linearizable sub-history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Keys of the group the violation is in.
    pub keys: Vec<String>,
    /// Indices into the checked history of the operations in the witness, ascending.
    pub indices: Vec<usize>,
    /// The witness itself: these operations alone admit no linearization.
    pub operations: Vec<Operation>,
    /// Whether the witness is known to be 1-minimal (the shrinker finished within budget).
    pub minimal: bool,
}

/// The checker's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every group has a linearization.
    Linearizable,
    /// Some group has none; the first such group (in key order) is reported.
    NotLinearizable(Violation),
    /// No violation found, but the search of these keys ran out of budget.
    Unknown { keys: Vec<String> },
}

impl Verdict {
    /// True for [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

/// Counters from one check, for benches and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Groups searched.
    pub parts: usize,
    /// Model steps taken, shrinking included.
    pub steps: u64,
}

/// Check `history` for linearizability.
pub fn check(history: &History, config: &CheckConfig) -> Result<Verdict, HistoryError> {
    check_with_stats(history, config).map(|(v, _)| v)
}

/// [`check`], also returning how much work it took.
pub fn check_with_stats(
    history: &History,
    config: &CheckConfig,
) -> Result<(Verdict, Stats), HistoryError> {
    history.validate()?;
    let seen = observed_values(history);
    let mut stats = Stats::default();
    let mut unknown: Option<Vec<String>> = None;
    for part in partition::split(history, &config.initial, config.per_key) {
        stats.parts += 1;
        let keys = KeySpace::new(part.keys);
        let ops = order(history, part.ops);
        let entries: Vec<Entry> = ops
            .iter()
            .filter_map(|&i| entry(&history.operations[i], &seen))
            .collect();
        let init = keys.initial(&config.initial);
        let mut steps = 0;
        let found = search::search(&keys, init.clone(), &entries, config.max_steps, &mut steps);
        stats.steps += steps;
        match found {
            Found::Linearizable => {}
            Found::Unknown => {
                unknown.get_or_insert_with(|| keys.keys().to_vec());
            }
            Found::NotLinearizable => {
                let (kept, minimal) = if config.shrink {
                    let refs: Vec<&Operation> =
                        ops.iter().map(|&i| &history.operations[i]).collect();
                    let mut spent = 0u64;
                    let result = shrink::shrink(&refs, config.max_shrink_checks, |subset| {
                        let left = config.max_shrink_steps.saturating_sub(spent);
                        if left == 0 {
                            return Found::Unknown;
                        }
                        let sub: Vec<Entry> = subset
                            .iter()
                            .filter_map(|&p| entry(&history.operations[ops[p]], &seen))
                            .collect();
                        let budget = config.max_steps.min(left);
                        search::search(&keys, init.clone(), &sub, budget, &mut spent)
                    });
                    stats.steps += spent;
                    result
                } else {
                    ((0..ops.len()).collect(), false)
                };
                let mut indices: Vec<usize> = kept.iter().map(|&p| ops[p]).collect();
                indices.sort_unstable();
                let operations = indices
                    .iter()
                    .map(|&i| history.operations[i].clone())
                    .collect();
                let keys = keys.keys().to_vec();
                let v = Violation {
                    keys,
                    indices,
                    operations,
                    minimal,
                };
                return Ok((Verdict::NotLinearizable(v), stats));
            }
        }
    }
    Ok((
        unknown.map_or(Verdict::Linearizable, |keys| Verdict::Unknown { keys }),
        stats,
    ))
}

/// The part's operations that take part in the search, sorted by (call, return, index).
/// Failed operations never took effect; indeterminate reads could not have changed anything
/// and told the client nothing, so both are dropped.
fn order(history: &History, ops: Vec<usize>) -> Vec<usize> {
    let mut ops: Vec<usize> = ops
        .into_iter()
        .filter(|&i| {
            let o = &history.operations[i];
            match o.outcome {
                Outcome::Ok(_) => true,
                Outcome::Indeterminate => o.may_write(),
                Outcome::Failed => false,
            }
        })
        .collect();
    ops.sort_by_key(|&i| {
        let o = &history.operations[i];
        (o.call_time, ret_time(o), i)
    });
    ops
}

fn ret_time(o: &Operation) -> u64 {
    match o.outcome {
        Outcome::Ok(_) => o.return_time.unwrap_or(u64::MAX),
        Outcome::Indeterminate | Outcome::Failed => u64::MAX,
    }
}

fn entry(o: &Operation, seen: &BTreeSet<(&str, &str)>) -> Option<Entry> {
    let mut op = Prepared::new(o)?;
    let class = match (&o.op, &o.outcome) {
        (KvOp::Put { key, value }, Outcome::Indeterminate)
            if !seen.contains(&(key.as_str(), value.as_str()))
                && !seen.contains(&(key.as_str(), model::UNOBSERVED)) =>
        {
            op.anonymise();
            Some((key.clone(), false))
        }
        (KvOp::Delete { key }, Outcome::Indeterminate) => Some((key.clone(), true)),
        _ => None,
    };
    let determinate = matches!(o.outcome, Outcome::Ok(_));
    Some(Entry {
        call: o.call_time,
        ret: ret_time(o),
        determinate,
        class,
        op,
    })
}

/// Every (key, value) some answered operation read, or some compare names.
fn observed_values(history: &History) -> BTreeSet<(&str, &str)> {
    let mut seen = BTreeSet::new();
    for o in &history.operations {
        if let KvOp::Txn { compares, .. } = &o.op {
            for c in compares {
                if let CompareTarget::Value(v) = &c.target {
                    seen.insert((c.key.as_str(), v.as_str()));
                }
            }
        }
        let Outcome::Ok(r) = &o.outcome else { continue };
        let kvs: Vec<&KeyValue> = match r {
            KvResult::Get { kv, .. } => kv.iter().collect(),
            KvResult::Range { kvs, .. } => kvs.iter().collect(),
            KvResult::Txn { responses, .. } => responses
                .iter()
                .flat_map(|resp| match resp {
                    ResponseOp::Get { kv } => kv.iter().collect::<Vec<_>>(),
                    ResponseOp::Range { kvs } => kvs.iter().collect(),
                    _ => Vec::new(),
                })
                .collect(),
            KvResult::Put { .. } | KvResult::Delete { .. } => Vec::new(),
        };
        seen.extend(
            kvs.into_iter()
                .map(|kv| (kv.key.as_str(), kv.value.as_str())),
        );
    }
    seen
}
