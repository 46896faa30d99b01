//! The bad-input corpus: each `bad/NAME.yaml` is the seed topology with one mistake, and
//! `bad/NAME.expected` holds the exact diagnostics it must produce (one `file:line:col:
//! field: message` line, then `help: ...`, per problem). Nothing may panic.

use std::fs;
use std::path::Path;

use topology::{SourceFile, load};

fn diagnostics(name: &str, text: &str) -> String {
    let source = SourceFile::new(format!("{name}.yaml"), text);
    let problems = match load(&source) {
        Ok(loaded) => loaded.problems,
        Err(problems) => problems.problems,
    };
    let mut out = String::new();
    for p in &problems {
        out.push_str(&format!("{p}\n"));
        if let Some(h) = &p.help {
            out.push_str(&format!("  help: {h}\n"));
        }
    }
    out
}

#[test]
fn every_bad_file_gives_its_expected_diagnostic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("corpus folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_suffix(".yaml").map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() >= 16, "corpus shrank: {names:?}");
    let bless = std::env::var_os("SPOFLESS_BLESS").is_some();
    let mut failures = Vec::new();
    for name in &names {
        let text = fs::read_to_string(dir.join(format!("{name}.yaml"))).expect("read");
        let got = diagnostics(name, &text);
        assert!(!got.is_empty(), "{name}.yaml produced no diagnostic");
        let expected_path = dir.join(format!("{name}.expected"));
        if bless {
            fs::write(&expected_path, &got).expect("bless");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!("--- {name}\nexpected:\n{expected}got:\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn miette_report_names_file_line_and_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let text = fs::read_to_string(dir.join("unknown-field.yaml")).expect("read");
    let source = SourceFile::new("unknown-field.yaml", text);
    let Err(problems) = load(&source) else {
        panic!("must not deserialise")
    };
    let mut rendered = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut rendered, &problems)
        .expect("render");
    assert!(rendered.contains("unknown-field.yaml:29:7"), "{rendered}");
    assert!(rendered.contains("did you mean `address`?"), "{rendered}");
    assert!(rendered.contains("adress: 10.77.0.11"), "{rendered}");
}

#[test]
fn arbitrary_text_never_panics() {
    for text in [
        "",
        "---",
        "[]",
        "apiVersion: 3",
        "spec: {hosts: [{name: a}]}",
        "\u{0}\u{1}",
        "a: &x [*x]",
        "spec:\n  hosts:\n    - - - -",
    ] {
        let _ = diagnostics("fuzz", text);
    }
}
