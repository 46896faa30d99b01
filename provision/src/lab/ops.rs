//! `lab up`, `down`, `status` and `fault`: the lab's lifecycle over libvirt.
//!
//! `up` runs in phases (image, daemon, files, network, domains, ssh), reports each phase's
//! start and duration through an observer (the CLI draws progress bars from it), and records
//! every object in the state file the moment it exists. `down` walks the state file backwards
//! and is idempotent. The fault primitives act on one recorded guest: [`Lab::crash`] pulls the
//! plug, [`Lab::boot`] thaws or boots it, [`Lab::set_link`] takes its NIC's link down or up;
//! `crate::inject::lab` maps topology's faults onto them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use topology::Cluster;

use super::LabError;
use super::accel::Accel;
use super::daemon::PrivateDaemon;
use super::driver::{Libvirt, RunState};
use super::guest::{self, Guests};
use super::image::{self, Image};
use super::netns;
use super::prepare::prepare;
use super::spec::{LabOptions, LabSpec, Mode};
use super::state::{Daemon, LabState};
use super::xml::{DomainFiles, domain_xml, interface_xml, network_xml};

/// The isolated daemon's private directories, under the lab's state directory.
pub const DAEMON_DIR: &str = "libvirtd";

/// Bound on building the image (debootstrap from the mirror; about 2-5 minutes measured).
pub const IMAGE_BUILD_TIMEOUT: Duration = Duration::from_secs(1800);
/// Bound on all guests becoming SSH-ready after they are started.
pub const SSH_READY_TIMEOUT: Duration = Duration::from_secs(600);

/// Progress of a lab operation.
#[derive(Debug, Clone)]
pub enum Event {
    /// A phase began; `steps` is how many [`Event::Step`]s it will report.
    Phase {
        /// Phase name.
        name: &'static str,
        /// Expected steps.
        steps: u64,
    },
    /// One step of the current phase finished.
    Step(String),
    /// The phase ended after `elapsed`.
    PhaseDone {
        /// Phase name.
        name: &'static str,
        /// Its duration.
        elapsed: Duration,
    },
}

/// Receives [`Event`]s.
pub type Observer<'a> = &'a mut dyn FnMut(Event);

/// What `lab up` did and how long it took.
#[derive(Debug, Clone)]
pub struct UpReport {
    /// Each phase and its duration, in order.
    pub phases: Vec<(&'static str, Duration)>,
    /// The image used.
    pub image: Image,
    /// The accelerator.
    pub accel: Accel,
    /// Why that accelerator (an override, or the KVM probe's outcome).
    pub accel_reason: String,
    /// Per host, time from domain start to SSH-ready.
    pub ssh_ready: Vec<(String, Duration)>,
    /// Whole `lab up`.
    pub total: Duration,
}

/// One guest in `lab status`.
#[derive(Debug, Clone)]
pub struct HostStatus {
    /// Topology host name.
    pub host: String,
    /// libvirt domain name.
    pub domain: String,
    /// Address.
    pub address: String,
    /// Run state.
    pub state: RunState,
}

struct Phases<'a> {
    obs: Observer<'a>,
    done: Vec<(&'static str, Duration)>,
}

impl Phases<'_> {
    fn run<T>(
        &mut self,
        name: &'static str,
        steps: u64,
        f: impl FnOnce(&mut dyn FnMut(Event)) -> Result<T, LabError>,
    ) -> Result<T, LabError> {
        (self.obs)(Event::Phase { name, steps });
        let start = Instant::now();
        let r = f(&mut *self.obs);
        let elapsed = start.elapsed();
        (self.obs)(Event::PhaseDone { name, elapsed });
        self.done.push((name, elapsed));
        r
    }
}

/// A lab for one topology with fixed options.
#[derive(Debug, Clone)]
pub struct Lab {
    /// The options.
    pub opts: LabOptions,
    /// What the lab consists of.
    pub spec: LabSpec,
}

