//! The node lifecycle controller's health monitor, as it runs in the kube-controller-manager
//! leader (`pkg/controller/nodelifecycle`, 1.29-1.32): every `--node-monitor-period` (5 s,
//! counted from the end of the previous pass) it looks at every node's Lease through the
//! leader's own apiserver. A lease whose `renewTime` moved since the last pass sets the node's
//! `probeTimestamp` to the controller's own clock; a node whose probe is older than
//! `--node-monitor-grace-period` (`now > probe + grace`, strictly) gets Ready=Unknown. A new
//! leader starts with no probes, so every node gets a fresh full grace period.
//!
//! Here the informers' view is a LIST at each pass. The kubelet posting Ready again is
//! folded into the controller seeing the lease renewed. Taints, pod NotReady and
//! taint-based eviction are not modelled yet.

use std::collections::BTreeMap;

use super::api::{ApiListResponse, ApiOp, ApiRequest, NODE_LEASE_NAMESPACE};
use super::facts::NodeReady;
use crate::engine::{Ctx, SimDuration, SimTime};
use crate::models::vip::APISERVER_MODEL;

/// Request ids of the controller start here, apart from the leader election's.
const FIRST_ID: u64 = 1 << 40;

/// What the monitor knows of one node.
#[derive(Clone, Debug)]
struct NodeHealth {
    renewed: SimTime,
    probe: SimTime,
    ready: bool,
    /// A renewal was seen since this leader first saw the node: its Ready is this leader's
    /// to report.
    confirmed: bool,
}

/// The monitor's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// `--node-monitor-period`.
    pub period: SimDuration,
    /// `--node-monitor-grace-period`.
    pub grace: SimDuration,
}

impl MonitorConfig {
    /// The topology's node-lifecycle timers.
    pub fn from_topology(nl: &topology::NodeLifecycle) -> Self {
        let s = |v: u32| SimDuration::from_secs(u64::from(v));
        MonitorConfig {
            period: s(nl.node_monitor_period_seconds),
            grace: s(nl.node_monitor_grace_period_seconds),
        }
    }
}

/// The monitor, alive while its process leads.
#[derive(Debug)]
pub struct NodeMonitor {
    config: MonitorConfig,
    nodes: BTreeMap<String, NodeHealth>,
    next_id: u64,
    in_flight: Option<u64>,
}

impl NodeMonitor {
    /// A monitor with `config`.
    pub fn new(config: MonitorConfig) -> Self {
        NodeMonitor {
            config,
            nodes: BTreeMap::new(),
            next_id: FIRST_ID,
            in_flight: None,
        }
    }

    /// The period between passes.
    pub fn period(&self) -> SimDuration {
        self.config.period
    }

    /// Whether request `id` is the monitor's.
    pub fn owns(&self, id: u64) -> bool {
        id >= FIRST_ID
    }

    /// Leadership is gone: what the monitor knew goes with it.
    pub fn stop(&mut self) {
        self.nodes.clear();
        self.in_flight = None;
    }

    /// Starts a pass: LIST the node leases. Returns the request id, to time it out.
    pub fn pass(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        if self.in_flight.is_some() {
            return None;
        }
        let api = ctx.directory().actor_on(ctx.host(), APISERVER_MODEL)?;
        self.next_id += 1;
        let id = self.next_id;
        self.in_flight = Some(id);
        let op = ApiOp::ListLeases {
            namespace: NODE_LEASE_NAMESPACE.to_owned(),
        };
        ctx.send(api, ApiRequest { id, op });
        Some(id)
    }

    /// Pass `id` failed (refused, timed out): nothing is learnt and the grace keeps running.
    /// Returns whether it was the pass in flight.
    pub fn failed(&mut self, ctx: &mut Ctx<'_>, id: u64) -> bool {
        if self.in_flight != Some(id) {
            return false;
        }
        self.in_flight = None;
        self.judge(ctx);
        true
    }

    /// The LIST came back: note renewals, then judge every node. Returns whether it was the
    /// pass in flight.
    pub fn on_list(&mut self, ctx: &mut Ctx<'_>, resp: &ApiListResponse) -> bool {
        if self.in_flight != Some(resp.id) {
            return false;
        }
        self.in_flight = None;
        let now = ctx.now();
        if let Ok(leases) = &resp.result {
            for (name, lease) in leases {
                let renewed = lease.record.renewed;
                match self.nodes.get_mut(name) {
                    Some(n) if renewed > n.renewed => {
                        n.renewed = renewed;
                        n.probe = now;
                        if !n.ready || !n.confirmed {
                            n.ready = true;
                            n.confirmed = true;
                            ctx.fact(NodeReady {
                                node: name.clone(),
                                ready: true,
                            });
                        }
                    }
                    Some(_) => {}
                    None => {
                        // First sight (a new leader): a fresh full grace period, and no
                        // verdict until a renewal or the grace says one.
                        let health = NodeHealth {
                            renewed,
                            probe: now,
                            ready: true,
                            confirmed: false,
                        };
                        self.nodes.insert(name.clone(), health);
                    }
                }
            }
        }
        self.judge(ctx);
        true
    }

    fn judge(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        for (name, n) in &mut self.nodes {
            if n.ready && now > n.probe + self.config.grace {
                n.ready = false;
                n.confirmed = true;
                ctx.fact(NodeReady {
                    node: name.clone(),
                    ready: false,
                });
            }
        }
    }
}
