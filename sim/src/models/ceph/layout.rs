//! The static shape of a simulated Ceph cluster, derived once from the topology: which OSD id
//! lives on which host and disk, the monmap (mon hosts in rank order), the CRUSH map (one host
//! bucket per OSD host, weights in TiB as Ceph sets them, jewel tunables) and the pools. Every
//! Ceph actor shares one `Arc<CephLayout>`; it never changes during a run, so actors can map
//! PGs with it without talking to each other.

use std::fmt::Write as _;
use std::sync::Arc;

use topology::{Cluster, FailureDomain, Role};

use super::crush::{CrushError, CrushMap, Workspace};
use super::defaults::{FailureKnobs, MON_OSD_REPORTER_SUBTREE_LEVEL};
use super::pool::{OsdStates, PgMapping, Pool, map_pg};
use crate::engine::{EngineError, SimDuration};

/// Bytes in a GiB.
const GIB: u64 = 1 << 30;
/// Bytes in a MiB.
const MIB: u64 = 1 << 20;
/// GiB in a TiB: CRUSH weights are TiB (`ceph-volume` sets the weight from the size).
const GIB_PER_TIB: f64 = 1024.0;

/// Errors from building the Ceph part of a simulation.
#[derive(Debug, thiserror::Error)]
pub enum CephError {
    /// The topology has no OSD disks.
    #[error(
        "the topology has no ceph-osd host with disks; add `disks:` to a host with role ceph-osd"
    )]
    NoOsds,
    /// The topology has no monitors.
    #[error("the topology has no ceph-mon host; give at least one host the role ceph-mon")]
    NoMons,
    /// The topology has no pools.
    #[error("the topology has no Ceph pool; add one under spec.ceph.pools")]
    NoPools,
    /// A pool's size or min_size cannot work.
    #[error(
        "pool `{pool}`: size {size} and min_size {min_size} must satisfy 1 <= min_size <= size"
    )]
    BadPool {
        /// Pool name.
        pool: String,
        /// Replicas.
        size: usize,
        /// Replicas needed for I/O.
        min_size: usize,
    },
    /// The generated CRUSH map did not compile (a bug in the generator).
    #[error("generated CRUSH map is invalid: {0}")]
    Crush(#[from] CrushError),
    /// A host named by the topology was not added to the simulation first.
    #[error("host `{0}` is not in the simulation; add every topology host before add_ceph")]
    MissingHost(String),
    /// The client host is not in the topology.
    #[error("client host `{0}` is not a topology host")]
    UnknownClientHost(String),
    /// A pool restricted to a device class that no OSD disk has: Ceph refuses such a rule
    /// ("device class does not exist"), and without the check every PG would map to nothing.
    #[error(
        "pool `{pool}` asks for device class `{class}`, but no ceph-osd disk has that class \
         (classes present: {present}); set `deviceClass` on a disk or change the pool"
    )]
    MissingDeviceClass {
        /// Pool name.
        pool: String,
        /// The class asked for.
        class: String,
        /// Classes the OSD disks have, comma-separated.
        present: String,
    },
    /// The engine refused an actor.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Settings of the Ceph simulation that the topology does not carry.
#[derive(Clone, Debug, PartialEq)]
pub struct CephSimConfig {
    /// Host the client I/O actor runs on; `None` picks the last worker that is not a mon (the
    /// cheapest place, like a kernel RBD client on a worker), else the last host.
    pub client_host: Option<String>,
    /// Time between client writes.
    pub write_interval: SimDuration,
    /// Bytes one client write adds (one RBD object).
    pub object_bytes: u64,
    /// Planted bug for the checks' own test: the primary acknowledges a write as soon as it
    /// applied it locally, without waiting for the replicas.
    pub planted_ack_after_primary_only: bool,
    /// Backfills an OSD runs at once on each side (`osd_max_backfills`); defaults to Ceph's
    /// [`super::defaults::OSD_MAX_BACKFILLS`].
    pub osd_max_backfills: usize,
}

