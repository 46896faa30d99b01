//! Availability over time, per component, in one shape for what the simulator predicts and
//! what a drill observes on real machines: up/degraded/down intervals, and from them downtime,
//! incidents and time to recover.
//!
//! The two sides keep their own clocks (virtual nanoseconds in the simulator, a monotonic
//! clock since the drill started on real machines), so a [`Timeline`] is generic over its
//! [`TimePoint`]; the judge ([`crate::compare`]) reads both as offsets from the start of the
//! run. Component names come from [`crate::component::Component`].

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Availability of a component as one observer sees it (or as observers combine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Working fully.
    Up,
    /// Working with reduced redundancy or capacity.
    Degraded,
    /// Not working.
    Down,
}

impl Status {
    /// Lower-case name, as in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An instant on a timeline's clock.
pub trait TimePoint: Copy + Ord + fmt::Debug + Sub<Output = Self::Span> {
    /// A span between two instants.
    type Span: Copy + Ord + fmt::Debug + Add<Output = Self::Span>;
    /// The empty span.
    const ZERO_SPAN: Self::Span;
    /// This instant as time since the start of the run (how the judge compares clocks).
    fn offset(self) -> Duration;
}

/// Real runs: an instant is the time since the drill started.
impl TimePoint for Duration {
    type Span = Duration;
    const ZERO_SPAN: Duration = Duration::ZERO;
    fn offset(self) -> Duration {
        self
    }
}

/// A stretch of time with one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interval<T> {
    /// Start (inclusive).
    pub start: T,
    /// End (exclusive).
    pub end: T,
    /// Status throughout.
    pub status: Status,
}

impl<T: TimePoint> Interval<T> {
    /// Length of the interval.
    pub fn len(&self) -> T::Span {
        self.end - self.start
    }

    /// True for a zero-length interval.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// One component's availability over a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline<T = Duration> {
    /// Component name, e.g. `host/n1` (see [`crate::component::Component`]).
    pub component: String,
    /// Consecutive, non-overlapping intervals covering the time the component was known.
    pub intervals: Vec<Interval<T>>,
}

/// A loss of full availability and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(
    rename_all = "camelCase",
    bound(serialize = "T: Serialize, T::Span: Serialize")
)]
pub struct Incident<T: TimePoint> {
    /// When the component stopped being up.
    pub start: T,
    /// Time until it was up again; `None` if it was still not up when the run ended.
    pub recovered_after: Option<T::Span>,
    /// Worst status during the incident.
    pub worst: Status,
}

/// Figures for a summary table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(
    rename_all = "camelCase",
    bound(serialize = "T: Serialize, T::Span: Serialize")
)]
pub struct ComponentSummary<T: TimePoint> {
    /// Component name.
    pub component: String,
    /// Time up.
    pub up: T::Span,
    /// Time degraded.
    pub degraded: T::Span,
    /// Time down.
    pub down: T::Span,
    /// Number of incidents.
    pub incidents: usize,
    /// Longest time to recover among incidents that recovered.
    pub max_time_to_recover: Option<T::Span>,
    /// Status at the end of the run.
    pub final_status: Status,
}

impl<T: TimePoint> Timeline<T> {
    /// The timeline of `component` from status changes in time order, each in force until the
    /// next, the last until `end`. Changes at `end` or later are dropped, zero-length
    /// stretches skipped and neighbours of one status merged.
    pub fn from_changes(component: impl Into<String>, changes: &[(T, Status)], end: T) -> Self {
        let mut intervals: Vec<Interval<T>> = Vec::new();
        for (i, (start, status)) in changes.iter().enumerate() {
            let stop = changes.get(i + 1).map_or(end, |next| next.0).min(end);
            if stop <= *start {
                continue;
            }
            match intervals.last_mut() {
                Some(last) if last.status == *status && last.end == *start => last.end = stop,
                _ => intervals.push(Interval {
                    start: *start,
                    end: stop,
                    status: *status,
                }),
            }
        }
        Timeline {
            component: component.into(),
            intervals,
        }
    }

    /// Status at instant `t`, if known.
    pub fn status_at(&self, t: T) -> Option<Status> {
        self.intervals
            .iter()
            .find(|i| i.start <= t && t < i.end)
            .map(|i| i.status)
    }

