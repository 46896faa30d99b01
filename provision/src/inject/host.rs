//! Process faults on any [`Host`], by signal, as on a real machine reached over SSH.
//!
//! Stop is SIGKILL to every process of that name, pause and resume `pkill -STOP` / `-CONT`, a
//! graceful stop `systemctl stop NAME` (a real host's daemons are systemd units). Names match
//! the kernel's 15-character process name (`pgrep -x`), so longer names are cut to it.
//!
//! The vocabulary's stop means the process dies without shutting down and stays down until a
//! start, which is what the simulator models. On a systemd host a SIGKILL alone is not that:
//! `Restart=on-failure` brings the unit back (etcd as rendered after `RestartSec=5s`, Debian's
//! ceph-osd after 10 s, haproxy at once). So after the SIGKILL the stop also stops each unit
//! whose main process it killed, cancelling the pending restart (systemd.service: a stop job
//! ends the auto-restart wait), and notes the units under [`STOPPED_DIR`]; start starts
//! exactly those (`ceph-osd@3.service` for the process `ceph-osd`), or the unit named like the
//! process when none is noted. A process that is no unit's main process (a test's sleeper, a
//! daemon's worker child) is only killed.
//!
//! Faults that involve more than one host (partitions, slow links) or the machine itself
//! (crash, disks, drains) are refused here; the targets that own those (the test bed, the
//! libvirt lab) apply them.

use topology::fault::Fault;

use super::InjectError;
use crate::exec::Command;
use crate::host::Host;

/// Longest process name the kernel keeps (`TASK_COMM_LEN - 1`), which `pkill -x` matches.
const COMM_LEN: usize = 15;

/// Where a stop notes the units it stopped, one file per process name (tmpfs: a reboot
/// forgets them, as it forgets that the units were stopped).
pub const STOPPED_DIR: &str = "/run/spofless/stopped";

/// SIGKILL every process named `$1` (exit 1 if none), then stop and note the units whose main
/// process was among them (see the module documentation). A unit's main process is the one
/// systemd started: its parent is PID 1 and its cgroup is the unit's. Both are read from
/// `/proc` before the kill, without asking systemd, so the kill follows `pgrep` within
/// milliseconds even on an emulated guest; the stop is queued (`--no-block`), not waited for,
/// so the command returns as soon as systemd has the job that cancels the restart.
const KILL_AND_HOLD: &str = r#"pids=$(pgrep -x "$1") || exit 1
units=
for p in $pids; do
  ppid=$(cut -d' ' -f4 "/proc/$p/stat" 2>/dev/null)
  u=$(sed -n 's#^0::.*/\([^/]*\.service\)$#\1#p' "/proc/$p/cgroup" 2>/dev/null)
  [ "$ppid" = 1 ] && [ -n "$u" ] && units="$units $u"
done
kill -KILL $pids 2>/dev/null
[ -n "$units" ] || exit 0
mkdir -p "$2" && echo $units > "$2/$1"
systemctl stop --no-block $units"#;

/// Start the units a stop noted for process `$1`, or the unit named `$3` (the full name).
const START_HELD: &str = r#"if [ -f "$2/$1" ]; then
  systemctl start $(cat "$2/$1") && rm -f "$2/$1"
else
  systemctl start "$3"
fi"#;

/// Applies a process fault on `host`; refuses every other fault.
pub async fn apply_on_host(host: &dyn Host, fault: &Fault) -> Result<(), InjectError> {
    let target = format!("host {}", host.name());
    let (process, cmd) = match fault {
        Fault::ProcessStop { process, .. } => (process, script(KILL_AND_HOLD, process)),
        // systemd sends SIGTERM (then SIGCONT), waits up to TimeoutStopSec, then SIGKILL, and
        // keeps the unit stopped.
        Fault::ProcessTerminate { process, .. } => (
            process,
            Command::new("systemctl").args(["stop", process.as_str()]),
        ),
        Fault::ProcessPause { process, .. } => (process, signal("STOP", process)),
        Fault::ProcessResume { process, .. } => (process, signal("CONT", process)),
        Fault::ProcessStart { process, .. } => (process, script(START_HELD, process)),
        _ => {
            return Err(InjectError::unsupported(
                &target,
                fault,
                "a single host applies process faults only; host and network faults need \
                 the lab or the test bed",
            ));
        }
    };
    let out = host.run(&cmd).await.map_err(|source| InjectError::Host {
        target: target.clone(),
        fault: fault.to_string(),
        source: Box::new(source),
    })?;
    match out.status {
        Some(0) => Ok(()),
        // pkill and the stop script: 1 means no process matched.
        Some(1)
            if matches!(
                fault,
                Fault::ProcessStop { .. }
                    | Fault::ProcessPause { .. }
                    | Fault::ProcessResume { .. }
            ) =>
        {
            Err(InjectError::NoSuchProcess {
                target,
                fault: fault.to_string(),
                host: host.name().to_owned(),
                process: process.clone(),
            })
        }
        _ => Err(InjectError::Host {
            target,
            fault: fault.to_string(),
            source: Box::new(crate::host::HostError::Exec {
                host: host.name().to_owned(),
                source: out
                    .checked(&cmd)
                    .err()
                    .unwrap_or(crate::exec::ExecError::Failed {
                        command: cmd.to_string(),
                        status: "unknown".into(),
                        stderr: String::new(),
                    }),
            }),
        }),
    }
}

fn comm(process: &str) -> String {
    process.chars().take(COMM_LEN).collect()
}

fn signal(sig: &str, process: &str) -> Command {
    Command::new("pkill").args([format!("-{sig}"), "-x".to_owned(), comm(process)])
}

/// `sh -c SCRIPT sh COMM STOPPED_DIR PROCESS`: the names reach the script as arguments, never
/// as shell text.
fn script(text: &str, process: &str) -> Command {
    Command::new("sh").args(["-c", text, "sh", &comm(process), STOPPED_DIR, process])
}