impl Default for CephSimConfig {
    fn default() -> Self {
        CephSimConfig {
            client_host: None,
            write_interval: SimDuration::from_millis(200),
            object_bytes: super::defaults::RBD_OBJECT_BYTES,
            planted_ack_after_primary_only: false,
            osd_max_backfills: super::defaults::OSD_MAX_BACKFILLS,
        }
    }
}

/// One OSD: its id, host and disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsdDef {
    /// OSD id (`osd.N`), numbered in topology order of hosts and disks.
    pub id: i32,
    /// Host name.
    pub host: String,
    /// Disk device path.
    pub disk: String,
    /// The disk's Ceph device class (decides the OSD's recovery sleep).
    pub class: topology::DeviceClass,
}

/// A pool as the simulation uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPool {
    /// Name from the topology.
    pub name: String,
    /// Placement parameters.
    pub pool: Pool,
    /// Bytes each PG holds before the run (the pool's `dataGib` spread over its PGs).
    pub base_bytes_per_pg: u64,
}

/// A placement group: pool id and PG number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PgId {
    /// Pool id.
    pub pool: u32,
    /// PG number within the pool.
    pub ps: u32,
}

impl std::fmt::Display for PgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&super::pool::pgid(self.pool, self.ps))
    }
}

/// The static cluster every Ceph actor shares.
#[derive(Debug)]
pub struct CephLayout {
    /// OSDs in id order.
    pub osds: Vec<OsdDef>,
    /// Mon host names in rank order.
    pub mons: Vec<String>,
    /// The CRUSH map.
    pub crush: CrushMap,
    /// Pools, pool id = index + 1.
    pub pools: Vec<SimPool>,
    /// Host of the client I/O actor.
    pub client_host: String,
    /// Recovery bandwidth per OSD in bytes per second.
    pub recovery_bytes_per_sec: u64,
    /// Failure detection settings from the topology (`spec.ceph`).
    pub knobs: FailureKnobs,
    /// Per OSD id: the CRUSH bucket of type [`MON_OSD_REPORTER_SUBTREE_LEVEL`] holding it, the
    /// unit in which the monitors count distinct failure reporters.
    pub reporter_subtree: Vec<String>,
    /// Simulation settings.
    pub config: CephSimConfig,
}

