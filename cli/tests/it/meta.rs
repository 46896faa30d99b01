//! The command line itself: help that promises only what exists, exit codes documented,
//! `-t` refused where it means nothing, logging on request, completions and man pages
//! generated from the definitions.

use std::process::Command;

use crate::common::{scratch, spofless, succeed, text};

#[test]
fn help_lists_what_exists_and_the_exit_codes() {
    let out = succeed(&["--help"]);
    for command in [
        "check",
        "sim",
        "render",
        "plan",
        "apply",
        "drill",
        "lab",
        "ceph",
        "schema",
        "completions",
        "man",
    ] {
        assert!(
            out.contains(&format!("  {command}")),
            "{command} missing:\n{out}"
        );
    }
    assert!(out.contains("Exit status:"), "{out}");
    assert!(out.contains("1  a finding"), "{out}");
}

#[test]
fn topology_flag_is_refused_where_it_means_nothing() {
    let o = spofless(&["-t", "examples/bolabaden.yaml", "schema"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("no effect on `spofless schema`"),
        "{}",
        text(&o).1
    );
    let help = succeed(&["ceph", "crush-test", "--help"]);
    assert!(!help.contains("--topology"), "{help}");
}

#[test]
fn verbose_and_rust_log_turn_on_diagnostics_on_stderr_only() {
    let quiet = spofless(&["check", "-o", "json"]);
    assert!(text(&quiet).1.is_empty(), "{}", text(&quiet).1);
    let loud = spofless(&["-v", "check", "-o", "json"]);
    let (out, err) = text(&loud);
    assert!(err.contains("loading topology"), "{err}");
    let _: serde_json::Value = serde_json::from_str(&out).expect("stdout stays pure JSON");
    let o = Command::new(env!("CARGO_BIN_EXE_spofless"))
        .args(["check", "-o", "json"])
        .env("RUST_LOG", "spofless=info")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&o.stderr).contains("loading topology"));
}

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    let script = succeed(&["completions", "bash"]);
    let dir = scratch("meta", "completions");
    let path = dir.join("spofless.bash");
    std::fs::write(&path, script).expect("write");
    // Load it in bash, then ask the completion function for `spofless si<TAB>`.
    let probe = format!(
        "source {}; COMP_WORDS=(spofless si); COMP_CWORD=1; COMP_LINE='spofless si'; COMP_POINT=11; \
         _spofless spofless si spofless; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let o = Command::new("bash")
        .args(["-c", &probe])
        .output()
        .expect("bash");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.lines().any(|l| l == "sim"), "{out}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(!succeed(&["completions", shell]).is_empty(), "{shell}");
    }
}

#[test]
fn man_pages_render_with_groff_for_every_command() {
    let page = succeed(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH spofless"),
        "{page}"
    );
    let dir = scratch("meta", "man");
    let o = spofless(&["man", "--out", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    for name in [
        "spofless",
        "spofless-check",
        "spofless-sim-run",
        "spofless-sim-explore",
        "spofless-ceph-crush-test",
    ] {
        let path = dir.join(format!("{name}.1"));
        assert!(path.exists(), "{} missing", path.display());
        let o = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("groff (Debian groff-base) runs");
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn data_commands_take_output_formats() {
    let dir = scratch("meta", "render-explain");
    let out = dir.join("out");
    let state = dir.join("state");
    let o = spofless(&[
        "render",
        "--out",
        out.to_str().expect("utf-8"),
        "--state-dir",
        state.to_str().expect("utf-8"),
        "--explain",
        "-o",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let explain = v["explain"].as_array().expect("explain list");
    assert!(!explain.is_empty());
    assert!(explain.iter().all(|e| e["knob"].is_string()
        && e["upstreamDefault"].is_string()
        && e["changed"].is_boolean()));
    assert!(v["files"].as_u64().expect("files") > 10);

    let o = spofless(&[
        "sim",
        "explore",
        "--cases",
        "4",
        "--duration",
        "1m",
        "--jobs",
        "2",
        "-o",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["casesRun"], 4);
    assert!(v["failure"].is_null());
    // Without a terminal, explore still says what it does (at least its closing line).
    assert!(
        text(&o).1.is_empty() || text(&o).1.contains("explore:"),
        "{}",
        text(&o).1
    );
}
