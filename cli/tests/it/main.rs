//! The `spofless` binary as a user runs it, one integration test binary for the crate: each
//! module covers one command (`check` and `schema`, `sim`, `render`, `ceph`), `meta` the
//! command line itself and `rough_edges` what a new user hit.

mod apply;
mod ceph;
mod check;
mod common;
mod meta;
mod render;
mod rough_edges;
mod sim;