impl Lab {
    /// Derives the lab from `cluster`.
    pub fn new(cluster: &Cluster, mut opts: LabOptions) -> Result<Self, LabError> {
        let spec = LabSpec::from_cluster(cluster, opts.vcpus, opts.memory_mib)?;
        // Overrides only: the KVM probe runs in `up`, the one command that starts guests.
        opts.accel = Accel::from_overrides(opts.accel, cluster.spec.lab.accelerator)?;
        Ok(Lab { opts, spec })
    }

    /// The lab `lab up` recorded in `state_dir`, for faults and probes on its guests (`None`
    /// when nothing is recorded there). Its mode is the recorded one; guest sizes and the image
    /// cache do not matter once the guests exist.
    pub fn recorded(
        cluster: &Cluster,
        state_dir: &std::path::Path,
    ) -> Result<Option<Self>, LabError> {
        let Some(st) = LabState::load(state_dir)? else {
            return Ok(None);
        };
        let mode = match st.netns {
            Some(_) => Mode::Isolated,
            None => Mode::Workstation { uri: st.uri },
        };
        let opts = LabOptions {
            mode,
            accel: None,
            vcpus: 1,
            memory_mib: 1024,
            state_dir: state_dir.to_path_buf(),
            cache_dir: image::default_cache_dir(),
            with_ceph: true,
        };
        Lab::new(cluster, opts).map(Some)
    }

    fn state_dir(&self) -> &std::path::Path {
        &self.opts.state_dir
    }

    fn netns(&self) -> Option<&str> {
        match self.opts.mode {
            Mode::Isolated => Some(&self.spec.netns),
            Mode::Workstation { .. } => None,
        }
    }

    fn daemon(&self) -> PrivateDaemon {
        PrivateDaemon::new(self.state_dir().join(DAEMON_DIR))
    }

    fn save(&self, st: &LabState) -> Result<(), LabError> {
        st.save(self.state_dir())
    }

