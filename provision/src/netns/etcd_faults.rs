//! A fault schedule against a real etcd cluster, recording a client history and what each
//! phase did: the real half of the etcd differential test (issue 4).
//!
//! Client threads run the differential workload through `etcdctl` while the main thread walks
//! the schedule: baseline, SIGKILL the leader (then restart it), SIGSTOP a follower, cut a
//! follower's link, cut one fixed member off from its peers (a minority partition its pinned,
//! write-only client can still reach), cut the leader's link, healed.
//!
//! The workload is the simulated clients' (`sim::models::etcd::client`), request for request:
//! the op mix ([`WorkloadMix`]: read share, compare-and-swap cadence, keys; the differential
//! test fills it from the simulator's constants), one endpoint per request with the same
//! failover rule (start at the first member, move to the next after an error or a timeout; a
//! pinned client never moves), and one deadline per request (`etcdctl --dial-timeout` and
//! `--command-timeout` both at [`WorkloadMix::request_timeout`]). Compare-and-swap runs as
//! `etcdctl txn` with a compare on the value this client last saw (or on version 0).
//!
//! Outcomes: an answered call is ok; a read that fails is *failed* (it changed nothing); a
//! write etcd rejected before proposing it (`raft proposal dropped`, `etcdserver: no leader`)
//! is *failed*; any other write without an answer is *indeterminate* (it may still commit).
//! The history is written in the JSON shape of `sim::checks::linearizability::History` (times
//! in ns from the run's start), so the same checker judges real and simulated runs; leader
//! re-election times are measured by polling `etcdctl endpoint status -w json` on the
//! surviving members.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use topology::drill::CallResult;
pub use topology::drill::PhaseCounts;

use super::etcd::{EtcdClient, EtcdLab, EtcdLabError};
use crate::testbed::NetnsError;

/// Upper bound on operations per client thread (the loop is also bounded by the schedule).
const MAX_OPS_PER_CLIENT: u64 = 20_000;
/// Length of each phase, as the simulated drill runs it too.
pub const DEFAULT_PHASE: Duration = Duration::from_secs(4);
/// Bound on waiting for a new leader or for health after a fault.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(20);
/// etcd's error text when a member drops a proposal because it knows no leader (raft
/// `ErrProposalDropped`, "raft proposal dropped"): the write never entered the log.
const PROPOSAL_DROPPED: &str = "raft proposal dropped";
/// etcd's `rpctypes.ErrNoLeader` text ("etcdserver: no leader"): rejected before proposing.
const NO_LEADER: &str = "etcdserver: no leader";
/// Seed of the workload clients' op choices (a fixed stream per client, never the clock, so
/// two runs issue the same sequence of choices).
const WORKLOAD_SEED: u64 = 0x5350_4f46_4c45_5353;

/// What the workload clients send: the op mix the simulated clients use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadMix {
    /// Concurrent clients that fail over between members (plus the one pinned client).
    pub clients: u32,
    /// Percent of requests that are linearizable gets; the rest are writes.
    pub read_percent: u32,
    /// A write whose request number `n` has `n % cas_every == cas_every - 1` is a
    /// compare-and-swap txn; 0 for none.
    pub cas_every: u64,
    /// Keys `spf/k0` .. `spf/k{keys-1}`.
    pub keys: u32,
    /// Deadline of one request (dial and command).
    pub request_timeout: Duration,
}

/// How the schedule runs.
#[derive(Debug, Clone)]
pub struct FaultScheduleConfig {
    /// Length of each phase.
    pub phase: Duration,
    /// The workload.
    pub workload: WorkloadMix,
    /// Position of the member the `partition-member` phase cuts off from its peers; one extra
    /// client is pinned to it for the whole run.
    pub partitioned_member: usize,
    /// Bound on waiting for a new leader or for health after a fault.
    pub recovery_timeout: Duration,
}

impl FaultScheduleConfig {
    /// The schedule with `workload`, default phase length and recovery bound, and the last
    /// member partitioned.
    pub fn new(workload: WorkloadMix, members: usize) -> Self {
        Self {
            phase: DEFAULT_PHASE,
            workload,
            partitioned_member: members.saturating_sub(1),
            recovery_timeout: DEFAULT_RECOVERY_TIMEOUT,
        }
    }
}

/// The field a compare looks at, in the shape of `sim::models::kv::CompareTarget`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedTarget {
    /// The value.
    Value(String),
    /// The version (0: the key does not exist).
    Version(i64),
}

/// One compare of a txn, in the shape of `sim::models::kv::Compare` (operator always `=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedCompare {
    /// Key.
    pub key: String,
    /// Always `"equal"`.
    pub op: &'static str,
    /// Field and value.
    pub target: RecordedTarget,
}

