//! Adding the control plane to a simulation: on every control-plane host a kube-apiserver
//! (given its local etcd member, as kubeadm does), keepalived and haproxy for the VIP, and a
//! kube-scheduler and a kube-controller-manager that elect their leaders through their local
//! apiserver (the scheduler's leader schedules; the controller manager's runs the node
//! lifecycle and workload controllers, which create the workloads' pods as the run starts);
//! a kubelet on every host renewing its node Lease, posting its Node and running its pods
//! through the VIP, and a kube-proxy programming the Services' endpoints from the VIP; on a
//! host of its own (outside the topology, so no fault of the cluster touches it) an outside
//! probe asking for `/readyz` through the VIP; and the leader and unhealthy-zone invariants.
//! The workloads are the topology's and kubeadm's CoreDNS ([`simulated_cluster`]).

use topology::Cluster;
use topology::policy::vrrp::priority_order;

use super::apiserver::{ApiserverConfig, KubeApiserver};
use super::apply::{Applier, manifests};
use super::checks::{BudgetsHold, NoTaintInUnhealthyZone, SingleLeaderPerLease};
use super::controller_manager::ControllerManager;
use super::drain::Drainer;
use super::elector::{ElectorConfig, LeaderCandidate, LeaderWork};
use super::kube_proxy::{KUBE_PROXY_MODEL, KubeProxy};
use super::kubelet::{Kubelet, KubeletConfig};
use super::kubelet_pods::ready_delays;
use super::node_lifecycle::{MonitorConfig, NodeMonitor};
use super::scheduling::{Scheduler, SchedulerConfig};
use super::workloads::{WorkloadControllers, workload_specs};
use crate::engine::{ActorId, Address, SimDuration, Simulation};
use crate::models::vip::APISERVER_MODEL;
use crate::models::vip::setup::{PROBE_INTERVAL, ProbeAt, VipActors, VipError, add_vip};

/// The probe's host, outside the topology.
pub const OUTSIDE_HOST: &str = "outside";
/// The leader-elected components, by process (and Lease) name.
pub const ELECTED: [&str; 2] = ["kube-scheduler", CONTROLLER_MANAGER];
/// kube-controller-manager, whose leader also runs the node lifecycle controller.
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";
/// Model (process) name of the kubelet.
pub const KUBELET_MODEL: &str = "kubelet";
/// Model name of the operator's script that applies the workloads once the nodes joined.
pub const APPLIER_MODEL: &str = "kubectl-apply";
/// Model name of the operator's `kubectl drain` / `kubectl uncordon`.
pub const DRAINER_MODEL: &str = "kubectl-drain";

