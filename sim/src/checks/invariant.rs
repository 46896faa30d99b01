//! The checks framework: an [`Invariant`] watches the run's log while it happens (safety) and
//! judges the end state (liveness on a healed cluster). A failure becomes a [`Violation`] with
//! the time it was seen; the harness adds the seed and the plan so every failure can be
//! replayed with `spofless sim replay`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::engine::{
    ActorId, Directory, LogEntry, LogKind, Model, Observer, Record, SimDuration, SimTime, Status,
};
use crate::net::Network;

/// What a check may look at besides the log: names, which hosts and actors are alive, and the
/// network's state.
#[derive(Debug)]
pub struct WorldView<'a> {
    /// Host and actor names.
    pub directory: &'a Directory,
    /// Up/down per host, by host id.
    pub host_up: &'a [bool],
    /// Running (not crashed, stopped or paused) per actor, by actor id.
    pub actor_running: &'a [bool],
    /// Partitions and link faults in force.
    pub net: &'a Network,
    /// Every actor's model, by actor id (crashed ones too: their durable state is there).
    pub models: &'a [&'a dyn Model],
}

impl WorldView<'_> {
    /// Actor `id`'s model as a `T`, if it is one.
    pub fn model<T: Model>(&self, id: ActorId) -> Option<&T> {
        self.models.get(id.0 as usize)?.downcast_ref::<T>()
    }
}

/// A check that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// The invariant's name.
    pub invariant: String,
    /// Virtual time when it was found, in nanoseconds.
    pub time: SimTime,
    /// What went wrong, for people.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} violated at {}: {}",
            self.invariant, self.time, self.message
        )
    }
}

/// A property of the run.
pub trait Invariant: fmt::Debug {
    /// Short stable name, e.g. `heartbeat-completeness`.
    fn name(&self) -> &str;

