//! `spofless schema`: the JSON Schema of `cluster.yaml`, generated from the Rust types.

use std::process::ExitCode;

/// Prints the schema.
pub fn run() -> miette::Result<ExitCode> {
    let schema = schemars::schema_for!(topology::Cluster);
    let text = serde_json::to_string_pretty(&schema)
        .map_err(|e| miette::miette!("cannot encode the schema: {e}"))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}
