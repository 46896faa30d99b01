//! `plan` and `apply`: put the rendered cluster on its hosts, checking before acting and
//! verifying after.
//!
//! [`desired`] sorts the render tree into phases per host (prepare, etcd, VIP, Ceph,
//! Kubernetes) with the packages, units and kernel settings each needs; [`facts`] reads what a
//! host has in one bounded command; [`plan`](mod@plan) diffs the two into changes; [`run`]
//! executes them phase by phase through the [`Host`](crate::host::Host) trait, rolling restarts
//! of quorum members one host at a time behind [`gate`]s, and [`journal`] records each step so
//! an interrupted apply says where it stopped. Every run re-reads the hosts, so a re-run after
//! any interruption converges and a run after a complete one changes nothing.

pub mod desired;
pub mod facts;
pub mod gate;
pub mod journal;
pub mod mon;
pub mod plan;
pub mod run;

pub use desired::{Desired, LabExtras, Phase, desired};
pub use facts::HostFacts;
pub use journal::Journal;
pub use plan::{Change, Plan, Step, StepState, TargetAbilities};
pub use run::{
    ApplyError, ApplyReport, Bounds, Progress, apply, inspect_all, inspect_reachable, journal_path,
};
