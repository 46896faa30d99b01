//! Real keepalived and haproxy on a [`Testbed`], started from exactly what `render::vip`
//! produced for a copy of the topology whose control-plane addresses and VIP are the test
//! bed's. Each control-plane host also runs a TLS server on the apiserver port that answers
//! every path with 200 (`openssl s_server -WWW`), standing in for a ready kube-apiserver:
//! the Kubernetes binaries cannot be had here, and this lab is about the path in front of
//! them.
//!
//! `ip netns exec` bind-mounts `/etc/netns/<namespace>/<entry>` over `/etc/<entry>` for the
//! processes it starts, so each host's rendered `/etc/keepalived/...` and
//! `/etc/haproxy/haproxy.cfg` are written under `/etc/netns/<namespace>/` and the daemons
//! (and keepalived's check script) find them at their real paths. Those directories are
//! removed when the lab is dropped.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use topology::Cluster;
use topology::defaults::APISERVER_PORT;
use topology::policy::vrrp::priority_order;

use super::etcd_lab::{EtcdLabError, write_rendered};
use crate::exec::Command;
use crate::render::vip::{CHECK_SCRIPT_PATH, HAPROXY_CFG_PATH, KEEPALIVED_CONF_PATH, render};
use crate::render::{FileContents, RenderedFile};
use crate::testbed::{DaemonId, DaemonSpec, NetnsError, Testbed};

/// Longest wait for a host's haproxy and stand-in apiserver to answer the check script.
const CHECK_READY_LIMIT: Duration = Duration::from_secs(15);
/// Host octet of the VIP inside the test bed's /24 (hosts use .1 upwards).
const VIP_OCTET: u8 = 100;
/// Tools the lab needs, with their Debian packages.
pub const VIP_TOOLS: [(&str, &str); 4] = [
    ("/usr/sbin/keepalived", "keepalived"),
    ("/usr/sbin/haproxy", "haproxy"),
    ("/usr/bin/openssl", "openssl"),
    ("/usr/bin/curl", "curl"),
];

/// Why the lab could not be built or driven.
#[derive(Debug, thiserror::Error)]
pub enum VipLabError {
    /// The network namespaces failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A tool is missing.
    #[error("`{tool}` is missing: install the Debian package `{package}`")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// Its package.
        package: &'static str,
    },
    /// Writing a rendered file failed.
    #[error(transparent)]
    Write(#[from] EtcdLabError),
    /// Rendering failed.
    #[error("rendering the VIP artifacts: {0}")]
    Render(String),
    /// haproxy and the stand-in apiserver never answered the check script.
    #[error(
        "the check script never passed on {0}: haproxy or the stand-in apiserver is not serving"
    )]
    NotServing(String),
    /// The topology has no control-plane host.
    #[error("the topology has no control-plane host")]
    NoControlPlane,
    /// A certificate for the stand-in apiservers could not be made.
    #[error("making the stand-in apiserver certificate: {0}")]
    Certificate(String),
}

/// keepalived, haproxy and a stand-in apiserver on each control-plane host, and a probe host.
#[derive(Debug)]
pub struct VipLab {
    lab: Testbed,
    cluster: Cluster,
    /// Control-plane hosts in VRRP priority order.
    hosts: Vec<String>,
    keepalived: Vec<DaemonId>,
    haproxy: Vec<DaemonId>,
    etc_dirs: Vec<PathBuf>,
}

impl VipLab {
    /// Starts the lab for `cluster`'s control-plane hosts (renamed nothing, re-addressed to
    /// the test bed) plus `probe_host`, with scratch files under `dir`.
    pub fn start(cluster: &Cluster, probe_host: &str, dir: &Path) -> Result<Self, VipLabError> {
        for (tool, package) in VIP_TOOLS {
            if !Path::new(tool).is_file() {
                return Err(VipLabError::MissingTool { tool, package });
            }
        }
        let hosts: Vec<String> = priority_order(cluster)
            .iter()
            .map(|h| h.name.clone())
            .collect();
        if hosts.is_empty() {
            return Err(VipLabError::NoControlPlane);
        }
        let mut names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        names.push(probe_host);
        let lab = Testbed::new(&names)?;
        let mut me = VipLab {
            cluster: retarget(cluster, &lab, &hosts)?,
            lab,
            hosts,
            keepalived: Vec::new(),
            haproxy: Vec::new(),
            etc_dirs: Vec::new(),
        };
        let backend = dir.join("apiserver");
        make_backend_dir(&backend)?;
        let rendered = render(&me.cluster).map_err(|e| VipLabError::Render(e.to_string()))?;
        for (host, files) in rendered {
            let ns = me.lab.namespace(&host)?.to_owned();
            let etc = Path::new("/etc/netns").join(&ns);
            me.etc_dirs.push(etc.clone());
            for f in files {
                let rel = f.path.strip_prefix("/etc").unwrap_or(&f.path);
                write_rendered(&RenderedFile {
                    path: etc.join(rel),
                    ..f
                })?;
            }
        }
        for host in me.hosts.clone() {
            me.lab.spawn(&host, backend_spec(&backend))?;
            let h = me.lab.spawn(&host, haproxy_spec())?;
            me.haproxy.push(h);
        }
        // keepalived starts once the path its check script probes answers, as on a host
        // whose haproxy and apiserver were up before it: otherwise the script's first run
        // fails, which lowers the priority at once (keepalived 2.2 counts the first result)
        // and for `rise` more runs.
        for host in me.hosts.clone() {
            me.wait_for_check(&host)?;
        }
        for host in me.hosts.clone() {
            let k = me.lab.spawn(&host, keepalived_spec(&me.lab, &host)?)?;
            me.keepalived.push(k);
        }
        Ok(me)
    }

