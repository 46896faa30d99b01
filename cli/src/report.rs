//! The one error reporter: every command returns `miette::Result`, and this prints the error
//! with its whole source chain, its code and its help (miette's graphical report), then picks
//! the exit status. Errors are never flattened to strings on the way here, so the chain is
//! the user's trail from "what failed" to "why".

use std::io::Write as _;
use std::process::ExitCode;

use crate::exit;
use crate::output::StdoutError;

/// Whether the error only says that the reader of our standard output went away.
fn is_closed_stdout(err: &miette::Report) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutError>()
            .is_some_and(StdoutError::is_closed_pipe)
    })
}

/// Installs miette's graphical handler: wrapped to the terminal's width on a terminal, and
/// unwrapped otherwise, so a message in a log or a test is one line that `grep` finds.
pub fn install() {
    use std::io::IsTerminal as _;
    let wide = !std::io::stderr().is_terminal();
    let _ = miette::set_hook(Box::new(move |_| {
        let opts = miette::MietteHandlerOpts::new();
        let opts = if wide { opts.width(10_000) } else { opts };
        Box::new(opts.build())
    }));
}

/// Prints `err` to standard error and returns the exit status for it.
pub fn report(err: &miette::Report) -> ExitCode {
    if is_closed_stdout(err) {
        return exit::code(exit::SUCCESS);
    }
    tracing::debug!(error = ?err.to_string(), "command failed");
    // A closed stderr leaves nowhere to say anything; the status still tells.
    let _ = writeln!(std::io::stderr().lock(), "{err:?}");
    exit::code(exit::ERROR)
}

#[cfg(test)]
mod tests {
    use miette::WrapErr as _;

    use super::*;

    fn broken_pipe() -> miette::Report {
        miette::Report::new(StdoutError(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )))
    }

    #[test]
    fn a_closed_pipe_is_recognised_even_when_wrapped() {
        assert!(is_closed_stdout(&broken_pipe()));
        let wrapped = Err::<(), _>(broken_pipe())
            .wrap_err("printing the table")
            .expect_err("error");
        assert!(is_closed_stdout(&wrapped));
    }

    #[test]
    fn other_write_errors_are_errors() {
        let full = miette::Report::new(StdoutError(std::io::Error::other("disk full")));
        assert!(!is_closed_stdout(&full));
        assert!(!is_closed_stdout(&miette::miette!("broken pipe")));
    }
}