impl CephLayout {
    /// Derives the layout from `cluster`.
    pub fn from_cluster(cluster: &Cluster, config: &CephSimConfig) -> Result<Arc<Self>, CephError> {
        let mut osds = Vec::new();
        for host in cluster.hosts_with(Role::CephOsd) {
            for disk in &host.disks {
                osds.push(OsdDef {
                    id: osds.len() as i32,
                    host: host.name.clone(),
                    disk: disk.device.clone(),
                    class: disk.device_class,
                });
            }
        }
        if osds.is_empty() {
            return Err(CephError::NoOsds);
        }
        let mons: Vec<String> = cluster
            .hosts_with(Role::CephMon)
            .map(|h| h.name.clone())
            .collect();
        if mons.is_empty() {
            return Err(CephError::NoMons);
        }
        if cluster.spec.ceph.pools.is_empty() {
            return Err(CephError::NoPools);
        }
        let crush = CrushMap::from_text(&crush_text(cluster))?;
        let present: Vec<&str> = cluster
            .hosts_with(Role::CephOsd)
            .flat_map(|h| h.disks.iter().map(|d| d.device_class.as_str()))
            .collect();
        for p in &cluster.spec.ceph.pools {
            if let Some(class) = p.device_class.map(|c| c.as_str())
                && !present.contains(&class)
            {
                let mut known: Vec<&str> = present.clone();
                known.sort_unstable();
                known.dedup();
                return Err(CephError::MissingDeviceClass {
                    pool: p.name.clone(),
                    class: class.to_owned(),
                    present: known.join(", "),
                });
            }
        }
        let mut pools = Vec::new();
        for (i, p) in cluster.spec.ceph.pools.iter().enumerate() {
            let size = usize::from(p.size);
            let min_size = usize::from(p.effective_min_size());
            if min_size == 0 || min_size > size {
                return Err(CephError::BadPool {
                    pool: p.name.clone(),
                    size,
                    min_size,
                });
            }
            let rule = rule_id(p.failure_domain, p.device_class.map(|c| c.as_str()));
            let mut pool = Pool::replicated(i as u32 + 1, rule);
            pool.size = size;
            pool.min_size = min_size;
            pool.pg_num = p.pg_num.max(1);
            pool.pgp_num = pool.pg_num;
            pools.push(SimPool {
                name: p.name.clone(),
                base_bytes_per_pg: p.data_gib.saturating_mul(GIB) / u64::from(pool.pg_num),
                pool,
            });
        }
        let client_host = match &config.client_host {
            Some(h) if cluster.host(h).is_some() => h.clone(),
            Some(h) => return Err(CephError::UnknownClientHost(h.clone())),
            None => cluster
                .spec
                .hosts
                .iter()
                .rev()
                .find(|h| h.has_role(Role::Worker) && !h.has_role(Role::CephMon))
                .or_else(|| cluster.spec.hosts.last())
                .map(|h| h.name.clone())
                .ok_or(CephError::NoOsds)?,
        };
        let reporter_subtree = osds
            .iter()
            .map(|o| {
                ancestor_of_type(&crush, o.id, MON_OSD_REPORTER_SUBTREE_LEVEL)
                    .unwrap_or_else(|| format!("osd.{}", o.id))
            })
            .collect();
        Ok(Arc::new(CephLayout {
            knobs: FailureKnobs::from_spec(&cluster.spec.ceph),
            reporter_subtree,
            osds,
            mons,
            crush,
            pools,
            client_host,
            recovery_bytes_per_sec: u64::from(cluster.spec.ceph.recovery_mibps.max(1)) * MIB,
            config: config.clone(),
        }))
    }

