//! etcd member configuration: a systemd unit and an environment file per member.
//!
//! The seed runs an external three-member etcd cluster with TLS on both the client and the peer
//! URLs. This module turns a small plain description of the cluster ([`EtcdCluster`]; the
//! topology is mapped onto it by the caller) plus the issued PKI into the files each member
//! needs. Flags are passed as `ETCD_*` environment variables from an `EnvironmentFile`, which
//! etcd 3.4 reads natively and which is how Debian's `etcd-server` package configures etcd
//! (`/etc/default/etcd`). The same values are what the tests feed to a real etcd, so the files
//! rendered here are exactly what is proven to form a healthy cluster.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::{FileContents, RenderedFile};
use crate::pki::EtcdPki;

/// Default heartbeat interval: 100 ms ("By default, etcd uses a 100ms heartbeat interval",
/// <https://etcd.io/docs/v3.4/tuning/>).
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u32 = 100;
/// Default election timeout: 1000 ms ("By default, etcd uses a 1000ms election timeout",
/// <https://etcd.io/docs/v3.4/tuning/>).
pub const DEFAULT_ELECTION_TIMEOUT_MS: u32 = 1000;
/// etcd refuses an election timeout below 5 heartbeat intervals (etcd 3.4
/// `embed.Config.Validate`: "--election-timeout[..] should be at least as 5 times as
/// --heartbeat-interval").
pub const MIN_ELECTION_TO_HEARTBEAT_RATIO: u32 = 5;
/// etcd refuses an election timeout above 50 000 ms (etcd 3.4 `embed.Config.Validate`; tuning
/// docs: "The upper limit of election timeout is 50000ms (50s)").
pub const MAX_ELECTION_TIMEOUT_MS: u32 = 50_000;
/// Default `--snapshot-count`: 100 000 applied entries between snapshots (etcd 3.4 and 3.5
/// "Configuration flags"; the topology's default is the same upstream value).
pub const DEFAULT_SNAPSHOT_COUNT: u64 = topology::defaults::ETCD_SNAPSHOT_COUNT;
/// IANA-registered etcd client port, 2379 (<https://etcd.io/docs/v3.4/op-guide/configuration/>).
pub const CLIENT_PORT: u16 = 2379;
/// IANA-registered etcd peer port, 2380 (<https://etcd.io/docs/v3.4/op-guide/configuration/>).
pub const PEER_PORT: u16 = 2380;
/// The etcd binary installed by Debian's `etcd-server` package.
pub const DEBIAN_ETCD_BINARY: &str = "/usr/bin/etcd";

/// One etcd member as the renderer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// Member (and host) name: a DNS label, used as `--name` and as a certificate SAN.
    pub name: String,
    /// The address the member listens on and advertises.
    pub address: IpAddr,
    /// The host's fully qualified name, added to the certificates' SANs when given.
    pub fqdn: Option<String>,
}

/// The cluster-wide etcd settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdCluster {
    /// The members, in topology order.
    pub members: Vec<EtcdMember>,
    /// `--initial-cluster-token`: keeps separate clusters from joining each other.
    pub token: String,
    /// `--heartbeat-interval` in milliseconds.
    pub heartbeat_interval_ms: u32,
    /// `--election-timeout` in milliseconds.
    pub election_timeout_ms: u32,
    /// `--pre-vote`: rendered explicitly, because etcd 3.4 (Debian 12) defaults it off and 3.5
    /// on, and the simulator must run what the hosts run.
    pub pre_vote: bool,
    /// `--snapshot-count`: applied entries between snapshots (and so how much raft log a
    /// member keeps in memory and how far behind a follower can fall before it needs a snapshot).
    pub snapshot_count: u64,
}

