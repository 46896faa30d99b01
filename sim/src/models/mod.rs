//! Protocol and policy models plugged into the engine.
pub mod ceph;
pub mod heartbeat;
pub mod kv;
