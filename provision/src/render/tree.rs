//! The rendered artifact tree: every file keyed by its path under the output directory, and
//! the one function that writes it to disk with the right permission bits.
//!
//! Host files live under `hosts/<host>/<absolute path on the host>`, cluster manifests under
//! `manifests/<layer>/`. A `BTreeMap` keeps the order (and so listings, snapshots and writes)
//! deterministic. Writing is idempotent: a file whose bytes and mode already match is left
//! alone, and changed files are replaced atomically (temp file created with the final mode,
//! then renamed), so a secret is never readable by others, not even briefly.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::error::RenderError;
use super::{FileContents, RenderedFile};

/// Mode of rendered public files.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of rendered scripts keepalived runs (root-owned, not writable by others, as
/// keepalived's `enable_script_security` demands).
pub const SCRIPT_MODE: u32 = 0o755;
/// Mode of rendered files holding secrets.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of directories the writer creates.
pub const DIR_MODE: u32 = 0o755;

/// Every rendered file, keyed by its path relative to the output directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<PathBuf, RenderedFile>,
}

/// What [`Tree::write_to`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or replaced.
    pub written: Vec<PathBuf>,
    /// Files already identical.
    pub unchanged: Vec<PathBuf>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `file` at `rel`; two files at one path are a renderer bug, reported as an error.
    pub fn insert(
        &mut self,
        rel: impl Into<PathBuf>,
        file: RenderedFile,
    ) -> Result<(), RenderError> {
        let rel = rel.into();
        let climbs = rel.components().any(|c| !matches!(c, Component::Normal(_)));
        if climbs || rel.as_os_str().is_empty() {
            return Err(RenderError::BadPath { path: rel });
        }
        if self.files.contains_key(&rel) {
            return Err(RenderError::DuplicatePath { path: rel });
        }
        self.files.insert(rel, file);
        Ok(())
    }

    /// Adds a file destined for `host`, under `hosts/<host>/` plus its absolute host path.
    pub fn insert_host_file(&mut self, host: &str, file: RenderedFile) -> Result<(), RenderError> {
        let on_host = file
            .path
            .strip_prefix("/")
            .unwrap_or(&file.path)
            .to_path_buf();
        self.insert(Path::new("hosts").join(host).join(on_host), file)
    }

    /// Adds a public text file at `rel` (a cluster manifest), mode 0644.
    pub fn insert_text(
        &mut self,
        rel: impl Into<PathBuf>,
        text: String,
    ) -> Result<(), RenderError> {
        let rel = rel.into();
        let file = RenderedFile {
            path: rel.clone(),
            mode: PUBLIC_MODE,
            contents: FileContents::Public(text),
        };
        self.insert(rel, file)
    }

    /// Merges another tree into this one.
    pub fn extend(&mut self, other: Tree) -> Result<(), RenderError> {
        for (rel, file) in other.files {
            self.insert(rel, file)?;
        }
        Ok(())
    }

    /// The files in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&PathBuf, &RenderedFile)> {
        self.files.iter()
    }

    /// The file at `rel`, if rendered.
    pub fn get(&self, rel: impl AsRef<Path>) -> Option<&RenderedFile> {
        self.files.get(rel.as_ref())
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether nothing was rendered.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Writes every file below `out` with its mode; unchanged files are not touched.
    pub fn write_to(&self, out: &Path) -> Result<WriteReport, RenderError> {
        let mut report = WriteReport::default();
        for (rel, file) in &self.files {
            let path = out.join(rel);
            if let Some(parent) = path.parent() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(parent)
                    .map_err(|source| io_err(parent, source))?;
            }
            if is_current(&path, file) {
                report.unchanged.push(rel.clone());
                continue;
            }
            write_atomic(&path, file)?;
            report.written.push(rel.clone());
        }
        Ok(report)
    }
}

fn io_err(path: &Path, source: std::io::Error) -> RenderError {
    RenderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn is_current(path: &Path, file: &RenderedFile) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    meta.is_file()
        && meta.permissions().mode() & 0o7777 == file.mode
        && fs::read(path).is_ok_and(|bytes| bytes == file.contents.as_bytes())
}

fn write_atomic(path: &Path, file: &RenderedFile) -> Result<(), RenderError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.spofless-tmp"));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file.mode & 0o700)
        .open(&tmp)
        .map_err(|source| io_err(&tmp, source))?;
    f.write_all(file.contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|source| io_err(&tmp, source))?;
    // The umask may have removed bits; set the exact mode before the file gets its name.
    fs::set_permissions(&tmp, fs::Permissions::from_mode(file.mode))
        .map_err(|source| io_err(&tmp, source))?;
    fs::rename(&tmp, path).map_err(|source| io_err(path, source))
}
