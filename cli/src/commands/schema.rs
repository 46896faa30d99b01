//! `spofless schema`: the JSON Schema of `cluster.yaml`, generated from the Rust types.

use std::process::ExitCode;

/// Prints the schema.
pub fn run() -> miette::Result<ExitCode> {
    let schema = schemars::schema_for!(topology::Cluster);
    crate::output::out(crate::output::structured(
        &schema,
        crate::output::Format::Json,
    )?)?;
    Ok(ExitCode::SUCCESS)
}
