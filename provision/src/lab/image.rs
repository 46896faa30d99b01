//! The lab's guest image: built by the `vm-images/build.sh` recipe, cached by its hash.
//!
//! The recipe is compiled into the binary; its SHA-256 together with the chosen layers names
//! the cache directory, so a second `lab up` with the same recipe reuses the image and any
//! change to the recipe builds a new one. A build goes to a temporary directory that is
//! renamed into place only when complete, so an interrupted build never leaves a half image
//! that a later run would trust.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::LabError;
use super::tool::DEBOOTSTRAP;
use crate::exec::{Command, run_checked};

/// The image recipe (`vm-images/build.sh`), embedded so the hash covers exactly what runs.
pub const RECIPE: &str = include_str!("../../../vm-images/build.sh");

/// A built, cached image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Cache directory of this image (named by the recipe hash).
    pub dir: PathBuf,
    /// Base disk (qcow2); guests get overlays on it.
    pub base: PathBuf,
    /// Kernel for direct boot.
    pub kernel: PathBuf,
    /// Initial ramdisk for direct boot.
    pub initrd: PathBuf,
    /// Size of the base qcow2 in bytes.
    pub qcow2_bytes: u64,
    /// Seconds the build took (as recorded when it was built).
    pub build_seconds: u64,
    /// Whether this call built it (false: reused from the cache).
    pub built_now: bool,
}

/// Whether `lab up` puts Ceph's packages in the image unless told not to (`--without-ceph`).
///
/// Measured here (vm-images/README.md, 2026-12-01, 2 cores, load 2-3.5): base+ha+ceph built
/// in 262 s (debootstrap 241 s) against 184 s for base+ha; the qcow2 is 1240 MiB instead of
/// 918 MiB. Well under the ten minutes that would make it a poor default, and with it the lab
/// can run Ceph without a second image. Ceph's units are masked, so boots are not slower.
pub const DEFAULT_WITH_CEPH: bool = true;

/// Environment variable naming the image cache directory (`--cache-dir` in the CLI).
pub const CACHE_DIR_ENV: &str = "SPOFLESS_LAB_CACHE_DIR";

/// The image cache when none is given: [`CACHE_DIR_ENV`], else `$XDG_CACHE_HOME/spofless`,
/// else `$HOME/.cache/spofless`, else `.cache/spofless`. The CLI and the lab's end-to-end test
/// both use this, so the test finds the image `lab up` (or CI's prebuild) cached.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("spofless")
}

/// The package layers the recipe installs beyond `base`.
pub fn layers(with_ceph: bool) -> Vec<&'static str> {
    if with_ceph {
        vec!["ha", "ceph"]
    } else {
        vec!["ha"]
    }
}

/// Hex SHA-256 of the recipe and the layer list: the cache key.
pub fn recipe_hash(layers: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(RECIPE.as_bytes());
    h.update(b"\0layers:");
    h.update(layers.join(" ").as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache directory for `layers` under `cache_dir`.
pub fn cache_path(cache_dir: &Path, layers: &[&str]) -> PathBuf {
    cache_dir.join("images").join(&recipe_hash(layers)[..16])
}

/// Returns the cached image for `layers`, building it first if absent. Builds take minutes
/// (debootstrap from the Debian mirror); `timeout` bounds them.
pub fn ensure(cache_dir: &Path, layers: &[&str], timeout: Duration) -> Result<Image, LabError> {
    let dir = cache_path(cache_dir, layers);
    if dir.join("manifest.env").is_file() {
        return load(&dir, false);
    }
    DEBOOTSTRAP.path()?;
    let parent = dir.parent().unwrap_or(cache_dir);
    std::fs::create_dir_all(parent).map_err(|e| LabError::io("creating", parent, e))?;
    let tmp = parent.join(format!(
        ".build-{}-{}",
        &recipe_hash(layers)[..16],
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| LabError::io("creating", &tmp, e))?;
    let script = tmp.join("build.sh");
    std::fs::write(&script, RECIPE).map_err(|e| LabError::io("writing", &script, e))?;
    let started = Instant::now();
    let cmd = Command::new("sh")
        .arg(script.display().to_string())
        .arg(tmp.display().to_string())
        .args(layers.iter().copied())
        .timeout(timeout);
    let result = run_checked(&cmd);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.into());
    }
    tracing::info!(seconds = started.elapsed().as_secs(), "image built");
    let _ = std::fs::remove_file(&script);
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => {}
        // Another `lab up` finished the same build first: use theirs.
        Err(_) if dir.join("manifest.env").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(e) => return Err(LabError::io("installing image into", &dir, e)),
    }
    load(&dir, true)
}

fn load(dir: &Path, built_now: bool) -> Result<Image, LabError> {
    let manifest = dir.join("manifest.env");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| LabError::io("reading", &manifest, e))?;
    let field = |k: &str| -> u64 {
        text.lines()
            .filter_map(|l| l.strip_prefix(k))
            .filter_map(|v| v.strip_prefix('='))
            .find_map(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let image = Image {
        dir: dir.to_owned(),
        base: dir.join("base.qcow2"),
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
        qcow2_bytes: field("QCOW2_BYTES"),
        build_seconds: field("BUILD_SECONDS"),
        built_now,
    };
    for f in [&image.base, &image.kernel, &image.initrd] {
        if !f.is_file() {
            return Err(LabError::State {
                path: dir.to_owned(),
                reason: format!("cached image lacks {}; delete the directory", f.display()),
            });
        }
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_layers() {
        assert_ne!(recipe_hash(&["ha"]), recipe_hash(&["ha", "ceph"]));
        assert_eq!(recipe_hash(&["ha"]), recipe_hash(&["ha"]));
        assert!(RECIPE.starts_with("#!/bin/sh"));
    }

    /// CI builds the image with `vm-images/cached-build.sh` while the workspace compiles; it
    /// must land exactly where `lab up` looks, for the default layers and for others.
    #[test]
    fn ci_prebuild_script_computes_the_same_cache_path() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vm-images/cached-build.sh");
        let cache = Path::new("/nonexistent/spofless-cache");
        let print = |extra: &[&str]| {
            let out = std::process::Command::new("sh")
                .arg(&script)
                .arg("--print-path")
                .arg(cache)
                .args(extra)
                .output()
                .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
            assert!(out.status.success(), "{out:?}");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        };
        assert_eq!(print(&[]), cache_path(cache, &layers(DEFAULT_WITH_CEPH)));
        assert_eq!(print(&["ha"]), cache_path(cache, &layers(false)));
        assert_eq!(print(&["ha", "ceph"]), cache_path(cache, &layers(true)));
        assert_ne!(print(&["ha"]), print(&["ha", "ceph"]));
    }
}
