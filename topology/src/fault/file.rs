//! Reading a Scenario file (a fault plan and a duration) with the same diagnostics as a
//! topology file: every problem names the file, line, column and field (`spec.faults[2].host`)
//! and says how to fix it, whether the YAML does not parse, names a field that does not exist,
//! is not a Scenario, or names a host, disk or process the cluster does not have.

use std::path::Path;

use super::{FaultError, FaultTargets, SCENARIO_API_VERSION, SCENARIO_KIND, Scenario};
use crate::diagnostic::{Code, Problem, Problems, SourceFile};
use crate::load::{ReadError, parse, read};
use crate::source_map::{ByteSpan, SourceMap};

/// Why a Scenario file cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ScenarioFileError {
    /// The file could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Read(#[from] ReadError),
    /// The file has problems, each with its place.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] Problems),
}

/// Reads the Scenario at `path` and checks its plan against `targets`.
pub fn load_scenario(path: &Path, targets: &FaultTargets) -> Result<Scenario, ScenarioFileError> {
    let source = read(path)?;
    Ok(parse_scenario(&source, targets)?)
}

/// Parses `source` as a Scenario and checks its plan against `targets`.
pub fn parse_scenario(source: &SourceFile, targets: &FaultTargets) -> Result<Scenario, Problems> {
    let map = SourceMap::build(&source.text);
    let scenario: Scenario = parse(source, &map)?;
    let problem = |field: &str, code: Code, message: String, help: &str| {
        let span = map.locate(field).unwrap_or(ByteSpan { offset: 0, len: 1 });
        Problem::new(code, source, span, field, message).help(help)
    };
    let mut problems = Vec::new();
    if scenario.api_version != SCENARIO_API_VERSION {
        problems.push(problem(
            "apiVersion",
            Code::WrongKind,
            format!("apiVersion `{}` is not a Scenario's", scenario.api_version),
            &format!("write `apiVersion: {SCENARIO_API_VERSION}`"),
        ));
    }
    if scenario.kind != SCENARIO_KIND {
        problems.push(problem(
            "kind",
            Code::WrongKind,
            format!("kind `{}` is not `{SCENARIO_KIND}`", scenario.kind),
            &format!("write `kind: {SCENARIO_KIND}`"),
        ));
    }
    if let Err(e) = scenario.spec.plan.validate(targets) {
        let (field, code) = fault_field(&e);
        problems.push(problem(
            &field,
            code,
            e.to_string(),
            "the fault must name hosts, disks and processes of the topology the run uses (-t)",
        ));
    }
    if problems.is_empty() {
        Ok(scenario)
    } else {
        Err(Problems {
            file: source.name.clone(),
            problems,
        })
    }
}

/// The field a plan error is about, and its kind.
fn fault_field(e: &FaultError) -> (String, Code) {
    let at = |i: &usize, field: &str| format!("spec.faults[{i}]{field}");
    match e {
        // `.host` where the fault has one; a link fault's ends fall back to the fault itself.
        FaultError::UnknownHost { index, .. } => (at(index, ".host"), Code::DanglingReference),
        FaultError::UnknownDisk { index, .. } => (at(index, ".disk"), Code::DanglingReference),
        FaultError::UnknownProcess { index, .. } => {
            (at(index, ".process"), Code::DanglingReference)
        }
        FaultError::OverlappingGroups { index, .. } => (at(index, ".groups"), Code::Duplicate),
        FaultError::SameHost { index, .. } => (at(index, ""), Code::Inconsistent),
        FaultError::BadLoss { index, .. } => (at(index, ".loss"), Code::InvalidValue),
        FaultError::AfterEnd { index, .. } => (at(index, ".at"), Code::Inconsistent),
        FaultError::WrongKind { .. } => ("kind".to_owned(), Code::WrongKind),
        FaultError::Parse(_) => ("(document)".to_owned(), Code::Syntax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::HostTargets;

    fn targets() -> FaultTargets {
        let mut t = FaultTargets::default();
        t.hosts.insert(
            "n1".into(),
            HostTargets {
                disks: vec!["/dev/vdb".into()],
                processes: vec!["etcd".into()],
            },
        );
        t
    }

    fn problems(text: &str) -> Vec<String> {
        let source = SourceFile::new("plan.yaml", text);
        parse_scenario(&source, &targets())
            .expect_err("problems")
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const HEAD: &str = "apiVersion: spofless.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: t\n";

    #[test]
    fn a_good_plan_loads() {
        let text = format!(
            "{HEAD}spec:\n  duration: 1m\n  faults:\n  - at: 10s\n    type: HostCrash\n    host: n1\n"
        );
        let source = SourceFile::new("plan.yaml", text);
        let s = parse_scenario(&source, &targets()).expect("valid");
        assert_eq!(s.spec.plan.faults.len(), 1);
    }

    #[test]
    fn an_unknown_host_points_at_its_fault() {
        let text = format!(
            "{HEAD}spec:\n  duration: 1m\n  faults:\n  - at: 10s\n    type: HostCrash\n    host: n9\n"
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("plan.yaml:10:11: spec.faults[0].host"),
            "{p:?}"
        );
        assert!(
            p[0].contains("spec.faults[0]") && p[0].contains("`n9`"),
            "{p:?}"
        );
    }

    #[test]
    fn two_typos_give_two_problems_with_lines() {
        let text = format!(
            "{HEAD}spec:\n  duration: 1m\n  faults:\n  - at: 10s\n    type: HostCrsh\n    host: n1\n  - at: 20s\n    type: ProcessPuase\n    host: n1\n    process: etcd\n"
        );
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].starts_with("plan.yaml:9:11: spec.faults[0].type"),
            "{p:?}"
        );
        assert!(p[0].contains("HostCrsh"), "{p:?}");
        assert!(
            p[1].starts_with("plan.yaml:12:11: spec.faults[1].type"),
            "{p:?}"
        );
        assert!(p[1].contains("ProcessPuase"), "{p:?}");
    }

    #[test]
    fn the_wrong_kind_and_an_empty_file_are_named() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\nspec:\n  duration: 1m\n";
        let p = problems(text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("plan.yaml:1:13: apiVersion"), "{p:?}");
        assert!(p[1].starts_with("plan.yaml:2:7: kind"), "{p:?}");
        let p = problems("\n  \n");
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("the file is empty"), "{p:?}");
    }
}
