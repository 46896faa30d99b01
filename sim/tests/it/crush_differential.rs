//! Differential tests: our CRUSH against Ceph's own `crushtool` and
//! `osdmaptool` (Debian `ceph-base`) on randomly generated maps.
//!
//! Every mapping of x in 0..10000 for 1-4 replicas on every rule must be
//! identical; on a mismatch the map is kept and the first differing line is
//! reported.

use std::process::{Command, Stdio};

use crate::crush_support::{
    GenOptions, crushtool_compile, first_difference, generate, require_tool, scratch_dir,
};
use sim::models::ceph::crush::CrushMap;
use sim::models::ceph::crush::mapper::Workspace;
use sim::models::ceph::crush::tester::{TestSpec, write_mappings};
use sim::models::ceph::pool::{OsdStates, Pool, map_pg, pgid};
use testkit::stdout_ok;

/// Maps per run: enough variety, under a minute on two cores.
const MAPS: u64 = 30;
/// Inputs per rule and replica count.
const MAX_X: u32 = 9999;

#[test]
fn crush_mappings_identical_to_crushtool() {
    let crushtool = require_tool("crushtool");
    let dir = scratch_dir("crush_differential");
    let mut compared = 0usize;
    for seed in 0..MAPS {
        let g = generate(
            seed,
            GenOptions {
                allow_legacy: true,
                ..GenOptions::default()
            },
        );
        let name = format!("map{seed}");
        let bin = crushtool_compile(&dir, &name, &g.text);
        let map = CrushMap::from_text(&g.text).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        // Start crushtool for every replica count, then compute ours while it runs.
        let children: Vec<_> = (1..=4usize)
            .map(|num_rep| {
                let mut cmd = Command::new(&crushtool);
                cmd.arg("-i").arg(&bin).args(["--test", "--show-mappings"]);
                cmd.args(["--num-rep", &num_rep.to_string(), "--min-x", "0"]);
                cmd.args(["--max-x", &MAX_X.to_string()]);
                for (osd, w) in &g.reweights {
                    cmd.args(["--weight", &osd.to_string(), &w.to_string()]);
                }
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                (
                    num_rep,
                    cmd.spawn()
                        .unwrap_or_else(|e| panic!("spawning crushtool: {e}")),
                )
            })
            .collect();
        for (num_rep, child) in children {
            let mut ours = String::new();
            for rule in map.rules.iter().flatten() {
                let spec = TestSpec {
                    rule: Some(rule.id),
                    num_rep,
                    min_x: 0,
                    max_x: MAX_X,
                    reweights: g.reweights.clone(),
                };
                write_mappings(&map, &spec, &mut ours);
            }
            let out = child
                .wait_with_output()
                .unwrap_or_else(|e| panic!("crushtool: {e}"));
            assert!(
                out.status.success(),
                "crushtool failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = String::from_utf8_lossy(&out.stdout);
            if let Some((line, a, b)) = first_difference(&ours, &theirs) {
                panic!(
                    "seed {seed} num_rep {num_rep}: first mismatch at output line {line}\n  ours:      {a}\n  crushtool: {b}\n\
                     map kept at {} (reweights {:?})",
                    dir.join(format!("{name}.txt")).display(),
                    g.reweights
                );
            }
            compared += theirs.lines().count();
        }
        let _ = std::fs::remove_file(dir.join(format!("{name}.txt")));
        let _ = std::fs::remove_file(&bin);
    }
    eprintln!("{compared} mappings identical to crushtool over {MAPS} maps");
    assert!(compared > 1_000_000);
}

#[test]
fn text_round_trip_matches_crushtool_decompile() {
    let crushtool = require_tool("crushtool");
    let dir = scratch_dir("crush_decompile");
    for seed in 100..105 {
        let g = generate(seed, GenOptions::default());
        let bin = crushtool_compile(&dir, "m", &g.text);
        let theirs = stdout_ok(Command::new(&crushtool).arg("-d").arg(&bin));
        let ours = CrushMap::from_text(&g.text)
            .expect("generated map parses")
            .to_text();
        if let Some((line, a, b)) = first_difference(&ours, &theirs) {
            panic!(
                "seed {seed}: decompile differs at line {line}\n  ours:      {a}\n  crushtool: {b}"
            );
        }
        // Our output compiles with crushtool, and both tools read it back the same way
        // (weights are now rounded to 3 decimals, so compare against the re-read map).
        let bin2 = crushtool_compile(&dir, "ours", &ours);
        let theirs2 = stdout_ok(Command::new(&crushtool).arg("-d").arg(&bin2));
        let ours2 = CrushMap::from_text(&ours)
            .expect("our output parses")
            .to_text();
        if let Some((line, a, b)) = first_difference(&ours2, &theirs2) {
            panic!(
                "seed {seed}: re-read output differs at line {line}\n  ours:      {a}\n  crushtool: {b}"
            );
        }
    }
}

#[test]
fn pg_mappings_identical_to_osdmaptool() {
    let osdmaptool = require_tool("osdmaptool");
    let dir = scratch_dir("crush_osdmaptool");
    for seed in 200..204 {
        // osdmaptool --mark-up-in gives zero-weight OSDs CRUSH weight 1.0, so
        // leave those out: this test is about the OSDMap layer.
        let opts = GenOptions {
            hosts: (3, 8),
            zero_weight_osds: false,
            ..GenOptions::default()
        };
        let g = generate(seed, opts);
        let bin = crushtool_compile(&dir, "crush", &g.text);
        let om = dir.join("osdmap");
        stdout_ok(
            Command::new(&osdmaptool)
                .args([
                    "--createsimple",
                    &g.num_osds.to_string(),
                    "--clobber",
                    "--with-default-pool",
                ])
                .args(["--osd_pool_default_size", "3"])
                .arg(&om),
        );
        stdout_ok(
            Command::new(&osdmaptool)
                .arg(&om)
                .arg("--import-crush")
                .arg(&bin),
        );
        let print = stdout_ok(Command::new(&osdmaptool).arg(&om).arg("--print"));
        let pool = parse_pool(&print)
            .unwrap_or_else(|| panic!("no pool 1 in osdmaptool --print:\n{print}"));
        let out_osd = (seed as usize * 7) % g.num_osds;
        for mark_out in [None, Some(out_osd)] {
            let mut cmd = Command::new(&osdmaptool);
            cmd.arg(&om).arg("--mark-up-in");
            if let Some(o) = mark_out {
                cmd.args(["--mark-out", &o.to_string()]);
            }
            cmd.arg("--test-map-pgs-dump");
            let dump = stdout_ok(&mut cmd);
            let theirs: Vec<&str> = dump.lines().filter(|l| is_pg_line(l)).collect();
            assert_eq!(
                theirs.len(),
                pool.pg_num as usize,
                "osdmaptool output:\n{dump}"
            );
            let map = CrushMap::from_text(&g.text).expect("generated map parses");
            let mut osds = OsdStates::all_up_in(g.num_osds);
            if let Some(o) = mark_out {
                osds.osds[o].weight = 0;
            }
            let weights = osds.weights();
            let mut ws = Workspace::new();
            for (ps, line) in theirs.iter().enumerate() {
                let m = map_pg(&map, &mut ws, &pool, ps as u32, &osds, &weights);
                let set: Vec<String> = m.acting.iter().map(i32::to_string).collect();
                let ours = format!(
                    "{}\t[{}]\t{}",
                    pgid(pool.id, ps as u32),
                    set.join(","),
                    m.acting_primary.unwrap_or(-1)
                );
                assert_eq!(&ours, line, "seed {seed} mark_out {mark_out:?} pg {ps}");
            }
        }
    }
}

fn is_pg_line(l: &str) -> bool {
    let Some((id, _)) = l.split_once('\t') else {
        return false;
    };
    let Some((pool, ps)) = id.split_once('.') else {
        return false;
    };
    pool.parse::<u32>().is_ok() && u32::from_str_radix(ps, 16).is_ok()
}

/// Pool 1 from `osdmaptool --print` (`pool 1 'rbd' replicated size 3 min_size 2
/// crush_rule 0 ... pg_num 256 pgp_num 256 ... flags hashpspool ...`).
fn parse_pool(print: &str) -> Option<Pool> {
    let line = print.lines().find(|l| l.starts_with("pool 1 "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |k: &str| -> Option<u32> {
        let i = words.iter().position(|w| *w == k)?;
        words.get(i + 1)?.parse().ok()
    };
    let mut pool = Pool::replicated(1, field("crush_rule")?);
    pool.size = field("size")? as usize;
    pool.min_size = field("min_size")? as usize;
    pool.pg_num = field("pg_num")?;
    pool.pgp_num = field("pgp_num")?;
    pool.hashpspool = line.contains("hashpspool");
    Some(pool)
}
