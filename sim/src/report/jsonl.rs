//! The JSON-lines trace writer: one event per line, fields in declaration order, no addresses,
//! no hash order, so two runs of one seed write identical bytes on any machine.

use std::io::{self, Write};

use crate::engine::{TraceEvent, TraceSink};

/// Which events a trace keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceDetail {
    /// Everything, including every message delivery and timer.
    Full,
    /// Lifecycle, faults, records and violations only.
    StateChanges,
}

/// Writes trace events as JSON lines to any writer. The first I/O error is kept (and later
/// events are skipped) so the run itself never fails because of its trace.
#[derive(Debug)]
pub struct JsonlSink<W: Write> {
    out: W,
    detail: TraceDetail,
    lines: u64,
    error: Option<io::Error>,
}

impl<W: Write> JsonlSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W, detail: TraceDetail) -> Self {
        JsonlSink {
            out,
            detail,
            lines: 0,
            error: None,
        }
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Flushes and returns the writer, or the first error met.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> TraceSink for JsonlSink<W> {
    fn enabled(&self) -> bool {
        self.error.is_none()
    }

    fn wants_messages(&self) -> bool {
        self.error.is_none() && self.detail == TraceDetail::Full
    }

    fn event(&mut self, event: &TraceEvent<'_>) {
        if self.error.is_some() {
            return;
        }
        let result = serde_json::to_writer(&mut self.out, event)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        match result {
            Ok(()) => self.lines += 1,
            Err(error) => self.error = Some(error),
        }
    }
}
