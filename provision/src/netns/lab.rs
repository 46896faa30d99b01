//! The lab: namespaces, the bridge, addressing, daemons and network faults, torn down on Drop.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};

use super::NetnsError;
use super::command::{CommandOutput, run_bounded};
use super::daemon::{Daemon, DaemonId, DaemonSpec, DaemonState, SAFE_PATH};

/// Labs created by this process so far; numbers namespaces and picks the subnet.
static NEXT_LAB: AtomicU32 = AtomicU32::new(0);
/// Limit on any single `ip` invocation.
const IP_TIMEOUT: Duration = Duration::from_secs(15);
/// Hosts per lab: addresses .1 to .250 of the /24.
const MAX_HOSTS: usize = 250;
/// Interface name of a host's end of its veth pair.
const HOST_IFACE: &str = "eth0";
/// The bridge inside the bridge namespace.
const BRIDGE: &str = "br0";

#[derive(Debug)]
struct Host {
    name: String,
    namespace: String,
    port: String,
    address: Ipv4Addr,
}

/// A set of hosts, each in its own network namespace, on one bridge.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    bridge_ns: Option<String>,
    hosts: Vec<Host>,
    daemons: Vec<Daemon>,
    log_dir: PathBuf,
    blocked: BTreeSet<(usize, usize)>,
    links_down: BTreeSet<usize>,
}

fn ip(args: &[&str]) -> Result<CommandOutput, NetnsError> {
    let mut cmd = Command::new("ip");
    cmd.args(args).env_clear().env("PATH", SAFE_PATH);
    let out = run_bounded(cmd, IP_TIMEOUT)?;
    if out.success() {
        Ok(out)
    } else {
        Err(NetnsError::CommandFailed {
            command: format!("ip {}", args.join(" ")),
            status: if out.timed_out {
                "timed out".into()
            } else {
                format!("exit {:?}", out.code)
            },
            stderr: out.stderr.trim().to_owned(),
        })
    }
}

