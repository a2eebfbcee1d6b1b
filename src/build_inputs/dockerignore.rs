//! `.dockerignore`: which files of a build context Docker leaves out (Docker
//! reference, "Dockerfile reference", ".dockerignore file"), read as the
//! Docker client reads it (moby `patternmatcher`, `ignorefile.ReadAll`):
//! comment lines start with `#`; each line is trimmed, a leading `!` makes
//! an exception, the rest is cleaned (`filepath.Clean`) and a leading `/`
//! dropped; `*` is any run of characters but `/`, `?` one such character,
//! `**` any number of directories, `[...]` a class, `\` escapes; a pattern
//! matching a directory leaves out what is under it; the last pattern that
//! matches decides.
//!
//! Used to decide whether an image must be built again, so an answer is
//! allowed to keep a file Docker would leave out (a needless build), never
//! the reverse: a pattern this reader cannot be sure of excludes nothing and
//! re-includes everything, and a path is left out only when both ways Docker
//! clients have matched parent directories (every parent, since
//! `MatchesOrParentMatches`; the parent as deep as the pattern, before) agree.

/// The patterns of one `.dockerignore`.
#[derive(Clone, Debug, Default)]
pub struct Patterns {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
struct Rule {
    exception: bool,
    /// `None`: a pattern this reader does not model.
    glob: Option<Vec<Token>>,
    /// How many `/`-separated parts the pattern has.
    depth: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    One,
    /// `**` followed by more: `(.*/)?`.
    Directories,
    /// `**` at the end: `.*`.
    Rest,
    /// `[...]`: ranges, negated with `^`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Patterns {
    /// The patterns of a `.dockerignore`'s text.
    pub fn parse(text: &str) -> Patterns {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern[1..].trim();
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let depth = cleaned.split('/').count();
            rules.push(Rule {
                exception,
                glob: (!cleaned.is_empty()).then(|| compile(&cleaned)).flatten(),
                depth,
            });
        }
        Patterns { rules }
    }

    /// Whether Docker surely leaves `path` (relative to the context, parts
    /// separated by `/`) out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        self.decide(path, ParentRule::Every) && self.decide(path, ParentRule::AsDeep)
    }

    /// Whether any pattern is an exception: then a left-out directory may
    /// still hold files that are sent.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|rule| rule.exception)
    }

    fn decide(&self, path: &str, parents: ParentRule) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for rule in &self.rules {
            let matched = match &rule.glob {
                // Unsure: an exclusion leaves nothing out, an exception keeps everything.
                None => rule.exception,
                Some(glob) => {
                    matches(glob, path)
                        || match parents {
                            ParentRule::Every => (1..parts.len())
                                .any(|count| matches(glob, &parts[..count].join("/"))),
                            ParentRule::AsDeep => {
                                rule.depth < parts.len()
                                    && matches(glob, &parts[..rule.depth].join("/"))
                            }
                        }
                }
            };
            if matched {
                excluded = !rule.exception;
            }
        }
        excluded
    }
}

