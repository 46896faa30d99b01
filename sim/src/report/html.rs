//! The HTML report: one self-contained file (inline CSS, inline SVG, no external resources)
//! with the run's identity (scenario, seed, plan), violations, an SVG timeline with one lane per
//! component coloured up/degraded/down and a marker per fault, and the summary table. The
//! replay line is the command that really reproduces the run (a named scenario, or the plan
//! file, with `-t FILE` for a non-default topology), and when the plan lives in no file the plan
//! itself is included. A run that stopped at a violation is drawn up to the stop only. A tiny
//! inline script measures the drawn lanes after layout and writes the result into
//! `#render-check`, so a headless browser test can confirm the lanes really render.

use std::fmt::Write;

use std::time::Duration;

use topology::fault::Scenario;

use crate::engine::{SimDuration, SimTime, Status};
use crate::report::summary::{outcome_summary, warm_up_line};
use crate::scenario::{PlanSource, RunOutcome};

/// Width of the label column, px.
const LABEL_WIDTH: u64 = 200;
/// Width of the time axis, px.
const AXIS_WIDTH: u64 = 1000;
/// Height of one lane, px.
const LANE_HEIGHT: u64 = 22;
/// Gap between lanes, px.
const LANE_GAP: u64 = 4;
/// Space above the first lane for fault labels, px.
const TOP: u64 = 30;
/// Space under the last lane for the time axis, px.
const BOTTOM: u64 = 30;