    /// Builds the lab and waits until every guest answers SSH with its pinned key.
    pub fn up(&self, obs: Observer<'_>) -> Result<UpReport, LabError> {
        let started = Instant::now();
        if let Some(st) = LabState::load(self.state_dir())? {
            return Err(LabError::State {
                path: LabState::path(self.state_dir()),
                reason: format!(
                    "lab {} is already up; run `spofless lab down` first",
                    st.lab
                ),
            });
        }
        let mut ph = Phases {
            obs,
            done: Vec::new(),
        };
        let layers = image::layers(self.opts.with_ceph);
        let img = ph.run("image", 1, |o| {
            let img = image::ensure(&self.opts.cache_dir, &layers, IMAGE_BUILD_TIMEOUT)?;
            o(Event::Step(format!(
                "{} image {} ({} MiB, built in {} s)",
                if img.built_now { "built" } else { "cached" },
                img.dir.display(),
                img.qcow2_bytes / (1024 * 1024),
                img.build_seconds
            )));
            Ok(img)
        })?;
        // The probe boots the lab's own kernel, so it runs once the image is there.
        let (accel, accel_reason) = match self.opts.accel {
            Some(a) => (
                a,
                "set by --accel, SPOFLESS_LAB_ACCEL or the topology".to_owned(),
            ),
            None => {
                let (a, probe) = Accel::detect(&img.kernel);
                (a, format!("KVM probe: {probe}"))
            }
        };
        let mut st = LabState {
            lab: self.spec.name.clone(),
            accel: accel.to_string(),
            ..LabState::default()
        };
        st.uri = match &self.opts.mode {
            Mode::Workstation { uri } => uri.clone(),
            Mode::Isolated => self.daemon().uri(),
        };
        self.save(&st)?;
        if self.opts.mode == Mode::Isolated {
            ph.run("daemon", 2, |o| {
                if self.clean_stale_namespace()? {
                    o(Event::Step(format!(
                        "removed namespace {} left by a killed run",
                        self.spec.netns
                    )));
                }
                netns::create(&self.spec.netns, &self.owner())?;
                st.netns = Some(self.spec.netns.clone());
                self.save(&st)?;
                o(Event::Step(format!("namespace {}", self.spec.netns)));
                let d = self.daemon();
                st.daemon = Some(Daemon {
                    root: d.root.clone(),
                    uri: d.uri(),
                });
                self.save(&st)?;
                d.start(&self.spec.netns)?;
                o(Event::Step("libvirtd".to_owned()));
                Ok(())
            })?;
        }
        let files = ph.run("files", self.spec.vms.len() as u64, |o| {
            let mut rec = |p: &std::path::Path| {
                if !st.paths.iter().any(|q| q == p) {
                    st.paths.push(p.to_owned());
                }
                self.save(&st)
            };
            let files = prepare(&self.spec, self.state_dir(), &img, &mut rec)?;
            for vm in &self.spec.vms {
                o(Event::Step(vm.host.clone()));
            }
            Ok(files)
        })?;
        let lv = Libvirt::open(&st.uri)?;
        ph.run("network", 1, |o| {
            let c = lv.create_network(&self.spec.network, &network_xml(&self.spec))?;
            st.network = Some(c.clone());
            self.save(&st)?;
            lv.start_network(&c)?;
            o(Event::Step(self.spec.network.clone()));
            Ok(())
        })?;
        let boot = ph.run("domains", self.spec.vms.len() as u64, |o| {
            self.create_domains(&lv, accel, &files, &mut st, o)
        })?;
        let ssh_ready = if accel == Accel::Test {
            Vec::new()
        } else {
            ph.run("ssh", self.spec.vms.len() as u64, |o| {
                let guests = Guests::load(&self.spec, self.state_dir(), self.netns())?;
                let rt = guest::runtime()?;
                // Waits start right after the domains did; add that gap to each wait.
                let gap = boot.elapsed();
                let ready = rt.block_on(guests.wait_all(boot + SSH_READY_TIMEOUT))?;
                let ready: Vec<(String, Duration)> =
                    ready.into_iter().map(|(h, d)| (h, d + gap)).collect();
                for (h, d) in &ready {
                    o(Event::Step(format!("{h} after {:.1} s", d.as_secs_f64())));
                }
                Ok(ready)
            })?
        };
        Ok(UpReport {
            phases: ph.done,
            image: img,
            accel,
            accel_reason,
            ssh_ready,
            total: started.elapsed(),
        })
    }

    /// Defines and starts one domain per guest, recording each; returns when they were started.
    pub fn create_domains(
        &self,
        lv: &Libvirt,
        accel: Accel,
        files: &[DomainFiles],
        st: &mut LabState,
        o: &mut dyn FnMut(Event),
    ) -> Result<Instant, LabError> {
        let mut created = Vec::new();
        for (vm, f) in self.spec.vms.iter().zip(files) {
            let c = lv.define_domain(&vm.domain, &domain_xml(&self.spec, vm, accel, f))?;
            st.domains.push((vm.host.clone(), c.clone()));
            self.save(st)?;
            created.push(c);
        }
        let boot = Instant::now();
        for (vm, c) in self.spec.vms.iter().zip(&created) {
            lv.start(c)?;
            o(Event::Step(vm.domain.clone()));
        }
        Ok(boot)
    }

    /// Records a workstation-mode lab on `lv` without images or guests' files: used to
    /// exercise define/start/destroy against libvirt's `test:///default` driver.
    pub fn up_objects(
        &self,
        lv: &Libvirt,
        accel: Accel,
        files: &[DomainFiles],
    ) -> Result<LabState, LabError> {
        let mut st = LabState {
            lab: self.spec.name.clone(),
            uri: lv.uri().to_owned(),
            accel: accel.to_string(),
            ..LabState::default()
        };
        self.save(&st)?;
        let c = lv.create_network(&self.spec.network, &network_xml(&self.spec))?;
        st.network = Some(c.clone());
        self.save(&st)?;
        lv.start_network(&c)?;
        self.create_domains(lv, accel, files, &mut st, &mut |_| {})?;
        Ok(st)
    }

