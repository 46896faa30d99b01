//! What the engine tells a trace: one [`TraceEvent`] per thing that happened, serialised by a
//! [`TraceSink`] (the JSON-lines writer lives in `report::jsonl`). Field order is the
//! declaration order below, names are host/model strings rather than addresses or ids from a
//! hash, so a seed's trace is byte-identical on every machine.

use serde::Serialize;
use topology::fault::Fault;

use super::model::Record;

/// One line of the trace. `t` is virtual time in nanoseconds.
#[derive(Debug, Serialize)]
#[serde(tag = "ev", rename_all = "camelCase")]
pub enum TraceEvent<'a> {
    /// An actor started (or restarted).
    Start {
        /// Time.
        t: u64,
        /// `host/model`.
        actor: &'a str,
        /// True after a crash or stop.
        restarted: bool,
    },
    /// An actor died with its host or was stopped.
    Crash {
        /// Time.
        t: u64,
        /// `host/model`.
        actor: &'a str,
    },
    /// An actor was frozen.
    Pause {
        /// Time.
        t: u64,
        /// `host/model`.
        actor: &'a str,
    },
    /// A frozen actor resumed.
    Resume {
        /// Time.
        t: u64,
        /// `host/model`.
        actor: &'a str,
    },
    /// A fault from the plan was applied.
    Fault {
        /// Time.
        t: u64,
        /// The fault as written in the plan.
        fault: &'a Fault,
        /// What the engine made of it (`applied`, or why nothing changed).
        outcome: &'a str,
    },
    /// A message was delivered.
    Deliver {
        /// Time.
        t: u64,
        /// Sender `host/model`.
        from: &'a str,
        /// Receiver `host/model`.
        to: &'a str,
        /// Message kind.
        msg: &'static str,
        /// The message's `Debug` text.
        body: String,
    },
    /// A message was dropped.
    Drop {
        /// Time.
        t: u64,
        /// Sender `host/model`.
        from: &'a str,
        /// Receiver `host/model`.
        to: &'a str,
        /// Message kind.
        msg: &'static str,
        /// Why (`partitioned`, `lost`, `receiver-down`, ...).
        reason: &'a str,
    },
    /// A timer fired.
    Timer {
        /// Time.
        t: u64,
        /// `host/model`.
        actor: &'a str,
        /// The tag it was armed with, as its `Debug` text.
        tag: String,
    },
    /// A model recorded a state change.
    Record {
        /// Time.
        t: u64,
        /// `host/model`, or `engine`.
        actor: &'a str,
        /// What changed.
        #[serde(flatten)]
        record: &'a Record,
    },
    /// An invariant failed.
    Violation {
        /// Time.
        t: u64,
        /// Invariant name.
        invariant: &'a str,
        /// What went wrong.
        message: &'a str,
    },
}

/// Receives trace events. A sink that is not `enabled` is never asked to format anything, so a
/// run without a trace pays nothing for it.
pub trait TraceSink {
    /// Whether events should be produced at all.
    fn enabled(&self) -> bool;
    /// Whether message deliveries and timer firings (the bulk of a trace) are wanted.
    fn wants_messages(&self) -> bool {
        self.enabled()
    }
    /// Takes one event.
    fn event(&mut self, event: &TraceEvent<'_>);
}

/// A sink that drops everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl TraceSink for NullSink {
    fn enabled(&self) -> bool {
        false
    }
    fn event(&mut self, _event: &TraceEvent<'_>) {}
}
