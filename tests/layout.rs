//! The rules ARCHITECTURE.md states about the code's shape, kept by a test:
//! dependencies point down only (no command imports another, no operation or
//! domain module imports a command, `ui/` and `interrupt` import nothing above
//! them), and no file in `src/` grows past about 600 lines of code (its unit
//! tests not counted) unless it is one cohesive thing, named here with why.

use std::path::{Path, PathBuf};

/// Files allowed past the limit: each is one thing that reads best whole, or
/// is named here with the work that will split it (issue 18 in the tracker).
const LONG_FILES: &[(&str, &str)] = &[
    (
        "src/release/ecs_model.rs",
        "the ECS API's task and service definition shapes, one struct per API shape",
    ),
    (
        "src/release/templates.rs",
        "every check of a task or service template, in the order validate reports them",
    ),
];

const LIMIT: usize = 600;

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// Every Rust file under `src/`, as a path relative to the repository, with its text.
fn sources() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let relative = path
                .strip_prefix(&root)
                .expect("under the root")
                .to_string_lossy()
                .replace('\\', "/");
            (relative, text)
        })
        .collect()
}

/// The lines of code before the file's unit tests.
fn code_lines(text: &str) -> usize {
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .count()
}

#[test]
fn no_file_grows_past_the_limit_unless_it_is_one_thing() {
    let mut too_long = Vec::new();
    for (path, text) in sources() {
        let lines = code_lines(&text);
        let allowed = LONG_FILES.iter().any(|(long, _)| *long == path);
        if lines > LIMIT && !allowed {
            too_long.push(format!("{path}: {lines} lines"));
        }
        if allowed && lines <= LIMIT {
            too_long.push(format!(
                "{path} is {lines} lines now: take it off LONG_FILES"
            ));
        }
    }
    assert!(
        too_long.is_empty(),
        "split these (or, if one cohesive thing, list them in LONG_FILES with why):\n{}",
        too_long.join("\n")
    );
}

/// The `crate::<module>` paths a file uses (in `use` lines and in code).
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (index, _) in text.match_indices("crate::") {
        let rest = &text[index + "crate::".len()..];
        let module: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        found.push(module);
    }
    found
}

#[test]
fn dependencies_point_down_only() {
    let mut upward = Vec::new();
    for (path, text) in sources() {
        let modules = crate_paths(&text);
        let is_command = path.starts_with("src/commands/");
        // Below the commands, nothing reaches up into them.
        if !is_command && modules.iter().any(|module| module == "commands") {
            upward.push(format!("{path} imports crate::commands"));
        }
        if is_command && !path.ends_with("/mod.rs") {
            // A command's `super::` is the commands module: its Context only.
            for line in text.lines().filter(|line| line.contains("use super::")) {
                let trimmed = line.trim();
                let only_context = trimmed == "use super::Context;"
                    // A command's own unit tests.
                    || trimmed == "use super::*;";
                if !only_context {
                    upward.push(format!("{path}: `{trimmed}` (a command imports a command)"));
                }
            }
        }
        // The bottom layer: ui and interrupt know nothing above them.
        if path.starts_with("src/ui/") || path == "src/interrupt.rs" {
            for module in &modules {
                if !["ui", "interrupt", "error"].contains(&module.as_str()) {
                    upward.push(format!("{path} imports crate::{module}"));
                }
            }
        }
    }
    assert!(upward.is_empty(), "{}", upward.join("\n"));
}

/// The checks above can fail: a file that breaks each rule is caught.
#[test]
fn the_checks_catch_what_they_are_for() {
    let long: String = "let x = 1;\n".repeat(LIMIT + 1);
    assert!(code_lines(&long) > LIMIT);
    let with_tests = format!("{}#[cfg(test)]\nmod tests {{}}\n", "fn a() {}\n".repeat(10));
    assert_eq!(code_lines(&with_tests), 10);
    assert_eq!(
        crate_paths("use crate::commands::deploy_release;\nlet x = crate::ui::Printer;"),
        vec!["commands", "ui"]
    );
}
