//! A TCP connect probe for drills: a thread that opens a fresh connection to one address every
//! interval (from inside a network namespace when the address lives there, see
//! [`crate::transport::tcp::connect`]) and records whether it was accepted within the
//! timeout. Each attempt stands alone, as a client reconnecting would; the samples become an
//! up/down lane with [`lane`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;
use topology::timeline::{Status, Timeline};

use crate::transport::tcp::connect;

/// Upper bound on one probe's attempts (the loop also ends when the drill stops it).
const MAX_ATTEMPTS: usize = 100_000;

/// One attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// When the attempt began, since the probe's clock started (seconds in JSON).
    #[serde(serialize_with = "seconds")]
    pub at: Duration,
    /// Whether the connection was accepted within the timeout.
    pub ok: bool,
}

/// A span as seconds, for reports read by scripts.
pub fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// An optional span as seconds (or null).
pub fn seconds_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// A probe, running.
#[derive(Debug)]
pub struct TcpProbe {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: JoinHandle<()>,
}

impl TcpProbe {
    /// Starts connecting to `addr` (from `netns`, or this namespace) every `every`, each
    /// attempt bounded by `timeout`, timing samples from `t0`.
    pub fn start(
        netns: Option<String>,
        addr: SocketAddr,
        every: Duration,
        timeout: Duration,
        t0: Instant,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (flag, out) = (stop.clone(), samples.clone());
        let thread = thread::spawn(move || {
            for _ in 0..MAX_ATTEMPTS {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let began = Instant::now();
                let ok = connect(netns.as_deref(), addr, timeout).is_ok();
                let sample = Sample {
                    at: began.saturating_duration_since(t0),
                    ok,
                };
                if let Ok(mut v) = out.lock() {
                    v.push(sample);
                }
                thread::sleep(every.saturating_sub(began.elapsed()));
            }
        });
        TcpProbe {
            stop,
            samples,
            thread,
        }
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Stops the probe and returns every sample.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.samples.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The first accepted attempt that began at or after `after`.
pub fn first_ok_after(samples: &[Sample], after: Duration) -> Option<Duration> {
    samples.iter().find(|s| s.at >= after && s.ok).map(|s| s.at)
}

/// `samples` as lane `component` from `from` to `to`: up from an accepted attempt, down from a
/// refused or timed-out one, until the next attempt's start.
pub fn lane(component: &str, samples: &[Sample], from: Duration, to: Duration) -> Timeline {
    let mut changes: Vec<(Duration, Status)> = Vec::new();
    for s in samples.iter().filter(|s| s.at >= from && s.at < to) {
        let status = if s.ok { Status::Up } else { Status::Down };
        if changes.last().is_none_or(|(_, last)| *last != status) {
            changes.push((s.at - from, status));
        }
    }
    if let Some(first) = changes.first_mut() {
        first.0 = Duration::ZERO;
    }
    Timeline::from_changes(component, &changes, to - from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ms: u64, ok: bool) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            ok,
        }
    }

    #[test]
    fn a_lane_is_down_from_the_first_failed_attempt_to_the_next_accepted_one() {
        let samples = [
            s(0, true),
            s(100, true),
            s(200, false),
            s(300, false),
            s(400, true),
            s(500, true),
        ];
        let t = lane("vip", &samples, Duration::ZERO, Duration::from_millis(600));
        assert_eq!(t.total(Status::Down), Duration::from_millis(200));
        assert_eq!(t.total(Status::Up), Duration::from_millis(400));
        assert_eq!(
            first_ok_after(&samples, Duration::from_millis(150)),
            Some(Duration::from_millis(400))
        );
    }
}
