//! Ceph: CRUSH placement bit-exact with Ceph, and pools/PGs as pure functions.
//!
//! Placement and PG-state rules are policies (pure functions over cluster
//! state), kept apart from the protocol models so they can be benchmarked and
//! checked against Ceph's own tools on their own.

pub mod checks;
pub mod client;
pub mod crush;
pub mod defaults;
pub mod drill;
pub mod facts;
pub mod layout;
pub mod mon;
pub mod msg;
pub mod osd;
pub mod osd_pg;
pub mod osd_recovery;
pub mod osdmap;
pub mod pg;
pub mod pg_stats;
pub mod pool;
pub mod rados;
pub mod setup;