#[derive(Clone, Copy)]
enum ParentRule {
    Every,
    AsDeep,
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The tokens of a pattern, or `None` where this reader is unsure what
/// Docker's regular expression would match.
fn compile(pattern: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let current = chars[index];
        index += 1;
        match current {
            '*' if chars.get(index) == Some(&'*') => {
                index += 1;
                if chars.get(index) == Some(&'/') {
                    index += 1;
                }
                tokens.push(if index == chars.len() {
                    Token::Rest
                } else {
                    Token::Directories
                });
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '\\' => match chars.get(index) {
                // `\d`, `\w`...: a class in the regular expression, not modelled.
                Some(next) if next.is_ascii_alphanumeric() => return None,
                Some(next) => {
                    tokens.push(Token::Literal(*next));
                    index += 1;
                }
                None => tokens.push(Token::Literal('\\')),
            },
            '[' => {
                let (class, next) = class(&chars, index)?;
                tokens.push(class);
                index = next;
            }
            // Passed to the regular expression as they are: not modelled.
            '^' | ']' => return None,
            other => tokens.push(Token::Literal(other)),
        }
    }
    Some(tokens)
}

/// A `[...]` class starting after its `[`: the token and the index after
/// its `]`. Only plain characters and ranges are modelled.
fn class(chars: &[char], mut index: usize) -> Option<(Token, usize)> {
    let negated = chars.get(index) == Some(&'^');
    if negated {
        index += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let current = *chars.get(index)?;
        match current {
            ']' if !first => return Some((Token::Class { negated, ranges }, index + 1)),
            '[' | '\\' | ']' => return None,
            _ => {}
        }
        first = false;
        if chars.get(index + 1) == Some(&'-') && chars.get(index + 2).is_some_and(|c| *c != ']') {
            let end = chars[index + 2];
            if matches!(end, '[' | '\\') || end < current {
                return None;
            }
            ranges.push((current, end));
            index += 3;
        } else {
            ranges.push((current, current));
            index += 1;
        }
    }
}

/// Whether the whole of `text` matches `tokens` (Go's `regexp`: `.` does
/// not match a newline, a negated class does).
fn matches(tokens: &[Token], text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    matches_from(tokens, &chars)
}

fn matches_from(tokens: &[Token], text: &[char]) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return text.is_empty();
    };
    match token {
        Token::Literal(expected) => {
            text.first() == Some(expected) && matches_from(rest, &text[1..])
        }
        Token::One => text
            .first()
            .is_some_and(|c| *c != '/' && matches_from(rest, &text[1..])),
        Token::Class { negated, ranges } => text.first().is_some_and(|c| {
            let inside = ranges.iter().any(|(low, high)| low <= c && c <= high);
            inside != *negated && matches_from(rest, &text[1..])
        }),
        Token::Star => {
            let run = text.iter().take_while(|c| **c != '/').count();
            (0..=run).any(|taken| matches_from(rest, &text[taken..]))
        }
        Token::Rest => !text.contains(&'\n') && rest.is_empty(),
        Token::Directories => {
            // `(.*/)?`: nothing, or any run without a newline ending in `/`.
            matches_from(rest, text)
                || text.iter().enumerate().any(|(position, c)| {
                    *c == '/'
                        && !text[..position].contains(&'\n')
                        && matches_from(rest, &text[position + 1..])
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &str, path: &str) -> bool {
        Patterns::parse(patterns).excludes(path)
    }

    #[test]
    fn plain_names_and_their_contents_are_left_out() {
        assert!(excluded("_build\n", "_build"));
        assert!(excluded("_build\n", "_build/prod/rel/app"));
        assert!(!excluded("_build\n", "lib/_build"));
        assert!(excluded("/deps/\n", "deps/x/mix.exs"));
        assert!(excluded("./deps\n", "deps/x"));
        assert!(!excluded("# _build\n", "_build"));
        assert!(!excluded("", "anything"));
    }

    #[test]
    fn stars_stop_at_slashes_and_double_stars_do_not() {
        assert!(excluded("*.log\n", "debug.log"));
        assert!(!excluded("*.log\n", "logs/debug.log"));
        assert!(excluded("*/*.log\n", "logs/debug.log"));
        assert!(excluded("**/*.log\n", "a/b/c.log"));
        assert!(excluded("**/*.log\n", "c.log"));
        assert!(excluded("logs/**\n", "logs/a/b"));
        assert!(excluded("a/**/z\n", "a/z"));
        assert!(excluded("a/**/z\n", "a/b/c/z"));
        assert!(!excluded("a/**/z\n", "b/z"));
        assert!(excluded("file?.txt\n", "file1.txt"));
        assert!(!excluded("file?.txt\n", "file10.txt"));
        assert!(excluded("[a-c]*.txt\n", "b.txt"));
        assert!(!excluded("[a-c]*.txt\n", "d.txt"));
        assert!(excluded("[^a-c]*.txt\n", "d.txt"));
        assert!(excluded("\\*.txt\n", "*.txt"));
        assert!(!excluded("\\*.txt\n", "a.txt"));
    }

    #[test]
    fn the_last_matching_pattern_decides() {
        let patterns = "*.md\n!README.md\n";
        assert!(excluded(patterns, "CHANGES.md"));
        assert!(!excluded(patterns, "README.md"));
        let patterns = "!README.md\n*.md\n";
        assert!(excluded(patterns, "README.md"));
        let patterns = "docs\n!docs/keep.txt\n";
        assert!(excluded(patterns, "docs/other.txt"));
        assert!(!excluded(patterns, "docs/keep.txt"));
        assert!(Patterns::parse(patterns).has_exceptions());
    }

    #[test]
    fn a_path_is_left_out_only_when_both_parent_rules_agree() {
        // Matching every parent, `a/*` leaves out a/b/c (its parent a/b
        // matches); matching only the parent as deep as the pattern (two
        // parts: a/b) too. `*` (one part) matches the parent `x` in both.
        assert!(excluded("a/*\n", "a/b/c"));
        assert!(excluded("*\n", "x/y/z"));
        // `**/b` matches the parent x/y/b of x/y/b/c, but not the parent as
        // deep as itself (x/y): older clients send it, so it counts as sent.
        assert!(!excluded("**/b\n", "x/y/b/c"));
        assert!(excluded("**/b\n", "x/y/b"));
    }

    #[test]
    fn a_pattern_not_modelled_never_leaves_anything_out() {
        assert!(!excluded("[[:alpha:]]*\n", "abc"));
        assert!(!excluded("^abc\n", "abc"));
        assert!(!excluded("\\d\n", "d"));
        // ...and, as an exception, keeps everything it might match.
        assert!(!excluded("*\n![[:alpha:]]\n", "abc"));
    }

    #[test]
    fn patterns_are_cleaned_as_go_does() {
        assert_eq!(clean("a/../b"), "b");
        assert_eq!(clean("./a//b/"), "a/b");
        assert_eq!(clean("/a/b"), "/a/b");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("."), ".");
    }
}
