//! Messages of the VIP models: VRRP advertisements, and the HTTP requests that health checks
//! and API clients send through haproxy to the apiservers.

use std::net::IpAddr;

use crate::engine::message_kind;

/// A VRRP advertisement (RFC 3768 5.3): the sender's priority (0: it is leaving) and its
/// primary address, which breaks ties between equal priorities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpAdvert {
    /// Advertised (effective) priority.
    pub priority: u32,
    /// The sender's address.
    pub source: IpAddr,
}

/// An HTTP GET of `path`, numbered by its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpGet {
    /// The sender's request number.
    pub id: u64,
    /// The path, e.g. `/readyz`.
    pub path: String,
}

/// The server's kernel completed the TCP handshake for request `id` (the SYN-ACK): the
/// connection is up and the request is being served. Lets the client tell a slow answer
/// from a host that does not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAccepted {
    /// The request number.
    pub id: u64,
}

/// The answer to an [`HttpGet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    /// The request number it answers.
    pub id: u64,
    /// HTTP status: 200 ready, 500 not ready, 503 when haproxy has no server to send it to.
    pub status: u16,
}

message_kind!(VrrpAdvert, HttpGet, HttpAccepted, HttpReply);
