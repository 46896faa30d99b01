//! The `spofless` binary as a user runs it, one integration test binary for the crate: each
//! module covers one command (`check` and `schema`, `sim`, `render`, `ceph`).

mod ceph;
mod check;
mod common;
mod render;
mod sim;
