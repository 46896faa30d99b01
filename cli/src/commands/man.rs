//! `spofless man [--out DIR]`: roff man pages generated from the clap definitions: the
//! top-level page on standard output, or one page per command and subcommand
//! (`spofless.1`, `spofless-sim-run.1`, ...) written into a directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::{IntoDiagnostic as _, WrapErr as _};

/// Arguments of `spofless man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write every page into this directory instead of printing the top-level page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints or writes the pages.
pub fn run(args: &ManArgs, command: clap::Command) -> miette::Result<ExitCode> {
    let command = command.version(env!("CARGO_PKG_VERSION"));
    match &args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .into_diagnostic()
                .wrap_err("rendering the man page")?;
            crate::output::out(String::from_utf8_lossy(&page))?;
        }
        Some(dir) => {
            let written = write_pages(dir, command)?;
            eprintln!("wrote {written} man pages into {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `command`'s page and, recursively, its subcommands' pages; returns how many.
fn write_pages(dir: &Path, command: clap::Command) -> miette::Result<usize> {
    std::fs::create_dir_all(dir)
        .into_diagnostic()
        .wrap_err_with(|| format!("creating {}", dir.display()))?;
    let mut command = command;
    command.build();
    write_tree(dir, &command, "")
}

fn write_tree(dir: &Path, command: &clap::Command, prefix: &str) -> miette::Result<usize> {
    let name = if prefix.is_empty() {
        command.get_name().to_owned()
    } else {
        format!("{prefix}-{}", command.get_name())
    };
    let page = command.clone().name(name.clone());
    let mut bytes = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut bytes)
        .into_diagnostic()
        .wrap_err_with(|| format!("rendering the page of {name}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, bytes)
        .into_diagnostic()
        .wrap_err_with(|| format!("writing {}", path.display()))?;
    let mut count = 1;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        count += write_tree(dir, sub, &name)?;
    }
    Ok(count)
}
