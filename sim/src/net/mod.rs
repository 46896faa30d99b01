//! The simulated network between hosts: per-link latency and loss, partitions into any number
//! of groups, one-way cuts, slow and lossy links, and heal. It only decides the fate of each
//! packet (deliver at time T, or drop and why); the engine owns the queue and the hosts.
//! Partition state is one group number per host, so checking a packet costs the same for 5 or
//! 1000 hosts. FIFO order is kept per flow (a pair of actors, as one TCP connection is), not
//! per pair of hosts, so one model's traffic never delays another's.

pub mod link;

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{HostId, SimDuration, SimRng, SimTime};
pub use link::{Latency, LinkConfig, draw_loss, loss_to_ppb};

/// What the network does with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered at this instant.
    Deliver(SimTime),
    /// Dropped.
    Drop(DropReason),
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Sender and receiver are in different partition groups.
    Partitioned,
    /// The direction is cut by a one-way fault.
    OneWayCut,
    /// Random loss on the link.
    Lost,
}

impl DropReason {
    /// Name used in the trace.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Partitioned => "partitioned",
            DropReason::OneWayCut => "one-way-cut",
            DropReason::Lost => "lost",
        }
    }
}

/// A temporary degradation of one link, added by `LinkSlow` / `LinkLossy`, removed by `Heal`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LinkFault {
    extra_latency: SimDuration,
    loss_ppb: Option<u32>,
}

/// Network state for one run.
#[derive(Clone, Debug)]
pub struct Network {
    hosts: usize,
    default_link: LinkConfig,
    links: BTreeMap<(HostId, HostId), LinkConfig>,
    /// Partition group per host; `None` when no partition is in force.
    groups: Option<Vec<u32>>,
    one_way: BTreeSet<(HostId, HostId)>,
    faults: BTreeMap<(HostId, HostId), LinkFault>,
    /// For FIFO links: the latest delivery time per flow `(sender, receiver)`, indexed by
    /// sender first so the lookup on every packet costs the log of one sender's peers, not of
    /// every pair in the cluster: simulated work then grows linearly with the cluster.
    last_delivery: Vec<BTreeMap<u32, SimTime>>,
}

