//! The kubelet's Node object: registration and the Ready condition it posts
//! (`pkg/kubelet/kubelet_node_status.go`), through the API VIP like its lease.
//!
//! At start the kubelet registers its Node (created if absent; a restarted kubelet finds it
//! and takes it over), then every `nodeStatusUpdateFrequency` (10 s, jittered by 0.04 and
//! counted from the end of the previous sync, as `JitterUntil` runs `syncNodeStatus`) it
//! reads its Node and writes Ready=True when the stored condition says otherwise: after the
//! node controller set Unknown, the first sync that reaches the API puts the node back. It
//! leaves the node controller's taints alone; the controller removes them once it reads
//! Ready=True. Unchanged status is written only every `nodeStatusReportFrequency` (5 min)
//! upstream, which changes nothing the controller reads here (the lease is the heartbeat), so
//! it is not sent. Registration retries at the next sync rather than on its own 100 ms-7 s
//! back-off.

use rand::Rng;

use super::api::{ApiError, ApiOp, ApiRequest, ApiResponse, Versioned, typed};
use super::facts::NodeReady;
use super::kubelet::{NODE_STATUS_UPDATE_FREQUENCY, RENEW_JITTER};
use super::objects::{Condition, NodeRecord};
use crate::engine::{Address, Ctx, SimDuration, TimerId};
use crate::models::vip::HAPROXY_MODEL;

/// Request ids of the status sync start here, apart from the lease's.
const FIRST_ID: u64 = 1 << 40;

/// The status sync's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusTimer {
    /// Time for the next sync.
    Sync,
    /// Request `id` ran out of time.
    Timeout(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Get,
    Put,
}

/// The kubelet's node status loop.
#[derive(Debug)]
pub struct NodeStatusSync {
    vip: Address,
    timeout: SimDuration,
    next_id: u64,
    in_flight: Option<(u64, Step)>,
    timer: Option<TimerId>,
}

impl NodeStatusSync {
    /// A loop reaching the API at `vip`, each request with `timeout`.
    pub fn new(vip: Address, timeout: SimDuration) -> Self {
        NodeStatusSync {
            vip,
            timeout,
            next_id: FIRST_ID,
            in_flight: None,
            timer: None,
        }
    }

    /// Whether request `id` is this loop's.
    pub fn owns(&self, id: u64) -> bool {
        id >= FIRST_ID
    }

    /// The kubelet starts: register at once.
    pub fn start(&mut self, ctx: &mut Ctx<'_>, node: &str) {
        self.in_flight = None;
        self.sync(ctx, node);
    }

    /// The kubelet died: nothing survives.
    pub fn reset(&mut self) {
        self.in_flight = None;
        self.timer = None;
    }

    fn send(&mut self, ctx: &mut Ctx<'_>, op: ApiOp, step: Step) {
        self.next_id += 1;
        let id = self.next_id;
        self.in_flight = Some((id, step));
        ctx.set_timer(self.timeout, StatusTimer::Timeout(id));
        ctx.send_to_service(self.vip.clone(), HAPROXY_MODEL, ApiRequest { id, op });
    }

    fn sync(&mut self, ctx: &mut Ctx<'_>, node: &str) {
        self.timer = None;
        if self.in_flight.is_none() {
            self.send(ctx, ApiOp::get::<NodeRecord>("", node), Step::Get);
        }
    }

    fn next(&mut self, ctx: &mut Ctx<'_>) {
        let jitter = ctx.rng().random::<f64>() * RENEW_JITTER;
        let wait = NODE_STATUS_UPDATE_FREQUENCY.as_nanos() as f64 * (1.0 + jitter);
        let t = ctx.set_timer(SimDuration::from_nanos(wait as u64), StatusTimer::Sync);
        self.timer = Some(t);
    }

    /// A timer of the loop fired.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, id: TimerId, timer: StatusTimer, node: &str) {
        match timer {
            StatusTimer::Sync if Some(id) == self.timer => self.sync(ctx, node),
            StatusTimer::Timeout(req) => {
                let failed = ApiResponse {
                    id: req,
                    result: Err(ApiError::Timeout),
                };
                self.on_response(ctx, &failed, node);
            }
            StatusTimer::Sync => {}
        }
    }

    /// An answer (or a refusal, as an error) for request `resp.id`.
    pub fn on_response(&mut self, ctx: &mut Ctx<'_>, resp: &ApiResponse, node: &str) {
        let Some((id, step)) = self.in_flight else {
            return;
        };
        if id != resp.id {
            return;
        }
        self.in_flight = None;
        match (step, typed::<NodeRecord>(&resp.result)) {
            (Step::Get, Err(ApiError::NotFound)) => {
                let op = ApiOp::put("", node, &NodeRecord::registered(), None);
                self.send(ctx, op, Step::Put);
            }
            (
                Step::Get,
                Ok(Versioned {
                    object,
                    resource_version,
                }),
            ) if object.ready != Condition::True => {
                let ready = NodeRecord {
                    ready: Condition::True,
                    ..object
                };
                let op = ApiOp::put("", node, &ready, Some(resource_version));
                self.send(ctx, op, Step::Put);
            }
            (Step::Put, Ok(_)) => {
                ctx.fact(NodeReady {
                    node: node.to_owned(),
                    ready: true,
                });
                self.next(ctx);
            }
            _ => self.next(ctx),
        }
    }
}