    /// Sees each log entry as it happens. Returns a message when the property is broken.
    fn observe(&mut self, entry: &LogEntry, world: &WorldView<'_>) -> Option<String>;

    /// Judges the run once it ends at `end`. Returns a message when the property is broken.
    fn finish(&mut self, end: SimTime, world: &WorldView<'_>) -> Option<String>;
}

/// One detector's opinions of one peer over time; `None` while the detector was down.
type OpinionHistory = Vec<(SimTime, Option<Status>)>;

/// The opinions of heartbeat detectors and the engine's ground truth, gathered from the log.
#[derive(Debug, Default)]
struct HeartbeatFacts {
    /// Per host name: (time, up?) as the engine saw it.
    host_changes: BTreeMap<String, Vec<(SimTime, bool)>>,
    /// Per (detector actor, peer host): (time, status) opinions; `None` when the detector died.
    opinions: BTreeMap<(u32, String), OpinionHistory>,
    /// Time of the last fault applied.
    last_fault: Option<SimTime>,
    /// (time, extra latency) of every `LinkSlow`: heartbeats a host sent just before it crashed
    /// still arrive that much later, so detection may lag the crash by as much.
    slow_links: Vec<(SimTime, SimDuration)>,
}

impl HeartbeatFacts {
    fn observe(&mut self, entry: &LogEntry) {
        match &entry.kind {
            LogKind::Record {
                observer,
                record:
                    Record::Availability {
                        component, status, ..
                    },
            } => match (observer, component.split_once('/')) {
                (Observer::Engine, Some(("host", host))) => self
                    .host_changes
                    .entry(host.to_owned())
                    .or_default()
                    .push((entry.time, *status == Status::Up)),
                (Observer::Actor(actor), Some(("heartbeat", peer))) => self
                    .opinions
                    .entry((*actor, peer.to_owned()))
                    .or_default()
                    .push((entry.time, Some(*status))),
                _ => {}
            },
            LogKind::ActorDown(actor) => {
                for ((detector, _), history) in self.opinions.range_mut((actor.0, String::new())..)
                {
                    if *detector != actor.0 {
                        break;
                    }
                    history.push((entry.time, None));
                }
            }
            LogKind::Fault(fault) => {
                self.last_fault = Some(entry.time);
                if let topology::fault::Fault::LinkSlow { latency, .. } = fault {
                    self.slow_links
                        .push((entry.time, SimDuration::from(*latency)));
                }
            }
            LogKind::Record { .. } | LogKind::ActorUp(_) => {}
        }
    }

    /// The detector's opinion of `peer` at `t` (its latest record at or before `t`).
    fn opinion_at(history: &[(SimTime, Option<Status>)], t: SimTime) -> Option<Status> {
        history
            .iter()
            .take_while(|(when, _)| *when <= t)
            .last()
            .and_then(|(_, s)| *s)
    }
}

/// Completeness: a host that crashed and stayed down for the detection bound is marked down by
/// every detector that watches it and stayed alive meanwhile.
#[derive(Debug)]
pub struct HeartbeatCompleteness {
    bound: SimDuration,
    facts: HeartbeatFacts,
}

impl HeartbeatCompleteness {
    /// Detection must happen within `bound` of the crash.
    pub fn new(bound: SimDuration) -> Self {
        HeartbeatCompleteness {
            bound,
            facts: HeartbeatFacts::default(),
        }
    }
}

impl Invariant for HeartbeatCompleteness {
    fn name(&self) -> &str {
        "heartbeat-completeness"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        self.facts.observe(entry);
        None
    }

    fn finish(&mut self, end: SimTime, world: &WorldView<'_>) -> Option<String> {
        for (host, changes) in &self.facts.host_changes {
            for (i, (crashed_at, up)) in changes.iter().enumerate() {
                if *up {
                    continue;
                }
                // Heartbeats sent just before the crash may be slowed by any link fault set
                // before then (FIFO links keep that delay after a heal, too).
                let slowest = self
                    .facts
                    .slow_links
                    .iter()
                    .filter(|(t, _)| t <= crashed_at)
                    .map(|(_, d)| *d)
                    .max()
                    .unwrap_or(SimDuration::ZERO);
                let deadline = *crashed_at + self.bound + slowest;
                let back_at = changes.get(i + 1).map_or(SimTime::MAX, |c| c.0);
                if back_at <= deadline || end < deadline {
                    continue;
                }
                for ((detector, peer), history) in &self.facts.opinions {
                    if peer != host {
                        continue;
                    }
                    let alive_through = history
                        .iter()
                        .filter(|(when, _)| *when >= *crashed_at && *when <= deadline)
                        .all(|(_, s)| s.is_some())
                        && HeartbeatFacts::opinion_at(history, *crashed_at).is_some();
                    if alive_through
                        && HeartbeatFacts::opinion_at(history, deadline) != Some(Status::Down)
                    {
                        let name = world
                            .directory
                            .actor_model(crate::engine::ActorId(*detector));
                        let on = world
                            .directory
                            .actor_host(crate::engine::ActorId(*detector))
                            .map(|h| world.directory.host_name(h).to_owned())
                            .unwrap_or_default();
                        return Some(format!(
                            "host {host} crashed at {crashed_at} but {on}/{name} still saw it up at {deadline} \
                             (bound {})",
                            self.bound
                        ));
                    }
                }
            }
        }
        None
    }
}

/// Accuracy after heal (liveness): once the network is healthy and no fault has happened for
/// `settle`, every running detector sees every peer whose detector runs as up.
#[derive(Debug)]
pub struct HeartbeatAccuracy {
    settle: SimDuration,
    facts: HeartbeatFacts,
}

impl HeartbeatAccuracy {
    /// Peers must be seen up again within `settle` of the last fault.
    pub fn new(settle: SimDuration) -> Self {
        HeartbeatAccuracy {
            settle,
            facts: HeartbeatFacts::default(),
        }
    }
}

impl Invariant for HeartbeatAccuracy {
    fn name(&self) -> &str {
        "heartbeat-accuracy-after-heal"
    }

    fn observe(&mut self, entry: &LogEntry, _world: &WorldView<'_>) -> Option<String> {
        self.facts.observe(entry);
        None
    }

    fn finish(&mut self, end: SimTime, world: &WorldView<'_>) -> Option<String> {
        let quiet_since = self.facts.last_fault.unwrap_or(SimTime::ZERO);
        if !world.net.is_healthy() || end < quiet_since + self.settle {
            return None;
        }
        let dir = world.directory;
        let running_detector = |host: &str| {
            dir.hosts().iter().position(|h| h == host).and_then(|h| {
                dir.actor_on(
                    crate::engine::HostId(h as u32),
                    crate::models::heartbeat::MODEL_NAME,
                )
            })
        };
        for ((detector, peer), history) in &self.facts.opinions {
            let detector_runs = world
                .actor_running
                .get(*detector as usize)
                .copied()
                .unwrap_or(false);
            let peer_runs = running_detector(peer)
                .and_then(|a| world.actor_running.get(a.0 as usize).copied())
                .unwrap_or(false);
            if detector_runs
                && peer_runs
                && HeartbeatFacts::opinion_at(history, end) != Some(Status::Up)
            {
                let who = dir
                    .actor_host(crate::engine::ActorId(*detector))
                    .map(|h| dir.host_name(h).to_owned())
                    .unwrap_or_default();
                return Some(format!(
                    "{who} still suspects {peer} at {end}, {} after the last fault, on a healthy network",
                    end - quiet_since
                ));
            }
        }
        None
    }
}
