//! Protocol and policy models plugged into the engine.
pub mod kv;
