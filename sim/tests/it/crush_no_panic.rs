//! `spofless ceph crush-test` must never panic, whatever map text and arguments it is given:
//! bad input is an error (exit 2) with a message, never an index out of bounds. These
//! properties drive the same library calls the command makes (`CrushMap::from_text`,
//! `TestSpec::check`, `write_mappings`) with arbitrary text, mangled real maps and arbitrary
//! arguments.

use crate::crush_support::{GenOptions, generate};
use proptest::prelude::*;
use sim::models::ceph::crush::CrushMap;
use sim::models::ceph::crush::tester::{MAX_NUM_REP, SpecError, TestSpec, write_mappings};

/// Small maps; at least two hosts, since the generator's ssd and hdd rules need a device of
/// each class.
const MAPS: GenOptions = GenOptions {
    hosts: (2, 6),
    osds_per_host: (1, 4),
    allow_legacy: false,
    zero_weight_osds: true,
    host_domain_only: false,
};

/// The command's path: compile, check the spec, map. Never panics; inputs mapped are bounded
/// by the strategies below.
fn crush_test(text: &str, spec: &TestSpec) -> Result<String, String> {
    let map = CrushMap::from_text(text).map_err(|e| e.to_string())?;
    spec.check(&map).map_err(|e| e.to_string())?;
    let mut out = String::new();
    write_mappings(&map, spec, &mut out);
    Ok(out)
}

/// A spec with any rule id, replica count and weights, over a short input range.
fn spec() -> impl Strategy<Value = TestSpec> {
    (
        proptest::option::of(0u32..12),
        0usize..(MAX_NUM_REP + 8),
        any::<u32>(),
        0u32..16,
        proptest::collection::vec((-3i32..40, -1.0f32..2.0), 0..4),
    )
        .prop_map(|(rule, num_rep, min_x, span, reweights)| TestSpec {
            rule,
            num_rep,
            min_x,
            max_x: min_x.saturating_add(span),
            reweights,
        })
}

/// One edit of a line of a real map: drop it, repeat it, or swap a number for an extreme one.
fn mangle(text: &str, line: usize, how: u8) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return String::new();
    }
    let i = line % lines.len();
    match how % 4 {
        0 => {
            lines.remove(i);
        }
        1 => {
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        2 => {
            lines[i] = lines[i]
                .split(' ')
                .map(|w| {
                    if w.parse::<f64>().is_ok() {
                        "-2147483649"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
        }
        _ => {
            lines[i] = lines[i]
                .split(' ')
                .map(|w| {
                    if w.parse::<f64>().is_ok() {
                        "99999999999"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}", spec in spec()) {
        let _ = crush_test(&text, &spec);
    }

    #[test]
    fn mangled_real_maps_never_panic(
        seed in 0u64..10_000,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        spec in spec(),
    ) {
        let mut text = generate(seed, MAPS).text;
        for (line, how) in edits {
            text = mangle(&text, line, how);
        }
        let _ = crush_test(&text, &spec);
    }

    /// On a good map, a spec is refused exactly for the reasons `check` names, and an
    /// accepted one maps every input of its range.
    #[test]
    fn real_maps_with_any_arguments_map_or_say_why(seed in 0u64..10_000, spec in spec()) {
        let text = generate(seed, MAPS).text;
        match crush_test(&text, &spec) {
            Ok(out) => {
                let per_rule = u64::from(spec.max_x - spec.min_x) + 1;
                prop_assert!(out.lines().count() as u64 >= per_rule, "{out}");
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }
}

#[test]
fn the_refusals_say_why() {
    let text = generate(1, MAPS).text;
    let map = CrushMap::from_text(&text).expect("generated map compiles");
    let base = TestSpec {
        rule: None,
        num_rep: 3,
        min_x: 0,
        max_x: 9,
        reweights: Vec::new(),
    };
    base.check(&map).expect("a plain spec maps");
    let with = |f: &dyn Fn(&mut TestSpec)| {
        let mut s = base.clone();
        f(&mut s);
        s.check(&map)
    };
    assert_eq!(with(&|s| s.num_rep = 0), Err(SpecError::NoReplicas));
    assert_eq!(
        with(&|s| s.num_rep = MAX_NUM_REP + 1),
        Err(SpecError::TooManyReplicas(MAX_NUM_REP + 1))
    );
    assert_eq!(
        with(&|s| {
            s.min_x = 5;
            s.max_x = 2;
        }),
        Err(SpecError::EmptyRange { min: 5, max: 2 })
    );
    assert!(matches!(
        with(&|s| s.rule = Some(999)),
        Err(SpecError::NoSuchRule { rule: 999, .. })
    ));
    let mut out = String::new();
    let zero = TestSpec {
        num_rep: 0,
        ..base.clone()
    };
    write_mappings(&map, &zero, &mut out);
    assert!(out.is_empty(), "num_rep 0 maps nothing and does not panic");
    assert_eq!(
        CrushMap::from_text("  \n# only a comment\n").map(|_| ()),
        Err(sim::models::ceph::crush::CrushError::Empty)
    );
}
