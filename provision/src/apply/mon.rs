//! Monitor commands through librados' Python binding, several per process.
//!
//! The `ceph` CLI fetches every command's signature from a monitor and validates its
//! arguments against all of them before sending one command: on an idle TCG lab guest
//! `ceph status` took 20 s wall and 7 s of CPU, the same command through `rados.mon_command`
//! 3 s and 1 s (measured 2026-12-07). Apply's gates poll every few seconds and its pool
//! creation sends four commands, on guests that are at the same time creating OSDs, so the
//! CLI's cost was most of the Ceph phase's tail. The commands are the monitor's own JSON
//! (what the CLI would send); they reach the host on stdin, never on a command line.

use std::time::Duration;

use serde_json::{Value, json};

use crate::exec::Command;

/// Reads a JSON list of monitor commands from stdin, sends them in order as `client.admin`
/// (the monitor hosts have its keyring; `CEPH_CONF` names another cluster configuration than
/// `/etc/ceph/ceph.conf`, as for the `ceph` CLI), stops at the first refusal with the monitor's
/// message, and prints every command's output as one JSON list of strings. `argv[1]` bounds
/// the connection and each command, in seconds, through librados' own options: Pacific's
/// binding ignores the `timeout` arguments of `connect` and `mon_command` (rados.pyx: "Any
/// supplied timeout value is currently ignored"), and without them a connection hunts for
/// monitors for `client_mount_timeout` (300 s) and a command waits forever
/// (`rados_mon_op_timeout` 0), outliving the SSH command that started it.
pub(crate) const SCRIPT: &str = r#"import json, os, sys
import rados
cmds = json.load(sys.stdin)
bound = sys.argv[1]
try:
    cluster = rados.Rados(conffile=os.environ.get("CEPH_CONF", "/etc/ceph/ceph.conf"),
                          name="client.admin",
                          conf={"client_mount_timeout": bound, "rados_mon_op_timeout": bound})
    cluster.connect()
except rados.Error as e:
    sys.exit("cannot reach the monitors: %s" % e)
outs = []
try:
    for cmd in cmds:
        ret, out, err = cluster.mon_command(json.dumps(cmd), b"")
        if ret != 0:
            sys.exit("%s: %s (%s)" % (cmd.get("prefix"), err.strip(), os.strerror(-ret)))
        outs.append(out.decode(errors="replace"))
finally:
    cluster.shutdown()
json.dump(outs, sys.stdout)
"#;

/// The command that sends `commands` to the monitors, each bounded by `each`, the whole by
/// enough for all of them plus the interpreter's start.
pub fn mon_commands(commands: &[Value], each: Duration) -> Command {
    let secs = each.as_secs().max(1);
    let whole = each * (commands.len() as u32 + 1) + Duration::from_secs(30);
    // Debian's interpreter, which python3-rados is built for (the `ceph` CLI's own shebang),
    // whatever else comes first on PATH.
    Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .arg(secs.to_string())
        .stdin(Value::Array(commands.to_vec()).to_string().into_bytes())
        .timeout(whole)
}

/// The outputs `mon_commands` printed, one per command.
pub fn parse_outputs(stdout: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(stdout).map_err(|e| format!("unreadable monitor command output: {e}"))
}

/// `ceph status` as JSON.
pub fn status() -> Value {
    json!({"prefix": "status", "format": "json"})
}

/// `ceph quorum_status` as JSON.
pub fn quorum_status() -> Value {
    json!({"prefix": "quorum_status", "format": "json"})
}

/// `ceph osd pool ls` as a JSON list of names.
pub fn pool_ls() -> Value {
    json!({"prefix": "osd pool ls", "format": "json"})
}

/// What `ceph osd pool create NAME PG PG replicated --size SIZE --autoscale-mode=off`, `osd
/// pool set NAME size|min_size` and `osd pool application enable NAME rbd` send. Each is
/// idempotent on the monitor (an existing pool is reported, not an error), and the sets apply
/// to a pool an interrupted run created with the defaults.
pub fn create_pool(name: &str, pg_num: u32, size: u8, min_size: u8) -> Vec<Value> {
    vec![
        json!({"prefix": "osd pool create", "pool": name, "pg_num": pg_num, "pgp_num": pg_num,
               "pool_type": "replicated", "size": size, "autoscale_mode": "off"}),
        json!({"prefix": "osd pool set", "pool": name, "var": "size", "val": size.to_string()}),
        json!({"prefix": "osd pool set", "pool": name, "var": "min_size",
               "val": min_size.to_string()}),
        json!({"prefix": "osd pool application enable", "pool": name, "app": "rbd"}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_go_in_on_stdin_and_outputs_come_back_as_a_list() {
        let cmd = mon_commands(
            &create_pool("replicapool", 32, 3, 2),
            Duration::from_secs(10),
        );
        assert_eq!(cmd.program(), "/usr/bin/python3");
        assert!(!cmd.arguments().iter().any(|a| a.contains("replicapool")));
        let sent: Vec<Value> = serde_json::from_slice(cmd.stdin_data().unwrap()).unwrap();
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[0]["prefix"], "osd pool create");
        assert_eq!(sent[2]["val"], "2");
        assert_eq!(cmd.time_limit(), Duration::from_secs(80));
        assert_eq!(
            parse_outputs(r#"["", "[\"a\"]"]"#).unwrap(),
            ["", "[\"a\"]"]
        );
        assert!(parse_outputs("Traceback").is_err());
    }

    /// The script runs under this machine's own librados binding (ceph-common's python3-rados):
    /// with no cluster configured it names the reason in one line instead of a traceback.
    #[test]
    fn real_librados_without_a_cluster_says_so() {
        if std::path::Path::new("/etc/ceph/ceph.conf").exists() {
            eprintln!("SKIPPED: this machine has a Ceph configuration");
            return;
        }
        let out = crate::exec::run(&mon_commands(&[status()], Duration::from_secs(2)))
            .expect("python3 runs");
        assert!(!out.success());
        let err = out.stderr_str();
        assert!(err.starts_with("cannot reach the monitors:"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
