//! etcd: the external three-member cluster the control plane stores its state in.
//!
//! Members run tikv's `raft` (a port of etcd's raft) under the engine's clock and RNG
//! ([`member`]); clients drive a put/get/txn workload and record a history for the
//! linearizability checker ([`client`]); Raft's safety and liveness properties are engine
//! invariants ([`checks`]); the `etcd` timeline lane and its leader-election gaps are derived
//! from the run's log ([`availability`]).

pub mod availability;
pub mod checks;
pub mod client;
pub mod config;
pub mod drill;
pub mod facts;
pub mod lessor;
pub mod member;
pub mod messages;
pub mod session;

use topology::{Cluster, Role};

use crate::engine::{ActorId, EngineError, Simulation};

pub use client::{ClientConfig, EtcdClient, MoveLeader};
pub use config::EtcdSimConfig;
pub use member::{EtcdMember, PlantedBug, WriteAck};
pub use messages::ReadMode;

/// Process name of a member (what `ProcessStop { process: "etcd" }` names).
pub const MODEL_NAME: &str = "etcd";
/// Process name of a workload client.
pub const CLIENT_MODEL_NAME: &str = "etcd-client";
pub use facts::{EtcdLeader, EtcdRole, RoleState};

/// The actors [`add_etcd`] created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdActors {
    /// Members, in Raft-id order (id = position + 1).
    pub members: Vec<ActorId>,
    /// Workload clients.
    pub clients: Vec<ActorId>,
}

/// Adds a member on every host of `cluster` with the `etcd` role, a workload client on every
/// control-plane host (standing in for kube-apiserver), and the etcd invariants. The hosts
/// must already exist in `sim` under their topology names.
pub fn add_etcd(
    sim: &mut Simulation,
    cluster: &Cluster,
    client: &ClientConfig,
) -> Result<EtcdActors, EngineError> {
    let config = EtcdSimConfig::from_spec(&cluster.spec.etcd);
    let hosts: Vec<&str> = cluster
        .spec
        .hosts
        .iter()
        .filter(|h| h.has_role(Role::Etcd))
        .map(|h| h.name.as_str())
        .collect();
    let client_hosts: Vec<&str> = cluster
        .spec
        .hosts
        .iter()
        .filter(|h| h.has_role(Role::ControlPlane))
        .map(|h| h.name.as_str())
        .collect();
    add_members_and_clients(sim, config, &hosts, &client_hosts, client)
}

/// Adds members on `member_hosts`, clients on `client_hosts` and the etcd invariants to `sim`.
pub fn add_members_and_clients(
    sim: &mut Simulation,
    config: EtcdSimConfig,
    member_hosts: &[&str],
    client_hosts: &[&str],
    client: &ClientConfig,
) -> Result<EtcdActors, EngineError> {
    let n = member_hosts.len() as u64;
    let mut actors = EtcdActors::default();
    for (host, id) in member_hosts.iter().zip(1u64..) {
        let h = sim.host_id(host).ok_or_else(|| unknown_host(host))?;
        actors.members.push(sim.add_actor(
            h,
            MODEL_NAME,
            Box::new(EtcdMember::new(config, id, n)),
        )?);
    }
    for host in client_hosts {
        let h = sim.host_id(host).ok_or_else(|| unknown_host(host))?;
        actors.clients.push(sim.add_actor(
            h,
            CLIENT_MODEL_NAME,
            Box::new(EtcdClient::new(client.clone())),
        )?);
    }
    if !actors.members.is_empty() {
        sim.add_invariant(Box::new(checks::SingleLeaderPerTerm::default()));
        sim.add_invariant(Box::new(checks::CommitHasMajority));
        sim.add_invariant(Box::new(checks::CommittedLogsAgree));
        sim.add_invariant(Box::new(checks::LeaderRestored::new(&config)));
        sim.add_invariant(Box::new(checks::MinorityWritesUnavailable::default()));
        sim.add_invariant(Box::new(checks::WritesRestored::new(&config)));
    }
    if !actors.clients.is_empty() {
        sim.add_invariant(Box::new(checks::ClientHistoryLinearizable));
    }
    Ok(actors)
}

fn unknown_host(host: &str) -> EngineError {
    EngineError::UnknownHost {
        fault: "etcd placement".to_owned(),
        host: host.to_owned(),
    }
}
