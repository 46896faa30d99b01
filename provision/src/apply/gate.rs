//! The cluster checks that end a phase and follow each rolling restart: the etcd members
//! healthy and started, the API VIP held by exactly one host and answering. Each polls until
//! it passes or its bound runs out, and says what it last saw.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::desired::{EtcdCheck, VipCheck};
use crate::exec::Command;
use crate::host::Host;

/// Pause between two polls of a gate.
const POLL: Duration = Duration::from_secs(2);
/// Bound on one probe command.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

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
) -> Result<EtcdHealth, GateFailed> {
    let start = Instant::now();
    let mut last = "no poll yet".to_owned();
    loop {
        for host in members {
            match etcd_health(*host, check).await {
                Ok(h) if h.healthy == check.members.len()
                    && check.members.iter().all(|m| h.started.contains(m)) =>
                {
                    return Ok(h);
                }
                Ok(h) => {
                    last = format!(
                        "via {}: {}/{} endpoints healthy, started: [{}]",
                        host.name(),
                        h.healthy,
                        check.members.len(),
                        h.started.join(", ")
                    );
                    break;
                }
                Err(e) => last = format!("via {}: {e}", host.name()),
            }
        }
        if start.elapsed() >= bound {
            return Err(GateFailed {
                what: format!("etcd: {} healthy started members", check.members.len()),
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
pub async fn vip_holders(
    holders: &[&dyn Host],
    check: &VipCheck,
) -> Result<Vec<String>, String> {
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

/// Waits until exactly one host holds the VIP and a TCP connect to it from `prober` succeeds.
pub async fn wait_vip(
    holders: &[&dyn Host],
    prober: &dyn Host,
    check: &VipCheck,
    bound: Duration,
) -> Result<String, GateFailed> {
    let start = Instant::now();
    loop {
        let last;
        match vip_holders(holders, check).await {
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