/// A request inside a txn branch, in the shape of `sim::models::kv::RequestOp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordedRequest {
    /// Put.
    Put {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Get.
    Get {
        /// Key.
        key: String,
    },
}

/// A request, in the shape of `sim::models::kv::KvOp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordedOp {
    /// Put.
    Put {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Linearizable get.
    Get {
        /// Key.
        key: String,
    },
    /// Compare-and-swap: if the compare holds put, else read the key back.
    Txn {
        /// The compare.
        compares: Vec<RecordedCompare>,
        /// Run when it holds.
        success: Vec<RecordedRequest>,
        /// Run when it does not.
        failure: Vec<RecordedRequest>,
    },
}

impl RecordedOp {
    /// A compare-and-swap on `key` (the shape of `sim::models::kv::KvOp::compare_and_put`).
    pub fn compare_and_put(key: String, target: RecordedTarget, value: String) -> Self {
        RecordedOp::Txn {
            compares: vec![RecordedCompare {
                key: key.clone(),
                op: "equal",
                target,
            }],
            success: vec![RecordedRequest::Put {
                key: key.clone(),
                value,
            }],
            failure: vec![RecordedRequest::Get { key }],
        }
    }

    /// Whether it may change the store.
    pub fn is_write(&self) -> bool {
        !matches!(self, RecordedOp::Get { .. })
    }

    /// `etcdctl` arguments and standard input.
    fn etcdctl(&self) -> (Vec<String>, Option<String>) {
        let json = ["-w".to_owned(), "json".to_owned()];
        match self {
            RecordedOp::Put { key, value } => (
                ["put".to_owned(), key.clone(), value.clone()]
                    .into_iter()
                    .chain(json)
                    .collect(),
                None,
            ),
            RecordedOp::Get { key } => (
                ["get".to_owned(), key.clone()]
                    .into_iter()
                    .chain(json)
                    .collect(),
                None,
            ),
            RecordedOp::Txn {
                compares,
                success,
                failure,
            } => {
                // etcdctl txn's input: compares, a blank line, success requests, a blank
                // line, failure requests, a blank line (the here-document adds the last
                // newline).
                let cmp: Vec<String> = compares
                    .iter()
                    .map(|c| match &c.target {
                        RecordedTarget::Value(v) => format!("value(\"{}\") = \"{v}\"", c.key),
                        RecordedTarget::Version(v) => format!("ver(\"{}\") = \"{v}\"", c.key),
                    })
                    .collect();
                let reqs = |rs: &[RecordedRequest]| -> Vec<String> {
                    rs.iter()
                        .map(|r| match r {
                            RecordedRequest::Put { key, value } => format!("put {key} {value}"),
                            RecordedRequest::Get { key } => format!("get {key}"),
                        })
                        .collect()
                };
                let text = format!(
                    "{}\n\n{}\n\n{}\n",
                    cmp.join("\n"),
                    reqs(success).join("\n"),
                    reqs(failure).join("\n")
                );
                (
                    ["txn".to_owned()].into_iter().chain(json).collect(),
                    Some(text),
                )
            }
        }
    }
}

/// A key as etcd returned it, in the shape of `sim::models::kv::KeyValue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedKv {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// `create_revision`.
    pub create_revision: i64,
    /// `mod_revision`.
    pub mod_revision: i64,
    /// `version`.
    pub version: i64,
}

/// The answer to a request inside a txn, in the shape of `sim::models::kv::ResponseOp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordedResponse {
    /// A put.
    Put,
    /// A get.
    Get {
        /// The key, if present.
        kv: Option<RecordedKv>,
    },
}

/// An answer, in the shape of `sim::models::kv::KvResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordedResult {
    /// Put answered at `revision`.
    Put {
        /// Header revision.
        revision: i64,
    },
    /// Get answered.
    Get {
        /// Header revision.
        revision: i64,
        /// The key, if present.
        kv: Option<RecordedKv>,
    },
    /// Txn answered.
    Txn {
        /// Header revision.
        revision: i64,
        /// Whether the compare held.
        succeeded: bool,
        /// The branch's answers.
        responses: Vec<RecordedResponse>,
    },
}

/// What the client learnt, in the shape of `sim::checks::linearizability::Outcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedOutcome {
    /// Answered.
    Ok(RecordedResult),
    /// Unknown (timeout, connection lost).
    Indeterminate,
    /// Definitely not applied.
    Failed,
}

impl RecordedOutcome {
    /// How the drill counts the call.
    pub fn call_result(&self) -> CallResult {
        match self {
            RecordedOutcome::Ok(_) => CallResult::Ok,
            RecordedOutcome::Failed => CallResult::Failed,
            RecordedOutcome::Indeterminate => CallResult::Indeterminate,
        }
    }
}