fn unordered(a: HostId, b: HostId) -> (HostId, HostId) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Network {
    /// A healthy network of `hosts` hosts where every link behaves like `default_link`.
    pub fn new(hosts: usize, default_link: LinkConfig) -> Self {
        Network {
            hosts,
            default_link,
            links: BTreeMap::new(),
            groups: None,
            one_way: BTreeSet::new(),
            faults: BTreeMap::new(),
            last_delivery: Vec::new(),
        }
    }

    /// Number of hosts.
    pub fn hosts(&self) -> usize {
        self.hosts
    }

    /// Grows the network to `hosts` hosts.
    pub fn resize(&mut self, hosts: usize) {
        self.hosts = hosts;
        if let Some(groups) = &mut self.groups {
            groups.resize(hosts, 0);
        }
    }

    /// Sets the base behaviour of the link between `a` and `b` (both directions).
    pub fn set_link(&mut self, a: HostId, b: HostId, config: LinkConfig) {
        self.links.insert(unordered(a, b), config);
    }

    /// The base behaviour of the link between `a` and `b`.
    pub fn link(&self, a: HostId, b: HostId) -> &LinkConfig {
        self.links
            .get(&unordered(a, b))
            .unwrap_or(&self.default_link)
    }

    /// Splits hosts into `groups`; hosts in no group form one more group together. Replaces any
    /// partition already in force (one-way cuts stay).
    pub fn partition(&mut self, groups: &[Vec<HostId>]) {
        let rest = groups.len() as u32;
        let mut assignment = vec![rest; self.hosts];
        for (index, group) in groups.iter().enumerate() {
            for host in group {
                if let Some(slot) = assignment.get_mut(host.0 as usize) {
                    *slot = index as u32;
                }
            }
        }
        self.groups = Some(assignment);
    }

    /// Drops every packet from `from` to `to`.
    pub fn cut_one_way(&mut self, from: HostId, to: HostId) {
        self.one_way.insert((from, to));
    }

    /// Adds `extra` delay to the link between `a` and `b`.
    pub fn slow(&mut self, a: HostId, b: HostId, extra: SimDuration) {
        self.faults
            .entry(unordered(a, b))
            .or_default()
            .extra_latency = extra;
    }

    /// Makes the link between `a` and `b` lose packets with probability `loss_ppb`.
    pub fn lossy(&mut self, a: HostId, b: HostId, loss_ppb: u32) {
        self.faults.entry(unordered(a, b)).or_default().loss_ppb = Some(loss_ppb);
    }

    /// Removes every partition, one-way cut and link fault.
    pub fn heal(&mut self) {
        self.groups = None;
        self.one_way.clear();
        self.faults.clear();
    }

    /// True when `from` can currently reach `to` (ignoring random loss).
    pub fn connected(&self, from: HostId, to: HostId) -> bool {
        self.blocked(from, to).is_none()
    }

    /// True when no partition, cut or link fault is in force.
    pub fn is_healthy(&self) -> bool {
        self.groups.is_none() && self.one_way.is_empty() && self.faults.is_empty()
    }

    fn blocked(&self, from: HostId, to: HostId) -> Option<DropReason> {
        if let Some(groups) = &self.groups
            && groups.get(from.0 as usize) != groups.get(to.0 as usize)
        {
            return Some(DropReason::Partitioned);
        }
        if !self.one_way.is_empty() && self.one_way.contains(&(from, to)) {
            return Some(DropReason::OneWayCut);
        }
        None
    }

    /// Decides the fate of a packet sent from `from` to `to` at `now`, keeping FIFO order per
    /// pair of hosts (for tests and tools that have no actors).
    pub fn route(&mut self, from: HostId, to: HostId, now: SimTime, rng: &mut SimRng) -> Verdict {
        self.route_flow(from, to, (from.0, to.0), now, rng)
    }

    /// Decides the fate of a packet of `flow` (sender and receiver ids, e.g. two actors) sent
    /// from host `from` to host `to` at `now`: on FIFO links it never overtakes an earlier
    /// packet of the same flow. `rng` should be the flow's own stream.
    pub fn route_flow(
        &mut self,
        from: HostId,
        to: HostId,
        flow: (u32, u32),
        now: SimTime,
        rng: &mut SimRng,
    ) -> Verdict {
        if from == to {
            return Verdict::Deliver(now);
        }
        if let Some(reason) = self.blocked(from, to) {
            return Verdict::Drop(reason);
        }
        let base = *self.link(from, to);
        let fault = if self.faults.is_empty() {
            LinkFault::default()
        } else {
            self.faults
                .get(&unordered(from, to))
                .copied()
                .unwrap_or_default()
        };
        let loss = fault.loss_ppb.unwrap_or(base.loss_ppb);
        if draw_loss(loss, rng) {
            return Verdict::Drop(DropReason::Lost);
        }
        let mut at = now + base.latency.sample(rng) + fault.extra_latency;
        if base.fifo {
            let index = flow.0 as usize;
            if index >= self.last_delivery.len() {
                self.last_delivery.resize(index + 1, BTreeMap::new());
            }
            let last = self.last_delivery[index]
                .entry(flow.1)
                .or_insert(SimTime::ZERO);
            if at < *last {
                at = *last;
            }
            *last = at;
        }
        Verdict::Deliver(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RngStreams;

    fn h(i: u32) -> HostId {
        HostId(i)
    }

    #[test]
    fn partitions_group_hosts_and_unnamed_hosts_stay_together() {
        let mut net = Network::new(5, LinkConfig::fixed(SimDuration::from_millis(1)));
        net.partition(&[vec![h(0), h(1)]]);
        assert!(net.connected(h(0), h(1)));
        assert!(!net.connected(h(0), h(2)));
        assert!(!net.connected(h(3), h(1)));
        assert!(net.connected(h(2), h(4)));
        net.partition(&[vec![h(0)], vec![h(1)], vec![h(2)]]);
        assert!(!net.connected(h(0), h(1)));
        assert!(net.connected(h(3), h(4)));
        net.heal();
        assert!(net.connected(h(0), h(4)) && net.is_healthy());
    }

    #[test]
    fn one_way_cuts_only_one_direction() {
        let mut net = Network::new(2, LinkConfig::default());
        net.cut_one_way(h(0), h(1));
        let mut rng = RngStreams::new(1).stream("net");
        assert_eq!(
            net.route(h(0), h(1), SimTime::ZERO, &mut rng),
            Verdict::Drop(DropReason::OneWayCut)
        );
        assert!(matches!(
            net.route(h(1), h(0), SimTime::ZERO, &mut rng),
            Verdict::Deliver(_)
        ));
    }

    #[test]
    fn slow_and_lossy_links_apply_until_heal() {
        let mut net = Network::new(2, LinkConfig::fixed(SimDuration::from_millis(1)));
        let mut rng = RngStreams::new(1).stream("net");
        net.slow(h(1), h(0), SimDuration::from_millis(100));
        let t = SimTime::ZERO;
        assert_eq!(
            net.route(h(0), h(1), t, &mut rng),
            Verdict::Deliver(t + SimDuration::from_millis(101))
        );
        net.lossy(h(0), h(1), loss_to_ppb(1.0));
        assert_eq!(
            net.route(h(0), h(1), t, &mut rng),
            Verdict::Drop(DropReason::Lost)
        );
        net.heal();
        let later = SimTime::from_nanos(1_000_000_000);
        assert_eq!(
            net.route(h(0), h(1), later, &mut rng),
            Verdict::Deliver(later + SimDuration::from_millis(1))
        );
    }

    #[test]
    fn fifo_links_never_reorder() {
        let jitter = Latency::Uniform {
            min: SimDuration::from_millis(1),
            max: SimDuration::from_millis(50),
        };
        let mut net = Network::new(
            2,
            LinkConfig {
                latency: jitter,
                loss_ppb: 0,
                fifo: true,
            },
        );
        let mut rng = RngStreams::new(3).stream("net");
        let mut last = SimTime::ZERO;
        for i in 0..200 {
            let Verdict::Deliver(at) =
                net.route(h(0), h(1), SimTime::from_nanos(i * 100_000), &mut rng)
            else {
                panic!("dropped")
            };
            assert!(at >= last);
            last = at;
        }
    }

    #[test]
    fn fifo_is_per_flow_so_one_flow_never_delays_another() {
        let jitter = Latency::Uniform {
            min: SimDuration::from_millis(1),
            max: SimDuration::from_millis(50),
        };
        let link = LinkConfig {
            latency: jitter,
            loss_ppb: 0,
            fifo: true,
        };
        let streams = RngStreams::new(3);
        // Flow (1, 2) alone, then again with a busy flow (3, 4) between the same hosts.
        let run = |busy: bool| {
            let mut net = Network::new(2, link);
            let (mut quiet_rng, mut busy_rng) = (streams.stream("q"), streams.stream("b"));
            let mut quiet = Vec::new();
            for i in 0..100u64 {
                let now = SimTime::from_nanos(i * 1_000_000);
                if busy {
                    for _ in 0..5 {
                        let _ = net.route_flow(h(0), h(1), (3, 4), now, &mut busy_rng);
                    }
                }
                quiet.push(net.route_flow(h(0), h(1), (1, 2), now, &mut quiet_rng));
            }
            quiet
        };
        let alone = run(false);
        assert_eq!(alone, run(true));
        let times: Vec<SimTime> = alone
            .iter()
            .map(|v| match v {
                Verdict::Deliver(at) => *at,
                Verdict::Drop(r) => panic!("dropped: {r:?}"),
            })
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "FIFO within the flow"
        );
    }
}
