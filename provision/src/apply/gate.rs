//! The cluster checks that end a phase and follow each rolling restart: the etcd members
//! healthy and started, the API VIP held by exactly one host and answering, the Ceph monitors
//! in quorum, and Ceph HEALTH_OK with every OSD up and in and every PG active+clean. Each
//! polls until it passes or its bound runs out, and says what it last saw.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::desired::{CephCheck, EtcdCheck, VipCheck};
use super::mon;
use crate::exec::Command;
use crate::host::Host;

/// Pause between two polls of a gate.
const POLL: Duration = Duration::from_secs(2);
/// Bound on one probe command.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on one monitor command of a probe (connection and answer).
const MON_PROBE: Duration = Duration::from_secs(10);
/// How often a gate that has not passed says what it last saw: a user watching a long wait
/// (Ceph under TCG takes minutes) sees which condition holds it up, and a run cut short by an
/// outer deadline leaves that in its output.
pub const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Told what a gate last saw while it waits, with how long it has waited.
pub type Waiting<'a> = &'a dyn Fn(&str, Duration);

/// Calls `waiting` each time another [`REPORT_EVERY`] has passed since `start`.
struct Reporter<'a> {
    waiting: Waiting<'a>,
    start: Instant,
    told: u32,
}

impl<'a> Reporter<'a> {
    fn new(waiting: Waiting<'a>) -> Self {
        Reporter {
            waiting,
            start: Instant::now(),
            told: 0,
        }
    }

    fn seen(&mut self, last: &str) {
        let waited = self.start.elapsed();
        let due = (waited.as_secs() / REPORT_EVERY.as_secs()) as u32;
        if due > self.told {
            self.told = due;
            (self.waiting)(last, waited);
        }
    }
}

/// A gate that did not pass within its bound.
#[derive(Debug, thiserror::Error)]
#[error("{what} not reached within {seconds} s; last seen: {last}")]
pub struct GateFailed {
    /// What was awaited.
    pub what: String,
    /// The bound.
    pub seconds: u64,
    /// The last observation.
    pub last: String,
}

/// What one poll of the etcd gate saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdHealth {
    /// Endpoints reported healthy.
    pub healthy: usize,
    /// Members listed as started.
    pub started: Vec<String>,
}

fn etcdctl(check: &EtcdCheck, args: &[&str]) -> Command {
    let [ca, cert, key] = &check.tls;
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", check.endpoints.join(",")))
        .arg(format!("--cacert={}", ca.display()))
        .arg(format!("--cert={}", cert.display()))
        .arg(format!("--key={}", key.display()))
        .args(["--dial-timeout=2s", "--command-timeout=5s"])
        .args(args.iter().copied())
        .timeout(PROBE_TIMEOUT)
}

/// Counts `... is healthy` lines of `etcdctl endpoint health` (3.4 prints them on stdout or
/// stderr depending on the version; both are read).
pub fn parse_endpoint_health(text: &str) -> usize {
    text.lines().filter(|l| l.contains(" is healthy")).count()
}

/// Member names of `etcdctl member list` lines (`id, started, name, peers, clients, learner`)
/// whose status is `started`.
pub fn parse_started_members(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(',').map(str::trim).collect();
            (fields.len() >= 3 && fields[1] == "started").then(|| fields[2].to_owned())
        })
        .collect()
}

/// One poll of etcd's health, run on `host` (a member, which has the healthcheck client).
pub async fn etcd_health(host: &dyn Host, check: &EtcdCheck) -> Result<EtcdHealth, String> {
    let health = host
        .run(&etcdctl(check, &["endpoint", "health"]))
        .await
        .map_err(|e| e.to_string())?;
    let healthy = parse_endpoint_health(&health.stdout_text())
        + parse_endpoint_health(&String::from_utf8_lossy(&health.stderr));
    let list = host
        .run(&etcdctl(check, &["member", "list"]))
        .await
        .map_err(|e| e.to_string())?;
    if !list.success() {
        return Err(format!(
            "member list failed: {}",
            crate::exec::tail(&list.stderr)
        ));
    }
    Ok(EtcdHealth {
        healthy,
        started: parse_started_members(&list.stdout_text()),
    })
}

