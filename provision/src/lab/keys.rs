//! The lab's SSH keys: one client key to log in with, one host key per guest to pin.
//!
//! Host keys are generated here, handed to each guest in its cloud-init seed, and recorded in
//! the lab's `known_hosts`; the transport then accepts exactly that key and nothing else. So
//! there is no trust-on-first-use window. Private keys are created 0600 (never widened
//! afterwards) inside a 0700 directory, are reused on the next `lab up`, and never logged.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PublicKey};

use super::LabError;

/// Mode of every private key and seed file the lab writes.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of directories holding private material.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` (and parents) with mode 0700 if missing.
pub fn private_dir(dir: &Path) -> Result<(), LabError> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(|e| LabError::io("creating directory", dir, e))
}

/// Mode of directories QEMU must traverse but nobody else need list.
pub const TRAVERSE_DIR_MODE: u32 = 0o711;

/// Creates `dir` (and parents) with mode 0711 if missing.
pub fn traverse_only_dir(dir: &Path) -> Result<(), LabError> {
    DirBuilder::new()
        .recursive(true)
        .mode(TRAVERSE_DIR_MODE)
        .create(dir)
        .map_err(|e| LabError::io("creating directory", dir, e))
}

/// Writes `data` to a new or existing file created with mode 0600 from the start (never a
/// wider mode, not even briefly). An existing file with a wider mode is refused.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), LabError> {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        return Err(LabError::State {
            path: path.to_owned(),
            reason: "private file is readable by group or others; remove it".to_owned(),
        });
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_MODE)
        .open(path)
        .map_err(|e| LabError::io("creating private file", path, e))?;
    f.write_all(data)
        .map_err(|e| LabError::io("writing private file", path, e))
}

/// A fresh Ed25519 key from the kernel's CSPRNG.
pub fn generate(comment: &str) -> Result<PrivateKey, LabError> {
    let mut seed = [0u8; 32];
    let path = Path::new("/dev/urandom");
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| LabError::io("reading", path, e))?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    key.set_comment(comment);
    Ok(key)
}

/// Loads the key at `path`, or generates one there (0600) and its `.pub` next to it.
///
/// An existing key file that group or others may read (or write) is refused, as OpenSSH
/// refuses it ("UNPROTECTED PRIVATE KEY FILE"): someone may have copied it, so it is not
/// silently narrowed and trusted.
pub fn load_or_create(path: &Path, comment: &str) -> Result<PrivateKey, LabError> {
    if path.exists() {
        let mode = fs::metadata(path)
            .map_err(|e| LabError::io("reading key", path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(LabError::State {
                path: path.to_owned(),
                reason: format!(
                    "private key has mode {:04o}, readable by group or others; \
                     `chmod 600` it if it never left this machine, or remove it",
                    mode & 0o7777
                ),
            });
        }
        let text = fs::read_to_string(path).map_err(|e| LabError::io("reading key", path, e))?;
        return PrivateKey::from_openssh(text.as_bytes())
            .map_err(|e| LabError::Key(format!("{}: {e}", path.display())));
    }
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let key = generate(comment)?;
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| LabError::Key(e.to_string()))?;
    write_private(path, pem.as_bytes())?;
    let public = public_line(key.public_key())?;
    let pub_path = with_suffix(path, ".pub");
    fs::write(&pub_path, format!("{public}\n"))
        .map_err(|e| LabError::io("writing public key", pub_path, e))?;
    Ok(key)
}

/// The OpenSSH one-line form of a public key (`ssh-ed25519 AAAA... comment`).
pub fn public_line(key: &PublicKey) -> Result<String, LabError> {
    key.to_openssh().map_err(|e| LabError::Key(e.to_string()))
}

/// The OpenSSH PEM form of a private key, for the cloud-init seed.
pub fn private_pem(key: &PrivateKey) -> Result<String, LabError> {
    key.to_openssh(LineEnding::LF)
        .map(|z| z.to_string())
        .map_err(|e| LabError::Key(e.to_string()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes an OpenSSH `known_hosts` file pinning `(address, key)` pairs, for `lab ssh`'s
/// `StrictHostKeyChecking=yes` and for the transport.
pub fn write_known_hosts(path: &Path, entries: &[(String, PublicKey)]) -> Result<(), LabError> {
    let mut text = String::new();
    for (addr, key) in entries {
        let mut k = key.clone();
        k.set_comment("");
        text.push_str(&format!("{addr} {}\n", public_line(&k)?.trim_end()));
    }
    fs::write(path, text).map_err(|e| LabError::io("writing known_hosts", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("ssh/id_ed25519");
        let a = load_or_create(&path, "lab").unwrap_or_else(|e| panic!("{e}"));
        let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let dir_mode = fs::metadata(dir.path().join("ssh")).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(dir_mode.ok(), Some(0o700));
        let b = load_or_create(&path, "lab").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.public_key(), b.public_key());
        assert!(
            path.with_extension("pub").exists() || dir.path().join("ssh/id_ed25519.pub").exists()
        );
    }

    #[test]
    fn refuses_to_load_a_private_key_readable_by_others() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("id_ed25519");
        let key = load_or_create(&path, "lab").unwrap_or_else(|e| panic!("{e}"));
        for mode in [0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
            let r = load_or_create(&path, "lab");
            assert!(
                matches!(&r, Err(LabError::State { reason, .. }) if reason.contains(&format!("{mode:04o}"))),
                "mode {mode:o}: {r:?}"
            );
        }
        // Narrowed back, the same key loads again (it was neither replaced nor rewritten).
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{e}"));
        let again = load_or_create(&path, "lab").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.public_key(), key.public_key());
    }

    #[test]
    fn refuses_a_widened_private_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("key");
        fs::write(&path, "x").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(write_private(&path, b"secret").is_err());
    }
}
