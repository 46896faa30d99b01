//! A fault schedule against a real etcd cluster, recording a client history and what each
//! phase did: the real half of the etcd differential test (issue 4).
//!
//! Client threads run a put/get workload through `etcdctl` (each call bounded by
//! `--command-timeout`) while the main thread walks the schedule: baseline, SIGKILL the leader
//! (then restart it), SIGSTOP a follower, cut a follower's link, cut the leader's link, healed.
//! A put that does not answer is *indeterminate* (it may still commit); a read that fails is
//! *failed* (it changed nothing). The history is written in the JSON shape of
//! `sim::checks::linearizability::History` (times in ns from the run's start), so the same
//! checker judges real and simulated runs; leader re-election times are measured by polling
//! `etcdctl endpoint status -w json` on the surviving members.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::NetnsError;
use super::etcd::{EtcdClient, EtcdLab, EtcdLabError};

/// Upper bound on operations per client thread (the loop is also bounded by the schedule).
const MAX_OPS_PER_CLIENT: u64 = 20_000;
/// Keys the workload touches.
const KEYS: u64 = 3;

/// How the schedule runs.
#[derive(Debug, Clone)]
pub struct FaultScheduleConfig {
    /// Length of each phase.
    pub phase: Duration,
    /// `etcdctl --command-timeout` of workload operations.
    pub command_timeout: Duration,
    /// Concurrent workload clients.
    pub clients: u32,
    /// Bound on waiting for a new leader or for health after a fault.
    pub recovery_timeout: Duration,
}

impl Default for FaultScheduleConfig {
    fn default() -> Self {
        Self {
            phase: Duration::from_secs(4),
            command_timeout: Duration::from_millis(1500),
            clients: 2,
            recovery_timeout: Duration::from_secs(20),
        }
    }
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
    /// Puts answered.
    pub puts_ok: u32,
    /// Puts that timed out or lost their connection.
    pub puts_indeterminate: u32,
    /// Gets answered.
    pub gets_ok: u32,
    /// Gets that failed.
    pub gets_failed: u32,
}

/// The result of a schedule run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultRun {
    /// Per phase, in schedule order.
    pub phases: Vec<PhaseOutcome>,
    /// Every client call, by call time.
    pub operations: Vec<RecordedOperation>,
}

impl FaultRun {
    /// `{"operations": [...]}`: parses as `sim::checks::linearizability::History`.
    pub fn history_json(&self) -> String {
        serde_json::to_string_pretty(&serde_json::json!({ "operations": self.operations }))
            .unwrap_or_default()
    }

