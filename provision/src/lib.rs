//! Turns a topology into artifacts, applies them, and drills the real cluster.

pub mod apply;
pub mod base64;
pub mod drill;
pub mod exec;
pub mod host;
pub mod inject;
pub mod lab;
pub mod pki;
pub mod render;
pub mod secrets;
pub mod testbed;
pub mod transport;