/// Waits until every member is started and every endpoint healthy, asking each member host in
/// turn (one that cannot answer is skipped for that poll).
pub async fn wait_etcd(
    members: &[&dyn Host],
    check: &EtcdCheck,
    bound: Duration,
    waiting: Waiting<'_>,
) -> Result<EtcdHealth, GateFailed> {
    let what = format!("etcd: {} healthy started members", check.members.len());
    poll_hosts(members, what, bound, waiting, |host| async move {
        match etcd_health(host, check).await {
            Ok(h)
                if h.healthy == check.members.len()
                    && check.members.iter().all(|m| h.started.contains(m)) =>
            {
                Answer::Done(h)
            }
            Ok(h) => Answer::NotYet(format!(
                "via {}: {}/{} endpoints healthy, started: [{}]",
                host.name(),
                h.healthy,
                check.members.len(),
                h.started.join(", ")
            )),
            Err(e) => Answer::Silent(e),
        }
    })
    .await
}

/// What one host said in one poll of a gate.
enum Answer<T> {
    /// The gate passed.
    Done(T),
    /// The cluster answered and is not there yet (no need to ask another host this poll).
    NotYet(String),
    /// This host could not say; ask the next one.
    Silent(String),
}

/// Asks `hosts` in turn every [`POLL`] until one says the gate passed or `bound` runs out;
/// the error carries what was last seen, and `waiting` hears it every [`REPORT_EVERY`].
async fn poll_hosts<'h, T, F, Fut>(
    hosts: &[&'h dyn Host],
    what: String,
    bound: Duration,
    waiting: Waiting<'_>,
    mut ask: F,
) -> Result<T, GateFailed>
where
    F: FnMut(&'h dyn Host) -> Fut,
    Fut: std::future::Future<Output = Answer<T>>,
{
    let start = Instant::now();
    let mut reporter = Reporter::new(waiting);
    let mut last = "no poll yet".to_owned();
    loop {
        for host in hosts {
            match ask(*host).await {
                Answer::Done(t) => return Ok(t),
                Answer::NotYet(seen) => {
                    last = seen;
                    break;
                }
                Answer::Silent(why) => last = format!("via {}: {why}", host.name()),
            }
        }
        reporter.seen(&last);
        if start.elapsed() >= bound {
            return Err(GateFailed {
                what,
                seconds: bound.as_secs(),
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether `ip -o addr show` output lists `vip` as an address.
pub fn holds(addr_output: &str, vip: IpAddr) -> bool {
    let needle = format!(" {vip}/");
    addr_output.lines().any(|l| l.contains(&needle))
}

/// The hosts that hold the VIP now (a host that cannot answer is reported by name).
pub async fn vip_holders(holders: &[&dyn Host], check: &VipCheck) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for h in holders {
        let cmd = Command::new("ip")
            .args(["-o", "addr", "show", "dev", &check.interface])
            .timeout(PROBE_TIMEOUT);
        let o = h
            .run(&cmd)
            .await
            .map_err(|e| format!("{}: {e}", h.name()))?;
        if holds(&o.stdout_text(), check.vip) {
            out.push(h.name().to_owned());
        }
    }
    Ok(out)
}

/// A TCP connect to the VIP from `from` (bash's `/dev/tcp`, present on every Debian host).
pub async fn vip_answers(from: &dyn Host, check: &VipCheck) -> Result<bool, String> {
    let script = format!("exec 3<>/dev/tcp/{}/{}", check.vip, check.port);
    let cmd = Command::new("timeout")
        .args(["5", "bash", "-c", &script])
        .timeout(PROBE_TIMEOUT);
    from.run(&cmd)
        .await
        .map(|o| o.success())
        .map_err(|e| format!("{}: {e}", from.name()))
}

/// How long one host must hold the VIP alone before the gate trusts it: RFC 5798's
/// Master_Down_Interval (3 x Advertisement_Interval + skew) with keepalived's `advert_int 1`
/// as rendered, rounded up. A backup that started first holds the VIP until the preferred
/// host's first advertisement preempts it, which this window outlasts.
pub const VIP_SETTLE: Duration = Duration::from_secs(4);

/// Waits until exactly one host has held the VIP for [`VIP_SETTLE`] and a TCP connect to it
/// from `prober` succeeds.
pub async fn wait_vip(
    holders: &[&dyn Host],
    prober: &dyn Host,
    check: &VipCheck,
    bound: Duration,
    waiting: Waiting<'_>,
) -> Result<String, GateFailed> {
    let start = Instant::now();
    let mut reporter = Reporter::new(waiting);
    let mut sole: Option<(String, Instant)> = None;
    loop {
        let last;
        let seen = vip_holders(holders, check).await;
        sole = match (&seen, sole) {
            (Ok(h), Some((was, since))) if h.len() == 1 && h[0] == was => Some((was, since)),
            (Ok(h), _) if h.len() == 1 => Some((h[0].clone(), Instant::now())),
            _ => None,
        };
        let settled = sole
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= VIP_SETTLE);
        match seen {
            Ok(h) if h.len() == 1 && !settled => {
                last = format!(
                    "{} held by {} only, for less than {VIP_SETTLE:?}",
                    check.vip, h[0]
                );
            }
            Ok(h) if h.len() == 1 => match vip_answers(prober, check).await {
                Ok(true) => return Ok(h[0].clone()),
                Ok(false) => {
                    last = format!(
                        "{} holds {} but port {} refuses from {}",
                        h[0],
                        check.vip,
                        check.port,
                        prober.name()
                    );
                }
                Err(e) => last = e,
            },
            Ok(h) => last = format!("{} held by [{}]", check.vip, h.join(", ")),
            Err(e) => last = e,
        }
        reporter.seen(&last);
        if start.elapsed() >= bound {
            return Err(GateFailed {
                what: format!("{} held by exactly one host and answering", check.vip),
                seconds: bound.as_secs(),
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcdctl_output_parses() {
        let health = "https://10.77.0.11:2379 is healthy: successfully committed proposal: took = 9ms\n\
                      https://10.77.0.13:2379 is unhealthy: failed to commit proposal\n";
        assert_eq!(parse_endpoint_health(health), 1);
        let list = "8e9e05c52164694d, started, micklethefickle, https://10.77.0.11:2380, https://10.77.0.11:2379, false\n\
                    91bc3c398fb3c146, unstarted, , https://10.77.0.12:2380, , false\n";
        assert_eq!(parse_started_members(list), ["micklethefickle"]);
    }

    #[test]
    fn vip_is_found_only_as_a_whole_address() {
        let out = "2: eth0    inet 10.77.0.11/24 brd 10.77.0.255 scope global eth0\n\
                   2: eth0    inet 10.77.0.10/32 scope global eth0\n";
        assert!(holds(out, "10.77.0.10".parse().unwrap()));
        assert!(!holds(out, "10.77.0.1".parse().unwrap()));
    }
}

/// `quorum_names` of `ceph quorum_status --format json`.
pub fn parse_quorum(json: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let names = v
        .get("quorum_names")
        .and_then(serde_json::Value::as_array)
        .ok_or("no quorum_names")?;
    Ok(names
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect())
}

/// What `ceph status --format json` says about health, OSDs and PGs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephStatus {
    /// `HEALTH_OK`, `HEALTH_WARN`, `HEALTH_ERR`.
    pub health: String,
    /// The health checks that fire: name, and Ceph's one-line summary when it gives one
    /// (`RECENT_CRASH: 1 daemons have recently crashed`), so a wait that never ends says why.
    pub checks: Vec<String>,
    /// OSDs in the map, up, and in.
    pub osds: (u64, u64, u64),
    /// PGs in all, and PGs exactly `active+clean`.
    pub pgs: (u64, u64),
}

impl CephStatus {
    /// HEALTH_OK, `want` OSDs all up and in, at least one PG and every PG active+clean.
    pub fn settled(&self, want: usize) -> bool {
        let want = want as u64;
        self.health == "HEALTH_OK"
            && self.osds == (want, want, want)
            && self.pgs.0 > 0
            && self.pgs.0 == self.pgs.1
    }
}

/// Parses `ceph status --format json` (Pacific: `osdmap.num_osds`; older releases nest a
/// second `osdmap`).
pub fn parse_status(json: &str) -> Result<CephStatus, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let num = |o: &serde_json::Value, k: &str| o.get(k).and_then(serde_json::Value::as_u64);
    let health = v
        .pointer("/health/status")
        .and_then(serde_json::Value::as_str)
        .ok_or("no health.status")?
        .to_owned();
    let checks = v
        .pointer("/health/checks")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(name, check)| {
                    match check
                        .pointer("/summary/message")
                        .and_then(serde_json::Value::as_str)
                    {
                        Some(message) => format!("{name}: {message}"),
                        None => name.clone(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let osdmap = v.get("osdmap").ok_or("no osdmap")?;
    let osdmap = osdmap.get("osdmap").unwrap_or(osdmap);
    let osds = (
        num(osdmap, "num_osds").unwrap_or(0),
        num(osdmap, "num_up_osds").unwrap_or(0),
        num(osdmap, "num_in_osds").unwrap_or(0),
    );
    let pgmap = v.get("pgmap").ok_or("no pgmap")?;
    let clean = pgmap
        .get("pgs_by_state")
        .and_then(serde_json::Value::as_array)
        .map(|states| {
            states
                .iter()
                .filter(|s| {
                    s.get("state_name").and_then(serde_json::Value::as_str) == Some("active+clean")
                })
                .filter_map(|s| num(s, "count"))
                .sum()
        })
        .unwrap_or(0);
    Ok(CephStatus {
        health,
        checks,
        osds,
        pgs: (num(pgmap, "num_pgs").unwrap_or(0), clean),
    })
}

/// Waits until every monitor is in quorum, asking each monitor host in turn.
pub async fn wait_ceph_quorum(
    mons: &[&dyn Host],
    check: &CephCheck,
    bound: Duration,
    waiting: Waiting<'_>,
) -> Result<Vec<String>, GateFailed> {
    let what = format!("Ceph monitors {} in quorum", check.mons.join(", "));
    poll_hosts(mons, what, bound, waiting, |host| async move {
        let json = match ceph_json(host, mon::quorum_status()).await {
            Ok(json) => json,
            Err(why) => return Answer::Silent(why),
        };
        match parse_quorum(&json) {
            Ok(q) if check.mons.iter().all(|m| q.contains(m)) => Answer::Done(q),
            Ok(q) => Answer::NotYet(format!("quorum [{}]", q.join(", "))),
            Err(e) => Answer::Silent(e),
        }
    })
    .await
}

/// Waits until `ceph status` is HEALTH_OK with every OSD up and in and every PG active+clean.
pub async fn wait_ceph_healthy(
    mons: &[&dyn Host],
    check: &CephCheck,
    bound: Duration,
    waiting: Waiting<'_>,
) -> Result<CephStatus, GateFailed> {
    let what = format!(
        "Ceph HEALTH_OK with {} OSDs and every PG active+clean",
        check.osds
    );
    poll_hosts(mons, what, bound, waiting, |host| async move {
        let json = match ceph_json(host, mon::status()).await {
            Ok(json) => json,
            Err(why) => return Answer::Silent(why),
        };
        match parse_status(&json) {
            Ok(st) if st.settled(check.osds) => Answer::Done(st),
            Ok(st) => Answer::NotYet(format!(
                "{} [{}], OSDs {}/{}/{} (map/up/in), PGs {}/{} active+clean",
                st.health,
                st.checks.join("; "),
                st.osds.0,
                st.osds.1,
                st.osds.2,
                st.pgs.1,
                st.pgs.0
            )),
            Err(e) => Answer::Silent(e),
        }
    })
    .await
}

/// One monitor command's JSON output, sent from `host` as `client.admin` (the monitors'
/// hosts have its keyring), or why there is none.
async fn ceph_json(host: &dyn Host, command: serde_json::Value) -> Result<String, String> {
    let cmd = mon::mon_commands(&[command], MON_PROBE);
    match host.run(&cmd).await {
        Ok(o) if o.success() => mon::parse_outputs(&o.stdout_text())?
            .pop()
            .ok_or_else(|| "no output".to_owned()),
        Ok(o) => Err(crate::exec::tail(&o.stderr)),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod ceph_tests {
    use super::*;

    #[test]
    fn ceph_json_parses() {
        let q = r#"{"election_epoch":6,"quorum":[0,1,2],"quorum_names":["a","b","c"]}"#;
        assert_eq!(parse_quorum(q).unwrap(), ["a", "b", "c"]);
        let st = r#"{"health":{"status":"HEALTH_WARN","checks":{"PG_AVAILABILITY":{},
              "RECENT_CRASH":{"severity":"HEALTH_WARN",
                "summary":{"message":"1 daemons have recently crashed","count":1}}}},
            "osdmap":{"epoch":20,"num_osds":5,"num_up_osds":5,"num_in_osds":5},
            "pgmap":{"pgs_by_state":[{"state_name":"active+clean","count":30},
                                      {"state_name":"peering","count":3}],"num_pgs":33}}"#;
        let s = parse_status(st).unwrap();
        assert_eq!(s.osds, (5, 5, 5));
        assert_eq!(s.pgs, (33, 30));
        assert_eq!(
            s.checks,
            [
                "PG_AVAILABILITY",
                "RECENT_CRASH: 1 daemons have recently crashed"
            ]
        );
        assert!(!s.settled(5));
        let ok = st
            .replace("HEALTH_WARN", "HEALTH_OK")
            .replace("\"count\":3}", "\"count\":0}")
            .replace("33", "30");
        assert!(parse_status(&ok).unwrap().settled(5));
    }
}
