//! A fault of the VIP's holder, simulated over one advertisement interval: the world of the
//! VIP differential test and of `spofless drill vip-holder-crash` (keepalived and haproxy on
//! the control-plane hosts as rendered, ready stand-in API servers behind them), the fault
//! landing at evenly spread points of the one-second advert cycle, and the time until another
//! host holds the VIP.
//!
//! The spread is the point: a backup's master-down timer runs from the last advert it heard,
//! so where the fault falls in the cycle decides the takeover time, and a real fault falls
//! anywhere in it. A real observation is judged against the range these points span.

use std::time::Duration;

use topology::Cluster;
use topology::fault::Fault;
use topology::policy::vrrp;

use super::APISERVER_MODEL;
use super::setup::add_vip;
use super::standin::ReadyBackend;
use crate::engine::{Address, EngineError, NullSink, SimConfig, SimDuration, SimTime, Simulation};

/// How long the world runs after its first master before the fault: keepalived's check
/// script has run (its first result counts at once) and haproxy has checked every server.
pub const SETTLE: Duration = Duration::from_millis(2500);

/// One simulated fault of the holder.
#[derive(Debug, Clone, PartialEq)]
pub struct Takeover {
    /// Where in the advert interval the fault landed (0..1).
    pub advert_phase: f64,
    /// From the fault until another host held the VIP.
    pub after: Duration,
    /// That host.
    pub new_holder: String,
}

/// Why a simulated takeover was not found.
#[derive(Debug, thiserror::Error)]
pub enum TakeoverError {
    /// Building or running the world failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// keepalived and haproxy could not be added.
    #[error(transparent)]
    Vip(#[from] super::setup::VipError),
    /// A host of the cluster is missing from the world.
    #[error("no host {0} in the simulated world")]
    NoHost(String),
    /// Nobody else took the VIP within the limit.
    #[error(
        "the simulator never moved the VIP off {holder} within {limit:?} (fault at advert phase {phase})"
    )]
    Never {
        /// The holder.
        holder: String,
        /// The bound.
        limit: Duration,
        /// The advert phase of the fault.
        phase: f64,
    },
}

/// `fault` (aimed at `holder`, the first master) applied [`SETTLE`] after the first master,
/// at `points` phases spread over one advert interval, each in its own world (seed `k + 1`);
/// the takeover each time, polled every millisecond up to `limit`.
pub fn takeovers(
    cluster: &Cluster,
    holder: &str,
    fault: &Fault,
    points: u64,
    limit: Duration,
) -> Result<Vec<Takeover>, TakeoverError> {
    let order = vrrp::priority_order(cluster);
    let advert = Duration::from_secs(u64::from(
        cluster.spec.api_endpoint.vrrp.advert_interval_seconds,
    ));
    let first = vrrp::master_down_interval(advert, vrrp::base_priority(0));
    let vip = Address::new(cluster.spec.api_endpoint.vip.to_string());
    (0..points)
        .map(|k| {
            let mut sim = Simulation::new(SimConfig::new(k + 1));
            for h in &cluster.spec.hosts {
                sim.add_host(&h.name)?;
            }
            for h in &order {
                let id = sim
                    .host_id(&h.name)
                    .ok_or_else(|| TakeoverError::NoHost(h.name.clone()))?;
                sim.add_actor(id, APISERVER_MODEL, Box::new(ReadyBackend))?;
            }
            add_vip(&mut sim, cluster, None)?;
            let advert_phase = k as f64 / points as f64;
            let at =
                SimTime::ZERO + SimDuration::from(first + SETTLE + advert.mul_f64(advert_phase));
            sim.schedule_fault(at, fault.clone())?;
            let step = SimDuration::from_millis(1);
            let end = at + SimDuration::from(limit);
            let mut t = at;
            while t < end {
                t += step;
                sim.run_until(t, &mut NullSink);
                let now = sim.address_holder(&vip).and_then(|e| {
                    let dir = sim.directory();
                    dir.actor_host(e.actor).map(|h| dir.host_name(h).to_owned())
                });
                if let Some(h) = now.filter(|h| h != holder) {
                    return Ok(Takeover {
                        advert_phase,
                        after: Duration::from_nanos((t - at).as_nanos()),
                        new_holder: h,
                    });
                }
            }
            Err(TakeoverError::Never {
                holder: holder.to_owned(),
                limit,
                phase: advert_phase,
            })
        })
        .collect()
}
