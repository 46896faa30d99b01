//! `spofless lab up|down|status|ssh|fault`: the local VM lab.
//!
//! Raw flags live in [`LabOpts`] and resolve into `provision::lab::LabOptions`; the work is
//! done by `provision::lab::ops` (behind provision's `libvirt` feature, enabled by this crate's
//! `libvirt` feature). Long phases draw an indicatif bar each and print their duration, so
//! `lab up` ends with the phase timings and the time to five SSH-ready guests.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use crate::output::Format;

/// Where and how the lab runs; every lab subcommand takes these (or their env variables).
#[derive(Debug, Clone, Args)]
pub struct LabOpts {
    /// Run the lab's own libvirtd in a network namespace it creates (tests, CI, or to keep the
    /// lab off the host's network). Without it the lab uses the libvirt at `--uri`.
    #[arg(long, env = "SPOFLESS_LAB_ISOLATED")]
    pub isolated: bool,
    /// libvirt URI in workstation mode.
    #[arg(long, env = "SPOFLESS_LAB_URI", default_value = "qemu:///system")]
    pub uri: String,
    /// Accelerator: `kvm` or `tcg`. Default: the topology's `spec.lab.accelerator`, and for
    /// `auto` KVM only if a probe guest with the host CPU model really runs under KVM, TCG
    /// otherwise. An unknown value (also in SPOFLESS_LAB_ACCEL) is an error.
    #[arg(long, env = "SPOFLESS_LAB_ACCEL")]
    pub accel: Option<String>,
    /// Lab state (state file, keys, overlays, seeds).
    #[arg(
        long,
        env = "SPOFLESS_LAB_STATE_DIR",
        default_value = ".spofless-state/lab"
    )]
    pub state_dir: PathBuf,
    /// Image cache (default `$XDG_CACHE_HOME/spofless` or `~/.cache/spofless`).
    #[arg(long, env = "SPOFLESS_LAB_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// vCPUs per guest.
    #[arg(long, default_value_t = 1)]
    pub vcpus: u32,
    /// Memory per guest in MiB.
    #[arg(long, default_value_t = 2048)]
    pub memory_mib: u64,
    /// Leave Ceph's packages out of the guest image (a separate, smaller image: 918 instead
    /// of 1240 MiB, built in about 3 instead of 4.5 minutes here).
    #[arg(long, env = "SPOFLESS_LAB_WITHOUT_CEPH")]
    pub without_ceph: bool,
}

/// A fault `lab fault` injects, in topology's vocabulary (`topology::fault::Fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaultKind {
    /// Power the guest off at once (`--host`).
    HostCrash,
    /// Boot a crashed guest, or thaw a paused one (`--host`).
    HostRestart,
    /// SIGKILL a process in the guest (`--host`, `--process`).
    ProcessStop,
    /// Stop a process's unit gracefully: SIGTERM, its shutdown path, SIGKILL after systemd's
    /// stop timeout (`--host`, `--process`).
    ProcessTerminate,
    /// Start a process's unit again (`--host`, `--process`).
    ProcessStart,
    /// SIGSTOP a process (`--host`, `--process`).
    ProcessPause,
    /// SIGCONT a paused process (`--host`, `--process`).
    ProcessResume,
    /// Cut groups of hosts apart (`--group a,b` per group; unnamed hosts form one more).
    Partition,
    /// Drop packets from `--from` to `--to` only.
    OneWay,
    /// Remove every network fault.
    Heal,
}

