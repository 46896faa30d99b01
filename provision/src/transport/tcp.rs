//! TCP connections, optionally from inside a named network namespace.
//!
//! A socket belongs to the network namespace it was created in. To reach addresses that exist
//! only inside a namespace (the isolated lab's bridge), the socket is created on a short-lived
//! thread that has joined the namespace with `setns`; the thread then ends and the rest of the
//! process never leaves the host's namespace.

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Path of a named namespace's handle.
pub fn netns_path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// Connects to `addr` from inside the named namespace (or the current one if `None`).
pub fn connect(
    netns: Option<&str>,
    addr: SocketAddr,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let Some(name) = netns else {
        return TcpStream::connect_timeout(&addr, timeout);
    };
    let ns_path = netns_path(name);
    std::thread::scope(|s| {
        s.spawn(|| {
            let handle = std::fs::File::open(&ns_path)?;
            move_into_link_name_space(handle.as_fd(), Some(LinkNameSpaceType::Network))?;
            TcpStream::connect_timeout(&addr, timeout)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("netns connect thread panicked")))
    })
}
