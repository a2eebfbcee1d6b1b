//! Errors a user can act on, and how each ends the process (README, "Exit codes").
//!
//! Commands return `anyhow::Error`. Three kinds are recognised by `main` by
//! downcasting: [`InputError`] (bad usage or bad input, exit 2),
//! [`Interrupted`] (Ctrl-C, exit 130) and [`crate::ui::StdoutClosed`] (the
//! reader went away, exit 0). Everything else is a failure of the remote side
//! (AWS, database, rollout) and exits 1; what the operator can do about one
//! is said as hints of a [`Failure`], never glued into its sentence.
//!
//! A hint reads one way wherever it is printed ([`Hints`]): on its own line,
//! indented under what it is about, as a [`Problem`]'s fix does.

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes of the command line, as documented in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    /// AWS, database or rollout failure.
    Failure = 1,
    /// Bad usage or bad input, found before any change was made.
    Usage = 2,
    /// Interrupted by the operator (SIGINT, Ctrl-C): 128 + 2, as a shell
    /// reports a process that SIGINT ended.
    Interrupted = 130,
}

/// What the operator can do, one line each, as every hint and every fix is
/// printed: `\n  fix: <hint>` (ARCHITECTURE.md, "Invariants").
pub struct Hints<'a>(pub &'a [String]);

impl fmt::Display for Hints<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for hint in self.0 {
            write!(f, "\n  fix: {hint}")?;
        }
        Ok(())
    }
}

/// A failure that is not bad input (AWS, the database, a rollout): what
/// happened, and what the operator can do about it. `main` prints the message
/// (after any context) and then each hint on its own line; formatted inline
/// (a warning, a report's line) it reads the same way, hints last.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", Hints(hints))]
pub struct Failure {
    pub message: String,
    pub hints: Vec<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// One more thing the operator can do, said after those before it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

/// One thing wrong with an input: where it is, what is wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// Dotted key path inside the file, for example `network.cidr`.
    pub key: Option<String>,
    pub message: String,
    pub fix: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            file: None,
            line: None,
            key: None,
            message: message.into(),
            fix: None,
        }
    }

    pub fn in_file(mut self, file: impl AsRef<Path>) -> Self {
        self.file = Some(file.as_ref().to_path_buf());
        self
    }

    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub fn at_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote_location = false;
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            wrote_location = true;
        }
        if let Some(key) = &self.key {
            if wrote_location {
                write!(f, ": ")?;
            }
            write!(f, "{key}")?;
            wrote_location = true;
        }
        if wrote_location {
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)?;
        write!(f, "{}", Hints(self.fix.as_slice()))
    }
}

/// Bad input: one or more problems found before any AWS call. Exit code 2.
#[derive(Debug)]
pub struct InputError {
    pub problems: Vec<Problem>,
}

impl InputError {
    pub fn new(problems: Vec<Problem>) -> Self {
        InputError { problems }
    }

    pub fn one(problem: Problem) -> Self {
        InputError {
            problems: vec![problem],
        }
    }
}

impl From<Problem> for InputError {
    fn from(problem: Problem) -> Self {
        InputError::one(problem)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        if self.problems.len() > 1 {
            write!(f, "\n{} problems found", self.problems.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// A remote command (the console) ended with this status: stackup exits with it.
#[derive(Debug)]
pub struct RemoteExit(pub u8);

impl fmt::Display for RemoteExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the remote command exited with status {}", self.0)
    }
}

impl std::error::Error for RemoteExit {}

/// The operator pressed Ctrl-C (SIGINT) and the command stopped where it
/// could stop cleanly. The message says what state was left and what to run
/// next; `main` prints it after `interrupted:` and exits 130.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// Decide the exit status for an error returned by a command.
pub fn exit_status_of(error: &anyhow::Error) -> ExitStatus {
    if error
        .chain()
        .any(|cause| cause.downcast_ref::<crate::ui::StdoutClosed>().is_some())
    {
        return ExitStatus::Success;
    }
    if error
        .chain()
        .any(|cause| cause.downcast_ref::<InputError>().is_some())
    {
        return ExitStatus::Usage;
    }
    if error
        .chain()
        .any(|cause| cause.downcast_ref::<Interrupted>().is_some())
    {
        return ExitStatus::Interrupted;
    }
    ExitStatus::Failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_shows_file_line_key_and_fix() {
        let problem = Problem::new("is not a CIDR")
            .in_file("stacks/a.toml")
            .at_line(Some(7))
            .at_key("network.cidr")
            .fix("write it like \"10.20.0.0/16\"");
        assert_eq!(
            problem.to_string(),
            "stacks/a.toml:7: network.cidr: is not a CIDR\n  fix: write it like \"10.20.0.0/16\""
        );
    }

    #[test]
    fn a_failure_says_each_hint_on_its_own_line_as_a_problem_says_its_fix() {
        let failure = Failure::new("stack demo-v1-network does not exist")
            .hint("run `stackup create-stack demo` first")
            .hint("or correct --config-dir");
        assert_eq!(
            failure.to_string(),
            "stack demo-v1-network does not exist\n  fix: run `stackup create-stack demo` first\n  fix: or correct --config-dir"
        );
        let problem = Problem::new("bad").fix("do this");
        assert_eq!(
            problem.to_string(),
            format!("bad{}", Hints(&["do this".to_string()]))
        );
        // Not bad input: it ends the run with exit 1, context or not.
        let error = anyhow::Error::new(failure).context("reading the stacks");
        assert_eq!(exit_status_of(&error), ExitStatus::Failure);
    }

    #[test]
    fn several_problems_are_counted() {
        let error = InputError::new(vec![Problem::new("a"), Problem::new("b")]);
        assert_eq!(error.to_string(), "a\nb\n2 problems found");
    }

    #[test]
    fn input_errors_exit_2_even_with_context() {
        let error = anyhow::Error::new(InputError::one(Problem::new("bad"))).context("loading");
        assert_eq!(exit_status_of(&error), ExitStatus::Usage);
        assert_eq!(
            exit_status_of(&anyhow::anyhow!("remote")),
            ExitStatus::Failure
        );
    }

    #[test]
    fn an_interruption_exits_130_even_with_context() {
        let error = anyhow::Error::new(Interrupted("stopped".into())).context("deploying");
        assert_eq!(exit_status_of(&error), ExitStatus::Interrupted);
        assert_eq!(ExitStatus::Interrupted as u8, 130);
    }
}
