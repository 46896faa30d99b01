//! A real etcd cluster on a [`Testbed`], started from exactly what `render::etcd` produced.
//!
//! The PKI is issued into a state directory, each member's files are rendered with a layout
//! rooted in a scratch directory and written with their rendered modes, and each daemon is
//! started by reading the written unit's `ExecStart=` and `EnvironmentFile=` back: nothing
//! about how etcd runs is decided here, so a healthy cluster proves the rendered artifacts.
//! Serves the render check (issue 6), the etcd differential test and later the drills.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use crate::exec::{self, Command, Output};
use crate::pki::{EtcdPki, PkiError, ensure_etcd_pki};
use crate::render::RenderedFile;
use crate::render::etcd::{
    EtcdCluster, EtcdLayout, EtcdMember, EtcdRenderError, HEALTHCHECK_STEM, parse_environment_file,
    render_member,
};
use crate::secrets::SecretStore;
use crate::testbed::{DaemonId, DaemonSpec, NetnsError, Testbed};

/// etcdctl's `--dial-timeout` for probes.
const DIAL_TIMEOUT: &str = "1s";

/// Debian binaries the etcd lab runs, with the package that ships each.
pub const ETCD_TOOLS: [(&str, &str); 2] = [("etcd", "etcd-server"), ("etcdctl", "etcd-client")];

/// Errors while building or probing an etcd lab.
#[derive(Debug, thiserror::Error)]
pub enum EtcdLabError {
    /// Namespace harness failure.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A Debian etcd binary is not installed.
    #[error("`/usr/bin/{tool}` is missing: install the Debian package `{package}`")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// Certificate issuance failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] EtcdRenderError),
    /// Writing or reading a rendered file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The rendered unit lacks a line we need.
    #[error("rendered unit {path} has no {key}= line")]
    Unit {
        /// The unit file.
        path: PathBuf,
        /// The missing key.
        key: &'static str,
    },
    /// A fault could not be applied (or is not expressible where the cluster runs).
    #[error(transparent)]
    Inject(#[from] crate::inject::InjectError),
}

/// Runs `etcdctl` with a client certificate, inside a network namespace where the members'
/// addresses live (the bed's client host, the isolated lab's namespace) or in this one.
#[derive(Debug, Clone)]
pub struct EtcdClient {
    namespace: Option<String>,
    tls: [PathBuf; 3],
}

impl EtcdClient {
    /// A client running in `namespace` (`None`: this one) with CA, certificate and key `tls`.
    pub fn new(namespace: Option<String>, tls: [PathBuf; 3]) -> Self {
        Self { namespace, tls }
    }

    /// The network namespace it runs in (`None`: this one).
    pub fn namespace(&self) -> Option<String> {
        self.namespace.clone()
    }

    /// A client for unit tests of the workload: runs in `namespace` with nonexistent
    /// certificates (every call fails).
    #[cfg(test)]
    pub(crate) fn for_tests(namespace: &str) -> Self {
        Self::new(
            Some(namespace.to_owned()),
            [PathBuf::new(), PathBuf::new(), PathBuf::new()],
        )
    }

    /// `etcdctl --endpoints=.. --cacert --cert --key --dial-timeout=1s
    /// --command-timeout=<command_timeout> ARGS`, killed after `command_timeout + 2 s`.
    pub fn etcdctl(
        &self,
        endpoints: &[String],
        args: &[&str],
        command_timeout: Duration,
    ) -> Result<Output, NetnsError> {
        let [ca, cert, key] = &self.tls;
        let cmd = Command::new("etcdctl")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .arg(format!("--cacert={}", ca.display()))
            .arg(format!("--cert={}", cert.display()))
            .arg(format!("--key={}", key.display()))
            .arg(format!("--dial-timeout={DIAL_TIMEOUT}"))
            .arg(format!(
                "--command-timeout={}ms",
                command_timeout.as_millis()
            ))
            .args(args.iter().copied())
            .clear_env()
            .timeout(command_timeout + Duration::from_secs(2));
        Ok(exec::run(&self.in_namespace(&cmd))?)
    }

    fn in_namespace(&self, cmd: &Command) -> Command {
        match &self.namespace {
            Some(ns) => cmd.wrapped(["ip", "netns", "exec", ns]),
            None => cmd.clone(),
        }
    }

