//! Open connections, and the reset a process's death sends down them.
//!
//! Why: when a process dies and its host stays up, the kernel closes its sockets. Every peer
//! holding a TCP connection to it gets a FIN or RST at once (one network trip later), so a
//! gRPC client fails the calls in flight on that connection and stops picking that endpoint,
//! without waiting for a deadline. A host that crashes or loses power sends nothing, and a
//! paused (SIGSTOPped) process keeps its sockets open: its peers hear silence. A model that
//! holds a connection says so with [`Ctx::connect`](super::Ctx::connect); the engine then
//! delivers `Event::Closed` to that port when the server process dies on a live host and the
//! way back is open.
//!
//! Only the client side is tracked: servers (an etcd member, an OSD) do not act on their
//! clients' deaths in any model yet.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{ActorId, Endpoint};

/// One client end: the port holding the connection and the incarnation of its process (a
/// client that died since holds nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct ClientEnd {
    pub(super) client: Endpoint,
    pub(super) incarnation: u32,
}

/// Server actor -> the client ends connected to its current process.
#[derive(Debug, Default)]
pub(super) struct Connections {
    by_server: BTreeMap<ActorId, BTreeSet<ClientEnd>>,
}

impl Connections {
    /// `client` holds a connection to `server` from now on.
    pub(super) fn open(&mut self, server: ActorId, client: ClientEnd) {
        self.by_server.entry(server).or_default().insert(client);
    }

    /// `client` closed its connection to `server` (or never had one).
    pub(super) fn close(&mut self, server: ActorId, client: Endpoint) {
        if let Some(ends) = self.by_server.get_mut(&server) {
            ends.retain(|end| end.client != client);
            if ends.is_empty() {
                self.by_server.remove(&server);
            }
        }
    }

    /// `server`'s process died: its connections are gone; returns their client ends, in a
    /// fixed order, for the engine to reset.
    pub(super) fn take(&mut self, server: ActorId) -> Vec<ClientEnd> {
        self.by_server
            .remove(&server)
            .map(|ends| ends.into_iter().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Port;

    fn end(actor: u32, port: u32, incarnation: u32) -> ClientEnd {
        ClientEnd {
            client: Endpoint::new(ActorId(actor), Port(port)),
            incarnation,
        }
    }

    #[test]
    fn a_server_death_takes_each_connection_once_in_order() {
        let mut c = Connections::default();
        c.open(ActorId(9), end(3, 1, 0));
        c.open(ActorId(9), end(2, 0, 4));
        c.open(ActorId(9), end(3, 1, 0));
        c.open(ActorId(8), end(2, 0, 4));
        assert_eq!(c.take(ActorId(9)), [end(2, 0, 4), end(3, 1, 0)]);
        assert_eq!(c.take(ActorId(9)), []);
        assert_eq!(c.take(ActorId(8)), [end(2, 0, 4)]);
    }

    #[test]
    fn a_closed_connection_is_not_reset() {
        let mut c = Connections::default();
        c.open(ActorId(9), end(3, 1, 0));
        c.open(ActorId(9), end(3, 2, 0));
        c.close(ActorId(9), Endpoint::new(ActorId(3), Port(1)));
        assert_eq!(c.take(ActorId(9)), [end(3, 2, 0)]);
    }
}