/// One client call, in the shape of `sim::checks::linearizability::Operation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedOperation {
    /// Client thread.
    pub client: u32,
    /// Request.
    pub op: RecordedOp,
    /// Sent (ns since the run's start).
    pub call_time: u64,
    /// Answered or given up (ns since the run's start).
    pub return_time: Option<u64>,
    /// Outcome.
    pub outcome: RecordedOutcome,
    /// Schedule phase during which it was called.
    pub phase: String,
    /// The endpoint it went to.
    pub endpoint: String,
    /// For an operation without an answer: etcdctl's last stderr line, or "timed out".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What one phase of the schedule did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PhaseOutcome {
    /// Phase name.
    pub name: String,
    /// The member the fault hit, if any.
    pub target: Option<String>,
    /// Start (ns since the run's start).
    pub start_ns: u64,
    /// End.
    pub end_ns: u64,
    /// Leader when the phase began.
    pub leader_before: Option<String>,
    /// New leader observed after the fault, if the fault forced an election.
    pub new_leader: Option<String>,
    /// From the fault to the first observation of a new leader (ns).
    pub reelection_ns: Option<u64>,
    /// The failing-over clients' calls.
    pub counts: PhaseCounts,
    /// The pinned client's calls.
    pub pinned: PhaseCounts,
    /// From the fault to its repair (ns since the run's start), for phases with a fault.
    pub fault_window_ns: Option<(u64, u64)>,
    /// The pinned client's calls sent while the fault was in force; one answered only after
    /// the repair counts as indeterminate.
    pub pinned_during_fault: PhaseCounts,
}

impl PhaseOutcome {
    /// Records the leader the survivors elected after the fault and how long it took, when one
    /// came in time.
    fn note_reelection(&mut self, found: Option<(String, u64)>) {
        if let Some((leader, ns)) = found {
            self.new_leader = Some(leader);
            self.reelection_ns = Some(ns);
        }
    }
}

/// The result of a schedule run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultRun {
    /// Per phase, in schedule order.
    pub phases: Vec<PhaseOutcome>,
    /// Every client call, by call time.
    pub operations: Vec<RecordedOperation>,
    /// Client number of the pinned client.
    pub pinned_client: u32,
}

impl FaultRun {
    /// `{"operations": [...]}`: parses as `sim::checks::linearizability::History`.
    pub fn history_json(&self) -> String {
        let ops: Vec<serde_json::Value> = self
            .operations
            .iter()
            .map(|o| {
                serde_json::json!({
                    "client": o.client,
                    "op": o.op,
                    "call_time": o.call_time,
                    "return_time": o.return_time,
                    "outcome": o.outcome,
                })
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({ "operations": ops })).unwrap_or_default()
    }

    /// The whole run (phases and history with phase labels and errors) as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn ns(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `at` in ns since the run's start.
fn since(t0: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(t0).as_nanos()).unwrap_or(u64::MAX)
}

/// Decodes standard base64 (etcdctl's JSON encoding of keys and values).
fn base64(text: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from((bits >> n) & 0xff).ok()?);
        }
    }
    String::from_utf8(out).ok()
}

fn kv_of(kv: &serde_json::Value) -> Option<RecordedKv> {
    Some(RecordedKv {
        key: base64(kv.get("key")?.as_str()?)?,
        value: base64(kv.get("value")?.as_str()?)?,
        create_revision: kv.get("create_revision")?.as_i64()?,
        mod_revision: kv.get("mod_revision")?.as_i64()?,
        version: kv.get("version")?.as_i64()?,
    })
}

/// The first key of a range answer (`kvs` is left out when nothing matched).
fn first_kv(range: &serde_json::Value) -> Option<Option<RecordedKv>> {
    match range
        .get("kvs")
        .and_then(|k| k.as_array())
        .and_then(|a| a.first())
    {
        None => Some(None),
        Some(kv) => Some(Some(kv_of(kv)?)),
    }
}

/// Parses `etcdctl -w json` output for `op`.
fn parse_result(op: &RecordedOp, stdout: &str) -> Option<RecordedResult> {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let revision = v.get("header")?.get("revision")?.as_i64()?;
    Some(match op {
        RecordedOp::Put { .. } => RecordedResult::Put { revision },
        RecordedOp::Get { .. } => RecordedResult::Get {
            revision,
            kv: first_kv(&v)?,
        },
        RecordedOp::Txn {
            success, failure, ..
        } => {
            // etcdctl leaves `succeeded` out when it is false.
            let succeeded = v
                .get("succeeded")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            let branch = if succeeded { success } else { failure };
            let answers = v
                .get("responses")
                .and_then(|r| r.as_array())
                .cloned()
                .unwrap_or_default();
            if answers.len() != branch.len() {
                return None;
            }
            let responses = branch
                .iter()
                .zip(&answers)
                .map(|(req, resp)| {
                    let inner = resp.get("Response")?;
                    match req {
                        RecordedRequest::Put { .. } => {
                            inner.get("ResponsePut")?;
                            Some(RecordedResponse::Put)
                        }
                        RecordedRequest::Get { .. } => Some(RecordedResponse::Get {
                            kv: first_kv(inner.get("ResponseRange")?)?,
                        }),
                    }
                })
                .collect::<Option<Vec<_>>>()?;
            RecordedResult::Txn {
                revision,
                succeeded,
                responses,
            }
        }
    })
}

