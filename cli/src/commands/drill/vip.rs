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
use sim::models::vip::drill::takeovers;
use topology::fault::Fault;

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

/// The simulated crash of `holder`, at `runs` phases spread over one advert interval
/// (`sim::models::vip::drill`).
pub fn predict(
    cluster: &topology::Cluster,
    holder: &str,
    runs: u64,
) -> miette::Result<Vec<VipPrediction>> {
    let crash = Fault::HostCrash {
        host: holder.to_owned(),
    };
    Ok(takeovers(cluster, holder, &crash, runs, TAKEOVER_LIMIT)
        .map_err(|e| miette::miette!("the simulated VIP: {e}"))?
        .into_iter()
        .map(|t| VipPrediction {
            advert_phase: t.advert_phase,
            takeover: t.after,
            new_holder: t.new_holder,
        })
        .collect())
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
