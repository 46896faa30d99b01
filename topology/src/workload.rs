//! The etcd workload's choice of request, in one place for the simulator's clients and a
//! drill's real `etcdctl` clients, so both halves of a differential run send the same mix.
//!
//! Each request: pick a key `spf/k0` .. `spf/k{keys-1}`, then a linearizable get with
//! `read_percent` chance, else a write; a write whose request number `n` has
//! `n % cas_every == cas_every - 1` is a compare-and-swap txn guarded by the last value this
//! client saw for the key (or by version 0 when it saw none), the other writes are puts. The
//! two random draws (key and roll) come from the caller's own generator (the simulator's
//! seeded stream, a drill's fixed-seed splitmix), so this module holds no randomness.

use std::time::Duration;

use crate::component::Component;
use crate::timeline::{Status, Timeline};
use crate::wire::{CompareTarget, History, KvOp, KvResult, Outcome, RequestOp, ResponseOp};

/// Prefix of the workload's keys.
pub const KEY_PREFIX: &str = "spf/k";

/// What a workload client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpMix {
    /// Percent of requests that are linearizable gets; the rest are writes.
    pub read_percent: u32,
    /// A write whose request number is `cas_every - 1` modulo `cas_every` is a
    /// compare-and-swap txn; 0 for none.
    pub cas_every: u64,
    /// Keys `spf/k0` .. `spf/k{keys-1}` (at least one is used).
    pub keys: u32,
}

impl OpMix {
    /// The same mix with writes only (the pinned client of the etcd schedule, so its minority
    /// phase always tests writes).
    pub fn writes_only(self) -> Self {
        OpMix {
            read_percent: 0,
            ..self
        }
    }

    /// Keys to draw the key index from (`0..key_count()`).
    pub fn key_count(&self) -> u32 {
        self.keys.max(1)
    }
}

/// One client's request choice and what it last saw of each key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadClient {
    mix: OpMix,
    seen: Vec<Option<String>>,
}

impl WorkloadClient {
    /// A client with `mix` that has seen nothing yet.
    pub fn new(mix: OpMix) -> Self {
        WorkloadClient {
            mix,
            seen: vec![None; mix.key_count() as usize],
        }
    }

    /// Its mix.
    pub fn mix(&self) -> OpMix {
        self.mix
    }

    /// Request number `seq` of client `client`, from the draws `key` (in
    /// `0..mix.key_count()`) and `roll` (in `0..100`). A write puts the value `c{client}-{seq}`.
    pub fn op(&self, client: u32, seq: u64, key: u32, roll: u32) -> KvOp {
        let k = key % self.mix.key_count();
        let key = format!("{KEY_PREFIX}{k}");
        if roll < self.mix.read_percent {
            return KvOp::Get { key };
        }
        let value = format!("c{client}-{seq}");
        let every = self.mix.cas_every;
        if every > 0 && seq % every == every - 1 {
            let target = match self.seen.get(k as usize) {
                Some(Some(v)) => CompareTarget::Value(v.clone()),
                _ => CompareTarget::Version(0),
            };
            return KvOp::compare_and_put(key, target, value);
        }
        KvOp::Put { key, value }
    }