/// Builds the topology fault `lab fault` was asked for; a missing option is an error.
#[cfg(any(feature = "libvirt", test))]
pub fn fault_from(
    kind: FaultKind,
    host: Option<String>,
    process: Option<String>,
    from: Option<String>,
    to: Option<String>,
    groups: Vec<String>,
) -> miette::Result<topology::fault::Fault> {
    use topology::fault::Fault;
    let need = |v: Option<String>, flag: &str| {
        v.ok_or_else(|| miette::miette!("`lab fault {kind:?}` needs {flag}"))
    };
    Ok(match kind {
        FaultKind::HostCrash => Fault::HostCrash {
            host: need(host, "--host")?,
        },
        FaultKind::HostRestart => Fault::HostRestart {
            host: need(host, "--host")?,
        },
        FaultKind::ProcessStop => Fault::ProcessStop {
            host: need(host, "--host")?,
            process: need(process, "--process")?,
        },
        FaultKind::ProcessTerminate => Fault::ProcessTerminate {
            host: need(host, "--host")?,
            process: need(process, "--process")?,
        },
        FaultKind::ProcessStart => Fault::ProcessStart {
            host: need(host, "--host")?,
            process: need(process, "--process")?,
        },
        FaultKind::ProcessPause => Fault::ProcessPause {
            host: need(host, "--host")?,
            process: need(process, "--process")?,
        },
        FaultKind::ProcessResume => Fault::ProcessResume {
            host: need(host, "--host")?,
            process: need(process, "--process")?,
        },
        FaultKind::Partition => {
            if groups.is_empty() {
                return Err(miette::miette!("`lab fault partition` needs --group"));
            }
            Fault::Partition {
                groups: groups
                    .iter()
                    .map(|g| g.split(',').map(|h| h.trim().to_owned()).collect())
                    .collect(),
            }
        }
        FaultKind::OneWay => Fault::OneWay {
            from: need(from, "--from")?,
            to: need(to, "--to")?,
        },
        FaultKind::Heal => Fault::Heal,
    })
}

