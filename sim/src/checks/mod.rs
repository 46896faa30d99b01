//! Safety and liveness checkers, kept apart from the models they judge.
pub mod linearizability;