    /// Learns from an answered request: a put wrote its value, a get or a txn's read saw one.
    pub fn remember(&mut self, op: &KvOp, result: &KvResult) {
        match (op, result) {
            (KvOp::Put { key, value }, _) => self.set(key, Some(value.clone())),
            (KvOp::Get { key }, KvResult::Get { kv, .. }) => {
                self.set(key, kv.as_ref().map(|kv| kv.value.clone()));
            }
            // A compare-and-swap: its put wrote the value, or its read saw the current one.
            (
                KvOp::Txn {
                    success, failure, ..
                },
                KvResult::Txn {
                    succeeded,
                    responses,
                    ..
                },
            ) => {
                let branch = if *succeeded { success } else { failure };
                for (req, resp) in branch.iter().zip(responses) {
                    match (req, resp) {
                        (RequestOp::Put { key, value }, _) => self.set(key, Some(value.clone())),
                        (RequestOp::Get { key }, ResponseOp::Get { kv }) => {
                            self.set(key, kv.as_ref().map(|kv| kv.value.clone()));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn set(&mut self, key: &str, value: Option<String>) {
        if let Some(slot) = key
            .strip_prefix(KEY_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|i| self.seen.get_mut(i))
        {
            *slot = value;
        }
    }
}

/// Each client's writes as an availability lane (`etcd-writes/<name_of(client)>`), by the rule
/// the simulator's client records its own: at each write's return the lane turns up when the
/// write was answered and down when it failed or went unanswered. Lanes end at `end`; times are
/// the history's nanoseconds since the start of the run.
pub fn write_lanes(
    history: &History,
    name_of: impl Fn(u32) -> String,
    end: Duration,
) -> Vec<Timeline> {
    let mut by_client: std::collections::BTreeMap<u32, Vec<(Duration, Status)>> =
        std::collections::BTreeMap::new();
    let mut writes: Vec<_> = history
        .operations
        .iter()
        .filter(|o| o.may_write())
        .filter_map(|o| Some((o.return_time?, o)))
        .collect();
    writes.sort_by_key(|(ret, o)| (*ret, o.client));
    for (ret, o) in writes {
        let status = match o.outcome {
            Outcome::Ok(_) => Status::Up,
            Outcome::Failed | Outcome::Indeterminate => Status::Down,
        };
        let changes = by_client.entry(o.client).or_default();
        if changes.last().map(|c| c.1) != Some(status) {
            changes.push((Duration::from_nanos(ret), status));
        }
    }
    by_client
        .into_iter()
        .map(|(client, changes)| {
            Timeline::from_changes(Component::EtcdWrites(name_of(client)), &changes, end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{KeyValue, Operation};

    #[test]
    fn write_lanes_follow_each_write_outcome() {
        let op = |client, call: u64, ret: u64, outcome| Operation {
            client,
            op: KvOp::Put {
                key: "spf/k0".into(),
                value: "v".into(),
            },
            call_time: call,
            return_time: Some(ret),
            outcome,
        };
        let ok = || Outcome::Ok(KvResult::Put { revision: 2 });
        let get = Operation {
            op: KvOp::Get {
                key: "spf/k0".into(),
            },
            outcome: Outcome::Failed,
            ..op(0, 25, 26, Outcome::Failed)
        };
        let h = History::new(vec![
            op(0, 0, 10, ok()),
            op(0, 10, 30, Outcome::Indeterminate),
            get,
            op(0, 30, 40, Outcome::Failed),
            op(0, 40, 50, ok()),
            op(1, 0, 5, ok()),
        ]);
        let lanes = write_lanes(&h, |c| format!("client{c}"), Duration::from_nanos(100));
        type Shape = (String, Vec<(u64, u64, Status)>);
        let shape: Vec<Shape> = lanes
            .iter()
            .map(|t| {
                let iv = t
                    .intervals
                    .iter()
                    .map(|i| (i.start.as_nanos() as u64, i.end.as_nanos() as u64, i.status))
                    .collect();
                (t.component.clone(), iv)
            })
            .collect();
        assert_eq!(
            shape,
            [
                (
                    "etcd-writes/client0".to_owned(),
                    vec![
                        (10, 30, Status::Up),
                        (30, 50, Status::Down),
                        (50, 100, Status::Up)
                    ]
                ),
                ("etcd-writes/client1".to_owned(), vec![(5, 100, Status::Up)]),
            ]
        );
    }

    const MIX: OpMix = OpMix {
        read_percent: 50,
        cas_every: 10,
        keys: 3,
    };

    #[test]
    fn rolls_below_the_read_share_read_and_every_tenth_write_is_a_cas() {
        let c = WorkloadClient::new(MIX);
        assert_eq!(
            c.op(0, 0, 1, 49),
            KvOp::Get {
                key: "spf/k1".into()
            }
        );
        assert_eq!(
            c.op(2, 3, 4, 50),
            KvOp::Put {
                key: "spf/k1".into(),
                value: "c2-3".into()
            }
        );
        assert_eq!(
            c.op(0, 9, 0, 99),
            KvOp::compare_and_put("spf/k0".into(), CompareTarget::Version(0), "c0-9".into())
        );
    }

    #[test]
    fn a_cas_is_guarded_by_what_the_client_last_saw() {
        let mut c = WorkloadClient::new(MIX);
        let put = c.op(0, 0, 2, 99);
        c.remember(&put, &KvResult::Put { revision: 2 });
        assert_eq!(
            c.op(0, 19, 2, 99),
            KvOp::compare_and_put(
                "spf/k2".into(),
                CompareTarget::Value("c0-0".into()),
                "c0-19".into()
            )
        );
        let get = KvOp::Get {
            key: "spf/k2".into(),
        };
        let kv = KeyValue {
            key: "spf/k2".into(),
            value: "c1-5".into(),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
        };
        c.remember(
            &get,
            &KvResult::Get {
                revision: 3,
                kv: Some(kv),
            },
        );
        assert_eq!(
            c.op(0, 29, 2, 99),
            KvOp::compare_and_put(
                "spf/k2".into(),
                CompareTarget::Value("c1-5".into()),
                "c0-29".into()
            )
        );
        assert!(matches!(
            WorkloadClient::new(MIX.writes_only()).op(0, 0, 0, 0),
            KvOp::Put { .. }
        ));
    }
}
