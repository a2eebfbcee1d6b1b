//! A strict reader of OpenSSH `known_hosts` files.
//!
//! russh's own check ignores `@revoked` lines, hashed and wildcard hosts, and
//! tab separators (notes/ssh-tunnel.md, trap 1), so stackup reads the file
//! itself: plain names, `[host]:port`, hashed `|1|salt|hash` entries (HMAC-SHA1,
//! as `HashKnownHosts` writes them), `*`/`?` wildcards and `!` negation. A key
//! listed under `@revoked` is refused for every host. `@cert-authority` lines
//! are not used (host certificates are not supported) and never accept a key.
//!
//! The `ssh-key` crate's `known_hosts` module (which russh already brings in)
//! was weighed as a replacement and falls short: it splits a line on single
//! spaces only, so tab-separated or double-spaced lines (both valid for OpenSSH)
//! fail to parse, and it only parses: it matches no host against wildcards,
//! negations or hashed names. The test `the_ssh_key_crate_falls_short` keeps
//! this true; when it fails, the crate has caught up.

use std::path::Path;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// What the file says about a host's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The key is listed for the host.
    Known,
    /// The key is listed under `@revoked` (at this line).
    Revoked { line: usize },
    /// The host is listed with another key of the same type (at this line).
    Changed { line: usize },
    /// The host (or this key type for it) is not listed.
    Unknown,
}

/// The name a host is recorded under: `host` for port 22, `[host]:port` otherwise.
pub fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Check a key (`algorithm` such as `ssh-ed25519`, `key_base64` its blob) for a host.
pub fn check(text: &str, host: &str, port: u16, algorithm: &str, key_base64: &str) -> Verdict {
    let name = lookup_name(host, port);
    let mut changed = None;
    let mut known = false;
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        let (marker, hosts) = if first.starts_with('@') {
            (Some(first), fields.next())
        } else {
            (None, Some(first))
        };
        let (Some(hosts), Some(line_algorithm), Some(line_key)) =
            (hosts, fields.next(), fields.next())
        else {
            continue;
        };
        let same_key = line_algorithm == algorithm && line_key == key_base64;
        match marker {
            Some("@revoked") => {
                if same_key {
                    return Verdict::Revoked { line: line_number };
                }
            }
            Some(_) => {}
            None => {
                if !hosts_match(hosts, &name) {
                    continue;
                }
                if same_key {
                    known = true;
                } else if line_algorithm == algorithm && changed.is_none() {
                    changed = Some(line_number);
                }
            }
        }
    }
    // A revoked key is refused even if also listed; otherwise a listed key wins
    // over another entry of the same type (OpenSSH accepts any listed key).
    if known {
        Verdict::Known
    } else if let Some(line) = changed {
        Verdict::Changed { line }
    } else {
        Verdict::Unknown
    }
}

/// Read and check a known_hosts file; a missing file knows no host.
pub fn check_file(
    path: &Path,
    host: &str,
    port: u16,
    algorithm: &str,
    key_base64: &str,
) -> std::io::Result<Verdict> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(check(&text, host, port, algorithm, key_base64)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Verdict::Unknown),
        Err(error) => Err(error),
    }
}

/// Whether a comma-separated pattern list matches `name`: at least one
/// positive match and no negated match.
fn hosts_match(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(hashed) = pattern.strip_prefix("|1|") {
            if hashed_match(hashed, name) {
                matched = true;
            }
        } else if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, name) {
                return false;
            }
        } else if glob(pattern, name) {
            matched = true;
        }
    }
    matched
}

fn hashed_match(salt_and_hash: &str, name: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (engine.decode(salt), engine.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` wildcards, case-insensitive as host names are.
fn glob(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let name: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut p, mut n) = (0, 0);
    let (mut star, mut resume) = (None, 0);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            resume = n;
            p += 1;
        } else if let Some(star_at) = star {
            p = star_at + 1;
            resume += 1;
            n = resume;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == '*' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const OTHER: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBogusBogusBogusBogusBogusBogusBogusBogusBogu";

    #[test]
    fn plain_and_bracketed_hosts() {
        let text = format!(
            "bastion.example.com ssh-ed25519 {KEY}\n[127.0.0.1]:2222\tssh-ed25519 {KEY} comment\n"
        );
        assert_eq!(
            check(&text, "bastion.example.com", 22, "ssh-ed25519", KEY),
            Verdict::Known
        );
        assert_eq!(
            check(&text, "127.0.0.1", 2222, "ssh-ed25519", KEY),
            Verdict::Known,
            "tabs separate too"
        );
        assert_eq!(
            check(&text, "127.0.0.1", 22, "ssh-ed25519", KEY),
            Verdict::Unknown,
            "another port is another host"
        );
    }

    #[test]
    fn a_different_key_of_the_same_type_is_a_change() {
        let text = format!("# comment\n\nbastion ssh-ed25519 {OTHER}\n");
        assert_eq!(
            check(&text, "bastion", 22, "ssh-ed25519", KEY),
            Verdict::Changed { line: 3 }
        );
        assert_eq!(
            check(&text, "bastion", 22, "ecdsa-sha2-nistp256", KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn revoked_keys_are_refused_for_every_host() {
        let text = format!("bastion ssh-ed25519 {KEY}\n@revoked * ssh-ed25519 {KEY}\n");
        assert_eq!(
            check(&text, "bastion", 22, "ssh-ed25519", KEY),
            Verdict::Revoked { line: 2 }
        );
    }

    #[test]
    fn cert_authority_lines_never_accept() {
        let text = format!("@cert-authority * ssh-ed25519 {KEY}\n");
        assert_eq!(
            check(&text, "bastion", 22, "ssh-ed25519", KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_hosts_as_ssh_keygen_writes_them() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222" with this salt.
        let salt = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdefghij");
        let mut mac = Hmac::<Sha1>::new_from_slice(b"0123456789abcdefghij").expect("key");
        mac.update(b"[127.0.0.1]:2222");
        let hash = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let text = format!("|1|{salt}|{hash} ssh-ed25519 {KEY}\n");
        assert_eq!(
            check(&text, "127.0.0.1", 2222, "ssh-ed25519", KEY),
            Verdict::Known
        );
        assert_eq!(
            check(&text, "127.0.0.2", 2222, "ssh-ed25519", KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn wildcards_and_negation() {
        let text = format!("*.internal,!evil.internal ssh-ed25519 {KEY}\n");
        assert_eq!(
            check(&text, "bastion.internal", 22, "ssh-ed25519", KEY),
            Verdict::Known
        );
        assert_eq!(
            check(&text, "evil.internal", 22, "ssh-ed25519", KEY),
            Verdict::Unknown
        );
        assert!(glob("10.0.?.*", "10.0.1.25"));
        assert!(!glob("10.0.?.*", "10.0.12.25"));
    }

    #[test]
    fn the_ssh_key_crate_falls_short() {
        use russh::keys::ssh_key::known_hosts::Entry;
        let tabbed = format!("[127.0.0.1]:2222\tssh-ed25519 {KEY}");
        let double_spaced = format!("bastion  ssh-ed25519 {KEY}");
        assert!(
            tabbed.parse::<Entry>().is_err(),
            "ssh-key now reads tab-separated lines"
        );
        assert!(
            double_spaced.parse::<Entry>().is_err(),
            "ssh-key now reads double-spaced lines"
        );
        assert_eq!(
            check(&tabbed, "127.0.0.1", 2222, "ssh-ed25519", KEY),
            Verdict::Known
        );
        assert_eq!(
            check(&double_spaced, "bastion", 22, "ssh-ed25519", KEY),
            Verdict::Known
        );
    }
}
