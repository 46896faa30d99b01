//! A command as a value: argv, optional stdin and a time bound, plus its captured output.
//!
//! Keeping commands as data lets plans print exactly what would run (a dry run) and lets any
//! transport execute them. Over SSH the argv is sent as one POSIX-shell-quoted line, so
//! arguments never undergo word splitting or expansion on the remote side.

use std::time::Duration;

/// Default bound on one remote command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A command to run on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    argv: Vec<String>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Command {
    /// `program` with no arguments.
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            argv: vec![program.into()],
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `sh -c script`: for pipelines and redirections the caller writes as shell.
    pub fn shell(script: impl Into<String>) -> Self {
        Command::new("sh").arg("-c").arg(script)
    }

    /// Appends one argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.argv.push(a.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Bytes written to the command's standard input (then closed).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Bound on the whole command.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The argv.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The stdin bytes, if any.
    pub fn stdin_data(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// The time bound.
    pub fn time_limit(&self) -> Duration {
        self.timeout
    }

    /// The argv as one POSIX shell line, each word single-quoted unless plainly safe.
    pub fn shell_line(&self) -> String {
        self.argv
            .iter()
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shell_line())
    }
}

fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status; `None` if the command ended without one (killed by a signal).
    pub exit_status: Option<u32>,
    /// Captured standard output.
    pub stdout: Vec<u8>,
    /// Captured standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.exit_status == Some(0)
    }

    /// Standard output as (lossy) UTF-8, trimmed.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_each_word() {
        let c = Command::new("echo").arg("a b").arg("it's").arg("plain-1.2");
        assert_eq!(c.shell_line(), "echo 'a b' 'it'\\''s' plain-1.2");
        assert_eq!(Command::shell("x; y").shell_line(), "sh -c 'x; y'");
        assert_eq!(Command::new("e").arg("").shell_line(), "e ''");
    }
}
