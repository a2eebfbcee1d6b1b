//! Everything the user sees: data on stdout, the rest on stderr.

mod printer;
mod progress;

pub use printer::{OutputFormat, Printer, StdoutClosed};
pub use progress::Progress;
