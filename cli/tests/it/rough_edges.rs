//! What a new user hit on a fresh clone, each checked the way the user met it: panics on
//! input, silent no-ops, misleading figures and diagnostics.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use testkit::crush::JEWEL_TUNABLES;

use crate::common::{scratch, spofless, succeed, text};

fn crush_map(dir: &Path) -> PathBuf {
    let path = dir.join("map.txt");
    std::fs::write(&path, format!("{JEWEL_TUNABLES}{SMALL_MAP}")).expect("write map");
    path
}

/// A three-host map with one rule, as `crushtool -d` writes it (after the tunables).
const SMALL_MAP: &str = "\
device 0 osd.0 class hdd
device 1 osd.1 class hdd
device 2 osd.2 class hdd
type 0 osd
type 1 host
type 11 root
host h0 {
\tid -2
\talg straw2
\thash 0
\titem osd.0 weight 1.00000
}
host h1 {
\tid -3
\talg straw2
\thash 0
\titem osd.1 weight 1.00000
}
host h2 {
\tid -4
\talg straw2
\thash 0
\titem osd.2 weight 1.00000
}
root default {
\tid -1
\talg straw2
\thash 0
\titem h0 weight 1.00000
\titem h1 weight 1.00000
\titem h2 weight 1.00000
}
rule replicated_rule {
\tid 0
\ttype replicated
\tmin_size 1
\tmax_size 10
\tstep take default
\tstep chooseleaf firstn 0 type host
\tstep emit
}
";

/// Runs `args` and asserts exit 2 with every `needles` in standard error, and no panic.
fn refused(args: &[&str], needles: &[&str]) {
    let o = spofless(args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}\n{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in\n{err}");
    }
}

#[test]
fn crush_test_refuses_bad_arguments_instead_of_panicking_or_printing_nothing() {
    let dir = scratch("rough-edges", "crush-args");
    let map = crush_map(&dir);
    let map = map.to_str().expect("utf-8 path");
    let ok = succeed(&[
        "ceph",
        "crush-test",
        "--map",
        map,
        "--num-rep",
        "3",
        "--max-x",
        "2",
    ]);
    assert_eq!(ok.lines().count(), 3, "{ok}");
    refused(
        &["ceph", "crush-test", "--map", map, "--num-rep", "0"],
        &["--num-rep must be at least 1"],
    );
    refused(
        &[
            "ceph",
            "crush-test",
            "--map",
            map,
            "--num-rep",
            "3",
            "--min-x",
            "5",
            "--max-x",
            "2",
        ],
        &["--min-x 5 is greater than --max-x 2"],
    );
    refused(
        &[
            "ceph",
            "crush-test",
            "--map",
            map,
            "--num-rep",
            "3",
            "--rule",
            "7",
        ],
        &["rule 7 does not exist", "rules 0"],
    );
}

#[test]
fn crush_test_names_an_empty_or_compiled_map() {
    let dir = scratch("rough-edges", "crush-maps");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").expect("write");
    refused(
        &[
            "ceph",
            "crush-test",
            "--map",
            empty.to_str().expect("utf-8"),
            "--num-rep",
            "3",
        ],
        &["the map is empty"],
    );
    let text = crush_map(&dir);
    let binary = dir.join("map.bin");
    let status = Command::new("crushtool")
        .arg("-c")
        .arg(&text)
        .arg("-o")
        .arg(&binary)
        .status()
        .expect("crushtool (Debian ceph-base) runs");
    assert!(status.success());
    refused(
        &[
            "ceph",
            "crush-test",
            "--map",
            binary.to_str().expect("utf-8"),
            "--num-rep",
            "3",
        ],
        &["compiled (binary) CRUSH map", "crushtool -d"],
    );
}

/// Runs `args` with standard output a pipe whose reader is already gone, as in
/// `spofless ... | head -0`.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_spofless"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run spofless")
}

