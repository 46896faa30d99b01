//! `spofless render [FILE] --out DIR [--explain] [--state-dir DIR]`: writes every artifact
//! the cluster needs (host files under `DIR/hosts/<host>/`, kustomize layers under
//! `DIR/manifests/`). Secrets are generated once into the state directory (mode 0700, files
//! 0600) and reused, so rendering twice changes nothing; they are never printed.

use std::path::PathBuf;
use std::process::ExitCode;

use provision::render::{RenderError, render};
use provision::secrets::SecretStore;

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
}

fn report(e: RenderError) -> miette::Report {
    miette::miette!("render failed: {e}")
}

/// Renders `cluster` into `args.out`.
pub fn run(args: &RenderArgs, cluster: &topology::Cluster) -> miette::Result<ExitCode> {
    // New secrets come from the operating system's random source.
    let store = SecretStore::open_with(
        &args.state_dir,
        std::sync::Arc::new(provision::secrets::OsRandom),
    )
    .map_err(|e| report(e.into()))?;
    let now = time::OffsetDateTime::now_utc();
    let rendered = render(cluster, &store, now).map_err(report)?;
    let written = rendered.tree.write_to(&args.out).map_err(report)?;
    if args.explain {
        for line in &rendered.explain {
            println!("{line}");
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
