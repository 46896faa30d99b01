//! Syntax of Ceph's text CRUSH map format (what `crushtool -d` writes and
//! `crushtool -c` reads): tokens with line numbers, declarations, and the
//! bucket reordering `CrushCompiler::adjust_bucket_item_place` applies
//! before compiling. Meaning is given in `text_compile.rs`.

use super::error::CrushError;
use super::map::{RULE_TYPE_ERASURE, RULE_TYPE_REPLICATED};

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

pub(super) fn err(line: usize, message: impl Into<String>) -> CrushError {
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
pub(super) struct ItemDecl {
    pub(super) name: String,
    pub(super) weight: Option<f32>,
    pub(super) pos: Option<i32>,
    pub(super) line: usize,
}

#[derive(Debug, Clone)]
pub(super) struct BucketDecl {
    pub(super) type_name: String,
    pub(super) name: String,
    pub(super) line: usize,
    pub(super) id: Option<i32>,
    pub(super) class_ids: Vec<(String, i32, usize)>,
    pub(super) alg: Option<(String, usize)>,
    pub(super) hash: Option<(String, usize)>,
    pub(super) items: Vec<ItemDecl>,
    pub(super) leading_ids: Vec<i32>,
}

#[derive(Debug, Clone)]
pub(super) enum StepDecl {
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
pub(super) struct RuleDecl {
    pub(super) name: Option<String>,
    pub(super) id: i32,
    pub(super) rule_type: i32,
    pub(super) min_size: i32,
    pub(super) max_size: i32,
    pub(super) steps: Vec<(StepDecl, usize)>,
    pub(super) line: usize,
}

#[derive(Debug, Clone)]
pub(super) enum Decl {
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

pub(super) fn parse_decls(src: &str) -> Result<Vec<Decl>, CrushError> {
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
