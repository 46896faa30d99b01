//! The state directory that holds generated secrets (private keys, tokens) and the public
//! artifacts issued from them (certificates).
//!
//! Rendering is pure apart from secrets, and secrets come from the store's [`RandomSource`],
//! injected when the store is opened: the CLI passes [`OsRandom`], tests a [`SeededRandom`],
//! so a render is a function of (topology, secret source, `now`). A secret is generated once,
//! written here, and every later render reads it back, so rendering twice yields identical
//! bytes; two fresh stores with the same seeded source yield identical bytes too. Secret files are
//! created with mode 0600 at `open(2)` time (never chmod'ed afterwards, so there is no window
//! in which they are readable by others) and published with a hard link so a crash never leaves
//! a half-written key under its final name. Secret values are carried in [`Secret`], whose
//! `Debug` output is redacted and which has no `Display`, so they cannot leak into logs.

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Mode of secret files: owner read/write only.
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of public files in the state directory (certificates, descriptors).
pub const PUBLIC_FILE_MODE: u32 = 0o644;
/// Mode of the state directory itself: owner only.
pub const STATE_DIR_MODE: u32 = 0o700;

/// Errors from the secret store.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A file name that is not a plain `[A-Za-z0-9._-]` name (no separators, no leading dot).
    #[error("invalid state file name {name:?}: use letters, digits, '.', '_' and '-' only")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// An I/O failure on a path in the state directory.
    #[error("state directory I/O on {path}: {source}")]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A secret file that others can read or write; it is refused rather than used.
    #[error(
        "secret {path} has mode {mode:o}; it must not be accessible by group or others \
         (fix with chmod 600, or delete it to regenerate)"
    )]
    InsecurePermissions {
        /// The offending file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A stored file that is not valid UTF-8 text.
    #[error("state file {path} is not UTF-8 text")]
    NotText {
        /// The offending file.
        path: PathBuf,
    },
    /// The generator for a missing secret failed.
    #[error("generating secret {name}: {source}")]
    Generate {
        /// The secret's file name.
        name: String,
        /// What the generator reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A secret value (PEM key, token). `Debug` prints `Secret(<redacted>)`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret text, for writing it to its destination. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the randomness of new secrets (keys, tokens) comes from.
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> io::Result<()>;
}

/// The operating system's random source (`/dev/urandom`): what the CLI uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> io::Result<()> {
        fs::File::open("/dev/urandom")?.read_exact(buf)
    }
}

/// A deterministic source (ChaCha20 from a seed), for tests and reproducible renders. Never
/// for real clusters: anyone with the seed has every key.
#[derive(Debug)]
pub struct SeededRandom(Mutex<ChaCha20Rng>);

impl SeededRandom {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRandom(Mutex::new(ChaCha20Rng::seed_from_u64(seed)))
    }
}

impl RandomSource for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> io::Result<()> {
        let mut rng = self
            .0
            .lock()
            .map_err(|_| io::Error::other("seeded random source poisoned"))?;
        rng.fill_bytes(buf);
        Ok(())
    }
}

/// `n` bytes from `source`.
pub fn random_bytes(source: &dyn RandomSource, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    source.fill(&mut buf)?;
    Ok(buf)
}

/// A state directory holding secrets and the public artifacts derived from them, with the
/// random source new secrets are drawn from.
#[derive(Debug, Clone)]
pub struct SecretStore {
    dir: PathBuf,
    random: Arc<dyn RandomSource>,
}

