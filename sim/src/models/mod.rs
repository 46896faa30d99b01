//! Protocol and policy models plugged into the engine.
pub mod heartbeat;
pub mod kv;
pub mod ceph;
