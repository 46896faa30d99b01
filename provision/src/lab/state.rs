//! The lab's record of what it created, so `lab down` removes exactly that and nothing else.
//!
//! Every object is recorded right after it is created (before the next one is attempted), so
//! an interrupted `lab up` can still be torn down. libvirt objects are recorded with their
//! UUID: a same-named domain or network with another UUID is someone else's and is refused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::LabError;

/// File name of the state file inside the lab's state directory.
pub const STATE_FILE: &str = "lab-state.json";

/// A libvirt object the lab created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// Its name.
    pub name: String,
    /// Its UUID as libvirt reported it after definition.
    pub uuid: String,
}

/// The isolated daemon the lab started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daemon {
    /// Root of its private directories (run, lib, cache, log, etc).
    pub root: PathBuf,
    /// libvirt URI reaching it.
    pub uri: String,
}

/// Everything one lab created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    /// Lab name (`spofless-<cluster>`).
    pub lab: String,
    /// libvirt URI used for every call.
    pub uri: String,
    /// Network namespace the lab created (isolated mode).
    pub netns: Option<String>,
    /// The lab's own libvirtd (isolated mode).
    pub daemon: Option<Daemon>,
    /// The lab network.
    pub network: Option<Created>,
    /// The lab's domains, by topology host name.
    pub domains: Vec<(String, Created)>,
    /// Files and directories created for guests (overlays, disks, seeds).
    pub paths: Vec<PathBuf>,
    /// Accelerator in use (`kvm`, `tcg`, `test`).
    pub accel: String,
}

impl LabState {
    /// Path of the state file under `state_dir`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(STATE_FILE)
    }

    /// Reads the state file; `Ok(None)` when no lab is recorded.
    pub fn load(state_dir: &Path) -> Result<Option<LabState>, LabError> {
        let path = Self::path(state_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| LabError::State {
                    path,
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LabError::io("reading", path, e)),
        }
    }

    /// Writes the state file atomically (temp file + rename).
    pub fn save(&self, state_dir: &Path) -> Result<(), LabError> {
        std::fs::create_dir_all(state_dir).map_err(|e| LabError::io("creating", state_dir, e))?;
        let path = Self::path(state_dir);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| LabError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(|e| LabError::io("writing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| LabError::io("renaming", &path, e))
    }

    /// Removes the state file (after everything it lists is gone).
    pub fn remove(state_dir: &Path) -> Result<(), LabError> {
        let path = Self::path(state_dir);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LabError::io("removing", path, e)),
        }
    }

    /// Whether nothing removable is recorded any more (no daemon, namespace, libvirt object or
    /// path), so `lab down` may delete the state file.
    pub fn is_empty(&self) -> bool {
        self.netns.is_none()
            && self.daemon.is_none()
            && self.network.is_none()
            && self.domains.is_empty()
            && self.paths.is_empty()
    }

    /// The recorded domain of topology host `host`.
    pub fn domain(&self, host: &str) -> Option<&Created> {
        self.domains.iter().find(|(h, _)| h == host).map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(LabState::load(dir.path()).ok(), Some(None));
        let s = LabState {
            lab: "spofless-x".into(),
            uri: "test:///default".into(),
            network: Some(Created {
                name: "n".into(),
                uuid: "u".into(),
            }),
            ..LabState::default()
        };
        s.save(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(LabState::load(dir.path()).ok().flatten(), Some(s));
        LabState::remove(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        LabState::remove(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    }
}
