//! Adding the VIP models to a simulation: keepalived and haproxy on every control-plane host,
//! configured as `spofless render` configures them, and optionally the outside probe on a
//! host of the caller's choosing. The apiservers they balance to are added separately.

use topology::Cluster;

use super::haproxy::{Haproxy, HaproxyConfig};
use super::keepalived::{Keepalived, KeepalivedConfig};
use super::probe::{ApiProbe, ProbeConfig};
use super::{HAPROXY_MODEL, KEEPALIVED_MODEL};
use crate::engine::{ActorId, Address, EngineError, SimDuration, Simulation};

/// Model name of the probe.
pub const PROBE_MODEL: &str = "api-probe";
/// Time between probes (a model choice: fine enough to time a failover to 0.1 s).
pub const PROBE_INTERVAL: SimDuration = SimDuration::from_millis(100);
/// How long a probe waits (`kubectl`'s own request timeout is longer; one second tells a
/// working API from a failing one without overlapping many probes).
pub const PROBE_TIMEOUT: SimDuration = SimDuration::from_secs(1);

/// The actors [`add_vip`] added, by host.
#[derive(Clone, Debug, Default)]
pub struct VipActors {
    /// keepalived per control-plane host, in VRRP priority order.
    pub keepalived: Vec<(String, ActorId)>,
    /// haproxy per control-plane host, in the same order.
    pub haproxy: Vec<(String, ActorId)>,
    /// The probe, if one was asked for.
    pub probe: Option<ActorId>,
}

/// Why the VIP models could not be added.
#[derive(Debug, thiserror::Error)]
pub enum VipError {
    /// A host of the topology is not in the simulation.
    #[error("host {0} is not in the simulation")]
    MissingHost(String),
    /// The engine refused an actor.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Where and from when the outside probe asks the API through the VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeAt<'a> {
    /// The probe's host.
    pub host: &'a str,
    /// When its first probe goes out.
    pub from: SimDuration,
}

/// Adds keepalived and haproxy to every control-plane host of `cluster`, and the probe if
/// asked for.
pub fn add_vip(
    sim: &mut Simulation,
    cluster: &Cluster,
    probe: Option<ProbeAt<'_>>,
) -> Result<VipActors, VipError> {
    let host_id = |sim: &Simulation, h: &str| {
        sim.host_id(h)
            .ok_or_else(|| VipError::MissingHost(h.into()))
    };
    let haproxy = HaproxyConfig::for_cluster(cluster);
    let mut actors = VipActors::default();
    for host in topology::policy::vrrp::priority_order(cluster) {
        let Some(config) = KeepalivedConfig::for_host(cluster, host) else {
            continue;
        };
        let h = host_id(sim, &host.name)?;
        let k = sim.add_actor(h, KEEPALIVED_MODEL, Box::new(Keepalived::new(config)))?;
        let p = sim.add_actor(h, HAPROXY_MODEL, Box::new(Haproxy::new(haproxy.clone())))?;
        actors.keepalived.push((host.name.clone(), k));
        actors.haproxy.push((host.name.clone(), p));
    }
    if let Some(at) = probe {
        let h = host_id(sim, at.host)?;
        let api = &cluster.spec.api_endpoint;
        let config = ProbeConfig {
            vip: Address::new(api.vip.to_string()),
            path: api.health_check.clone().unwrap_or_default().path,
            interval: PROBE_INTERVAL,
            timeout: PROBE_TIMEOUT,
            start_after: at.from,
        };
        let p = sim.add_actor(h, PROBE_MODEL, Box::new(ApiProbe::new(config)))?;
        actors.probe = Some(p);
    }
    Ok(actors)
}