    /// One workload request: `etcdctl` against the single `endpoint`, with both the dial and
    /// the command timeout set to `timeout` (so an unreachable member and a member that cannot
    /// commit both cost the client `timeout`, like the simulated client's one deadline), and
    /// `stdin` fed to etcdctl's standard input (what `etcdctl txn` reads its compares and
    /// branches from). Killed after `timeout + 2 s`.
    pub fn request(
        &self,
        endpoint: &str,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<Output, NetnsError> {
        let [ca, cert, key] = &self.tls;
        let ms = timeout.as_millis();
        let mut cmd = Command::new("etcdctl")
            .arg(format!("--endpoints={endpoint}"))
            .arg(format!("--cacert={}", ca.display()))
            .arg(format!("--cert={}", cert.display()))
            .arg(format!("--key={}", key.display()))
            .arg(format!("--dial-timeout={ms}ms"))
            .arg(format!("--command-timeout={ms}ms"))
            .args(args.iter().copied())
            .clear_env()
            .timeout(timeout + Duration::from_secs(2));
        if let Some(text) = stdin {
            cmd = cmd.stdin(format!("{text}\n"));
        }
        Ok(exec::run(&self.in_namespace(&cmd))?)
    }
}

/// One running member.
#[derive(Debug, Clone)]
pub struct EtcdLabMember {
    /// Member name (also the lab host name).
    pub name: String,
    /// Its lab address.
    pub address: IpAddr,
    /// Its daemon.
    pub daemon: DaemonId,
    /// Where its files were written.
    pub layout: EtcdLayout,
}

/// A three-or-more member etcd cluster plus a client host, each in its own namespace.
#[derive(Debug)]
pub struct EtcdLab {
    lab: Testbed,
    cluster: EtcdCluster,
    pki: EtcdPki,
    members: Vec<EtcdLabMember>,
    client_host: String,
    client_tls: [PathBuf; 3],
}

/// Writes a rendered file, creating parents; the mode is applied when the file is created.
pub fn write_rendered(file: &RenderedFile) -> Result<(), EtcdLabError> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| EtcdLabError::Io { what, path, source }
    };
    if let Some(parent) = file.path.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(io("creating", parent))?;
    }
    let _ = std::fs::remove_file(&file.path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file.mode)
        .open(&file.path)
        .map_err(io("creating", &file.path))?;
    f.write_all(file.contents.as_bytes())
        .map_err(io("writing", &file.path))
}

/// Reads `ExecStart=` and `EnvironmentFile=` of the written unit into a daemon spec.
pub fn spec_from_unit(unit_path: &Path) -> Result<DaemonSpec, EtcdLabError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| EtcdLabError::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        })
    };
    let unit = read(unit_path)?;
    let value = |key: &'static str| {
        unit.lines()
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
            .ok_or(EtcdLabError::Unit {
                path: unit_path.to_owned(),
                key,
            })
    };
    let env_path = PathBuf::from(value("EnvironmentFile")?.trim_start_matches('-'));
    let mut exec = value("ExecStart")?.split_whitespace();
    let program = exec.next().ok_or(EtcdLabError::Unit {
        path: unit_path.to_owned(),
        key: "ExecStart",
    })?;
    Ok(DaemonSpec {
        program: PathBuf::from(program),
        args: exec.map(str::to_owned).collect(),
        env: parse_environment_file(&read(&env_path)?),
    })
}

