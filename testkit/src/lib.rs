//! What the integration tests of every crate share, and nothing else depends on: locating
//! the real tools they compare against (with the package that provides a missing one), running
//! them with their output kept for the failure message, a fixed random stream for inputs that
//! must be the same on every run, and the CRUSH text fragments Ceph's tools expect.
//!
//! It depends on no workspace crate, so any crate can take it as a dev-dependency without a
//! second copy of itself in the test build.

pub mod crush;
pub mod rng;
pub mod scratch;
pub mod tool;

pub use rng::SplitMix64;
pub use scratch::steady_disk_scratch;
pub use tool::{output_text, run_ok, stdout_ok, tool};