/// Where files go on a member host. [`EtcdLayout::debian`] is the production layout; tests
/// root it in a temporary directory to run several members on one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdLayout {
    /// The etcd executable.
    pub etcd_binary: PathBuf,
    /// The systemd unit file.
    pub unit_path: PathBuf,
    /// The environment file holding the `ETCD_*` flags.
    pub env_file: PathBuf,
    /// Directory for the CA, server, peer and health-check client certificates and keys.
    pub pki_dir: PathBuf,
    /// `--data-dir`.
    pub data_dir: PathBuf,
}

impl EtcdLayout {
    /// Debian's layout (package `etcd-server`), with certificates under `/etc/etcd/pki`.
    pub fn debian() -> Self {
        Self::rooted(Path::new("/"))
    }

    /// The Debian layout below `root` instead of `/` (the binary stays `/usr/bin/etcd`).
    pub fn rooted(root: &Path) -> Self {
        Self {
            etcd_binary: PathBuf::from(DEBIAN_ETCD_BINARY),
            unit_path: root.join("etc/systemd/system/etcd.service"),
            env_file: root.join("etc/default/etcd"),
            pki_dir: root.join("etc/etcd/pki"),
            data_dir: root.join("var/lib/etcd"),
        }
    }

    /// CA certificate path.
    pub fn ca_cert(&self) -> PathBuf {
        self.pki_dir.join("ca.crt")
    }

    /// Path of a certificate `<stem>.crt`.
    pub fn cert(&self, stem: &str) -> PathBuf {
        self.pki_dir.join(format!("{stem}.crt"))
    }

    /// Path of a private key `<stem>.key`.
    pub fn key(&self, stem: &str) -> PathBuf {
        self.pki_dir.join(format!("{stem}.key"))
    }
}

/// File stem of the server certificate and key.
pub const SERVER_STEM: &str = "server";
/// File stem of the peer certificate and key.
pub const PEER_STEM: &str = "peer";
/// File stem of the health-check (etcdctl) client certificate and key.
pub const HEALTHCHECK_STEM: &str = "healthcheck-client";

/// Errors in the etcd description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdRenderError {
    /// No members.
    #[error("etcd needs at least one member")]
    NoMembers,
    /// A name that is not a lowercase DNS label.
    #[error("etcd member name {name:?} must be a DNS label (a-z, 0-9, '-', at most 63 chars)")]
    BadName {
        /// The name.
        name: String,
    },
    /// Two members with the same name.
    #[error("etcd member name {name:?} is used twice")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Two members with the same address.
    #[error("etcd member address {address} is used twice")]
    DuplicateAddress {
        /// The address.
        address: IpAddr,
    },
    /// A token that is empty or has characters unsafe in an environment file.
    #[error("initial-cluster-token {token:?} must be non-empty [A-Za-z0-9._-]")]
    BadToken {
        /// The token.
        token: String,
    },
    /// Timing etcd itself would reject.
    #[error(
        "election timeout {election_ms} ms must be at least {MIN_ELECTION_TO_HEARTBEAT_RATIO} x \
         the heartbeat interval ({heartbeat_ms} ms) and at most {MAX_ELECTION_TIMEOUT_MS} ms"
    )]
    BadTiming {
        /// Heartbeat interval.
        heartbeat_ms: u32,
        /// Election timeout.
        election_ms: u32,
    },
    /// `--snapshot-count 0`, which etcd silently replaces with its default.
    #[error("etcd snapshot count must be positive (etcd treats 0 as its default, 100000)")]
    ZeroSnapshotCount,
    /// A member the PKI has no certificates for.
    #[error("no certificates issued for etcd member {name:?}")]
    MissingCerts {
        /// The member.
        name: String,
    },
    /// A member name not in the cluster.
    #[error("{name:?} is not an etcd member")]
    UnknownMember {
        /// The name.
        name: String,
    },
    /// A path or value that cannot be written into an environment file unquoted.
    #[error("value {value:?} for {key} contains whitespace, quotes or control characters")]
    UnsafeValue {
        /// The variable.
        key: String,
        /// The value.
        value: String,
    },
}

