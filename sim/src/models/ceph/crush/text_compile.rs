//! Compiles parsed text-map declarations into a [`CrushMap`] with the same
//! semantics as Ceph's `CrushCompiler`.
//!
//! Compilation details that change placement are reproduced: weights go
//! through `strtof` and a float multiply by 0x10000, child buckets are moved
//! before the buckets that use them, missing bucket ids take the lowest free
//! negative id, tunables start from the legacy set, and the device-class
//! shadow trees are built when the first rule is seen.

use std::collections::BTreeMap;

use super::classes::populate_classes;
use super::error::CrushError;
use super::map::{
    Bucket, CRUSH_MAX_BUCKET_WEIGHT, CRUSH_MAX_DEVICE_WEIGHT, CrushMap, Device, Rule, Step,
    Tunables, WEIGHT_ONE,
};
use super::text_parse::{BucketDecl, Decl, RuleDecl, StepDecl, err, parse_decls};

/// Compiler state (`CrushCompiler` members).
struct Compiler {
    map: CrushMap,
    item_id: BTreeMap<String, i32>,
    id_item: BTreeMap<i32, String>,
    type_id: BTreeMap<String, i32>,
    item_weight: BTreeMap<i32, u32>,
    class_bucket: BTreeMap<i32, BTreeMap<i32, i32>>,
    rule_names: BTreeMap<String, i32>,
}

impl Compiler {
    fn class_id_or_create(&mut self, name: &str) -> i32 {
        if let Some(id) = self.map.class_id(name) {
            return id;
        }
        let id = self.map.classes.keys().next_back().map_or(0, |m| m + 1);
        self.map.classes.insert(id, name.to_string());
        id
    }

    fn tunable(&mut self, name: &str, v: i32, line: usize) -> Result<(), CrushError> {
        let t = &mut self.map.tunables;
        let v = v as u32;
        match name {
            "choose_local_tries" => t.choose_local_tries = v,
            "choose_local_fallback_tries" => t.choose_local_fallback_tries = v,
            "choose_total_tries" => t.choose_total_tries = v,
            "chooseleaf_descend_once" => t.chooseleaf_descend_once = v,
            "chooseleaf_vary_r" => t.chooseleaf_vary_r = v,
            "chooseleaf_stable" => t.chooseleaf_stable = v,
            "straw_calc_version" => t.straw_calc_version = v,
            "allowed_bucket_algs" => t.allowed_bucket_algs = v,
            other => return Err(err(line, format!("tunable {other} not recognized"))),
        }
        Ok(())
    }

    fn device(
        &mut self,
        id: i32,
        name: &str,
        class: Option<&str>,
        line: usize,
    ) -> Result<(), CrushError> {
        if self.item_id.contains_key(name) {
            return Err(err(line, format!("item {name} defined twice")));
        }
        let class = class.map(|c| self.class_id_or_create(c));
        self.map.devices.insert(
            id,
            Device {
                id,
                name: name.to_string(),
                class,
            },
        );
        self.item_id.insert(name.to_string(), id);
        self.id_item.insert(id, name.to_string());
        Ok(())
    }

