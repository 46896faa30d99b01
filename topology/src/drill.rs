//! What a fault drill observes, in one shape for the real run (real members in network
//! namespaces, later the lab) and the simulator's mirror of it, so the two compare field by
//! field.

use serde::Serialize;

/// How one client call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// Answered successfully.
    Ok,
    /// Rejected: for a write, known not to have taken effect.
    Failed,
    /// No answer in time: a write may or may not have taken effect.
    Indeterminate,
}

/// Calls of one phase by kind and result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhaseCounts {
    /// Writes (puts and txns) answered.
    pub writes_ok: u32,
    /// Writes rejected before they were proposed.
    pub writes_failed: u32,
    /// Writes without an answer.
    pub writes_indeterminate: u32,
    /// Reads answered.
    pub reads_ok: u32,
    /// Reads that failed or went unanswered (a read has no effect to be unsure about).
    pub reads_failed: u32,
}

impl PhaseCounts {
    /// Counts one call.
    pub fn add(&mut self, write: bool, result: CallResult) {
        match (write, result) {
            (true, CallResult::Ok) => self.writes_ok += 1,
            (true, CallResult::Failed) => self.writes_failed += 1,
            (true, CallResult::Indeterminate) => self.writes_indeterminate += 1,
            (false, CallResult::Ok) => self.reads_ok += 1,
            (false, _) => self.reads_failed += 1,
        }
    }

    /// Every call.
    pub fn total(&self) -> u32 {
        self.writes() + self.reads_ok + self.reads_failed
    }

    /// Writes sent.
    pub fn writes(&self) -> u32 {
        self.writes_ok + self.writes_failed + self.writes_indeterminate
    }

    /// The figures the differential test compares: the share of writes answered, and the calls
    /// left unanswered or rejected.
    pub fn answered_share_and_misses(&self) -> (f64, u32) {
        (
            f64::from(self.writes_ok) / f64::from(self.writes().max(1)),
            self.writes_failed + self.writes_indeterminate + self.reads_failed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_land_in_their_bucket() {
        let mut c = PhaseCounts::default();
        c.add(true, CallResult::Ok);
        c.add(true, CallResult::Failed);
        c.add(true, CallResult::Indeterminate);
        c.add(false, CallResult::Ok);
        c.add(false, CallResult::Indeterminate);
        assert_eq!((c.writes(), c.total()), (3, 5));
        assert_eq!((c.reads_ok, c.reads_failed), (1, 1));
        assert_eq!(c.answered_share_and_misses(), (1.0 / 3.0, 3));
    }
}
