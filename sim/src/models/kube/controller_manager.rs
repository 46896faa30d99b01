//! What the kube-controller-manager leader runs: the node lifecycle and taint eviction
//! controllers ([`NodeMonitor`]) and the workload controllers ([`WorkloadControllers`]).

use super::api::{ApiListResponse, ApiRequest, ApiResponse};
use super::elector::LeaderWork;
use super::node_lifecycle::{ControllerTimer, NodeMonitor};
use super::workloads::WorkloadControllers;
use crate::engine::{Ctx, Event};

/// The controllers.
#[derive(Debug)]
pub struct ControllerManager {
    monitor: NodeMonitor,
    workloads: WorkloadControllers,
}

impl ControllerManager {
    /// `monitor` and `workloads` together.
    pub fn new(monitor: NodeMonitor, workloads: WorkloadControllers) -> Self {
        ControllerManager { monitor, workloads }
    }
}

impl LeaderWork for ControllerManager {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.monitor.start(ctx);
        self.workloads.start(ctx);
    }

    fn stop(&mut self) {
        self.monitor.stop();
        self.workloads.stop();
    }

    fn offer<'e>(&mut self, ctx: &mut Ctx<'_>, event: Event<'e>) -> Result<(), Event<'e>> {
        let event = match self.workloads.offer(ctx, event) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let m = &mut self.monitor;
        match &event {
            Event::Timer { tag, .. } => {
                if let Some(t) = tag.downcast_ref::<ControllerTimer>() {
                    m.on_timer(ctx, t);
                    return Ok(());
                }
            }
            Event::Message { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiListResponse>()
                    && m.owns(r.id)
                {
                    m.on_list(ctx, r);
                    return Ok(());
                }
                if let Some(r) = msg.downcast_ref::<ApiResponse>()
                    && m.owns(r.id)
                {
                    m.on_response(ctx, r);
                    return Ok(());
                }
            }
            Event::Refused { msg, .. } => {
                if let Some(r) = msg.downcast_ref::<ApiRequest>()
                    && m.owns(r.id)
                {
                    m.on_refused(ctx, r.id);
                    return Ok(());
                }
            }
            Event::Start { .. } | Event::Closed { .. } | Event::Fault(_) => {}
        }
        Err(event)
    }
}
