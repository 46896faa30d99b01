//! `spofless render [FILE] --out DIR [--explain] [--state-dir DIR]`: writes every artifact
//! the cluster needs (host files under `DIR/hosts/<host>/`, kustomize layers under
//! `DIR/manifests/`). Secrets are generated once into the state directory (mode 0700, files
//! 0600) and reused, so rendering twice changes nothing; they are never printed.

use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic as _, WrapErr as _};
use provision::render::explain::Explained;
use provision::render::render;
use provision::secrets::SecretStore;
use serde::Serialize;

use crate::outln;
use crate::output::{Format, print_structured};

/// Default state directory for generated secrets, relative to the working directory.
pub const DEFAULT_STATE_DIR: &str = ".spofless/state";

/// Arguments of `spofless render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Topology file; the embedded bolabaden topology when omitted.
    pub file: Option<PathBuf>,
    /// Output directory.
    #[arg(long, short = 'O', default_value = "rendered")]
    pub out: PathBuf,
    /// Print each knob-driven setting with its value in force and the upstream default.
    #[arg(long)]
    pub explain: bool,
    /// Where generated keys and tokens are kept (created with mode 0700).
    #[arg(long, default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Output format of what is printed (the `--explain` table, or the files written).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// What `-o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenderReport<'a> {
    out: String,
    state_dir: String,
    files: usize,
    written: Vec<String>,
    unchanged: usize,
    /// Present with `--explain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Vec<ExplainedRow<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExplainedRow<'a> {
    #[serde(flatten)]
    setting: &'a Explained,
    changed: bool,
}

/// Opens the secret state directory; new secrets come from the operating system's random
/// source.
pub fn open_store(state_dir: &std::path::Path) -> miette::Result<SecretStore> {
    SecretStore::open_with(state_dir, std::sync::Arc::new(provision::secrets::OsRandom))
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot open the state directory {}", state_dir.display()))
}

/// Renders `cluster` into `args.out`.
pub fn run(args: &RenderArgs, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
    let store = open_store(&args.state_dir)?;
    let now = time::OffsetDateTime::now_utc();
    let rendered = render(cluster, &store, now)
        .into_diagnostic()
        .wrap_err("render failed")?;
    let written = rendered
        .tree
        .write_to(&args.out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write the rendered tree into {}", args.out.display()))?;
    if args.format != Format::Table {
        let report = RenderReport {
            out: args.out.display().to_string(),
            state_dir: args.state_dir.display().to_string(),
            files: rendered.tree.len(),
            written: written
                .written
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            unchanged: written.unchanged.len(),
            explain: args.explain.then(|| {
                rendered
                    .explain
                    .iter()
                    .map(|setting| ExplainedRow {
                        setting,
                        changed: setting.differs(),
                    })
                    .collect()
            }),
        };
        print_structured(&report, args.format)?;
    } else if args.explain {
        for line in &rendered.explain {
            outln!("{line}")?;
        }
    }
    eprintln!(
        "rendered {} files into {} ({} written, {} unchanged); secrets kept in {}",
        rendered.tree.len(),
        args.out.display(),
        written.written.len(),
        written.unchanged.len(),
        args.state_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
