//! Reading a topology file: YAML to [`Cluster`], then validation.
//!
//! Deserialisation errors come from serde-saphyr with a position; we turn them into
//! [`Problem`]s with the field path and, for misspelt fields and values, a did-you-mean.

use std::path::Path;

use crate::diagnostic::{Code, Problem, Problems, SourceFile};
use crate::model::Cluster;
use crate::source_map::{ByteSpan, SourceMap};
use crate::validate;

/// Name shown for the topology compiled into the binary.
pub const EMBEDDED_NAME: &str = "<embedded bolabaden.yaml>";

/// A cluster that deserialised, with whatever semantic problems validation found. Analysis
/// runs on it either way (so `check` can show what a bad design does); provisioning refuses
/// it while `problems` is not empty.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The cluster.
    pub cluster: Cluster,
    /// Semantic problems, in file order.
    pub problems: Vec<Problem>,
    /// The file it came from.
    pub source: SourceFile,
}

impl Loaded {
    /// The cluster if it has no problems at all.
    pub fn into_valid(self) -> Result<Cluster, Problems> {
        if self.problems.is_empty() {
            Ok(self.cluster)
        } else {
            Err(Problems {
                file: self.source.name,
                problems: self.problems,
            })
        }
    }
}

/// Reading the file failed before any YAML was seen.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot read topology file {path}")]
#[diagnostic(
    code(topology::io),
    help("check the path, or omit it to use the embedded default")
)]
pub struct ReadError {
    /// The path given.
    pub path: String,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Reads `path` from disk.
pub fn read(path: &Path) -> Result<SourceFile, ReadError> {
    std::fs::read_to_string(path)
        .map(|text| SourceFile::new(path.display().to_string(), text))
        .map_err(|source| ReadError {
            path: path.display().to_string(),
            source,
        })
}

/// The default topology compiled into the binary (`examples/bolabaden.yaml`).
pub fn embedded_source() -> SourceFile {
    SourceFile::new(EMBEDDED_NAME, crate::DEFAULT_TOPOLOGY_YAML)
}

/// Deserialises and validates `source`. `Err` only when the YAML does not deserialise.
pub fn load(source: &SourceFile) -> Result<Loaded, Problems> {
    let map = SourceMap::build(&source.text);
    let cluster: Cluster = parse(source, &map)?;
    let problems = validate::validate(&cluster, source, &map);
    Ok(Loaded {
        cluster,
        problems,
        source: source.clone(),
    })
}

/// Deserialises and validates `source`, refusing any problem.
pub fn load_valid(source: &SourceFile) -> Result<Cluster, Problems> {
    load(source)?.into_valid()
}

/// At most this many deserialisation problems are collected from one file: each one costs a
/// re-parse, and past a screenful more of them help nobody.
const MAX_PARSE_PROBLEMS: usize = 20;

/// Deserialises `source` (indexed by `map`) as a `T`, reporting every misspelt field and value
/// in one pass. serde stops at the first error, so after a misspelt key or value the text is
/// repaired (the key renamed to its closest known name, or the entry dropped; the value
/// replaced by its closest known one) and parsed again, each problem mapped back to its place
/// in the user's text. Any other error ends the pass, since what follows it may only be its
/// echo; so does a "missing field" right after a misspelt key of the same mapping (it is the
/// same mistake).
pub fn parse<T: serde::de::DeserializeOwned>(
    source: &SourceFile,
    map: &SourceMap,
) -> Result<T, Problems> {
    let problems_of = |problems| Problems {
        file: source.name.clone(),
        problems,
    };
    if source.text.trim().is_empty() {
        let problem = Problem::new(
            Code::Syntax,
            source,
            ByteSpan { offset: 0, len: 1 },
            "(document)",
            "the file is empty",
        )
        .help("start from `examples/bolabaden.yaml`, or `spofless schema` for every field");
        return Err(problems_of(vec![problem]));
    }
    let first = match serde_saphyr::from_str::<T>(&source.text) {
        Ok(value) => return Ok(value),
        Err(e) => serde_problem(source, map, &e),
    };
    let mut problems = vec![first];
    let mut edits = Edits::default();
    let mut text = source.text.to_string();
    // The index of `text` as it stands: the caller's for the original, rebuilt after each edit.
    let mut current = map.clone();
    while problems.len() < MAX_PARSE_PROBLEMS {
        let Some(last) = problems.last() else { break };
        if !edits.repair(&mut text, &current, last) {
            break;
        }
        let edited = SourceFile::new(source.name.clone(), text.clone());
        current = SourceMap::build(&text);
        let emap = &current;
        let Err(e) = serde_saphyr::from_str::<T>(&text) else {
            break;
        };
        let p = serde_problem(&edited, emap, &e);
        let echo = p.code == Code::MissingField
            && problems
                .iter()
                .any(|q| q.code == Code::UnknownField && parent(&q.field) == parent(&p.field));
        let span = edits.original(p.span);
        if echo || problems.iter().any(|q| q.span == span) {
            break;
        }
        let mut moved = Problem::new(p.code, source, span, p.field.clone(), p.message.clone());
        moved.help = p.help.clone();
        problems.push(moved);
    }
    problems.sort_by_key(|p| p.span.offset);
    Err(problems_of(problems))
}

/// The mapping a dotted field path sits in.
fn parent(field: &str) -> &str {
    field.rfind('.').map_or("", |i| &field[..i])
}

/// Replacements made to a text, in order, so offsets in the edited text map back to the
/// original.
#[derive(Default)]
struct Edits(Vec<(usize, usize, usize)>);

impl Edits {
    /// Replaces `len` bytes at `at` with `with`.
    fn replace(&mut self, text: &mut String, at: usize, len: usize, with: &str) -> bool {
        if text.get(at..at + len).is_none() {
            return false;
        }
        text.replace_range(at..at + len, with);
        self.0.push((at, len, with.len()));
        true
    }

