//! Must-show: the HTML report renders in a real browser. Headless Chromium loads the report,
//! the report's own script measures every drawn lane after layout, and the dumped DOM must show
//! one lane per component with coloured segments spanning the whole time axis. A screenshot is
//! kept next to the report for people to look at.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sim::report::html;
use sim::scenario::{named, run_scenario};

/// Chromium binary names Debian installs (package `chromium`).
const CHROMIUM_NAMES: [&str; 2] = ["chromium", "chromium-browser"];

fn chromium() -> PathBuf {
    for name in CHROMIUM_NAMES {
        if let Ok(out) = Command::new("which").arg(name).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!(
        "headless Chromium is required for this test: install the Debian package `chromium` (apt-get install chromium)"
    );
}

/// Removes the browser's scratch profile even when an assertion fails.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(["--virtual-time-budget=5000", "--timeout=20000"])
    .args(args);
    cmd.output().expect("chromium runs")
}

#[test]
fn report_lanes_render_in_headless_chromium() {
    let cluster = topology::default_cluster().expect("default topology is valid");
    let scenario = named("network-partition", &cluster, 5).expect("scenario");
    let outcome = run_scenario(&cluster, &scenario, 5, Duration::from_secs(600)).expect("runs");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("engine-html");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let report = dir.join("network-partition.html");
    std::fs::write(&report, html::render(&outcome)).expect("write report");
    let profile = TempDir(dir.join(format!("profile-{}", std::process::id())));
    let url = format!("file://{}", report.display());

    let dom = run_chromium(&["--dump-dom", &url], &profile.0);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let start = dom_text
        .find("<pre id=\"render-check\">")
        .expect("render-check element in DOM")
        + 23;
    let end = start + dom_text[start..].find("</pre>").expect("closing pre");
    let check: serde_json::Value =
        serde_json::from_str(&dom_text[start..end].replace("&quot;", "\""))
            .expect("the report's script ran");
    let lanes = check["lanes"].as_u64().expect("lane count");
    assert_eq!(lanes as usize, outcome.timelines.len(), "{check}");
    assert!(
        lanes >= 10,
        "host and heartbeat lanes for five hosts: {check}"
    );
    for lane in check["detail"].as_array().expect("detail") {
        let width = lane["drawnWidth"].as_u64().expect("width");
        assert!(lane["segments"].as_u64().unwrap_or(0) >= 1, "{lane}");
        // A node's lane starts at the controller's first verdict on it (its first lease
        // renewal seen by the leader, about 10 to 20 s in), a workload's or a Service's
        // (CoreDNS's and the ingress controller's included) once its rollout is complete
        // (under 90 s): within the run's first tenth.
        let component = lane["component"].as_str().unwrap_or("");
        let from = if ["node/", "workload/", "service/"]
            .iter()
            .any(|p| component.starts_with(p))
            || ["coredns", "ingress"].contains(&component)
        {
            900
        } else {
            995
        };
        assert!(
            (from..=1005).contains(&width),
            "lane covers the axis (1000 px): {lane}"
        );
    }
    assert!(
        dom_text.contains("class=\"seg degraded\""),
        "the partition shows as degraded: each side still sees itself"
    );
    assert!(dom_text.contains("class=\"fault\""), "fault markers drawn");

    let shot = dir.join("network-partition.png");
    let _ = std::fs::remove_file(&shot);
    let out = run_chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1300,1100",
            &url,
        ],
        &profile.0,
    );
    assert!(
        out.status.success(),
        "screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture, {} bytes",
        png.len()
    );
    eprintln!(
        "report: {}\nscreenshot: {}",
        report.display(),
        shot.display()
    );
}
