//! Reads Ceph's text CRUSH map format (what `crushtool -d` writes and
//! `crushtool -c` reads) with the same semantics as Ceph's `CrushCompiler`.
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
    Bucket, CRUSH_MAX_BUCKET_WEIGHT, CRUSH_MAX_DEVICE_WEIGHT, CrushMap, Device, RULE_TYPE_ERASURE,
    RULE_TYPE_REPLICATED, Rule, Step, Tunables, WEIGHT_ONE,
};

#[derive(Debug, Clone)]
struct Tok<'a> {
    text: &'a str,
    line: usize,
}

struct Lexer<'a> {
    toks: Vec<Tok<'a>>,
    pos: usize,
    last_line: usize,
}

fn err(line: usize, message: impl Into<String>) -> CrushError {
    CrushError::Parse {
        line,
        message: message.into(),
    }
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        let mut toks = Vec::new();
        let mut last_line = 1;
        for (i, raw) in src.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            last_line = i + 1;
            let mut start = None;
            for (j, ch) in line.char_indices() {
                let brace = matches!(ch, '{' | '}' | '[' | ']');
                if ch.is_whitespace() || brace {
                    if let Some(s) = start.take() {
                        toks.push(Tok {
                            text: &line[s..j],
                            line: i + 1,
                        });
                    }
                    if brace {
                        toks.push(Tok {
                            text: &line[j..j + 1],
                            line: i + 1,
                        });
                    }
                } else if start.is_none() {
                    start = Some(j);
                }
            }
            if let Some(s) = start {
                toks.push(Tok {
                    text: &line[s..],
                    line: i + 1,
                });
            }
        }
        Lexer {
            toks,
            pos: 0,
            last_line,
        }
    }

    fn peek(&self) -> Option<&Tok<'a>> {
        self.toks.get(self.pos)
    }

    fn next(&mut self, what: &str) -> Result<Tok<'a>, CrushError> {
        let t = self.toks.get(self.pos).cloned().ok_or_else(|| {
            err(
                self.last_line,
                format!("unexpected end of file, expected {what}"),
            )
        })?;
        self.pos += 1;
        Ok(t)
    }

    fn expect(&mut self, word: &str) -> Result<usize, CrushError> {
        let t = self.next(&format!("'{word}'"))?;
        if t.text != word {
            return Err(err(
                t.line,
                format!("expected '{word}', found '{}'", t.text),
            ));
        }
        Ok(t.line)
    }

    fn int(&mut self, what: &str) -> Result<(i32, usize), CrushError> {
        let t = self.next(what)?;
        t.text.parse::<i32>().map(|v| (v, t.line)).map_err(|_| {
            err(
                t.line,
                format!("expected an integer {what}, found '{}'", t.text),
            )
        })
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.peek().is_some_and(|t| t.text == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone)]
struct ItemDecl {
    name: String,
    weight: Option<f32>,
    pos: Option<i32>,
    line: usize,
}

#[derive(Debug, Clone)]
struct BucketDecl {
    type_name: String,
    name: String,
    line: usize,
    id: Option<i32>,
    class_ids: Vec<(String, i32, usize)>,
    alg: Option<(String, usize)>,
    hash: Option<(String, usize)>,
    items: Vec<ItemDecl>,
    leading_ids: Vec<i32>,
}