    /// The marker the lab's namespace carries.
    fn owner(&self) -> netns::Owner {
        netns::Owner {
            lab: self.spec.name.clone(),
            state_dir: self.state_dir().to_owned(),
        }
    }

    /// Removes a namespace of this lab's name that no state file here records, if its marker
    /// says this lab created it and no other live state file records it ([`netns::adoptable`]):
    /// a `lab up` or test killed before it could clean up leaves exactly that. Its processes
    /// (the old libvirtd, virtlogd, QEMU) are ended and the old daemon's private directories
    /// removed. A namespace without the marker, or another lab's, is refused. Returns whether
    /// one was removed.
    pub fn clean_stale_namespace(&self) -> Result<bool, LabError> {
        let ns = &self.spec.netns;
        if !netns::exists(ns) {
            return Ok(false);
        }
        let reason = match netns::owner(ns)? {
            None => "it exists without the spofless lab marker".to_owned(),
            Some(o) => match netns::adoptable(&o, &self.spec.name, ns, self.state_dir()) {
                Ok(()) => {
                    tracing::warn!(namespace = %ns, state_dir = %o.state_dir.display(),
                        "removing the namespace of a lab that was killed before `lab down`");
                    netns::stop_processes(ns)?;
                    PrivateDaemon::new(o.state_dir.join(DAEMON_DIR)).remove_dirs()?;
                    netns::delete(ns)?;
                    return Ok(true);
                }
                Err(reason) => reason,
            },
        };
        Err(LabError::NotOurs {
            kind: "namespace",
            name: ns.clone(),
            reason,
        })
    }

