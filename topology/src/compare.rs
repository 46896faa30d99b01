//! The judge: does what was observed on real machines agree with what the simulator predicted?
//!
//! A prediction is a range: the same plan runs over several seeds, and each figure (a phase's
//! share of answered writes, its unanswered calls, a re-election time, a component's downtime
//! and longest outage) spans the seeds' lowest to highest value. An observation agrees when it
//! lies inside that range widened by the figure's tolerance on both ends. Every disagreement
//! names the component (or phase), the figure, both values and by how much the observation
//! missed, so `spofless drill` and the tests print the same verdict.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::drill::PhaseCounts;
use crate::timeline::{Status, TimePoint, Timeline};

/// How far an observation may lie outside the predicted range and still agree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tolerances {
    /// On a phase's share of answered writes (0..1).
    pub write_share: f64,
    /// On a phase's count of unanswered calls (failed plus indeterminate, reads and writes).
    pub unanswered: u32,
    /// On a leader re-election time.
    pub reelection: Duration,
    /// On a component's total time not up.
    pub downtime: Duration,
    /// On a component's longest stretch not up.
    pub longest_outage: Duration,
}

impl Tolerances {
    /// The etcd fault schedule's tolerances (real etcd in network namespaces against the
    /// simulator, three members, two failing-over clients and one pinned client, 4 s phases,
    /// 1.5 s request deadline).
    ///
    /// - `write_share` 0.2: a phase is 4 s and a client sends a request every ~50-100 ms, so
    ///   one 1.5 s timeout moves a client's share by up to ~30 %; two clients halve that. 0.2
    ///   absorbs one stray timeout (a loaded machine makes an etcdctl call overrun now and
    ///   then) but not a phase where one side keeps answering while the other stalls.
    /// - `unanswered` 2: each unanswered call costs a client one request deadline, so a 4 s
    ///   phase holds at most ~3 per client; two stray ones on a loaded machine are noise, more
    ///   means the sides disagree on when the cluster answers.
    /// - `reelection` 0.6 s: the real figure ends with an `etcdctl endpoint status` poll of
    ///   the survivors (process start, TLS to two members: 0.1 to 0.4 s here, more under
    ///   load), which the simulator's 10 ms poll does not pay.
    /// - `longest_outage` 2.1 s: a client's writes are down from the first failed write to the
    ///   next answered one, so its longest outage is a re-election plus up to one request
    ///   deadline (1.5 s) that either side may or may not spend on a dead endpoint; with the
    ///   re-election tolerance that is 2.1 s.
    /// - `downtime` 4.5 s: over the whole schedule a client's writes are down in each of the
    ///   five fault phases for about one deadline; three stray timeouts (1.5 s each) of a
    ///   loaded machine across the run are noise, more is a different shape.
    pub const ETCD_SCHEDULE: Tolerances = Tolerances {
        write_share: 0.2,
        unanswered: 2,
        reelection: Duration::from_millis(600),
        downtime: Duration::from_millis(4500),
        longest_outage: Duration::from_millis(2100),
    };

    /// The etcd leader-loss drills on a lab of emulated (TCG) guests, with their stretched
    /// timers (10 s election timeout), probed by `etcdctl` from the lab machine. What the
    /// emulation adds to the etcd schedule's tolerances, each figure timed from the fault
    /// being further widened by the measured span of its injection (`spofless drill` does):
    ///
    /// - `reelection` 1.5 s: the real figure ends with an `endpoint status` poll of the
    ///   survivors, a TLS handshake with each emulated member (0.3 to 1 s under TCG against
    ///   10 ms on the bed), and an emulated guest's timers fire late when the two host cores
    ///   are busy (the lab measured heartbeats 105 ms late at the median).
    /// - `longest_outage` 3 s and `downtime` 6 s: a client's outage is the re-election plus
    ///   up to one 1.5 s request deadline spent on a dead endpoint, either side; with the
    ///   re-election tolerance that is 3 s, twice that over the run's three phases.
    /// - `write_share` 0.2 and `unanswered` as the schedule's.
    pub const EMULATED_LAB: Tolerances = Tolerances {
        write_share: 0.2,
        unanswered: 2,
        reelection: Duration::from_millis(1500),
        downtime: Duration::from_secs(6),
        longest_outage: Duration::from_secs(3),
    };
}

/// One figure outside its tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Disagreement {
    /// The component or phase, e.g. `etcd-writes/client0` or `phase kill-leader`.
    pub subject: String,
    /// The figure, e.g. `downtime`.
    pub figure: String,
    /// What was observed.
    pub observed: String,
    /// The predicted range.
    pub predicted: String,
    /// How far outside the range widened by the tolerance the observation lies.
    pub off_by: String,
    /// The tolerance.
    pub tolerance: String,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} observed {}, predicted {} ± {} (off by {})",
            self.subject, self.figure, self.observed, self.predicted, self.tolerance, self.off_by
        )
    }
}

