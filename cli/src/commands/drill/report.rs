//! A drill's HTML report: one self-contained file (inline CSS and SVG, no external resources)
//! with the predicted and the observed lanes drawn one above the other on one time axis, the
//! fault's instant marked, and the judged figures. Like the simulator's report, a tiny inline
//! script measures the drawn lanes after layout and writes the result into `#render-check`,
//! so a headless browser can confirm that both sides really render.

// Without the lab no drill runs, so nothing renders a report; it stays compiled and tested.
#![cfg_attr(not(feature = "libvirt"), allow(dead_code))]

use std::fmt::Write as _;
use std::time::Duration;

use sim::report::html::{colour, escape};
use topology::timeline::Timeline;

/// Width of the label column, px.
const LABEL_WIDTH: u64 = 260;
/// Width of the time axis, px.
const AXIS_WIDTH: u64 = 900;
/// Height of one lane, px.
const LANE_HEIGHT: u64 = 20;
/// Gap between lanes, px.
const LANE_GAP: u64 = 4;
/// Space above the lanes for the fault's label, px.
const TOP: u64 = 24;
/// Space under the lanes for the axis, px.
const BOTTOM: u64 = 30;

/// One side's lanes (`predicted, seed 3` or `observed on the lab`).
pub struct Side<'a> {
    /// The side's name, drawn before each lane's component.
    pub name: &'a str,
    /// `"predicted"` or `"observed"` (the lanes' CSS class and the render check's key).
    pub kind: &'static str,
    /// Its lanes, times since the first phase began.
    pub lanes: &'a [Timeline],
}

/// A judged figure, as the table shows it.
pub struct Row<'a> {
    /// The component or phase.
    pub subject: &'a str,
    /// The figure.
    pub figure: &'a str,
    /// Observed.
    pub observed: &'a str,
    /// Predicted range.
    pub predicted: &'a str,
    /// Tolerance.
    pub tolerance: &'a str,
    /// Verdict text.
    pub verdict: &'a str,
}

fn x_of(t: Duration, span: Duration) -> u64 {
    let frac = t.as_secs_f64() / span.as_secs_f64().max(1e-9);
    LABEL_WIDTH + (frac.clamp(0.0, 1.0) * AXIS_WIDTH as f64).round() as u64
}

