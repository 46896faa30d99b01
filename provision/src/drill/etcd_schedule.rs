//! The etcd fault schedule against a real etcd cluster, recording a client history and what
//! each phase did: the real half of the etcd differential test and of `spofless drill`'s etcd
//! drills.
//!
//! Client threads run the workload through `etcdctl` while the main thread walks a
//! [`PhasePlan`] (the one the simulator's mirror walks too, `topology::drill`): per phase, note
//! the leader, resolve the target, apply the fault (SIGKILL, SIGSTOP, link down, peer blocks),
//! time a re-election when the fault took the leader away, repair at the end of the phase and
//! wait for health.
//!
//! The workload is the simulated clients', request for request: the op choice of
//! `topology::workload` (the differential test fills the mix from the simulator's constants),
//! one endpoint per request with the same failover rule (start at the first member, move to
//! the next after an error or a timeout; a pinned client never moves), and one deadline per
//! request (`etcdctl --dial-timeout` and `--command-timeout` both at
//! [`WorkloadMix::request_timeout`]). Compare-and-swap runs as `etcdctl txn`.
//!
//! Outcomes: an answered call is ok; a read that fails is *failed* (it changed nothing); a
//! write etcd rejected before proposing it (`raft proposal dropped`, `etcdserver: no leader`)
//! is *failed*; any other write without an answer is *indeterminate* (it may still commit).
//! The history is a `topology::wire::History` (times in ns from the run's start), so the same
//! checker judges real and simulated runs, and [`FaultRun::observed_timelines`] turns it into
//! the per-client write lanes the simulator records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
pub use topology::drill::PhaseCounts;
use topology::drill::{CallResult, PhaseFault, PhasePlan, client_name};
use topology::timeline::Timeline;
use topology::wire::{
    CompareOp, CompareTarget, History, KeyValue, KvOp, KvResult, Operation, Outcome, RequestOp,
    ResponseOp,
};
use topology::workload::{KEY_PREFIX, OpMix, WorkloadClient, write_lanes};

use super::etcd_lab::{EtcdClient, EtcdLab, EtcdLabError};
use super::etcd_target::EtcdTarget;
use super::tcp_probe::{Sample, TcpProbe};
use crate::testbed::{NetnsError, wait_until};

/// Upper bound on operations per client thread (the loop is also bounded by the schedule).
const MAX_OPS_PER_CLIENT: u64 = 20_000;
/// etcd's error text when a member drops a proposal because it knows no leader (raft
/// `ErrProposalDropped`, "raft proposal dropped"): the write never entered the log.
const PROPOSAL_DROPPED: &str = "raft proposal dropped";
/// etcd's `rpctypes.ErrNoLeader` text ("etcdserver: no leader"): rejected before proposing.
const NO_LEADER: &str = "etcdserver: no leader";
/// Seed of the workload clients' op choices (a fixed stream per client, never the clock, so
/// two runs issue the same sequence of choices).
const WORKLOAD_SEED: u64 = 0x5350_4f46_4c45_5353;

/// What the workload clients send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadMix {
    /// Concurrent clients that fail over between members (plus the one pinned client).
    pub clients: u32,
    /// The op mix (the simulated clients' one).
    pub ops: OpMix,
    /// Deadline of one request (dial and command).
    pub request_timeout: Duration,
}

/// How the schedule runs.
#[derive(Debug, Clone)]
pub struct FaultScheduleConfig {
    /// The phases (also the phase length and the recovery bound).
    pub plan: PhasePlan,
    /// The workload.
    pub workload: WorkloadMix,
}

impl FaultScheduleConfig {
    /// The etcd schedule of `topology::drill` over `members` members (the last one
    /// partitioned, with one extra client pinned to it) with `workload`.
    pub fn new(workload: WorkloadMix, members: usize) -> Self {
        Self {
            plan: PhasePlan::etcd_schedule(members.saturating_sub(1)),
            workload,
        }
    }
}

