//! YAML output through serde-saphyr, which quotes YAML-1.1-ambiguous strings (`on`, `yes`,
//! `12:30`) so kubectl and PyYAML read back exactly what was meant. Multi-document files are
//! joined with `---` in the order given, so output is deterministic.

use serde::Serialize;

use super::error::RenderError;

/// Serialises one object as a YAML document (no leading `---`).
pub fn to_yaml<T: Serialize>(what: &str, value: &T) -> Result<String, RenderError> {
    let mut text = serde_saphyr::to_string(value).map_err(|source| RenderError::Yaml {
        what: what.to_owned(),
        source,
    })?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Joins documents into one multi-document YAML stream.
pub fn join_documents(docs: &[String]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(doc);
    }
    out
}