    /// Every stretch of not-up time, with its time to recover.
    pub fn incidents(&self) -> Vec<Incident<T>> {
        let mut incidents = Vec::new();
        let mut open: Option<(T, Status)> = None;
        for interval in &self.intervals {
            match (interval.status, &mut open) {
                (Status::Up, Some((start, worst))) => {
                    incidents.push(Incident {
                        start: *start,
                        recovered_after: Some(interval.start - *start),
                        worst: *worst,
                    });
                    open = None;
                }
                (Status::Up, None) => {}
                (status, Some((_, worst))) => *worst = (*worst).max(status),
                (status, None) => open = Some((interval.start, status)),
            }
        }
        if let Some((start, worst)) = open {
            incidents.push(Incident {
                start,
                recovered_after: None,
                worst,
            });
        }
        incidents
    }

    /// Total time with `status`.
    pub fn total(&self, status: Status) -> T::Span {
        self.intervals
            .iter()
            .filter(|i| i.status == status)
            .fold(T::ZERO_SPAN, |acc, i| acc + i.len())
    }

    /// Totals and time-to-recover for a summary table.
    pub fn summary(&self) -> ComponentSummary<T> {
        let incidents = self.incidents();
        ComponentSummary {
            component: self.component.clone(),
            up: self.total(Status::Up),
            degraded: self.total(Status::Degraded),
            down: self.total(Status::Down),
            incidents: incidents.len(),
            max_time_to_recover: incidents.iter().filter_map(|i| i.recovered_after).max(),
            final_status: self.intervals.last().map_or(Status::Down, |i| i.status),
        }
    }

    /// The part of the timeline between `from` and `to`, intervals cut at both ends.
    pub fn window(&self, from: T, to: T) -> Timeline<T> {
        Timeline {
            component: self.component.clone(),
            intervals: self
                .intervals
                .iter()
                .filter(|i| i.end > from && i.start < to)
                .map(|i| Interval {
                    start: i.start.max(from),
                    end: i.end.min(to),
                    status: i.status,
                })
                .collect(),
        }
    }

    /// The same timeline on the common clock (time since the start of the run).
    pub fn to_offsets(&self) -> Timeline<Duration> {
        Timeline {
            component: self.component.clone(),
            intervals: self
                .intervals
                .iter()
                .map(|i| Interval {
                    start: i.start.offset(),
                    end: i.end.offset(),
                    status: i.status,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn changes_fold_into_merged_intervals() {
        let t = Timeline::from_changes(
            "c",
            &[
                (ms(0), Status::Up),
                (ms(100), Status::Down),
                (ms(100), Status::Degraded),
                (ms(300), Status::Degraded),
                (ms(500), Status::Up),
                (ms(2000), Status::Down),
            ],
            ms(1000),
        );
        let got: Vec<_> = t
            .intervals
            .iter()
            .map(|i| (i.start, i.end, i.status))
            .collect();
        assert_eq!(
            got,
            [
                (ms(0), ms(100), Status::Up),
                (ms(100), ms(500), Status::Degraded),
                (ms(500), ms(1000), Status::Up),
            ]
        );
        let s = t.summary();
        assert_eq!((s.up, s.degraded, s.down), (ms(600), ms(400), ms(0)));
        assert_eq!((s.incidents, s.max_time_to_recover), (1, Some(ms(400))));
        assert_eq!(t.status_at(ms(250)), Some(Status::Degraded));
        assert_eq!(t.status_at(ms(1000)), None);
        let w = t.window(ms(50), ms(600));
        assert_eq!(
            (w.intervals.len(), w.intervals[0].start, w.intervals[2].end),
            (3, ms(50), ms(600))
        );
        assert_eq!(w.total(Status::Up), ms(150));
    }

    #[test]
    fn an_unrecovered_incident_has_no_time_to_recover() {
        let t = Timeline::from_changes(
            "c",
            &[(ms(0), Status::Up), (ms(300), Status::Down)],
            ms(1000),
        );
        assert_eq!(
            t.incidents(),
            [Incident {
                start: ms(300),
                recovered_after: None,
                worst: Status::Down
            }]
        );
        assert_eq!(t.summary().final_status, Status::Down);
    }
}
