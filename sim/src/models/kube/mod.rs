//! The Kubernetes control plane: the kube-apiserver's readiness as haproxy sees it and the
//! Lease API ([`apiserver`], its etcd health checks in [`etcd_check`], objects in [`api`]),
//! and leader election of kube-scheduler and kube-controller-manager ([`elector`]) with its
//! invariant ([`checks`]); node heartbeats and status ([`kubelet`], [`node_status`]), the node
//! lifecycle controller ([`node_lifecycle`], [`zones`]) and taint-based eviction
//! ([`taint_eviction`]) over Node and Pod objects ([`objects`]).

pub mod api;
pub mod apiserver;
pub mod availability;
pub mod checks;
pub mod elector;
pub mod etcd_check;
pub mod facts;
pub mod kubelet;
pub mod node_lifecycle;
pub mod node_status;
pub mod objects;
pub mod pods;
pub mod setup;
pub mod taint_eviction;
pub mod zones;
