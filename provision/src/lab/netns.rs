//! The isolated lab's network namespace: created with `ip netns`, entered per socket.
//!
//! The lab's bridge and guest addresses exist only inside this namespace. The SSH transport
//! reaches guests with sockets created inside it ([`crate::transport::tcp::connect`]).

use std::path::PathBuf;

use super::LabError;
use super::tool::IP;

/// Path of the named namespace's handle.
pub fn path(name: &str) -> PathBuf {
    crate::transport::tcp::netns_path(name)
}

/// Whether the named namespace exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Creates the namespace and brings its loopback up. Fails if it already exists.
pub fn create(name: &str) -> Result<(), LabError> {
    IP.run(["netns", "add", name])?;
    IP.run(["-n", name, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Deletes the namespace; absent is fine (idempotent).
pub fn delete(name: &str) -> Result<(), LabError> {
    if !exists(name) {
        return Ok(());
    }
    IP.run(["netns", "del", name]).map(|_| ())
}
