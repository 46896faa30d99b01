//! The world the control-plane tests share: the default topology's hosts, a three-member etcd
//! on the control-plane hosts, and an apiserver on each, given its local member as kubeadm
//! does.

use sim::engine::{Fact, NullSink, SimConfig, SimDuration, SimTime, Simulation};
use sim::models::etcd::{ClientConfig, EtcdSimConfig, add_members_and_clients};
use sim::models::kube::apiserver::{ApiserverConfig, KubeApiserver};
use sim::models::kube::kubelet::RENEW_JITTER;
use sim::models::vip::APISERVER_MODEL;
use topology::policy::vrrp;

/// The world, the topology and its control-plane hosts in VRRP priority order.
pub fn etcd_and_apiservers(seed: u64) -> (Simulation, topology::Cluster, Vec<String>) {
    let cluster = topology::default_cluster().expect("default topology");
    let mut sim = Simulation::new(SimConfig::new(seed));
    for h in &cluster.spec.hosts {
        sim.add_host(&h.name).expect("host");
    }
    let cp: Vec<String> = vrrp::priority_order(&cluster)
        .iter()
        .map(|h| h.name.clone())
        .collect();
    let members: Vec<&str> = cp.iter().map(String::as_str).collect();
    add_members_and_clients(
        &mut sim,
        EtcdSimConfig::default(),
        &members,
        &[],
        &ClientConfig::default(),
    )
    .expect("etcd");
    for h in &cp {
        let id = sim.host_id(h).expect("host");
        let api = KubeApiserver::new(ApiserverConfig::default());
        sim.add_actor(id, APISERVER_MODEL, Box::new(api))
            .expect("apiserver");
    }
    (sim, cluster, cp)
}

/// `s` seconds after the start.
/// The full scenario world of `cluster` run with `faults` until `end`; every invariant held.
pub fn run_world(
    cluster: &topology::Cluster,
    seed: u64,
    faults: &[(SimTime, topology::fault::Fault)],
    end: SimTime,
) -> Simulation {
    let mut sim = sim::scenario::run::build_world(cluster, seed).expect("world");
    for (at, f) in faults {
        sim.schedule_fault(*at, f.clone()).expect("fault");
    }
    sim.run_until(end, &mut NullSink);
    sim.finish(&mut NullSink);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim
}

pub fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

/// Every fact of type `T` the run stated, with its time.
pub fn facts<T: Clone + Fact>(sim: &Simulation) -> Vec<(SimTime, T)> {
    sim.log()
        .iter()
        .filter_map(|e| Some((e.time, e.fact_record()?.get::<T>()?.clone())))
        .collect()
}

/// When the first fact of type `T` after `after` that `pick` accepts came.
pub fn first<T: Clone + Fact>(
    sim: &Simulation,
    after: SimTime,
    pick: impl Fn(&T) -> bool,
) -> Option<SimTime> {
    facts::<T>(sim)
        .into_iter()
        .find(|(t, f)| *t > after && pick(f))
        .map(|(t, _)| t)
}

/// The node-lifecycle timers of `cluster`, as the tests bound their expectations with them.
pub struct Timers {
    pub grace: SimDuration,
    pub period: SimDuration,
    pub toleration: SimDuration,
    /// The longest jittered kubelet lease renew interval.
    pub renew_max: SimDuration,
}

impl Timers {
    /// The latest a dead node's pods are evicted after its crash: Unknown one to two monitor
    /// periods after the grace period, the NoExecute taint one period later, the toleration
    /// from there.
    pub fn latest_eviction(&self) -> SimDuration {
        self.grace + self.period + self.period + self.period + self.toleration
    }

    pub fn of(cluster: &topology::Cluster) -> Self {
        let cp = &cluster.spec.control_plane;
        let nl = &cp.node_lifecycle;
        let s = |v: u32| SimDuration::from_secs(u64::from(v));
        let renew = SimDuration::from_millis(u64::from(nl.node_lease_duration_seconds) * 250);
        Timers {
            grace: s(cp.node_monitor_grace_period_seconds()),
            period: s(nl.node_monitor_period_seconds),
            toleration: s(nl.unreachable_toleration_seconds),
            renew_max: SimDuration::from_nanos(
                (renew.as_nanos() as f64 * (1.0 + RENEW_JITTER)) as u64,
            ),
        }
    }
}
