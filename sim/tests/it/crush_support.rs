//! Shared helpers for the CRUSH tests: a seeded random map generator that
//! writes Ceph's text format, and thin wrappers that run the real
//! `crushtool` / `osdmaptool` (Debian package `ceph-base`).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use testkit::crush::JEWEL_TUNABLES;
use testkit::{stdout_ok, tool};

/// A generated map plus the reweights to test it with.
#[derive(Debug, Clone)]
pub struct GeneratedMap {
    /// Text map (crushtool -c input).
    pub text: String,
    /// Number of devices (ids 0..n).
    pub num_osds: usize,
    /// Hosts, each a list of OSD ids.
    pub hosts: Vec<Vec<i32>>,
    /// `--weight` overrides as (osd, weight in 0..=1, exact in binary).
    pub reweights: Vec<(i32, f32)>,
}

/// Options for [`generate`].
#[derive(Debug, Clone, Copy)]
pub struct GenOptions {
    /// Host count range (inclusive).
    pub hosts: (usize, usize),
    /// OSDs per host range (inclusive).
    pub osds_per_host: (usize, usize),
    /// Allow legacy tunables (no tunable lines) on some maps.
    pub allow_legacy: bool,
    /// Give some OSDs CRUSH weight 0.
    pub zero_weight_osds: bool,
    /// Always use failure domain `host` in `replicated_rule` (rule 0), even with racks.
    pub host_domain_only: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            hosts: (3, 20),
            osds_per_host: (1, 6),
            allow_legacy: false,
            zero_weight_osds: true,
            host_domain_only: false,
        }
    }
}

/// A random map: hosts under optional racks under one root, two device
/// classes (hdd/ssd), random weights, and replicated / erasure / per-class
/// rules.
///
/// # Panics
///
/// If `opt` allows fewer than two OSDs: the per-class rules need one device
/// of each class.
pub fn generate(seed: u64, opt: GenOptions) -> GeneratedMap {
    assert!(
        opt.hosts.0 * opt.osds_per_host.0 >= 2,
        "GenOptions {opt:?} allow maps with fewer than 2 OSDs; the ssd and hdd rules need one \
         device of each class"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nhosts = rng.random_range(opt.hosts.0..=opt.hosts.1);
    let legacy = opt.allow_legacy && rng.random_bool(0.25);
    let with_racks = rng.random_bool(0.3);
    let explicit_class_ids = rng.random_bool(0.5);
    let mut text = String::from("# begin crush map\n");
    if !legacy {
        text.push_str(JEWEL_TUNABLES);
    }
    let mut hosts = Vec::new();
    let mut next_osd = 0i32;
    let mut classes = Vec::new();
    for _ in 0..nhosts {
        let n = rng.random_range(opt.osds_per_host.0..=opt.osds_per_host.1);
        let mut h = Vec::new();
        for _ in 0..n {
            h.push(next_osd);
            classes.push(if rng.random_bool(0.6) { "hdd" } else { "ssd" });
            next_osd += 1;
        }
        hosts.push(h);
    }
    // The per-class rules below take `default class hdd` and `class ssd`;
    // Ceph (and crushtool) reject a rule naming a class no device has, so
    // every map carries at least one device of each class.
    for (i, class) in ["ssd", "hdd"].into_iter().enumerate() {
        if !classes.contains(&class) {
            let at = if i == 0 { 0 } else { classes.len() - 1 };
            classes[at] = class;
        }
    }
    text.push_str("\n# devices\n");
    for (id, c) in classes.iter().enumerate() {
        let _ = writeln!(text, "device {id} osd.{id} class {c}");
    }
    text.push_str("\n# types\ntype 0 osd\ntype 1 host\ntype 3 rack\ntype 11 root\n\n# buckets\n");
    // Bucket ids: hosts -2.., racks after, root -1; class ids far below.
    let mut next_shadow = -1000;
    let mut class_lines = |text: &mut String, rng: &mut ChaCha8Rng| {
        if explicit_class_ids {
            for c in ["hdd", "ssd"] {
                if rng.random_bool(0.9) {
                    let _ = writeln!(text, "\tid {next_shadow} class {c}");
                    next_shadow -= 1;
                }
            }
        }
    };
    let mut host_weights = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let _ = writeln!(text, "host host{i} {{\n\tid {}", -2 - i as i32);
        class_lines(&mut text, &mut rng);
        text.push_str("\talg straw2\n\thash 0\n");
        let mut sum = 0f64;
        for &osd in h {
            let w: f64 = if opt.zero_weight_osds && rng.random_bool(0.05) {
                0.0
            } else {
                rng.random_range(0.01..8.0)
            };
            let w = (w * 100_000.0).round() / 100_000.0;
            sum += w;
            let _ = writeln!(text, "\titem osd.{osd} weight {w:.5}");
        }
        text.push_str("}\n");
        host_weights.push(sum);
    }
    let mut parent_items: Vec<(String, f64)> = host_weights
        .iter()
        .enumerate()
        .map(|(i, w)| (format!("host{i}"), *w))
        .collect();
    if with_racks {
        let nracks = rng.random_range(2..=4usize).min(hosts.len());
        let mut racks: Vec<Vec<(String, f64)>> = vec![Vec::new(); nracks];
        for (i, item) in parent_items.into_iter().enumerate() {
            racks[i % nracks].push(item);
        }
        parent_items = Vec::new();
        for (r, items) in racks.iter().enumerate() {
            let _ = writeln!(text, "rack rack{r} {{\n\tid {}", -100 - r as i32);
            class_lines(&mut text, &mut rng);
            text.push_str("\talg straw2\n\thash 0\n");
            let mut sum = 0.0;
            for (name, w) in items {
                sum += w;
                write_parent_item(&mut text, &mut rng, name, *w);
            }
            text.push_str("}\n");
            parent_items.push((format!("rack{r}"), sum));
        }
    }
    text.push_str("root default {\n\tid -1\n");
    class_lines(&mut text, &mut rng);
    text.push_str("\talg straw2\n\thash 0\n");
    for (name, w) in &parent_items {
        write_parent_item(&mut text, &mut rng, name, *w);
    }
    text.push_str("}\n\n# rules\n");
    let domain = if with_racks && rng.random_bool(0.5) && !opt.host_domain_only {
        "rack"
    } else {
        "host"
    };
    let rules = [
        format!("rule replicated_rule {{\n\tid 0\n\ttype replicated\n\tmin_size 1\n\tmax_size 10\n\tstep take default\n\tstep chooseleaf firstn 0 type {domain}\n\tstep emit\n}}\n"),
        "rule hdd_rule {\n\tid 1\n\ttype replicated\n\tmin_size 1\n\tmax_size 10\n\tstep take default class hdd\n\tstep chooseleaf firstn 0 type host\n\tstep emit\n}\n".to_string(),
        "rule ssd_rule {\n\tid 2\n\ttype replicated\n\tmin_size 1\n\tmax_size 10\n\tstep take default class ssd\n\tstep chooseleaf firstn 0 type host\n\tstep emit\n}\n".to_string(),
        format!("rule ec_rule {{\n\tid 3\n\ttype erasure\n\tmin_size 3\n\tmax_size 20\n\tstep set_chooseleaf_tries 5\n\tstep set_choose_tries 100\n\tstep take default\n\tstep chooseleaf indep 0 type {domain}\n\tstep emit\n}}\n"),
        "rule two_step {\n\tid 4\n\ttype replicated\n\tmin_size 1\n\tmax_size 10\n\tstep take default\n\tstep choose firstn 0 type host\n\tstep choose firstn 1 type osd\n\tstep emit\n}\n".to_string(),
        "rule ec_hdd {\n\tid 5\n\ttype erasure\n\tmin_size 1\n\tmax_size 20\n\tstep take default class hdd\n\tstep chooseleaf indep 0 type host\n\tstep emit\n}\n".to_string(),
        "rule flat_indep {\n\tid 6\n\ttype erasure\n\tmin_size 1\n\tmax_size 20\n\tstep take default class ssd\n\tstep choose indep 0 type osd\n\tstep emit\n}\n".to_string(),
    ];
    for r in &rules {
        text.push_str(r);
    }
    text.push_str("\n# end crush map\n");
    let mut reweights = Vec::new();
    for osd in 0..next_osd {
        if rng.random_bool(0.2) {
            // Binary fractions: identical whether parsed as float or double.
            let k: u32 = rng.random_range(0..=256);
            reweights.push((osd, k as f32 / 256.0));
        }
    }
    GeneratedMap {
        text,
        num_osds: next_osd as usize,
        hosts,
        reweights,
    }
}

