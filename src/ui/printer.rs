//! The printer: results on stdout (text or JSON), everything else on stderr.
//!
//! Nothing in stackup prints except through here. A closed stdout (`| head`) is
//! reported as [`StdoutClosed`], which `main` turns into a quiet exit 0.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use serde::Serialize;

/// `--output`: how results are written on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for people.
    Text,
    /// One JSON document, or one JSON object per line for streams.
    Json,
}

/// The reader of stdout went away. Not a failure: the process exits 0.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

fn stdout_error(error: io::Error) -> anyhow::Error {
    if error.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(error).context("failed to write to standard output")
    }
}

/// `text` with control characters written as escapes (`\n`, `\r`,
/// `\u{1b}`), so that an event stays on its line and cannot send a terminal
/// escape sequence; tabs are kept. JSON lines carry the message unchanged.
pub fn push_escaped(text: &str, out: &mut String) {
    // UTF-8 of U+0080..U+00BF (the C1 controls among them) starts with 0xC2.
    let plain = !text
        .bytes()
        .any(|byte| (byte < 0x20 && byte != b'\t') || byte == 0x7f || byte == 0xc2);
    if plain {
        out.push_str(text);
        return;
    }
    for character in text.chars() {
        match character {
            '\t' => out.push('\t'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            control if control.is_control() => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
}

/// Write one line to stderr. A closed or failing stderr (`2>&1 | head`, a
/// terminal that went away) loses the line, never the work: `eprintln!` would
/// panic in the middle of a rollout and leave its release unrecorded.
pub fn stderr_line(line: impl fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

#[derive(Clone, Debug)]
pub struct Printer {
    inner: Arc<PrinterSettings>,
}

#[derive(Debug)]
struct PrinterSettings {
    format: OutputFormat,
    color: bool,
    progress: bool,
    stderr_is_terminal: bool,
}

/// Whether stderr gets ANSI colours: not with `--no-color`, not when NO_COLOR
/// is set, not when stderr is a file or a pipe. The printer and the tracing
/// diagnostics of `-v` both follow this one decision.
pub fn stderr_color(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && io::stderr().is_terminal()
}

impl Printer {
    pub fn new(format: OutputFormat, no_color: bool, no_progress: bool, verbose: u8) -> Self {
        let stderr_is_terminal = io::stderr().is_terminal();
        let color = stderr_color(no_color);
        Printer {
            inner: Arc::new(PrinterSettings {
                format,
                color,
                // Progress bars fight with debug logs for the same lines: hide them then.
                progress: !no_progress && stderr_is_terminal && verbose == 0,
                stderr_is_terminal,
            }),
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.inner.format
    }

    pub fn is_json(&self) -> bool {
        self.inner.format == OutputFormat::Json
    }

    /// Whether animated progress may be drawn on stderr.
    pub fn animated_progress(&self) -> bool {
        self.inner.progress
    }

    pub fn stderr_is_terminal(&self) -> bool {
        self.inner.stderr_is_terminal
    }

    /// Write result text to stdout, as given (add the newline yourself).
    pub fn data(&self, text: &str) -> anyhow::Result<()> {
        let mut stdout = io::stdout().lock();
        stdout.write_all(text.as_bytes()).map_err(stdout_error)?;
        stdout.flush().map_err(stdout_error)
    }

    /// Write one JSON document (pretty) to stdout.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(value)?;
        text.push('\n');
        self.data(&text)
    }

    /// Write one JSON object on one line to stdout (for streams).
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        let mut text = serde_json::to_string(value)?;
        text.push('\n');
        self.data(&text)
    }

    /// A line of information for the operator, on stderr.
    pub fn info(&self, message: impl fmt::Display) {
        crate::ui::stderr_line(message);
    }

    /// A step that succeeded, on stderr.
    pub fn success(&self, message: impl fmt::Display) {
        crate::ui::stderr_line(format_args!("{} {message}", self.paint("32", "ok")));
    }

    pub fn warn(&self, message: impl fmt::Display) {
        crate::ui::stderr_line(format_args!("{} {message}", self.paint("33", "warning:")));
    }

    pub fn error(&self, message: impl fmt::Display) {
        crate::ui::stderr_line(format_args!("{} {message}", self.paint("31", "error:")));
    }

    /// `text` in an ANSI colour when colour is on.
    pub fn paint(&self, ansi: &str, text: &str) -> String {
        if self.inner.color {
            format!("\x1b[{ansi}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}
