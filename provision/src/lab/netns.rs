//! The isolated lab's network namespace: created with `ip netns`, entered per socket, marked
//! as the lab's own.
//!
//! The lab's bridge and guest addresses exist only inside this namespace. The SSH transport
//! reaches guests with sockets created inside it ([`crate::transport::tcp::connect`]).
//!
//! Ownership marker: the namespace's loopback device carries an interface alias naming the lab
//! and its state directory ([`Owner`]). The marker lives exactly as long as the namespace, so a
//! namespace left behind by a killed `lab up` (or a test that nextest terminated) can be
//! recognised as the lab's own and removed by the next `up` or `down`, while a namespace of the
//! same name without the marker, or with another lab's marker, is refused.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use super::LabError;
use super::tool::IP;

/// First word of the marker alias on the namespace's `lo`.
pub const MARKER_TAG: &str = "spofless-lab";

/// Linux's `IFALIASZ` (include/uapi/linux/if.h: 256) less the terminating NUL: the longest
/// interface alias the kernel stores.
pub const IFALIAS_MAX: usize = 255;

/// Bound on processes in the namespace exiting after SIGTERM, before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(15);
/// Bound on processes disappearing after SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// Who created a namespace, as its marker records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Lab name (`spofless-<cluster>`).
    pub lab: String,
    /// The lab's state directory (absolute).
    pub state_dir: PathBuf,
}

impl Owner {
    /// The marker text: `spofless-lab lab=<name> state=<dir>` (the directory last, so it may
    /// contain spaces).
    pub fn marker(&self) -> String {
        format!(
            "{MARKER_TAG} lab={} state={}",
            self.lab,
            self.state_dir.display()
        )
    }

    /// Parses a marker; `None` for any other alias (or none).
    pub fn parse(alias: &str) -> Option<Owner> {
        let rest = alias.strip_prefix(MARKER_TAG)?.strip_prefix(" lab=")?;
        let (lab, dir) = rest.split_once(" state=")?;
        if lab.is_empty() || lab.contains(' ') || dir.is_empty() {
            return None;
        }
        Some(Owner {
            lab: lab.to_owned(),
            state_dir: PathBuf::from(dir),
        })
    }
}

/// Path of the named namespace's handle.
pub fn path(name: &str) -> PathBuf {
    crate::transport::tcp::netns_path(name)
}

/// Whether the named namespace exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Creates the namespace, brings its loopback up and marks it as `owner`'s. Fails if it
/// already exists. If marking fails the namespace is deleted again, so an unmarked namespace
/// of the lab's name is never left behind by the lab itself.
pub fn create(name: &str, owner: &Owner) -> Result<(), LabError> {
    let marker = owner.marker();
    if marker.len() > IFALIAS_MAX {
        return Err(LabError::State {
            path: owner.state_dir.clone(),
            reason: format!(
                "state directory path too long for the namespace marker ({} > {IFALIAS_MAX} bytes)",
                marker.len()
            ),
        });
    }
    IP.run(["netns", "add", name])?;
    let marked = IP
        .run(["-n", name, "link", "set", "lo", "up"])
        .and_then(|_| IP.run(["-n", name, "link", "set", "lo", "alias", &marker]));
    if let Err(e) = marked {
        let _ = IP.run(["netns", "del", name]);
        return Err(e);
    }
    Ok(())
}

/// The owner recorded in the namespace's marker; `None` if the namespace does not exist or
/// carries no lab marker.
pub fn owner(name: &str) -> Result<Option<Owner>, LabError> {
    if !exists(name) {
        return Ok(None);
    }
    let out = IP.run(["-n", name, "-j", "link", "show", "dev", "lo"])?;
    Ok(alias_from_json(&out.stdout)
        .as_deref()
        .and_then(Owner::parse))
}

/// The `ifalias` of the first link in `ip -j link show` output.
fn alias_from_json(json: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    v.get(0)?.get("ifalias")?.as_str().map(str::to_owned)
}

/// Process ids of everything running in the namespace (`ip netns pids`).
pub fn pids(name: &str) -> Result<Vec<Pid>, LabError> {
    if !exists(name) {
        return Ok(Vec::new());
    }
    let out = IP.run(["netns", "pids", name])?;
    let mut pids: Vec<Pid> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter_map(Pid::from_raw)
        .collect();
    pids.sort_by_key(|p| p.as_raw_nonzero());
    pids.dedup();
    Ok(pids)
}

