//! The `spofless` binary as a user runs it: exit codes, output formats, diagnostics.

use std::path::Path;

use crate::common::{scratch, spofless, succeed, text};

fn bad(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../topology/tests/bad")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn check_on_the_embedded_default_prints_the_matrix_and_holds() {
    let out = succeed(&["check"]);
    assert!(out.contains("fault \\ component"), "{out}");
    assert!(out.contains("micklethefickle down"), "{out}");
    assert!(out.contains("Verdict: zero-SPOF"), "{out}");
}

#[test]
fn check_json_is_the_report_as_data() {
    let o = spofless(&["check", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["zeroSpof"], true);
    assert_eq!(v["singleFaults"].as_array().map(Vec::len), Some(18));
    // Every pair of faults, with every component's state, not only those that go DOWN.
    let pairs = v["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 18 * 17 / 2);
    assert_eq!(v["pairsTried"], 18 * 17 / 2);
    let components = v["components"].as_array().map(Vec::len);
    assert!(
        pairs
            .iter()
            .all(|p| p["states"].as_array().map(Vec::len) == components)
    );
    assert!(pairs.iter().any(|p| {
        p["states"]
            .as_array()
            .is_some_and(|s| s.iter().all(|c| c["status"] != "down"))
    }));
}

#[test]
fn check_yaml_parses() {
    let o = spofless(&["check", "-o", "yaml"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_saphyr::from_slice(&o.stdout).expect("yaml");
    assert_eq!(v["cluster"], "bolabaden");
}

#[test]
fn a_design_error_exits_2_with_file_line_and_column_and_still_shows_the_matrix() {
    let path = bad("even-etcd.yaml");
    let o = spofless(&["check", &path]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(out.contains("etcd-even-members"), "{out}");
    assert!(err.contains("even-etcd.yaml:48:23"), "{err}");
    assert!(err.contains("odd number"), "{err}");
}

#[test]
fn a_typo_exits_2_with_a_suggestion() {
    let o = spofless(&["check", &bad("unknown-field.yaml")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("did you mean `address`?"), "{err}");
    assert!(err.contains("unknown-field.yaml:29:7"), "{err}");
}

#[test]
fn every_bad_corpus_file_exits_2_naming_its_file_and_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../topology/tests/bad");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("bad corpus")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "corpus shrank: {files:?}");
    for file in &files {
        let o = spofless(&["check", &bad(file)]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{file}\n{out}\n{err}");
        // miette names the span as `path:line:column`; the line must be a number.
        let at = format!("{file}:");
        let line_follows = err.match_indices(&at).any(|(i, _)| {
            err[i + at.len()..]
                .split(':')
                .next()
                .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        });
        assert!(line_follows, "{file}: stderr names no file:line\n{err}");
    }
}

#[test]
fn a_missing_file_exits_2() {
    let o = spofless(&["check", "/nonexistent/cluster.yaml"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("cannot read topology file"), "{err}");
}

#[test]
fn a_spof_design_exits_1() {
    let dir = scratch("check", "spof-design");
    let yaml = topology::DEFAULT_TOPOLOGY_YAML.replace(
        "    replicas: 2\n    antiAffinity: required\n    pdb: {minAvailable: 1}\n  ingress",
        "    replicas: 2\n    antiAffinity: preferred\n    pdb: {minAvailable: 1}\n  ingress",
    );
    assert_ne!(yaml, topology::DEFAULT_TOPOLOGY_YAML);
    let path = dir.join("spof.yaml");
    std::fs::write(&path, yaml).expect("write");
    let o = spofless(&["check", &path.display().to_string()]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("replicas-can-share-a-node"), "{out}");
    assert!(out.contains("Verdict: NOT zero-SPOF"), "{out}");
}

#[test]
fn schema_is_json_schema_of_the_cluster() {
    let o = spofless(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["title"], "Cluster");
    assert!(v["properties"]["spec"].is_object());
}
