//! The test bed: namespaces, the bridge, addressing, daemons and network faults, torn down on Drop.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};

use super::NetnsError;
use super::daemon::{Daemon, DaemonId, DaemonSpec, DaemonState};
use crate::exec::{self, Command, ExecError, Output};
use crate::host::NetnsHost;

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
/// The first prio band that carries an impaired peer's traffic (bands 1-3 are the defaults).
const FIRST_NETEM_BAND: usize = 4;
/// Bands of the prio qdisc (its maximum).
const MAX_BANDS: usize = 16;

#[derive(Debug)]
struct Host {
    name: String,
    namespace: String,
    port: String,
    address: Ipv4Addr,
}

/// A set of hosts, each in its own network namespace, on one bridge.
#[derive(Debug)]
pub struct Testbed {
    prefix: String,
    bridge_ns: Option<String>,
    hosts: Vec<Host>,
    daemons: Vec<Daemon>,
    log_dir: PathBuf,
    blocked: BTreeSet<(usize, usize)>,
    links_down: BTreeSet<usize>,
    /// Hosts whose frames the bridge drops (see [`Testbed::cut`]).
    cut: BTreeSet<usize>,
    /// Host -> peers its `eth0` delays or drops traffic to (tc netem, one band per peer).
    impaired: BTreeMap<usize, Vec<(usize, Impairment)>>,
    /// Crashed host -> the daemons the crash killed (started again when it boots).
    crashed: BTreeMap<usize, Vec<DaemonId>>,
}

/// Extra delay and loss on a link (tc netem).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Added one-way delay.
    pub delay: Duration,
    /// Probability (0 to 1) that a packet is dropped.
    pub loss: f64,
}

/// nftables table and chain of [`Testbed::cut`] in the bridge namespace.
const CUT_TABLE: &str = "spofless_cut";
const CUT_CHAIN: &str = "forward";

/// Runs `nft` inside namespace `ns`.
fn nft(ns: &str, args: &[&str]) -> Result<Output, NetnsError> {
    let mut full = vec!["netns", "exec", ns, "nft"];
    full.extend_from_slice(args);
    ip(&full)
}

fn ip(args: &[&str]) -> Result<Output, NetnsError> {
    tool("ip", args)
}

/// Runs an iproute2 tool (`ip`, `tc`) with a cleared environment; a non-zero exit is an error.
fn tool(program: &str, args: &[&str]) -> Result<Output, NetnsError> {
    let cmd = Command::new(program)
        .args(args.iter().copied())
        .clear_env()
        .timeout(IP_TIMEOUT);
    Ok(exec::run_checked(&cmd)?)
}

/// A kernel without the prio or netem qdisc (`sch_prio`, `sch_netem`) cannot delay or drop
/// packets per link: that is [`NetnsError::Unsupported`], not a failure of the test bed.
fn missing_qdisc(e: NetnsError) -> NetnsError {
    match e {
        NetnsError::Exec(ExecError::Failed {
            command, stderr, ..
        }) if stderr.contains("qdisc kind is unknown") => NetnsError::Unsupported {
            what: command,
            reason: "this kernel lacks the prio or netem qdisc (sch_prio, sch_netem)".into(),
        },
        e => e,
    }
}

