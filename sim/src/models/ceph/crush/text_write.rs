//! Writes a CRUSH map in the text format `crushtool -d` produces, so the
//! output can be compiled by `crushtool -c` and diffed with Ceph's own.
//!
//! Follows `CrushCompiler::decompile`: tunables only where they differ from
//! the legacy values, buckets depth-first (children before parents) starting
//! from id -1, shadow buckets omitted (their ids appear as `id N class C`),
//! weights as `%.3f` of the 16.16 value.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::classes::SHADOW_SEPARATOR;
use super::map::{CrushMap, RULE_TYPE_ERASURE, RULE_TYPE_REPLICATED, Step, Tunables};

/// `print_fixedpoint`: `%.3f` of `(float)w / (float)0x10000`.
fn fixed(w: u32) -> String {
    format!("{:.3}", f64::from(w as f32 / 65536f32))
}

fn type_name(map: &CrushMap, t: i32) -> String {
    match map.types.get(&t) {
        Some(n) => n.clone(),
        None if t == 0 => "device".into(),
        None => format!("type{t}"),
    }
}

fn item_name(map: &CrushMap, id: i32) -> String {
    match map.item_name(id) {
        Some(n) => n.to_string(),
        None if id >= 0 => format!("device{id}"),
        None => format!("bucket{}", -1 - id),
    }
}

impl CrushMap {
    /// The map in `crushtool -d` text form.
    pub fn to_text(&self) -> String {
        let mut out = String::from("# begin crush map\n");
        let t = &self.tunables;
        let l = Tunables::LEGACY;
        let tun = [
            (
                "choose_local_tries",
                t.choose_local_tries,
                l.choose_local_tries,
            ),
            (
                "choose_local_fallback_tries",
                t.choose_local_fallback_tries,
                l.choose_local_fallback_tries,
            ),
            (
                "choose_total_tries",
                t.choose_total_tries,
                l.choose_total_tries,
            ),
            (
                "chooseleaf_descend_once",
                t.chooseleaf_descend_once,
                l.chooseleaf_descend_once,
            ),
            (
                "chooseleaf_vary_r",
                t.chooseleaf_vary_r,
                l.chooseleaf_vary_r,
            ),
            (
                "chooseleaf_stable",
                t.chooseleaf_stable,
                l.chooseleaf_stable,
            ),
            (
                "straw_calc_version",
                t.straw_calc_version,
                l.straw_calc_version,
            ),
            (
                "allowed_bucket_algs",
                t.allowed_bucket_algs,
                l.allowed_bucket_algs,
            ),
        ];
        for (name, v, legacy) in tun {
            if v != legacy {
                let _ = writeln!(out, "tunable {name} {v}");
            }
        }
        out.push_str("\n# devices\n");
        for d in self
            .devices
            .values()
            .filter(|d| d.id >= 0 && d.id < self.max_devices)
        {
            let _ = write!(out, "device {} {}", d.id, d.name);
            if let Some(c) = d.class.and_then(|c| self.classes.get(&c)) {
                let _ = write!(out, " class {c}");
            }
            out.push('\n');
        }
        out.push_str("\n# types\n");
        if !self.types.contains_key(&0) && !self.types.is_empty() {
            out.push_str("type 0 osd\n");
        }
        for (id, n) in &self.types {
            let _ = writeln!(out, "type {id} {n}");
        }
        out.push_str("\n# buckets\n");
        let mut done = BTreeSet::new();
        for i in 0..self.buckets.len() {
            self.write_bucket_tree(-1 - i as i32, &mut done, &mut out);
        }
        out.push_str("\n# rules\n");
        for r in self.rules.iter().flatten() {
            out.push_str("rule ");
            if let Some(n) = &r.name {
                out.push_str(n);
            }
            let _ = writeln!(out, " {{\n\tid {}", r.id);
            match r.rule_type {
                RULE_TYPE_REPLICATED => out.push_str("\ttype replicated\n"),
                RULE_TYPE_ERASURE => out.push_str("\ttype erasure\n"),
                other => {
                    let _ = writeln!(out, "\ttype {other}");
                }
            }
            let _ = writeln!(out, "\tmin_size {}\n\tmax_size {}", r.min_size, r.max_size);
            for s in &r.steps {
                self.write_step(s, &mut out);
            }
            out.push_str("}\n");
        }
        out.push_str("\n# end crush map\n");
        out
    }

    fn write_step(&self, s: &Step, out: &mut String) {
        let _ = match *s {
            Step::Noop => writeln!(out, "\tstep noop"),
            Step::Take(id) => match self.split_id_class(id) {
                Some((orig, c)) => writeln!(
                    out,
                    "\tstep take {} class {}",
                    item_name(self, orig),
                    self.classes.get(&c).map_or("", String::as_str)
                ),
                None => writeln!(out, "\tstep take {}", item_name(self, id)),
            },
            Step::Emit => writeln!(out, "\tstep emit"),
            Step::SetChooseTries(v) => writeln!(out, "\tstep set_choose_tries {v}"),
            Step::SetChooseLocalTries(v) => writeln!(out, "\tstep set_choose_local_tries {v}"),
            Step::SetChooseLocalFallbackTries(v) => {
                writeln!(out, "\tstep set_choose_local_fallback_tries {v}")
            }
            Step::SetChooseleafTries(v) => writeln!(out, "\tstep set_chooseleaf_tries {v}"),
            Step::SetChooseleafVaryR(v) => writeln!(out, "\tstep set_chooseleaf_vary_r {v}"),
            Step::SetChooseleafStable(v) => writeln!(out, "\tstep set_chooseleaf_stable {v}"),
            Step::Choose {
                firstn,
                leaf,
                num,
                type_id,
            } => writeln!(
                out,
                "\tstep {} {} {num} type {}",
                if leaf { "chooseleaf" } else { "choose" },
                if firstn { "firstn" } else { "indep" },
                type_name(self, type_id)
            ),
        };
    }

    /// `CrushCompiler::decompile_bucket`: children first, each bucket once.
    fn write_bucket_tree(&self, id: i32, done: &mut BTreeSet<i32>, out: &mut String) {
        let Some(b) = self.bucket(id) else {
            return;
        };
        if !done.insert(id) {
            return;
        }
        for &item in &b.items {
            if item < 0 {
                self.write_bucket_tree(item, done, out);
            }
        }
        if b.name.contains(SHADOW_SEPARATOR) {
            return;
        }
        let _ = writeln!(out, "{} {} {{", type_name(self, b.type_id), b.name);
        let _ = writeln!(out, "\tid {}\t\t# do not change unnecessarily", b.id);
        if let Some(m) = self.class_bucket.get(&b.id) {
            for (c, sid) in m {
                let cname = self.classes.get(c).map_or("", String::as_str);
                let _ = writeln!(
                    out,
                    "\tid {sid} class {cname}\t\t# do not change unnecessarily"
                );
            }
        }
        let _ = writeln!(out, "\t# weight {}", fixed(b.weight()));
        out.push_str("\talg straw2\n");
        let _ = writeln!(out, "\thash {}\t# rjenkins1", b.hash);
        for (&item, &w) in b.items.iter().zip(&b.weights) {
            let _ = writeln!(out, "\titem {} weight {}", item_name(self, item), fixed(w));
        }
        out.push_str("}\n");
    }
}