/// `etcdctl` spelling of a compare's operator.
fn compare_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Equal => "=",
        CompareOp::NotEqual => "!=",
        CompareOp::Less => "<",
        CompareOp::Greater => ">",
    }
}

/// `etcdctl` arguments and standard input for `op`; `None` for a request the drill's clients
/// never send (ranges and deletes).
fn etcdctl_args(op: &KvOp) -> Option<(Vec<String>, Option<String>)> {
    let json = ["-w".to_owned(), "json".to_owned()];
    let request = |r: &RequestOp| match r {
        RequestOp::Put { key, value } => Some(format!("put {key} {value}")),
        RequestOp::Get { key } => Some(format!("get {key}")),
        RequestOp::Range { .. } | RequestOp::Delete { .. } => None,
    };
    Some(match op {
        KvOp::Put { key, value } => (
            ["put".to_owned(), key.clone(), value.clone()]
                .into_iter()
                .chain(json)
                .collect(),
            None,
        ),
        KvOp::Get { key } => (
            ["get".to_owned(), key.clone()]
                .into_iter()
                .chain(json)
                .collect(),
            None,
        ),
        KvOp::Txn {
            compares,
            success,
            failure,
        } => {
            // etcdctl txn's input: compares, a blank line, success requests, a blank line,
            // failure requests, a blank line (the here-document adds the last newline).
            let cmp: Vec<String> = compares
                .iter()
                .map(|c| {
                    let op = compare_op(c.op);
                    match &c.target {
                        CompareTarget::Value(v) => format!("value(\"{}\") {op} \"{v}\"", c.key),
                        CompareTarget::Version(v) => format!("ver(\"{}\") {op} \"{v}\"", c.key),
                        CompareTarget::CreateRevision(v) => {
                            format!("create(\"{}\") {op} \"{v}\"", c.key)
                        }
                        CompareTarget::ModRevision(v) => {
                            format!("mod(\"{}\") {op} \"{v}\"", c.key)
                        }
                    }
                })
                .collect();
            let reqs =
                |rs: &[RequestOp]| -> Option<Vec<String>> { rs.iter().map(request).collect() };
            let text = format!(
                "{}\n\n{}\n\n{}\n",
                cmp.join("\n"),
                reqs(success)?.join("\n"),
                reqs(failure)?.join("\n")
            );
            (
                ["txn".to_owned()].into_iter().chain(json).collect(),
                Some(text),
            )
        }
        KvOp::Range { .. } | KvOp::Delete { .. } => return None,
    })
}

/// One client call with what the drill adds: its phase, its endpoint and, when unanswered,
/// why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillOperation {
    /// The call, as the history has it.
    #[serde(flatten)]
    pub call: Operation,
    /// Schedule phase during which it was called.
    pub phase: String,
    /// The endpoint it went to.
    pub endpoint: String,
    /// For an operation without an answer: etcdctl's last stderr line, or "timed out".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How the drill counts a call.
fn call_result(outcome: &Outcome) -> CallResult {
    match outcome {
        Outcome::Ok(_) => CallResult::Ok,
        Outcome::Failed => CallResult::Failed,
        Outcome::Indeterminate => CallResult::Indeterminate,
    }
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
    /// The uncertainty of the fault's instant (ns), which every figure timed from the fault
    /// carries: for a kill, the gap between the last accepted and the first refused connection
    /// to the member's client port (about the watch's 20 ms); otherwise how long applying the
    /// fault took (a signal sent over SSH to an emulated guest takes seconds, one to a local
    /// process nothing).
    pub injection_ns: Option<u64>,
    /// The pinned client's calls sent while the fault was in force; one answered only after
    /// the repair counts as indeterminate.
    pub pinned_during_fault: PhaseCounts,
}

