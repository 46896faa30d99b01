//! CRUSH, bit-exact with Ceph: hash, fixed-point ln, straw2 buckets, rules,
//! device classes, tunables, and Ceph's text map format.
//!
//! The reference is Ceph's own C implementation (`src/crush/*.c`) and
//! `crushtool`; `sim/tests/crush_differential.rs` compares every mapping with
//! the real `crushtool --test` on randomly generated maps.

pub mod classes;
pub mod error;
pub mod hash;
pub mod ln;
pub mod map;
pub mod mapper;
pub mod tester;
pub mod text_compile;
pub mod text_parse;
pub mod text_write;

pub use error::CrushError;
pub use map::{Bucket, CRUSH_ITEM_NONE, CrushMap, Device, Rule, Step, Tunables, WEIGHT_ONE};
pub use mapper::Workspace;