/// A figure the judge can compare: ordered, with a distance and a printed form.
pub trait Figure: Copy + PartialOrd + fmt::Debug {
    /// `self - other` where `self >= other`.
    fn minus(self, other: Self) -> Self;
    /// `self + other`, saturating.
    fn plus(self, other: Self) -> Self;
    /// For people.
    fn show(self) -> String;
}

impl Figure for f64 {
    fn minus(self, other: Self) -> Self {
        self - other
    }
    fn plus(self, other: Self) -> Self {
        self + other
    }
    fn show(self) -> String {
        format!("{self:.2}")
    }
}

impl Figure for u32 {
    fn minus(self, other: Self) -> Self {
        self.saturating_sub(other)
    }
    fn plus(self, other: Self) -> Self {
        self.saturating_add(other)
    }
    fn show(self) -> String {
        self.to_string()
    }
}

impl Figure for Duration {
    fn minus(self, other: Self) -> Self {
        self.saturating_sub(other)
    }
    fn plus(self, other: Self) -> Self {
        self.saturating_add(other)
    }
    fn show(self) -> String {
        format!("{:.2}s", self.as_secs_f64())
    }
}

/// The lowest and highest of `predicted` (`None` when it is empty).
pub fn predicted_range<F: Figure>(predicted: &[F]) -> Option<(F, F)> {
    let lo = predicted
        .iter()
        .copied()
        .reduce(|a, b| if b < a { b } else { a })?;
    let hi = predicted
        .iter()
        .copied()
        .reduce(|a, b| if b > a { b } else { a })?;
    Some((lo, hi))
}

/// `lo..hi` for people, or one value when they are equal.
pub fn show_range<F: Figure>((lo, hi): (F, F)) -> String {
    if lo == hi {
        lo.show()
    } else {
        format!("{}..{}", lo.show(), hi.show())
    }
}

/// Judges one figure: `observed` against the range of `predicted` widened by `tolerance`.
/// An empty prediction disagrees with any observation.
pub fn judge_figure<F: Figure>(
    subject: &str,
    figure: &str,
    observed: F,
    predicted: &[F],
    tolerance: F,
) -> Option<Disagreement> {
    let range = predicted_range(predicted);
    let disagree = |predicted: String, off_by: String| Disagreement {
        subject: subject.to_owned(),
        figure: figure.to_owned(),
        observed: observed.show(),
        predicted,
        off_by,
        tolerance: tolerance.show(),
    };
    let Some((lo, hi)) = range else {
        return Some(disagree("nothing".to_owned(), "-".to_owned()));
    };
    let range = show_range((lo, hi));
    if observed < lo && lo.minus(observed) > tolerance {
        Some(disagree(range, lo.minus(observed).show()))
    } else if observed > hi && observed.minus(hi) > tolerance {
        Some(disagree(range, observed.minus(hi).show()))
    } else {
        None
    }
}