/// A small deterministic generator (splitmix64) for the workload's choices.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One workload client: the simulated `EtcdClient`'s request choice and failover rule.
#[derive(Debug)]
struct RealClient {
    id: u32,
    mix: WorkloadMix,
    endpoints: Vec<String>,
    pinned: bool,
    next_endpoint: usize,
    seq: u64,
    seen: Vec<Option<String>>,
    rng: SplitMix,
}

impl RealClient {
    fn new(id: u32, mix: &WorkloadMix, endpoints: Vec<String>, pinned: bool) -> Self {
        Self {
            id,
            endpoints,
            pinned,
            next_endpoint: 0,
            seq: 0,
            seen: vec![None; mix.keys.max(1) as usize],
            rng: SplitMix(WORKLOAD_SEED ^ u64::from(id)),
            mix: mix.clone(),
        }
    }

    /// The next request: a get with `read_percent` chance, else a write; a write whose
    /// request number is `cas_every - 1` modulo `cas_every` is a compare-and-swap guarded by
    /// the last value this client saw (version 0 when it saw none).
    fn next_op(&mut self) -> RecordedOp {
        let k = self.rng.below(u64::from(self.mix.keys.max(1)));
        let key = format!("spf/k{k}");
        let roll = self.rng.below(100);
        if roll < u64::from(self.mix.read_percent) {
            return RecordedOp::Get { key };
        }
        let value = format!("c{}-{}", self.id, self.seq);
        let every = self.mix.cas_every;
        if every > 0 && self.seq % every == every - 1 {
            let target = match usize::try_from(k).ok().and_then(|i| self.seen.get(i)) {
                Some(Some(v)) => RecordedTarget::Value(v.clone()),
                _ => RecordedTarget::Version(0),
            };
            return RecordedOp::compare_and_put(key, target, value);
        }
        RecordedOp::Put { key, value }
    }