fn write_parent_item(text: &mut String, rng: &mut ChaCha8Rng, name: &str, sum: f64) {
    match rng.random_range(0..3) {
        // No weight: crushtool uses the child's total.
        0 => {
            let _ = writeln!(text, "\titem {name}");
        }
        // A weight that differs from the child's total (allowed by Ceph).
        1 => {
            let _ = writeln!(
                text,
                "\titem {name} weight {:.5}",
                sum * rng.random_range(0.5..1.5)
            );
        }
        _ => {
            let _ = writeln!(text, "\titem {name} weight {sum:.5}");
        }
    }
}

/// Path of a Ceph tool from the Debian package `ceph-base`, or a panic saying to install it.
pub fn require_tool(name: &str) -> PathBuf {
    tool(name, "the Debian package `ceph-base`")
}

/// Compiles `text` with `crushtool -c` into `dir/name.bin` (keeping
/// `dir/name.txt`) and returns the binary's path.
pub fn crushtool_compile(dir: &Path, name: &str, text: &str) -> PathBuf {
    let crushtool = require_tool("crushtool");
    let txt = dir.join(format!("{name}.txt"));
    let bin = dir.join(format!("{name}.bin"));
    std::fs::write(&txt, text).unwrap_or_else(|e| panic!("writing {}: {e}", txt.display()));
    stdout_ok(
        Command::new(crushtool)
            .arg("-c")
            .arg(&txt)
            .arg("-o")
            .arg(&bin),
    );
    bin
}

/// A scratch directory under cargo's per-test tmpdir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// First differing line of two outputs, as (line number, ours, theirs).
pub fn first_difference(ours: &str, theirs: &str) -> Option<(usize, String, String)> {
    let mut a = ours.lines();
    let mut b = theirs.lines();
    let mut n = 0;
    loop {
        n += 1;
        match (a.next(), b.next()) {
            (None, None) => return None,
            (x, y) if x == y => {}
            (x, y) => {
                return Some((
                    n,
                    x.unwrap_or("<end>").to_string(),
                    y.unwrap_or("<end>").to_string(),
                ));
            }
        }
    }
}
