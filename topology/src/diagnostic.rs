//! Diagnostics that name the file, line, column and field, and say how to fix it.
//!
//! Each [`Problem`] is a miette diagnostic with the source attached, so the CLI prints the
//! offending line with the value underlined. The `Display` form is one line,
//! `file:line:col: field: message`, for logs and tests.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, Severity, SourceCode};

use crate::source_map::{ByteSpan, line_col};

/// A topology file's name and text, shared by every diagnostic about it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// What the user called the file (a path, or `<embedded default>`).
    pub name: String,
    /// The whole text.
    pub text: Arc<String>,
}

impl SourceFile {
    /// A source named `name` holding `text`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: Arc::new(text.into()),
        }
    }
}

/// Stable identifiers of the kinds of problem, printed as the diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// The YAML itself does not parse.
    Syntax,
    /// A field the schema does not have.
    UnknownField,
    /// An enum value the schema does not have.
    UnknownVariant,
    /// A required field is absent.
    MissingField,
    /// A value of the wrong type or form.
    InvalidValue,
    /// `apiVersion` or `kind` is not ours.
    WrongKind,
    /// Two things share a name or address that must be unique.
    Duplicate,
    /// A name refers to a host that does not exist or lacks the needed role.
    DanglingReference,
    /// Subnets or ranges overlap, or an address lies outside its subnet.
    Addressing,
    /// A quorum group of the wrong size.
    Quorum,
    /// A storage pool the OSD layout cannot satisfy.
    Placement,
    /// Inconsistent numbers (min above max, timers out of order...).
    Inconsistent,
}

impl Code {
    /// The code as miette prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "topology::syntax",
            Code::UnknownField => "topology::unknown_field",
            Code::UnknownVariant => "topology::unknown_variant",
            Code::MissingField => "topology::missing_field",
            Code::InvalidValue => "topology::invalid_value",
            Code::WrongKind => "topology::wrong_kind",
            Code::Duplicate => "topology::duplicate",
            Code::DanglingReference => "topology::dangling_reference",
            Code::Addressing => "topology::addressing",
            Code::Quorum => "topology::quorum",
            Code::Placement => "topology::placement",
            Code::Inconsistent => "topology::inconsistent",
        }
    }
}

/// One thing wrong with a topology file.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Kind of problem.
    pub code: Code,
    /// Dotted path of the field, e.g. `spec.hosts[2].name`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// The file.
    pub source: SourceFile,
    /// Where in the file.
    pub span: ByteSpan,
    /// 1-based line of `span`.
    pub line: usize,
    /// 1-based column of `span`.
    pub column: usize,
}

impl Problem {
    /// A problem at `span` of `source`.
    pub fn new(
        code: Code,
        source: &SourceFile,
        span: ByteSpan,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        let (line, column) = line_col(&source.text, span.offset);
        Problem {
            code,
            field: field.into(),
            message: message.into(),
            help: None,
            source: source.clone(),
            span,
            line,
            column,
        }
    }

    /// Adds a fix hint.
    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.source.name, self.line, self.column, self.field, self.message
        )
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }
    fn severity(&self) -> Option<Severity> {
        Some(Severity::Error)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let label = LabeledSpan::new(Some(self.field.clone()), self.span.offset, self.span.len);
        Some(Box::new(std::iter::once(label)))
    }
}

impl SourceCode for Problem {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        // Read from the text itself, then attach the file name so reports show it.
        let inner =
            self.source
                .text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.source.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// Every problem found in one file. The cluster is not used while any remain.
#[derive(Debug, Clone)]
pub struct Problems {
    /// The file.
    pub file: String,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} has {n} problem{}",
            self.file,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Problems {}

impl Diagnostic for Problems {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("topology::invalid"))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}