    fn remember(&mut self, op: &RecordedOp, result: &RecordedResult) {
        let mut set = |key: &str, value: Option<String>| {
            if let Some(slot) = key
                .strip_prefix("spf/k")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|i| self.seen.get_mut(i))
            {
                *slot = value;
            }
        };
        match (op, result) {
            (RecordedOp::Put { key, value }, _) => set(key, Some(value.clone())),
            (RecordedOp::Get { key }, RecordedResult::Get { kv, .. }) => {
                set(key, kv.as_ref().map(|kv| kv.value.clone()));
            }
            (
                RecordedOp::Txn {
                    success, failure, ..
                },
                RecordedResult::Txn {
                    succeeded,
                    responses,
                    ..
                },
            ) => {
                let branch = if *succeeded { success } else { failure };
                for (req, resp) in branch.iter().zip(responses) {
                    match (req, resp) {
                        (RecordedRequest::Put { key, value }, _) => set(key, Some(value.clone())),
                        (RecordedRequest::Get { key }, RecordedResponse::Get { kv }) => {
                            set(key, kv.as_ref().map(|kv| kv.value.clone()));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Issues one request and records it.
    fn call(&mut self, client: &EtcdClient, t0: Instant, phase: String) -> RecordedOperation {
        let op = self.next_op();
        self.seq += 1;
        let endpoint = self.endpoints[self.next_endpoint % self.endpoints.len().max(1)].clone();
        let (args, stdin) = op.etcdctl();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let call_time = ns(t0);
        let out = client.request(&endpoint, &args, stdin.as_deref(), self.mix.request_timeout);
        let return_time = Some(ns(t0));
        let (result, detail) = match out {
            Ok(o) if o.success() => match parse_result(&op, &o.stdout_str()) {
                Some(r) => (Some(r), None),
                None => (None, Some(format!("unparsable: {}", o.stdout_str().trim()))),
            },
            Err(NetnsError::Exec(e)) if e.is_timeout() => (None, Some("timed out".to_owned())),
            Ok(o) => (None, o.stderr_str().lines().last().map(str::to_owned)),
            Err(e) => (None, Some(e.to_string())),
        };
        let rejected = detail
            .as_deref()
            .is_some_and(|d| d.contains(PROPOSAL_DROPPED) || d.contains(NO_LEADER));
        let outcome = match result {
            Some(r) => {
                self.remember(&op, &r);
                RecordedOutcome::Ok(r)
            }
            None if op.is_write() && !rejected => RecordedOutcome::Indeterminate,
            None => RecordedOutcome::Failed,
        };
        if !matches!(outcome, RecordedOutcome::Ok(_)) && !self.pinned {
            // The simulated client's rule (clientv3 moves on from an endpoint that fails).
            self.next_endpoint = (self.next_endpoint + 1) % self.endpoints.len().max(1);
        }
        RecordedOperation {
            client: self.id,
            op,
            call_time,
            return_time,
            outcome,
            phase,
            endpoint,
            detail,
        }
    }
}

struct Workload {
    stop: Arc<AtomicBool>,
    phase: Arc<Mutex<String>>,
    threads: Vec<thread::JoinHandle<Vec<RecordedOperation>>>,
}

impl Workload {
    /// `mix.clients` failing-over clients over `endpoints`, plus one client (number
    /// `mix.clients`) pinned to `pinned`.
    fn start(
        client: &EtcdClient,
        endpoints: &[String],
        pinned: &str,
        mix: &WorkloadMix,
        t0: Instant,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(Mutex::new(String::from("setup")));
        let threads = (0..=mix.clients)
            .map(|c| {
                let is_pinned = c == mix.clients;
                let eps = if is_pinned {
                    vec![pinned.to_owned()]
                } else {
                    endpoints.to_vec()
                };
                // The pinned client only writes, so the minority phase always tests writes.
                let own_mix = if is_pinned {
                    WorkloadMix {
                        read_percent: 0,
                        ..mix.clone()
                    }
                } else {
                    mix.clone()
                };
                let mut real = RealClient::new(c, &own_mix, eps, is_pinned);
                let client = client.clone();
                let (stop, phase) = (stop.clone(), phase.clone());
                thread::spawn(move || {
                    let mut ops = Vec::new();
                    for _ in 0..MAX_OPS_PER_CLIENT {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let label = phase.lock().map(|p| p.clone()).unwrap_or_default();
                        ops.push(real.call(&client, t0, label));
                    }
                    ops
                })
            })
            .collect();
        Self {
            stop,
            phase,
            threads,
        }
    }

    fn set_phase(&self, name: &str) {
        if let Ok(mut p) = self.phase.lock() {
            name.clone_into(&mut p);
        }
    }

    fn finish(self) -> Vec<RecordedOperation> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<RecordedOperation> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|o| (o.call_time, o.client));
        all
    }
}

/// Polls the leader on `endpoints` until one other than `old` answers; returns it and when.
fn await_new_leader(
    lab: &EtcdLab,
    endpoints: &[String],
    old: Option<&str>,
    since: Instant,
    timeout: Duration,
) -> Option<(String, u64)> {
    crate::testbed::wait_until(
        "a new etcd leader",
        timeout,
        Duration::from_millis(50),
        || {
            lab.leader(endpoints, Duration::from_secs(1))
                .filter(|l| Some(l.as_str()) != old)
        },
    )
    .ok()
    .map(|l| {
        (
            l,
            u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX),
        )
    })
}

fn current_leader(lab: &EtcdLab, timeout: Duration) -> Result<String, NetnsError> {
    crate::testbed::wait_until(
        "an etcd leader",
        timeout,
        Duration::from_millis(100),
        || lab.leader(&lab.endpoints(), Duration::from_secs(1)),
    )
}

fn others(lab: &EtcdLab, excluded: &str) -> (Vec<String>, Option<String>) {
    let eps = lab
        .members()
        .iter()
        .filter(|m| m.name != excluded)
        .filter_map(|m| lab.endpoint(&m.name))
        .collect();
    let follower = lab
        .members()
        .iter()
        .find(|m| m.name != excluded)
        .map(|m| m.name.clone());
    (eps, follower)
}

/// Runs the schedule on a started `lab` (waits for health first) and returns phases + history.
pub fn run_fault_schedule(
    lab: &mut EtcdLab,
    cfg: &FaultScheduleConfig,
) -> Result<FaultRun, EtcdLabError> {
    let all = lab.endpoints();
    lab.wait_healthy(&all, cfg.recovery_timeout)?;
    let pinned_name = lab
        .members()
        .get(cfg.partitioned_member)
        .map(|m| m.name.clone())
        .ok_or(NetnsError::UnknownHost {
            name: format!("member #{}", cfg.partitioned_member),
        })?;
    let pinned = lab.endpoint(&pinned_name).ok_or(NetnsError::UnknownHost {
        name: pinned_name.clone(),
    })?;
    let t0 = Instant::now();
    let workload = Workload::start(&lab.client()?, &all, &pinned, &cfg.workload, t0);
    let mut phases = Vec::new();
    let result = run_phases(lab, cfg, &pinned_name, t0, &workload, &mut phases);
    let operations = workload.finish();
    // Leave no partition behind, also when a phase failed half-way.
    lab.lab().heal()?;
    result?;
    let pinned_client = cfg.workload.clients;
    for p in &mut phases {
        for o in operations.iter().filter(|o| o.phase == p.name) {
            let counts = if o.client == pinned_client {
                &mut p.pinned
            } else {
                &mut p.counts
            };
            let write = o.op.is_write();
            let result = o.outcome.call_result();
            counts.add(write, result);
            if o.client == pinned_client
                && let Some((from, to)) = p.fault_window_ns
                && (from..to).contains(&o.call_time)
            {
                // An answer after the repair is no answer during the fault.
                let late = o.return_time.is_none_or(|r| r > to);
                let result = match result {
                    CallResult::Ok if late => CallResult::Indeterminate,
                    other => other,
                };
                p.pinned_during_fault.add(write, result);
            }
        }
    }
    Ok(FaultRun {
        phases,
        operations,
        pinned_client,
    })
}

fn run_phases(
    lab: &mut EtcdLab,
    cfg: &FaultScheduleConfig,
    partitioned: &str,
    t0: Instant,
    workload: &Workload,
    phases: &mut Vec<PhaseOutcome>,
) -> Result<(), EtcdLabError> {
    let all = lab.endpoints();
    let begin = |name: &str, lab: &EtcdLab| -> Result<PhaseOutcome, EtcdLabError> {
        let leader = current_leader(lab, cfg.recovery_timeout)?;
        workload.set_phase(name);
        Ok(PhaseOutcome {
            name: name.to_owned(),
            start_ns: ns(t0),
            leader_before: Some(leader),
            ..PhaseOutcome::default()
        })
    };
    let sleep_rest = |since: Instant| thread::sleep(cfg.phase.saturating_sub(since.elapsed()));

    let mut p = begin("baseline", lab)?;
    thread::sleep(cfg.phase);
    p.end_ns = ns(t0);
    phases.push(p);

    // SIGKILL the leader; time until the survivors report a new one; restart it.
    let mut p = begin("kill-leader", lab)?;
    let leader = p.leader_before.clone().unwrap_or_default();
    let daemon = lab.daemon(&leader).ok_or(NetnsError::UnknownHost {
        name: leader.clone(),
    })?;
    let fault = Instant::now();
    lab.lab().kill(daemon)?;
    let (survivors, _) = others(lab, &leader);
    p.note_reelection(await_new_leader(
        lab,
        &survivors,
        Some(&leader),
        fault,
        cfg.recovery_timeout,
    ));
    sleep_rest(fault);
    p.target = Some(leader);
    p.fault_window_ns = Some((since(t0, fault), ns(t0)));
    lab.lab().restart(daemon)?;
    lab.wait_healthy(&all, cfg.recovery_timeout)?;
    p.end_ns = ns(t0);
    phases.push(p);

    // SIGSTOP a follower for a phase.
    let mut p = begin("stop-member", lab)?;
    let (_, follower) = others(lab, p.leader_before.as_deref().unwrap_or_default());
    let follower = follower.unwrap_or_default();
    let daemon = lab.daemon(&follower).ok_or(NetnsError::UnknownHost {
        name: follower.clone(),
    })?;
    let fault = Instant::now();
    lab.lab().pause(daemon)?;
    sleep_rest(fault);
    p.fault_window_ns = Some((since(t0, fault), ns(t0)));
    lab.lab().resume(daemon)?;
    p.target = Some(follower);
    lab.wait_healthy(&all, cfg.recovery_timeout)?;
    p.end_ns = ns(t0);
    phases.push(p);

    // Cut a follower's link.
    let mut p = begin("cut-member", lab)?;
    let (_, follower) = others(lab, p.leader_before.as_deref().unwrap_or_default());
    let follower = follower.unwrap_or_default();
    let fault = Instant::now();
    lab.lab().link_down(&follower)?;
    sleep_rest(fault);
    p.fault_window_ns = Some((since(t0, fault), ns(t0)));
    lab.lab().link_up(&follower)?;
    p.target = Some(follower);
    lab.wait_healthy(&all, cfg.recovery_timeout)?;
    p.end_ns = ns(t0);
    phases.push(p);

    // A minority partition: the fixed member loses its peers (both directions) but not its
    // clients; its pinned client keeps sending it requests. The phase (and the counting)
    // starts once the cut is in place, so no write called before it is counted against it.
    let leader = current_leader(lab, cfg.recovery_timeout)?;
    let peers: Vec<String> = lab
        .members()
        .iter()
        .map(|m| m.name.clone())
        .filter(|m| m != partitioned)
        .collect();
    let fault = Instant::now();
    for peer in &peers {
        lab.lab().block(partitioned, peer)?;
        lab.lab().block(peer, partitioned)?;
    }
    workload.set_phase("partition-member");
    let mut p = PhaseOutcome {
        name: "partition-member".to_owned(),
        start_ns: ns(t0),
        target: Some(partitioned.to_owned()),
        leader_before: Some(leader.clone()),
        ..PhaseOutcome::default()
    };
    if leader == partitioned {
        let survivors: Vec<String> = peers.iter().filter_map(|m| lab.endpoint(m)).collect();
        p.note_reelection(await_new_leader(
            lab,
            &survivors,
            Some(&leader),
            fault,
            cfg.recovery_timeout,
        ));
    }
    sleep_rest(fault);
    p.fault_window_ns = Some((since(t0, fault), ns(t0)));
    for peer in &peers {
        lab.lab().unblock(partitioned, peer)?;
        lab.lab().unblock(peer, partitioned)?;
    }
    lab.wait_healthy(&all, cfg.recovery_timeout)?;
    p.end_ns = ns(t0);
    phases.push(p);

    // Cut the leader's link; the majority elects a new leader.
    let mut p = begin("cut-leader", lab)?;
    let leader = p.leader_before.clone().unwrap_or_default();
    let fault = Instant::now();
    lab.lab().link_down(&leader)?;
    let (survivors, _) = others(lab, &leader);
    p.note_reelection(await_new_leader(
        lab,
        &survivors,
        Some(&leader),
        fault,
        cfg.recovery_timeout,
    ));
    sleep_rest(fault);
    p.fault_window_ns = Some((since(t0, fault), ns(t0)));
    lab.lab().link_up(&leader)?;
    p.target = Some(leader);
    lab.wait_healthy(&all, cfg.recovery_timeout)?;
    p.end_ns = ns(t0);
    phases.push(p);

    let mut p = begin("healed", lab)?;
    thread::sleep(cfg.phase);
    p.end_ns = ns(t0);
    phases.push(p);
    Ok(())
}

/// One SIGKILL of the leader and the election that followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderKill {
    /// The killed leader.
    pub killed: String,
    /// Who won.
    pub new_leader: String,
    /// From the SIGKILL to the end of the first `endpoint status` poll of the survivors that
    /// named a new leader.
    pub reelection: Duration,
}

/// SIGKILLs the leader `trials` times (restarting it and waiting for health in between) and
/// measures each re-election; no workload runs meanwhile. A trial without a new leader within
/// `recovery_timeout` is an error.
pub fn measure_leader_kills(
    lab: &mut EtcdLab,
    trials: u32,
    recovery_timeout: Duration,
) -> Result<Vec<LeaderKill>, EtcdLabError> {
    let all = lab.endpoints();
    let mut out = Vec::new();
    for _ in 0..trials {
        lab.wait_healthy(&all, recovery_timeout)?;
        let leader = current_leader(lab, recovery_timeout)?;
        let daemon = lab.daemon(&leader).ok_or(NetnsError::UnknownHost {
            name: leader.clone(),
        })?;
        let fault = Instant::now();
        lab.lab().kill(daemon)?;
        let (survivors, _) = others(lab, &leader);
        let found = await_new_leader(lab, &survivors, Some(&leader), fault, recovery_timeout);
        lab.lab().restart(daemon)?;
        let (new_leader, t) = found.ok_or(NetnsError::Timeout {
            what: format!("a new leader after killing {leader}"),
            after: recovery_timeout,
        })?;
        out.push(LeaderKill {
            killed: leader,
            new_leader,
            reelection: Duration::from_nanos(t),
        });
    }
    lab.wait_healthy(&all, recovery_timeout)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_etcdctl_values() {
        assert_eq!(base64("c3BmL2sw").as_deref(), Some("spf/k0"));
        assert_eq!(base64("YzEtMTI=").as_deref(), Some("c1-12"));
        assert_eq!(base64("!"), None);
    }

    #[test]
    fn put_and_get_json_parse() {
        let put = RecordedOp::Put {
            key: "k".into(),
            value: "v".into(),
        };
        assert_eq!(
            parse_result(
                &put,
                r#"{"header":{"cluster_id":1,"member_id":2,"revision":7,"raft_term":3}}"#
            ),
            Some(RecordedResult::Put { revision: 7 })
        );
        let get = RecordedOp::Get { key: "k".into() };
        let r = parse_result(
            &get,
            r#"{"header":{"revision":9},"kvs":[{"key":"aw==","create_revision":2,"mod_revision":9,"version":4,"value":"dg=="}],"count":1}"#,
        );
        assert_eq!(
            r,
            Some(RecordedResult::Get {
                revision: 9,
                kv: Some(RecordedKv {
                    key: "k".into(),
                    value: "v".into(),
                    create_revision: 2,
                    mod_revision: 9,
                    version: 4
                })
            })
        );
        assert_eq!(
            parse_result(&get, r#"{"header":{"revision":3}}"#),
            Some(RecordedResult::Get {
                revision: 3,
                kv: None
            })
        );
    }

    /// Real `etcdctl txn -w json` output of etcd 3.4.23 (captured by hand): a compare that
    /// held, and one that did not with the key present and absent.
    #[test]
    fn txn_json_parses_both_branches() {
        let cas = RecordedOp::compare_and_put(
            "spf/k0".into(),
            RecordedTarget::Value("a".into()),
            "b".into(),
        );
        assert_eq!(
            parse_result(
                &cas,
                r#"{"header":{"cluster_id":1,"member_id":2,"revision":3,"raft_term":2},"succeeded":true,"responses":[{"Response":{"ResponsePut":{"header":{"revision":3}}}}]}"#
            ),
            Some(RecordedResult::Txn {
                revision: 3,
                succeeded: true,
                responses: vec![RecordedResponse::Put]
            })
        );
        assert_eq!(
            parse_result(
                &cas,
                r#"{"header":{"revision":3},"responses":[{"Response":{"ResponseRange":{"header":{"revision":3},"kvs":[{"key":"c3BmL2sw","create_revision":2,"mod_revision":3,"version":2,"value":"Yg=="}],"count":1}}}]}"#
            ),
            Some(RecordedResult::Txn {
                revision: 3,
                succeeded: false,
                responses: vec![RecordedResponse::Get {
                    kv: Some(RecordedKv {
                        key: "spf/k0".into(),
                        value: "b".into(),
                        create_revision: 2,
                        mod_revision: 3,
                        version: 2
                    })
                }]
            })
        );
        assert_eq!(
            parse_result(
                &cas,
                r#"{"header":{"revision":4},"responses":[{"Response":{"ResponseRange":{"header":{"revision":4}}}}]}"#
            ),
            Some(RecordedResult::Txn {
                revision: 4,
                succeeded: false,
                responses: vec![RecordedResponse::Get { kv: None }]
            })
        );
        // A success answer to a txn whose branch has a get is malformed.
        assert_eq!(
            parse_result(&cas, r#"{"header":{"revision":3},"responses":[]}"#),
            None
        );
    }

    #[test]
    fn txn_input_is_what_etcdctl_reads() {
        let cas =
            RecordedOp::compare_and_put("spf/k1".into(), RecordedTarget::Version(0), "c0-9".into());
        let (args, stdin) = cas.etcdctl();
        assert_eq!(args, ["txn", "-w", "json"]);
        assert_eq!(
            stdin.as_deref(),
            Some("ver(\"spf/k1\") = \"0\"\n\nput spf/k1 c0-9\n\nget spf/k1\n")
        );
    }

    /// The same choices as the simulated client: with reads at 50 % and a txn every tenth
    /// request, a long run has about half reads, and every txn sits at request number 9 mod 10.
    #[test]
    fn the_workload_mixes_reads_puts_and_txns() {
        let mix = WorkloadMix {
            clients: 1,
            read_percent: 50,
            cas_every: 10,
            keys: 3,
            request_timeout: Duration::from_millis(1500),
        };
        let mut c = RealClient::new(0, &mix, vec!["e".into()], false);
        let (mut reads, mut txns) = (0, 0);
        for n in 0..10_000u64 {
            let op = c.next_op();
            c.seq += 1;
            match op {
                RecordedOp::Get { .. } => reads += 1,
                RecordedOp::Txn { .. } => {
                    assert_eq!(n % 10, 9);
                    txns += 1;
                }
                RecordedOp::Put { .. } => {}
            }
        }
        assert!((4_700..=5_300).contains(&reads), "{reads}");
        assert!((400..=600).contains(&txns), "{txns}");
    }

    #[test]
    fn a_failing_over_client_moves_on_and_a_pinned_one_stays() {
        let mix = WorkloadMix {
            clients: 1,
            read_percent: 0,
            cas_every: 0,
            keys: 1,
            request_timeout: Duration::from_millis(1),
        };
        // A namespace that does not exist: every call fails at once.
        let client = EtcdClient::for_tests("spofless-no-such-netns");
        let eps = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let mut moving = RealClient::new(0, &mix, eps.clone(), false);
        let mut pinned = RealClient::new(1, &mix, eps, true);
        let t0 = Instant::now();
        let seen: Vec<String> = (0..4)
            .map(|_| moving.call(&client, t0, "p".into()).endpoint)
            .collect();
        assert_eq!(seen, ["a", "b", "c", "a"]);
        let o = pinned.call(&client, t0, "p".into());
        assert_eq!(o.outcome, RecordedOutcome::Indeterminate, "{o:?}");
        assert_eq!(pinned.call(&client, t0, "p".into()).endpoint, "a");
    }
}
