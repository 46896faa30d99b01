//! Loading text CRUSH maps: what is accepted, what is rejected, and that
//! errors name the line and say how to fix the map.

use sim::models::ceph::crush::{CrushError, CrushMap, Step};

const HEADER: &str = "tunable choose_total_tries 50\ndevice 0 osd.0 class hdd\ndevice 1 osd.1 class ssd\n\
                      type 0 osd\ntype 1 host\ntype 11 root\n";

fn map_with_alg(alg: &str) -> String {
    format!(
        "{HEADER}host h0 {{\n\tid -2\n\talg {alg}\n\thash 0\n\titem osd.0 weight 1.0\n\titem osd.1 weight 1.0\n}}\n\
         root default {{\n\tid -1\n\talg straw2\n\thash 0\n\titem h0 weight 2.0\n}}\n"
    )
}

#[test]
fn only_straw2_buckets_are_accepted() {
    for alg in ["straw", "uniform", "list", "tree"] {
        let e = CrushMap::from_text(&map_with_alg(alg)).expect_err("non-straw2 must be rejected");
        assert!(
            matches!(e, CrushError::UnsupportedAlg { line: 9, .. }),
            "{alg}: {e}"
        );
        assert!(e.to_string().contains("only straw2"), "{e}");
    }
    assert!(CrushMap::from_text(&map_with_alg("straw2")).is_ok());
}

#[test]
fn errors_name_the_line() {
    let bad = format!("{HEADER}host h0 {{\n\tid -2\n\talg straw2\n\titem osd.7 weight 1.0\n}}\n");
    let e = CrushMap::from_text(&bad).expect_err("undefined item");
    assert_eq!(
        e,
        CrushError::Parse {
            line: 10,
            message: "item 'osd.7' in bucket 'h0' is not defined".into()
        }
    );

    let bad = format!("{HEADER}rack r0 {{\n\tid -2\n\talg straw2\n}}\n");
    let e = CrushMap::from_text(&bad).expect_err("undefined type");
    assert!(
        e.to_string()
            .starts_with("line 7: bucket type 'rack' is not defined"),
        "{e}"
    );

    let bad = format!("{}choose_args 0 {{\n}}\n", map_with_alg("straw2"));
    assert!(matches!(
        CrushMap::from_text(&bad),
        Err(CrushError::Unsupported { .. })
    ));
}

#[test]
fn class_take_uses_the_shadow_tree() {
    let text = format!(
        "{}rule r {{\n\tid 0\n\ttype replicated\n\tstep take default class ssd\n\tstep chooseleaf firstn 0 type host\n\tstep emit\n}}\n",
        map_with_alg("straw2")
    );
    let map = CrushMap::from_text(&text).expect("map parses");
    let Some(Step::Take(id)) = map.rule(0).map(|r| r.steps[0]) else {
        panic!("first step is take")
    };
    let shadow = map.bucket(id).expect("shadow root exists");
    assert_eq!(shadow.name, "default~ssd");
    let host = map.bucket(shadow.items[0]).expect("shadow host exists");
    assert_eq!(
        (host.name.as_str(), host.items.as_slice()),
        ("h0~ssd", &[1][..])
    );
    // Shadow weights are recomputed from the class's devices.
    assert_eq!(shadow.weights, vec![0x10000]);
    let w = map.default_device_weights();
    assert_eq!(map.do_rule(0, 7, 3, &w), vec![1]);
}

#[test]
fn weights_go_through_float_like_crushtool() {
    // strtof("0.1") * 65536 = 6553.6 -> 6553 (truncated, as crushtool stores it).
    let text = format!(
        "{HEADER}host h0 {{\n\tid -2\n\talg straw2\n\thash 0\n\titem osd.0 weight 0.1\n\titem osd.1\n}}\n"
    );
    let map = CrushMap::from_text(&text).expect("map parses");
    assert_eq!(
        map.bucket(-2).map(|b| b.weights.clone()),
        Some(vec![6553, 0x10000])
    );
}
