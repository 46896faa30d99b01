//! The Kubernetes control plane: the kube-apiserver's readiness as haproxy sees it and the
//! Lease API ([`apiserver`], its etcd health checks in [`etcd_check`], objects in [`api`]),
//! and leader election of kube-scheduler and kube-controller-manager ([`elector`]) with its
//! invariant ([`checks`]); node heartbeats and status ([`kubelet`], [`node_status`]), the node
//! lifecycle controller ([`node_lifecycle`], [`zones`]) and taint-based eviction
//! ([`taint_eviction`]) over Node and Pod objects ([`objects`]); the workload controllers
//! ([`workloads`], with the node controllers in [`controller_manager`]), the scheduler
//! ([`scheduling`]) and the kubelet's pods ([`kubelet_pods`]); Services: the EndpointSlice
//! controller ([`endpointslice`]), every node's kube-proxy ([`kube_proxy`]) and the data path
//! they make ([`data_path`]); all reading the API through informers ([`informer`]) and
//! writing through [`writes`]; the operator applying the workloads ([`apply`]).

pub mod api;
pub mod apiserver;
pub mod apply;
pub mod availability;
pub mod checks;
pub mod controller_manager;
pub mod data_path;
pub mod disruption;
pub mod drain;
pub mod elector;
pub mod endpointslice;
pub mod etcd_check;
pub mod eviction;
pub mod facts;
pub mod informer;
pub mod kube_proxy;
pub mod kubelet;
pub mod kubelet_pods;
pub mod node_lifecycle;
pub mod node_status;
pub mod objects;
pub mod scheduling;
pub mod setup;
pub mod taint_eviction;
pub mod workloads;
pub mod writes;
pub mod zones;
