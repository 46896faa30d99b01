//! Client operation histories: what each client asked, when, and what it learnt. The types are
//! the shared serde vocabulary of `topology::wire`, so a real drill's history and a simulated
//! one load into the same checker; they are re-exported here where the checker reads them.

pub use topology::wire::{History, HistoryError, Operation, Outcome};
