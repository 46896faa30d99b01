//! Static single-point-of-failure analysis.
//!
//! For every single fault (each host down, each host cut off, each OSD disk lost, each
//! apiserver stopped) and every pair of them, decide from quorum and placement rules whether
//! each component stays OK, becomes DEGRADED or goes DOWN. The verdict holds when no single
//! fault takes anything down and the design has no error-level finding. The same rules give
//! the simulator its expectations.

mod components;
mod faults;
mod findings;
mod placement;

pub use components::{ComponentState, Status, evaluate, quorum};
pub use faults::{Damage, StaticFault, single_faults};
pub use findings::{Finding, Severity, design_findings, spof_findings};
pub use placement::{Envelope, eligible_nodes, envelope, worst_survivors};

use serde::Serialize;

use crate::model::Cluster;

/// Component states under one combination of faults.
#[derive(Debug, Clone, Serialize)]
pub struct FaultOutcome {
    /// The faults applied together.
    pub faults: Vec<StaticFault>,
    /// Every component's state.
    pub states: Vec<ComponentState>,
}

/// A pair of faults that takes at least one component DOWN.
#[derive(Debug, Clone, Serialize)]
pub struct PairOutcome {
    /// The two faults.
    pub faults: [StaticFault; 2],
    /// Components that go DOWN.
    pub down: Vec<String>,
}

/// The whole analysis.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Cluster name.
    pub cluster: String,
    /// Component names, in matrix order.
    pub components: Vec<String>,
    /// States with no fault at all.
    pub baseline: Vec<ComponentState>,
    /// One outcome per single fault.
    pub single_faults: Vec<FaultOutcome>,
    /// How many pairs were tried.
    pub pairs_tried: usize,
    /// Pairs that take something DOWN.
    pub pairs_down: Vec<PairOutcome>,
    /// Design problems and single points of failure, with fixes.
    pub findings: Vec<Finding>,
    /// No single fault takes anything down and no error-level finding remains.
    pub zero_spof: bool,
}

/// Runs the analysis.
pub fn analyze(cluster: &Cluster) -> Report {
    let baseline = evaluate(cluster, &Damage::default());
    let faults = single_faults(cluster);
    let singles: Vec<(StaticFault, Vec<ComponentState>)> = faults
        .iter()
        .map(|f| (f.clone(), evaluate(cluster, &Damage::of(&[f]))))
        .collect();
    let mut pairs_down = Vec::new();
    let mut pairs_tried = 0;
    for (i, a) in faults.iter().enumerate() {
        for b in &faults[i + 1..] {
            pairs_tried += 1;
            let down: Vec<String> = evaluate(cluster, &Damage::of(&[a, b]))
                .into_iter()
                .filter(|s| s.status == Status::Down)
                .map(|s| s.component)
                .collect();
            if !down.is_empty() {
                pairs_down.push(PairOutcome {
                    faults: [a.clone(), b.clone()],
                    down,
                });
            }
        }
    }
    let mut findings = design_findings(cluster);
    for s in baseline.iter().filter(|s| s.status == Status::Down) {
        findings.push(Finding {
            code: "down-without-faults",
            severity: Severity::Error,
            subject: s.component.clone(),
            message: format!("DOWN before any fault: {}", s.reason),
            fix: "fix the design findings for this component".to_owned(),
        });
    }
    findings.extend(spof_findings(&singles));
    let zero_spof = !findings.iter().any(|f| f.severity == Severity::Error);
    Report {
        cluster: cluster.metadata.name.clone(),
        components: baseline.iter().map(|s| s.component.clone()).collect(),
        baseline,
        single_faults: singles
            .into_iter()
            .map(|(f, states)| FaultOutcome {
                faults: vec![f],
                states,
            })
            .collect(),
        pairs_tried,
        pairs_down,
        findings,
        zero_spof,
    }
}
