//! Output formats and the one way every command writes to standard output.
//!
//! `println!` panics when stdout is a closed pipe (`spofless check | head -1`); every command
//! writes through [`out`] instead, whose [`StdoutError`] the error reporter recognises so a
//! closed pipe ends the command quietly, as other Unix tools do.

use std::io::{IsTerminal, Write as _};

use clap::ValueEnum;
use serde::Serialize;

/// `-o table|json|yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// A human-readable table.
    #[default]
    Table,
    /// JSON, one document.
    Json,
    /// YAML, one document.
    Yaml,
}

/// `-o table|json|yaml` for commands whose default is the table.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct FormatArg {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Writing to standard output failed (most often: the reader closed the pipe).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot write to standard output")]
#[diagnostic(code(spofless::stdout))]
pub struct StdoutError(#[source] pub std::io::Error);

impl StdoutError {
    /// Whether the reader went away, which is no error for a command-line tool.
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes `text` to standard output.
pub fn out(text: impl AsRef<str>) -> Result<(), StdoutError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_ref().as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(StdoutError)
}

/// `println!` that returns a [`StdoutError`] instead of panicking.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::out("\n") };
    ($($arg:tt)*) => { $crate::output::out(format!("{}\n", format_args!($($arg)*))) };
}

/// Whether to colour output: never when `NO_COLOR` is set (no-color.org) or stdout is not a
/// terminal.
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Serialising a report failed (a bug: every report type serialises).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot encode the output as {format}")]
#[diagnostic(code(spofless::encode))]
pub struct EncodeError {
    format: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Serialises `value` as JSON or YAML.
pub fn structured<T: Serialize>(value: &T, format: Format) -> Result<String, EncodeError> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| EncodeError {
                format: "JSON",
                source: Box::new(e),
            }),
        Format::Yaml | Format::Table => serde_saphyr::to_string(value).map_err(|e| EncodeError {
            format: "YAML",
            source: Box::new(e),
        }),
    }
}

/// Prints `value` as JSON or YAML.
pub fn print_structured<T: Serialize>(value: &T, format: Format) -> miette::Result<()> {
    out(structured(value, format)?)?;
    Ok(())
}
