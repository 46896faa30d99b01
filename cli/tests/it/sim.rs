//! `spofless sim run / explore / replay` as a user runs them: the built binary, its exit codes,
//! its JSON, its trace and report files. Simulated durations are short so the suite stays quick.

use std::path::Path;

use serde_json::Value;

use crate::common::{scratch, spofless, succeed, text};

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn run_json(args: &[&str]) -> Value {
    let out = succeed(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

#[test]
fn run_prints_the_report_as_json() {
    let v = run_json(&[
        "sim",
        "run",
        "--scenario",
        "node-failure",
        "--seed",
        "7",
        "--duration",
        "5m",
        "-o",
        "json",
    ]);
    assert_eq!(v["scenario"], "node-failure");
    assert_eq!(v["seed"], 7);
    assert_eq!(v["passed"], true);
    assert_eq!(v["duration"], "5m");
    assert_eq!(v["requestedDuration"], "5m");
    assert_eq!(v["stoppedAt"], Value::Null);
    assert!(v["events"].as_u64().expect("events") > 1000, "{v}");
    assert!(v["delivered"].as_u64().expect("delivered") > 0, "{v}");
    assert_eq!(v["violations"].as_array().map(Vec::len), Some(0));
    // The crash at 1m is applied; the restart at 15m lies after the end.
    let faults = v["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 1, "{v}");
    assert!(
        faults[0].as_str().expect("text").contains("HostCrash"),
        "{v}"
    );
    // The plan is in the report as data, restart included.
    let plan = v["plan"]["faults"].as_array().expect("plan");
    assert_eq!(plan.len(), 2, "{v}");
    assert_eq!(plan[0]["type"], "HostCrash");
    assert_eq!(plan[0]["at"], "1m");
    assert_eq!(plan[1]["type"], "HostRestart");
    let summary = v["summary"]["rows"].as_array().expect("summary rows");
    let victim = plan[0]["host"].as_str().expect("host");
    let lane = summary
        .iter()
        .find(|r| r["component"] == format!("host/{victim}"))
        .unwrap_or_else(|| panic!("no lane for host/{victim}: {v}"));
    assert_eq!(lane["incidents"], 1);
    assert_eq!(lane["finalStatus"], "down");
    assert!(summary.iter().any(|r| r["component"] == "etcd"), "{v}");
    assert_eq!(
        v["replay"],
        "spofless sim run --scenario node-failure --seed 7 --duration 5m"
    );
}

#[test]
fn the_same_seed_writes_the_same_trace_bytes() {
    let dir = scratch("sim", "trace");
    let traces: Vec<Vec<u8>> = ["a.jsonl", "b.jsonl"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let o = spofless(&[
                "sim",
                "run",
                "--scenario",
                "node-failure",
                "--seed",
                "7",
                "--duration",
                "90s",
                "--trace",
                path_str(&path),
            ]);
            assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
            std::fs::read(&path).expect("trace written")
        })
        .collect();
    assert!(traces[0].len() > 10_000, "{} bytes", traces[0].len());
    assert!(
        traces[0] == traces[1],
        "two runs of seed 7 wrote different traces"
    );
    let first = std::str::from_utf8(&traces[0]).expect("utf-8");
    for line in first.lines().take(100) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

#[test]
fn report_is_one_self_contained_html_file_with_an_svg_timeline() {
    let dir = scratch("sim", "report");
    let report = dir.join("run.html");
    let out = succeed(&[
        "sim",
        "run",
        "--scenario",
        "node-failure",
        "--seed",
        "7",
        "--duration",
        "90s",
        "--report",
        path_str(&report),
    ]);
    assert!(out.contains("all invariants held"), "{out}");
    let html = std::fs::read_to_string(&report).expect("report written");
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80]);
    assert!(html.contains("<svg id=\"timeline\""), "no svg");
    assert!(html.contains("class=\"lane\""), "no lanes");
    assert!(html.contains("<style>") && html.contains("<script>"));
    // Nothing is fetched from elsewhere: no external scripts, styles, images or fonts.
    for external in ["<link", " src=", "href=", "url(", "@import"] {
        assert!(!html.contains(external), "report loads `{external}`");
    }
    assert!(
        html.contains("spofless sim run --scenario node-failure --seed 7 --duration 1m30s"),
        "replay line"
    );
}

#[test]
fn an_unknown_scenario_is_a_clear_error() {
    let o = spofless(&["sim", "run", "--scenario", "no-such-drill", "--seed", "1"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("unknown scenario `no-such-drill`"), "{err}");
    assert!(
        err.contains("node-failure") && err.contains("network-partition"),
        "lists the names: {err}"
    );
}

#[test]
fn explore_runs_cases_in_parallel_and_exits_0_when_nothing_breaks() {
    let out = succeed(&[
        "sim",
        "explore",
        "--cases",
        "4",
        "--seed",
        "5",
        "--jobs",
        "2",
        "--duration",
        "40s",
    ]);
    assert!(
        out.contains("4 cases, seed 5, 2 jobs: no violation"),
        "{out}"
    );
}

#[test]
fn replay_of_a_plan_file_reproduces_the_equivalent_run() {
    let dir = scratch("sim", "replay");
    // Learn the node-failure victim from the run itself, so the test follows the topology.
    let v = run_json(&[
        "sim",
        "run",
        "--scenario",
        "node-failure",
        "--seed",
        "1",
        "--duration",
        "1s",
        "-o",
        "json",
    ]);
    let victim = v["plan"]["faults"][0]["host"]
        .as_str()
        .expect("victim")
        .to_owned();
    let plan = dir.join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "apiVersion: spofless.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: by-hand\nspec:\n  duration: 90s\n  faults:\n  - at: 1m\n    type: HostCrash\n    host: {victim}\n  - at: 15m\n    type: HostRestart\n    host: {victim}\n"
        ),
    )
    .expect("plan written");
    let run_trace = dir.join("run.jsonl");
    let replay_trace = dir.join("replay.jsonl");
    let o = spofless(&[
        "sim",
        "run",
        "--scenario",
        "node-failure",
        "--seed",
        "11",
        "--duration",
        "90s",
        "--trace",
        path_str(&run_trace),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let out = succeed(&[
        "sim",
        "replay",
        "--seed",
        "11",
        "--plan",
        path_str(&plan),
        "--trace",
        path_str(&replay_trace),
        "-o",
        "json",
    ]);
    let replayed: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(replayed["scenario"], "by-hand");
    // The replay line names the plan file, not a scenario that does not exist.
    assert_eq!(
        replayed["replay"],
        format!(
            "spofless sim replay --plan {} --seed 11 --duration 1m30s",
            path_str(&plan)
        )
    );
    let a = std::fs::read(&run_trace).expect("run trace");
    let b = std::fs::read(&replay_trace).expect("replay trace");
    assert!(!a.is_empty());
    assert!(a == b, "the replayed plan gave a different trace");
}

#[test]
fn a_non_default_topology_is_part_of_the_replay_command() {
    let topology = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bolabaden.yaml");
    let v = run_json(&[
        "-t",
        path_str(&topology),
        "sim",
        "run",
        "--scenario",
        "control-plane-failure",
        "--duration",
        "5s",
        "-o",
        "json",
    ]);
    assert_eq!(
        v["replay"],
        format!(
            "spofless -t {} sim run --scenario control-plane-failure --seed 1 --duration 5s",
            path_str(&topology)
        )
    );
}

#[test]
fn node_drain_cordons_and_drains_the_worker() {
    let out = succeed(&[
        "sim",
        "run",
        "--scenario",
        "node-drain",
        "--duration",
        "70s",
    ]);
    assert!(!out.contains("not modelled"), "{out}");
    assert!(
        out.contains("cordoned at 1m") && out.contains("drained at 1m"),
        "{out}"
    );
}
