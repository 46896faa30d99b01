//! Real Ceph (Debian's 16.2 packages) on a [`Testbed`]: the daemon layout the topology gives
//! Rook, one namespace per topology host. A monitor on every `ceph-mon` host, a manager on the
//! first `ceph-mgr` host, one OSD per `ceph-osd` host (file-backed bluestore, in a CRUSH host
//! bucket named after the host, so `failureDomain: host` and `mon_osd_reporter_subtree_level`
//! see the topology's hosts), and the topology's first pool. The cluster settings are the
//! `[global]` lines `render::ceph_lab` writes for the lab (heartbeat grace, down-out interval,
//! reporters, pool defaults), so a change there reaches this bed too.
//!
//! Three things differ from the lab, all on purpose: cephx is off (authentication plays no
//! part in failure detection, peering or recovery, and the bed then needs no key per OSD), OSDs
//! report PG states to the manager every second (`mgr_stats_period`, default 5 s) so the drill
//! sees a PG turn clean sooner, and every path lives under the bed's scratch directory. Each daemon is its own process in its host's
//! namespace, so a SIGKILLed OSD's peers get a refused reconnect from that host's kernel, as
//! on real hosts. Dropping the lab stops every daemon (the [`Testbed`]'s drop).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use topology::{Cluster, Pool, Role};

use crate::apply::mon::{mon_commands, parse_outputs};
use crate::exec::Command;
use crate::render::FileContents;
use crate::render::ceph_lab::{CONF_PATH, render};
use crate::secrets::SecretStore;
use crate::testbed::{DaemonId, DaemonSpec, DaemonState, NetnsError, Testbed, wait_until};

/// Tools the bed needs, with their Debian packages.
pub const CEPH_TOOLS: [(&str, &str); 4] = [
    ("/usr/bin/ceph-mon", "ceph-mon"),
    ("/usr/bin/ceph-mgr", "ceph-mgr"),
    ("/usr/bin/ceph-osd", "ceph-osd"),
    ("/usr/bin/monmaptool", "ceph-base"),
];
/// Name of the namespace the probes run in.
pub const CLIENT_HOST: &str = "client";
/// Size of each OSD's (sparse) bluestore file.
const OSD_BLOCK_BYTES: u64 = 2 << 30;
/// Bound on one monitor command.
const MON_COMMAND_BOUND: Duration = Duration::from_secs(20);
/// Bound on the monitors forming a quorum, and on every OSD booting.
const FORM_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound on a `--mkfs` run.
const MKFS_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the bed could not be built or driven.
#[derive(Debug, thiserror::Error)]
pub enum CephLabError {
    /// A Ceph program is not installed.
    #[error("{tool} not found; install the Debian package `{package}`")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// Its package.
        package: &'static str,
    },
    /// The topology has no Ceph to start.
    #[error("the topology has no {0}")]
    NoCeph(&'static str),
    /// The namespaces or a daemon.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Rendering the lab's Ceph files.
    #[error("rendering Ceph's configuration: {0}")]
    Render(String),
    /// A setup step failed.
    #[error("{step}: {detail}")]
    Step {
        /// What was being done.
        step: String,
        /// What it said.
        detail: String,
    },
}

/// One OSD of the bed.
#[derive(Debug, Clone)]
pub struct BedOsd {
    /// Its id.
    pub id: i32,
    /// Its topology host.
    pub host: String,
    /// Its process.
    pub daemon: DaemonId,
}

/// A running real Ceph cluster.
#[derive(Debug)]
pub struct CephLab {
    bed: Testbed,
    conf: PathBuf,
    osds: Vec<BedOsd>,
    pool: Pool,
}

fn step(step: &str) -> impl Fn(String) -> CephLabError + '_ {
    move |detail| CephLabError::Step {
        step: step.to_owned(),
        detail,
    }
}

/// The rendered `[global]` settings that decide failure behaviour, without what the bed sets
/// itself (identity, addresses, authentication).
fn rendered_settings(cluster: &Cluster, secrets: &Path) -> Result<String, CephLabError> {
    let store = SecretStore::open(secrets).map_err(|e| CephLabError::Render(e.to_string()))?;
    let lab = render(cluster, &store).map_err(|e| CephLabError::Render(e.to_string()))?;
    let conf = lab
        .files
        .iter()
        .find(|(_, f)| f.path == Path::new(CONF_PATH))
        .and_then(|(_, f)| match &f.contents {
            FileContents::Public(text) => Some(text.clone()),
            _ => None,
        })
        .ok_or_else(|| CephLabError::Render(format!("no {CONF_PATH} rendered")))?;
    const OWN: [&str; 5] = [
        "fsid",
        "mon_initial_members",
        "mon_host",
        "public_network",
        "auth_",
    ];
    Ok(conf
        .lines()
        .filter(|l| !l.starts_with('[') && !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| !OWN.iter().any(|k| l.starts_with(k)))
        .map(|l| format!("{l}\n"))
        .collect())
}