    /// Every PG of every pool, in (pool, ps) order.
    pub fn pgs(&self) -> impl Iterator<Item = PgId> + '_ {
        self.pools.iter().flat_map(|p| {
            (0..p.pool.pg_num).map(move |ps| PgId {
                pool: p.pool.id,
                ps,
            })
        })
    }

    /// The pool with id `id`.
    pub fn pool(&self, id: u32) -> Option<&SimPool> {
        self.pools.get(id.checked_sub(1)? as usize)
    }

    /// Host of OSD `osd`.
    pub fn osd_host(&self, osd: i32) -> &str {
        self.osds
            .get(osd.max(0) as usize)
            .map(|o| o.host.as_str())
            .unwrap_or("")
    }

    /// The failure-reporting subtree of OSD `osd` (its host bucket by default).
    pub fn reporter_subtree(&self, osd: i32) -> &str {
        self.reporter_subtree
            .get(osd.max(0) as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// OSD ids on `host`.
    pub fn osds_on(&self, host: &str) -> Vec<i32> {
        self.osds
            .iter()
            .filter(|o| o.host == host)
            .map(|o| o.id)
            .collect()
    }

    /// Maps every PG under `states`, in [`CephLayout::pgs`] order.
    pub fn map_all(&self, states: &OsdStates) -> Vec<(PgId, PgMapping)> {
        let weights = states.weights();
        let mut ws = Workspace::new();
        self.pgs()
            .filter_map(|pg| Some((pg, self.map_with(pg, states, &weights, &mut ws)?)))
            .collect()
    }

    /// Maps one PG under `states` (what [`CephLayout::map_all`] gives for it, without mapping
    /// the others).
    pub fn map_one(&self, pg: PgId, states: &OsdStates) -> Option<PgMapping> {
        self.map_with(pg, states, &states.weights(), &mut Workspace::new())
    }

    /// Maps `pg` with `states`' CRUSH weights and a workspace the caller may reuse.
    fn map_with(
        &self,
        pg: PgId,
        states: &OsdStates,
        weights: &[u32],
        ws: &mut Workspace,
    ) -> Option<PgMapping> {
        let pool = &self.pool(pg.pool)?.pool;
        Some(map_pg(&self.crush, ws, pool, pg.ps, states, weights))
    }

    /// Bytes a PG holds at `version` (number of client writes applied).
    pub fn pg_bytes(&self, pg: PgId, version: u64) -> u64 {
        let base = self.pool(pg.pool).map_or(0, |p| p.base_bytes_per_pg);
        base.saturating_add(version.saturating_mul(self.config.object_bytes))
    }
}

/// The name of the bucket of type `type_name` above `item` in `crush` (shadow trees skipped),
/// as `CrushWrapper::get_parent_of_type` finds it.
fn ancestor_of_type(crush: &CrushMap, item: i32, type_name: &str) -> Option<String> {
    let want = crush
        .types
        .iter()
        .find(|(_, n)| n.as_str() == type_name)
        .map(|(id, _)| *id)?;
    let mut cur = item;
    // Each step climbs one level; a tree has fewer levels than buckets.
    for _ in 0..crush.buckets.len() {
        let parent = crush
            .buckets
            .iter()
            .flatten()
            .find(|b| !b.is_shadow() && b.items.contains(&cur))?;
        if parent.type_id == want {
            return Some(parent.name.clone());
        }
        cur = parent.id;
    }
    None
}

/// Rule id for a failure domain and optional device class: rules are written in this order.
fn rule_id(domain: FailureDomain, class: Option<&str>) -> u32 {
    let d = match domain {
        FailureDomain::Host => 0,
        FailureDomain::Osd => 1,
    };
    let c = match class {
        None => 0,
        Some("hdd") => 1,
        Some("ssd") => 2,
        Some(_) => 3,
    };
    c * 2 + d
}

/// The CRUSH map Ceph builds for this topology, as `crushtool -d` prints it: jewel tunables,
/// one host bucket per OSD host, a `default` root, and replicated rules per failure domain and
/// device class.
fn crush_text(cluster: &Cluster) -> String {
    let mut s = String::new();
    for (k, v) in [
        ("choose_local_tries", 0),
        ("choose_local_fallback_tries", 0),
        ("choose_total_tries", 50),
        ("chooseleaf_descend_once", 1),
        ("chooseleaf_vary_r", 1),
        ("chooseleaf_stable", 1),
        ("straw_calc_version", 1),
        ("allowed_bucket_algs", 54),
    ] {
        let _ = writeln!(s, "tunable {k} {v}");
    }
    let mut id = 0;
    for host in cluster.hosts_with(Role::CephOsd) {
        for disk in &host.disks {
            let _ = writeln!(
                s,
                "device {id} osd.{id} class {}",
                disk.device_class.as_str()
            );
            id += 1;
        }
    }
    s.push_str("type 0 osd\ntype 1 host\ntype 11 root\n");
    let mut id = 0;
    let mut root_items = String::new();
    let mut bucket = -2;
    for host in cluster.hosts_with(Role::CephOsd) {
        if host.disks.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "host {} {{\n\tid {bucket}\n\talg straw2\n\thash 0",
            host.name
        );
        let mut total = 0.0;
        for disk in &host.disks {
            let w = disk.size_gib as f64 / GIB_PER_TIB;
            total += w;
            let _ = writeln!(s, "\titem osd.{id} weight {w:.5}");
            id += 1;
        }
        s.push_str("}\n");
        let _ = writeln!(root_items, "\titem {} weight {total:.5}", host.name);
        bucket -= 1;
    }
    let _ = write!(
        s,
        "root default {{\n\tid -1\n\talg straw2\n\thash 0\n{root_items}}}\n"
    );
    let present: std::collections::BTreeSet<&str> = cluster
        .hosts_with(Role::CephOsd)
        .flat_map(|h| h.disks.iter().map(|d| d.device_class.as_str()))
        .collect();
    let classes = [None, Some("hdd"), Some("ssd"), Some("nvme")];
    // Ceph rejects a rule that takes a class no device has.
    for class in classes
        .into_iter()
        .filter(|c| c.is_none_or(|c| present.contains(c)))
    {
        for (domain, dname) in [(FailureDomain::Host, "host"), (FailureDomain::Osd, "osd")] {
            let rid = rule_id(domain, class);
            let take = class.map_or("default".to_owned(), |c| format!("default class {c}"));
            let _ = writeln!(
                s,
                "rule r{rid} {{\n\tid {rid}\n\ttype replicated\n\tstep take {take}\n\t\
                 step chooseleaf firstn 0 type {dname}\n\tstep emit\n}}"
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cluster_layout() {
        let cluster = topology::default_cluster().expect("default topology");
        let layout = CephLayout::from_cluster(&cluster, &CephSimConfig::default()).expect("layout");
        assert_eq!(layout.osds.len(), 5);
        assert_eq!(layout.mons.len(), 3);
        assert_eq!(layout.client_host, "blackboar");
        let mapped = layout.map_all(&OsdStates::all_up_in(5));
        assert_eq!(mapped.len(), 32);
        for (pg, m) in &mapped {
            assert_eq!(m.up.len(), 3, "{pg}: {:?}", m.up);
            let hosts: std::collections::BTreeSet<&str> =
                m.up.iter().map(|o| layout.osd_host(*o)).collect();
            assert_eq!(hosts.len(), 3, "one replica per host");
        }
        assert_eq!(layout.pools[0].base_bytes_per_pg, 40 * GIB / 32);
    }

    #[test]
    fn mapping_one_pg_agrees_with_mapping_all() {
        let cluster = topology::default_cluster().expect("default topology");
        let layout = CephLayout::from_cluster(&cluster, &CephSimConfig::default()).expect("layout");
        let mut states = OsdStates::all_up_in(5);
        states.osds[1].up = false;
        states.osds[3].weight = 0;
        for (pg, m) in layout.map_all(&states) {
            assert_eq!(layout.map_one(pg, &states), Some(m), "{pg}");
        }
    }

    #[test]
    fn pool_asking_for_an_absent_device_class_is_an_error() {
        let mut cluster = topology::default_cluster().expect("default topology");
        // Every default disk is ssd; a pool asking for hdd has nowhere to go.
        cluster.spec.ceph.pools[0].device_class = Some(topology::DeviceClass::Hdd);
        let err =
            CephLayout::from_cluster(&cluster, &CephSimConfig::default()).expect_err("no hdd OSD");
        match &err {
            CephError::MissingDeviceClass {
                pool,
                class,
                present,
            } => {
                assert_eq!(pool, "replicapool");
                assert_eq!(class, "hdd");
                assert_eq!(present, "ssd");
            }
            other => panic!("wrong error {other:?}"),
        }
        assert!(err.to_string().contains("`replicapool`"), "{err}");
        // The class that exists still works and maps every PG to a full up set.
        cluster.spec.ceph.pools[0].device_class = Some(topology::DeviceClass::Ssd);
        let layout = CephLayout::from_cluster(&cluster, &CephSimConfig::default()).expect("ssd");
        let mapped = layout.map_all(&OsdStates::all_up_in(5));
        assert!(mapped.iter().all(|(_, m)| m.up.len() == 3));
    }

    #[test]
    fn reporters_count_by_host_bucket_and_knobs_come_from_the_topology() {
        let mut cluster = topology::default_cluster().expect("default topology");
        cluster.spec.ceph.osd_heartbeat_grace_seconds = 33;
        cluster.spec.ceph.min_down_reporters = 1;
        let layout = CephLayout::from_cluster(&cluster, &CephSimConfig::default()).expect("layout");
        for o in &layout.osds {
            assert_eq!(layout.reporter_subtree(o.id), o.host);
        }
        assert_eq!(layout.knobs.heartbeat_grace_secs, 33);
        assert_eq!(layout.knobs.min_down_reporters, 1);
        assert_eq!(
            layout.knobs.down_out_interval_secs,
            u64::from(topology::defaults::CEPH_DOWN_OUT_INTERVAL_S)
        );
    }
}