    /// Removes everything the state file records, best-effort: every phase runs even when an
    /// earlier one failed, so a broken libvirt still leaves no daemon, QEMU process or
    /// namespace behind; all failures are reported together ([`LabError::Down`]) and the state
    /// file is kept, listing only what is left, so `down` can be run again. Nothing recorded is
    /// fine (idempotent); in isolated mode a namespace a killed run left unrecorded is removed
    /// if its marker shows it is this lab's ([`Lab::clean_stale_namespace`]).
    pub fn down(&self, obs: Observer<'_>) -> Result<Vec<(&'static str, Duration)>, LabError> {
        let mut ph = Phases {
            obs,
            done: Vec::new(),
        };
        let Some(mut st) = LabState::load(self.state_dir())? else {
            if netns::exists(&self.spec.netns) {
                ph.run("namespace", 1, |o| {
                    if self.clean_stale_namespace()? {
                        o(Event::Step(format!("stale {}", self.spec.netns)));
                    }
                    Ok(())
                })?;
            }
            return Ok(ph.done);
        };
        if st.lab != self.spec.name {
            return Err(LabError::State {
                path: LabState::path(self.state_dir()),
                reason: format!("records lab {}, not {}", st.lab, self.spec.name),
            });
        }
        let mut errors: Vec<LabError> = Vec::new();
        let daemon_alive = st.daemon.as_ref().is_none_or(|d| {
            let sock = d.root.join("run").join("libvirt-sock");
            std::os::unix::net::UnixStream::connect(sock).is_ok()
        });
        if daemon_alive && (st.network.is_some() || !st.domains.is_empty()) {
            match Libvirt::open(&st.uri) {
                Ok(lv) => {
                    let _ = ph.run("domains", st.domains.len() as u64, |o| {
                        let mut kept = Vec::new();
                        for (host, c) in std::mem::take(&mut st.domains) {
                            match lv.remove_domain(&c) {
                                Ok(()) => o(Event::Step(host)),
                                Err(e) => {
                                    errors.push(e);
                                    kept.push((host, c));
                                }
                            }
                        }
                        st.domains = kept;
                        Ok(())
                    });
                    let _ = ph.run("network", 1, |o| {
                        if let Some(c) = st.network.take() {
                            match lv.remove_network(&c) {
                                Ok(()) => o(Event::Step(c.name)),
                                Err(e) => {
                                    errors.push(e);
                                    st.network = Some(c);
                                }
                            }
                        }
                        Ok(())
                    });
                }
                Err(e) => errors.push(e),
            }
        }
        // Only a recorded namespace that still carries this lab's marker is emptied or deleted.
        let ns_ours = match st.netns.clone() {
            Some(ns) if netns::exists(&ns) => match netns::owner(&ns) {
                Ok(Some(o)) if o == self.owner() => Some(true),
                Ok(_) => {
                    errors.push(LabError::NotOurs {
                        kind: "namespace",
                        name: ns,
                        reason: "the state file records it but its marker is not this lab's"
                            .to_owned(),
                    });
                    Some(false)
                }
                Err(e) => {
                    errors.push(e);
                    Some(false)
                }
            },
            Some(_) => {
                st.netns = None;
                None
            }
            None => None,
        };
        if let Some(d) = st.daemon.clone() {
            let _ = ph.run("daemon", 2, |o| {
                let pd = PrivateDaemon::new(d.root.clone());
                if let Err(e) = pd.stop() {
                    errors.push(e);
                }
                o(Event::Step("libvirtd stopped".to_owned()));
                // Whatever the pid files missed (a QEMU whose pid file is gone, a helper).
                if let (Some(ns), Some(true)) = (&st.netns, ns_ours)
                    && let Err(e) = netns::stop_processes(ns)
                {
                    errors.push(e);
                }
                match pd.remove_dirs() {
                    Ok(()) => {
                        st.daemon = None;
                        // The private daemon kept the lab's domain and network definitions in
                        // those directories: with the daemon and its QEMUs gone, so are they.
                        st.domains.clear();
                        st.network = None;
                        o(Event::Step("daemon directories removed".to_owned()));
                    }
                    Err(e) => errors.push(e),
                }
                Ok(())
            });
        }
        if let (Some(ns), Some(true)) = (st.netns.clone(), ns_ours) {
            let _ = ph.run("namespace", 1, |o| {
                match netns::stop_processes(&ns).and_then(|()| netns::delete(&ns)) {
                    Ok(()) => {
                        st.netns = None;
                        o(Event::Step(ns));
                    }
                    Err(e) => errors.push(e),
                }
                Ok(())
            });
        }
        let _ = ph.run("files", st.paths.len() as u64, |o| {
            let mut kept = Vec::new();
            for p in std::mem::take(&mut st.paths) {
                match std::fs::remove_dir_all(&p) {
                    Ok(()) => o(Event::Step(p.display().to_string())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        errors.push(LabError::io("removing", &p, e));
                        kept.push(p);
                    }
                }
            }
            st.paths = kept;
            Ok(())
        });
        let remaining = !st.is_empty();
        if remaining {
            if let Err(e) = self.save(&st) {
                errors.push(e);
            }
        } else {
            let _ = std::fs::remove_dir(self.state_dir().join("vms"));
            if let Err(e) = LabState::remove(self.state_dir()) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(ph.done)
        } else {
            Err(LabError::Down { errors, remaining })
        }
    }

    fn loaded(&self) -> Result<(LabState, Libvirt), LabError> {
        let st = LabState::load(self.state_dir())?
            .ok_or_else(|| LabError::NotUp(LabState::path(self.state_dir())))?;
        let lv = Libvirt::open(&st.uri)?;
        Ok((st, lv))
    }

