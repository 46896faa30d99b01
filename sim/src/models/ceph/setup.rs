//! Adding the Ceph model to a simulation: a `ceph-mon` on every mon host (rank = topology
//! order), a `ceph-osd` on every host with OSD disks, a `ceph-client` on the client host, and
//! the three Ceph invariants. The caller has already added every topology host by name.

use topology::Cluster;

use super::checks::{CephActors, CephCleanAfterHeal, CephIoAvailability, CephNoLostWrite};
use super::client::CephClient;
use super::layout::{CephError, CephLayout, CephSimConfig};
use super::mon::{CLIENT_MODEL, CephMon, MON_MODEL, OSD_MODEL};
use super::osd::CephOsdHost;
use crate::engine::{SimDuration, Simulation};

/// Time after the last fault by which every PG must be active+clean again: the topology's
/// down-out interval (a returning OSD may have been out), which also leaves room for backfill.
pub fn clean_after_heal_settle(layout: &CephLayout) -> SimDuration {
    SimDuration::from_secs(layout.knobs.down_out_interval_secs)
}

/// Adds the Ceph actors for `cluster` to `sim` and registers the Ceph invariants.
pub fn add_ceph(
    sim: &mut Simulation,
    cluster: &Cluster,
    cfg: &CephSimConfig,
) -> Result<CephActors, CephError> {
    let layout = CephLayout::from_cluster(cluster, cfg)?;
    let host = |sim: &Simulation, name: &str| {
        sim.host_id(name)
            .ok_or_else(|| CephError::MissingHost(name.to_owned()))
    };
    let mut mons = Vec::new();
    for (rank, name) in layout.mons.iter().enumerate() {
        let h = host(sim, name)?;
        mons.push(sim.add_actor(h, MON_MODEL, Box::new(CephMon::new(layout.clone(), rank)))?);
    }
    let mut osd_hosts = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for osd in &layout.osds {
        if seen.contains(&osd.host.as_str()) {
            continue;
        }
        seen.push(&osd.host);
        let h = host(sim, &osd.host)?;
        osd_hosts.push(sim.add_actor(
            h,
            OSD_MODEL,
            Box::new(CephOsdHost::new(layout.clone(), &osd.host)),
        )?);
    }
    let h = host(sim, &layout.client_host)?;
    let client = sim.add_actor(h, CLIENT_MODEL, Box::new(CephClient::new(layout.clone())))?;
    let actors = CephActors {
        layout,
        mons,
        osd_hosts,
        client,
    };
    sim.add_invariant(Box::new(CephNoLostWrite::new(actors.clone())));
    sim.add_invariant(Box::new(CephIoAvailability::new(actors.clone())));
    let settle = clean_after_heal_settle(&actors.layout);
    sim.add_invariant(Box::new(CephCleanAfterHeal::new(actors.clone(), settle)));
    Ok(actors)
}

/// Whether `cluster` has what [`add_ceph`] needs: a mon, an OSD disk and a pool.
pub fn cluster_has_ceph(cluster: &Cluster) -> bool {
    cluster.hosts_with(topology::Role::CephMon).next().is_some()
        && cluster
            .hosts_with(topology::Role::CephOsd)
            .any(|h| !h.disks.is_empty())
        && !cluster.spec.ceph.pools.is_empty()
}