/// The result of a schedule run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultRun {
    /// Per phase, in schedule order.
    pub phases: Vec<PhaseOutcome>,
    /// Every client call, by call time.
    pub operations: Vec<DrillOperation>,
    /// Client number of the pinned client.
    pub pinned_client: u32,
}

impl FaultRun {
    /// The client history, for the linearizability checker.
    pub fn history(&self) -> History {
        History::new(self.operations.iter().map(|o| o.call.clone()).collect())
    }

    /// The whole run (phases and history with phase labels and errors) as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The observed timelines: each client's writes (`etcd-writes/client0`, ...,
    /// `etcd-writes/pinned`, the names the simulator's clients use) from the start of the run
    /// to the end of the last phase.
    pub fn observed_timelines(&self) -> Vec<Timeline> {
        let end = Duration::from_nanos(self.phases.last().map_or(0, |p| p.end_ns));
        let pinned = self.pinned_client;
        write_lanes(&self.history(), |c| client_name(c, pinned), end)
    }
}

fn ns(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `at` in ns since the run's start.
fn since(t0: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(t0).as_nanos()).unwrap_or(u64::MAX)
}

/// Decodes etcdctl's base64 JSON encoding of a key or value into text.
fn base64(text: &str) -> Option<String> {
    String::from_utf8(crate::base64::decode(text)?).ok()
}

fn kv_of(kv: &serde_json::Value) -> Option<KeyValue> {
    Some(KeyValue {
        key: base64(kv.get("key")?.as_str()?)?,
        value: base64(kv.get("value")?.as_str()?)?,
        create_revision: kv.get("create_revision")?.as_i64()?,
        mod_revision: kv.get("mod_revision")?.as_i64()?,
        version: kv.get("version")?.as_i64()?,
    })
}

/// The first key of a range answer (`kvs` is left out when nothing matched).
fn first_kv(range: &serde_json::Value) -> Option<Option<KeyValue>> {
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
fn parse_result(op: &KvOp, stdout: &str) -> Option<KvResult> {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let revision = v.get("header")?.get("revision")?.as_i64()?;
    Some(match op {
        KvOp::Put { .. } => KvResult::Put { revision },
        KvOp::Get { .. } => KvResult::Get {
            revision,
            kv: first_kv(&v)?,
        },
        KvOp::Txn {
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
                        RequestOp::Put { .. } => {
                            inner.get("ResponsePut")?;
                            Some(ResponseOp::Put)
                        }
                        RequestOp::Get { .. } => Some(ResponseOp::Get {
                            kv: first_kv(inner.get("ResponseRange")?)?,
                        }),
                        RequestOp::Range { .. } | RequestOp::Delete { .. } => None,
                    }
                })
                .collect::<Option<Vec<_>>>()?;
            KvResult::Txn {
                revision,
                succeeded,
                responses,
            }
        }
        KvOp::Range { .. } | KvOp::Delete { .. } => return None,
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
    workload: WorkloadClient,
    request_timeout: Duration,
    endpoints: Vec<String>,
    pinned: bool,
    next_endpoint: usize,
    seq: u64,
    rng: SplitMix,
}

impl RealClient {
    fn new(id: u32, mix: &WorkloadMix, endpoints: Vec<String>, pinned: bool) -> Self {
        // The pinned client only writes, so the minority phase always tests writes.
        let ops = if pinned {
            mix.ops.writes_only()
        } else {
            mix.ops
        };
        Self {
            id,
            workload: WorkloadClient::new(ops),
            request_timeout: mix.request_timeout,
            endpoints,
            pinned,
            next_endpoint: 0,
            seq: 0,
            rng: SplitMix(WORKLOAD_SEED ^ u64::from(id)),
        }
    }

    /// The next request (the draws in the simulated client's order: key, then roll).
    fn next_op(&mut self) -> KvOp {
        let keys = u64::from(self.workload.mix().key_count());
        let k = u32::try_from(self.rng.below(keys)).unwrap_or(0);
        let roll = u32::try_from(self.rng.below(100)).unwrap_or(0);
        self.workload.op(self.id, self.seq, k, roll)
    }