impl EtcdCluster {
    /// A cluster with etcd's default timing.
    pub fn with_defaults(members: Vec<EtcdMember>, token: impl Into<String>) -> Self {
        Self {
            members,
            token: token.into(),
            heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
            election_timeout_ms: DEFAULT_ELECTION_TIMEOUT_MS,
            pre_vote: topology::defaults::ETCD_PRE_VOTE,
            snapshot_count: DEFAULT_SNAPSHOT_COUNT,
        }
    }

    /// Checks the description against what etcd accepts.
    pub fn validate(&self) -> Result<(), EtcdRenderError> {
        if self.members.is_empty() {
            return Err(EtcdRenderError::NoMembers);
        }
        let mut names = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for m in &self.members {
            if !is_dns_label(&m.name) {
                return Err(EtcdRenderError::BadName {
                    name: m.name.clone(),
                });
            }
            if !names.insert(m.name.as_str()) {
                return Err(EtcdRenderError::DuplicateName {
                    name: m.name.clone(),
                });
            }
            if !addresses.insert(m.address) {
                return Err(EtcdRenderError::DuplicateAddress { address: m.address });
            }
        }
        let token_ok = !self.token.is_empty()
            && self
                .token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !token_ok {
            return Err(EtcdRenderError::BadToken {
                token: self.token.clone(),
            });
        }
        let (hb, el) = (self.heartbeat_interval_ms, self.election_timeout_ms);
        if hb == 0
            || u64::from(el) < u64::from(hb) * u64::from(MIN_ELECTION_TO_HEARTBEAT_RATIO)
            || el > MAX_ELECTION_TIMEOUT_MS
        {
            return Err(EtcdRenderError::BadTiming {
                heartbeat_ms: hb,
                election_ms: el,
            });
        }
        if self.snapshot_count == 0 {
            return Err(EtcdRenderError::ZeroSnapshotCount);
        }
        Ok(())
    }

    /// `--initial-cluster`: `name=https://addr:2380,...` in member order.
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.name, url(m.address, PEER_PORT)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The client URLs of every member, for `etcdctl --endpoints` and the API server.
    pub fn client_endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| url(m.address, CLIENT_PORT))
            .collect()
    }
}

