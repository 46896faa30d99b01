//! A stand-in for a ready kube-apiserver: it answers every HTTP GET with 200 while its
//! process runs. It is the simulated twin of the TLS server the VIP lab runs in place of the
//! apiserver (`provision::drill::vip_lab`, `openssl s_server -WWW`), so the real-keepalived
//! differential test compares like with like; the apiserver model proper, whose readiness
//! follows etcd, replaces it in the control-plane world.

use super::msg::{HttpAccepted, HttpGet, HttpReply};
use crate::engine::{Ctx, Endpoint, Event, Model};

/// Status it answers with.
pub const READY: u16 = 200;

/// The stand-in.
#[derive(Debug, Default)]
pub struct ReadyBackend;

impl Model for ReadyBackend {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        if let Event::Message {
            from,
            from_port,
            msg,
        } = event
            && let Some(g) = msg.downcast_ref::<HttpGet>()
        {
            let to = Endpoint::new(from, from_port);
            ctx.send(to, HttpAccepted { id: g.id });
            let reply = HttpReply {
                id: g.id,
                status: READY,
            };
            ctx.send(to, reply);
        }
    }

    fn on_crash(&mut self) {}
}
