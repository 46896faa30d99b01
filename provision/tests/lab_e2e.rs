//! End to end: `lab up` of the default topology in isolated mode, under TCG here.
//!
//! Five guests from the cached image, each reachable over SSH only with its pinned host key,
//! with the topology's hostname, FQDN and address; `fault crash` and `fault isolate` observed
//! from the other guests; `lab down` leaves no namespace, daemon, QEMU process, file or state
//! behind, and a second `down` is a no-op. Needs the `libvirt` feature and root; skips loudly
//! only where QEMU or network namespaces are missing. Every wait is bounded.

#![cfg(feature = "libvirt")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use provision::lab::guest::{self, Guests};
use provision::lab::ops::{Event, FaultAction, Lab};
use provision::lab::{LabOptions, Mode};
use provision::transport::Command;

/// Attempts when waiting for a fault to become visible (one ping of 1 s plus a pause each).
const OBSERVE_ATTEMPTS: u32 = 30;

struct Down<'a>(&'a Lab);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.down(&mut |_| {}) {
            eprintln!("lab down during cleanup failed: {e}");
        }
    }
}

fn skip_reason() -> Option<String> {
    if provision::lab::tool::QEMU_SYSTEM.path().is_err() {
        return Some("qemu-system-x86_64 missing (Debian qemu-system-x86)".into());
    }
    let probe = format!("spofless-probe-{}", std::process::id());
    let ok = std::process::Command::new("ip")
        .args(["netns", "add", &probe])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Some("`ip netns add` is not permitted here".into());
    }
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &probe])
        .status();
    None
}

fn cache_dir() -> PathBuf {
    std::env::var_os("SPOFLESS_LAB_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/spofless")))
        .unwrap_or_else(|| PathBuf::from("/var/cache/spofless"))
}

fn ping(rt: &tokio::runtime::Runtime, g: &Guests, from: &str, to: &str) -> bool {
    let cmd = Command::new("ping")
        .args(["-c", "1", "-W", "1", to])
        .timeout(Duration::from_secs(20));
    rt.block_on(g.run(from, &cmd)).is_ok_and(|o| o.success())
}

/// Waits until `ping from -> to` gives `want`, boundedly.
fn observe(rt: &tokio::runtime::Runtime, g: &Guests, from: &str, to: &str, want: bool) -> bool {
    (0..OBSERVE_ATTEMPTS).any(|_| {
        let got = ping(rt, g, from, to);
        if got != want {
            std::thread::sleep(Duration::from_secs(1));
        }
        got == want
    })
}

fn qemu_processes_named(prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
                let s = String::from_utf8_lossy(&c).replace('\0', " ");
                if s.contains("qemu-system") && s.contains(prefix) {
                    found.push(s);
                }
            }
        }
    }
    found
}

