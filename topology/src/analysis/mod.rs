//! Static single-point-of-failure analysis.
//!
//! For every single fault (each host down, each host cut off, each OSD disk lost, each
//! apiserver stopped) and every pair of them, decide from quorum and placement rules whether
//! each component stays OK, becomes DEGRADED or goes DOWN. The verdict holds when no single
//! fault takes anything down and the design has no error-level finding. Components carry the
//! names of [`crate::component::Component`], the ones the simulator's timelines use, and the
//! quorum arithmetic is the one the simulator applies ([`crate::policy::quorum`]); the other
//! rules here are this analysis's own worst-case reasoning, which the simulator does not run.

mod components;
mod faults;
mod findings;
mod placement;

pub use components::{ComponentState, Status, evaluate, quorum};
pub use faults::{Damage, StaticFault, single_faults};
pub use findings::{Finding, Severity, design_findings, spof_findings};
pub use placement::{
    Envelope, PoolDomain, eligible_nodes, envelope, pool_failure_domains, worst_case_replicas,
    worst_survivors,
};

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

impl FaultOutcome {
    /// Components that go DOWN, in matrix order.
    pub fn down(&self) -> Vec<&str> {
        self.states
            .iter()
            .filter(|s| s.status == Status::Down)
            .map(|s| s.component.as_str())
            .collect()
    }
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
    /// One outcome per pair of distinct single faults, every component's state included.
    pub pairs: Vec<FaultOutcome>,
    /// Design problems and single points of failure, with fixes.
    pub findings: Vec<Finding>,
    /// No single fault takes anything down and no error-level finding remains.
    pub zero_spof: bool,
}

impl Report {
    /// The pairs of faults that take at least one component DOWN, in the order tried.
    pub fn pairs_down(&self) -> impl Iterator<Item = &FaultOutcome> {
        self.pairs
            .iter()
            .filter(|p| p.states.iter().any(|s| s.status == Status::Down))
    }
}

/// Runs the analysis.
pub fn analyze(cluster: &Cluster) -> Report {
    let baseline = evaluate(cluster, &Damage::default());
    let faults = single_faults(cluster);
    let singles: Vec<(StaticFault, Vec<ComponentState>)> = faults
        .iter()
        .map(|f| (f.clone(), evaluate(cluster, &Damage::of(&[f]))))
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in faults.iter().enumerate() {
        for b in &faults[i + 1..] {
            pairs.push(FaultOutcome {
                faults: vec![a.clone(), b.clone()],
                states: evaluate(cluster, &Damage::of(&[a, b])),
            });
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
        pairs_tried: pairs.len(),
        pairs,
        findings,
        zero_spof,
    }
}