/// Fill colour of a status (also the drill report's).
pub fn colour(status: Status) -> &'static str {
    match status {
        Status::Up => "#2e9d4f",
        Status::Degraded => "#e3a21a",
        Status::Down => "#d1342f",
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// x position of `t` on the axis.
fn x_of(t: SimTime, duration: SimDuration) -> u64 {
    let span = duration.as_nanos().max(1);
    LABEL_WIDTH
        + (u128::from(t.as_nanos().min(span)) * u128::from(AXIS_WIDTH) / u128::from(span)) as u64
}

/// A run of pixels of one lane drawn in one status.
#[derive(Debug, PartialEq)]
struct PixelSegment {
    x0: u64,
    x1: u64,
    status: Status,
    start: SimTime,
    end: SimTime,
}

/// How bad a status is, for a pixel that several intervals share.
fn severity(status: Status) -> u8 {
    match status {
        Status::Up => 0,
        Status::Degraded => 1,
        Status::Down => 2,
    }
}

/// The lane's intervals as pixel runs that tile the axis: each pixel shows the worst status
/// of the intervals that touch it, so an outage shorter than a pixel still shows and many of
/// them do not push the lane past the axis.
fn pixel_segments(
    intervals: &[crate::checks::timeline::Interval],
    duration: SimDuration,
) -> Vec<PixelSegment> {
    let mut pixels: Vec<Option<(Status, SimTime, SimTime)>> = vec![None; AXIS_WIDTH as usize];
    for interval in intervals {
        let a = x_of(interval.start, duration) - LABEL_WIDTH;
        let b = (x_of(interval.end, duration) - LABEL_WIDTH)
            .max(a + 1)
            .min(AXIS_WIDTH);
        for p in pixels.iter_mut().take(b as usize).skip(a as usize) {
            *p = Some(match *p {
                Some((st, s0, e0)) => {
                    let worst = if severity(interval.status) > severity(st) {
                        interval.status
                    } else {
                        st
                    };
                    (worst, s0.min(interval.start), e0.max(interval.end))
                }
                None => (interval.status, interval.start, interval.end),
            });
        }
    }
    let mut out: Vec<PixelSegment> = Vec::new();
    for (i, p) in pixels.into_iter().enumerate() {
        let Some((status, start, end)) = p else {
            continue;
        };
        let x = LABEL_WIDTH + i as u64;
        match out.last_mut() {
            Some(last) if last.x1 == x && last.status == status => {
                last.x1 = x + 1;
                last.end = last.end.max(end);
            }
            _ => out.push(PixelSegment {
                x0: x,
                x1: x + 1,
                status,
                start,
                end,
            }),
        }
    }
    out
}

/// A tick step giving about ten ticks over `duration`.
fn tick_step(duration: SimDuration) -> SimDuration {
    const STEPS_SECS: [u64; 10] = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
    let secs = duration.as_nanos() / 1_000_000_000;
    let step = STEPS_SECS
        .iter()
        .copied()
        .find(|s| secs / s <= 12)
        .unwrap_or(7200);
    SimDuration::from_secs(step)
}

fn svg(outcome: &RunOutcome) -> String {
    let lanes = outcome.timelines.len() as u64;
    let height = TOP + lanes * (LANE_HEIGHT + LANE_GAP) + BOTTOM;
    let width = LABEL_WIDTH + AXIS_WIDTH + 20;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="availability timeline">"#
    );
    for (i, timeline) in outcome.timelines.iter().enumerate() {
        let y = TOP + i as u64 * (LANE_HEIGHT + LANE_GAP);
        let name = escape(&timeline.component);
        let _ = writeln!(s, r#"<g class="lane" data-component="{name}">"#);
        let _ = writeln!(
            s,
            r#"<text class="label" x="{}" y="{}" text-anchor="end">{name}</text>"#,
            LABEL_WIDTH - 8,
            y + LANE_HEIGHT - 6
        );
        let _ = writeln!(
            s,
            r##"<rect class="track" x="{LABEL_WIDTH}" y="{y}" width="{AXIS_WIDTH}" height="{LANE_HEIGHT}" fill="#eee"/>"##
        );
        for seg in pixel_segments(&timeline.intervals, outcome.duration) {
            let _ = writeln!(
                s,
                r#"<rect class="seg {status}" x="{x0}" y="{y}" width="{w}" height="{LANE_HEIGHT}" fill="{fill}"><title>{name}: {status} {start} to {end}</title></rect>"#,
                status = seg.status.as_str(),
                x0 = seg.x0,
                w = seg.x1 - seg.x0,
                fill = colour(seg.status),
                start = seg.start,
                end = seg.end,
            );
        }
        let _ = writeln!(s, "</g>");
    }
    let axis_y = TOP + lanes * (LANE_HEIGHT + LANE_GAP);
    let step = tick_step(outcome.duration);
    let mut t = SimTime::ZERO;
    while t <= SimTime::ZERO + outcome.duration {
        let x = x_of(t, outcome.duration);
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{axis_y}" x2="{x}" y2="{}" stroke="#666"/><text class="tick" x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            axis_y + 5,
            axis_y + 18,
            t.since_start()
        );
        t += step;
    }
    for (n, (at, fault)) in outcome.faults.iter().enumerate() {
        let x = x_of(*at, outcome.duration);
        let _ = writeln!(
            s,
            r##"<g class="fault"><line x1="{x}" y1="{}" x2="{x}" y2="{axis_y}" stroke="#222" stroke-dasharray="4 3"/><text x="{x}" y="{}" text-anchor="middle" class="fault-label">F{}</text><title>{} {}</title></g>"##,
            TOP - 14,
            TOP - 16,
            n + 1,
            at,
            escape(fault)
        );
    }
    s.push_str("</svg>\n");
    s
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-top:1em}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}\
th{background:#f0f0f0}.label,.tick,.fault-label{font-size:11px;fill:#222}.ok{color:#2e9d4f}.bad{color:#d1342f}\
.note{background:#fff6d6;padding:4px 8px}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}";

const CHECK_SCRIPT: &str = "window.addEventListener('load',function(){var out=[];\
document.querySelectorAll('#timeline g.lane').forEach(function(g){var w=0;\
g.querySelectorAll('rect.seg').forEach(function(r){w+=r.getBBox().width;});\
out.push({component:g.getAttribute('data-component'),segments:g.querySelectorAll('rect.seg').length,drawnWidth:Math.round(w)});});\
document.getElementById('render-check').textContent=JSON.stringify({lanes:out.length,detail:out});});";

/// The complete HTML document for `outcome`.
pub fn render(outcome: &RunOutcome) -> String {
    let mut h = String::new();
    let title = format!("spofless sim: {} (seed {})", outcome.scenario, outcome.seed);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", escape(&title));
    let _ = writeln!(
        h,
        "<p>Simulated {} &middot; {} events &middot; {} messages delivered, {} dropped &middot; replay: <code id=\"replay\">{}</code></p>",
        outcome.duration,
        outcome.stats.events,
        outcome.stats.delivered,
        outcome.stats.dropped,
        escape(&outcome.replay_command())
    );
    if let Some(stopped) = outcome.stopped_at {
        let _ = writeln!(
            h,
            "<p class=\"bad\" id=\"stopped\">The run stopped at {stopped}, at the first violation, \
             {} before the requested {}: the timeline ends there.</p>",
            (SimTime::ZERO + outcome.requested) - stopped,
            outcome.requested
        );
    }
    for note in &outcome.notes {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(note));
    }
    if outcome.violations.is_empty() {
        h.push_str("<p class=\"ok\">All invariants held.</p>\n");
    } else {
        h.push_str("<h2 class=\"bad\">Violations</h2><ul>\n");
        for v in &outcome.violations {
            let _ = writeln!(h, "<li class=\"bad\">{}</li>", escape(&v.to_string()));
        }
        h.push_str("</ul>\n");
    }
    if outcome.origin.plan == PlanSource::Unsaved {
        let scenario = Scenario::new(
            &outcome.scenario,
            "",
            Duration::from_nanos(outcome.requested.as_nanos()),
            outcome.plan.clone(),
        );
        if let Ok(yaml) = scenario.to_yaml() {
            let _ = writeln!(
                h,
                "<h2>Plan</h2><p>Save this as FILE.yaml to replay the run.</p><pre id=\"plan\">{}</pre>",
                escape(&yaml)
            );
        }
    }
    h.push_str("<h2>Timeline</h2><p class=\"legend\">");
    for status in [Status::Up, Status::Degraded, Status::Down] {
        let _ = write!(
            h,
            "<span style=\"background:{}\"></span>{}",
            colour(status),
            status.as_str()
        );
    }
    h.push_str("</p>\n");
    h.push_str(&svg(outcome));
    h.push_str("<h2>Faults</h2><ol>\n");
    for (at, fault) in &outcome.faults {
        let _ = writeln!(h, "<li>{} {}</li>", at, escape(fault));
    }
    h.push_str("</ol>\n<h2>Summary</h2>\n");
    let summary = outcome_summary(outcome);
    let _ = writeln!(h, "<p>{}</p>", escape(&warm_up_line(&summary)));
    h.push_str("<table><thead><tr><th>component</th><th>serving (up or degraded)</th><th>fully up</th><th>degraded</th><th>down</th><th>incidents</th><th>max time to recover</th><th>final</th></tr></thead><tbody>\n");
    for row in summary.rows {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{:.2}%</td><td>{:.2}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&row.component),
            row.serving_pct,
            row.fully_up_pct,
            row.degraded,
            row.down,
            row.incidents,
            escape(&row.max_time_to_recover),
            row.final_status.as_str()
        );
    }
    h.push_str("</tbody></table>\n");
    if !outcome.facts.is_empty() {
        h.push_str("<h2>Facts</h2>\n<table id=\"facts\"><tbody>\n");
        for f in &outcome.facts {
            let _ = writeln!(
                h,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(&f.name),
                escape(&f.value)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("<pre id=\"render-check\">not rendered</pre>\n");
    let _ = writeln!(h, "<script>{CHECK_SCRIPT}</script>\n</body></html>");
    h
}

#[cfg(test)]
mod tests {

    #[test]
    fn pixel_segments_tile_the_axis_and_show_every_blip() {
        use crate::checks::timeline::Interval;
        let d = SimDuration::from_secs(1000);
        let t = |ms: u64| SimTime::ZERO + SimDuration::from_millis(ms);
        // Up for 1000 s with forty 10 ms outages in the first 20 s (a pixel is 1 s).
        let mut intervals = Vec::new();
        let mut at = 0;
        for k in 0..40 {
            let blip = 500 * k + 250;
            intervals.push(Interval {
                start: t(at),
                end: t(blip),
                status: Status::Up,
            });
            intervals.push(Interval {
                start: t(blip),
                end: t(blip + 10),
                status: Status::Down,
            });
            at = blip + 10;
        }
        intervals.push(Interval {
            start: t(at),
            end: t(1_000_000),
            status: Status::Up,
        });
        let segs = pixel_segments(&intervals, d);
        let width: u64 = segs.iter().map(|s| s.x1 - s.x0).sum();
        assert_eq!(width, AXIS_WIDTH);
        let down: u64 = segs
            .iter()
            .filter(|s| s.status == Status::Down)
            .map(|s| s.x1 - s.x0)
            .sum();
        assert_eq!(down, 20, "every pixel with an outage shows it");
        assert!(segs.windows(2).all(|w| w[0].x1 == w[1].x0));
    }

    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn ticks_are_about_ten() {
        assert_eq!(
            tick_step(SimDuration::from_secs(1800)),
            SimDuration::from_secs(300)
        );
        assert_eq!(
            tick_step(SimDuration::from_secs(10)),
            SimDuration::from_secs(1)
        );
    }
}