fn svg(sides: &[Side<'_>], fault_at: Option<Duration>) -> String {
    let span = sides
        .iter()
        .flat_map(|s| s.lanes)
        .filter_map(|t| t.intervals.last().map(|i| i.end))
        .max()
        .unwrap_or(Duration::from_secs(1));
    let lanes: u64 = sides.iter().map(|s| s.lanes.len() as u64).sum();
    let height = TOP + lanes * (LANE_HEIGHT + LANE_GAP) + BOTTOM;
    let width = LABEL_WIDTH + AXIS_WIDTH + 20;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="predicted and observed availability">"#
    );
    let mut y = TOP;
    for side in sides {
        for lane in side.lanes {
            let name = escape(&format!("{}: {}", side.name, lane.component));
            let _ = writeln!(
                s,
                r##"<g class="lane {kind}" data-side="{kind}" data-component="{c}"><text class="label" x="{lx}" y="{ty}" text-anchor="end">{name}</text><rect x="{LABEL_WIDTH}" y="{y}" width="{AXIS_WIDTH}" height="{LANE_HEIGHT}" fill="#eee"/>"##,
                kind = side.kind,
                c = escape(&lane.component),
                lx = LABEL_WIDTH - 8,
                ty = y + LANE_HEIGHT - 5,
            );
            for i in &lane.intervals {
                let (x0, x1) = (x_of(i.start, span), x_of(i.end, span));
                let _ = writeln!(
                    s,
                    r#"<rect class="seg {st}" x="{x0}" y="{y}" width="{w}" height="{LANE_HEIGHT}" fill="{fill}"><title>{name}: {st} {a:.2}s to {b:.2}s</title></rect>"#,
                    st = i.status.as_str(),
                    w = (x1 - x0).max(1),
                    fill = colour(i.status),
                    a = i.start.as_secs_f64(),
                    b = i.end.as_secs_f64(),
                );
            }
            let _ = writeln!(s, "</g>");
            y += LANE_HEIGHT + LANE_GAP;
        }
    }
    let step = [1u64, 5, 10, 20, 30, 60, 120, 300]
        .into_iter()
        .find(|st| span.as_secs() / st <= 12)
        .unwrap_or(600);
    let mut t = 0;
    while Duration::from_secs(t) <= span {
        let x = x_of(Duration::from_secs(t), span);
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{y}" x2="{x}" y2="{}" stroke="#666"/><text class="tick" x="{x}" y="{}" text-anchor="middle">{t}s</text>"##,
            y + 5,
            y + 18
        );
        t += step;
    }
    if let Some(at) = fault_at {
        let x = x_of(at, span);
        let _ = writeln!(
            s,
            r##"<g class="fault"><line x1="{x}" y1="{}" x2="{x}" y2="{y}" stroke="#222" stroke-dasharray="4 3"/><text x="{x}" y="{}" text-anchor="middle" class="tick">fault</text></g>"##,
            TOP - 4,
            TOP - 8
        );
    }
    s.push_str("</svg>\n");
    s
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-top:1em}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}\
th{background:#f0f0f0}.label,.tick{font-size:11px;fill:#222}.bad{color:#d1342f}";

const CHECK_SCRIPT: &str = "window.addEventListener('load',function(){var out={};\
document.querySelectorAll('#timeline g.lane').forEach(function(g){var k=g.getAttribute('data-side');\
var w=0;g.querySelectorAll('rect.seg').forEach(function(r){w+=r.getBBox().width;});\
out[k]=out[k]||[];out[k].push({component:g.getAttribute('data-component'),drawnWidth:Math.round(w)});});\
document.getElementById('render-check').textContent=JSON.stringify(out);});";

/// The report: `title`, `lines` of context, the sides' lanes, the fault's instant and the
/// figures.
pub fn render(
    title: &str,
    lines: &[String],
    sides: &[Side<'_>],
    fault_at: Option<Duration>,
    rows: &[Row<'_>],
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(title)
    );
    for l in lines {
        let _ = writeln!(h, "<p>{}</p>", escape(l));
    }
    h.push_str(&svg(sides, fault_at));
    h.push_str("<table><tr><th>subject</th><th>figure</th><th>observed</th><th>predicted</th><th>tolerance</th><th>verdict</th></tr>\n");
    for r in rows {
        let class = if r.verdict == "DISAGREES" {
            " class=\"bad\""
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{class}>{}</td></tr>",
            escape(r.subject),
            escape(r.figure),
            escape(r.observed),
            escape(r.predicted),
            escape(r.tolerance),
            escape(r.verdict)
        );
    }
    let _ = write!(
        h,
        "</table>\n<pre id=\"render-check\"></pre>\n<script>{CHECK_SCRIPT}</script>\n</body></html>\n"
    );
    h
}

#[cfg(test)]
mod tests {
    use topology::timeline::Status;

    use super::*;

    fn lane(name: &str, down: (u64, u64), end: u64) -> Timeline {
        let s = Duration::from_secs;
        Timeline::from_changes(
            name,
            &[
                (s(0), Status::Up),
                (s(down.0), Status::Down),
                (s(down.1), Status::Up),
            ],
            s(end),
        )
    }

    #[test]
    fn both_sides_are_drawn_on_one_axis_with_the_figures() {
        let predicted = [lane("etcd-writes/client0", (24, 36), 72)];
        let observed = [lane("etcd-writes/client0", (25, 38), 70)];
        let html = render(
            "drill <etcd-leader-kill>",
            &["lab bolabaden".to_owned()],
            &[
                Side {
                    name: "predicted (seed 1)",
                    kind: "predicted",
                    lanes: &predicted,
                },
                Side {
                    name: "observed",
                    kind: "observed",
                    lanes: &observed,
                },
            ],
            Some(Duration::from_secs(24)),
            &[Row {
                subject: "etcd",
                figure: "re-election",
                observed: "13.84s",
                predicted: "10.57s..18.94s",
                tolerance: "1.52s",
                verdict: "agrees",
            }],
        );
        assert!(html.contains("drill &lt;etcd-leader-kill&gt;"), "{html}");
        assert_eq!(html.matches(r#"data-side="predicted""#).count(), 1);
        assert_eq!(html.matches(r#"data-side="observed""#).count(), 1);
        // Each lane: up, down, up.
        assert_eq!(html.matches(r#"class="seg down""#).count(), 2);
        assert!(html.contains("<td>10.57s..18.94s</td>"));
        assert!(html.contains("id=\"render-check\""));
    }
}
