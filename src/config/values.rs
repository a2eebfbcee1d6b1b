//! Readers of the values several sections share: resource and SQL names,
//! CIDRs, paths that must exist, host:port pairs, choices among words.

use super::*;

/// `[a-z][a-z0-9-]*`, the shape of names that become parts of AWS names.
pub fn is_resource_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

pub(super) fn read_name(
    table: &TableReader,
    key: &'static str,
    example: &str,
    max_len: usize,
    required: bool,
) -> Option<String> {
    let found = if required {
        table.required_string(key, example)?
    } else {
        table.string(key, example)?
    };
    if !is_resource_name(&found.value) || found.value.len() > max_len {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            format!(
                "\"{}\" is not a valid name: use lowercase letters, digits and single hyphens, \
                 starting with a letter, at most {max_len} characters",
                found.value
            ),
            Some(format!("for example {key} = {example}")),
        );
        return None;
    }
    Some(found.value)
}

/// A PostgreSQL identifier stackup creates: lowercase, so it never needs quoting.
pub(super) fn is_sql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

pub(super) fn read_sql_identifier(
    table: &TableReader,
    key: &'static str,
    example: &str,
    reserved: &[&str],
) -> Option<Found<String>> {
    let found = table.string(key, example)?;
    if !is_sql_identifier(&found.value) {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            format!(
                "\"{}\" is not a PostgreSQL name stackup can use: lowercase letters, digits and \
                 underscores, starting with a letter or underscore, at most 63 characters",
                found.value
            ),
            Some(format!("for example {key} = {example}")),
        );
        return None;
    }
    if reserved.contains(&found.value.as_str()) {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            format!("\"{}\" is reserved by PostgreSQL or RDS", found.value),
            Some(format!(
                "choose another name, for example {key} = {example}"
            )),
        );
        return None;
    }
    Some(found)
}

pub(super) fn read_cidr(
    table: &TableReader,
    key: String,
    found: &Found<String>,
) -> Option<Ipv4Net> {
    match found.value.parse::<Ipv4Net>() {
        Ok(cidr) if cidr.trunc() == cidr => Some(cidr),
        Ok(cidr) => {
            table.diagnostics().report(
                Some(&found.span),
                &key,
                format!("\"{cidr}\" is not a network address (host bits are set)"),
                Some(format!("write \"{}\"", cidr.trunc())),
            );
            None
        }
        Err(_) => {
            let fix = if found.value.parse::<std::net::Ipv4Addr>().is_ok() {
                format!(
                    "add a prefix length: \"{}/32\" for this one address",
                    found.value
                )
            } else {
                "write an IPv4 CIDR such as \"10.20.0.0/16\"".to_string()
            };
            table.diagnostics().report(
                Some(&found.span),
                &key,
                format!("\"{}\" is not an IPv4 CIDR", found.value),
                Some(fix),
            );
            None
        }
    }
}

/// A file the stack file names: must exist (as a file, or as a directory).
pub(super) fn read_existing_path(
    table: &TableReader,
    key: &'static str,
    default: Option<&str>,
    config_dir: &Path,
    directory: bool,
) -> Option<PathBuf> {
    let example = default.unwrap_or(if directory {
        "\"scripts/db/migrations\""
    } else {
        "\"task-defs/web.json\""
    });
    let (relative, span) = match table.string(key, &format!("\"{}\"", example.trim_matches('"'))) {
        Some(found) => (PathBuf::from(found.value), Some(found.span)),
        None if table.has(key) => return None,
        None => (PathBuf::from(default?), None),
    };
    let resolved = resolve_path(config_dir, &relative);
    let ok = if directory {
        resolved.is_dir()
    } else {
        resolved.is_file()
    };
    if !ok {
        let what = if directory { "directory" } else { "file" };
        let message = if span.is_some() {
            format!("{what} {} does not exist", resolved.display())
        } else {
            format!("{what} {} (the default) does not exist", resolved.display())
        };
        table.diagnostics().report(
            span.as_ref().or(Some(table.span())),
            &table.key_path(key),
            message,
            Some(format!(
                "create it, or set {key} to its path relative to the config dir ({})",
                config_dir.display()
            )),
        );
        return None;
    }
    Some(relative)
}

pub(super) fn read_host_port(table: &TableReader, key: &'static str) -> Option<HostPort> {
    let found = table.string(key, "\"127.0.0.1:2222\"")?;
    let parsed = found
        .value
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .filter(|(host, port)| !host.is_empty() && *port > 0);
    match parsed {
        Some((host, port)) => Some(HostPort {
            host: host.trim_matches(['[', ']']).to_string(),
            port,
        }),
        None => {
            table.diagnostics().report(
                Some(&found.span),
                &table.key_path(key),
                format!("\"{}\" is not host:port", found.value),
                Some(format!("write it as {key} = \"127.0.0.1:2222\"")),
            );
            None
        }
    }
}

pub(super) fn read_choice<T: Copy>(
    table: &TableReader,
    key: &'static str,
    choices: &[(&str, T)],
    default: T,
) -> Option<T> {
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let example = format!("\"{}\"", names[0]);
    let Some(found) = table.string(key, &example) else {
        return if table.has(key) { None } else { Some(default) };
    };
    match choices.iter().find(|(name, _)| *name == found.value) {
        Some((_, value)) => Some(*value),
        None => {
            table.diagnostics().report(
                Some(&found.span),
                &table.key_path(key),
                format!("\"{}\" is not one of {}", found.value, names.join(", ")),
                Some(format!("write {key} = {example} (or another of those)")),
            );
            None
        }
    }
}
