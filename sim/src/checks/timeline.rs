//! Availability over time, per component: the run's log folded into up/degraded/down intervals,
//! and from them downtime and time-to-recover. Several observers may judge one component (every
//! heartbeat detector has a view of each peer); their latest opinions combine as: all up is up,
//! all down is down, anything else is degraded. An observer that crashes, stops or pauses stops
//! counting until it records again.

use std::collections::BTreeMap;
use std::time::Duration;

use topology::timeline::TimePoint;

use crate::engine::{LogEntry, LogKind, Observer, Record, SimDuration, SimTime, Status};

/// A stretch of virtual time with one status.
pub type Interval = topology::timeline::Interval<SimTime>;
/// One component's availability over a simulated run.
pub type Timeline = topology::timeline::Timeline<SimTime>;
/// A loss of full availability in a simulated run.
pub type Incident = topology::timeline::Incident<SimTime>;
/// Summary figures of a simulated component.
pub type ComponentSummary = topology::timeline::ComponentSummary<SimTime>;

/// Virtual time on a timeline: nanoseconds since the start of the run.
impl TimePoint for SimTime {
    type Span = SimDuration;
    const ZERO_SPAN: SimDuration = SimDuration::ZERO;
    fn offset(self) -> Duration {
        Duration::from_nanos(self.as_nanos())
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
        .map(|(component, state)| Timeline::from_changes(component, &state.changes, end))
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