    fn bucket(&mut self, b: &BucketDecl) -> Result<(), CrushError> {
        let Some(&type_id) = self.type_id.get(&b.type_name) else {
            return Err(err(
                b.line,
                format!(
                    "bucket type '{}' is not defined (add a 'type N {}' line)",
                    b.type_name, b.type_name
                ),
            ));
        };
        if self.item_id.contains_key(&b.name) {
            return Err(err(
                b.line,
                format!("bucket or device '{}' is already defined", b.name),
            ));
        }
        let mut class_ids = BTreeMap::new();
        for (cname, id, line) in &b.class_ids {
            let cid = self.class_id_or_create(cname);
            if class_ids.insert(cid, *id).is_some() {
                return Err(err(
                    *line,
                    format!("duplicate device class {cname} for bucket {}", b.name),
                ));
            }
        }
        match &b.alg {
            Some((a, _)) if a == "straw2" => {}
            Some((a, line)) if ["uniform", "list", "tree", "straw"].contains(&a.as_str()) => {
                return Err(CrushError::UnsupportedAlg {
                    line: *line,
                    bucket: b.name.clone(),
                    alg: a.clone(),
                });
            }
            Some((a, line)) => return Err(err(*line, format!("unknown bucket alg '{a}'"))),
            None => {
                return Err(CrushError::UnsupportedAlg {
                    line: b.line,
                    bucket: b.name.clone(),
                    alg: "(none)".into(),
                });
            }
        }
        if let Some((h, line)) = &b.hash {
            let v = if h == "rjenkins1" {
                0
            } else {
                h.parse::<i32>().unwrap_or(0)
            };
            if v != 0 {
                return Err(CrushError::Unsupported {
                    line: *line,
                    feature: format!("hash {h} (only 0, rjenkins1)"),
                });
            }
        }
        let mut size = b.items.len();
        let mut used = std::collections::BTreeSet::new();
        for it in &b.items {
            if let Some(p) = it.pos
                && !used.insert(p)
            {
                {
                    return Err(err(
                        it.line,
                        format!(
                            "item '{}' in bucket '{}' has explicit pos {p}, which is occupied",
                            it.name, b.name
                        ),
                    ));
                }
            }
        }
        if let Some(&maxpos) = used.iter().next_back() {
            size = size.max(maxpos.max(0) as usize);
        }
        let mut items = vec![0i32; size];
        let mut weights = vec![0u32; size];
        let mut curpos = 0i32;
        let mut bucketweight: u32 = 0;
        for it in &b.items {
            let Some(&itemid) = self.item_id.get(&it.name) else {
                return Err(err(
                    it.line,
                    format!("item '{}' in bucket '{}' is not defined", it.name, b.name),
                ));
            };
            let mut weight = self.item_weight.get(&itemid).copied().unwrap_or(WEIGHT_ONE);
            if let Some(w) = it.weight {
                // C: `weight = float_node(...) * (float)0x10000;` into an unsigned.
                weight = (w * WEIGHT_ONE as f32) as u32;
                if weight > CRUSH_MAX_DEVICE_WEIGHT && itemid >= 0 {
                    return Err(err(
                        it.line,
                        format!(
                            "device weight limited to {}",
                            CRUSH_MAX_DEVICE_WEIGHT / WEIGHT_ONE
                        ),
                    ));
                }
                if weight > CRUSH_MAX_BUCKET_WEIGHT && itemid < 0 {
                    return Err(err(
                        it.line,
                        format!(
                            "bucket weight limited to {} to prevent overflow",
                            CRUSH_MAX_BUCKET_WEIGHT / WEIGHT_ONE
                        ),
                    ));
                }
            }
            let pos = match it.pos {
                Some(p) if p >= 0 && (p as usize) >= size => {
                    return Err(err(
                        it.line,
                        format!(
                            "item '{}' in bucket '{}' has pos {p} >= size {size}",
                            it.name, b.name
                        ),
                    ));
                }
                Some(p) if p >= 0 => p as usize,
                _ => {
                    while used.contains(&curpos) {
                        curpos += 1;
                    }
                    curpos += 1;
                    (curpos - 1) as usize
                }
            };
            items[pos] = itemid;
            weights[pos] = weight;
            bucketweight = bucketweight
                .checked_add(weight)
                .ok_or_else(|| err(it.line, "bucket weights overflow; lower the item weights"))?;
        }
        let id = match b.id {
            Some(id) if id != 0 => id,
            _ => {
                let mut id = -1;
                while self.id_item.contains_key(&id) {
                    id -= 1;
                }
                id
            }
        };
        if id >= 0 {
            return Err(err(b.line, format!("bucket id {id} must be negative")));
        }
        if !class_ids.is_empty() {
            self.class_bucket.insert(id, class_ids);
        }
        self.id_item.insert(id, b.name.clone());
        self.item_id.insert(b.name.clone(), id);
        self.item_weight.insert(id, bucketweight);
        let idx = (-1 - id) as usize;
        if self.map.buckets.len() <= idx {
            self.map.buckets.resize(idx + 1, None);
        }
        if self.map.buckets[idx].is_some() {
            return Err(err(b.line, format!("Duplicate bucket id {id}")));
        }
        self.map.buckets[idx] = Some(Bucket {
            id,
            name: b.name.clone(),
            type_id,
            hash: 0,
            items,
            weights,
            class: None,
        });
        Ok(())
    }

