//! The local terminal for the console: raw mode (restored on every exit path,
//! including panics, by a guard) and its size.

use std::io::IsTerminal;

/// Raw mode on stdin while this lives; the previous settings come back on drop.
pub struct RawMode {
    original: libc::termios,
}

impl RawMode {
    /// Put the terminal in raw mode, or `None` when stdin is not a terminal.
    pub fn enable() -> std::io::Result<Option<RawMode>> {
        if !std::io::stdin().is_terminal() {
            return Ok(None);
        }
        // SAFETY: termios is plain data; tcgetattr fills it for a valid fd (0 is a terminal here).
        let mut original: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is a terminal and `original` is a valid termios to write into.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut original) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut raw = original;
        // SAFETY: cfmakeraw only changes the flags of the termios it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: fd 0 is a terminal; `raw` is a valid termios.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Some(RawMode { original }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read from the same fd in `enable`.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.original) };
    }
}

/// The terminal's size as (columns, rows), when stdout is a terminal.
pub fn size() -> Option<(u32, u32)> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: winsize is plain data filled by the ioctl for a terminal fd.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the pointer given, for a terminal fd.
    let result = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (result == 0 && size.ws_col > 0).then_some((u32::from(size.ws_col), u32::from(size.ws_row)))
}

/// Whether a person is at a terminal on both ends stackup reads and draws:
/// stdin and stdout (with a size) are terminals.
pub fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && size().is_some()
}
