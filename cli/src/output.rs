//! Output formats shared by every command that prints data.

use std::io::IsTerminal;

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

/// Whether to colour output: never when `NO_COLOR` is set (no-color.org) or stdout is not a
/// terminal.
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Serialises `value` as JSON or YAML.
pub fn structured<T: Serialize>(value: &T, format: Format) -> miette::Result<String> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| miette::miette!("cannot encode JSON: {e}")),
        Format::Yaml | Format::Table => {
            serde_saphyr::to_string(value).map_err(|e| miette::miette!("cannot encode YAML: {e}"))
        }
    }
}
