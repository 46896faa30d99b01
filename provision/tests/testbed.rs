//! The namespace harness on its own: hosts reach each other over the bridge, a link cut and
//! one-way blocks stop exactly the traffic they should, heal restores it, SIGSTOP/SIGCONT and
//! SIGKILL act on the real daemon, and dropping the lab leaves no namespace behind.
//! The daemon is a single-member plain-HTTP etcd (Debian `etcd-server`), probed by `etcdctl`.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::time::Duration;

use provision::exec::Command;
use provision::host::Host;
use provision::testbed::{DaemonSpec, DaemonState, NetnsError, Testbed};

mod host_common;

mod testbed_support;
use testbed_support::{debian_tool, testbed_or_skip};

fn namespaces() -> String {
    std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn healthy(lab: &Testbed, from: &str, url: &str) -> bool {
    let cmd = Command::new("etcdctl")
        .arg(format!("--endpoints={url}"))
        .args([
            "--dial-timeout=1s",
            "--command-timeout=1s",
            "endpoint",
            "health",
        ])
        .clear_env()
        .timeout(Duration::from_secs(4));
    lab.exec(from, &cmd).map(|o| o.success()).unwrap_or(false)
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    provision::testbed::wait_until(
        what,
        Duration::from_secs(20),
        Duration::from_millis(100),
        || f().then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn netns_lab_cuts_heals_signals_and_cleans_up() {
    debian_tool("etcd", "etcd-server");
    debian_tool("etcdctl", "etcd-client");
    let Some(mut lab) = testbed_or_skip(&["server", "client", "other"]) else {
        return;
    };
    let prefix = lab.prefix().to_owned();
    assert!(namespaces().contains(&format!("{prefix}-server")));
    let addr = lab.address("server").unwrap();
    assert!(addr.to_string().starts_with("10.254."));
    let url = format!("http://{addr}:2379");
    let data = tempfile::tempdir().unwrap();
    let id = lab
        .spawn(
            "server",
            DaemonSpec {
                program: "/usr/bin/etcd".into(),
                args: vec![
                    "--name=server".into(),
                    format!("--data-dir={}", data.path().join("d").display()),
                    format!("--listen-client-urls={url}"),
                    format!("--advertise-client-urls={url}"),
                    "--listen-peer-urls=http://127.0.0.1:2380".into(),
                    "--initial-advertise-peer-urls=http://127.0.0.1:2380".into(),
                    "--initial-cluster=server=http://127.0.0.1:2380".into(),
                ],
                env: vec![("ETCD_LOGGER".into(), "zap".into())],
            },
        )
        .unwrap();
    eventually("etcd reachable from client", || {
        healthy(&lab, "client", &url)
    });

    lab.link_down("client").unwrap();
    assert!(!healthy(&lab, "client", &url), "link down, still reachable");
    assert!(healthy(&lab, "other", &url), "link cut hit the wrong host");
    lab.link_up("client").unwrap();
    eventually("reachable after link up", || healthy(&lab, "client", &url));

    // One direction at a time: either loses the TCP handshake.
    lab.block("client", "server").unwrap();
    assert!(!healthy(&lab, "client", &url));
    assert!(healthy(&lab, "other", &url));
    lab.heal().unwrap();
    lab.block("server", "client").unwrap();
    assert!(!healthy(&lab, "client", &url));
    lab.heal().unwrap();
    eventually("reachable after heal", || healthy(&lab, "client", &url));

    lab.isolate("server").unwrap();
    assert!(!healthy(&lab, "other", &url) && !healthy(&lab, "client", &url));
    lab.heal().unwrap();
    eventually("reachable after isolation heals", || {
        healthy(&lab, "other", &url)
    });

    lab.pause(id).unwrap();
    assert_eq!(lab.state(id).unwrap(), DaemonState::Paused);
    assert!(!healthy(&lab, "client", &url), "SIGSTOPped etcd answered");
    lab.resume(id).unwrap();
    eventually("answers after SIGCONT", || healthy(&lab, "client", &url));

    let pid = lab.pid(id).unwrap();
    lab.kill(id).unwrap();
    assert!(matches!(lab.state(id).unwrap(), DaemonState::Exited(_)));
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    lab.restart(id).unwrap();
    eventually("answers after restart", || healthy(&lab, "client", &url));

    let pid = lab.pid(id).unwrap();
    drop(lab);
    assert!(!namespaces().contains(&prefix), "namespaces left behind");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "daemon left running"
    );
}

#[test]
fn netns_rejects_bad_host_names() {
    assert!(matches!(
        Testbed::new(&["Bad_Name"]),
        Err(NetnsError::BadHostName { .. })
    ));
    assert!(matches!(
        Testbed::new(&["a", "a"]),
        Err(NetnsError::BadHostName { .. })
    ));
}

#[test]
fn netns_host_runs_inside_its_namespace_and_puts_files() {
    let Some(lab) = testbed_or_skip(&["alpha", "beta"]) else {
        return;
    };
    let host = lab.host("alpha").unwrap();
    let files = tempfile::tempdir().unwrap();
    let addr = lab.address("alpha").unwrap().to_string();
    provision::host::block_on(async {
        let dynhost: &dyn Host = &host;
        assert_eq!(dynhost.name(), "alpha");
        let out = dynhost
            .run(&Command::new("ip").args(["-o", "-4", "addr", "show", "dev", "eth0"]))
            .await
            .unwrap();
        assert!(
            out.stdout_str().contains(&format!("{addr}/24")),
            "not inside alpha's namespace: {out:?}"
        );
        host_common::conforms(dynhost, files.path()).await;
    })
    .unwrap();
}
