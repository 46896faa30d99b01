//! `spofless completions SHELL`: a completion script generated from the clap definitions, so
//! it can never fall out of step with the flags.

use std::process::ExitCode;

use clap_complete::Shell;

/// Arguments of `spofless completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the script for `args.shell`.
pub fn run(args: &CompletionsArgs, mut command: clap::Command) -> miette::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "spofless", &mut script);
    crate::output::out(String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}