    /// The whole run (phases and history) as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn ns(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
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

fn parse_result(op: &RecordedOp, stdout: &str) -> Option<RecordedResult> {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let revision = v.get("header")?.get("revision")?.as_i64()?;
    Some(match op {
        RecordedOp::Put { .. } => RecordedResult::Put { revision },
        RecordedOp::Get { .. } => {
            let kv = match v
                .get("kvs")
                .and_then(|k| k.as_array())
                .and_then(|a| a.first())
            {
                None => None,
                Some(kv) => Some(RecordedKv {
                    key: base64(kv.get("key")?.as_str()?)?,
                    value: base64(kv.get("value")?.as_str()?)?,
                    create_revision: kv.get("create_revision")?.as_i64()?,
                    mod_revision: kv.get("mod_revision")?.as_i64()?,
                    version: kv.get("version")?.as_i64()?,
                }),
            };
            RecordedResult::Get { revision, kv }
        }
    })
}

struct Workload {
    stop: Arc<AtomicBool>,
    phase: Arc<Mutex<String>>,
    threads: Vec<thread::JoinHandle<Vec<RecordedOperation>>>,
}

impl Workload {
    fn start(
        client: &EtcdClient,
        endpoints: &[String],
        cfg: &FaultScheduleConfig,
        t0: Instant,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(Mutex::new(String::from("setup")));
        let threads = (0..cfg.clients)
            .map(|c| {
                let (client, endpoints) = (client.clone(), endpoints.to_vec());
                let (stop, phase, timeout) = (stop.clone(), phase.clone(), cfg.command_timeout);
                thread::spawn(move || {
                    let mut ops = Vec::new();
                    for seq in 0..MAX_OPS_PER_CLIENT {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let key = format!("spf/k{}", (seq / 2 + u64::from(c)) % KEYS);
                        let op = if seq % 2 == 0 {
                            RecordedOp::Put {
                                key,
                                value: format!("c{c}-{seq}"),
                            }
                        } else {
                            RecordedOp::Get { key }
                        };
                        let args: Vec<&str> = match &op {
                            RecordedOp::Put { key, value } => vec!["put", key, value, "-w", "json"],
                            RecordedOp::Get { key } => vec!["get", key, "-w", "json"],
                        };
                        let label = phase.lock().map(|p| p.clone()).unwrap_or_default();
                        let call_time = ns(t0);
                        let out = client.etcdctl(&endpoints, &args, timeout);
                        let return_time = Some(ns(t0));
                        let (result, detail) = match out {
                            Ok(o) if o.success() => match parse_result(&op, &o.stdout) {
                                Some(r) => (Some(r), None),
                                None => (None, Some(format!("unparsable: {}", o.stdout.trim()))),
                            },
                            Ok(o) if o.timed_out => (None, Some("timed out".to_owned())),
                            Ok(o) => (None, o.stderr.lines().last().map(str::to_owned)),
                            Err(e) => (None, Some(e.to_string())),
                        };
                        let outcome = match (result, &op) {
                            (Some(r), _) => RecordedOutcome::Ok(r),
                            (None, RecordedOp::Put { .. }) => RecordedOutcome::Indeterminate,
                            (None, RecordedOp::Get { .. }) => RecordedOutcome::Failed,
                        };
                        ops.push(RecordedOperation {
                            client: c,
                            op,
                            call_time,
                            return_time,
                            outcome,
                            phase: label,
                            detail,
                        });
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
    super::wait_until(
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
    super::wait_until(
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
    let t0 = Instant::now();
    let workload = Workload::start(&lab.client()?, &all, cfg, t0);
    let mut phases = Vec::new();
    let result = run_phases(lab, cfg, t0, &workload, &mut phases);
    let operations = workload.finish();
    result?;
    for p in &mut phases {
        for o in operations.iter().filter(|o| o.phase == p.name) {
            match (&o.op, &o.outcome) {
                (RecordedOp::Put { .. }, RecordedOutcome::Ok(_)) => p.puts_ok += 1,
                (RecordedOp::Put { .. }, _) => p.puts_indeterminate += 1,
                (RecordedOp::Get { .. }, RecordedOutcome::Ok(_)) => p.gets_ok += 1,
                (RecordedOp::Get { .. }, _) => p.gets_failed += 1,
            }
        }
    }
    Ok(FaultRun { phases, operations })
}

fn run_phases(
    lab: &mut EtcdLab,
    cfg: &FaultScheduleConfig,
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
    if let Some((l, t)) =
        await_new_leader(lab, &survivors, Some(&leader), fault, cfg.recovery_timeout)
    {
        p.new_leader = Some(l);
        p.reelection_ns = Some(t);
    }
    sleep_rest(fault);
    p.target = Some(leader);
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
    lab.lab().link_up(&follower)?;
    p.target = Some(follower);
    lab.wait_healthy(&all, cfg.recovery_timeout)?;
    p.end_ns = ns(t0);
    phases.push(p);

    // Cut the leader's link; the majority elects a new leader.
    let mut p = begin("cut-leader", lab)?;
    let leader = p.leader_before.clone().unwrap_or_default();
    let fault = Instant::now();
    lab.lab().link_down(&leader)?;
    let (survivors, _) = others(lab, &leader);
    if let Some((l, t)) =
        await_new_leader(lab, &survivors, Some(&leader), fault, cfg.recovery_timeout)
    {
        p.new_leader = Some(l);
        p.reelection_ns = Some(t);
    }
    sleep_rest(fault);
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
}