    /// `span` of the edited text, in the original text's offsets.
    fn original(&self, span: ByteSpan) -> ByteSpan {
        let mut offset = span.offset;
        for &(at, old, new) in self.0.iter().rev() {
            if offset >= at + new {
                offset = offset - new + old;
            } else if offset >= at {
                offset = at;
            }
        }
        ByteSpan {
            offset,
            len: span.len,
        }
    }

    /// Edits `text` (indexed by `map`) so the next parse gets past `problem`, whose span and
    /// field are in the original text; false when it cannot.
    fn repair(&mut self, text: &mut String, map: &SourceMap, problem: &Problem) -> bool {
        match problem.code {
            Code::UnknownField => {
                let suggestion = problem.help.as_deref().and_then(did_you_mean);
                match (suggestion, map.key_span(&problem.field)) {
                    (Some(name), Some(key)) => self.replace(text, key.offset, key.len, name),
                    _ => match map.extent(&problem.field) {
                        Some(entry) => self.replace(text, entry.offset, entry.len, ""),
                        None => false,
                    },
                }
            }
            Code::UnknownVariant => {
                let Some(name) = problem.help.as_deref().and_then(did_you_mean) else {
                    return false;
                };
                match map.locate(&problem.field) {
                    Some(value) => self.replace(text, value.offset, value.len, name),
                    None => false,
                }
            }
            _ => false,
        }
    }
}

/// The name in a "did you mean `x`?" hint.
fn did_you_mean(help: &str) -> Option<&str> {
    help.strip_prefix("did you mean `")?.strip_suffix("`?")
}

fn serde_problem(source: &SourceFile, map: &SourceMap, err: &serde_saphyr::Error) -> Problem {
    let span = err
        .location()
        .map(|loc| {
            let s = loc.span();
            let offset = s
                .byte_offset()
                .map(|b| b as usize)
                .unwrap_or_else(|| char_to_byte(&source.text, s.offset() as usize));
            ByteSpan {
                offset,
                len: s.byte_len().map_or(1, |l| (l as usize).max(1)),
            }
        })
        .unwrap_or(ByteSpan { offset: 0, len: 1 });
    let mut field = map
        .path_at(span.offset)
        .unwrap_or_else(|| "(document)".to_owned());
    use serde_saphyr::Error as E;
    // serde-saphyr wraps errors in snippet/alias context; the cause is innermost.
    let mut err = err;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = err {
        err = error;
    }
    if let E::SerdeMissingField { field: name, .. } = err {
        // The position is inside the mapping that lacks the field: name the field itself.
        let parent = field.rfind('.').map_or("", |i| &field[..i]).to_owned();
        field = if parent.is_empty() {
            (*name).to_owned()
        } else {
            format!("{parent}.{name}")
        };
    }
    let (code, message, help) = match err {
        E::SerdeUnknownField {
            field: name,
            expected,
            ..
        } => (
            Code::UnknownField,
            format!("unknown field `{name}`"),
            Some(suggest(name, expected, "field")),
        ),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            Code::UnknownVariant,
            format!("unknown value `{variant}`"),
            Some(suggest(variant, expected, "value")),
        ),
        E::SerdeMissingField { field: name, .. } => (
            Code::MissingField,
            format!("missing required field `{name}`"),
            Some(format!(
                "add `{name}:` here; `spofless schema` lists every field"
            )),
        ),
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (
            Code::InvalidValue,
            format!("expected {expected}, found {unexpected}"),
            Some("`spofless schema` prints the expected types".to_owned()),
        ),
        E::InvalidScalar { ty, .. } => (
            Code::InvalidValue,
            format!("this value is not a valid {}", describe_scalar(ty)),
            Some("`spofless schema` prints the expected types".to_owned()),
        ),
        E::Message { .. } | E::ExternalMessage { .. } => (
            Code::InvalidValue,
            strip_position(&first_line(&err.to_string())),
            Some("`spofless schema` prints the expected types".to_owned()),
        ),
        other => (
            Code::Syntax,
            strip_position(&first_line(&other.to_string())),
            Some("check the indentation and brackets on this line".to_owned()),
        ),
    };
    // Through `#[serde(flatten)]` (a Scenario's faults) serde reports an unknown value at the
    // start of the buffered mapping; the value itself is the first whole-word occurrence of
    // it below that place, so point there.
    let (span, field) = match err {
        E::SerdeUnknownVariant { variant, .. } => {
            refine_to_value(source, map, span, field, variant)
        }
        _ => (span, field),
    };
    let mut p = Problem::new(code, source, span, field, message);
    p.help = help;
    p
}