impl SecretStore {
    /// Opens (creating with mode 0700 if needed) the state directory `dir`; new secrets come
    /// from the operating system ([`OsRandom`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SecretError> {
        Self::open_with(dir, Arc::new(OsRandom))
    }

    /// Opens the state directory `dir` with new secrets drawn from `random`.
    pub fn open_with(
        dir: impl Into<PathBuf>,
        random: Arc<dyn RandomSource>,
    ) -> Result<Self, SecretError> {
        let dir = dir.into();
        DirBuilder::new()
            .recursive(true)
            .mode(STATE_DIR_MODE)
            .create(&dir)
            .map_err(|source| SecretError::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(Self { dir, random })
    }

    /// The source new secrets are drawn from.
    pub fn random(&self) -> &dyn RandomSource {
        self.random.as_ref()
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the secret stored under `name`, generating it from the store's random source
    /// and storing it first if it is absent. An existing secret is never regenerated; one
    /// readable by group or others is refused.
    pub fn get_or_create<E>(
        &self,
        name: &str,
        generate: impl FnOnce(&dyn RandomSource) -> Result<Secret, E>,
    ) -> Result<Secret, SecretError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = self.path_of(name)?;
        if let Some(existing) = self.read_secret(&path)? {
            return Ok(existing);
        }
        let secret = generate(self.random.as_ref()).map_err(|e| SecretError::Generate {
            name: name.to_owned(),
            source: e.into(),
        })?;
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        write_new(&tmp, secret.expose(), SECRET_FILE_MODE)?;
        // Publish without overwriting: if another renderer won the race, use its secret.
        let published = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match published {
            Ok(()) => {
                tracing::info!(secret = name, dir = %self.dir.display(), "generated secret");
                Ok(secret)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => self
                .read_secret(&path)?
                .ok_or_else(|| SecretError::Io { path, source: e }),
            Err(source) => Err(SecretError::Io { path, source }),
        }
    }

    /// Reads the public (non-secret) file `name`, or `None` if it does not exist.
    pub fn read_public(&self, name: &str) -> Result<Option<String>, SecretError> {
        let path = self.path_of(name)?;
        read_text(&path)
    }

    /// Writes the public file `name` (mode 0644), replacing it atomically.
    pub fn write_public(&self, name: &str, contents: &str) -> Result<(), SecretError> {
        let path = self.path_of(name)?;
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        write_new(&tmp, contents, PUBLIC_FILE_MODE)?;
        fs::rename(&tmp, &path).map_err(|source| SecretError::Io { path, source })
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, SecretError> {
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(self.dir.join(name))
        } else {
            Err(SecretError::InvalidName {
                name: name.to_owned(),
            })
        }
    }

    fn read_secret(&self, path: &Path) -> Result<Option<Secret>, SecretError> {
        match fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(SecretError::InsecurePermissions {
                        path: path.to_owned(),
                        mode,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SecretError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        Ok(read_text(path)?.map(Secret::new))
    }
}

fn read_text(path: &Path) -> Result<Option<String>, SecretError> {
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SecretError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|source| SecretError::Io {
            path: path.to_owned(),
            source,
        })?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| SecretError::NotText {
            path: path.to_owned(),
        })
}

/// Creates `path` (which must not exist) with `mode` set at creation, writes and syncs it.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), SecretError> {
    let io_err = |source| SecretError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err)?;
    file.write_all(contents.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_generated_once_with_mode_0600_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::open(dir.path().join("state")).unwrap();
        let first = store
            .get_or_create("k.key", |_| {
                Ok::<_, io::Error>(Secret::new("s3cret".into()))
            })
            .unwrap();
        let second = store
            .get_or_create("k.key", |_| -> Result<Secret, io::Error> {
                panic!("must not regenerate")
            })
            .unwrap();
        assert_eq!(first, second);
        let mode = fs::metadata(dir.path().join("state/k.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let state_mode = fs::metadata(dir.path().join("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(state_mode & 0o777, 0o700);
        assert!(!format!("{first:?}").contains("s3cret"));
    }

    #[test]
    fn readable_secret_is_refused_and_bad_names_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::open(dir.path()).unwrap();
        fs::write(dir.path().join("open.key"), "x").unwrap();
        fs::set_permissions(
            dir.path().join("open.key"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let err = store
            .get_or_create("open.key", |_| Ok::<_, io::Error>(Secret::new("y".into())))
            .unwrap_err();
        assert!(matches!(err, SecretError::InsecurePermissions { .. }));
        assert!(matches!(
            store.read_public("../x"),
            Err(SecretError::InvalidName { .. })
        ));
    }
}