#[test]
fn lab_up_faults_and_down_in_isolated_mode() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED lab end-to-end test: {why}");
        return;
    }
    let test_start = Instant::now();
    let state = tempfile::Builder::new()
        .prefix("spofless-lab-e2e")
        .tempdir()
        .unwrap_or_else(|e| panic!("{e}"));
    let cluster = topology::default_cluster().unwrap_or_else(|e| panic!("{e:?}"));
    let opts = LabOptions {
        mode: Mode::Isolated,
        accel: None,
        vcpus: 1,
        memory_mib: 2048,
        state_dir: state.path().to_owned(),
        cache_dir: cache_dir(),
        with_ceph: false,
    };
    let lab = Lab::new(&cluster, opts).unwrap_or_else(|e| panic!("{e}"));
    let guard = Down(&lab);
    let report = lab
        .up(&mut |e| match e {
            Event::PhaseDone { name, elapsed } => {
                eprintln!("lab up phase {name}: {:.1} s", elapsed.as_secs_f64())
            }
            Event::Step(s) => eprintln!("  {s}"),
            Event::Phase { .. } => {}
        })
        .unwrap_or_else(|e| panic!("lab up: {e}\nconsole logs under {}", state.path().display()));
    eprintln!(
        "lab up: {:.1} s total, accelerator {}, image {} MiB",
        report.total.as_secs_f64(),
        report.accel,
        report.image.qcow2_bytes >> 20
    );
    assert_eq!(report.ssh_ready.len(), 5);

    let guests = lab.guests().unwrap_or_else(|e| panic!("{e}"));
    let rt = guest::runtime().unwrap_or_else(|e| panic!("{e}"));
    for vm in &lab.spec.vms {
        let out = rt
            .block_on(guests.run(
                &vm.host,
                &Command::shell("hostname; hostname -f; ip -4 -o addr show dev eth0"),
            ))
            .unwrap_or_else(|e| panic!("{}: {e}", vm.host));
        let text = out.stdout_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first().copied(), Some(vm.host.as_str()), "{text}");
        assert_eq!(lines.get(1).copied(), Some(vm.fqdn.as_str()), "{text}");
        assert!(
            text.contains(&format!("inet {}/{}", vm.address, lab.spec.prefix)),
            "{}: {text}",
            vm.host
        );
    }

    let (a, b, crashed, isolated) = (
        &lab.spec.vms[0],
        &lab.spec.vms[1],
        &lab.spec.vms[4],
        &lab.spec.vms[3],
    );
    let status = lab.status().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status.iter().all(|s| s.state.to_string() == "running"),
        "{status:?}"
    );

    // Isolate: the others lose it, it loses them; heal brings it back.
    assert!(observe(
        &rt,
        &guests,
        &a.host,
        &isolated.address.to_string(),
        true
    ));
    lab.fault(&isolated.host, FaultAction::Isolate)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        observe(&rt, &guests, &a.host, &isolated.address.to_string(), false),
        "isolate not seen from {}",
        a.host
    );
    assert!(
        observe(&rt, &guests, &b.host, &isolated.address.to_string(), false),
        "isolate not seen from {}",
        b.host
    );
    lab.fault(&isolated.host, FaultAction::Heal)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        observe(&rt, &guests, &a.host, &isolated.address.to_string(), true),
        "heal not seen"
    );

    // Crash: the others see it gone; its state is off.
    assert!(observe(
        &rt,
        &guests,
        &b.host,
        &crashed.address.to_string(),
        true
    ));
    lab.fault(&crashed.host, FaultAction::Crash)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        observe(&rt, &guests, &a.host, &crashed.address.to_string(), false),
        "crash not seen from {}",
        a.host
    );
    assert!(
        observe(&rt, &guests, &b.host, &crashed.address.to_string(), false),
        "crash not seen from {}",
        b.host
    );
    let status = lab.status().unwrap_or_else(|e| panic!("{e}"));
    let st = status
        .iter()
        .find(|s| s.host == crashed.host)
        .map(|s| s.state.to_string());
    assert_eq!(st.as_deref(), Some("off"));

    // Down leaves nothing behind, and is safe to repeat.
    drop(guard);
    lab.down(&mut |_| {})
        .unwrap_or_else(|e| panic!("second down: {e}"));
    assert!(
        !provision::lab::netns::exists(&lab.spec.netns),
        "namespace left behind"
    );
    assert!(
        qemu_processes_named(&lab.spec.name).is_empty(),
        "QEMU left running"
    );
    assert!(
        !provision::lab::LabState::path(state.path()).exists(),
        "state file left"
    );
    assert!(!state.path().join("vms").exists(), "guest files left");
    assert!(
        !state.path().join("libvirtd").exists(),
        "daemon directories left"
    );
    assert!(!Path::new("/sys/class/net").join(&lab.spec.bridge).exists());
    eprintln!(
        "lab end-to-end test took {:.1} s",
        test_start.elapsed().as_secs_f64()
    );
}
