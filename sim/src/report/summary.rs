//! The summary table's data: one row per component with the share of time it was serving and
//! fully up, time degraded and down, incidents and the longest time to recover. The CLI prints
//! these as a table or JSON; the HTML report renders them under the timeline.
//!
//! Two figures, because `check` and the reports agree that degraded still serves: "serving"
//! counts up and degraded time, "fully up" counts only up time. The clock starts when the
//! cluster is first healthy (every component up at once: the mons have elected, etcd has a
//! leader), or at the first fault if that comes earlier, so the start-up of a cluster is shown
//! as a warm-up of its own and is never counted as an incident.

use serde::Serialize;

use crate::checks::timeline::{Interval, Timeline};
use crate::engine::{SimDuration, SimTime, Status};

/// One component's figures, ready to print.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryRow {
    /// Component name.
    pub component: String,
    /// Share of the measured time spent serving (up or degraded), in percent (two decimals).
    pub serving_pct: f64,
    /// Share of the measured time spent fully up, in percent (two decimals).
    pub fully_up_pct: f64,
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

/// The table and when its clock started.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// When every component was first up at once; `None` if that never happened.
    pub healthy_at: Option<SimTime>,
    /// Start of the measured time: `healthy_at`, or the first fault when that came earlier
    /// (or when the cluster never was healthy). Time before it is the warm-up.
    pub clock_start: SimTime,
    /// One row per component, in the timelines' order.
    pub rows: Vec<SummaryRow>,
}

/// The summary of a run's timelines, its clock started by its first fault.
pub fn outcome_summary(outcome: &crate::scenario::RunOutcome) -> Summary {
    let first_fault = outcome.faults.iter().map(|(t, _)| *t).min();
    summarize(&outcome.timelines, first_fault)
}

/// One sentence on what the figures measure, for the table's caption.
pub fn warm_up_line(summary: &Summary) -> String {
    match summary.healthy_at {
        Some(h) if h <= summary.clock_start => format!(
            "Figures count from {h}, when every component was first up (warm-up before that not counted)."
        ),
        Some(h) => format!(
            "Figures count from the first fault at {}, before the cluster was first healthy (at {h}).",
            summary.clock_start
        ),
        None => format!(
            "The cluster was never fully healthy; figures count from {}.",
            summary.clock_start
        ),
    }
}

/// The first instant at which every timeline is up.
pub fn first_healthy(timelines: &[Timeline]) -> Option<SimTime> {
    let mut instants: Vec<SimTime> = timelines
        .iter()
        .flat_map(|t| t.intervals.iter().map(|i| i.start))
        .collect();
    instants.sort();
    instants.dedup();
    instants.into_iter().find(|&t| {
        timelines
            .iter()
            .all(|tl| tl.status_at(t) == Some(Status::Up))
    })
}

/// `timeline` from `from` on.
fn clipped(timeline: &Timeline, from: SimTime) -> Timeline {
    Timeline {
        component: timeline.component.clone(),
        intervals: timeline
            .intervals
            .iter()
            .filter(|i| i.end > from)
            .map(|i| Interval {
                start: i.start.max(from),
                ..*i
            })
            .collect(),
    }
}

/// A span for people, in the one style every report uses (`250ms`, `1.500s`, `12m29.199s`):
/// spans under a millisecond print as fractions of one (`0.227ms`), never as raw nanoseconds
/// beside minutes.
pub fn human(d: SimDuration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 || nanos >= 1_000_000 {
        return d.to_string();
    }
    format!("0.{:03}ms", (nanos / 1_000).max(1))
}

/// `part` as a percentage of `total`, to two decimals; 0 for an empty total.
fn percent(part: SimDuration, total: SimDuration) -> f64 {
    if total == SimDuration::ZERO {
        return 0.0;
    }
    let basis_points = u128::from(part.as_nanos()) * 10_000 / u128::from(total.as_nanos());
    basis_points as f64 / 100.0
}

