//! Image references, parsed by the grammar of the distribution project
//! (distribution/reference, `reference.go`), which Docker, containerd and the
//! ECS agent all parse with:
//!
//! ```text
//! reference       := name [ ":" tag ] [ "@" digest ]
//! name            := [domain '/'] remote-name
//! domain          := host [':' port-number]
//! host            := domain-name | IPv4address | \[ IPv6address \]
//! domain-name     := domain-component ['.' domain-component]*
//! domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! remote-name     := path-component ['/' path-component]*
//! path-component  := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric   := /[a-z0-9]+/
//! separator       := /[_.]|__|[-]+/
//! tag             := /[\w][\w.-]{0,127}/
//! digest          := algorithm ":" hex     (sha256: 64 lowercase hex digits)
//! ```
//!
//! A name is at most 255 characters. The first part of a name is its
//! registry (domain) when it holds a `.` or a `:`, is `localhost`, or has a
//! capital letter (as Docker decides); the remote name is lowercase only.

/// The longest name (registry and repository) the grammar takes.
const NAME_LIMIT: usize = 255;

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageReference<'a> {
    /// The registry, such as `ghcr.io` or `localhost:5000`, when named.
    pub domain: Option<&'a str>,
    /// The repository inside the registry, such as `example/demo`.
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// Parse `text`, or say what is wrong with it in words that fit after
/// "the image ...".
pub fn parse(text: &str) -> Result<ImageReference<'_>, String> {
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_:./@[]".contains(*c)))
    {
        let shown = match bad {
            ' ' => "a space".to_string(),
            '\t' => "a tab".to_string(),
            c if c.is_whitespace() || c.is_control() => format!("{c:?}"),
            c => format!("`{c}`"),
        };
        return Err(format!("has {shown}, which no image reference has"));
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => {
            check_digest(digest)?;
            (rest, Some(digest))
        }
        None => (text, None),
    };
    // A tag is after the last colon that comes after the last slash (a colon
    // before it is the registry's port).
    let last_slash = rest.rfind('/').map_or(0, |at| at + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(at) => {
            let at = last_slash + at;
            (&rest[..at], Some(&rest[at + 1..]))
        }
        None => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if name.is_empty() {
        return Err("has no repository name before its tag or digest".into());
    }
    if name.len() > NAME_LIMIT {
        return Err(format!(
            "has a name of {} characters; at most {NAME_LIMIT} are allowed",
            name.len()
        ));
    }
    let (domain, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            check_domain(first)?;
            (Some(first), rest)
        }
        _ => (None, name),
    };
    for component in repository.split('/') {
        check_path_component(component, repository)?;
    }
    Ok(ImageReference {
        domain,
        repository,
        tag,
        digest,
    })
}

fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "has digest `{digest}`, which is not ALGORITHM:HEX (such as sha256: and 64 hex digits)"
        ));
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '-', '_']).all(|component| {
            let mut chars = component.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric())
        });
    if !algorithm_ok {
        return Err(format!(
            "has digest algorithm `{algorithm}`, which is not one"
        ));
    }
    let length = match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    };
    let hex_ok = match length {
        Some(length) => {
            hex.len() == length && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        }
        None => hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
    };
    if !hex_ok {
        let wanted = length.map_or_else(
            || "at least 32 hex digits".to_string(),
            |length| format!("{length} lowercase hex digits"),
        );
        let found = match hex.chars().find(|c| {
            !matches!(c, '0'..='9' | 'a'..='f') && (length.is_some() || !c.is_ascii_hexdigit())
        }) {
            Some(c) => format!("holds `{c}`, which is not a lowercase hex digit"),
            None => format!("is {} characters", hex.len()),
        };
        return Err(format!(
            "has digest `{digest}`, whose {algorithm} value {found} where it takes {wanted}"
        ));
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if tag.is_empty() {
        return Err("ends in `:` with no tag after it".into());
    }
    let mut chars = tag.chars();
    let valid = chars.next().is_some_and(word) && chars.all(|c| word(c) || c == '.' || c == '-');
    if !valid || tag.len() > 128 {
        return Err(format!(
            "has tag `{tag}`; a tag is up to 128 letters, digits, underscores, periods and hyphens, not starting with a period or hyphen"
        ));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "has registry `{domain}`, which is not a host name or address with an optional :port"
        )
    };
    let (host, port) = if let Some(inner) = domain.strip_prefix('[') {
        let (address, after) = inner.split_once(']').ok_or_else(bad)?;
        address.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        match after {
            "" => (None, None),
            port => (None, Some(port.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        let component_ok = |component: &str| {
            !component.is_empty()
                && !component.starts_with('-')
                && !component.ends_with('-')
                && component
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !host.split('.').all(component_ok) {
            return Err(bad());
        }
    }
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
    }
    Ok(())
}

fn check_path_component(component: &str, repository: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err(format!(
            "has repository `{repository}` with an empty part between slashes"
        ));
    }
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "has repository `{repository}`; repository names are lowercase (write `{}`)",
            repository.to_ascii_lowercase()
        ));
    }
    // alpha-numeric [separator alpha-numeric]*, separator := [_.]|__|[-]+
    let bytes = component.as_bytes();
    let alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut at = 0;
    let mut valid = alphanumeric(bytes[0]);
    while valid && at < bytes.len() {
        if alphanumeric(bytes[at]) {
            at += 1;
            continue;
        }
        let start = at;
        match bytes[at] {
            b'.' => at += 1,
            b'_' => {
                at += if bytes.get(at + 1) == Some(&b'_') {
                    2
                } else {
                    1
                }
            }
            b'-' => {
                while bytes.get(at) == Some(&b'-') {
                    at += 1;
                }
            }
            _ => {
                valid = false;
                break;
            }
        }
        valid = at > start && bytes.get(at).copied().is_some_and(alphanumeric);
    }
    if !valid {
        return Err(format!(
            "has repository part `{component}`; a part is lowercase letters and digits, separated by one period, one or two underscores, or hyphens"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_docker_takes_parse_into_their_parts() {
        let parsed = parse("ghcr.io/example/demo:2.0.0").expect("valid");
        assert_eq!(
            parsed,
            ImageReference {
                domain: Some("ghcr.io"),
                repository: "example/demo",
                tag: Some("2.0.0"),
                digest: None
            }
        );
        let parsed = parse("localhost:5000/team_a/demo").expect("valid");
        assert_eq!(
            (parsed.domain, parsed.repository, parsed.tag),
            (Some("localhost:5000"), "team_a/demo", None)
        );
        let with_digest = format!("demo@{DIGEST}");
        let parsed = parse(&with_digest).expect("valid");
        assert_eq!((parsed.repository, parsed.digest), ("demo", Some(DIGEST)));
        for good in [
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo:1.4.2",
            "demo",
            "library/postgres:16-alpine",
            "a__b/c-d--e.f_g:Tag_1.x-2",
            "[::1]:5000/demo:1",
            "127.0.0.1:5000/demo:latest",
            &format!("registry.example.com/demo:1.0@{DIGEST}"),
        ] {
            assert!(parse(good).is_ok(), "{good}: {:?}", parse(good));
        }
    }

    #[test]
    fn references_docker_refuses_say_why() {
        let problem = |text: &str| parse(text).expect_err(text);
        assert!(problem("ghcr.io/Example/Shop:1.0")
            .contains("repository names are lowercase (write `example/shop`)"));
        assert_eq!(
            problem("ghcr.io/example/shop:"),
            "ends in `:` with no tag after it"
        );
        assert_eq!(
            problem(":1.0"),
            "has no repository name before its tag or digest"
        );
        assert!(problem("shop::1").contains("repository part `shop:`"));
        assert!(problem("demo@sha256:0123abcd")
            .contains("is 8 characters where it takes 64 lowercase hex digits"));
        let upper = format!("shop@sha256:{}", "A".repeat(64));
        assert!(problem(&upper).contains(
            "value holds `A`, which is not a lowercase hex digit where it takes 64 lowercase hex digits"
        ));
        assert!(problem("demo@0123").contains("not ALGORITHM:HEX"));
        assert!(problem("demo:-1").contains("not starting with a period or hyphen"));
        assert!(problem(&format!("demo:{}", "a".repeat(129))).contains("up to 128"));
        assert!(problem("demo/-x").contains("repository part `-x`"));
        assert!(problem("demo/x-").contains("repository part `x-`"));
        assert!(problem("demo//x").contains("empty part"));
        assert!(problem("demo/a___b").contains("repository part `a___b`"));
        assert!(problem("bad_host.-x/demo").contains("registry `bad_host.-x`"));
        assert!(problem("host:port/demo").contains("registry `host:port`"));
        assert_eq!(
            problem("has space:1"),
            "has a space, which no image reference has"
        );
        assert!(problem(&"a".repeat(256)).contains("at most 255"));
        assert_eq!(
            problem("localhost:5000/team_a/demo#1"),
            "has `#`, which no image reference has"
        );
    }
}
