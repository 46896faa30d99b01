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

/// Ceph's `CEPH_PG_MAX_SIZE` (src/include/rados.h): no placement group has more OSDs, so no
/// pool asks CRUSH for more replicas than this.
pub const MAX_NUM_REP: usize = 32;

/// Why a [`TestSpec`] cannot run on a map: each of these would otherwise print nothing (or
/// crash) without saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// `--num-rep 0`.
    #[error("--num-rep must be at least 1: with 0 replicas CRUSH maps nothing")]
    NoReplicas,
    /// More replicas than any placement group can have.
    #[error(
        "--num-rep {0} is more than {MAX_NUM_REP}, Ceph's largest placement group (CEPH_PG_MAX_SIZE)"
    )]
    TooManyReplicas(usize),
    /// `--min-x` above `--max-x`.
    #[error("--min-x {min} is greater than --max-x {max}: no input to map")]
    EmptyRange {
        /// First input.
        min: u32,
        /// Last input.
        max: u32,
    },
    /// `--rule` names a rule the map does not have.
    #[error("rule {rule} does not exist; the map has rules {available}")]
    NoSuchRule {
        /// The rule asked for.
        rule: u32,
        /// The rule ids the map has, as text.
        available: String,
    },
    /// The map has no rule at all.
    #[error("the map has no rules, so there is nothing to map")]
    NoRules,
    /// Every device has weight 0 (after the reweights), which crushtool skips silently.
    #[error("every device has weight 0, so CRUSH maps nothing (crushtool skips such a map)")]
    NoWeight,
}

impl TestSpec {
    /// Whether this spec maps at least one input on `map`; the reason when not.
    pub fn check(&self, map: &CrushMap) -> Result<(), SpecError> {
        if self.num_rep == 0 {
            return Err(SpecError::NoReplicas);
        }
        if self.num_rep > MAX_NUM_REP {
            return Err(SpecError::TooManyReplicas(self.num_rep));
        }
        if self.min_x > self.max_x {
            return Err(SpecError::EmptyRange {
                min: self.min_x,
                max: self.max_x,
            });
        }
        let ids: Vec<String> = map
            .rules
            .iter()
            .flatten()
            .map(|r| r.id.to_string())
            .collect();
        if ids.is_empty() {
            return Err(SpecError::NoRules);
        }
        if let Some(rule) = self.rule
            && map.rule(rule).is_none()
        {
            return Err(SpecError::NoSuchRule {
                rule,
                available: ids.join(", "),
            });
        }
        if device_weights(map, &self.reweights).iter().all(|w| *w == 0) {
            return Err(SpecError::NoWeight);
        }
        Ok(())
    }
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

/// Appends one `CRUSH rule R x X [a,b,c]` line per input to `out`. A spec that
/// [`TestSpec::check`] refuses appends nothing, as crushtool prints nothing for it.
pub fn write_mappings(map: &CrushMap, spec: &TestSpec, out: &mut String) {
    let weight = device_weights(map, &spec.reweights);
    if weight.iter().all(|w| *w == 0) || spec.num_rep == 0 || spec.num_rep > MAX_NUM_REP {
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
