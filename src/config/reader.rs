//! A walker over a parsed TOML document that keeps going after a problem.
//!
//! serde stops at the first error; `validate` must report every problem in one
//! run, each with its line. So the stack file is parsed into toml's spanned
//! `DeTable` and read key by key here: every getter records the key as known,
//! reports a wrong type or value as a [`Problem`] and returns `None`, and
//! [`TableReader::finish`] reports the keys nobody asked for.
//!
//! A wrong value makes its section unreadable, which would hide every
//! problem of the templates the file names. So a file with problems is read
//! again with those keys set aside ([`Diagnostics::setting_aside`]): each is
//! then absent and takes its default, and the templates can still be checked.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::Problem;

pub type Span = Range<usize>;

/// The text of one file and its name as the user knows it.
pub struct Source {
    pub display_path: PathBuf,
    pub text: String,
}

impl Source {
    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count()
            + 1
    }
}

/// Collects problems for one file.
pub struct Diagnostics<'s> {
    source: &'s Source,
    problems: RefCell<Vec<Problem>>,
    /// Dotted key paths read as if absent.
    set_aside: BTreeSet<String>,
}

impl<'s> Diagnostics<'s> {
    pub fn new(source: &'s Source) -> Self {
        Diagnostics {
            source,
            problems: RefCell::new(Vec::new()),
            set_aside: BTreeSet::new(),
        }
    }

    /// Diagnostics for reading the file again with the keys of `problems`
    /// read as absent (an array's wrong element sets the whole array aside).
    pub fn setting_aside(source: &'s Source, problems: &[Problem]) -> Self {
        let set_aside = problems
            .iter()
            .filter_map(|problem| problem.key.as_deref())
            .map(|key| key.split('[').next().unwrap_or(key).to_string())
            .collect();
        Diagnostics {
            source,
            problems: RefCell::new(Vec::new()),
            set_aside,
        }
    }

    fn is_set_aside(&self, key_path: &str) -> bool {
        self.set_aside.contains(key_path)
    }

    pub fn source(&self) -> &'s Source {
        self.source
    }

    /// Report a problem at `span` (when known) under `key`.
    pub fn report(
        &self,
        span: Option<&Span>,
        key: &str,
        message: impl Into<String>,
        fix: impl Into<Option<String>>,
    ) {
        let mut problem = Problem::new(message)
            .in_file(&self.source.display_path)
            .at_line(span.map(|span| self.source.line_of(span.start)));
        if !key.is_empty() {
            problem = problem.at_key(key);
        }
        if let Some(fix) = fix.into() {
            problem = problem.fix(fix);
        }
        self.problems.borrow_mut().push(problem);
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.borrow().is_empty()
    }

    /// The problems in the order of the file.
    pub fn into_problems(self) -> Vec<Problem> {
        let mut problems = self.problems.into_inner();
        problems.sort_by_key(|problem| problem.line.unwrap_or(usize::MAX));
        problems
    }
}

/// The TOML type name a user would recognise.
fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A spanned value as found in the file.
pub struct Found<T> {
    pub value: T,
    pub span: Span,
}

/// Reads one table; see the module documentation.
pub struct TableReader<'d, 'i> {
    diagnostics: &'d Diagnostics<'d>,
    path: String,
    span: Span,
    table: &'d DeTable<'i>,
    known: RefCell<Vec<&'static str>>,
}

impl<'d, 'i> TableReader<'d, 'i> {
    pub fn root(diagnostics: &'d Diagnostics<'d>, table: &'d Spanned<DeTable<'i>>) -> Self {
        TableReader {
            diagnostics,
            path: String::new(),
            span: table.span(),
            table: table.get_ref(),
            known: RefCell::new(Vec::new()),
        }
    }

    pub fn diagnostics(&self) -> &'d Diagnostics<'d> {
        self.diagnostics
    }

    /// The dotted path of `key` in this table, for messages.
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn span(&self) -> &Span {
        &self.span
    }

    fn raw(&self, key: &'static str) -> Option<&'d Spanned<DeValue<'i>>> {
        self.known.borrow_mut().push(key);
        if self.diagnostics.is_set_aside(&self.key_path(key)) {
            return None;
        }
        self.table
            .iter()
            .find(|(name, _)| name.get_ref().as_ref() == key)
            .map(|(_, value)| value)
    }