/// Judges one phase's calls: the share of answered writes and the unanswered calls.
pub fn judge_phase(
    phase: &str,
    observed: &PhaseCounts,
    predicted: &[PhaseCounts],
    tol: &Tolerances,
) -> Vec<Disagreement> {
    let subject = format!("phase {phase}");
    let (share, missed) = observed.answered_share_and_misses();
    let figures: Vec<(f64, u32)> = predicted
        .iter()
        .map(PhaseCounts::answered_share_and_misses)
        .collect();
    let shares: Vec<f64> = figures.iter().map(|f| f.0).collect();
    let misses: Vec<u32> = figures.iter().map(|f| f.1).collect();
    [
        judge_figure(
            &subject,
            "share of writes answered",
            share,
            &shares,
            tol.write_share,
        ),
        judge_figure(
            &subject,
            "unanswered calls",
            missed,
            &misses,
            tol.unanswered,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A component's figures on the common clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutageFigures {
    /// Total time not up.
    pub downtime: Duration,
    /// Longest stretch not up (an unrecovered one counts until the timeline ends).
    pub longest_outage: Duration,
}

impl OutageFigures {
    /// The figures of `timeline`.
    pub fn of<T: TimePoint>(timeline: &Timeline<T>) -> Self {
        let t = timeline.to_offsets();
        let downtime = t.total(Status::Down) + t.total(Status::Degraded);
        let end = t.intervals.last().map_or(Duration::ZERO, |i| i.end);
        let longest_outage = t
            .incidents()
            .iter()
            .map(|i| {
                i.recovered_after
                    .unwrap_or_else(|| end.saturating_sub(i.start))
            })
            .max()
            .unwrap_or(Duration::ZERO);
        OutageFigures {
            downtime,
            longest_outage,
        }
    }
}

/// Judges every observed component against the same component in each predicted run: its
/// downtime and longest outage. A component the prediction lacks is a disagreement.
pub fn judge_timelines<O: TimePoint, P: TimePoint>(
    observed: &[Timeline<O>],
    predicted_runs: &[Vec<Timeline<P>>],
    tol: &Tolerances,
) -> Vec<Disagreement> {
    let mut out = Vec::new();
    for o in observed {
        let seen = OutageFigures::of(o);
        let predicted: Vec<OutageFigures> = predicted_runs
            .iter()
            .filter_map(|run| run.iter().find(|p| p.component == o.component))
            .map(OutageFigures::of)
            .collect();
        let downtimes: Vec<Duration> = predicted.iter().map(|p| p.downtime).collect();
        let outages: Vec<Duration> = predicted.iter().map(|p| p.longest_outage).collect();
        out.extend(judge_figure(
            &o.component,
            "downtime",
            seen.downtime,
            &downtimes,
            tol.downtime,
        ));
        out.extend(judge_figure(
            &o.component,
            "longest outage",
            seen.longest_outage,
            &outages,
            tol.longest_outage,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn lane(name: &str, down: &[(f64, f64)], end: f64) -> Timeline {
        let mut changes = vec![(Duration::ZERO, Status::Up)];
        for (from, to) in down {
            changes.push((secs(*from), Status::Down));
            changes.push((secs(*to), Status::Up));
        }
        Timeline::from_changes(name, &changes, secs(end))
    }

    #[test]
    fn an_observation_inside_the_widened_range_agrees() {
        let tol = Tolerances::ETCD_SCHEDULE;
        let observed = [lane("etcd-writes/client0", &[(5.0, 7.0)], 30.0)];
        let predicted = vec![
            vec![lane("etcd-writes/client0", &[(5.0, 6.2)], 30.0)],
            vec![lane("etcd-writes/client0", &[(5.0, 6.5)], 30.0)],
        ];
        assert_eq!(judge_timelines(&observed, &predicted, &tol), []);
        assert_eq!(
            judge_figure("x", "share", 0.55, &[0.6, 0.7], 0.2),
            None,
            "below the range by less than the tolerance"
        );
        assert_eq!(judge_figure("x", "calls", 9u32, &[3, 7], 2), None);
    }

    #[test]
    fn a_disagreement_names_the_component_and_the_difference() {
        let tol = Tolerances::ETCD_SCHEDULE;
        let observed = [lane("etcd-writes/client1", &[(5.0, 15.0)], 30.0)];
        let predicted = vec![
            vec![lane("etcd-writes/client1", &[(5.0, 6.0)], 30.0)],
            vec![lane("etcd-writes/client1", &[(5.0, 7.0)], 30.0)],
        ];
        let d = judge_timelines(&observed, &predicted, &tol);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].subject, "etcd-writes/client1");
        assert_eq!(d[0].figure, "downtime");
        assert_eq!(
            (d[0].observed.as_str(), d[0].predicted.as_str()),
            ("10.00s", "1.00s..2.00s")
        );
        assert_eq!(d[0].off_by, "8.00s");
        assert_eq!(d[1].figure, "longest outage");
        assert_eq!(
            d[0].to_string(),
            "etcd-writes/client1: downtime observed 10.00s, predicted 1.00s..2.00s ± 4.50s (off by 8.00s)"
        );
    }

    #[test]
    fn a_component_missing_from_the_prediction_disagrees() {
        let observed = [lane("etcd-writes/pinned", &[], 10.0)];
        let predicted: Vec<Vec<Timeline>> = vec![vec![lane("etcd-writes/client0", &[], 10.0)]];
        let d = judge_timelines(&observed, &predicted, &Tolerances::ETCD_SCHEDULE);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.predicted == "nothing"), "{d:?}");
    }

    #[test]
    fn phases_disagree_on_share_and_on_missed_calls() {
        let tol = Tolerances::ETCD_SCHEDULE;
        let counts = |ok: u32, failed: u32| PhaseCounts {
            writes_ok: ok,
            writes_failed: failed,
            ..PhaseCounts::default()
        };
        let predicted = [counts(40, 0), counts(38, 1)];
        assert_eq!(
            judge_phase("baseline", &counts(39, 1), &predicted, &tol),
            []
        );
        let d = judge_phase("kill-leader", &counts(10, 10), &predicted, &tol);
        let figures: Vec<&str> = d.iter().map(|d| d.figure.as_str()).collect();
        assert_eq!(figures, ["share of writes answered", "unanswered calls"]);
        assert_eq!(d[0].subject, "phase kill-leader");
        assert_eq!(d[1].off_by, "9");
    }

    #[test]
    fn durations_compare_with_their_tolerance() {
        let d = judge_figure(
            "etcd",
            "re-election",
            secs(3.0),
            &[secs(1.0), secs(1.6)],
            secs(0.6),
        );
        assert_eq!(d.map(|d| d.off_by), Some("1.40s".to_owned()));
        assert_eq!(
            judge_figure("etcd", "re-election", secs(0.5), &[secs(1.0)], secs(0.6)),
            None
        );
    }
}
