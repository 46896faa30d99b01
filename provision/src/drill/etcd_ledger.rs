//! A write ledger for drills: one client puts a new key under a prefix every interval, moving
//! to the next member after any error (as the workload's failing-over clients do), and
//! remembers which puts etcd acknowledged. After the drill every key is read back: an
//! acknowledged put whose key is missing is a lost write. Keys are never overwritten, so a
//! missing key cannot hide behind a later value, and the count needs no history checker.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::Serialize;

use super::etcd_lab::EtcdClient;
use crate::exec::ExecError;
use crate::testbed::NetnsError;

/// Upper bound on the ledger's puts (the loop also ends when the drill stops it).
const MAX_PUTS: u32 = 10_000;

/// The ledger's writer, running.
#[derive(Debug)]
pub struct Ledger {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(String, bool)>>,
    prefix: String,
}

/// What the read-back found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerCount {
    /// Puts sent.
    pub sent: u32,
    /// Puts etcd acknowledged.
    pub acknowledged: u32,
    /// Acknowledged puts whose key was not read back.
    pub lost: u32,
    /// Unacknowledged puts that took effect anyway (a timeout is not a failure).
    pub unacknowledged_present: u32,
}

impl Ledger {
    /// Starts putting `<prefix><n>` every `every` through `endpoints`, each put bounded by
    /// `timeout`.
    pub fn start(
        client: EtcdClient,
        endpoints: Vec<String>,
        prefix: &str,
        every: Duration,
        timeout: Duration,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let keys = prefix.to_owned();
        let thread = thread::spawn(move || {
            let mut sent = Vec::new();
            let mut at = 0usize;
            for n in 0..MAX_PUTS {
                if flag.load(Ordering::Relaxed) || endpoints.is_empty() {
                    break;
                }
                let key = format!("{keys}{n:06}");
                let endpoint = &endpoints[at % endpoints.len()];
                let acked = client
                    .request(endpoint, &["put", &key, "ledger"], None, timeout)
                    .is_ok_and(|o| o.success());
                if !acked {
                    at += 1;
                }
                sent.push((key, acked));
                thread::sleep(every);
            }
            sent
        });
        Ledger {
            stop,
            thread,
            prefix: prefix.to_owned(),
        }
    }

    /// Stops the writer, reads every key under the prefix back through `endpoints`, counts,
    /// and deletes the prefix.
    pub fn finish(
        self,
        client: &EtcdClient,
        endpoints: &[String],
        timeout: Duration,
    ) -> Result<LedgerCount, NetnsError> {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.thread.join().unwrap_or_default();
        let out = client.etcdctl(
            endpoints,
            &["get", "--prefix", "--keys-only", &self.prefix],
            timeout,
        )?;
        if !out.success() {
            return Err(NetnsError::Exec(ExecError::Failed {
                command: format!("etcdctl get --prefix --keys-only {}", self.prefix),
                status: format!("{:?}", out.status),
                stderr: out.stderr_str().into_owned(),
            }));
        }
        let text = out.stdout_str();
        let present: BTreeSet<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let count = count(&sent, &present);
        // The drill leaves nothing behind; a failed delete only leaves keys under the prefix.
        let _ = client.etcdctl(endpoints, &["del", "--prefix", &self.prefix], timeout);
        Ok(count)
    }
}

fn count(sent: &[(String, bool)], present: &BTreeSet<&str>) -> LedgerCount {
    let n = |f: &dyn Fn(&(String, bool)) -> bool| {
        u32::try_from(sent.iter().filter(|s| f(s)).count()).unwrap_or(u32::MAX)
    };
    LedgerCount {
        sent: n(&|_| true),
        acknowledged: n(&|(_, acked)| *acked),
        lost: n(&|(k, acked)| *acked && !present.contains(k.as_str())),
        unacknowledged_present: n(&|(k, acked)| !*acked && present.contains(k.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_acknowledged_key_is_lost_and_an_unacknowledged_present_one_is_not() {
        let sent = vec![
            ("p/000000".to_owned(), true),
            ("p/000001".to_owned(), true),
            ("p/000002".to_owned(), false),
            ("p/000003".to_owned(), false),
        ];
        let present: BTreeSet<&str> = ["p/000000", "p/000002"].into_iter().collect();
        assert_eq!(
            count(&sent, &present),
            LedgerCount {
                sent: 4,
                acknowledged: 2,
                lost: 1,
                unacknowledged_present: 1
            }
        );
    }
}