/// The summary of `timelines`, whose run saw its first fault at `first_fault` (if any).
pub fn summarize(timelines: &[Timeline], first_fault: Option<SimTime>) -> Summary {
    let healthy_at = first_healthy(timelines);
    let clock_start = match (healthy_at, first_fault) {
        (Some(h), Some(f)) => h.min(f),
        (Some(h), None) => h,
        (None, Some(f)) => f,
        (None, None) => SimTime::ZERO,
    };
    let rows = timelines
        .iter()
        .map(|timeline| row(&clipped(timeline, clock_start)))
        .collect();
    Summary {
        healthy_at,
        clock_start,
        rows,
    }
}

fn row(timeline: &Timeline) -> SummaryRow {
    let s = timeline.summary();
    let total = s.up + s.degraded + s.down;
    let unrecovered = timeline
        .incidents()
        .iter()
        .any(|i| i.recovered_after.is_none());
    let max_time_to_recover = match (s.max_time_to_recover, unrecovered) {
        (_, true) => "never".to_owned(),
        (Some(d), false) => human(d),
        (None, false) => "-".to_owned(),
    };
    SummaryRow {
        component: s.component,
        serving_pct: percent(s.up + s.degraded, total),
        fully_up_pct: percent(s.up, total),
        degraded: human(s.degraded),
        down: human(s.down),
        incidents: s.incidents,
        max_time_to_recover,
        final_status: s.final_status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn timeline(name: &str, spans: &[(u64, u64, Status)]) -> Timeline {
        Timeline {
            component: name.to_owned(),
            intervals: spans
                .iter()
                .map(|&(start, end, status)| Interval {
                    start: at(start),
                    end: at(end),
                    status,
                })
                .collect(),
        }
    }

    #[test]
    fn spans_under_a_millisecond_keep_the_human_style() {
        assert_eq!(human(SimDuration::from_nanos(227_567)), "0.227ms");
        assert_eq!(human(SimDuration::from_nanos(900)), "0.001ms");
        assert_eq!(human(SimDuration::ZERO), "0s");
        assert_eq!(human(SimDuration::from_millis(1500)), "1.500s");
        assert_eq!(
            human(SimDuration::from_nanos(749_199_227_567)),
            "12m29.199s"
        );
    }

    #[test]
    fn degraded_time_serves_but_is_not_fully_up() {
        let t = timeline(
            "ceph/io",
            &[
                (0, 40, Status::Up),
                (40, 90, Status::Degraded),
                (90, 100, Status::Up),
            ],
        );
        let s = summarize(&[t], Some(at(40)));
        assert_eq!(s.clock_start, SimTime::ZERO);
        let r = &s.rows[0];
        assert!((r.serving_pct - 100.0).abs() < 1e-9, "{r:?}");
        assert!((r.fully_up_pct - 50.0).abs() < 1e-9, "{r:?}");
        assert_eq!(r.incidents, 1);
    }

    #[test]
    fn the_start_up_is_a_warm_up_not_an_incident() {
        // The mons elect at 2 s and etcd at 1 s: healthy from 2 s; the fault comes at 60 s.
        let mons = timeline(
            "ceph/mon-quorum",
            &[
                (0, 2, Status::Down),
                (2, 60, Status::Up),
                (60, 70, Status::Down),
                (70, 100, Status::Up),
            ],
        );
        let etcd = timeline("etcd", &[(0, 1, Status::Down), (1, 100, Status::Up)]);
        let s = summarize(&[mons, etcd], Some(at(60)));
        assert_eq!(s.healthy_at, Some(at(2)));
        assert_eq!(s.clock_start, at(2));
        assert_eq!(s.rows[0].incidents, 1, "only the fault's outage counts");
        assert_eq!(s.rows[0].max_time_to_recover, "10s");
        assert_eq!(s.rows[1].incidents, 0);
        assert_eq!(s.rows[1].down, "0s");
    }

    #[test]
    fn a_fault_before_the_cluster_is_healthy_starts_the_clock() {
        let mons = timeline(
            "ceph/mon-quorum",
            &[(0, 5, Status::Down), (5, 10, Status::Up)],
        );
        let s = summarize(std::slice::from_ref(&mons), Some(at(1)));
        assert_eq!(s.clock_start, at(1));
        assert_eq!(s.rows[0].incidents, 1);
        let never = timeline("etcd", &[(0, 10, Status::Down)]);
        let s = summarize(&[mons, never], None);
        assert_eq!(s.healthy_at, None);
        assert_eq!(s.clock_start, SimTime::ZERO);
    }
}