/// What [`add_control_plane`] added.
#[derive(Clone, Debug, Default)]
pub struct ControlPlaneActors {
    /// (host, apiserver).
    pub apiservers: Vec<(String, ActorId)>,
    /// keepalived, haproxy and the probe.
    pub vip: VipActors,
    /// (host, component, candidate).
    pub candidates: Vec<(String, &'static str, ActorId)>,
    /// (host, kubelet) on every host.
    pub kubelets: Vec<(String, ActorId)>,
}

/// Whether `cluster` has what [`add_control_plane`] needs: a control-plane host and a VIP.
pub fn cluster_has_control_plane(cluster: &Cluster) -> bool {
    !priority_order(cluster).is_empty()
        && cluster.spec.api_endpoint.method != topology::ApiEndpointMethod::None
}

/// `cluster` as the simulator runs it: kubeadm's CoreDNS and the ingress controller (with the
/// topology's replica rules, as `render` writes them) first, then the topology's workloads,
/// so the controllers, the scheduler, the kubelets, drains and budgets treat them as any
/// other Deployment.
pub fn simulated_cluster(cluster: &Cluster) -> Cluster {
    let mut c = cluster.clone();
    let add_ons = [
        cluster.spec.coredns.workload(),
        cluster.spec.ingress.workload(),
    ];
    c.spec.workloads.splice(0..0, add_ons);
    c
}

/// Adds the control plane of `cluster` (whose hosts and etcd members `sim` already has).
pub fn add_control_plane(
    sim: &mut Simulation,
    cluster: &Cluster,
) -> Result<ControlPlaneActors, VipError> {
    add_control_plane_with(sim, cluster, &MonitorConfig::from_topology(cluster))
}

/// [`add_control_plane`] with the node lifecycle controller's settings given.
pub fn add_control_plane_with(
    sim: &mut Simulation,
    cluster: &Cluster,
    monitor: &MonitorConfig,
) -> Result<ControlPlaneActors, VipError> {
    let cluster = &simulated_cluster(cluster);
    let mut actors = ControlPlaneActors::default();
    let hosts: Vec<String> = priority_order(cluster)
        .iter()
        .map(|h| h.name.clone())
        .collect();
    let le = &cluster.spec.control_plane.leader_election;
    let scheduler = SchedulerConfig::from_topology(cluster);
    let workloads = workload_specs(cluster);
    for host in &hosts {
        let h = sim
            .host_id(host)
            .ok_or_else(|| VipError::MissingHost(host.clone()))?;
        let api = KubeApiserver::new(ApiserverConfig::default());
        actors.apiservers.push((
            host.clone(),
            sim.add_actor(h, APISERVER_MODEL, Box::new(api))?,
        ));
        for component in ELECTED {
            let config = ElectorConfig::from_topology(component, le);
            let work: Box<dyn LeaderWork> = if component == CONTROLLER_MANAGER {
                Box::new(ControllerManager::new(
                    NodeMonitor::new(monitor.clone()),
                    WorkloadControllers::new(workloads.clone()),
                ))
            } else {
                Box::new(Scheduler::new(scheduler.clone()))
            };
            let c = LeaderCandidate::with_work(config, work);
            actors.candidates.push((
                host.clone(),
                component,
                sim.add_actor(h, component, Box::new(c))?,
            ));
        }
    }
    let kubelet = KubeletConfig {
        vip: Address::new(cluster.spec.api_endpoint.vip.to_string()),
        lease_duration: SimDuration::from_secs(u64::from(
            cluster
                .spec
                .control_plane
                .node_lifecycle
                .node_lease_duration_seconds,
        )),
        ready_delays: ready_delays(cluster),
    };
    for host in &cluster.spec.hosts {
        let h = sim
            .host_id(&host.name)
            .ok_or_else(|| VipError::MissingHost(host.name.clone()))?;
        let k = sim.add_actor(h, KUBELET_MODEL, Box::new(Kubelet::new(kubelet.clone())))?;
        actors.kubelets.push((host.name.clone(), k));
        let proxy = KubeProxy::new(kubelet.vip.clone());
        sim.add_actor(h, KUBE_PROXY_MODEL, Box::new(proxy))?;
    }
    let outside = sim.add_host(OUTSIDE_HOST)?;
    let nodes = cluster.spec.hosts.iter().map(|h| h.name.clone()).collect();
    let applier = Applier::new(kubelet.vip.clone(), nodes, manifests(cluster));
    sim.add_actor(outside, APPLIER_MODEL, Box::new(applier))?;
    let drainer = Drainer::new(kubelet.vip.clone(), cluster);
    let drainer = sim.add_actor(outside, DRAINER_MODEL, Box::new(drainer))?;
    sim.add_operator(drainer);
    let probe = ProbeAt {
        host: OUTSIDE_HOST,
        from: PROBE_INTERVAL,
    };
    actors.vip = add_vip(sim, cluster, Some(probe))?;
    sim.add_invariant(Box::new(SingleLeaderPerLease::default()));
    sim.add_invariant(Box::new(BudgetsHold::new(cluster)));
    sim.add_invariant(Box::new(NoTaintInUnhealthyZone::new(
        cluster,
        monitor.unhealthy_zone_threshold,
    )));
    Ok(actors)
}
