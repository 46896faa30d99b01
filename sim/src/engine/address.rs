//! Addresses that models claim and move, like a VIP that keepalived moves with a gratuitous
//! ARP or a MetalLB service IP: a model claims an address, another takes it over by claiming
//! it in turn (the last claim wins, as the last ARP announcement does), and a message sent to
//! the address goes to whoever holds it at the instant it is sent. An address no one holds is
//! silence (no host answers the ARP). The holder dying does not release the address: traffic
//! keeps going to its host (refused if the host is up, lost if not) until someone else claims
//! it, as with a real VIP.
//!
//! Several hosts can have the address on an interface at once (a split brain after a
//! partition). The table keeps every claim: when the latest claimer gives the address up, the
//! one before it answers again, as a host that still has the address answers the next ARP
//! request. A host that crashes loses its claims: the address is not configured after a boot.

use std::collections::BTreeMap;
use std::fmt;

use super::model::Endpoint;

/// A network address models can claim, e.g. `10.0.0.100` or `kube-apiserver-vip`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub String);

impl Address {
    /// The address called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Address(name.into())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who holds which address now.
#[derive(Clone, Debug, Default)]
pub struct AddressTable {
    /// Per address, every claimer that still has it, latest last.
    claims: BTreeMap<Address, Vec<Endpoint>>,
}

impl AddressTable {
    /// `by` announces `address`: it holds it from now, whoever held it before. Returns the
    /// previous holder.
    pub fn claim(&mut self, address: Address, by: Endpoint) -> Option<Endpoint> {
        let claims = self.claims.entry(address).or_default();
        let previous = claims.last().copied();
        claims.retain(|c| *c != by);
        claims.push(by);
        previous
    }

    /// `by` gives `address` up; whoever claimed it before and still has it answers again.
    /// Returns whether `by` had it.
    pub fn release(&mut self, address: &Address, by: Endpoint) -> bool {
        let Some(claims) = self.claims.get_mut(address) else {
            return false;
        };
        let had = claims.contains(&by);
        claims.retain(|c| *c != by);
        if claims.is_empty() {
            self.claims.remove(address);
        }
        had
    }

    /// Drops every claim `lost` says is gone (the claimers on a crashed host).
    pub fn forget(&mut self, lost: impl Fn(Endpoint) -> bool) {
        for claims in self.claims.values_mut() {
            claims.retain(|c| !lost(*c));
        }
        self.claims.retain(|_, c| !c.is_empty());
    }

