//! The disruption controller (`pkg/controller/disruption`): each PodDisruptionBudget's status
//! from the pods it selects, written back so the eviction API can read it.
//!
//! `currentHealthy` counts the selected pods that are Ready and not being deleted;
//! `desiredHealthy` is `minAvailable` (scaled, rounded up) or the workload's replicas less
//! `maxUnavailable` (scaled, rounded up); `disruptionsAllowed` is the difference, never below
//! zero. The status is written whenever it changes, on the budget's resource version; a
//! failed write is retried through the controllers' rate limiter. It shares the workload
//! controllers' Pod and workload informers, as upstream's controllers share one informer
//! factory.

use std::collections::BTreeMap;

use super::api::{ApiOp, Stored, split_name};
use super::informer::{ApiPath, Informer};
use super::objects::{PdbRecord, PdbStatus, PodRecord, WorkloadRecord};
use super::writes::{SyncOutcome as Outcome, SyncWrites};
use crate::engine::{Ctx, Event, Port, route_to};

/// The budgets' informer's port.
const PDBS_PORT: Port = Port(13);
/// The port status writes go out and come back on.
const STATUS_PORT: Port = Port(14);

/// The status of `budget` over `pods` (`namespace/name` -> pod) of a workload with
/// `replicas`.
pub fn status<'a>(
    budget: &PdbRecord,
    pods: impl Iterator<Item = &'a PodRecord>,
    replicas: u32,
) -> PdbStatus {
    let healthy = pods
        .filter(|p| p.owner == budget.owner && p.ready && p.deleted.is_none())
        .count();
    let current_healthy = u32::try_from(healthy).unwrap_or(u32::MAX);
    let desired_healthy = budget.spec.desired_healthy(replicas);
    PdbStatus {
        current_healthy,
        desired_healthy,
        disruptions_allowed: current_healthy.saturating_sub(desired_healthy),
    }
}

/// The controller.
#[derive(Debug)]
pub struct DisruptionController {
    pdbs: Informer,
    writes: SyncWrites,
}

impl Default for DisruptionController {
    fn default() -> Self {
        DisruptionController {
            pdbs: Informer::new::<PdbRecord>("", ApiPath::Local),
            writes: SyncWrites::new(ApiPath::Local, STATUS_PORT),
        }
    }
}

impl DisruptionController {
    /// Leadership won.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.stop();
        self.pdbs.start(&mut ctx.scoped(PDBS_PORT));
    }

    /// Leadership lost.
    pub fn stop(&mut self) {
        self.pdbs.stop();
        self.writes.clear();
    }

    /// Takes the event if it is the controller's, and says what it brought.
    pub fn offer<'e>(&mut self, ctx: &mut Ctx<'_>, event: Event<'e>) -> Result<Outcome, Event<'e>> {
        let event = match route_to(&mut self.pdbs, PDBS_PORT, ctx, event) {
            Ok(changes) if changes.is_empty() => return Ok(Outcome::Nothing),
            Ok(_) => return Ok(Outcome::Changed),
            Err(e) => e,
        };
        route_to(&mut self.writes, STATUS_PORT, ctx, event).map(|done| self.writes.ended(&done))
    }

    /// Writes every budget whose status differs from what `pods` and `workloads` give.
    pub fn sync(
        &mut self,
        ctx: &mut Ctx<'_>,
        pods: &BTreeMap<String, Stored>,
        workloads: &BTreeMap<String, Stored>,
    ) {
        if !self.pdbs.synced() {
            return;
        }
        let mut writes = Vec::new();
        for (full, stored) in self.pdbs.objects() {
            if self.writes.in_flight(full) {
                continue;
            }
            let Some(budget) = stored.object::<PdbRecord>() else {
                continue;
            };
            let (ns, _) = split_name(full);
            let Some(workload) = workloads
                .get(&format!("{ns}/{}", budget.owner))
                .and_then(|w| w.object::<WorkloadRecord>())
            else {
                continue;
            };
            let prefix = format!("{ns}/");
            let selected: Vec<PodRecord> = pods
                .iter()
                .filter(|(n, _)| n.starts_with(&prefix))
                .filter_map(|(_, s)| s.object::<PodRecord>())
                .collect();
            let fresh = status(&budget, selected.iter(), workload.replicas);
            if budget.status != Some(fresh) {
                let mut updated = budget.clone();
                updated.status = Some(fresh);
                writes.push((full.clone(), updated, stored.resource_version));
            }
        }
        for (full, updated, rv) in writes {
            let (ns, name) = split_name(&full);
            let op = ApiOp::put(ns, name, &updated, Some(rv));
            self.writes.send(ctx, op, full);
        }
    }
}