impl EtcdLab {
    /// Creates a lab with hosts `member_names` plus `client_host`, issues the PKI into
    /// `state_dir`, renders and writes every member's files under `scratch/<member>/`, and
    /// starts each member from its rendered unit. Does not wait for health.
    /// Three TLS members (`etcd-1`..`etcd-3`) and a `client` namespace under `dir`, as the
    /// differential tests use them. `Ok(None)`, after a loud SKIPPED line on stderr, where
    /// network namespaces are not permitted; a missing etcd binary is an error naming its
    /// Debian package, never a skip.
    pub fn start_three_or_skip(
        dir: &Path,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Self>, EtcdLabError> {
        for (tool, package) in ETCD_TOOLS {
            if !Path::new("/usr/bin").join(tool).is_file() {
                return Err(EtcdLabError::MissingTool { tool, package });
            }
        }
        let members = ["etcd-1", "etcd-2", "etcd-3"];
        match Self::start(
            &members,
            "client",
            &dir.join("state"),
            &dir.join("hosts"),
            token,
            now,
        ) {
            Ok(lab) => Ok(Some(lab)),
            Err(EtcdLabError::Netns(NetnsError::NotPermitted { detail }))
                if Self::may_skip_without_netns(std::env::var("CI").ok().as_deref()) =>
            {
                eprintln!(
                    "\n*** SKIPPED: network namespaces are not permitted here ({detail}); \
                     the real-etcd tests need root or CAP_SYS_ADMIN ***\n"
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a real-etcd test may skip where network namespaces are not permitted, given the
    /// `CI` environment variable: yes locally, never under CI (`CI=true`, set by CI runners),
    /// where a skip would let the strongest proof of the render pass without running.
    pub fn may_skip_without_netns(ci: Option<&str>) -> bool {
        !ci.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    pub fn start(
        member_names: &[&str],
        client_host: &str,
        state_dir: &Path,
        scratch: &Path,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Self, EtcdLabError> {
        let mut hosts: Vec<&str> = member_names.to_vec();
        hosts.push(client_host);
        let mut lab = Testbed::new(&hosts)?;
        let members = member_names
            .iter()
            .map(|n| {
                Ok(EtcdMember {
                    name: (*n).to_owned(),
                    address: IpAddr::V4(lab.address(n)?),
                    fqdn: None,
                })
            })
            .collect::<Result<Vec<_>, NetnsError>>()?;
        let cluster = EtcdCluster::with_defaults(members, token);
        let pki = ensure_etcd_pki(
            &SecretStore::open(state_dir).map_err(PkiError::from)?,
            &cluster,
            now,
        )?;
        let mut running = Vec::new();
        for m in &cluster.members {
            let layout = EtcdLayout::rooted(&scratch.join(&m.name));
            for file in render_member(&cluster, &m.name, &pki, &layout)? {
                write_rendered(&file)?;
            }
            let daemon = lab.spawn(&m.name, spec_from_unit(&layout.unit_path)?)?;
            running.push(EtcdLabMember {
                name: m.name.clone(),
                address: m.address,
                daemon,
                layout,
            });
        }
        let first = &running[0].layout;
        let client_tls = [
            first.ca_cert(),
            first.cert(HEALTHCHECK_STEM),
            first.key(HEALTHCHECK_STEM),
        ];
        Ok(Self {
            lab,
            cluster,
            pki,
            members: running,
            client_host: client_host.to_owned(),
            client_tls,
        })
    }

    /// The namespace lab (for faults).
    pub fn lab(&mut self) -> &mut Testbed {
        &mut self.lab
    }

    /// The namespace lab, read-only (probes, logs).
    pub fn lab_ref(&self) -> &Testbed {
        &self.lab
    }

    /// The rendered cluster description.
    pub fn cluster(&self) -> &EtcdCluster {
        &self.cluster
    }

    /// The issued PKI.
    pub fn pki(&self) -> &EtcdPki {
        &self.pki
    }

    /// The running members.
    pub fn members(&self) -> &[EtcdLabMember] {
        &self.members
    }

    /// The client host's name.
    pub fn client_host(&self) -> &str {
        &self.client_host
    }

    /// CA, client certificate and client key paths (the rendered health-check client).
    pub fn client_tls(&self) -> &[PathBuf; 3] {
        &self.client_tls
    }

    /// A sendable handle that runs `etcdctl` on the client host with the rendered client
    /// certificate (for workload threads running while faults are injected).
    pub fn client(&self) -> Result<EtcdClient, NetnsError> {
        Ok(EtcdClient::new(
            Some(self.lab.namespace(&self.client_host)?.to_owned()),
            self.client_tls.clone(),
        ))
    }

    /// The daemon of `member`.
    pub fn daemon(&self, member: &str) -> Option<DaemonId> {
        self.members
            .iter()
            .find(|m| m.name == member)
            .map(|m| m.daemon)
    }
}