    /// Run state of every guest.
    pub fn status(&self) -> Result<Vec<HostStatus>, LabError> {
        let (st, lv) = self.loaded()?;
        self.spec
            .vms
            .iter()
            .map(|vm| {
                let state = match st.domain(&vm.host) {
                    Some(c) => lv.state(c)?,
                    None => RunState::Missing,
                };
                Ok(HostStatus {
                    host: vm.host.clone(),
                    domain: vm.domain.clone(),
                    address: vm.address.to_string(),
                    state,
                })
            })
            .collect()
    }

    /// Powers `host`'s guest off at once (no shutdown).
    pub fn crash(&self, host: &str) -> Result<(), LabError> {
        let (st, lv) = self.loaded()?;
        lv.crash(Self::created(&st, host)?)
    }

    /// Thaws a paused guest or boots a powered-off one; a running guest is left alone.
    pub fn boot(&self, host: &str) -> Result<(), LabError> {
        let (st, lv) = self.loaded()?;
        let c = Self::created(&st, host)?;
        match lv.state(c)? {
            RunState::Paused => lv.resume(c),
            RunState::Off => lv.start(c),
            _ => Ok(()),
        }
    }

    /// Freezes `host`'s vCPUs.
    pub fn pause(&self, host: &str) -> Result<(), LabError> {
        let (st, lv) = self.loaded()?;
        lv.pause(Self::created(&st, host)?)
    }

    /// Sets the link of `host`'s NIC up or down (a live update; a rebooted guest comes back
    /// with the defined, up link). Setting it to what it is does nothing.
    pub fn set_link(&self, host: &str, up: bool) -> Result<(), LabError> {
        let (st, lv) = self.loaded()?;
        let vm = self.spec.vm(host)?;
        let c = Self::created(&st, host)?;
        if lv.link_is_down(c)? == up {
            lv.update_interface(c, &interface_xml(&self.spec, vm, up))?;
        }
        Ok(())
    }

    fn created<'s>(st: &'s LabState, host: &str) -> Result<&'s super::state::Created, LabError> {
        st.domain(host)
            .ok_or_else(|| LabError::UnknownHost(host.to_owned()))
    }

    /// The namespace guests are reached from: the one the state file records (so `lab ssh`
    /// and the others follow the mode the lab was brought up in, whatever flags they are
    /// given), or the mode's own before anything is recorded. `None`: this machine's own.
    pub fn reach_netns(&self) -> Result<Option<String>, LabError> {
        Ok(match LabState::load(self.state_dir())? {
            Some(st) => st.netns,
            None => self.netns().map(str::to_owned),
        })
    }

    /// How to reach the guests over SSH (pinned keys; inside the namespace when the recorded
    /// lab is isolated).
    pub fn guests(&self) -> Result<Guests, LabError> {
        Guests::load(&self.spec, self.state_dir(), self.reach_netns()?.as_deref())
    }

    /// An interactive OpenSSH command line for `host` with the pinned key enforced
    /// (`StrictHostKeyChecking=yes` against the lab's `known_hosts`), wrapped in
    /// `ip netns exec` when the state file records an isolated lab.
    pub fn ssh_argv(&self, host: &str) -> Result<Vec<String>, LabError> {
        let vm = self.spec.vm(host)?;
        let sd = self.state_dir();
        let mut argv = Vec::new();
        if let Some(ns) = self.reach_netns()? {
            argv.extend(["ip".to_owned(), "netns".to_owned(), "exec".to_owned(), ns]);
        }
        let path = |p: PathBuf| p.display().to_string();
        argv.extend([
            "ssh".to_owned(),
            "-i".to_owned(),
            path(guest::client_key_path(sd)),
            "-o".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            "-o".to_owned(),
            "StrictHostKeyChecking=yes".to_owned(),
            "-o".to_owned(),
            format!("UserKnownHostsFile={}", path(guest::known_hosts_path(sd))),
            "-o".to_owned(),
            "GlobalKnownHostsFile=/dev/null".to_owned(),
            format!("{}@{}", guest::LOGIN_USER, vm.address),
        ]);
        Ok(argv)
    }
}
