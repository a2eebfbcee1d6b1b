//! "Go ahead?" before any change: asked on a terminal, `--yes` skips it, and
//! without a terminal and without `--yes` the answer is a refusal. Ctrl-C at
//! the question answers no.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{InputError, Problem};

/// Whether to go ahead with `what`. Returns `Ok(false)` when the operator says no.
pub async fn confirm(question: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(InputError::one(
            Problem::new(format!("{question}: no terminal to ask for confirmation"))
                .fix("run it on a terminal, or pass --yes to confirm in advance"),
        )
        .into());
    }
    // Ctrl-C at the question is a "no" (see crate::interrupt).
    let mut interrupt = crate::interrupt::listen()?;
    let question = question.to_string();
    let reading = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut stderr = std::io::stderr();
        write!(stderr, "{question}? [y/N] ")?;
        stderr.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line)
    });
    let answer = tokio::select! {
        answer = reading => answer??,
        _ = interrupt.recv() => {
            crate::ui::stderr_line("");
            return Ok(false);
        }
    };
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
