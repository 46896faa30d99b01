//! The run's log of facts the checks and timelines are fed: state changes models recorded,
//! actors coming and going, and faults applied. It is the harness-side event stream, kept apart
//! from the models it describes, the way TigerBeetle feeds its state checker.

use serde::Serialize;
use topology::fault::Fault;

use super::fact::FactRecord;
use super::model::{ActorId, Record};
use super::time::SimTime;

/// Who a log entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Observer {
    /// The engine itself (ground truth: host up/down).
    Engine,
    /// An actor.
    Actor(u32),
}

impl From<ActorId> for Observer {
    fn from(id: ActorId) -> Self {
        Observer::Actor(id.0)
    }
}

/// One fact about the run.
#[derive(Clone, Debug, PartialEq)]
pub enum LogKind {
    /// A model (or the engine) recorded a state change.
    Record {
        /// Who recorded it.
        observer: Observer,
        /// What.
        record: Record,
    },
    /// An actor started; its opinions count from now.
    ActorUp(ActorId),
    /// An actor crashed, was stopped or paused; its opinions no longer count.
    ActorDown(ActorId),
    /// A fault was applied.
    Fault(Fault),
}

/// A fact and when it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// When.
    pub time: SimTime,
    /// What.
    pub kind: LogKind,
}

impl LogEntry {
    /// The fact a model recorded, if this entry is one (whoever recorded it).
    pub fn fact_record(&self) -> Option<&FactRecord> {
        match &self.kind {
            LogKind::Record {
                record: Record::Fact(fact),
                ..
            } => Some(fact),
            _ => None,
        }
    }
}
