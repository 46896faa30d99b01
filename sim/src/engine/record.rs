//! What the run remembers: every record and lifecycle fact goes to the log (and the trace),
//! and each new log entry is shown to the invariants at once, so a safety violation is
//! reported at the instant it happens.

use super::log::{LogEntry, LogKind, Observer};
use super::model::{Model, Record};
use super::trace::{TraceEvent, TraceSink};
use super::world::Simulation;
use crate::checks::invariant::{Invariant, Violation, WorldView};

impl Simulation {
    pub(super) fn log_record(
        &mut self,
        observer: Observer,
        record: Record,
        sink: &mut dyn TraceSink,
    ) {
        if sink.enabled() {
            let actor = match observer {
                Observer::Engine => "engine",
                Observer::Actor(i) => self
                    .actors
                    .get(i as usize)
                    .map(|a| a.name.as_str())
                    .unwrap_or(""),
            };
            sink.event(&TraceEvent::Record {
                t: self.now.as_nanos(),
                actor,
                record: &record,
            });
        }
        self.push_log(LogKind::Record { observer, record }, sink);
    }

    pub(super) fn push_log(&mut self, kind: LogKind, sink: &mut dyn TraceSink) {
        let entry = LogEntry {
            time: self.now,
            kind,
        };
        if !self.invariants.is_empty() {
            self.run_invariants(sink, |invariant, world| invariant.observe(&entry, world));
        }
        self.log.push(entry);
    }

    pub(super) fn finish_invariants(&mut self, sink: &mut dyn TraceSink) {
        let end = self.now;
        self.run_invariants(sink, |invariant, world| invariant.finish(end, world));
    }

    /// Asks every invariant `probe` against one view of the world and reports what fails, in
    /// registration order (so the trace stays deterministic).
    fn run_invariants(
        &mut self,
        sink: &mut dyn TraceSink,
        mut probe: impl FnMut(&mut dyn Invariant, &WorldView<'_>) -> Option<String>,
    ) {
        let running: Vec<bool> = self.actors.iter().map(|a| a.running()).collect();
        let models: Vec<&dyn Model> = self.actors.iter().map(|a| a.model.as_ref()).collect();
        let world = WorldView {
            directory: &self.directory,
            host_up: &self.host_up,
            actor_running: &running,
            net: &self.net,
            models: &models,
        };
        let mut found = Vec::new();
        for invariant in &mut self.invariants {
            if let Some(message) = probe(invariant.as_mut(), &world) {
                found.push(Violation {
                    invariant: invariant.name().to_owned(),
                    time: self.now,
                    message,
                });
            }
        }
        for violation in found {
            self.report_violation(violation, sink);
        }
    }

    fn report_violation(&mut self, violation: Violation, sink: &mut dyn TraceSink) {
        if sink.enabled() {
            sink.event(&TraceEvent::Violation {
                t: violation.time.as_nanos(),
                invariant: &violation.invariant,
                message: &violation.message,
            });
        }
        self.violations.push(violation);
    }
}
