//! A value that must never be printed or logged: passwords, cookies.
//!
//! `Debug` and `Display` both redact, so a secret that slips into a `tracing`
//! field, an error message or a `{:?}` prints `<redacted>`. The only way to the
//! value is [`Secret::expose`], which makes every use greppable.

use std::fmt;

use rand::distr::{Alphanumeric, SampleString};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A fresh random value of `length` characters from `[A-Za-z0-9]`, drawn from
    /// the operating system's CSPRNG (rand's `OsRng`-seeded ChaCha `ThreadRng`).
    pub fn generate(length: usize) -> Self {
        Secret(Alphanumeric.sample_string(&mut rand::rng(), length))
    }

    /// The value itself. Call only where it leaves the process on purpose
    /// (an SSM PutParameter, a database connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{:?}", Some(&secret)).contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn generated_secrets_are_long_alphanumeric_and_distinct() {
        let first = Secret::generate(64);
        let second = Secret::generate(64);
        assert_eq!(first.expose().len(), 64);
        assert!(first.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, second);
    }
}