    /// Issues one request and records it.
    fn call(&mut self, client: &EtcdClient, t0: Instant, phase: String) -> DrillOperation {
        let op = self.next_op();
        self.seq += 1;
        let endpoint = self.endpoints[self.next_endpoint % self.endpoints.len().max(1)].clone();
        let call_time = ns(t0);
        let (result, detail) = match etcdctl_args(&op) {
            None => (None, Some("not a request etcdctl is asked for".to_owned())),
            Some((args, stdin)) => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match client.request(&endpoint, &args, stdin.as_deref(), self.request_timeout) {
                    Ok(o) if o.success() => match parse_result(&op, &o.stdout_str()) {
                        Some(r) => (Some(r), None),
                        None => (None, Some(format!("unparsable: {}", o.stdout_str().trim()))),
                    },
                    Err(NetnsError::Exec(e)) if e.is_timeout() => {
                        (None, Some("timed out".to_owned()))
                    }
                    Ok(o) => (None, o.stderr_str().lines().last().map(str::to_owned)),
                    Err(e) => (None, Some(e.to_string())),
                }
            }
        };
        let return_time = Some(ns(t0));
        let rejected = detail
            .as_deref()
            .is_some_and(|d| d.contains(PROPOSAL_DROPPED) || d.contains(NO_LEADER));
        let is_write = !op.is_read();
        let outcome = match result {
            Some(r) => {
                self.workload.remember(&op, &r);
                Outcome::Ok(r)
            }
            None if is_write && !rejected => Outcome::Indeterminate,
            None => Outcome::Failed,
        };
        if !matches!(outcome, Outcome::Ok(_)) && !self.pinned {
            // The simulated client's rule (clientv3 moves on from an endpoint that fails).
            self.next_endpoint = (self.next_endpoint + 1) % self.endpoints.len().max(1);
        }
        DrillOperation {
            call: Operation {
                client: self.id,
                op,
                call_time,
                return_time,
                outcome,
            },
            phase,
            endpoint,
            detail,
        }
    }
}

struct Workload {
    stop: Arc<AtomicBool>,
    phase: Arc<Mutex<String>>,
    threads: Vec<thread::JoinHandle<Vec<DrillOperation>>>,
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
                let mut real = RealClient::new(c, mix, eps, is_pinned);
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

    fn finish(self) -> Vec<DrillOperation> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<DrillOperation> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|o| (o.call.call_time, o.call.client));
        all
    }
}

