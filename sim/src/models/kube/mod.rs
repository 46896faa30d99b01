//! The Kubernetes control plane: today the kube-apiserver's readiness as haproxy sees it
//! ([`apiserver`], its etcd health checks in [`etcd_check`]). Leader election and the node
//! lifecycle build on it.

pub mod apiserver;
pub mod etcd_check;