fn valid_host_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Testbed {
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
            cut: BTreeSet::new(),
            impaired: BTreeMap::new(),
            crashed: BTreeMap::new(),
        };
        match ip(&["netns", "add", &prefix]) {
            Ok(_) => lab.bridge_ns = Some(prefix.clone()),
            Err(NetnsError::Exec(ExecError::Failed { stderr, .. }))
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

    /// `host` as a [`crate::host::Host`].
    pub fn host(&self, host: &str) -> Result<NetnsHost, NetnsError> {
        Ok(NetnsHost::new(host, self.namespace(host)?))
    }

    /// Runs `cmd` inside `host` (bounded by its timeout); a non-zero exit is data.
    pub fn exec(&self, host: &str, cmd: &Command) -> Result<Output, NetnsError> {
        Ok(exec::run(&cmd.wrapped([
            "ip",
            "netns",
            "exec",
            self.namespace(host)?,
        ]))?)
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

    /// SIGTERM the daemon (and SIGCONT, for a paused one), wait up to `grace` for it to exit,
    /// then SIGKILL it, as `systemctl stop` does with `TimeoutStopSec`.
    pub fn terminate(&mut self, id: DaemonId, grace: Duration) -> Result<(), NetnsError> {
        self.daemon(id)?.terminate(grace)
    }

    /// SIGTERM the daemon (and SIGCONT, for a paused one) without waiting for it to exit.
    pub fn sigterm(&mut self, id: DaemonId) -> Result<(), NetnsError> {
        let d = self.daemon(id)?;
        d.signal(Signal::TERM)?;
        d.signal(Signal::CONT)
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

    /// Cuts `host` off at the bridge: every frame to or from its port is dropped (an nftables
    /// `bridge` filter in the bridge namespace), while its `eth0` keeps its carrier, as when a
    /// switch or the path behind it fails. Unlike [`Testbed::isolate`], whose blackhole routes
    /// raw sockets bound to an interface bypass, this stops VRRP too. Idempotent; undone by
    /// [`Testbed::heal`].
    pub fn cut(&mut self, host: &str) -> Result<(), NetnsError> {
        let h = self.index(host)?;
        if self.cut.is_empty() {
            nft(&self.prefix, &["add", "table", "bridge", CUT_TABLE])?;
            nft(
                &self.prefix,
                &[
                    "add",
                    "chain",
                    "bridge",
                    CUT_TABLE,
                    CUT_CHAIN,
                    "{ type filter hook forward priority 0 ; }",
                ],
            )?;
        }
        if self.cut.insert(h) {
            let port = self.hosts[h].port.clone();
            for dir in ["iifname", "oifname"] {
                nft(
                    &self.prefix,
                    &[
                        "add", "rule", "bridge", CUT_TABLE, CUT_CHAIN, dir, &port, "drop",
                    ],
                )?;
            }
        }
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

    /// Undoes [`Testbed::block`]. Idempotent.
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

    /// Removes every block and impairment and brings every link up (except a crashed host's,
    /// which comes back with [`Testbed::boot`]).
    pub fn heal(&mut self) -> Result<(), NetnsError> {
        for (f, t) in std::mem::take(&mut self.blocked) {
            self.del_blackhole(f, t)?;
        }
        for h in std::mem::take(&mut self.links_down) {
            if !self.crashed.contains_key(&h) {
                ip(&["-n", &self.prefix, "link", "set", &self.hosts[h].port, "up"])?;
            }
        }
        if !std::mem::take(&mut self.cut).is_empty() {
            nft(&self.prefix, &["delete", "table", "bridge", CUT_TABLE])?;
        }
        for h in std::mem::take(&mut self.impaired).into_keys() {
            let ns = self.hosts[h].namespace.clone();
            tool(
                "tc",
                &["-n", &ns, "qdisc", "del", "dev", HOST_IFACE, "root"],
            )?;
        }
        Ok(())
    }

    /// The daemons on `host` whose program is named `process` (`/usr/bin/etcd` is `etcd`).
    pub fn daemons_named(&self, host: &str, process: &str) -> Result<Vec<DaemonId>, NetnsError> {
        let h = self.index(host)?;
        Ok(self
            .daemons
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                d.host == h && d.spec.program.file_name().is_some_and(|n| n == process)
            })
            .map(|(i, _)| DaemonId(i))
            .collect())
    }

    /// Crashes `host`: its link goes down (silence, not refusals) and every daemon on it is
    /// SIGKILLed. Idempotent.
    pub fn crash(&mut self, host: &str) -> Result<(), NetnsError> {
        let h = self.index(host)?;
        if self.crashed.contains_key(&h) {
            return Ok(());
        }
        ip(&[
            "-n",
            &self.prefix,
            "link",
            "set",
            &self.hosts[h].port,
            "down",
        ])?;
        let mut killed = Vec::new();
        for (i, d) in self.daemons.iter_mut().enumerate() {
            if d.host == h && matches!(d.state(), DaemonState::Running | DaemonState::Paused) {
                d.kill()?;
                killed.push(DaemonId(i));
            }
        }
        self.crashed.insert(h, killed);
        Ok(())
    }

    /// Boots a crashed `host`: link up, and the daemons the crash killed start again.
    /// A host that is not crashed is left alone.
    pub fn boot(&mut self, host: &str) -> Result<(), NetnsError> {
        let h = self.index(host)?;
        let Some(killed) = self.crashed.remove(&h) else {
            return Ok(());
        };
        if !self.links_down.contains(&h) {
            ip(&["-n", &self.prefix, "link", "set", &self.hosts[h].port, "up"])?;
        }
        for id in killed {
            self.restart(id)?;
        }
        Ok(())
    }

    /// Whether `host` is crashed.
    pub fn is_crashed(&self, host: &str) -> Result<bool, NetnsError> {
        Ok(self.crashed.contains_key(&self.index(host)?))
    }

    /// The impairment currently set on the link between `a` and `b`, if any.
    pub fn impairment(&self, a: &str, b: &str) -> Result<Option<Impairment>, NetnsError> {
        let (ia, ib) = (self.index(a)?, self.index(b)?);
        Ok(self
            .impaired
            .get(&ia)
            .and_then(|peers| peers.iter().find(|(p, _)| *p == ib))
            .map(|(_, how)| *how))
    }

    /// Delays and drops traffic between `a` and `b`, both directions (tc netem on each
    /// side's `eth0`, matched on the peer's address). Applying again replaces the values.
    pub fn impair(&mut self, a: &str, b: &str, how: Impairment) -> Result<(), NetnsError> {
        let (ia, ib) = (self.index(a)?, self.index(b)?);
        if ia == ib {
            return Err(NetnsError::Unsupported {
                what: format!("impairing the link between {a} and itself"),
                reason: "a host's traffic to itself never crosses the bridge".into(),
            });
        }
        if !(0.0..=1.0).contains(&how.loss) {
            return Err(NetnsError::Unsupported {
                what: format!("loss {} between {a} and {b}", how.loss),
                reason: "loss is a probability from 0 to 1".into(),
            });
        }
        self.impair_one_way(ia, ib, how)?;
        self.impair_one_way(ib, ia, how)
    }

    fn impair_one_way(
        &mut self,
        from: usize,
        to: usize,
        how: Impairment,
    ) -> Result<(), NetnsError> {
        let ns = self.hosts[from].namespace.clone();
        let peers = self.impaired.entry(from).or_default();
        let fresh_host = peers.is_empty();
        let (band, fresh_pair) = match peers.iter().position(|(p, _)| *p == to) {
            Some(i) => {
                peers[i].1 = how;
                (FIRST_NETEM_BAND + i, false)
            }
            None => {
                peers.push((to, how));
                (FIRST_NETEM_BAND + peers.len() - 1, true)
            }
        };
        if band > MAX_BANDS {
            peers.retain(|(p, _)| *p != to);
            return Err(NetnsError::Unsupported {
                what: format!(
                    "impairing more than {} links of one host",
                    MAX_BANDS - FIRST_NETEM_BAND + 1
                ),
                reason: "the prio qdisc has 16 bands".into(),
            });
        }
        let tc = |args: &[&str]| {
            let mut all = vec!["-n", ns.as_str()];
            all.extend_from_slice(args);
            tool("tc", &all)
        };
        if fresh_host {
            // Bands 1-3 keep the default priomap; bands 4.. each carry one impaired peer.
            let r = tc(&[
                "qdisc", "add", "dev", HOST_IFACE, "root", "handle", "1:", "prio", "bands", "16",
                "priomap", "1", "2", "2", "2", "1", "2", "0", "0", "1", "1", "1", "1", "1", "1",
                "1", "1",
            ]);
            if let Err(e) = r {
                self.impaired.remove(&from);
                return Err(missing_qdisc(e));
            }
        }
        let parent = format!("1:{band:x}");
        let handle = format!("{:x}:", band + 0x10);
        let delay = format!("{}us", how.delay.as_micros());
        let loss = format!("{}%", how.loss * 100.0);
        tc(&[
            "qdisc", "replace", "dev", HOST_IFACE, "parent", &parent, "handle", &handle, "netem",
            "delay", &delay, "loss", &loss,
        ])
        .map_err(missing_qdisc)?;
        if fresh_pair {
            let dst = format!("{}/32", self.hosts[to].address);
            tc(&[
                "filter", "add", "dev", HOST_IFACE, "parent", "1:", "protocol", "ip", "prio", "1",
                "u32", "match", "ip", "dst", &dst, "flowid", &parent,
            ])?;
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
                    .stdout_str()
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

impl Drop for Testbed {
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
