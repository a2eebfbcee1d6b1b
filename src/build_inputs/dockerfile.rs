//! What a Dockerfile builds from besides its context: the images its stages
//! start from or copy from (Dockerfile reference: FROM, COPY --from,
//! RUN --mount from=), with the ARGs before the first FROM filled in from
//! their defaults and the build args ("Understand how ARG and FROM
//! interact").
//!
//! Read only to decide whether an image can be reused without building it,
//! so whatever this reader cannot be sure of makes the answer "cannot tell"
//! (the image is built): a parser directive other than `check`, a heredoc,
//! ADD of a URL or a git repository (fetched at build time), a reference
//! still holding a variable after the ARGs are filled in.

use std::collections::BTreeMap;

/// The images (not stages, not `scratch`) a Dockerfile names, in order, each
/// once; or why it cannot be told.
pub fn base_images(
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    let mut seen_from = false;
    for instruction in instructions(text)? {
        let (keyword, rest) = instruction
            .split_once(char::is_whitespace)
            .map_or((instruction.as_str(), ""), |(keyword, rest)| {
                (keyword, rest.trim())
            });
        let keyword = keyword.to_ascii_uppercase();
        if rest.contains("<<") {
            return Err(format!("{keyword} uses a heredoc (<<)"));
        }
        match keyword.as_str() {
            "ARG" if !seen_from => {
                for declaration in rest.split_whitespace() {
                    let (name, default) = declaration
                        .split_once('=')
                        .map_or((declaration, None), |(name, value)| (name, Some(value)));
                    let value = match build_args.get(name) {
                        Some(given) => Some(given.clone()),
                        None => default.map(unquote).transpose()?,
                    };
                    if let Some(value) = value {
                        global_args.insert(name.to_string(), value);
                    }
                }
            }
            "FROM" => {
                seen_from = true;
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|word| !word.starts_with("--"))
                    .collect();
                let image = substitute(words.first().copied().unwrap_or_default(), &global_args)?;
                if image.is_empty() {
                    return Err("a FROM names no image".to_string());
                }
                note_image(&image, &stages, &mut images);
                if words.len() >= 3 && words[1].eq_ignore_ascii_case("as") {
                    stages.push(words[2].to_ascii_lowercase());
                }
            }
            "COPY" | "ADD" => {
                let mut sources = Vec::new();
                for word in rest.split_whitespace() {
                    if let Some(from) = word.strip_prefix("--from=") {
                        note_reference(from, &stages, &mut images)?;
                    } else if !word.starts_with("--") {
                        sources.push(word.trim_matches(['[', ']', ',', '"']));
                    }
                }
                if keyword == "ADD" {
                    if let Some(remote) = sources
                        .iter()
                        .find(|source| source.contains("://") || source.starts_with("git@"))
                    {
                        return Err(format!("ADD fetches {remote} at build time"));
                    }
                }
            }
            "RUN" => {
                for mount in rest
                    .split_whitespace()
                    .filter_map(|word| word.strip_prefix("--mount="))
                {
                    if let Some(from) = mount
                        .split(',')
                        .find_map(|option| option.strip_prefix("from="))
                    {
                        note_reference(from, &stages, &mut images)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(images)
}

/// A `--from=` value: a stage (by name or index) or an image.
fn note_reference(
    reference: &str,
    stages: &[String],
    images: &mut Vec<String>,
) -> Result<(), String> {
    if reference.contains('$') {
        return Err(format!("--from={reference} holds a variable"));
    }
    if !reference.chars().all(|c| c.is_ascii_digit()) {
        note_image(reference, stages, images);
    }
    Ok(())
}

fn note_image(image: &str, stages: &[String], images: &mut Vec<String>) {
    let lower = image.to_ascii_lowercase();
    let internal = lower == "scratch" || stages.contains(&lower);
    if !internal && !images.iter().any(|known| known == image) {
        images.push(image.to_string());
    }
}

/// `$NAME` and `${NAME}` replaced by the global ARGs; anything else that
/// still holds a `$` cannot be told.
fn substitute(word: &str, args: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(position) = rest.find('$') {
        out.push_str(&rest[..position]);
        let after = &rest[position + 1..];
        let (name, remainder) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("{word} has an unclosed ${{"))?;
            (&braced[..end], &braced[end + 1..])
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        let value = args.get(name).filter(|_| !name.is_empty()).ok_or_else(|| {
            format!("{word}: ${name} is not an ARG with a value before the first FROM")
        })?;
        out.push_str(value);
        rest = remainder;
    }
    out.push_str(rest);
    Ok(out)
}

fn unquote(value: &str) -> Result<String, String> {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote) {
            return inner
                .strip_suffix(quote)
                .filter(|inner| !inner.contains(quote))
                .map(str::to_string)
                .ok_or_else(|| format!("ARG value {value} is quoted in a way not modelled"));
        }
    }
    Ok(value.to_string())
}

/// The instructions, continuation lines joined, comments and blank lines
/// dropped; parser directives checked.
fn instructions(text: &str) -> Result<Vec<String>, String> {
    let mut lines = text.lines().peekable();
    // Parser directives: `# name=value` lines before anything else.
    while let Some(line) = lines.peek() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((name, value)) = directive.split_once('=') else {
            break;
        };
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name.contains(char::is_whitespace) {
            break;
        }
        if name != "check" {
            return Err(format!(
                "the parser directive `# {name}={}` is not modelled",
                value.trim()
            ));
        }
        lines.next();
    }
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(continued) => {
                current.push_str(continued);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        instructions.push(current);
    }
    Ok(instructions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(text: &str) -> Result<Vec<String>, String> {
        base_images(text, &BTreeMap::new())
    }

    #[test]
    fn scratch_and_stages_are_not_images() {
        let text = "FROM scratch AS files\nCOPY a /a\nFROM files\nCOPY --from=files /a /b\nCOPY --from=0 /a /c\n";
        assert_eq!(images(text), Ok(vec![]));
    }

    #[test]
    fn bases_and_copied_images_are_named_once() {
        let text = "# check=skip=all\nfrom elixir:1.17 as build\nRUN --mount=type=bind,from=tools:1,target=/t \\\n    mix release\nFROM debian:bookworm-slim\nCOPY --from=build /app /app\nCOPY --from=busybox:1 /bin/sh /sh\nFROM elixir:1.17\n";
        assert_eq!(
            images(text),
            Ok(vec![
                "elixir:1.17".to_string(),
                "tools:1".to_string(),
                "debian:bookworm-slim".to_string(),
                "busybox:1".to_string(),
            ])
        );
    }

    #[test]
    fn args_before_the_first_from_are_filled_in_the_build_args_winning() {
        let text = "ARG BASE=debian\nARG VERSION=\"12\"\nFROM ${BASE}:$VERSION\n";
        assert_eq!(images(text), Ok(vec!["debian:12".to_string()]));
        let given = BTreeMap::from([("VERSION".to_string(), "13".to_string())]);
        assert_eq!(base_images(text, &given), Ok(vec!["debian:13".to_string()]));
        assert!(images("FROM ${NOWHERE}\n").is_err());
        assert!(images("ARG BASE\nFROM $BASE\n").is_err());
    }

    #[test]
    fn what_cannot_be_told_says_why() {
        assert!(images("# syntax=docker/dockerfile:1\nFROM scratch\n").is_err());
        assert!(images("# escape=`\nFROM scratch\n").is_err());
        assert!(images("FROM scratch\nADD https://example.com/a.tgz /a\n").is_err());
        assert!(images("FROM scratch\nADD git@github.com:a/b.git /b\n").is_err());
        assert!(images("FROM scratch\nCOPY <<EOF /a\nhello\nEOF\n").is_err());
        assert!(images("FROM scratch\nCOPY --from=$X /a /a\n").is_err());
        assert_eq!(images("FROM scratch\nADD local.tgz /a\n"), Ok(vec![]));
    }
}
