//! The etcd PKI as kubeadm lays it out for an external etcd: one etcd CA; per member a server
//! and a peer certificate; a health-check client for etcdctl; and the API server's client.

use std::net::IpAddr;

use time::OffsetDateTime;

use super::PkiError;
use super::issue::{CertProfile, CertUsage, IssuedCert, ensure_ca, ensure_leaf};
use crate::render::etcd::{EtcdCluster, EtcdMember};
use crate::secrets::SecretStore;

/// Common name of the etcd CA (kubeadm `certs.KubeadmCertEtcdCA`: "etcd-ca").
pub const ETCD_CA_COMMON_NAME: &str = "etcd-ca";
/// Common name of the etcd health-check client (kubeadm
/// `EtcdHealthcheckClientCertCommonName = "kube-etcd-healthcheck-client"`).
pub const ETCD_HEALTHCHECK_CLIENT_COMMON_NAME: &str = "kube-etcd-healthcheck-client";
/// Common name of the API server's etcd client (kubeadm
/// `APIServerEtcdClientCertCommonName = "kube-apiserver-etcd-client"`).
pub const APISERVER_ETCD_CLIENT_COMMON_NAME: &str = "kube-apiserver-etcd-client";
/// Organization of the API server's etcd client (kubeadm `SystemPrivilegedGroup =
/// "system:masters"`).
pub const SYSTEM_PRIVILEGED_GROUP: &str = "system:masters";

/// A member's server and peer certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCerts {
    /// Member name.
    pub name: String,
    /// Serves clients on 2379 (serverAuth + clientAuth: etcd 3.4's gRPC gateway dials its
    /// own server with it, and kubeadm issues it with both usages).
    pub server: IssuedCert,
    /// Serves and dials peers on 2380 (serverAuth + clientAuth).
    pub peer: IssuedCert,
}

/// Every certificate an external etcd cluster and its clients need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdPki {
    /// The etcd CA.
    pub ca: IssuedCert,
    /// Per member, in cluster order.
    pub members: Vec<MemberCerts>,
    /// Client certificate for etcdctl and health checks.
    pub healthcheck_client: IssuedCert,
    /// The API server's client certificate (`apiserver-etcd-client` in kubeadm's layout).
    pub apiserver_etcd_client: IssuedCert,
}

impl EtcdPki {
    /// The certificates of member `name`.
    pub fn member(&self, name: &str) -> Option<&MemberCerts> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// SANs of a member's server and peer certificates: its name, FQDN, address, and loopback.
fn member_profile(m: &EtcdMember) -> CertProfile {
    let mut dns_names = vec![m.name.clone()];
    dns_names.extend(m.fqdn.iter().cloned());
    dns_names.push("localhost".to_owned());
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let mut ip_addresses = vec![m.address];
    if m.address != loopback {
        ip_addresses.push(loopback);
    }
    CertProfile {
        common_name: m.name.clone(),
        organization: None,
        dns_names,
        ip_addresses,
        usage: CertUsage::ServerAndClient,
    }
}

fn client_profile(common_name: &str, organization: Option<&str>) -> CertProfile {
    CertProfile {
        common_name: common_name.to_owned(),
        organization: organization.map(str::to_owned),
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        usage: CertUsage::Client,
    }
}

/// Issues (or reuses from `store`) the etcd PKI for `cluster` at time `now`.
pub fn ensure_etcd_pki(
    store: &SecretStore,
    cluster: &EtcdCluster,
    now: OffsetDateTime,
) -> Result<EtcdPki, PkiError> {
    cluster.validate()?;
    let ca = ensure_ca(
        store,
        "etcd-ca",
        &client_profile(ETCD_CA_COMMON_NAME, None).with_usage(CertUsage::Ca),
        now,
    )?;
    let mut members = Vec::with_capacity(cluster.members.len());
    for m in &cluster.members {
        let profile = member_profile(m);
        members.push(MemberCerts {
            name: m.name.clone(),
            server: ensure_leaf(
                store,
                &format!("etcd-{}-server", m.name),
                &profile,
                &ca,
                now,
            )?,
            peer: ensure_leaf(store, &format!("etcd-{}-peer", m.name), &profile, &ca, now)?,
        });
    }
    let healthcheck_client = ensure_leaf(
        store,
        "etcd-healthcheck-client",
        &client_profile(ETCD_HEALTHCHECK_CLIENT_COMMON_NAME, None),
        &ca,
        now,
    )?;
    let apiserver_etcd_client = ensure_leaf(
        store,
        "apiserver-etcd-client",
        &client_profile(
            APISERVER_ETCD_CLIENT_COMMON_NAME,
            Some(SYSTEM_PRIVILEGED_GROUP),
        ),
        &ca,
        now,
    )?;
    Ok(EtcdPki {
        ca,
        members,
        healthcheck_client,
        apiserver_etcd_client,
    })
}
