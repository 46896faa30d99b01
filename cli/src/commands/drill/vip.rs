//! The VIP holder's crash: the holder powered off, the VIP probed with TCP connects, the
//! holder booted again (`provision::drill::lab_vip`).
//!
//! Predicted by the simulator's keepalived and haproxy on the cluster's control-plane hosts
//! with ready stand-in API servers (the VIP differential test's world), the crash landing at
//! `--seeds` points spread over one advertisement interval: the time until another host holds
//! the VIP, and which. Observed: the time from the crash until a connection to the VIP's port
//! is accepted again (haproxy on the new holder accepts it), and who holds the VIP meanwhile.
//! The lab has no API servers, so the probe stops at haproxy's accept; with ready backends in
//! the model, the VIP's move is the whole of either side's outage.

// Without the lab only the stub `run` below is used; the prediction stays compiled so it
// cannot rot.
#![cfg_attr(not(feature = "libvirt"), allow(dead_code))]

use std::time::Duration;

use serde::Serialize;
use sim::engine::{Address, NullSink, SimConfig, SimDuration, SimTime, Simulation};
use sim::models::vip::APISERVER_MODEL;
use sim::models::vip::setup::add_vip;
use sim::models::vip::standin::ReadyBackend;
use topology::fault::Fault;
use topology::policy::vrrp;

/// How long the world runs after its first master before the crash (the check script has
/// run and haproxy has checked every server), as in the VIP differential test.
pub const SETTLE: Duration = Duration::from_millis(2500);
/// Bound on waiting for the simulated takeover.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(20);

/// One simulated crash.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VipPrediction {
    /// Where in the advertisement interval the crash landed (0..1).
    pub advert_phase: f64,
    /// From the crash until another host held the VIP (seconds in JSON).
    #[serde(serialize_with = "provision::drill::tcp_probe::seconds")]
    pub takeover: Duration,
    /// That host.
    pub new_holder: String,
}

/// The simulated crash of `holder`, at `runs` phases spread over one advert interval.
pub fn predict(
    cluster: &topology::Cluster,
    holder: &str,
    runs: u64,
) -> miette::Result<Vec<VipPrediction>> {
    let err =
        |what: &str, e: &dyn std::fmt::Display| miette::miette!("the simulated VIP ({what}): {e}");
    let order = vrrp::priority_order(cluster);
    let advert = Duration::from_secs(u64::from(
        cluster.spec.api_endpoint.vrrp.advert_interval_seconds,
    ));
    let first = vrrp::master_down_interval(advert, vrrp::base_priority(0));
    let vip = Address::new(cluster.spec.api_endpoint.vip.to_string());
    (0..runs)
        .map(|k| {
            let mut sim = Simulation::new(SimConfig::new(k + 1));
            for h in &cluster.spec.hosts {
                sim.add_host(&h.name).map_err(|e| err("hosts", &e))?;
            }
            for h in &order {
                let id = sim
                    .host_id(&h.name)
                    .ok_or_else(|| miette::miette!("the simulated VIP: no host {}", h.name))?;
                sim.add_actor(id, APISERVER_MODEL, Box::new(ReadyBackend))
                    .map_err(|e| err("stand-ins", &e))?;
            }
            add_vip(&mut sim, cluster, None).map_err(|e| err("keepalived", &e))?;
            let advert_phase = k as f64 / runs as f64;
            let at =
                SimTime::ZERO + SimDuration::from(first + SETTLE + advert.mul_f64(advert_phase));
            sim.schedule_fault(
                at,
                Fault::HostCrash {
                    host: holder.to_owned(),
                },
            )
            .map_err(|e| err("the crash", &e))?;
            let step = SimDuration::from_millis(1);
            let limit = at + SimDuration::from(TAKEOVER_LIMIT);
            let mut t = at;
            while t < limit {
                t += step;
                sim.run_until(t, &mut NullSink);
                let now_holder = sim.address_holder(&vip).and_then(|e| {
                    let dir = sim.directory();
                    dir.actor_host(e.actor).map(|h| dir.host_name(h).to_owned())
                });
                if let Some(h) = now_holder.filter(|h| h != holder) {
                    return Ok(VipPrediction {
                        advert_phase,
                        takeover: Duration::from_nanos((t - at).as_nanos()),
                        new_holder: h,
                    });
                }
            }
            Err(miette::miette!(
                "the simulator never moved the VIP off {holder} within {TAKEOVER_LIMIT:?}"
            ))
        })
        .collect()
}

#[cfg(feature = "libvirt")]
mod observe;
#[cfg(feature = "libvirt")]
pub use observe::run;

#[cfg(not(feature = "libvirt"))]
pub fn run(
    _args: &super::DrillArgs,
    _cluster: &topology::Cluster,
) -> miette::Result<std::process::ExitCode> {
    Err(super::without_lab())
}
