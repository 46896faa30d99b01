//! The API VIP: keepalived (VRRP) and haproxy on every control-plane host, as kubeadm's
//! "ha-considerations" guide lays out (option 1: keepalived and haproxy as services).
//!
//! keepalived holds the VIP on the healthiest host in priority order; its `vrrp_script` probes
//! the local haproxy, and a failed probe drops the host's priority below every healthy host's,
//! so the VIP moves. haproxy listens on the VIP port on every control-plane host and balances
//! TCP to every apiserver on :6443, taking a backend out after `fall` failed TLS `GET /readyz`
//! checks. VRRP uses unicast to the other control-plane addresses, so it works on networks that
//! drop multicast.

use std::fmt::Write as _;
use std::path::PathBuf;

use topology::defaults::APISERVER_PORT;
use topology::policy::vrrp::{self, priority_order};
use topology::{ApiEndpointMethod, Cluster, HealthCheck, Host};

use super::error::RenderError;
use super::tree::{PUBLIC_MODE, SCRIPT_MODE};
use super::{FileContents, RenderedFile};

/// The interface VRRP runs on and the VIP is added to. The topology has no interface knob, so
/// this is the lab's NIC name: the lab boots its VMs with `net.ifnames=0` and netplan
/// `set-name: eth0` (provision::lab), which keeps the one NIC `eth0`. It is also keepalived's
/// own `default_interface` (keepalived.conf(5), global_defs). Hosts with predictable interface
/// names (`enp1s0`) need a topology knob, which does not exist yet.
pub const VRRP_INTERFACE: &str = "eth0";
/// Where the health-check script lives on each control-plane host.
pub const CHECK_SCRIPT_PATH: &str = "/etc/keepalived/check_apiserver.sh";
/// keepalived configuration path (Debian package `keepalived`).
pub const KEEPALIVED_CONF_PATH: &str = "/etc/keepalived/keepalived.conf";
/// haproxy configuration path (Debian package `haproxy`).
pub const HAPROXY_CFG_PATH: &str = "/etc/haproxy/haproxy.cfg";
/// Seconds the check script waits for haproxy (kubeadm's guide uses `curl --max-time 2`).
pub const CHECK_SCRIPT_TIMEOUT_S: u32 = 2;

/// keepalived.conf, check script and haproxy.cfg for every control-plane host, keyed by host.
/// Empty when the API endpoint method is `none`.
pub fn render(cluster: &Cluster) -> Result<Vec<(String, Vec<RenderedFile>)>, RenderError> {
    if cluster.spec.api_endpoint.method == ApiEndpointMethod::None {
        return Ok(Vec::new());
    }
    let order = priority_order(cluster);
    if order.is_empty() {
        return Err(RenderError::Missing {
            what: "control-plane host".to_owned(),
            hint: "give at least one host the control-plane role".to_owned(),
        });
    }
    let hc = cluster
        .spec
        .api_endpoint
        .health_check
        .clone()
        .unwrap_or_default();
    let haproxy = haproxy_cfg(cluster, &order, &hc);
    let mut out = Vec::new();
    for (rank, host) in order.iter().enumerate() {
        let files = vec![
            file(
                KEEPALIVED_CONF_PATH,
                keepalived_conf(cluster, &order, rank, &hc),
                PUBLIC_MODE,
            ),
            file(CHECK_SCRIPT_PATH, check_script(cluster, &hc), SCRIPT_MODE),
            file(HAPROXY_CFG_PATH, haproxy.clone(), PUBLIC_MODE),
        ];
        out.push((host.name.clone(), files));
    }
    Ok(out)
}

fn file(path: &str, text: String, mode: u32) -> RenderedFile {
    RenderedFile {
        path: PathBuf::from(path),
        mode,
        contents: FileContents::Public(text),
    }
}