/// Polls the leader on `endpoints` until one other than `old` answers; returns it and when.
fn await_new_leader(
    lab: &dyn EtcdTarget,
    endpoints: &[String],
    old: Option<&str>,
    since: Instant,
    timeout: Duration,
) -> Option<(String, u64)> {
    wait_until(
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

fn current_leader(lab: &dyn EtcdTarget, timeout: Duration) -> Result<String, NetnsError> {
    wait_until(
        "an etcd leader",
        timeout,
        Duration::from_millis(100),
        || lab.leader(&lab.endpoints(), Duration::from_secs(1)),
    )
}

fn others(lab: &dyn EtcdTarget, excluded: &str) -> (Vec<String>, Option<String>) {
    let names = lab.member_names();
    let eps = names
        .iter()
        .filter(|m| *m != excluded)
        .filter_map(|m| lab.endpoint(m))
        .collect();
    let follower = names.into_iter().find(|m| m != excluded);
    (eps, follower)
}

/// Runs the schedule on a started `lab` (waits for health first) and returns phases + history.
pub fn run_fault_schedule(
    lab: &mut dyn EtcdTarget,
    cfg: &FaultScheduleConfig,
) -> Result<FaultRun, EtcdLabError> {
    let all = lab.endpoints();
    let recovery = cfg.plan.recovery_timeout;
    lab.wait_healthy(&all, recovery)?;
    // The history checker starts from absent keys, as the simulator's fresh cluster does; a
    // cluster that ran a drill before holds them, with their versions.
    let cleared = lab.etcdctl(&all, &["del", "--prefix", KEY_PREFIX], recovery)?;
    if !cleared.success() {
        return Err(NetnsError::Exec(crate::exec::ExecError::Failed {
            command: format!("etcdctl del --prefix {KEY_PREFIX}"),
            status: format!("{:?}", cleared.status),
            stderr: cleared.stderr_str().into_owned(),
        })
        .into());
    }
    let pinned_member = cfg.plan.partitioned_member().unwrap_or(0);
    let pinned_name =
        lab.member_names()
            .get(pinned_member)
            .cloned()
            .ok_or(NetnsError::UnknownHost {
                name: format!("member #{pinned_member}"),
            })?;
    let pinned = lab.endpoint(&pinned_name).ok_or(NetnsError::UnknownHost {
        name: pinned_name.clone(),
    })?;
    let t0 = Instant::now();
    let workload = Workload::start(&lab.client()?, &all, &pinned, &cfg.workload, t0);
    let mut phases = Vec::new();
    let result = run_phases(lab, &cfg.plan, t0, &workload, &mut phases);
    let operations = workload.finish();
    // Leave no partition behind, also when a phase failed half-way.
    lab.heal()?;
    result?;
    let pinned_client = cfg.workload.clients;
    for p in &mut phases {
        for o in operations.iter().filter(|o| o.phase == p.name) {
            let o = &o.call;
            let counts = if o.client == pinned_client {
                &mut p.pinned
            } else {
                &mut p.counts
            };
            let write = o.may_write();
            let result = call_result(&o.outcome);
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
    lab: &mut dyn EtcdTarget,
    plan: &PhasePlan,
    t0: Instant,
    workload: &Workload,
    phases: &mut Vec<PhaseOutcome>,
) -> Result<(), EtcdLabError> {
    let all = lab.endpoints();
    let names = lab.member_names();
    for phase in &plan.phases {
        let leader = current_leader(lab, plan.recovery_timeout)?;
        let mut p = PhaseOutcome {
            name: phase.name.clone(),
            leader_before: Some(leader.clone()),
            ..PhaseOutcome::default()
        };
        let Some(fault) = phase.fault else {
            workload.set_phase(&phase.name);
            p.start_ns = ns(t0);
            thread::sleep(plan.phase);
            p.end_ns = ns(t0);
            phases.push(p);
            continue;
        };
        let leader_pos = names.iter().position(|n| *n == leader);
        let target = fault
            .target()
            .resolve(leader_pos, names.len())
            .and_then(|i| names.get(i).cloned())
            .ok_or(NetnsError::UnknownHost {
                name: format!("{:?}", fault.target()),
            })?;
        if !fault.starts_after_fault() {
            workload.set_phase(&phase.name);
            p.start_ns = ns(t0);
        }
        let watch = match fault {
            PhaseFault::Kill(_) => lab
                .endpoint(&target)
                .and_then(|url| client_addr(&url))
                .zip(lab.client().ok())
                .map(|(addr, c)| {
                    TcpProbe::start(
                        c.namespace(),
                        addr,
                        KILL_WATCH_EVERY,
                        KILL_WATCH_TIMEOUT,
                        t0,
                    )
                }),
            _ => None,
        };
        let sent = Instant::now();
        lab.apply(fault, &target)?;
        let applied = Instant::now();
        // The fault's instant: for a kill, the first refused connection to the member's client
        // port (the kernel resets them once the process is gone), at most one watch interval
        // late; otherwise, or when the watch saw nothing, the start of the injection, which
        // then carries the whole injection span as its uncertainty.
        let landed = watch.and_then(|w| kill_seen(w, since(t0, sent)));
        let (at, uncertainty) = match landed {
            Some((refused, last_ok)) => (t0 + refused, refused.saturating_sub(last_ok)),
            None => (sent, applied - sent),
        };
        p.injection_ns = Some(u64::try_from(uncertainty.as_nanos()).unwrap_or(u64::MAX));
        if fault.starts_after_fault() {
            // The phase (and the counting) starts once the fault is in place, so no call sent
            // before it is counted against it.
            workload.set_phase(&phase.name);
            p.start_ns = ns(t0);
        }
        if target == leader {
            let (survivors, _) = others(lab, &leader);
            if let Some((new_leader, ns)) =
                await_new_leader(lab, &survivors, Some(&leader), at, plan.recovery_timeout)
            {
                p.new_leader = Some(new_leader);
                p.reelection_ns = Some(ns);
            }
        }
        thread::sleep(plan.phase.saturating_sub(at.elapsed()));
        p.fault_window_ns = Some((since(t0, at), ns(t0)));
        lab.repair(fault, &target)?;
        p.target = Some(target);
        lab.wait_healthy(&all, plan.recovery_timeout)?;
        p.end_ns = ns(t0);
        phases.push(p);
    }
    Ok(())
}

/// How often the kill watch connects to the victim's client port, and its bound per attempt.
const KILL_WATCH_EVERY: Duration = Duration::from_millis(20);
const KILL_WATCH_TIMEOUT: Duration = Duration::from_millis(200);
/// How long after the injection returned the kill watch still looks for the first refusal.
const KILL_WATCH_AFTER: Duration = Duration::from_secs(2);

/// `host:port` of a client URL such as `https://10.77.0.11:2379`.
fn client_addr(url: &str) -> Option<std::net::SocketAddr> {
    url.rsplit("//").next()?.parse().ok()
}

/// The first refused attempt at or after `from` and the last accepted one before it (times
/// since the run's start), waiting up to [`KILL_WATCH_AFTER`] for it.
fn kill_seen(watch: TcpProbe, from_ns: u64) -> Option<(Duration, Duration)> {
    let from = Duration::from_nanos(from_ns);
    let deadline = Instant::now() + KILL_WATCH_AFTER;
    let refused = |samples: &[Sample]| samples.iter().position(|s| s.at >= from && !s.ok);
    while Instant::now() < deadline && refused(&watch.samples()).is_none() {
        thread::sleep(KILL_WATCH_EVERY);
    }
    let samples = watch.finish();
    let i = refused(&samples)?;
    let last_ok = samples[..i]
        .iter()
        .rev()
        .find(|s| s.ok)
        .map_or(from, |s| s.at);
    Some((samples[i].at, last_ok))
}

/// One SIGKILL of the leader and the election that followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderKill {
    /// The leader that was killed or terminated.
    pub killed: String,
    /// Who won.
    pub new_leader: String,
    /// From the signal to the end of the first `endpoint status` poll of the survivors that
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
    measure_leader_losses(lab, LeaderLoss::Kill, trials, recovery_timeout)
}

/// How [`measure_leader_losses`] takes the leader away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderLoss {
    /// SIGKILL: the followers elect a new leader after their election timeout.
    Kill,
    /// SIGTERM: etcd hands leadership to a follower before it exits.
    Terminate,
}

/// Takes the leader away `trials` times as `how` says (restarting it and waiting for health
/// in between) and measures, each time, how long until a survivor names a new leader.
pub fn measure_leader_losses(
    lab: &mut EtcdLab,
    how: LeaderLoss,
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
        match how {
            LeaderLoss::Kill => lab.lab().kill(daemon)?,
            LeaderLoss::Terminate => lab.lab().sigterm(daemon)?,
        }
        let (survivors, _) = others(lab, &leader);
        let found = await_new_leader(lab, &survivors, Some(&leader), fault, recovery_timeout);
        if how == LeaderLoss::Terminate {
            // Reap it (it exits after the hand-over; killed if it hangs).
            lab.lab().terminate(daemon, recovery_timeout)?;
        }
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
        let put = KvOp::Put {
            key: "k".into(),
            value: "v".into(),
        };
        assert_eq!(
            parse_result(
                &put,
                r#"{"header":{"cluster_id":1,"member_id":2,"revision":7,"raft_term":3}}"#
            ),
            Some(KvResult::Put { revision: 7 })
        );
        let get = KvOp::Get { key: "k".into() };
        let r = parse_result(
            &get,
            r#"{"header":{"revision":9},"kvs":[{"key":"aw==","create_revision":2,"mod_revision":9,"version":4,"value":"dg=="}],"count":1}"#,
        );
        assert_eq!(
            r,
            Some(KvResult::Get {
                revision: 9,
                kv: Some(KeyValue {
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
            Some(KvResult::Get {
                revision: 3,
                kv: None
            })
        );
    }

    /// Real `etcdctl txn -w json` output of etcd 3.4.23 (captured by hand): a compare that
    /// held, and one that did not with the key present and absent.
    #[test]
    fn txn_json_parses_both_branches() {
        let cas = KvOp::compare_and_put(
            "spf/k0".into(),
            CompareTarget::Value("a".into()),
            "b".into(),
        );
        assert_eq!(
            parse_result(
                &cas,
                r#"{"header":{"cluster_id":1,"member_id":2,"revision":3,"raft_term":2},"succeeded":true,"responses":[{"Response":{"ResponsePut":{"header":{"revision":3}}}}]}"#
            ),
            Some(KvResult::Txn {
                revision: 3,
                succeeded: true,
                responses: vec![ResponseOp::Put]
            })
        );
        assert_eq!(
            parse_result(
                &cas,
                r#"{"header":{"revision":3},"responses":[{"Response":{"ResponseRange":{"header":{"revision":3},"kvs":[{"key":"c3BmL2sw","create_revision":2,"mod_revision":3,"version":2,"value":"Yg=="}],"count":1}}}]}"#
            ),
            Some(KvResult::Txn {
                revision: 3,
                succeeded: false,
                responses: vec![ResponseOp::Get {
                    kv: Some(KeyValue {
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
            Some(KvResult::Txn {
                revision: 4,
                succeeded: false,
                responses: vec![ResponseOp::Get { kv: None }]
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
        let cas = KvOp::compare_and_put("spf/k1".into(), CompareTarget::Version(0), "c0-9".into());
        let (args, stdin) = etcdctl_args(&cas).expect("a txn");
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
            ops: OpMix {
                read_percent: 50,
                cas_every: 10,
                keys: 3,
            },
            request_timeout: Duration::from_millis(1500),
        };
        let mut c = RealClient::new(0, &mix, vec!["e".into()], false);
        let (mut reads, mut txns) = (0, 0);
        for n in 0..10_000u64 {
            let op = c.next_op();
            c.seq += 1;
            match op {
                KvOp::Get { .. } => reads += 1,
                KvOp::Txn { .. } => {
                    assert_eq!(n % 10, 9);
                    txns += 1;
                }
                KvOp::Put { .. } => {}
                other => panic!("the workload sent {other:?}"),
            }
        }
        assert!((4_700..=5_300).contains(&reads), "{reads}");
        assert!((400..=600).contains(&txns), "{txns}");
    }

    #[test]
    fn a_failing_over_client_moves_on_and_a_pinned_one_stays() {
        let mix = WorkloadMix {
            clients: 1,
            ops: OpMix {
                read_percent: 0,
                cas_every: 0,
                keys: 1,
            },
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
        assert_eq!(o.call.outcome, Outcome::Indeterminate, "{o:?}");
        assert_eq!(pinned.call(&client, t0, "p".into()).endpoint, "a");
    }
}
