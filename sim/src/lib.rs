//! Deterministic discrete-event simulator: engine, network, models, checks and reports.

pub mod checks;
pub mod engine;
pub mod models;
pub mod net;
pub mod report;
pub mod scenario;
