//! Progress on stderr: a spinner on a terminal, plain lines otherwise.
//!
//! The spinner only appears once an operation has taken a quarter of a second,
//! so fast commands stay quiet. Lines written through [`Progress::line`] are always
//! kept (they are the record of what happened: stack events, service events).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Printer;

/// How long an operation runs before its spinner appears (as jj does).
const SPINNER_DELAY: Duration = Duration::from_millis(250);

pub struct Progress {
    bar: Option<ProgressBar>,
    last_plain_message: std::sync::Mutex<String>,
}

impl Progress {
    /// A spinner with a message; `message` changes are shown as plain lines when
    /// there is no terminal.
    pub fn spinner(printer: &Printer, message: impl Into<String>) -> Self {
        let message = message.into();
        if printer.animated_progress() {
            // Hidden at first, drawn once the operation has taken SPINNER_DELAY.
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(message);
            let delayed = bar.clone();
            std::thread::spawn(move || {
                std::thread::sleep(SPINNER_DELAY);
                if !delayed.is_finished() {
                    delayed.set_draw_target(ProgressDrawTarget::stderr());
                    delayed.enable_steady_tick(Duration::from_millis(120));
                }
            });
            Progress {
                bar: Some(bar),
                last_plain_message: std::sync::Mutex::new(String::new()),
            }
        } else {
            crate::ui::stderr_line(&message);
            Progress {
                bar: None,
                last_plain_message: std::sync::Mutex::new(message),
            }
        }
    }

    /// Change the spinner's message (plain mode prints it when it changed).
    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None => {
                let mut last = self
                    .last_plain_message
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if *last != message {
                    crate::ui::stderr_line(&message);
                    *last = message;
                }
            }
        }
    }

    /// A line that stays, printed above the spinner.
    pub fn line(&self, line: impl AsRef<str>) {
        match &self.bar {
            // A hidden spinner (not drawn yet) would drop the line.
            Some(bar) if !bar.is_hidden() => bar.println(line.as_ref()),
            _ => crate::ui::stderr_line(line.as_ref()),
        }
    }

    /// Remove the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