impl CephLab {
    /// The bed for `cluster` under `dir`, or `Ok(None)` after a loud SKIPPED line where
    /// network namespaces are not permitted (never under CI). A missing Ceph package is an
    /// error naming it.
    pub fn start_or_skip(dir: &Path, cluster: &Cluster) -> Result<Option<Self>, CephLabError> {
        for (tool, package) in CEPH_TOOLS {
            if !Path::new(tool).is_file() {
                return Err(CephLabError::MissingTool { tool, package });
            }
        }
        let rados = crate::exec::run(
            &Command::new(super::ceph_probe::PYTHON)
                .args(["-c", "import rados"])
                .timeout(Duration::from_secs(30)),
        );
        if !rados.as_ref().is_ok_and(crate::exec::Output::success) {
            return Err(CephLabError::MissingTool {
                tool: "python3 module rados",
                package: "python3-rados",
            });
        }
        match Self::start(dir, cluster) {
            Ok(lab) => Ok(Some(lab)),
            Err(CephLabError::Netns(NetnsError::NotPermitted { detail }))
                if super::EtcdLab::may_skip_without_netns(std::env::var("CI").ok().as_deref()) =>
            {
                eprintln!(
                    "\n*** SKIPPED: network namespaces are not permitted here ({detail}); \
                     the real-Ceph tests need root or CAP_SYS_ADMIN ***\n"
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Builds and starts the bed; returns once every OSD is up and every PG active+clean.
    pub fn start(dir: &Path, cluster: &Cluster) -> Result<Self, CephLabError> {
        let mons: Vec<String> = cluster
            .hosts_with(Role::CephMon)
            .map(|h| h.name.clone())
            .collect();
        let mgr = cluster
            .hosts_with(Role::CephMgr)
            .map(|h| h.name.clone())
            .next()
            .ok_or(CephLabError::NoCeph("ceph-mgr host"))?;
        let osd_hosts: Vec<String> = cluster
            .hosts_with(Role::CephOsd)
            .filter(|h| !h.disks.is_empty())
            .map(|h| h.name.clone())
            .collect();
        let pool = cluster
            .spec
            .ceph
            .pools
            .first()
            .cloned()
            .ok_or(CephLabError::NoCeph("pool"))?;
        if mons.is_empty() || osd_hosts.is_empty() {
            return Err(CephLabError::NoCeph("ceph-mon and ceph-osd hosts"));
        }
        let mut names: Vec<&str> = cluster.spec.hosts.iter().map(|h| h.name.as_str()).collect();
        names.push(CLIENT_HOST);
        let mut bed = Testbed::new(&names)?;
        let addr = |bed: &Testbed, h: &str| bed.address(h);
        let first = addr(&bed, &mons[0])?;
        let subnet = Ipv4Addr::new(first.octets()[0], first.octets()[1], first.octets()[2], 0);
        let io = |what: &str| {
            let what = what.to_owned();
            move |e: std::io::Error| CephLabError::Step {
                step: what.clone(),
                detail: e.to_string(),
            }
        };
        for sub in ["run", "log"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io("creating the bed's directories"))?;
        }
        let fsid = "6b0f2a9e-53a4-4c36-9e3c-5f4d3a1c2b10";
        let mut conf = String::from("[global]\n");
        let _ = writeln!(conf, "fsid = {fsid}");
        let _ = writeln!(conf, "mon_initial_members = {}", mons.join(", "));
        let mut hosts = Vec::new();
        for m in &mons {
            hosts.push(format!("[v2:{0}:3300,v1:{0}:6789]", addr(&bed, m)?));
        }
        let _ = writeln!(conf, "mon_host = {}", hosts.join(","));
        let _ = writeln!(conf, "public_network = {subnet}/24");
        for k in [
            "auth_cluster_required",
            "auth_service_required",
            "auth_client_required",
        ] {
            let _ = writeln!(conf, "{k} = none");
        }
        conf.push_str(&rendered_settings(cluster, &dir.join("render-secrets"))?);
        let d = dir.display();
        for line in [
            format!("mon_data = {d}/$name"),
            format!("osd_data = {d}/$name"),
            format!("mgr_data = {d}/$name"),
            format!("run_dir = {d}/run"),
            format!("admin_socket = {d}/run/$name.asok"),
            format!("log_file = {d}/log/$name.log"),
            // The monitors' cluster log and crash reports default to /var/log/ceph and
            // /var/lib/ceph/crash; the bed keeps everything it writes in its directory.
            format!("mon_cluster_log_file = {d}/log/$cluster.$channel.log"),
            format!("crash_dir = {d}/crash"),
            // A file-backed OSD takes "rotational" from the disk under its file, so its
            // recovery sleep would follow the machine; pinned to the hdd default
            // (`osd_recovery_sleep_hdd`, 0.1 s), which the simulated half assumes.
            "osd_recovery_sleep = 0.1".into(),
            "osd_objectstore = bluestore".into(),
            "bluestore_block_create = true".into(),
            format!("bluestore_block_size = {OSD_BLOCK_BYTES}"),
            // Ceph's floor for the target (896 MiB); the default 4 GiB per OSD is sized for
            // real disks, not five OSDs sharing one small machine.
            "osd_memory_target = 939524096".into(),
            // The bed's scratch disk is shared with whatever else runs; nobody cares here.
            "mon_data_avail_warn = 1".into(),
            // OSDs report PG states to the manager every second instead of every 5 s
            // (`mgr_stats_period`), so the watcher sees a PG turn clean within about a second.
            // Only the report's rhythm changes; the monitors' commits follow `mgr_tick_period`.
            "mgr_stats_period = 1".into(),
        ] {
            let _ = writeln!(conf, "{line}");
        }
        let conf_path = dir.join("ceph.conf");
        std::fs::write(&conf_path, &conf).map_err(io("writing ceph.conf"))?;
        let c = conf_path.display().to_string();

        let monmap = dir.join("monmap");
        let mut mk = Command::new("/usr/bin/monmaptool")
            .args(["--create", "--fsid", fsid])
            .timeout(Duration::from_secs(30));
        for m in &mons {
            let a = addr(&bed, m)?;
            mk = mk.args(["--addv", m, &format!("[v2:{a}:3300,v1:{a}:6789]")]);
        }
        mk = mk.arg(monmap.display().to_string());
        run_ok(&bed, CLIENT_HOST, &mk, "monmaptool")?;
        for m in &mons {
            let cmd = Command::new("/usr/bin/ceph-mon")
                .args(["--mkfs", "-i", m, "-c", &c, "--monmap"])
                .arg(monmap.display().to_string())
                .timeout(MKFS_TIMEOUT);
            run_ok(&bed, m, &cmd, &format!("ceph-mon --mkfs for {m}"))?;
            bed.spawn(m, daemon("/usr/bin/ceph-mon", &["-f", "-i", m, "-c", &c]))?;
        }
        std::fs::create_dir_all(dir.join(format!("mgr.{mgr}"))).map_err(io("mgr data"))?;
        bed.spawn(
            &mgr,
            daemon("/usr/bin/ceph-mgr", &["-f", "-i", &mgr, "-c", &c]),
        )?;
        let mut lab = CephLab {
            bed,
            conf: conf_path,
            osds: Vec::new(),
            pool,
        };
        wait_until(
            "a monitor quorum",
            FORM_TIMEOUT,
            Duration::from_millis(500),
            || {
                lab.mon(&[json!({"prefix": "quorum_status", "format": "json"})])
                    .ok()
                    .and_then(|o| serde_json::from_str::<Value>(&o[0]).ok())
                    .filter(|q| {
                        q["quorum_names"]
                            .as_array()
                            .is_some_and(|n| n.len() == mons.len())
                    })
            },
        )?;

        // Every OSD is created and formatted first (the formats in parallel), then started.
        let mut made = Vec::new();
        for (k, host) in osd_hosts.iter().enumerate() {
            let uuid = format!("8c1d5e2a-0000-4000-8000-{k:012}");
            let out = lab.mon(&[json!({"prefix": "osd new", "uuid": uuid, "format": "json"})])?;
            let id: i32 = serde_json::from_str::<Value>(&out[0])
                .ok()
                .and_then(|v| v["osdid"].as_i64())
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| step("osd new")(out[0].clone()))?;
            std::fs::create_dir_all(dir.join(format!("osd.{id}"))).map_err(io("OSD data"))?;
            let mkfs = daemon(
                "/usr/bin/ceph-osd",
                &[
                    "--mkfs",
                    "-i",
                    &id.to_string(),
                    "--osd-uuid",
                    &uuid,
                    "-c",
                    &c,
                ],
            );
            let pid = lab.bed.spawn(host, mkfs)?;
            made.push((id, host.clone(), pid));
        }
        for (id, host, mkfs) in made {
            let exit = wait_until(
                "ceph-osd --mkfs",
                MKFS_TIMEOUT,
                Duration::from_millis(200),
                || match lab.bed.state(mkfs) {
                    Ok(DaemonState::Exited(code)) => Some(code),
                    _ => None,
                },
            )?;
            if exit != Some(0) {
                let log = lab.bed.log(mkfs);
                return Err(step("ceph-osd --mkfs")(format!(
                    "osd.{id} on {host} exited {exit:?}: {}",
                    log.lines().last().unwrap_or_default()
                )));
            }
            let location = format!("root=default host={host}");
            let daemon = lab.bed.spawn(
                &host,
                daemon(
                    "/usr/bin/ceph-osd",
                    &[
                        "-f",
                        "-i",
                        &id.to_string(),
                        "-c",
                        &c,
                        "--crush-location",
                        &location,
                    ],
                ),
            )?;
            lab.osds.push(BedOsd { id, host, daemon });
        }
        let (name, pgs) = (lab.pool.name.clone(), lab.pool.pg_num);
        lab.mon(&[
            json!({"prefix": "osd pool create", "pool": name, "pg_num": pgs, "pool_type": "replicated"}),
            json!({"prefix": "osd pool set", "pool": name, "var": "size", "val": lab.pool.size.to_string()}),
            json!({"prefix": "osd pool set", "pool": name, "var": "min_size", "val": lab.pool.effective_min_size().to_string()}),
            json!({"prefix": "osd pool application enable", "pool": name, "app": "rbd"}),
        ])?;
        let n = lab.osds.len();
        lab.wait_clean(FORM_TIMEOUT, Some(n))?;
        Ok(lab)
    }

    /// Sends monitor commands from the client namespace; their outputs.
    pub fn mon(&self, commands: &[Value]) -> Result<Vec<String>, CephLabError> {
        let cmd = mon_commands(commands, MON_COMMAND_BOUND)
            .env("CEPH_CONF", self.conf.display().to_string());
        let out = self.bed.exec(CLIENT_HOST, &cmd)?;
        if !out.success() {
            return Err(step("monitor command")(out.stderr_str().trim().to_owned()));
        }
        parse_outputs(&out.stdout_str()).map_err(step("monitor command output"))
    }

    /// Waits until every PG is active+clean (and, given `up`, that many OSDs are up), as the
    /// monitors' status reports it.
    pub fn wait_clean(&self, timeout: Duration, up: Option<usize>) -> Result<(), CephLabError> {
        wait_until(
            "every PG active+clean",
            timeout,
            Duration::from_secs(1),
            || {
                let out = self
                    .mon(&[json!({"prefix": "status", "format": "json"})])
                    .ok()?;
                let s: Value = serde_json::from_str(&out[0]).ok()?;
                let pgmap = &s["pgmap"];
                let total = pgmap["num_pgs"].as_u64()?;
                let clean: u64 = pgmap["pgs_by_state"]
                    .as_array()?
                    .iter()
                    .filter(|x| x["state_name"] == "active+clean")
                    .filter_map(|x| x["count"].as_u64())
                    .sum();
                let osds_up = s["osdmap"]["num_up_osds"].as_u64()?;
                (total > 0 && clean == total && up.is_none_or(|n| osds_up == n as u64))
                    .then_some(())
            },
        )?;
        Ok(())
    }

    /// The bed (for faults and for the probes' daemons).
    pub fn bed(&mut self) -> &mut Testbed {
        &mut self.bed
    }

    /// The cluster configuration file the probes read.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The OSDs, in id order.
    pub fn osds(&self) -> &[BedOsd] {
        &self.osds
    }

    /// The pool the client writes to.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

fn daemon(program: &str, args: &[&str]) -> DaemonSpec {
    DaemonSpec {
        program: PathBuf::from(program),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: Vec::new(),
    }
}

/// Runs `cmd` in `host`; a failure names `what` and the command's last line of stderr.
fn run_ok(bed: &Testbed, host: &str, cmd: &Command, what: &str) -> Result<(), CephLabError> {
    let out = bed.exec(host, cmd)?;
    if out.success() {
        Ok(())
    } else {
        Err(step(what)(
            out.stderr_str()
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned(),
        ))
    }
}
