//! The EndpointSlice controller (`pkg/controller/endpointslice`): each workload's Service gets
//! one EndpointSlice listing its pods, written whenever a pod change alters it.
//!
//! - A pod is listed once it has an address (`ShouldPodBeInEndpoints` wants `status.podIP`):
//!   here, once it is bound to a node (the sandbox, like the containers, starts in no time).
//!   Terminating pods stay listed (`includeTerminating`, the default since 1.26), flagged.
//! - Conditions as `podToEndpoint` sets them: `serving` is the pod's Ready condition, `ready`
//!   is serving and not terminating, `terminating` is a set `deletionTimestamp`.
//! - `--endpointslice-updates-batch-period` defaults to 0: a pod change syncs at once.
//!   Upstream's Service selects pods by label; here a workload's Service selects its pods
//!   (the Service `render` writes beside each workload), and the slice is named after it.
//!
//! Writes go through [`SyncWrites`]: a Service changed while its slice write is in flight is
//! synced again when the write ends, and a failed or conflicting write is retried through
//! the controllers' rate limiter (one shared limiter here, 5 ms doubling; upstream's is per
//! Service, 1 s doubling to 1000 s). It shares the workload controllers' Pod and workload
//! informers.

use std::collections::BTreeMap;

use super::api::{ApiOp, Stored, split_name};
use super::informer::{ApiPath, Informer};
use super::objects::{EndpointRecord, EndpointSliceRecord, PodRecord, WorkloadRecord};
use super::writes::{SyncOutcome as Outcome, SyncWrites};
use crate::engine::{Ctx, Event, Port, route_to};

/// The slices' informer's port.
const SLICES_PORT: Port = Port(15);
/// The port slice writes go out and come back on.
const WRITES_PORT: Port = Port(16);

/// The endpoints of workload `owner`'s Service among `pods` (`namespace/name` -> pod, all in
/// the workload's namespace), in pod order.
pub fn endpoints<'a>(
    owner: &str,
    pods: impl Iterator<Item = (&'a String, PodRecord)>,
) -> Vec<EndpointRecord> {
    pods.filter(|(_, p)| p.owner == owner && !p.node.is_empty())
        .map(|(name, p)| {
            let terminating = p.deleted.is_some();
            EndpointRecord {
                pod: name.clone(),
                node: p.node.clone(),
                ready: p.ready && !terminating,
                serving: p.ready,
                terminating,
            }
        })
        .collect()
}

/// The controller.
#[derive(Debug)]
pub struct EndpointSliceController {
    slices: Informer,
    writes: SyncWrites,
}

impl Default for EndpointSliceController {
    fn default() -> Self {
        EndpointSliceController {
            slices: Informer::new::<EndpointSliceRecord>("", ApiPath::Local),
            writes: SyncWrites::new(ApiPath::Local, WRITES_PORT),
        }
    }
}

impl EndpointSliceController {
    /// Leadership won.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.stop();
        self.slices.start(&mut ctx.scoped(SLICES_PORT));
    }

    /// Leadership lost.
    pub fn stop(&mut self) {
        self.slices.stop();
        self.writes.clear();
    }

    /// Takes the event if it is the controller's, and says what it brought.
    pub fn offer<'e>(&mut self, ctx: &mut Ctx<'_>, event: Event<'e>) -> Result<Outcome, Event<'e>> {
        let event = match route_to(&mut self.slices, SLICES_PORT, ctx, event) {
            Ok(changes) if changes.is_empty() => return Ok(Outcome::Nothing),
            Ok(_) => return Ok(Outcome::Changed),
            Err(e) => e,
        };
        route_to(&mut self.writes, WRITES_PORT, ctx, event).map(|done| self.writes.ended(&done))
    }

    /// Writes the slice of every workload (in `workloads`) whose endpoints among `pods`
    /// differ from its stored slice, creating missing ones.
    pub fn sync(
        &mut self,
        ctx: &mut Ctx<'_>,
        pods: &BTreeMap<String, Stored>,
        workloads: &BTreeMap<String, Stored>,
    ) {
        if !self.slices.synced() {
            return;
        }
        let mut writes = Vec::new();
        for full in workloads.keys() {
            if workloads[full].object::<WorkloadRecord>().is_none() || self.writes.in_flight(full) {
                continue;
            }
            let (ns, owner) = split_name(full);
            let prefix = format!("{ns}/");
            let fresh = EndpointSliceRecord {
                endpoints: endpoints(
                    owner,
                    pods.iter()
                        .filter(|(n, _)| n.starts_with(&prefix))
                        .filter_map(|(n, s)| Some((n, s.object::<PodRecord>()?))),
                ),
            };
            let stored = self.slices.objects().get(full);
            let current = stored.and_then(Stored::object::<EndpointSliceRecord>);
            if current.as_ref() != Some(&fresh) {
                writes.push((full.clone(), fresh, stored.map(|s| s.resource_version)));
            }
        }
        for (full, slice, rv) in writes {
            let (ns, name) = split_name(&full);
            let op = ApiOp::put(ns, name, &slice, rv);
            self.writes.send(ctx, op, full);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SimTime;

    fn pod(owner: &str, node: &str, ready: bool, deleted: bool) -> PodRecord {
        let mut p = PodRecord::new(owner, [Some(300), Some(300)]);
        p.node = node.to_owned();
        p.ready = ready;
        p.deleted = deleted.then_some(SimTime::from_nanos(1));
        p
    }

    #[test]
    fn endpoints_carry_the_conditions_pod_to_endpoint_sets() {
        let pods: Vec<(String, PodRecord)> = vec![
            ("default/web-a".into(), pod("web", "n1", true, false)),
            ("default/web-b".into(), pod("web", "n2", false, false)),
            ("default/web-c".into(), pod("web", "n3", true, true)),
            ("default/web-d".into(), pod("web", "", false, false)),
            ("default/kv-0".into(), pod("kv", "n1", true, false)),
        ];
        let got = endpoints("web", pods.iter().map(|(n, p)| (n, p.clone())));
        let flags: Vec<(&str, &str, bool, bool, bool)> = got
            .iter()
            .map(|e| {
                (
                    e.pod.as_str(),
                    e.node.as_str(),
                    e.ready,
                    e.serving,
                    e.terminating,
                )
            })
            .collect();
        assert_eq!(
            flags,
            vec![
                // Ready: listed ready and serving.
                ("default/web-a", "n1", true, true, false),
                // Not Ready yet: listed, neither ready nor serving.
                ("default/web-b", "n2", false, false, false),
                // Ready and being deleted: serving, terminating, not ready.
                ("default/web-c", "n3", false, true, true),
                // web-d has no node (no address): not listed; kv-0 is another Service's.
            ]
        );
    }
}
