//! The world the control-plane tests share: the default topology's hosts, a three-member etcd
//! on the control-plane hosts, and an apiserver on each, given its local member as kubeadm
//! does.

use sim::engine::{SimConfig, Simulation};
use sim::models::etcd::{ClientConfig, EtcdSimConfig, add_members_and_clients};
use sim::models::kube::apiserver::{ApiserverConfig, KubeApiserver};
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
