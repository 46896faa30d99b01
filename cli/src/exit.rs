//! The exit statuses of every `spofless` command, in one place, as ripgrep documents its own:
//! scripts branch on them, so they never change meaning between commands.

use std::process::ExitCode;

/// Everything worked and every verdict or comparison held.
pub const SUCCESS: u8 = 0;
/// The command worked but its answer is "no": `check`'s verdict is not zero-SPOF, `sim`
/// found an invariant violated.
pub const FINDING: u8 = 1;
/// Bad input (a topology, scenario or plan with problems, a bad flag value) or an error that
/// stopped the command.
pub const ERROR: u8 = 2;

/// The text `--help` ends with.
pub const HELP: &str = "\
Exit status:
  0  success: the command worked and every verdict or comparison held
     (a closed standard output, as in `spofless ... | head`, also ends quietly with 0)
  1  a finding: `check`'s verdict is not zero-SPOF, or `sim` found an invariant violated
  2  bad input (topology, scenario, plan or flag) or an error; the message says which";

/// `code` as an [`ExitCode`].
pub fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// [`SUCCESS`] when `holds`, else [`FINDING`].
pub fn verdict(holds: bool) -> ExitCode {
    code(if holds { SUCCESS } else { FINDING })
}