/// keepalived.conf for the host at `rank` in priority order.
fn keepalived_conf(cluster: &Cluster, order: &[&Host], rank: usize, hc: &HealthCheck) -> String {
    let api = &cluster.spec.api_endpoint;
    let me = order[rank];
    let priority = vrrp::base_priority(rank);
    let weight = vrrp::track_weight(order.len());
    let state = if rank == 0 { "MASTER" } else { "BACKUP" };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# keepalived for the API VIP on {}, rendered by spofless.",
        me.name
    );
    let _ = writeln!(s, "global_defs {{");
    let _ = writeln!(s, "    router_id {}", me.name);
    let _ = writeln!(s, "    enable_script_security");
    let _ = writeln!(s, "    script_user root");
    let _ = writeln!(s, "}}\n");
    let _ = writeln!(s, "vrrp_script check_apiserver {{");
    let _ = writeln!(s, "    script \"{CHECK_SCRIPT_PATH}\"");
    let _ = writeln!(s, "    interval {}", hc.interval_seconds.max(1));
    let _ = writeln!(s, "    timeout {}", CHECK_SCRIPT_TIMEOUT_S + 1);
    let _ = writeln!(s, "    fall {}", hc.fall.max(1));
    let _ = writeln!(s, "    rise {}", hc.rise.max(1));
    let _ = writeln!(s, "    weight -{weight}");
    let _ = writeln!(s, "}}\n");
    let _ = writeln!(s, "vrrp_instance API_VIP {{");
    let _ = writeln!(s, "    state {state}");
    let _ = writeln!(s, "    interface {VRRP_INTERFACE}");
    let _ = writeln!(s, "    virtual_router_id {}", api.vrrp.virtual_router_id);
    let _ = writeln!(s, "    priority {priority}");
    let _ = writeln!(
        s,
        "    advert_int {}",
        api.vrrp.advert_interval_seconds.max(1)
    );
    let _ = writeln!(s, "    unicast_src_ip {}", me.address);
    let _ = writeln!(s, "    unicast_peer {{");
    for peer in order.iter().filter(|h| h.name != me.name) {
        let _ = writeln!(s, "        {}", peer.address);
    }
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "    virtual_ipaddress {{");
    let _ = writeln!(s, "        {}", api.vip);
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "    track_script {{");
    let _ = writeln!(s, "        check_apiserver");
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "}}");
    s
}

/// The vrrp_script: the local haproxy must answer the health-check path through the VIP port.
fn check_script(cluster: &Cluster, hc: &HealthCheck) -> String {
    let port = cluster.spec.api_endpoint.port;
    format!(
        "#!/bin/sh\n\
         # keepalived health check rendered by spofless: fails when the local haproxy cannot\n\
         # reach a ready apiserver, so keepalived lowers this host's priority.\n\
         exec /usr/bin/curl --silent --fail --insecure --max-time {CHECK_SCRIPT_TIMEOUT_S} \
         --output /dev/null https://127.0.0.1:{port}{path}\n",
        path = hc.path,
    )
}

/// haproxy.cfg, identical on every control-plane host.
fn haproxy_cfg(cluster: &Cluster, order: &[&Host], hc: &HealthCheck) -> String {
    let api = &cluster.spec.api_endpoint;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# haproxy in front of every kube-apiserver, rendered by spofless."
    );
    s.push_str(
        "global\n    log /dev/log local0\n    daemon\n\n\
         defaults\n    mode tcp\n    log global\n    option tcplog\n    option dontlognull\n    \
         retries 1\n    timeout connect 5s\n    timeout client 35s\n    timeout server 35s\n    \
         timeout check 10s\n\n",
    );
    let _ = writeln!(s, "frontend apiserver");
    let _ = writeln!(s, "    bind :{}", api.port);
    let _ = writeln!(s, "    mode tcp");
    let _ = writeln!(s, "    default_backend apiservers\n");
    let _ = writeln!(s, "backend apiservers");
    let _ = writeln!(s, "    mode tcp");
    let _ = writeln!(s, "    balance roundrobin");
    let _ = writeln!(s, "    option httpchk GET {}", hc.path);
    let _ = writeln!(s, "    http-check expect status 200");
    let _ = writeln!(
        s,
        "    default-server check check-ssl verify none inter {}s fall {} rise {}",
        hc.interval_seconds.max(1),
        hc.fall.max(1),
        hc.rise.max(1)
    );
    for h in order {
        let _ = writeln!(s, "    server {} {}:{APISERVER_PORT}", h.name, addr(h));
    }
    s
}

fn addr(h: &Host) -> String {
    match h.address {
        std::net::IpAddr::V6(a) => format!("[{a}]"),
        std::net::IpAddr::V4(a) => a.to_string(),
    }
}