    /// The entries of this table, less those set aside.
    fn entries(
        &self,
    ) -> impl Iterator<
        Item = (
            &'d Spanned<toml::de::DeString<'i>>,
            &'d Spanned<DeValue<'i>>,
        ),
    > + '_ {
        self.table.iter().filter(|(name, _)| {
            !self
                .diagnostics
                .is_set_aside(&self.key_path(name.get_ref()))
        })
    }

    fn wrong_type(&self, key: &str, value: &Spanned<DeValue<'i>>, expected: &str, example: &str) {
        self.diagnostics.report(
            Some(&value.span()),
            &self.key_path(key),
            format!("expected {expected}, found {}", type_name(value.get_ref())),
            Some(format!("write it as {key} = {example}")),
        );
    }

    /// Report that a required section is absent.
    pub fn missing_table(&self, key: &str, example_body: &str) {
        self.diagnostics.report(
            Some(&self.span),
            &self.key_path(key),
            "is required but missing",
            Some(format!(
                "add a section:\n    [{}]\n    {example_body}",
                self.key_path(key)
            )),
        );
    }

    /// Report that a required key is absent.
    pub fn missing(&self, key: &str, example: &str) {
        let where_ = if self.path.is_empty() {
            "at the top of the file".to_string()
        } else {
            format!("to the [{}] table", self.path)
        };
        self.diagnostics.report(
            Some(&self.span),
            &self.key_path(key),
            "is required but missing",
            Some(format!("add `{key} = {example}` {where_}")),
        );
    }

    pub fn string(&self, key: &'static str, example: &str) -> Option<Found<String>> {
        let value = self.raw(key)?;
        match value.get_ref() {
            DeValue::String(text) => Some(Found {
                value: text.to_string(),
                span: value.span(),
            }),
            _ => {
                self.wrong_type(key, value, "a string", example);
                None
            }
        }
    }

    pub fn required_string(&self, key: &'static str, example: &str) -> Option<Found<String>> {
        if self.raw(key).is_none() {
            self.missing(key, example);
            return None;
        }
        self.string(key, example)
    }

    pub fn integer(
        &self,
        key: &'static str,
        range: Range<i64>,
        example: &str,
    ) -> Option<Found<i64>> {
        let value = self.raw(key)?;
        let DeValue::Integer(integer) = value.get_ref() else {
            self.wrong_type(key, value, "an integer", example);
            return None;
        };
        let parsed = i64::from_str_radix(integer.as_str(), integer.radix()).ok();
        match parsed {
            Some(number) if range.contains(&number) => Some(Found {
                value: number,
                span: value.span(),
            }),
            _ => {
                self.diagnostics.report(
                    Some(&value.span()),
                    &self.key_path(key),
                    format!(
                        "{} is out of range: it must be from {} to {}",
                        integer.as_str(),
                        range.start,
                        range.end - 1
                    ),
                    Some(format!("write it as {key} = {example}")),
                );
                None
            }
        }
    }

    pub fn boolean(&self, key: &'static str) -> Option<Found<bool>> {
        let value = self.raw(key)?;
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(Found {
                value: *flag,
                span: value.span(),
            }),
            _ => {
                self.wrong_type(key, value, "true or false", "true");
                None
            }
        }
    }

    /// An array of strings; wrong elements are reported one by one.
    pub fn string_array(
        &self,
        key: &'static str,
        example: &str,
    ) -> Option<Found<Vec<Found<String>>>> {
        let value = self.raw(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(key, value, "an array of strings", example);
            return None;
        };
        let mut strings = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::String(text) => strings.push(Found {
                    value: text.to_string(),
                    span: item.span(),
                }),
                other => self.diagnostics.report(
                    Some(&item.span()),
                    &format!("{}[{index}]", self.key_path(key)),
                    format!("expected a string, found {}", type_name(other)),
                    Some(format!("write it as {key} = {example}")),
                ),
            }
        }
        Some(Found {
            value: strings,
            span: value.span(),
        })
    }

    /// An array of tables (`key = [{ a = 1 }]` or `[[section.key]]`): a reader
    /// for each, named `key[index]`; elements that are not tables are reported.
    pub fn table_array(
        &self,
        key: &'static str,
        example: &str,
    ) -> Option<Vec<TableReader<'d, 'i>>> {
        let value = self.raw(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(key, value, "an array of tables", example);
            return None;
        };
        let mut tables = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let path = format!("{}[{index}]", self.key_path(key));
            match item.get_ref() {
                DeValue::Table(table) => tables.push(TableReader {
                    diagnostics: self.diagnostics,
                    path,
                    span: item.span(),
                    table,
                    known: RefCell::new(Vec::new()),
                }),
                other => self.diagnostics.report(
                    Some(&item.span()),
                    &path,
                    format!("expected a table, found {}", type_name(other)),
                    Some(format!("write it as {key} = {example}")),
                ),
            }
        }
        Some(tables)
    }

    /// Whether the key was read as absent because it had a problem in the
    /// first reading (see [`Diagnostics::setting_aside`]).
    pub fn is_set_aside(&self, key: &str) -> bool {
        self.diagnostics.is_set_aside(&self.key_path(key))
    }

    /// Whether the key is present at all (and mark it known).
    pub fn has(&self, key: &'static str) -> bool {
        self.raw(key).is_some()
    }

    /// The raw value, for keys that accept several types.
    pub fn value(&self, key: &'static str) -> Option<&'d Spanned<DeValue<'i>>> {
        self.raw(key)
    }

    /// A sub-table; reports a wrong type.
    pub fn table(&self, key: &'static str) -> Option<TableReader<'d, 'i>> {
        let value = self.raw(key)?;
        match value.get_ref() {
            DeValue::Table(table) => Some(TableReader {
                diagnostics: self.diagnostics,
                path: self.key_path(key),
                span: value.span(),
                table,
                known: RefCell::new(Vec::new()),
            }),
            _ => {
                self.diagnostics.report(
                    Some(&value.span()),
                    &self.key_path(key),
                    format!("expected a table, found {}", type_name(value.get_ref())),
                    Some(format!("write it as a [{}] section", self.key_path(key))),
                );
                None
            }
        }
    }

    /// Every entry of a table whose keys are user-chosen names (`[services.NAME]`).
    /// Entries that are not tables are reported.
    pub fn named_tables(&self) -> Vec<(Found<String>, TableReader<'d, 'i>)> {
        let mut tables = Vec::new();
        for (name, value) in self.entries() {
            let key = name.get_ref().to_string();
            match value.get_ref() {
                DeValue::Table(table) => tables.push((
                    Found {
                        value: key.clone(),
                        span: name.span(),
                    },
                    TableReader {
                        diagnostics: self.diagnostics,
                        path: self.key_path(&key),
                        span: value.span(),
                        table,
                        known: RefCell::new(Vec::new()),
                    },
                )),
                other => self.diagnostics.report(
                    Some(&value.span()),
                    &self.key_path(&key),
                    format!("expected a table, found {}", type_name(other)),
                    Some(format!("write it as a [{}] section", self.key_path(&key))),
                ),
            }
        }
        tables
    }

    /// Every entry of a table of user-chosen names to strings (`[tags]`).
    pub fn named_strings(&self, example: &str) -> Vec<(Found<String>, Found<String>)> {
        let mut entries = Vec::new();
        for (name, value) in self.entries() {
            let key = name.get_ref().to_string();
            match value.get_ref() {
                DeValue::String(text) => entries.push((
                    Found {
                        value: key,
                        span: name.span(),
                    },
                    Found {
                        value: text.to_string(),
                        span: value.span(),
                    },
                )),
                other => self.diagnostics.report(
                    Some(&value.span()),
                    &self.key_path(&key),
                    format!("expected a string, found {}", type_name(other)),
                    Some(format!("write it as {key} = {example}")),
                ),
            }
        }
        entries
    }

    /// Report every key of this table that no getter asked for.
    pub fn finish(self) {
        let known = self.known.borrow().clone();
        for (name, _) in self.entries() {
            let key = name.get_ref().as_ref();
            if known.contains(&key) {
                continue;
            }
            let fix = match crate::suggest::closest(key, known.iter().copied()) {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None if known.is_empty() => "remove it".to_string(),
                None => {
                    let mut names = known.clone();
                    names.sort_unstable();
                    names.dedup();
                    format!("remove it; known keys here: {}", names.join(", "))
                }
            };
            self.diagnostics.report(
                Some(&name.span()),
                &self.key_path(key),
                "unknown key",
                Some(fix),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let source = Source {
            display_path: "x.toml".into(),
            text: "a = 1\nb = 2\n".into(),
        };
        assert_eq!(source.line_of(0), 1);
        assert_eq!(source.line_of(6), 2);
    }
}