/// The span and path of `value`'s first whole-word occurrence within what `field` covers, or
/// the given ones when it is not there.
fn refine_to_value(
    source: &SourceFile,
    map: &SourceMap,
    span: ByteSpan,
    field: String,
    value: &str,
) -> (ByteSpan, String) {
    let Some(extent) = map.extent(&field) else {
        return (span, field);
    };
    if value.is_empty()
        || span.len >= value.len()
            && source.text.get(span.offset..span.offset + value.len()) == Some(value)
    {
        return (span, field);
    }
    let end = (extent.offset + extent.len).min(source.text.len());
    let Some(region) = source.text.get(extent.offset..end) else {
        return (span, field);
    };
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
    let found = region.match_indices(value).map(|(i, _)| i).find(|&i| {
        !word(region[..i].chars().next_back()) && !word(region[i + value.len()..].chars().next())
    });
    match found {
        Some(i) => {
            let offset = extent.offset + i;
            let path = map.path_at(offset).unwrap_or(field);
            (
                ByteSpan {
                    offset,
                    len: value.len(),
                },
                path,
            )
        }
        None => (span, field),
    }
}

/// "did you mean `x`?" when a known name is close, else the list of known names.
fn suggest(got: &str, expected: &[&str], what: &str) -> String {
    let best = expected
        .iter()
        .map(|e| (strsim::jaro_winkler(got, e), *e))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, name)) => format!("did you mean `{name}`?"),
        None => format!("expected one {what} of: {}", expected.join(", ")),
    }
}

/// serde-saphyr prefixes messages with "error: line L column C: "; we print the position
/// ourselves.
fn strip_position(s: &str) -> String {
    let s = s.strip_prefix("error: ").unwrap_or(s);
    let s = match s.split_once(": ") {
        Some((pos, rest)) if pos.starts_with("line ") && pos.contains(" column ") => rest,
        _ => s,
    };
    match s.rfind(" at line ") {
        Some(i) if s[i..].contains(", column ") => s[..i].to_owned(),
        _ => s.to_owned(),
    }
}

/// Plain words for the Rust scalar types in the model.
fn describe_scalar(ty: &str) -> String {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" => format!("non-negative integer ({ty})"),
        "i8" | "i16" | "i32" | "i64" | "isize" => format!("integer ({ty})"),
        "bool" => "boolean (true or false)".to_owned(),
        "f32" | "f64" => "number".to_owned(),
        other => other.to_owned(),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}

fn char_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(b, _)| b)
}
