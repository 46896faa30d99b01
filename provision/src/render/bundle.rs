//! `spofless render`: the whole artifact tree for a cluster, from the topology and the secret
//! state directory.
//!
//! Everything here is a pure function of (topology, secret source, `now`): the secret source
//! is the [`SecretStore`] with the random source it was opened with (the OS's for the CLI, a
//! seeded one in tests). A missing secret is drawn from that source once and stored (0600);
//! every later render reuses it. Keys come from the source too and certificates are signed with
//! deterministic ECDSA (RFC 6979), so two fresh stores with the same seeded source render
//! byte-identical trees. `now` only decides certificate validity when a certificate is
//! (re)issued, and is passed in.

use std::path::PathBuf;

use rcgen::PublicKeyData;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use topology::{Cluster, Role};

use super::addons::render_layers;
use super::error::RenderError;
use super::etcd::{EtcdCluster, EtcdMember, render_cluster as render_etcd};
use super::explain::{Explained, explain};
use super::kubeadm::{
    APISERVER_ETCD_CLIENT_CERT, APISERVER_ETCD_CLIENT_KEY, CLUSTER_CA_CERT, CLUSTER_CA_KEY,
    ETCD_CA_PATH, KubeadmSecrets, init_host,
};
use super::kustomize::add_layers;
use super::tree::{PUBLIC_MODE, SECRET_MODE, Tree};
use super::{FileContents, RenderedFile, kubeadm, node, vip};
use crate::pki::{CertProfile, CertUsage, IssuedCert, ensure_ca, ensure_etcd_pki};
use crate::secrets::{RandomSource, Secret, SecretStore, random_bytes};

/// Common name of the cluster CA (kubeadm `certs.KubeadmCertRootCA`: "kubernetes").
pub const CLUSTER_CA_COMMON_NAME: &str = "kubernetes";
/// Alphabet of bootstrap token characters (kubeadm `bootstraputil`: `[a-z0-9]`).
const TOKEN_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Length of the token id and secret parts (`[a-z0-9]{6}.[a-z0-9]{16}`, kubeadm docs).
const TOKEN_ID_LEN: usize = 6;
const TOKEN_SECRET_LEN: usize = 16;
/// Bytes of the control-plane certificate key (kubeadm `CertificateKeySize = 32`).
const CERTIFICATE_KEY_BYTES: usize = 32;

/// A rendered cluster: the files and the explanation of every knob-driven setting.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Every file, keyed by its path under the output directory.
    pub tree: Tree,
    /// `--explain` lines.
    pub explain: Vec<Explained>,
}

fn token(random: &dyn RandomSource) -> std::io::Result<Secret> {
    // Rejection sampling keeps the characters uniform (252 = 7 * 36).
    let mut out = String::new();
    while out.len() < TOKEN_ID_LEN + TOKEN_SECRET_LEN {
        for b in random_bytes(random, 32)? {
            if b < 252 && out.len() < TOKEN_ID_LEN + TOKEN_SECRET_LEN {
                out.push(char::from(TOKEN_ALPHABET[usize::from(b % 36)]));
            }
        }
    }
    out.insert(TOKEN_ID_LEN, '.');
    Ok(Secret::new(out))
}

fn certificate_key(random: &dyn RandomSource) -> std::io::Result<Secret> {
    let hex: String = random_bytes(random, CERTIFICATE_KEY_BYTES)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Secret::new(hex))
}