    /// Runs the rendered check script on `host` until it succeeds, bounded.
    fn wait_for_check(&self, host: &str) -> Result<(), VipLabError> {
        let cmd = Command::new("/bin/sh")
            .arg(CHECK_SCRIPT_PATH)
            .timeout(Duration::from_secs(5));
        let start = Instant::now();
        loop {
            if self.lab.exec(host, &cmd)?.success() {
                return Ok(());
            }
            if start.elapsed() > CHECK_READY_LIMIT {
                return Err(VipLabError::NotServing(host.to_owned()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The re-addressed topology the artifacts were rendered from.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The test bed, for faults.
    pub fn lab(&mut self) -> &mut Testbed {
        &mut self.lab
    }

    /// keepalived's daemon on `host`.
    pub fn keepalived(&self, host: &str) -> Option<DaemonId> {
        let i = self.hosts.iter().position(|h| h == host)?;
        self.keepalived.get(i).copied()
    }

    /// haproxy's daemon on `host`.
    pub fn haproxy(&self, host: &str) -> Option<DaemonId> {
        let i = self.hosts.iter().position(|h| h == host)?;
        self.haproxy.get(i).copied()
    }

    /// The control-plane hosts that have the VIP on their interface now.
    pub fn holders(&self) -> Result<Vec<String>, VipLabError> {
        let vip = self.cluster.spec.api_endpoint.vip.to_string();
        let mut out = Vec::new();
        for host in &self.hosts {
            let cmd = Command::new("ip")
                .args(["-o", "-4", "addr", "show", "dev", "eth0"])
                .timeout(Duration::from_secs(5));
            let text = self.lab.exec(host, &cmd)?.stdout_text();
            if text
                .split_whitespace()
                .any(|w| w.split('/').next() == Some(&vip))
            {
                out.push(host.clone());
            }
        }
        Ok(out)
    }

    /// Polls until `host` has the VIP, at most `limit`; returns how long that took.
    pub fn wait_for_holder(
        &self,
        host: &str,
        limit: Duration,
    ) -> Result<Option<Duration>, VipLabError> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.holders()?.iter().any(|h| h == host) {
                return Ok(Some(start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(None)
    }
}

impl Drop for VipLab {
    fn drop(&mut self) {
        for d in &self.etc_dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// `cluster` with each control-plane host on its test-bed address and the VIP at
/// `.100` of the test bed's /24.
fn retarget(cluster: &Cluster, lab: &Testbed, hosts: &[String]) -> Result<Cluster, VipLabError> {
    let mut c = cluster.clone();
    let mut net = None;
    for h in c.spec.hosts.iter_mut().filter(|h| hosts.contains(&h.name)) {
        let a = lab.address(&h.name)?;
        h.address = IpAddr::V4(a);
        net = Some(a.octets());
    }
    let [a, b, n, _] = net.ok_or(VipLabError::NoControlPlane)?;
    c.spec.api_endpoint.vip = IpAddr::V4(Ipv4Addr::new(a, b, n, VIP_OCTET));
    Ok(c)
}

/// A directory with a self-signed certificate and a `readyz` file for `openssl s_server -WWW`.
fn make_backend_dir(dir: &Path) -> Result<(), VipLabError> {
    std::fs::create_dir_all(dir).map_err(|e| VipLabError::Certificate(e.to_string()))?;
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let cmd = Command::new("/usr/bin/openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=kube-apiserver-stand-in", "-keyout"])
        .arg(key.display().to_string())
        .arg("-out")
        .arg(cert.display().to_string())
        .timeout(Duration::from_secs(30));
    crate::exec::run_checked(&cmd).map_err(|e| VipLabError::Certificate(e.to_string()))?;
    write_rendered(&RenderedFile {
        path: dir.join("readyz"),
        mode: 0o644,
        contents: FileContents::Public("ok\n".to_owned()),
    })?;
    Ok(())
}

fn backend_spec(dir: &Path) -> DaemonSpec {
    let d = dir.display();
    DaemonSpec {
        program: PathBuf::from("/bin/sh"),
        args: vec![
            "-c".to_owned(),
            format!(
                "cd {d} && exec /usr/bin/openssl s_server -quiet -WWW -accept {APISERVER_PORT} \
                 -cert cert.pem -key key.pem"
            ),
        ],
        env: Vec::new(),
    }
}

fn haproxy_spec() -> DaemonSpec {
    DaemonSpec {
        program: PathBuf::from("/usr/sbin/haproxy"),
        // -db: stay in the foreground whatever `daemon` in the rendered global section says.
        args: vec![
            "-db".to_owned(),
            "-f".to_owned(),
            HAPROXY_CFG_PATH.to_owned(),
        ],
        env: Vec::new(),
    }
}

/// keepalived in the foreground, VRRP only, its pid files in the lab's log directory (the
/// default `/run/keepalived.pid` is shared by every namespace).
fn keepalived_spec(lab: &Testbed, host: &str) -> Result<DaemonSpec, VipLabError> {
    let pid = |what: &str| {
        lab.log_dir()
            .join(format!("{host}-{what}.pid"))
            .display()
            .to_string()
    };
    Ok(DaemonSpec {
        program: PathBuf::from("/usr/sbin/keepalived"),
        args: vec![
            "--dont-fork".to_owned(),
            "--log-console".to_owned(),
            "--log-detail".to_owned(),
            "--no-syslog".to_owned(),
            "--vrrp".to_owned(),
            "-f".to_owned(),
            KEEPALIVED_CONF_PATH.to_owned(),
            "-p".to_owned(),
            pid("keepalived"),
            "-r".to_owned(),
            pid("vrrp"),
            "-c".to_owned(),
            pid("checkers"),
        ],
        env: Vec::new(),
    })
}