/// Ends every process in the namespace: SIGTERM, up to [`TERM_GRACE`], then SIGKILL, up to
/// [`KILL_GRACE`]. Callers check the marker first: only a namespace the lab created is
/// emptied this way (the lab's daemons, QEMU and dnsmasq run there, and nothing else can).
pub fn stop_processes(name: &str) -> Result<(), LabError> {
    for (signal, grace) in [(Signal::TERM, TERM_GRACE), (Signal::KILL, KILL_GRACE)] {
        let found = pids(name)?;
        if found.is_empty() {
            return Ok(());
        }
        for p in &found {
            let _ = kill_process(*p, signal);
        }
        let started = Instant::now();
        while started.elapsed() < grace {
            if pids(name)?.is_empty() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let left = pids(name)?;
    if left.is_empty() {
        Ok(())
    } else {
        Err(LabError::Timeout {
            what: format!(
                "processes {:?} in namespace {name} to exit after SIGKILL",
                left.iter().map(|p| p.as_raw_nonzero()).collect::<Vec<_>>()
            ),
            seconds: (TERM_GRACE + KILL_GRACE).as_secs(),
        })
    }
}

/// Deletes the namespace; absent is fine (idempotent).
pub fn delete(name: &str) -> Result<(), LabError> {
    if !exists(name) {
        return Ok(());
    }
    IP.run(["netns", "del", name]).map(|_| ())
}

/// Whether `owner`'s namespace may be adopted (emptied and deleted) by the lab `lab` whose
/// state directory is `state_dir` and records no namespace: the marker must name this lab, and
/// either this state directory or one that no longer records a lab using the namespace (its
/// state file is gone, e.g. a killed test's temporary directory was removed, or it records no
/// namespace). A namespace that another live state file still records is that lab's to remove.
pub fn adoptable(owner: &Owner, lab: &str, netns: &str, state_dir: &Path) -> Result<(), String> {
    if owner.lab != lab {
        return Err(format!("its marker names lab {}", owner.lab));
    }
    if owner.state_dir == state_dir {
        return Ok(());
    }
    match super::LabState::load(&owner.state_dir) {
        Ok(Some(st)) if st.lab == lab && st.netns.as_deref() == Some(netns) => Err(format!(
            "the lab recorded in {} still uses it; run `spofless lab down --isolated \
             --state-dir {}`",
            owner.state_dir.display(),
            owner.state_dir.display()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_and_rejects_other_aliases() {
        let o = Owner {
            lab: "spofless-x".to_owned(),
            state_dir: PathBuf::from("/tmp/a dir/lab"),
        };
        assert_eq!(
            o.marker(),
            "spofless-lab lab=spofless-x state=/tmp/a dir/lab"
        );
        assert_eq!(Owner::parse(&o.marker()), Some(o));
        assert_eq!(Owner::parse("spofless-lab lab= state=/x"), None);
        assert_eq!(Owner::parse("someone else's loopback"), None);
        assert_eq!(Owner::parse(""), None);
    }

    #[test]
    fn alias_is_read_from_ip_json() {
        let json = br#"[{"ifindex":1,"ifname":"lo","ifalias":"spofless-lab lab=a state=/s"}]"#;
        assert_eq!(
            alias_from_json(json).as_deref(),
            Some("spofless-lab lab=a state=/s")
        );
        assert_eq!(alias_from_json(br#"[{"ifindex":1,"ifname":"lo"}]"#), None);
        assert_eq!(alias_from_json(b"not json"), None);
    }

    #[test]
    fn adoption_needs_this_lab_and_no_other_live_record() {
        let mine = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let other = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let owner = |lab: &str, dir: &Path| Owner {
            lab: lab.to_owned(),
            state_dir: dir.to_owned(),
        };
        // Same lab, same state directory: ours.
        assert!(adoptable(&owner("l", mine.path()), "l", "ns", mine.path()).is_ok());
        // Another lab's marker: never.
        assert!(adoptable(&owner("m", mine.path()), "l", "ns", mine.path()).is_err());
        // Same lab from another state directory that no longer records it: stale, adoptable.
        assert!(adoptable(&owner("l", other.path()), "l", "ns", mine.path()).is_ok());
        // ... unless that directory's state file still records the namespace.
        let live = super::super::LabState {
            lab: "l".to_owned(),
            netns: Some("ns".to_owned()),
            ..Default::default()
        };
        live.save(other.path()).unwrap_or_else(|e| panic!("{e}"));
        let refused = adoptable(&owner("l", other.path()), "l", "ns", mine.path());
        assert!(
            refused.as_ref().is_err_and(|r| r.contains("lab down")),
            "{refused:?}"
        );
    }
}
