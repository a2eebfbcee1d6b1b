//! Names stackup makes up: a release's id, a change set's time stamp, the
//! idempotency token of a call AWS takes one for.

use crate::secret::Secret;

/// The time now as `20261207T181500`, for names that sort by time.
pub fn timestamp() -> String {
    crate::rfc3339::seconds(std::time::SystemTime::now())
        .replace(['-', ':'], "")
        .trim_end_matches('Z')
        .to_string()
}

/// An idempotency token: retries of the same call reuse it (max 128 characters).
pub fn client_token(purpose: &str, name: &str) -> String {
    let token: String = format!("stackup-{purpose}-{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    token.chars().take(128).collect()
}

/// A release's id: when it started, and four random letters so that two
/// operators starting one in the same second do not collide.
pub fn release_id() -> String {
    format!(
        "{}-{}",
        timestamp(),
        Secret::generate(4).expose().to_ascii_lowercase()
    )
}
