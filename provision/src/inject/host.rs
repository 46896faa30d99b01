//! Process faults on any [`Host`], by signal, as on a real machine reached over SSH.
//!
//! Stop is `pkill -KILL -x NAME`, pause and resume `pkill -STOP` / `-CONT`, a graceful stop
//! `systemctl stop NAME` and start `systemctl start NAME` (a real host's daemons are systemd
//! units). `pkill` matches the
//! kernel's 15-character process name, so longer names are cut to it. Faults that involve more
//! than one host (partitions, slow links) or the machine itself (crash, disks, drains) are
//! refused here; the targets that own those (the test bed, the libvirt lab) apply them.

use topology::fault::Fault;

use super::InjectError;
use crate::exec::Command;
use crate::host::Host;

/// Longest process name the kernel keeps (`TASK_COMM_LEN - 1`), which `pkill -x` matches.
const COMM_LEN: usize = 15;

/// Applies a process fault on `host`; refuses every other fault.
pub async fn apply_on_host(host: &dyn Host, fault: &Fault) -> Result<(), InjectError> {
    let target = format!("host {}", host.name());
    let (process, cmd) = match fault {
        Fault::ProcessStop { process, .. } => (process, signal("KILL", process)),
        // systemd sends SIGTERM (then SIGCONT), waits up to TimeoutStopSec, then SIGKILL, and
        // keeps the unit stopped.
        Fault::ProcessTerminate { process, .. } => (
            process,
            Command::new("systemctl").args(["stop", process.as_str()]),
        ),
        Fault::ProcessPause { process, .. } => (process, signal("STOP", process)),
        Fault::ProcessResume { process, .. } => (process, signal("CONT", process)),
        Fault::ProcessStart { process, .. } => (
            process,
            Command::new("systemctl").args(["start", process.as_str()]),
        ),
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
        // pkill: 1 means no process matched.
        Some(1) if cmd.program() == "pkill" => Err(InjectError::NoSuchProcess {
            target,
            fault: fault.to_string(),
            host: host.name().to_owned(),
            process: process.clone(),
        }),
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

fn signal(sig: &str, process: &str) -> Command {
    let name: String = process.chars().take(COMM_LEN).collect();
    Command::new("pkill").args([format!("-{sig}"), "-x".to_owned(), name])
}