/// The lab subcommands.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build (or reuse) the image, create network and guests, wait for SSH with pinned keys.
    Up {
        /// Topology file (default: the global `-t FILE`, else the embedded default topology).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Lab options.
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Remove every domain, network, overlay and namespace the lab created (safe to repeat).
    Down {
        /// Lab options.
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Show each guest's state.
    Status {
        /// Lab options.
        #[command(flatten)]
        opts: LabOpts,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// SSH to a guest with its pinned host key; with a command after `--`, run it.
    Ssh {
        /// Topology host name.
        host: String,
        /// Command to run instead of an interactive shell.
        #[arg(last = true)]
        command: Vec<String>,
        /// Lab options.
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Inject a fault (topology's vocabulary); one the lab cannot express is refused.
    Fault {
        /// What goes wrong.
        #[arg(value_enum)]
        kind: FaultKind,
        /// The host it happens on.
        #[arg(long)]
        host: Option<String>,
        /// The process (`etcd`, `haproxy`, ...).
        #[arg(long)]
        process: Option<String>,
        /// One-way cut: the sending host.
        #[arg(long)]
        from: Option<String>,
        /// One-way cut: the receiving host.
        #[arg(long)]
        to: Option<String>,
        /// Partition: one group of comma-separated hosts (repeat the flag per group).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Lab options.
        #[command(flatten)]
        opts: LabOpts,
    },
}

/// Runs a lab subcommand for `cluster`.
pub fn run(cmd: LabCommand, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
    imp::run(cmd, cluster)
}

#[cfg(not(feature = "libvirt"))]
mod imp {
    use super::*;

    pub fn run(_cmd: LabCommand, _cluster: &topology::Cluster) -> miette::Result<ExitCode> {
        Err(miette::miette!(
            help = "install libvirt-dev and pkg-config (.ci/lab-packages.sh), then build with \
                    `cargo build -p spofless --features libvirt`",
            "this spofless was built without the lab (cargo feature `libvirt`)"
        ))
    }
}

#[cfg(feature = "libvirt")]
mod imp {
    use std::time::Duration;

    use comfy_table::Table;
    use indicatif::{ProgressBar, ProgressStyle};
    use miette::IntoDiagnostic as _;
    use provision::exec::Command;
    use provision::inject::FaultTarget;
    use provision::inject::lab::LabFaults;
    use provision::lab::ops::{Event, Lab};
    use provision::lab::{Accel, LabOptions, Mode};
    use serde::Serialize;

    use super::*;

    /// Exit code when a remote command ends without a status, as for errors in the CLI.
    const EXIT_ERROR: u8 = 2;

    fn options(o: &LabOpts) -> miette::Result<LabOptions> {
        // `auto` (or empty) leaves the choice to the topology and the KVM probe; anything
        // else must name an accelerator, so a typo is an error rather than a silent probe.
        let accel = match o.accel.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) if a.eq_ignore_ascii_case("auto") => None,
            Some(a) => Some(
                a.parse::<Accel>()
                    .map_err(|e| miette::miette!("--accel / SPOFLESS_LAB_ACCEL: {e}"))?,
            ),
        };
        let cache_dir = o
            .cache_dir
            .clone()
            .unwrap_or_else(provision::lab::image::default_cache_dir);
        let state_dir = std::path::absolute(&o.state_dir)
            .map_err(|e| miette::miette!("--state-dir {}: {e}", o.state_dir.display()))?;
        Ok(LabOptions {
            mode: if o.isolated {
                Mode::Isolated
            } else {
                Mode::Workstation { uri: o.uri.clone() }
            },
            accel,
            vcpus: o.vcpus,
            memory_mib: o.memory_mib,
            state_dir,
            cache_dir,
            with_ceph: !o.without_ceph,
        })
    }

    /// Draws one bar per phase and prints its duration when it ends.
    struct Bars {
        bar: Option<ProgressBar>,
    }

    impl Bars {
        fn event(&mut self, e: Event) {
            match e {
                Event::Phase { name, steps } => {
                    let bar = ProgressBar::new(steps);
                    let style = ProgressStyle::with_template(
                        "{spinner} {prefix:>8} [{bar:30}] {pos}/{len} {elapsed} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style.progress_chars("=> "));
                    bar.set_prefix(name);
                    bar.enable_steady_tick(Duration::from_millis(200));
                    self.bar = Some(bar);
                }
                Event::Step(msg) => {
                    if let Some(b) = &self.bar {
                        b.inc(1);
                        b.set_message(msg);
                    }
                }
                Event::PhaseDone { name, elapsed } => {
                    if let Some(b) = self.bar.take() {
                        b.finish_and_clear();
                    }
                    eprintln!("{name:>10}: {:6.1} s", elapsed.as_secs_f64());
                }
            }
        }
    }

    #[derive(Serialize)]
    struct StatusRow {
        host: String,
        domain: String,
        address: String,
        state: String,
    }

    pub fn run(cmd: LabCommand, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
        let lab = |o: &LabOpts| -> miette::Result<Lab> {
            Lab::new(cluster, options(o)?).into_diagnostic()
        };
        let mut bars = Bars { bar: None };
        match cmd {
            LabCommand::Up { file, opts } => {
                // `lab up FILE` wins over the global `-t`, as `render FILE` does.
                let lab = match file {
                    Some(f) => {
                        let c = crate::load_valid_topology(Some(&f))?;
                        Lab::new(&c, options(&opts)?).into_diagnostic()?
                    }
                    None => lab(&opts)?,
                };
                let report = lab.up(&mut |e| bars.event(e)).map_err(|e| {
                    miette::miette!(help = "`spofless lab down` removes what was created", "{e}")
                })?;
                crate::outln!(
                    "lab {} up: {} guests SSH-ready with pinned host keys, accelerator {} ({})",
                    lab.spec.name,
                    lab.spec.vms.len(),
                    report.accel,
                    report.accel_reason
                )?;
                crate::outln!(
                    "image: {} ({} MiB, {})",
                    report.image.dir.display(),
                    report.image.qcow2_bytes / (1024 * 1024),
                    if report.image.built_now {
                        format!("built in {} s", report.image.build_seconds)
                    } else {
                        "cached".to_owned()
                    }
                )?;
                for (name, d) in &report.phases {
                    crate::outln!("  {name:<8} {:7.1} s", d.as_secs_f64())?;
                }
                let ssh: Option<f64> = report
                    .ssh_ready
                    .iter()
                    .map(|(_, d)| d.as_secs_f64())
                    .reduce(f64::max);
                if let Some(s) = ssh {
                    crate::outln!("time from domain start to all guests SSH-ready: {s:.1} s")?;
                }
                crate::outln!("lab up total: {:.1} s", report.total.as_secs_f64())?;
                Ok(ExitCode::SUCCESS)
            }
            LabCommand::Down { opts } => {
                let lab = lab(&opts)?;
                let phases = lab.down(&mut |e| bars.event(e)).into_diagnostic()?;
                if phases.is_empty() {
                    crate::outln!(
                        "no lab recorded in {}; nothing to remove",
                        lab.opts.state_dir.display()
                    )?;
                } else {
                    crate::outln!("lab {} removed", lab.spec.name)?;
                }
                Ok(ExitCode::SUCCESS)
            }
            LabCommand::Status { opts, output } => {
                let lab = lab(&opts)?;
                let rows: Vec<StatusRow> = lab
                    .status()
                    .into_diagnostic()?
                    .into_iter()
                    .map(|s| StatusRow {
                        host: s.host,
                        domain: s.domain,
                        address: s.address,
                        state: s.state.to_string(),
                    })
                    .collect();
                match output {
                    Format::Table => {
                        let mut t = Table::new();
                        t.set_header(["host", "domain", "address", "state"]);
                        for r in &rows {
                            t.add_row([&r.host, &r.domain, &r.address, &r.state]);
                        }
                        crate::outln!("{t}")?;
                    }
                    f => crate::output::out(crate::output::structured(&rows, f)?)?,
                }
                Ok(ExitCode::SUCCESS)
            }
            LabCommand::Ssh {
                host,
                command,
                opts,
            } => {
                let lab = lab(&opts)?;
                if command.is_empty() {
                    let argv = lab.ssh_argv(&host).into_diagnostic()?;
                    let status = std::process::Command::new(&argv[0])
                        .args(&argv[1..])
                        .status()
                        .map_err(|e| {
                            miette::miette!(help = "install openssh-client", "running ssh: {e}")
                        })?;
                    return Ok(ExitCode::from(
                        status
                            .code()
                            .and_then(|c| u8::try_from(c).ok())
                            .unwrap_or(EXIT_ERROR),
                    ));
                }
                let guests = lab.guests().into_diagnostic()?;
                let rt = provision::lab::guest::runtime().into_diagnostic()?;
                let mut cmd = Command::new(command[0].clone()).args(command[1..].iter().cloned());
                cmd = cmd.timeout(Duration::from_secs(600));
                let out = rt.block_on(guests.run(&host, &cmd)).into_diagnostic()?;
                use std::io::Write;
                let _ = std::io::stdout().write_all(&out.stdout);
                let _ = std::io::stderr().write_all(&out.stderr);
                Ok(ExitCode::from(
                    out.status
                        .and_then(|c| u8::try_from(c).ok())
                        .unwrap_or(EXIT_ERROR),
                ))
            }
            LabCommand::Fault {
                kind,
                host,
                process,
                from,
                to,
                groups,
                opts,
            } => {
                let fault = fault_from(kind, host, process, from, to, groups)?;
                let lab = lab(&opts)?;
                LabFaults::new(&lab).apply(&fault).into_diagnostic()?;
                crate::outln!("{fault}: done")?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: LabCommand,
    }

    fn parse(args: &[&str]) -> LabCommand {
        Cli::try_parse_from(std::iter::once("lab").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .cmd
    }

    #[test]
    fn fault_speaks_topology_vocabulary() {
        use topology::fault::Fault;
        let build = |args: &[&str]| match parse(args) {
            LabCommand::Fault {
                kind,
                host,
                process,
                from,
                to,
                groups,
                ..
            } => fault_from(kind, host, process, from, to, groups),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            build(&["fault", "process-pause", "--host", "a", "--process", "etcd"]).ok(),
            Some(Fault::ProcessPause {
                host: "a".into(),
                process: "etcd".into()
            })
        );
        assert_eq!(
            build(&["fault", "partition", "--group", "a,b", "--group", "c"]).ok(),
            Some(Fault::Partition {
                groups: vec![vec!["a".into(), "b".into()], vec!["c".into()]]
            })
        );
        assert!(
            build(&["fault", "host-crash"]).is_err(),
            "--host is required"
        );
        assert!(build(&["fault", "one-way", "--from", "a"]).is_err());
    }

    #[test]
    fn up_takes_an_optional_topology_file() {
        match parse(&["up", "lab.yaml", "--isolated", "--without-ceph"]) {
            LabCommand::Up { file, opts } => {
                assert_eq!(file, Some(PathBuf::from("lab.yaml")));
                assert!(opts.isolated);
                assert!(opts.without_ceph);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["up"]) {
            LabCommand::Up { file, opts } => {
                assert_eq!(file, None);
                assert!(!opts.without_ceph, "Ceph is in the image by default");
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["lab", "up", "a.yaml", "b.yaml"]).is_err());
    }
}