    fn rule(&mut self, r: &RuleDecl) -> Result<(), CrushError> {
        if let Some(n) = &r.name
            && self.rule_names.contains_key(n)
        {
            return Err(err(r.line, format!("rule name '{n}' already defined")));
        }
        if r.id < 0 {
            return Err(err(
                r.line,
                format!("rule id {} must not be negative", r.id),
            ));
        }
        let id = r.id as usize;
        if self.map.rules.get(id).is_some_and(Option::is_some) {
            return Err(err(r.line, format!("rule {id} already exists")));
        }
        let mut steps = Vec::with_capacity(r.steps.len());
        let rname = r.name.clone().unwrap_or_default();
        for (s, line) in &r.steps {
            let step = match s {
                StepDecl::Take { item, class } => {
                    let Some(&mut_id) = self.item_id.get(item) else {
                        return Err(err(
                            *line,
                            format!("in rule '{rname}' item '{item}' not defined"),
                        ));
                    };
                    let mut id = mut_id;
                    if let Some(c) = class {
                        let Some(cid) = self.map.class_id(c) else {
                            return Err(err(
                                *line,
                                format!("in rule '{rname}' device class '{c}' does not exist"),
                            ));
                        };
                        let Some(m) = self.map.class_bucket.get(&id) else {
                            return Err(err(
                                *line,
                                format!(
                                    "in rule '{rname}' step take {item} has no class information"
                                ),
                            ));
                        };
                        let Some(&shadow) = m.get(&cid) else {
                            return Err(err(
                                *line,
                                format!(
                                    "in rule '{rname}' step take {item} no matching bucket for class {c}"
                                ),
                            ));
                        };
                        id = shadow;
                    }
                    Step::Take(id)
                }
                StepDecl::Choose {
                    leaf,
                    firstn,
                    num,
                    type_name,
                } => {
                    let Some(&type_id) = self.type_id.get(type_name) else {
                        return Err(err(
                            *line,
                            format!("in rule '{rname}' type '{type_name}' not defined"),
                        ));
                    };
                    Step::Choose {
                        firstn: *firstn,
                        leaf: *leaf,
                        num: *num,
                        type_id,
                    }
                }
                StepDecl::Set(name, v) => match *name {
                    "set_choose_tries" => Step::SetChooseTries(*v),
                    "set_chooseleaf_tries" => Step::SetChooseleafTries(*v),
                    "set_choose_local_tries" => Step::SetChooseLocalTries(*v),
                    "set_choose_local_fallback_tries" => Step::SetChooseLocalFallbackTries(*v),
                    "set_chooseleaf_vary_r" => Step::SetChooseleafVaryR(*v),
                    _ => Step::SetChooseleafStable(*v),
                },
                StepDecl::Emit => Step::Emit,
                StepDecl::Noop => Step::Noop,
            };
            steps.push(step);
        }
        if self.map.rules.len() <= id {
            self.map.rules.resize(id + 1, None);
        }
        self.map.rules[id] = Some(Rule {
            id: r.id as u32,
            name: r.name.clone(),
            rule_type: r.rule_type,
            min_size: r.min_size,
            max_size: r.max_size,
            steps,
        });
        if let Some(n) = &r.name {
            self.rule_names.insert(n.clone(), r.id);
        }
        Ok(())
    }
}

impl CrushMap {
    /// Parses and compiles a text CRUSH map the way `crushtool -c` does.
    pub fn from_text(src: &str) -> Result<CrushMap, CrushError> {
        let decls = parse_decls(src)?;
        if decls.is_empty() {
            return Err(CrushError::Empty);
        }
        let mut c = Compiler {
            map: CrushMap {
                tunables: Tunables::LEGACY,
                ..CrushMap::default()
            },
            item_id: BTreeMap::new(),
            id_item: BTreeMap::new(),
            type_id: BTreeMap::new(),
            item_weight: BTreeMap::new(),
            class_bucket: BTreeMap::new(),
            rule_names: BTreeMap::new(),
        };
        // CrushCompiler::find_used_bucket_ids: leading `id` lines reserve ids.
        for d in &decls {
            if let Decl::Bucket(b) = d {
                for id in &b.leading_ids {
                    c.id_item.insert(*id, String::new());
                }
            }
        }
        let mut saw_rule = false;
        for d in &decls {
            match d {
                Decl::Tunable(n, v, line) => c.tunable(n, *v, *line)?,
                Decl::Device(id, n, class, line) => c.device(*id, n, class.as_deref(), *line)?,
                Decl::Type(id, n) => {
                    c.type_id.insert(n.clone(), *id);
                    c.map.types.insert(*id, n.clone());
                }
                Decl::Bucket(b) => {
                    if saw_rule {
                        return Err(err(b.line, "buckets must be defined before rules"));
                    }
                    c.bucket(b)?;
                }
                Decl::Rule(r) => {
                    if !saw_rule {
                        saw_rule = true;
                        let old = c.class_bucket.clone();
                        populate_classes(&mut c.map, &old)?;
                    }
                    c.rule(r)?;
                }
            }
        }
        c.map.finalize();
        Ok(c.map)
    }
}
