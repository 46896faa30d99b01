//! `spofless ceph crush-test` against Ceph's own `crushtool` (Debian package `ceph-base`): a
//! seeded random map is compiled with `crushtool -c`, decompiled with `crushtool -d` (the text
//! a user gets from a real cluster), and both tools map x in 0..=1023 for 1 to 4 replicas
//! through every rule; their stdout must be identical byte for byte.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::crush::JEWEL_TUNABLES;
use testkit::{SplitMix64, run_ok, tool};

/// Inputs mapped per rule and replica count.
const MAX_X: &str = "1023";

fn crushtool() -> PathBuf {
    tool("crushtool", "the Debian package `ceph-base`")
}

/// Hosts of 1-4 OSDs with random weights (one of them zero), both device classes, and a
/// replicated rule over hosts, a per-class rule and an erasure (indep) rule.
fn random_map(seed: u64) -> String {
    let mut rng = SplitMix64::new(seed);
    let hosts = 4 + rng.below(5) as usize;
    let mut t = String::from(JEWEL_TUNABLES);
    let mut buckets = String::new();
    let mut root = String::new();
    let mut osd = 0;
    for h in 0..hosts {
        let n = 1 + rng.below(4);
        let _ = writeln!(
            buckets,
            "host h{h} {{\n\tid {}\n\talg straw2\n\thash 0",
            -2 - h as i32
        );
        let mut sum = 0.0;
        for _ in 0..n {
            // osd.0 is hdd and osd.1 ssd, so both classes exist; the rest are drawn.
            let class = match osd {
                0 => "hdd",
                1 => "ssd",
                _ if rng.below(2) == 0 => "hdd",
                _ => "ssd",
            };
            let _ = writeln!(t, "device {osd} osd.{osd} class {class}");
            let w = if osd == 2 {
                0.0
            } else {
                (1 + rng.below(80_000)) as f64 / 10_000.0
            };
            sum += w;
            let _ = writeln!(buckets, "\titem osd.{osd} weight {w:.5}");
            osd += 1;
        }
        buckets.push_str("}\n");
        let _ = writeln!(root, "\titem h{h} weight {sum:.5}");
    }
    t.push_str("type 0 osd\ntype 1 host\ntype 11 root\n");
    t.push_str(&buckets);
    let _ = write!(
        t,
        "root default {{\n\tid -1\n\talg straw2\n\thash 0\n{root}}}\n"
    );
    t.push_str(
        "rule replicated_rule {\n\tid 0\n\ttype replicated\n\tmin_size 1\n\tmax_size 10\n\
         \tstep take default\n\tstep chooseleaf firstn 0 type host\n\tstep emit\n}\n\
         rule ssd_rule {\n\tid 1\n\ttype replicated\n\tmin_size 1\n\tmax_size 10\n\
         \tstep take default class ssd\n\tstep chooseleaf firstn 0 type host\n\tstep emit\n}\n\
         rule ec_rule {\n\tid 2\n\ttype erasure\n\tmin_size 3\n\tmax_size 20\n\
         \tstep set_chooseleaf_tries 5\n\tstep set_choose_tries 100\n\tstep take default\n\
         \tstep chooseleaf indep 0 type host\n\tstep emit\n}\n",
    );
    t
}

/// Writes the random map, compiles it, decompiles it; returns (binary map, decompiled text).
fn compiled(name: &str, seed: u64) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let src = dir.join("map.txt");
    let bin = dir.join("map.bin");
    let dec = dir.join("map.decompiled.txt");
    std::fs::write(&src, random_map(seed)).expect("write map");
    run_ok(
        Command::new(crushtool())
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&bin),
    );
    run_ok(
        Command::new(crushtool())
            .arg("-d")
            .arg(&bin)
            .arg("-o")
            .arg(&dec),
    );
    (bin, dec)
}

fn ours(map: &Path, rule: u32, rep: u32, extra: &[&str]) -> Vec<u8> {
    let rule = rule.to_string();
    let rep = rep.to_string();
    let mut args = vec![
        "ceph",
        "crush-test",
        "--map",
        map.to_str().expect("utf-8 path"),
        "--rule",
        &rule,
        "--num-rep",
        &rep,
        "--min-x",
        "0",
        "--max-x",
        MAX_X,
    ];
    args.extend_from_slice(extra);
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_spofless"))
            .args(&args)
            .env("NO_COLOR", "1"),
    )
    .stdout
}

fn theirs(bin: &Path, rule: u32, rep: u32, extra: &[&str]) -> Vec<u8> {
    run_ok(
        Command::new(crushtool())
            .arg("-i")
            .arg(bin)
            .args(["--test", "--show-mappings", "--rule"])
            .arg(rule.to_string())
            .arg("--num-rep")
            .arg(rep.to_string())
            .args(["--min-x", "0", "--max-x", MAX_X])
            .args(extra),
    )
    .stdout
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    a.lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| format!("line {}: ours `{x}`, crushtool `{y}`", i + 1))
        .unwrap_or_else(|| {
            format!(
                "lengths differ: {} vs {} lines",
                a.lines().count(),
                b.lines().count()
            )
        })
}

#[test]
fn crush_test_matches_crushtool_byte_for_byte() {
    for seed in [1u64, 2, 3] {
        let (bin, dec) = compiled(&format!("ceph-cli-map-{seed}"), seed);
        for rule in 0..=2 {
            for rep in 1..=4 {
                let a = ours(&dec, rule, rep, &[]);
                let b = theirs(&bin, rule, rep, &[]);
                assert!(b.len() > 1000, "crushtool printed little for rule {rule}");
                assert!(
                    a == b,
                    "seed {seed} rule {rule} num-rep {rep}: {}",
                    first_difference(&a, &b)
                );
            }
        }
    }
}

#[test]
fn crush_test_takes_both_weight_forms_like_crushtool() {
    let (bin, dec) = compiled("ceph-cli-weights", 7);
    let two_arg = ["--weight", "3", "0.5", "--weight", "4", "0"];
    for rep in 1..=4 {
        let theirs = theirs(&bin, 0, rep, &two_arg);
        let a = ours(&dec, 0, rep, &two_arg);
        assert!(
            a == theirs,
            "num-rep {rep}: {}",
            first_difference(&a, &theirs)
        );
        let colon = ours(&dec, 0, rep, &["--weight", "3:0.5", "--weight", "osd.4:0"]);
        assert!(colon == theirs, "OSD:W form, num-rep {rep}");
    }
    // The reweight changed something, so the comparison above is not vacuous.
    assert_ne!(ours(&dec, 0, 3, &[]), ours(&dec, 0, 3, &two_arg));
    // A lone OSD with no weight is an error, not a silent skip.
    let o = Command::new(env!("CARGO_BIN_EXE_spofless"))
        .args(["ceph", "crush-test", "--map"])
        .arg(&dec)
        .args(["--num-rep", "3", "--weight", "3"])
        .output()
        .expect("run spofless");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing the weight"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
