//! Ctrl-C (SIGINT) during the long waits: following a stack, a rollout, a
//! migration, a question. Each stops cleanly and says what it left and what
//! to run next ([`crate::error::Interrupted`], exit 130). SIGTERM (a
//! cancelled CI job) and SIGHUP (a dropped SSH session) are taken the same
//! way once a wait has begun, so that what was left is recorded too.
//!
//! One handler for the whole process, installed by the first [`listen`]:
//! tokio never gives SIGINT its default action back once it has listened, so
//! a Ctrl-C between two waits (while a change set is being made, say) would
//! otherwise be swallowed. With the handler, a Ctrl-C while some phase
//! listens is that phase's to handle, and is remembered: a phase that starts
//! after it stops at once. A Ctrl-C while nothing listens ends the process
//! with 130, as the default action would have.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Whether Ctrl-C was pressed (true once it was).
static PRESSED: OnceLock<watch::Sender<bool>> = OnceLock::new();
/// How many phases listen now.
static LISTENING: AtomicUsize = AtomicUsize::new(0);
static INSTALLING: Mutex<()> = Mutex::new(());

/// Listen for SIGINT from now on, until the result is dropped. The handler
/// is in place when this returns, so a Ctrl-C pressed right after the phase
/// has announced itself is kept rather than killing the process; `recv()` is
/// cancel-safe inside `select!`.
pub fn listen() -> anyhow::Result<Listener> {
    {
        // once per process, even when services start waiting together
        let _installing = INSTALLING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if PRESSED.get().is_none() {
            let listen_to = |kind: SignalKind, name: &str| {
                signal(kind).map_err(|error| anyhow::anyhow!("cannot listen for {name}: {error}"))
            };
            let mut interrupts = listen_to(SignalKind::interrupt(), "Ctrl-C")?;
            let mut terminations = listen_to(SignalKind::terminate(), "SIGTERM")?;
            let mut hangups = listen_to(SignalKind::hangup(), "SIGHUP")?;
            let pressed = PRESSED.get_or_init(|| watch::channel(false).0);
            tokio::spawn(async move {
                loop {
                    let received = tokio::select! {
                        received = interrupts.recv() => received,
                        received = terminations.recv() => received,
                        received = hangups.recv() => received,
                    };
                    if received.is_none() {
                        break;
                    }
                    if LISTENING.load(Ordering::SeqCst) == 0 {
                        crate::ui::stderr_line(format_args!("\ninterrupted"));
                        std::process::exit(130);
                    }
                    pressed.send_replace(true);
                }
            });
        }
    }
    let pressed = PRESSED.get().expect("installed above");
    LISTENING.fetch_add(1, Ordering::SeqCst);
    Ok(Listener {
        pressed: pressed.subscribe(),
    })
}

/// A phase listening for Ctrl-C.
pub struct Listener {
    pressed: watch::Receiver<bool>,
}

impl Listener {
    /// Ready once Ctrl-C has been pressed (at once if it was before).
    pub async fn recv(&mut self) {
        if self.pressed.wait_for(|pressed| *pressed).await.is_err() {
            // the sender lives in a static and is never dropped
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        LISTENING.fetch_sub(1, Ordering::SeqCst);
    }
}
