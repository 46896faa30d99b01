//! The mapping loop of `crushtool --test --show-mappings` (Ceph's
//! `CrushTester::test`), so our output can be diffed line by line with
//! crushtool's.

use std::fmt::Write as _;

use super::map::{CrushMap, WEIGHT_ONE};
use super::mapper::Workspace;

/// What to map: rules, replica count and input range, inclusive like crushtool.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSpec {
    /// Only this rule; `None` maps every rule in id order.
    pub rule: Option<u32>,
    /// Number of replicas (`--num-rep`).
    pub num_rep: usize,
    /// First input (`--min-x`).
    pub min_x: u32,
    /// Last input, inclusive (`--max-x`).
    pub max_x: u32,
    /// Reweights (`--weight OSD W`), W in 0.0..=1.0.
    pub reweights: Vec<(i32, f32)>,
}

/// The device weight vector crushtool passes to `do_rule`: the overrides
/// (`CrushTester::set_device_weight`: `(int)(w * 0x10000)` clamped to
/// 0..=0x10000), else 0x10000 for devices present in a bucket, else 0.
pub fn device_weights(map: &CrushMap, reweights: &[(i32, f32)]) -> Vec<u32> {
    let mut w = map.default_device_weights();
    for &(dev, f) in reweights {
        if dev >= 0 && (dev as usize) < w.len() {
            let v = (f * WEIGHT_ONE as f32) as i32;
            w[dev as usize] = v.clamp(0, WEIGHT_ONE as i32) as u32;
        }
    }
    w
}

/// Appends one `CRUSH rule R x X [a,b,c]` line per input to `out`.
pub fn write_mappings(map: &CrushMap, spec: &TestSpec, out: &mut String) {
    let weight = device_weights(map, &spec.reweights);
    if weight.iter().all(|w| *w == 0) {
        // CrushTester skips a rule when the total weight is 0.
        return;
    }
    let mut ws = Workspace::new();
    let mut res = Vec::with_capacity(spec.num_rep);
    let rules: Vec<u32> = match spec.rule {
        Some(r) => map.rule(r).map(|_| r).into_iter().collect(),
        None => map.rules.iter().flatten().map(|r| r.id).collect(),
    };
    for r in rules {
        for x in spec.min_x..=spec.max_x {
            map.do_rule_with(&mut ws, r, x, spec.num_rep, &weight, &mut res);
            let _ = write!(out, "CRUSH rule {r} x {x} [");
            for (i, item) in res.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{item}");
            }
            out.push_str("]\n");
        }
    }
}

/// The full `--show-mappings` output as a string.
pub fn mappings_text(map: &CrushMap, spec: &TestSpec) -> String {
    let mut out = String::new();
    write_mappings(map, spec, &mut out);
    out
}