/// kubeadm's CA pin: `sha256:` + hex SHA-256 of the CA's DER SubjectPublicKeyInfo.
pub fn ca_cert_hash(ca: &IssuedCert) -> Result<String, RenderError> {
    let (pair, _) = crate::pki::p256_key_from_pem(ca.key.expose(), "the cluster CA key")?;
    let digest = Sha256::digest(pair.subject_public_key_info());
    Ok(format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

/// The etcd description of the topology: its `etcd` hosts and timers.
pub fn etcd_cluster(cluster: &Cluster) -> EtcdCluster {
    let members = cluster
        .hosts_with(Role::Etcd)
        .map(|h| EtcdMember {
            name: h.name.clone(),
            address: h.address,
            fqdn: Some(cluster.fqdn(h)),
        })
        .collect();
    let mut etcd = EtcdCluster::with_defaults(members, format!("{}-etcd", cluster.metadata.name));
    etcd.heartbeat_interval_ms = cluster.spec.etcd.heartbeat_interval_ms;
    etcd.election_timeout_ms = cluster.spec.etcd.election_timeout_ms;
    etcd.pre_vote = cluster.spec.etcd.pre_vote;
    etcd.snapshot_count = cluster.spec.etcd.snapshot_count;
    etcd
}

fn public(path: &str, text: &str) -> RenderedFile {
    RenderedFile {
        path: PathBuf::from(path),
        mode: PUBLIC_MODE,
        contents: FileContents::Public(text.to_owned()),
    }
}

fn secret(path: &str, s: &Secret) -> RenderedFile {
    RenderedFile {
        path: PathBuf::from(path),
        mode: SECRET_MODE,
        contents: FileContents::Secret(s.clone()),
    }
}

/// Renders every artifact for `cluster`, reading secrets from `store` and drawing missing ones
/// from its random source.
pub fn render(
    cluster: &Cluster,
    store: &SecretStore,
    now: OffsetDateTime,
) -> Result<Rendered, RenderError> {
    let mut tree = Tree::new();
    let secrets = KubeadmSecrets {
        token: store.get_or_create("kubeadm-bootstrap-token", token)?,
        certificate_key: store.get_or_create("kubeadm-certificate-key", certificate_key)?,
        ca_cert_hash: String::new(),
    };
    let ca_profile = CertProfile {
        common_name: CLUSTER_CA_COMMON_NAME.to_owned(),
        organization: None,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        usage: CertUsage::Ca,
    };
    let cluster_ca = ensure_ca(store, "kubernetes-ca", &ca_profile, now)?;
    let secrets = KubeadmSecrets {
        ca_cert_hash: ca_cert_hash(&cluster_ca)?,
        ..secrets
    };

    let etcd = etcd_cluster(cluster);
    let etcd_pki = ensure_etcd_pki(store, &etcd, now)?;
    for (host, files) in render_etcd(&etcd, &etcd_pki)? {
        for f in files {
            tree.insert_host_file(&host, f)?;
        }
    }

    let first = init_host(cluster)?.name.clone();
    for host in &cluster.spec.hosts {
        for f in node::render_host(cluster, host)? {
            tree.insert_host_file(&host.name, f)?;
        }
        if host.has_role(Role::ControlPlane) {
            tree.insert_host_file(&host.name, public(ETCD_CA_PATH, &etcd_pki.ca.cert_pem))?;
            tree.insert_host_file(
                &host.name,
                public(
                    APISERVER_ETCD_CLIENT_CERT,
                    &etcd_pki.apiserver_etcd_client.cert_pem,
                ),
            )?;
            tree.insert_host_file(
                &host.name,
                secret(
                    APISERVER_ETCD_CLIENT_KEY,
                    &etcd_pki.apiserver_etcd_client.key,
                ),
            )?;
        }
        if host.name == first {
            tree.insert_host_file(&host.name, public(CLUSTER_CA_CERT, &cluster_ca.cert_pem))?;
            tree.insert_host_file(&host.name, secret(CLUSTER_CA_KEY, &cluster_ca.key))?;
        }
    }
    for (host, f) in kubeadm::render(cluster, &secrets)? {
        tree.insert_host_file(&host, f)?;
    }
    for (host, files) in vip::render(cluster)? {
        for f in files {
            tree.insert_host_file(&host, f)?;
        }
    }
    add_layers(&mut tree, render_layers(cluster)?)?;
    Ok(Rendered {
        tree,
        explain: explain(cluster),
    })
}