fn valid_host_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Lab {
    /// Creates namespaces `spf-<pid>-<n>` (bridge) and `spf-<pid>-<n>-<host>` (hosts), host
    /// `i` getting `10.254.<n mod 256>.<i+1>/24` on `eth0`.
    pub fn new(host_names: &[&str]) -> Result<Self, NetnsError> {
        if host_names.len() > MAX_HOSTS {
            return Err(NetnsError::TooManyHosts {
                requested: host_names.len(),
                max: MAX_HOSTS,
            });
        }
        let mut seen = BTreeSet::new();
        for name in host_names {
            if !valid_host_name(name) || !seen.insert(*name) {
                return Err(NetnsError::BadHostName {
                    name: (*name).to_owned(),
                });
            }
        }
        let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("spf-{}-{n}", std::process::id());
        let log_dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&log_dir).map_err(|source| NetnsError::Io {
            what: format!("creating {}", log_dir.display()),
            source,
        })?;
        // From here on, Drop undoes whatever was created, including on an early return.
        let mut lab = Self {
            prefix: prefix.clone(),
            bridge_ns: None,
            hosts: Vec::new(),
            daemons: Vec::new(),
            log_dir,
            blocked: BTreeSet::new(),
            links_down: BTreeSet::new(),
        };
        match ip(&["netns", "add", &prefix]) {
            Ok(_) => lab.bridge_ns = Some(prefix.clone()),
            Err(NetnsError::CommandFailed { stderr, .. })
                if stderr.contains("not permitted")
                    || stderr.contains("Permission denied")
                    || stderr.contains("Read-only") =>
            {
                return Err(NetnsError::NotPermitted { detail: stderr });
            }
            Err(e) => return Err(e),
        }
        ip(&["-n", &prefix, "link", "set", "lo", "up"])?;
        ip(&["-n", &prefix, "link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["-n", &prefix, "link", "set", BRIDGE, "up"])?;
        let octet = (n % 256) as u8;
        for (i, name) in host_names.iter().enumerate() {
            let namespace = format!("{prefix}-{name}");
            ip(&["netns", "add", &namespace])?;
            let port = format!("p{i}");
            let host_octet = u8::try_from(i + 1).map_err(|_| NetnsError::TooManyHosts {
                requested: host_names.len(),
                max: MAX_HOSTS,
            })?;
            lab.hosts.push(Host {
                name: (*name).to_owned(),
                namespace: namespace.clone(),
                port: port.clone(),
                address: Ipv4Addr::new(10, 254, octet, host_octet),
            });
            let addr = format!("10.254.{octet}.{host_octet}/24");
            ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
            ip(&[
                "-n", &prefix, "link", "add", &port, "type", "veth", "peer", "name", HOST_IFACE,
                "netns", &namespace,
            ])?;
            ip(&["-n", &prefix, "link", "set", &port, "master", BRIDGE])?;
            ip(&["-n", &prefix, "link", "set", &port, "up"])?;
            ip(&["-n", &namespace, "addr", "add", &addr, "dev", HOST_IFACE])?;
            ip(&["-n", &namespace, "link", "set", HOST_IFACE, "up"])?;
        }
        tracing::info!(lab = %lab.prefix, hosts = host_names.len(), "network namespace lab up");
        Ok(lab)
    }

    /// The lab's unique prefix (`spf-<pid>-<n>`), also the bridge namespace's name.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where daemon logs are written.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The hosts' names, in creation order.
    pub fn host_names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }

    fn index(&self, host: &str) -> Result<usize, NetnsError> {
        self.hosts
            .iter()
            .position(|h| h.name == host)
            .ok_or_else(|| NetnsError::UnknownHost {
                name: host.to_owned(),
            })
    }

    /// A host's address on the lab network.
    pub fn address(&self, host: &str) -> Result<Ipv4Addr, NetnsError> {
        Ok(self.hosts[self.index(host)?].address)
    }

    /// A host's namespace name.
    pub fn namespace(&self, host: &str) -> Result<&str, NetnsError> {
        Ok(&self.hosts[self.index(host)?].namespace)
    }

    /// Runs a short command inside `host` with a cleared environment, killed after `timeout`.
    pub fn exec(
        &self,
        host: &str,
        program: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<CommandOutput, NetnsError> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.namespace(host)?, program])
            .args(args)
            .env_clear()
            .env("PATH", SAFE_PATH);
        run_bounded(cmd, timeout)
    }

    /// Starts a daemon inside `host`; its output goes to `<log_dir>/<host>-<k>.log`.
    pub fn spawn(&mut self, host: &str, spec: DaemonSpec) -> Result<DaemonId, NetnsError> {
        let h = self.index(host)?;
        let log = self
            .log_dir
            .join(format!("{host}-{}.log", self.daemons.len()));
        let daemon = Daemon::start(h, &self.hosts[h].namespace, spec, log)?;
        self.daemons.push(daemon);
        Ok(DaemonId(self.daemons.len() - 1))
    }

    fn daemon(&mut self, id: DaemonId) -> Result<&mut Daemon, NetnsError> {
        self.daemons
            .get_mut(id.0)
            .ok_or(NetnsError::UnknownDaemon(id.0))
    }

    /// The daemon's current pid (None once it exited).
    pub fn pid(&self, id: DaemonId) -> Option<u32> {
        self.daemons.get(id.0).and_then(Daemon::pid)
    }

    /// The host a daemon runs on.
    pub fn daemon_host(&self, id: DaemonId) -> Option<&str> {
        self.daemons
            .get(id.0)
            .map(|d| self.hosts[d.host].name.as_str())
    }

    /// Its state, reaping it if it exited.
    pub fn state(&mut self, id: DaemonId) -> Result<DaemonState, NetnsError> {
        Ok(self.daemon(id)?.state())
    }

    /// What the daemon printed so far.
    pub fn log(&self, id: DaemonId) -> String {
        self.daemons
            .get(id.0)
            .and_then(|d| std::fs::read_to_string(&d.log).ok())
            .unwrap_or_default()
    }

    /// SIGKILL the daemon and reap it (bounded).
    pub fn kill(&mut self, id: DaemonId) -> Result<(), NetnsError> {
        self.daemon(id)?.kill()
    }

    /// SIGSTOP the daemon.
    pub fn pause(&mut self, id: DaemonId) -> Result<(), NetnsError> {
        self.daemon(id)?.signal(Signal::STOP)
    }

    /// SIGCONT the daemon.
    pub fn resume(&mut self, id: DaemonId) -> Result<(), NetnsError> {
        self.daemon(id)?.signal(Signal::CONT)
    }

    /// Starts an exited daemon again with the same program, arguments and environment.
    pub fn restart(&mut self, id: DaemonId) -> Result<(), NetnsError> {
        let d = self
            .daemons
            .get(id.0)
            .ok_or(NetnsError::UnknownDaemon(id.0))?;
        let namespace = self.hosts[d.host].namespace.clone();
        let d = self.daemon(id)?;
        d.kill()?;
        d.spawn(&namespace)
    }

    /// Takes the bridge side of `host`'s link down: all its traffic is silently dropped.
    pub fn link_down(&mut self, host: &str) -> Result<(), NetnsError> {
        let h = self.index(host)?;
        ip(&[
            "-n",
            &self.prefix,
            "link",
            "set",
            &self.hosts[h].port,
            "down",
        ])?;
        self.links_down.insert(h);
        Ok(())
    }

    /// Brings `host`'s link back up.
    pub fn link_up(&mut self, host: &str) -> Result<(), NetnsError> {
        let h = self.index(host)?;
        ip(&["-n", &self.prefix, "link", "set", &self.hosts[h].port, "up"])?;
        self.links_down.remove(&h);
        Ok(())
    }

    /// Drops every packet `from` sends to `to` (a blackhole route in `from`'s namespace);
    /// traffic from `to` to `from` still flows. Idempotent.
    pub fn block(&mut self, from: &str, to: &str) -> Result<(), NetnsError> {
        let (f, t) = (self.index(from)?, self.index(to)?);
        if f == t || self.blocked.contains(&(f, t)) {
            return Ok(());
        }
        let dest = format!("{}/32", self.hosts[t].address);
        ip(&[
            "-n",
            &self.hosts[f].namespace,
            "route",
            "add",
            "blackhole",
            &dest,
        ])?;
        self.blocked.insert((f, t));
        Ok(())
    }

    /// Undoes [`Lab::block`]. Idempotent.
    pub fn unblock(&mut self, from: &str, to: &str) -> Result<(), NetnsError> {
        let (f, t) = (self.index(from)?, self.index(to)?);
        if !self.blocked.remove(&(f, t)) {
            return Ok(());
        }
        self.del_blackhole(f, t)
    }

    /// Removes the blackhole route in `f`'s namespace that drops traffic to host `t`.
    fn del_blackhole(&self, f: usize, t: usize) -> Result<(), NetnsError> {
        let dest = format!("{}/32", self.hosts[t].address);
        ip(&[
            "-n",
            &self.hosts[f].namespace,
            "route",
            "del",
            "blackhole",
            &dest,
        ])?;
        Ok(())
    }

    /// Cuts what `host` sends to every other host (one direction).
    pub fn isolate_outbound(&mut self, host: &str) -> Result<(), NetnsError> {
        for other in self.others(host)? {
            self.block(host, &other)?;
        }
        Ok(())
    }

    /// Cuts what every other host sends to `host` (one direction).
    pub fn isolate_inbound(&mut self, host: &str) -> Result<(), NetnsError> {
        for other in self.others(host)? {
            self.block(&other, host)?;
        }
        Ok(())
    }

    /// Cuts `host` off from every other host in both directions.
    pub fn isolate(&mut self, host: &str) -> Result<(), NetnsError> {
        self.isolate_outbound(host)?;
        self.isolate_inbound(host)
    }

    fn others(&self, host: &str) -> Result<Vec<String>, NetnsError> {
        let h = self.index(host)?;
        Ok(self
            .hosts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != h)
            .map(|(_, o)| o.name.clone())
            .collect())
    }

    /// Removes every block and brings every link up.
    pub fn heal(&mut self) -> Result<(), NetnsError> {
        for (f, t) in std::mem::take(&mut self.blocked) {
            self.del_blackhole(f, t)?;
        }
        for h in std::mem::take(&mut self.links_down) {
            ip(&["-n", &self.prefix, "link", "set", &self.hosts[h].port, "up"])?;
        }
        Ok(())
    }

    fn teardown(&mut self) {
        for d in &mut self.daemons {
            if let Err(e) = d.kill() {
                eprintln!("netns lab {}: {e}", self.prefix);
            }
        }
        let namespaces: Vec<String> = self
            .hosts
            .iter()
            .map(|h| h.namespace.clone())
            .chain(self.bridge_ns.clone())
            .collect();
        for ns in &namespaces {
            // Anything still inside (children of our daemons) is ours: kill it by pid.
            if let Ok(out) = ip(&["netns", "pids", ns]) {
                for pid in out
                    .stdout
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    if let Some(pid) = Pid::from_raw(pid) {
                        let _ = kill_process(pid, Signal::KILL);
                    }
                }
            }
        }
        for ns in namespaces.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!(
                    "netns lab {}: could not delete namespace {ns}: {e}",
                    self.prefix
                );
            }
        }
        self.hosts.clear();
        self.bridge_ns = None;
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
        if std::thread::panicking() {
            eprintln!(
                "netns lab {}: keeping daemon logs in {} for inspection",
                self.prefix,
                self.log_dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }
}
