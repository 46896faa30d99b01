//! Integration tests of the topology crate: one binary, one module per concern.

mod analysis;
mod bad_input;
mod default_topology;
mod roundtrip;
