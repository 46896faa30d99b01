//! kube-proxy on every node (iptables mode): an EndpointSlice informer through the API VIP
//! (kubeadm's kube-proxy kubeconfig points at the control-plane endpoint), and the node's
//! Service rules rewritten from it.
//!
//! - Syncs run through v1.34's `BoundedFrequencyRunner` (`pkg/proxy/runner`, k/k#131615): a
//!   change syncs at once unless the last sync was less than `minSyncPeriod` (1 s, the
//!   upstream default) ago, in which case one sync runs when that period is over; no bursts.
//!   (v1.29-v1.33's runner in `pkg/util/async` was a token bucket with `burstSyncs` 2, so a
//!   second change soon after the first went through at once there.) `syncPeriod` (30 s) is
//!   the retry interval after a failed sync and full resyncs come at most hourly
//!   (`proxyutil.FullSyncPeriod`); syncs never fail here and a resync rewrites the same rules,
//!   so neither is modelled.
//! - The endpoints a Service's rules send to (`pkg/proxy/topology.go`, traffic policy
//!   Cluster): its ready endpoints; when none is ready, its serving terminating ones
//!   (`ProxyTerminatingEndpoints`, GA in 1.28); else none, and the Service rejects.
//! - The rules live in the kernel: they outlive a kube-proxy that dies and are gone with a host
//!   that crashes. A kube-proxy that starts programs every Service at its first sync; the node
//!   routes by the [`ProxyRules`] facts it records when a Service's endpoints change.

use std::collections::BTreeMap;

use super::facts::ProxyRules;
use super::informer::{ApiPath, Informer};
use super::objects::{EndpointRecord, EndpointSliceRecord};
use crate::engine::{Address, Ctx, Event, Model, Port, SimDuration, SimTime, route_to};

/// Model (process) name.
pub const KUBE_PROXY_MODEL: &str = "kube-proxy";
/// `iptables.minSyncPeriod`.
pub const MIN_SYNC_PERIOD: SimDuration = SimDuration::from_secs(1);

const SLICES_PORT: Port = Port(30);

/// The endpoints (pods) a Service's rules send to, from its slice's `endpoints`.
pub fn routed(endpoints: &[EndpointRecord]) -> Vec<String> {
    let ready: Vec<String> = endpoints
        .iter()
        .filter(|e| e.ready)
        .map(|e| e.pod.clone())
        .collect();
    if !ready.is_empty() {
        return ready;
    }
    endpoints
        .iter()
        .filter(|e| e.serving && e.terminating)
        .map(|e| e.pod.clone())
        .collect()
}

/// A deferred sync, tagged with the process run it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SyncDue(u64);

/// One node's kube-proxy.
#[derive(Debug)]
pub struct KubeProxy {
    slices: Informer,
    /// What this run programmed, by Service (`namespace/name`).
    programmed: BTreeMap<String, Vec<String>>,
    last_sync: Option<SimTime>,
    sync_armed: bool,
    run: u64,
}

impl KubeProxy {
    /// A kube-proxy reaching the API through `vip`.
    pub fn new(vip: Address) -> Self {
        KubeProxy {
            slices: Informer::new::<EndpointSliceRecord>("", ApiPath::Vip(vip)),
            programmed: BTreeMap::new(),
            last_sync: None,
            sync_armed: false,
            run: 0,
        }
    }

    /// The bounded-frequency runner's `Run`: sync now, or once `minSyncPeriod` has passed.
    fn request_sync(&mut self, ctx: &mut Ctx<'_>) {
        let due = self
            .last_sync
            .map_or(ctx.now(), |last| last + MIN_SYNC_PERIOD);
        if due <= ctx.now() {
            self.sync(ctx);
        } else if !std::mem::replace(&mut self.sync_armed, true) {
            let wait = due.saturating_since(ctx.now());
            ctx.scoped(Port::MAIN).set_timer(wait, SyncDue(self.run));
        }
    }

    /// Rewrites the rules; records each Service whose endpoints changed.
    fn sync(&mut self, ctx: &mut Ctx<'_>) {
        if !self.slices.synced() {
            return;
        }
        self.last_sync = Some(ctx.now());
        let node = ctx.directory().host_name(ctx.host()).to_owned();
        let mut fresh: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (service, stored) in self.slices.objects() {
            if let Some(slice) = stored.object::<EndpointSliceRecord>() {
                fresh.insert(service.clone(), routed(&slice.endpoints));
            }
        }
        let gone: Vec<String> = self
            .programmed
            .keys()
            .filter(|s| !fresh.contains_key(*s))
            .cloned()
            .collect();
        for service in gone {
            self.programmed.remove(&service);
            ctx.fact(ProxyRules {
                node: node.clone(),
                service,
                endpoints: Vec::new(),
            });
        }
        for (service, endpoints) in fresh {
            if self.programmed.get(&service) != Some(&endpoints) {
                ctx.fact(ProxyRules {
                    node: node.clone(),
                    service: service.clone(),
                    endpoints: endpoints.clone(),
                });
                self.programmed.insert(service, endpoints);
            }
        }
    }
}

impl Model for KubeProxy {
    fn handle(&mut self, ctx: &mut Ctx<'_>, event: Event<'_>) {
        let event = match route_to(&mut self.slices, SLICES_PORT, ctx, event) {
            Ok(changes) => {
                if !changes.is_empty() || self.last_sync.is_none() {
                    self.request_sync(ctx);
                }
                return;
            }
            Err(e) => e,
        };
        match event {
            Event::Start { .. } => self.slices.start(&mut ctx.scoped(SLICES_PORT)),
            Event::Timer { tag, .. }
                if tag.downcast_ref::<SyncDue>() == Some(&SyncDue(self.run)) =>
            {
                self.sync_armed = false;
                self.sync(ctx);
            }
            _ => {}
        }
    }

    fn on_crash(&mut self) {
        self.run += 1;
        self.slices.stop();
        // The kernel keeps the rules while the host runs; a new process does not know them,
        // so its first sync states them all again.
        self.programmed.clear();
        self.last_sync = None;
        self.sync_armed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(pod: &str, ready: bool, serving: bool, terminating: bool) -> EndpointRecord {
        EndpointRecord {
            pod: pod.to_owned(),
            node: "n1".to_owned(),
            ready,
            serving,
            terminating,
        }
    }

    #[test]
    fn rules_send_to_ready_endpoints_else_to_serving_terminating_ones() {
        let mixed = [
            ep("a", true, true, false),
            ep("b", false, true, true),
            ep("c", false, false, false),
        ];
        assert_eq!(routed(&mixed), vec!["a".to_owned()]);
        let draining = [ep("b", false, true, true), ep("c", false, false, true)];
        assert_eq!(routed(&draining), vec!["b".to_owned()]);
        let none = [ep("c", false, false, false)];
        assert!(routed(&none).is_empty());
    }
}
