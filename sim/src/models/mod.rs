//! Protocol and policy models plugged into the engine.
pub mod ceph;
pub mod etcd;
pub mod heartbeat;
pub mod kube;
pub mod kv;
pub mod vip;
