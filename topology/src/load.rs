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
    let cluster: Cluster = serde_saphyr::from_str(&source.text).map_err(|e| Problems {
        file: source.name.clone(),
        problems: vec![serde_problem(source, &map, &e)],
    })?;
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
    let mut p = Problem::new(code, source, span, field, message);
    p.help = help;
    p
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
