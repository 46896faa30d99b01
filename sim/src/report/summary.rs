//! The summary table's data: one row per component with time up, degraded and down, incidents
//! and the longest time to recover. The CLI prints these as a table or JSON; the HTML report
//! renders them under the timeline.

use serde::Serialize;

use crate::checks::timeline::Timeline;
use crate::engine::{SimDuration, Status};

/// One component's figures, ready to print.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryRow {
    /// Component name.
    pub component: String,
    /// Share of the run spent up, in percent (two decimals).
    pub availability_pct: f64,
    /// Time degraded, e.g. `12.300s`.
    pub degraded: String,
    /// Time down.
    pub down: String,
    /// Number of incidents (stretches of not-up).
    pub incidents: usize,
    /// Longest time to recover, `-` when nothing recovered, `never` when still not up.
    pub max_time_to_recover: String,
    /// Status at the end.
    pub final_status: Status,
}

/// Rows for `timelines`, in the timelines' order (component name).
pub fn summary_rows(timelines: &[Timeline]) -> Vec<SummaryRow> {
    timelines
        .iter()
        .map(|timeline| {
            let s = timeline.summary();
            let total = s.up + s.degraded + s.down;
            let availability_pct = if total == SimDuration::ZERO {
                0.0
            } else {
                let basis_points =
                    u128::from(s.up.as_nanos()) * 10_000 / u128::from(total.as_nanos());
                basis_points as f64 / 100.0
            };
            let unrecovered = timeline
                .incidents()
                .iter()
                .any(|i| i.recovered_after.is_none());
            let max_time_to_recover = match (s.max_time_to_recover, unrecovered) {
                (_, true) => "never".to_owned(),
                (Some(d), false) => d.to_string(),
                (None, false) => "-".to_owned(),
            };
            SummaryRow {
                component: s.component,
                availability_pct,
                degraded: s.degraded.to_string(),
                down: s.down.to_string(),
                incidents: s.incidents,
                max_time_to_recover,
                final_status: s.final_status,
            }
        })
        .collect()
}
