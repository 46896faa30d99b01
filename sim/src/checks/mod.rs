//! Safety and liveness checkers, kept apart from the models they judge.

pub mod invariant;
pub mod linearizability;
pub mod timeline;