/// `https://addr:port`, with brackets around IPv6 addresses.
pub fn url(address: IpAddr, port: u16) -> String {
    match address {
        IpAddr::V4(a) => format!("https://{a}:{port}"),
        IpAddr::V6(a) => format!("https://[{a}]:{port}"),
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The `ETCD_*` variables for `member`, in a fixed order.
pub fn member_environment(
    cluster: &EtcdCluster,
    member: &str,
    layout: &EtcdLayout,
) -> Result<Vec<(String, String)>, EtcdRenderError> {
    cluster.validate()?;
    let m = cluster
        .members
        .iter()
        .find(|m| m.name == member)
        .ok_or_else(|| EtcdRenderError::UnknownMember {
            name: member.to_owned(),
        })?;
    let path = |p: PathBuf| p.display().to_string();
    let client_url = url(m.address, CLIENT_PORT);
    let loopback_url = url(IpAddr::from([127, 0, 0, 1]), CLIENT_PORT);
    let peer_url = url(m.address, PEER_PORT);
    let vars: Vec<(&str, String)> = vec![
        ("ETCD_NAME", m.name.clone()),
        ("ETCD_DATA_DIR", path(layout.data_dir.clone())),
        ("ETCD_LISTEN_PEER_URLS", peer_url.clone()),
        (
            "ETCD_LISTEN_CLIENT_URLS",
            format!("{client_url},{loopback_url}"),
        ),
        ("ETCD_INITIAL_ADVERTISE_PEER_URLS", peer_url),
        ("ETCD_ADVERTISE_CLIENT_URLS", client_url),
        ("ETCD_INITIAL_CLUSTER", cluster.initial_cluster()),
        ("ETCD_INITIAL_CLUSTER_STATE", "new".to_owned()),
        ("ETCD_INITIAL_CLUSTER_TOKEN", cluster.token.clone()),
        (
            "ETCD_HEARTBEAT_INTERVAL",
            cluster.heartbeat_interval_ms.to_string(),
        ),
        (
            "ETCD_ELECTION_TIMEOUT",
            cluster.election_timeout_ms.to_string(),
        ),
        ("ETCD_PRE_VOTE", cluster.pre_vote.to_string()),
        ("ETCD_SNAPSHOT_COUNT", cluster.snapshot_count.to_string()),
        ("ETCD_CERT_FILE", path(layout.cert(SERVER_STEM))),
        ("ETCD_KEY_FILE", path(layout.key(SERVER_STEM))),
        ("ETCD_TRUSTED_CA_FILE", path(layout.ca_cert())),
        ("ETCD_CLIENT_CERT_AUTH", "true".to_owned()),
        ("ETCD_PEER_CERT_FILE", path(layout.cert(PEER_STEM))),
        ("ETCD_PEER_KEY_FILE", path(layout.key(PEER_STEM))),
        ("ETCD_PEER_TRUSTED_CA_FILE", path(layout.ca_cert())),
        ("ETCD_PEER_CLIENT_CERT_AUTH", "true".to_owned()),
        // etcd 3.4 defaults to the deprecated capnslog logger and warns; zap is the successor.
        ("ETCD_LOGGER", "zap".to_owned()),
        ("ETCD_LOG_OUTPUTS", "stderr".to_owned()),
    ];
    vars.into_iter()
        .map(|(k, v)| {
            if v.is_empty()
                || v.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"'\\$`".contains(c))
            {
                Err(EtcdRenderError::UnsafeValue {
                    key: k.to_owned(),
                    value: v,
                })
            } else {
                Ok((k.to_owned(), v))
            }
        })
        .collect()
}

/// The systemd unit running etcd from the environment file.
pub fn unit(member: &str, layout: &EtcdLayout) -> String {
    format!(
        "# Rendered by spofless for etcd member {member}. Flags live in {env}.\n\
         [Unit]\n\
         Description=etcd member {member} (spofless)\n\
         Documentation=https://etcd.io/docs/v3.4/op-guide/configuration/\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=notify\n\
         User=etcd\n\
         EnvironmentFile={env}\n\
         ExecStart={bin}\n\
         Restart=on-failure\n\
         RestartSec=5s\n\
         LimitNOFILE=65536\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        env = layout.env_file.display(),
        bin = layout.etcd_binary.display(),
    )
}

/// Every file etcd member `member` needs: unit, environment file, CA, server, peer and
/// health-check client certificates and keys.
pub fn render_member(
    cluster: &EtcdCluster,
    member: &str,
    pki: &EtcdPki,
    layout: &EtcdLayout,
) -> Result<Vec<RenderedFile>, EtcdRenderError> {
    let env = member_environment(cluster, member, layout)?;
    let certs = pki
        .member(member)
        .ok_or_else(|| EtcdRenderError::MissingCerts {
            name: member.to_owned(),
        })?;
    let mut env_text = format!("# etcd flags for member {member}, rendered by spofless.\n");
    for (k, v) in &env {
        env_text.push_str(&format!("{k}={v}\n"));
    }
    let public = |path: PathBuf, text: &str| RenderedFile {
        path,
        mode: 0o644,
        contents: FileContents::Public(text.to_owned()),
    };
    let secret = |path: PathBuf, key: &crate::secrets::Secret| RenderedFile {
        path,
        mode: 0o600,
        contents: FileContents::Secret(key.clone()),
    };
    Ok(vec![
        public(layout.unit_path.clone(), &unit(member, layout)),
        public(layout.env_file.clone(), &env_text),
        public(layout.ca_cert(), &pki.ca.cert_pem),
        public(layout.cert(SERVER_STEM), &certs.server.cert_pem),
        secret(layout.key(SERVER_STEM), &certs.server.key),
        public(layout.cert(PEER_STEM), &certs.peer.cert_pem),
        secret(layout.key(PEER_STEM), &certs.peer.key),
        public(
            layout.cert(HEALTHCHECK_STEM),
            &pki.healthcheck_client.cert_pem,
        ),
        secret(layout.key(HEALTHCHECK_STEM), &pki.healthcheck_client.key),
    ])
}

/// [`render_member`] for every member with the Debian layout, in member order.
pub fn render_cluster(
    cluster: &EtcdCluster,
    pki: &EtcdPki,
) -> Result<Vec<(String, Vec<RenderedFile>)>, EtcdRenderError> {
    let layout = EtcdLayout::debian();
    cluster
        .members
        .iter()
        .map(|m| {
            Ok((
                m.name.clone(),
                render_member(cluster, &m.name, pki, &layout)?,
            ))
        })
        .collect()
}

/// Parses a systemd `EnvironmentFile` as rendered here: `KEY=VALUE` lines, `#` comments,
/// optional double quotes around the value. Returns the pairs in file order.
pub fn parse_environment_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cluster() -> EtcdCluster {
        EtcdCluster::with_defaults(
            (1..=3)
                .map(|i| EtcdMember {
                    name: format!("cp-{i}"),
                    address: IpAddr::from([10, 0, 0, i]),
                    fqdn: None,
                })
                .collect(),
            "tok-1",
        )
    }

    #[test]
    fn environment_has_tls_and_cluster_flags() {
        let env = member_environment(&cluster(), "cp-2", &EtcdLayout::debian()).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(
            get("ETCD_INITIAL_CLUSTER"),
            "cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380,cp-3=https://10.0.0.3:2380"
        );
        assert_eq!(get("ETCD_CLIENT_CERT_AUTH"), "true");
        assert_eq!(get("ETCD_PEER_CLIENT_CERT_AUTH"), "true");
        assert_eq!(get("ETCD_HEARTBEAT_INTERVAL"), "100");
        assert_eq!(get("ETCD_ELECTION_TIMEOUT"), "1000");
        assert_eq!(get("ETCD_KEY_FILE"), "/etc/etcd/pki/server.key");
        assert_eq!(get("ETCD_SNAPSHOT_COUNT"), "100000");
        let mut c = cluster();
        c.snapshot_count = 25_000;
        let env = member_environment(&c, "cp-1", &EtcdLayout::debian()).unwrap();
        assert!(env.contains(&("ETCD_SNAPSHOT_COUNT".to_owned(), "25000".to_owned())));
        c.snapshot_count = 0;
        assert_eq!(c.validate(), Err(EtcdRenderError::ZeroSnapshotCount));
    }

    #[test]
    fn invalid_clusters_are_rejected() {
        let mut c = cluster();
        c.election_timeout_ms = 400;
        assert!(matches!(
            c.validate(),
            Err(EtcdRenderError::BadTiming { .. })
        ));
        let mut c = cluster();
        c.members[1].name = "cp-1".into();
        assert!(matches!(
            c.validate(),
            Err(EtcdRenderError::DuplicateName { .. })
        ));
        let mut c = cluster();
        c.members[0].name = "CP_1".into();
        assert!(matches!(c.validate(), Err(EtcdRenderError::BadName { .. })));
    }

    #[test]
    fn environment_file_round_trips() {
        let parsed = parse_environment_file("# c\nA=1\n\nB=\"x y\"\n");
        assert_eq!(
            parsed,
            vec![("A".into(), "1".into()), ("B".into(), "x y".into())]
        );
        assert!(url("::1".parse().unwrap(), 2379).contains("[::1]"));
    }
}
