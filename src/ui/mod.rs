//! Everything the user sees: data on stdout, the rest on stderr.

mod confirm;
mod printer;
mod progress;
mod table;
pub mod terminal;

pub use confirm::confirm;
pub use printer::{push_escaped, stderr_color, stderr_line, OutputFormat, Printer, StdoutClosed};
pub use progress::Progress;
pub use table::table;