#[test]
fn a_closed_pipe_ends_quietly() {
    for args in [
        &["check"][..],
        &["check", "-o", "json"],
        &["schema"],
        &[
            "sim",
            "run",
            "--scenario",
            "control-plane-failure",
            "--duration",
            "20m",
        ],
        &["completions", "bash"],
    ] {
        let o = with_closed_stdout(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_run_shorter_than_its_plan_says_so_and_one_of_no_time_is_refused() {
    let o = spofless(&[
        "sim",
        "run",
        "--scenario",
        "node-failure",
        "--duration",
        "10s",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: --duration 10s ends before"), "{err}");
    assert!(out.contains("note: --duration 10s ends before"), "{out}");
    let o = spofless(&[
        "sim",
        "run",
        "--scenario",
        "node-failure",
        "--duration",
        "0s",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("positive duration"), "{}", text(&o).1);
}

#[test]
fn a_fault_that_changes_nothing_is_named() {
    let dir = scratch("rough-edges", "no-op");
    let plan = dir.join("resume.yaml");
    std::fs::write(
        &plan,
        "apiVersion: spofless.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: resume\nspec:\n  duration: 20s\n  faults:\n  - at: 5s\n    type: ProcessResume\n    host: cloudserver1\n    process: etcd\n",
    )
    .expect("write plan");
    let out = succeed(&[
        "sim",
        "replay",
        "--seed",
        "1",
        "--plan",
        plan.to_str().expect("utf-8"),
    ]);
    assert!(
        out.contains("note: ProcessResume cloudserver1/etcd at 5s changes nothing (not paused)"),
        "{out}"
    );
}

/// A plan that faults containerd (no model runs it) would change nothing in simulation yet
/// read as applied: it is refused, for `sim run` and `sim replay` alike, naming what the host
/// does run (the control plane's processes and the kubelet among them).
#[test]
fn a_fault_on_a_process_nothing_models_is_refused() {
    let dir = scratch("rough-edges", "unmodelled");
    for process in ["containerd"] {
        let plan = dir.join(format!("{process}.yaml"));
        std::fs::write(
            &plan,
            format!("apiVersion: spofless.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: stop\nspec:\n  duration: 30s\n  faults:\n  - at: 10s\n    type: ProcessStop\n    host: micklethefickle\n    process: {process}\n"),
        )
        .expect("write plan");
        let path = plan.to_str().expect("utf-8");
        for args in [
            vec!["sim", "run", "--scenario", path],
            vec!["sim", "replay", "--seed", "1", "--plan", path],
        ] {
            refused(
                &args,
                &[
                    &format!("ProcessStop micklethefickle/{process}"),
                    &format!("does not model `{process}`"),
                    "on micklethefickle it runs",
                    "etcd",
                    "ceph-mon",
                    "keepalived",
                    "kube-apiserver",
                    "kubelet",
                ],
            );
        }
    }
}

#[test]
fn a_scenario_file_error_names_file_line_and_field() {
    let dir = scratch("rough-edges", "plan-errors");
    let plan = dir.join("typos.yaml");
    std::fs::write(
        &plan,
        "apiVersion: spofless.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: typos\nspec:\n  duration: 1m\n  faults:\n  - at: 5s\n    type: HostCrsh\n    host: cloudserver1\n  - at: 9s\n    type: ProcessPuase\n    host: cloudserver1\n    process: etcd\n",
    )
    .expect("write plan");
    let path = plan.to_str().expect("utf-8");
    refused(
        &["sim", "replay", "--seed", "1", "--plan", path],
        &[
            "2 problems",
            "typos.yaml:9:11",
            "HostCrsh",
            "HostCrash",
            "typos.yaml:12:11",
            "ProcessPuase",
            "ProcessPause",
        ],
    );
}

#[test]
fn two_topology_typos_give_two_diagnostics_and_an_empty_file_says_so() {
    let dir = scratch("rough-edges", "topology-typos");
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bolabaden.yaml"),
    )
    .expect("example");
    let typo = good.replacen("nodeSubnet:", "nodeSubnt:", 1).replacen(
        "roles: [control-plane, etcd, ceph-mon, ceph-osd]",
        "roles: [control-plane, etcd, ceph-mom, ceph-osd]",
        1,
    );
    assert_ne!(typo, good);
    let path = dir.join("two-typos.yaml");
    std::fs::write(&path, typo).expect("write");
    refused(
        &["check", path.to_str().expect("utf-8")],
        &[
            "2 problems",
            "nodeSubnt",
            "nodeSubnet",
            "ceph-mom",
            "ceph-mon",
        ],
    );
    let empty = dir.join("empty.yaml");
    std::fs::write(&empty, "\n").expect("write");
    let o = spofless(&["check", empty.to_str().expect("utf-8")]);
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("the file is empty"), "{err}");
    assert!(!err.contains("indentation"), "{err}");
}

#[test]
fn run_figures_separate_serving_from_fully_up_and_skip_the_warm_up() {
    let o = spofless(&["sim", "run", "--scenario", "storage-failure", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let summary = &v["summary"];
    let start = summary["clockStart"].as_u64().expect("clockStart in ns");
    assert!(
        start > 0,
        "the clock starts when the cluster is first healthy"
    );
    let rows = summary["rows"].as_array().expect("rows");
    let io = rows
        .iter()
        .find(|r| r["component"].as_str().is_some_and(|c| c.contains("io")))
        .expect("a Ceph I/O row");
    // Storage failure degrades Ceph I/O without stopping it: serving throughout.
    assert_eq!(io["down"], "0s", "{io}");
    assert_eq!(io["servingPct"], 100.0, "{io}");
    assert!(io["fullyUpPct"].as_f64().expect("number") < 100.0, "{io}");
    for r in rows {
        // The start-up elections are the warm-up, never an incident of a component that
        // no fault touched.
        if r["down"] == "0s" && r["degraded"] == "0s" {
            assert_eq!(r["incidents"], 0, "{r}");
        }
    }
}

#[test]
fn fault_names_read_without_a_double_slash() {
    let out = succeed(&["sim", "run", "--scenario", "storage-failure"]);
    assert!(!out.contains("//dev"), "{out}");
    assert!(out.contains("DiskLoss "), "{out}");
}
