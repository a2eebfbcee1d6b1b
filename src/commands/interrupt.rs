//! Ctrl-C (SIGINT) during the long waits: following a stack, a rollout, a
//! migration. Each stops cleanly and says what it left and what to run next
//! ([`crate::error::Interrupted`], exit 130).

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Listen for SIGINT from now on. The handler is installed here, not at the
/// first `.await` (as `tokio::signal::ctrl_c()` does), so a Ctrl-C pressed
/// right after the phase has announced itself is kept rather than killing the
/// process; `recv()` on the result is cancel-safe inside `select!`.
pub fn listen() -> anyhow::Result<Signal> {
    signal(SignalKind::interrupt())
        .map_err(|error| anyhow::anyhow!("cannot listen for Ctrl-C: {error}"))
}
