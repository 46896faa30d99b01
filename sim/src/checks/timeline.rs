//! Availability over time, per component: the run's log folded into up/degraded/down intervals,
//! and from them downtime and time-to-recover. Several observers may judge one component (every
//! heartbeat detector has a view of each peer); their latest opinions combine as: all up is up,
//! all down is down, anything else is degraded. An observer that crashes, stops or pauses stops
//! counting until it records again.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{LogEntry, LogKind, Observer, Record, SimDuration, SimTime, Status};

/// A stretch of time with one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interval {
    /// Start (inclusive), ns.
    pub start: SimTime,
    /// End (exclusive), ns.
    pub end: SimTime,
    /// Status throughout.
    pub status: Status,
}

impl Interval {
    /// Length of the interval.
    pub fn len(&self) -> SimDuration {
        self.end - self.start
    }

    /// True for a zero-length interval.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// One component's availability over the whole run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Component name, e.g. `host/n1`.
    pub component: String,
    /// Consecutive, non-overlapping intervals covering the time the component was known.
    pub intervals: Vec<Interval>,
}

/// A loss of full availability and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// When the component stopped being up.
    pub start: SimTime,
    /// Time until it was up again; `None` if it was still not up when the run ended.
    pub recovered_after: Option<SimDuration>,
    /// Worst status during the incident.
    pub worst: Status,
}

/// Figures for the summary table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSummary {
    /// Component name.
    pub component: String,
    /// Time up.
    pub up: SimDuration,
    /// Time degraded.
    pub degraded: SimDuration,
    /// Time down.
    pub down: SimDuration,
    /// Number of incidents.
    pub incidents: usize,
    /// Longest time to recover among incidents that recovered.
    pub max_time_to_recover: Option<SimDuration>,
    /// Status at the end of the run.
    pub final_status: Status,
}

impl Timeline {
    /// Status at instant `t`, if known.
    pub fn status_at(&self, t: SimTime) -> Option<Status> {
        self.intervals
            .iter()
            .find(|i| i.start <= t && t < i.end)
            .map(|i| i.status)
    }

    /// Every stretch of not-up time, with its time to recover.
    pub fn incidents(&self) -> Vec<Incident> {
        let mut incidents = Vec::new();
        let mut open: Option<(SimTime, Status)> = None;
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

    /// Totals and time-to-recover for the summary table.
    pub fn summary(&self) -> ComponentSummary {
        let total = |s: Status| {
            self.intervals
                .iter()
                .filter(|i| i.status == s)
                .fold(SimDuration::ZERO, |acc, i| acc + i.len())
        };
        let incidents = self.incidents();
        ComponentSummary {
            component: self.component.clone(),
            up: total(Status::Up),
            degraded: total(Status::Degraded),
            down: total(Status::Down),
            incidents: incidents.len(),
            max_time_to_recover: incidents.iter().filter_map(|i| i.recovered_after).max(),
            final_status: self.intervals.last().map_or(Status::Down, |i| i.status),
        }
    }
}

#[derive(Default)]
struct ComponentState {
    opinions: BTreeMap<Observer, Status>,
    combined: Option<Status>,
    changes: Vec<(SimTime, Status)>,
}

impl ComponentState {
    fn recombine(&mut self, time: SimTime) {
        let mut statuses = self.opinions.values();
        let Some(first) = statuses.next().copied() else {
            return;
        };
        let combined = if statuses.all(|s| *s == first) && first != Status::Degraded {
            first
        } else {
            Status::Degraded
        };
        if self.combined != Some(combined) {
            self.combined = Some(combined);
            match self.changes.last_mut() {
                Some(last) if last.0 == time => last.1 = combined,
                _ => self.changes.push((time, combined)),
            }
        }
    }
}

/// Folds the run's log into one timeline per component, ordered by component name, each ending
/// at `end`.
pub fn build_timelines(log: &[LogEntry], end: SimTime) -> Vec<Timeline> {
    let mut components: BTreeMap<String, ComponentState> = BTreeMap::new();
    for entry in log {
        match &entry.kind {
            LogKind::Record {
                observer,
                record:
                    Record::Availability {
                        component, status, ..
                    },
            } => {
                let state = components.entry(component.clone()).or_default();
                state.opinions.insert(*observer, *status);
                state.recombine(entry.time);
            }
            LogKind::ActorDown(actor) => {
                let observer = Observer::from(*actor);
                for state in components.values_mut() {
                    if state.opinions.remove(&observer).is_some() {
                        state.recombine(entry.time);
                    }
                }
            }
            LogKind::Record { .. } | LogKind::ActorUp(_) | LogKind::Fault(_) => {}
        }
    }
    components
        .into_iter()
        .map(|(component, state)| {
            let mut intervals: Vec<Interval> = Vec::new();
            for (i, (start, status)) in state.changes.iter().enumerate() {
                let stop = state.changes.get(i + 1).map_or(end, |next| next.0).min(end);
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
                component,
                intervals,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ActorId;

    fn at(ms: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_millis(ms)
    }

    fn opinion(ms: u64, observer: u32, status: Status) -> LogEntry {
        LogEntry {
            time: at(ms),
            kind: LogKind::Record {
                observer: Observer::Actor(observer),
                record: Record::Availability {
                    component: "c".into(),
                    status,
                    reason: String::new(),
                },
            },
        }
    }

    #[test]
    fn observers_combine_into_up_degraded_down() {
        let log = vec![
            opinion(0, 0, Status::Up),
            opinion(0, 1, Status::Up),
            opinion(100, 0, Status::Down),
            opinion(200, 1, Status::Down),
            opinion(500, 0, Status::Up),
            LogEntry {
                time: at(600),
                kind: LogKind::ActorDown(ActorId(1)),
            },
        ];
        let timelines = build_timelines(&log, at(1000));
        assert_eq!(timelines.len(), 1);
        let statuses: Vec<_> = timelines[0]
            .intervals
            .iter()
            .map(|i| (i.start, i.end, i.status))
            .collect();
        assert_eq!(
            statuses,
            [
                (at(0), at(100), Status::Up),
                (at(100), at(200), Status::Degraded),
                (at(200), at(500), Status::Down),
                (at(500), at(600), Status::Degraded),
                (at(600), at(1000), Status::Up),
            ]
        );
        let summary = timelines[0].summary();
        assert_eq!(summary.incidents, 1);
        assert_eq!(
            summary.max_time_to_recover,
            Some(SimDuration::from_millis(500))
        );
        assert_eq!(summary.down, SimDuration::from_millis(300));
        assert_eq!(summary.final_status, Status::Up);
        assert_eq!(timelines[0].status_at(at(250)), Some(Status::Down));
    }

    #[test]
    fn unrecovered_incident_has_no_time_to_recover() {
        let log = vec![opinion(0, 0, Status::Up), opinion(300, 0, Status::Down)];
        let timeline = &build_timelines(&log, at(1000))[0];
        let incidents = timeline.incidents();
        assert_eq!(
            incidents,
            [Incident {
                start: at(300),
                recovered_after: None,
                worst: Status::Down
            }]
        );
        assert_eq!(timeline.summary().max_time_to_recover, None);
    }
}