#[derive(Debug, Clone)]
enum StepDecl {
    Take {
        item: String,
        class: Option<String>,
    },
    Choose {
        leaf: bool,
        firstn: bool,
        num: i32,
        type_name: String,
    },
    Set(&'static str, i32),
    Emit,
    Noop,
}

#[derive(Debug, Clone)]
struct RuleDecl {
    name: Option<String>,
    id: i32,
    rule_type: i32,
    min_size: i32,
    max_size: i32,
    steps: Vec<(StepDecl, usize)>,
    line: usize,
}

#[derive(Debug, Clone)]
enum Decl {
    Tunable(String, i32, usize),
    Device(i32, String, Option<String>, usize),
    Type(i32, String),
    Bucket(Box<BucketDecl>),
    Rule(RuleDecl),
}

const SET_STEPS: [&str; 6] = [
    "set_choose_tries",
    "set_chooseleaf_tries",
    "set_choose_local_tries",
    "set_choose_local_fallback_tries",
    "set_chooseleaf_vary_r",
    "set_chooseleaf_stable",
];

fn parse_bucket(
    lx: &mut Lexer<'_>,
    type_name: &str,
    line: usize,
) -> Result<BucketDecl, CrushError> {
    let name = lx.next("bucket name")?.text.to_string();
    lx.expect("{")?;
    let mut b = BucketDecl {
        type_name: type_name.to_string(),
        name,
        line,
        id: None,
        class_ids: Vec::new(),
        alg: None,
        hash: None,
        items: Vec::new(),
        leading_ids: Vec::new(),
    };
    let mut leading = true;
    loop {
        let t = lx.next("'}' closing the bucket")?;
        match t.text {
            "}" => break,
            "id" => {
                let (id, _) = lx.int("bucket id")?;
                if lx.eat("class") {
                    let c = lx.next("class name")?;
                    b.class_ids.push((c.text.to_string(), id, c.line));
                } else {
                    b.id = Some(id);
                }
                if leading {
                    b.leading_ids.push(id);
                }
                continue;
            }
            "alg" => {
                let a = lx.next("bucket algorithm")?;
                b.alg = Some((a.text.to_string(), a.line));
            }
            "hash" => {
                let h = lx.next("hash")?;
                b.hash = Some((h.text.to_string(), h.line));
            }
            "item" => {
                let n = lx.next("item name")?;
                let mut item = ItemDecl {
                    name: n.text.to_string(),
                    weight: None,
                    pos: None,
                    line: n.line,
                };
                loop {
                    if lx.eat("weight") {
                        let w = lx.next("weight")?;
                        let v = w.text.parse::<f32>().map_err(|_| {
                            err(
                                w.line,
                                format!("expected a number after 'weight', found '{}'", w.text),
                            )
                        })?;
                        item.weight = Some(v);
                    } else if lx.eat("pos") {
                        item.pos = Some(lx.int("position")?.0);
                    } else {
                        break;
                    }
                }
                b.items.push(item);
            }
            other => {
                return Err(err(
                    t.line,
                    format!(
                        "unexpected '{other}' in bucket '{}' (expected id, alg, hash, item or '}}')",
                        b.name
                    ),
                ));
            }
        }
        leading = false;
    }
    Ok(b)
}

fn parse_rule(lx: &mut Lexer<'_>, line: usize) -> Result<RuleDecl, CrushError> {
    let name = if lx.eat("{") {
        None
    } else {
        let n = lx.next("rule name")?.text.to_string();
        lx.expect("{")?;
        Some(n)
    };
    let t = lx.next("'id' or 'ruleset'")?;
    if t.text != "id" && t.text != "ruleset" {
        return Err(err(
            t.line,
            format!("expected 'id' or 'ruleset', found '{}'", t.text),
        ));
    }
    let (id, _) = lx.int("rule id")?;
    lx.expect("type")?;
    let tt = lx.next("rule type")?;
    let rule_type = match tt.text {
        "replicated" => RULE_TYPE_REPLICATED,
        "erasure" => RULE_TYPE_ERASURE,
        other => {
            return Err(err(
                tt.line,
                format!("unknown rule type '{other}' (use replicated or erasure)"),
            ));
        }
    };
    let mut rule = RuleDecl {
        name,
        id,
        rule_type,
        min_size: 1,
        max_size: 100,
        steps: Vec::new(),
        line,
    };
    if lx.eat("min_size") {
        rule.min_size = lx.int("min_size")?.0;
    }
    if lx.eat("max_size") {
        rule.max_size = lx.int("max_size")?.0;
    }
    loop {
        let t = lx.next("'step' or '}'")?;
        match t.text {
            "}" => break,
            "step" => {}
            other => {
                return Err(err(
                    t.line,
                    format!("expected 'step' or '}}', found '{other}'"),
                ));
            }
        }
        let op = lx.next("step operation")?;
        let step = match op.text {
            "take" => {
                let item = lx.next("item to take")?.text.to_string();
                let class = if lx.eat("class") {
                    Some(lx.next("class name")?.text.to_string())
                } else {
                    None
                };
                StepDecl::Take { item, class }
            }
            "choose" | "chooseleaf" => {
                let mode = lx.next("firstn or indep")?;
                let firstn = match mode.text {
                    "firstn" => true,
                    "indep" => false,
                    other => {
                        return Err(err(
                            mode.line,
                            format!("expected firstn or indep, found '{other}'"),
                        ));
                    }
                };
                let (num, _) = lx.int("number of items")?;
                lx.expect("type")?;
                let type_name = lx.next("type name")?.text.to_string();
                StepDecl::Choose {
                    leaf: op.text == "chooseleaf",
                    firstn,
                    num,
                    type_name,
                }
            }
            "emit" => StepDecl::Emit,
            "noop" => StepDecl::Noop,
            other => match SET_STEPS.iter().find(|s| **s == other) {
                Some(s) => StepDecl::Set(s, lx.int("value")?.0),
                None => return Err(err(op.line, format!("unknown step '{other}'"))),
            },
        };
        rule.steps.push((step, op.line));
    }
    Ok(rule)
}

fn parse_decls(src: &str) -> Result<Vec<Decl>, CrushError> {
    let mut lx = Lexer::new(src);
    let mut decls = Vec::new();
    while let Some(t) = lx.peek().cloned() {
        lx.pos += 1;
        match t.text {
            "tunable" => {
                let name = lx.next("tunable name")?.text.to_string();
                let (v, _) = lx.int("tunable value")?;
                decls.push(Decl::Tunable(name, v, t.line));
            }
            "device" => {
                let (id, _) = lx.int("device id")?;
                let name = lx.next("device name")?.text.to_string();
                let class = if lx.eat("class") {
                    Some(lx.next("class name")?.text.to_string())
                } else {
                    None
                };
                decls.push(Decl::Device(id, name, class, t.line));
            }
            "type" => {
                let (id, _) = lx.int("type id")?;
                let name = lx.next("type name")?.text.to_string();
                decls.push(Decl::Type(id, name));
            }
            "rule" => decls.push(Decl::Rule(parse_rule(&mut lx, t.line)?)),
            "choose_args" => {
                return Err(CrushError::Unsupported {
                    line: t.line,
                    feature: "choose_args (weight sets)".into(),
                });
            }
            other => {
                if lx.peek().is_none() {
                    return Err(err(t.line, format!("unexpected '{other}' at end of file")));
                }
                decls.push(Decl::Bucket(Box::new(parse_bucket(
                    &mut lx, other, t.line,
                )?)));
            }
        }
    }
    adjust_bucket_item_place(&mut decls)?;
    Ok(decls)
}

/// `CrushCompiler::adjust_bucket_item_place`: swap a bucket with a later one
/// it contains, so children are compiled first (same swap order as Ceph).
fn adjust_bucket_item_place(decls: &mut [Decl]) -> Result<(), CrushError> {
    let positions: Vec<usize> = decls
        .iter()
        .enumerate()
        .filter(|(_, d)| matches!(d, Decl::Bucket(_)))
        .map(|(i, _)| i)
        .collect();
    let info: Vec<(String, Vec<String>, usize)> = positions
        .iter()
        .filter_map(|&p| match &decls[p] {
            Decl::Bucket(b) => Some((
                b.name.clone(),
                b.items.iter().map(|i| i.name.clone()).collect(),
                b.line,
            )),
            _ => None,
        })
        .collect();
    for i in 0..info.len() {
        for j in i + 1..info.len() {
            if info[i].1.contains(&info[j].0) {
                if info[j].1.contains(&info[i].0) {
                    return Err(err(
                        info[i].2,
                        format!(
                            "bucket '{}' and bucket '{}' include each other",
                            info[i].0, info[j].0
                        ),
                    ));
                }
                decls.swap(positions[i], positions[j]);
            }
        }
    }
    Ok(())
}

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
