//! TLS PKI for the cluster: certificate authorities and the certificates issued from them.
//!
//! Keys are generated once into the [`SecretStore`](crate::secrets::SecretStore) and reused;
//! certificates are stored beside them with a descriptor of what they were issued for, and
//! are reissued only when that changes (new SANs, a new CA key) or they near expiry. So
//! rendering twice from the same state directory gives identical bytes. Keys are ECDSA P-256,
//! which kubeadm and etcd accept (kubeadm does not take Ed25519). The clock is passed in by the
//! caller: nothing here reads the wall clock.

mod etcd;
mod issue;
pub(crate) use issue::p256_key_from_pem;

pub use etcd::{
    APISERVER_ETCD_CLIENT_COMMON_NAME, ETCD_CA_COMMON_NAME, ETCD_HEALTHCHECK_CLIENT_COMMON_NAME,
    EtcdPki, MemberCerts, SYSTEM_PRIVILEGED_GROUP, ensure_etcd_pki,
};
pub use issue::{
    CA_VALIDITY, CERTIFICATE_BACKDATE, CertProfile, CertUsage, IssuedCert, LEAF_VALIDITY,
    RENEW_WITHIN, ensure_ca, ensure_leaf,
};

use crate::render::etcd::EtcdRenderError;
use crate::secrets::SecretError;

/// Errors while issuing certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing the state directory failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// rcgen could not build, parse or sign something.
    #[error("{what}: {source}")]
    Rcgen {
        /// What was being done.
        what: String,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// A validity period that does not fit in the date range.
    #[error("certificate validity for {stem} overflows the date range")]
    TimeOutOfRange {
        /// The certificate's file stem.
        stem: String,
    },
    /// The etcd cluster description is invalid.
    #[error(transparent)]
    Cluster(#[from] EtcdRenderError),
}
