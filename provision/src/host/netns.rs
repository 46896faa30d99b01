//! [`Host`] for a host of the test bed: a network namespace on this machine.
//!
//! Commands run under `ip netns exec NS` (which `exec`s the program, so the bounded runner's
//! deadline and process-group kill reach it). A network namespace shares the machine's
//! filesystem, so files are written and read directly, with the same write-beside-and-rename
//! discipline as over SSH; `chown` takes the owner's names.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::sync::oneshot;

use super::{Host, HostError, HostFuture, Owner, path_text};
use crate::exec::{self, Command, ExecError, Output};

/// A host that is a named network namespace (`/run/netns/NAME`).
#[derive(Debug, Clone)]
pub struct NetnsHost {
    name: String,
    namespace: String,
}

impl NetnsHost {
    /// Host `name` living in namespace `namespace`.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        NetnsHost {
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// The namespace's name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `cmd` as it runs on this machine: inside the namespace.
    pub fn local_command(&self, cmd: &Command) -> Command {
        cmd.wrapped(["ip", "netns", "exec", &self.namespace])
    }

    /// Runs `cmd` inside the namespace, blocking the calling thread (bounded).
    pub fn run_blocking(&self, cmd: &Command) -> Result<Output, HostError> {
        exec::run(&self.local_command(cmd)).map_err(|source| self.exec_error(source))
    }

    fn exec_error(&self, source: ExecError) -> HostError {
        HostError::Exec {
            host: self.name.clone(),
            source,
        }
    }

    fn file_error(&self, action: &'static str, path: &Path, source: std::io::Error) -> HostError {
        HostError::File {
            host: self.name.clone(),
            action,
            path: path.to_owned(),
            source,
        }
    }

    fn put_blocking(
        &self,
        path: &Path,
        contents: &[u8],
        mode: u32,
        owner: &Owner,
    ) -> Result<(), HostError> {
        let text = path_text(&self.name, path)?;
        let tmp = PathBuf::from(format!("{text}.spofless.{}", std::process::id()));
        let write = || -> Result<(), HostError> {
            let _ = std::fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| self.file_error("creating", &tmp, e))?;
            f.write_all(contents)
                .and_then(|()| f.sync_all())
                .map_err(|e| self.file_error("writing", &tmp, e))?;
            let chown = Command::new("chown")
                .args([owner.spec(), tmp.display().to_string()])
                .clear_env();
            exec::run_checked(&chown).map_err(|source| self.exec_error(source))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                .map_err(|e| self.file_error("setting the mode of", &tmp, e))?;
            std::fs::rename(&tmp, path).map_err(|e| self.file_error("renaming onto", path, e))
        };
        let r = write();
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
    }

    /// Runs `job` on its own thread and awaits it, so a slow command never blocks an executor.
    fn off_thread<'a, T: Send + 'static>(
        &'a self,
        job: impl FnOnce(NetnsHost) -> Result<T, HostError> + Send + 'static,
    ) -> HostFuture<'a, T> {
        let me = self.clone();
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            let worker = me.clone();
            std::thread::spawn(move || {
                let _ = tx.send(job(worker));
            });
            rx.await.unwrap_or_else(|_| {
                Err(me.file_error(
                    "running a job for",
                    Path::new(&me.namespace),
                    std::io::Error::other("worker thread panicked"),
                ))
            })
        })
    }
}

impl Host for NetnsHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn run<'a>(&'a self, cmd: &'a Command) -> HostFuture<'a, Output> {
        let cmd = cmd.clone();
        self.off_thread(move |h| h.run_blocking(&cmd))
    }

    fn put_file<'a>(
        &'a self,
        path: &'a Path,
        contents: &'a [u8],
        mode: u32,
        owner: &'a Owner,
    ) -> HostFuture<'a, ()> {
        let (path, contents, owner) = (path.to_owned(), contents.to_vec(), owner.clone());
        self.off_thread(move |h| h.put_blocking(&path, &contents, mode, &owner))
    }

    fn read_file<'a>(&'a self, path: &'a Path) -> HostFuture<'a, Vec<u8>> {
        let path = path.to_owned();
        self.off_thread(move |h| {
            std::fs::read(&path).map_err(|e| h.file_error("reading", &path, e))
        })
    }
}