    /// The current holder of `address`.
    pub fn resolve(&self, address: &Address) -> Option<Endpoint> {
        self.claims.get(address).and_then(|c| c.last().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::world;
    use super::*;
    use crate::engine::{
        ActorId, Ctx, Event, Message, Model, NullSink, SimDuration, SimTime, Simulation,
    };

    #[test]
    fn last_claim_wins_and_an_earlier_claimer_answers_again_after_a_release() {
        let mut table = AddressTable::default();
        let vip = Address::new("10.0.0.100");
        let (a, b) = (Endpoint::from(ActorId(0)), Endpoint::from(ActorId(1)));
        assert_eq!(table.resolve(&vip), None);
        assert_eq!(table.claim(vip.clone(), a), None);
        assert_eq!(table.claim(vip.clone(), b), Some(a));
        assert_eq!(table.resolve(&vip), Some(b));
        // b gives it up: a, which still has it, answers again.
        assert!(table.release(&vip, b));
        assert_eq!(table.resolve(&vip), Some(a));
        assert!(!table.release(&vip, b), "b no longer has it");
        assert_eq!(table.claim(vip.clone(), b), Some(a));
        table.forget(|c| c == b);
        assert_eq!(table.resolve(&vip), Some(a), "b's host crashed");
        assert!(table.release(&vip, a));
        assert_eq!(table.resolve(&vip), None);
    }

    #[derive(Debug)]
    struct Hello(u64);
    impl Message for Hello {
        fn kind(&self) -> &'static str {
            "Hello"
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum T {
        Claim,
        Release,
        Send,
    }

    /// Claims `vip` at `claim_at` (and releases it at `release_at`), or, as a sender, sends to
    /// it every 100 ms; notes what it receives and any refusal.
    #[derive(Debug, Default)]
    struct VipUser {
        claim_at: Option<SimDuration>,
        release_at: Option<SimDuration>,
        sender: bool,
        /// Send to this model on the holder's host instead of to the holder.
        service: Option<&'static str>,
        sent: u64,
        got: Vec<(SimTime, u64)>,
        refused: u32,
    }

    impl Model for VipUser {
        fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
            let vip = Address::new("vip");
            match event {
                Event::Start { .. } => {
                    if let Some(at) = self.claim_at {
                        ctx.set_timer(at, T::Claim);
                    }
                    if let Some(at) = self.release_at {
                        ctx.set_timer(at, T::Release);
                    }
                    if self.sender {
                        ctx.set_timer(SimDuration::from_millis(100), T::Send);
                    }
                }
                Event::Timer { tag, .. } => match tag.downcast_ref::<T>() {
                    Some(T::Claim) => ctx.claim(vip),
                    Some(T::Release) => ctx.release(vip),
                    Some(T::Send) => {
                        self.sent += 1;
                        match self.service {
                            Some(service) => ctx.send_to_service(vip, service, Hello(self.sent)),
                            None => ctx.send_to_address(vip, Hello(self.sent)),
                        }
                        ctx.set_timer(SimDuration::from_millis(100), T::Send);
                    }
                    None => {}
                },
                Event::Message { msg, .. } => {
                    if let Some(Hello(n)) = msg.downcast_ref::<Hello>() {
                        self.got.push((ctx.now(), *n));
                    }
                }
                Event::Refused { .. } => self.refused += 1,
                Event::Closed { .. } | Event::Fault(_) => {}
            }
        }
        fn on_crash(&mut self) {}
    }

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }

    #[test]
    fn a_message_to_an_address_goes_to_its_holder_when_sent_and_unclaimed_is_silence() {
        let (mut sim, _) = world(&[]);
        let mut add = |name: &str, user: VipUser| {
            let host = sim.add_host(name).expect("host");
            sim.add_actor(host, "vip-user", Box::new(user))
                .expect("actor")
        };
        // a claims at 250 ms; b takes it over at 1 s (a gratuitous ARP); b gives it up at
        // 1.5 s and a, which still has it, answers again; a gives it up at 1.75 s.
        let a = add(
            "a",
            VipUser {
                claim_at: Some(ms(250)),
                release_at: Some(ms(1750)),
                ..VipUser::default()
            },
        );
        let b = add(
            "b",
            VipUser {
                claim_at: Some(ms(1000)),
                release_at: Some(ms(1500)),
                ..VipUser::default()
            },
        );
        let c = add(
            "c",
            VipUser {
                sender: true,
                ..VipUser::default()
            },
        );
        sim.run_until(SimTime::ZERO + ms(2000), &mut NullSink);
        let user = |sim: &Simulation, id| sim.model::<VipUser>(id).expect("user").got.clone();
        let got_a: Vec<u64> = user(&sim, a).iter().map(|(_, n)| *n).collect();
        let got_b: Vec<u64> = user(&sim, b).iter().map(|(_, n)| *n).collect();
        // Sends at 100, 200 ms: unclaimed, silence. 300..=900 ms: a. 1000..=1400 ms: b (the
        // claim at 1 s runs before the send at 1 s: both were armed at start, claim first).
        // 1500..=1700 ms: a again. From 1800 ms: unclaimed, silence.
        assert_eq!(got_a, [3, 4, 5, 6, 7, 8, 9, 15, 16, 17]);
        assert_eq!(got_b, [10, 11, 12, 13, 14]);
        let sender = sim.model::<VipUser>(c).expect("sender");
        assert_eq!(sender.sent, 20);
        assert_eq!(
            sender.refused, 0,
            "an unclaimed address is silence, not a refusal"
        );
        assert_eq!(sim.address_holder(&Address::new("vip")), None);
    }

    #[test]
    fn a_dead_holder_keeps_the_address_and_its_live_host_refuses() {
        let (mut sim, _) = world(&[]);
        let host = sim.add_host("a").expect("a");
        let a = sim
            .add_actor(
                host,
                "vip-user",
                Box::new(VipUser {
                    claim_at: Some(ms(50)),
                    ..VipUser::default()
                }),
            )
            .expect("a");
        let host = sim.add_host("c").expect("c");
        let c = sim
            .add_actor(
                host,
                "vip-user",
                Box::new(VipUser {
                    sender: true,
                    ..VipUser::default()
                }),
            )
            .expect("c");
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO + ms(450), &mut sink);
        sim.stop_process(a, &mut sink);
        sim.run_until(SimTime::ZERO + ms(1000), &mut sink);
        assert_eq!(sim.address_holder(&Address::new("vip")), Some(a.into()));
        let sender = sim.model::<VipUser>(c).expect("sender");
        assert!(sender.refused >= 5, "refused {}", sender.refused);
    }

    #[test]
    fn a_service_on_the_holders_host_answers_for_the_address_until_it_dies() {
        let (mut sim, _) = world(&[]);
        let a = sim.add_host("a").expect("a");
        // keepalived on a claims the VIP; haproxy on a listens on it.
        let keeper = VipUser {
            claim_at: Some(ms(50)),
            ..VipUser::default()
        };
        let keeper = sim
            .add_actor(a, "keeper", Box::new(keeper))
            .expect("keeper");
        let listener = sim
            .add_actor(a, "listener", Box::new(VipUser::default()))
            .expect("listener");
        let c = sim.add_host("c").expect("c");
        let sender = VipUser {
            sender: true,
            service: Some("listener"),
            ..VipUser::default()
        };
        let c = sim
            .add_actor(c, "sender", Box::new(sender))
            .expect("sender");
        let mut sink = NullSink;
        sim.run_until(SimTime::ZERO + ms(450), &mut sink);
        // The claimer dies: the address stays on host a and its listener still answers.
        sim.stop_process(keeper, &mut sink);
        sim.run_until(SimTime::ZERO + ms(850), &mut sink);
        let got = |sim: &Simulation, id| sim.model::<VipUser>(id).expect("user").got.len();
        assert_eq!(got(&sim, listener), 8, "sends at 100..=800 ms");
        assert_eq!(got(&sim, keeper), 0, "the claimer is not the listener");
        // The listener dies on a live host: refused.
        sim.stop_process(listener, &mut sink);
        sim.run_until(SimTime::ZERO + ms(1250), &mut sink);
        let sender = sim.model::<VipUser>(c).expect("sender");
        assert_eq!(sender.refused, 4, "sends at 900..=1200 ms");
    }
}
