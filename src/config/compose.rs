//! `[build] compose` and `compose_service`: the stack file's images built as a
//! Compose file's services say (README, "Images").
//!
//! ```toml
//! [build]
//! compose = "docker-compose.yml"      # relative to the config dir
//!
//! [services.web.build.web]
//! compose_service = "web"             # that file's service whose build: makes this image
//! ```
//!
//! Only the Compose file's `build:` sections are read, as the Compose Build
//! Specification (docs.docker.com, "Compose Build Specification") defines
//! them: a string is the context; a map gives `context`, `dockerfile`,
//! `target` and `args` (a map, or a list of `NAME=value`). A relative context
//! is resolved from the Compose file's folder, a relative Dockerfile from the
//! context. The result is an [`ImageBuild`] like any other, built by
//! `docker build`: no `docker compose` binary is needed. What would make the
//! image differ from the one `docker compose build` makes (build secrets, SSH,
//! extra contexts, labels, variables stackup does not read) is refused rather
//! than left out.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::build::ImageBuild;
use super::reader::TableReader;
use super::{display_path, resolve_path};

/// What `[build] compose` says.
pub enum Compose {
    /// No Compose file is named.
    Absent,
    /// One is named but cannot be used; that problem is reported already.
    Unusable,
    File(ComposeFile),
}

/// A Compose file's services, as read.
pub struct ComposeFile {
    /// As the stack file names it: relative to the config dir.
    path: PathBuf,
    /// Where it is, for messages.
    shown: PathBuf,
    services: Mapping,
}

/// One thing wrong with a Compose service as a build, with its fix.
#[derive(Debug, PartialEq, Eq)]
pub struct ComposeProblem {
    pub message: String,
    pub fix: String,
}

impl ComposeProblem {
    fn new(message: impl Into<String>, fix: impl Into<String>) -> Self {
        ComposeProblem {
            message: message.into(),
            fix: fix.into(),
        }
    }
}

const COMPOSE_EXAMPLE: &str = "[build]\ncompose = \"docker-compose.yml\"";

/// `build:` keys that decide the image, read by stackup.
const BUILD_KEYS: &[&str] = &["context", "dockerfile", "target", "args"];

/// `build:` keys that leave the image's content alone, or that stackup decides
/// itself: cache and pull policy, the tags (the git commit's), the platforms
/// (the cluster's), Windows isolation.
const IGNORED_BUILD_KEYS: &[&str] = &[
    "cache_from",
    "cache_to",
    "no_cache",
    "pull",
    "tags",
    "platforms",
    "isolation",
];

/// The top-level `[build]` table.
pub(super) fn read_compose(root: &TableReader, config_dir: &Path) -> Compose {
    let Some(table) = root.table("build") else {
        return if root.has("build") || root.is_set_aside("build") {
            Compose::Unusable
        } else {
            Compose::Absent
        };
    };
    let found = table.string("compose", "\"docker-compose.yml\"");
    let set_aside = table.is_set_aside("compose");
    let has = table.has("compose");
    table.finish();
    let Some(found) = found else {
        return if has || set_aside {
            Compose::Unusable
        } else {
            Compose::Absent
        };
    };
    let path = PathBuf::from(&found.value);
    let shown = display_path(config_dir, &resolve_path(config_dir, &path));
    let report = |message: String, fix: String| {
        root.diagnostics()
            .report(Some(&found.span), "build.compose", message, Some(fix));
        Compose::Unusable
    };
    let text = match std::fs::read_to_string(resolve_path(config_dir, &path)) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return report(
                format!("Compose file {} does not exist", shown.display()),
                format!(
                    "create it, or set compose to its path relative to the config dir ({})",
                    config_dir.display()
                ),
            )
        }
        Err(error) => {
            return report(
                format!("cannot read Compose file {}: {error}", shown.display()),
                "make it a readable file".to_string(),
            )
        }
    };
    match parse_services(&text) {
        Ok(services) => Compose::File(ComposeFile {
            path,
            shown,
            services,
        }),
        Err(reason) => report(
            format!("{} is not a Compose file: {reason}", shown.display()),
            "give compose a Compose file with a services: section (docs.docker.com, \"Compose file reference\")".to_string(),
        ),
    }
}

/// The `services:` mapping of a Compose file; YAML merge keys (`<<: *base`)
/// applied, as Compose does.
fn parse_services(text: &str) -> Result<Mapping, String> {
    let mut document: Value = serde_yaml_ng::from_str(text).map_err(|error| error.to_string())?;
    document.apply_merge().map_err(|error| error.to_string())?;
    match document.get("services") {
        Some(Value::Mapping(services)) => Ok(services.clone()),
        Some(_) => Err("services: is not a map of service names".to_string()),
        None => Err("it has no services: section".to_string()),
    }
}

/// `[services.<s>.build.<container>]` with `compose_service`: the image that
/// Compose service's `build:` makes. `None` when there is a problem with it
/// (reported, every one); `Some(None)` when the Compose file's own problem
/// (reported once, at `[build]`) or a second reading that set this key aside
/// leaves nothing to build, so the rest of the file is still checked.
pub(super) fn read_compose_build(
    table: &TableReader,
    container: &str,
    config_dir: &Path,
    compose: &Compose,
) -> Option<Option<ImageBuild>> {
    if table.is_set_aside("compose_service") {
        return Some(None);
    }
    let service = table.string("compose_service", "\"web\"");
    let key = table.key_path("compose_service");
    let span = service
        .as_ref()
        .map_or_else(|| table.span().clone(), |found| found.span.clone());
    let report = |problem: ComposeProblem| {
        table
            .diagnostics()
            .report(Some(&span), &key, problem.message, Some(problem.fix));
    };
    let both: Vec<&str> = BUILD_KEYS
        .iter()
        .copied()
        .filter(|other| table.has(other))
        .collect();
    if !both.is_empty() {
        report(ComposeProblem::new(
            format!(
                "both compose_service and {} say how to build container {container}",
                both.join(", ")
            ),
            format!(
                "keep compose_service (the Compose service's build: decides), or remove it and keep {}",
                both.join(", ")
            ),
        ));
    }
    let service = service?;
    let build = match compose {
        Compose::Absent => {
            report(ComposeProblem::new(
                format!(
                    "compose_service = \"{}\" names a Compose service, but no Compose file is named",
                    service.value
                ),
                format!("name it at the top of the stack file:\n{COMPOSE_EXAMPLE}"),
            ));
            return None;
        }
        Compose::Unusable => return both.is_empty().then_some(None),
        Compose::File(file) => file.image_build(&service.value, container, config_dir),
    };
    match build {
        Ok(build) if both.is_empty() => Some(Some(build)),
        Ok(_) => None,
        Err(problems) => {
            for problem in problems {
                report(problem);
            }
            None
        }
    }
}

impl ComposeFile {
    /// The build of Compose service `service` for `container`, or every
    /// problem with it.
    pub fn image_build(
        &self,
        service: &str,
        container: &str,
        config_dir: &Path,
    ) -> Result<ImageBuild, Vec<ComposeProblem>> {
        let file = self.shown.display();
        let Some(definition) = self.services.get(service) else {
            let names: Vec<&str> = self.services.keys().filter_map(Value::as_str).collect();
            let fix = match crate::suggest::closest(service, names.iter().copied()) {
                Some(near) => format!("did you mean \"{near}\"?"),
                None => format!("services there: {}", names.join(", ")),
            };
            return Err(vec![ComposeProblem::new(
                format!("Compose file {file} has no service \"{service}\""),
                fix,
            )]);
        };
        let Some(build) = definition.get("build") else {
            let what = if definition.get("extends").is_some() {
                "no build: of its own (stackup does not follow extends:)".to_string()
            } else {
                match definition.get("image").and_then(Value::as_str) {
                    Some(image) => format!("no build: (it runs image {image})"),
                    None => "no build:".to_string(),
                }
            };
            return Err(vec![ComposeProblem::new(
                format!("Compose service \"{service}\" in {file} has {what}, so nothing says how to build container {container}"),
                "give that service a build: section, name another compose_service, or build with context = \"...\" instead".to_string(),
            )]);
        };
        let compose_dir = self.path.parent().unwrap_or(Path::new(""));
        self.read_build(build, service, container, compose_dir, config_dir)
    }

    fn read_build(
        &self,
        build: &Value,
        service: &str,
        container: &str,
        compose_dir: &Path,
        config_dir: &Path,
    ) -> Result<ImageBuild, Vec<ComposeProblem>> {
        let file = self.shown.display();
        let at = |key: &str| format!("Compose service \"{service}\" in {file}: build.{key}");
        let mut problems = Vec::new();
        let empty = Mapping::new();
        let map = match build {
            Value::Mapping(map) => map,
            _ => &empty,
        };
        for key in map.keys() {
            let name = key.as_str().unwrap_or("?");
            if !BUILD_KEYS.contains(&name) && !IGNORED_BUILD_KEYS.contains(&name) {
                problems.push(ComposeProblem::new(
                    format!(
                        "{} is not something stackup builds with: the image would differ from the one docker compose builds",
                        at(name)
                    ),
                    format!(
                        "remove it from that service's build:, or build container {container} with context and dockerfile instead"
                    ),
                ));
            }
        }
        let mut text = |key: &str, value: Option<&Value>| -> Option<String> {
            let value = value?;
            let Some(raw) = scalar_text(value) else {
                problems.push(ComposeProblem::new(
                    format!("{} is not a string", at(key)),
                    format!("write it as {key}: \"...\""),
                ));
                return None;
            };
            literal(&raw)
                .map_err(|variable| problems.push(variable_problem(&at(key), &variable)))
                .ok()
        };
        let context = match build {
            Value::Mapping(_) => text("context", map.get("context")),
            other => text("context", Some(other)),
        };
        let dockerfile = text("dockerfile", map.get("dockerfile"));
        let target = text("target", map.get("target"));
        let args = match map.get("args") {
            Some(value) => read_args(value, &at("args"), &mut problems),
            None => BTreeMap::new(),
        };
        let context_text = context.unwrap_or_else(|| ".".to_string());
        if context_text.contains("://") || context_text.starts_with("git@") {
            problems.push(ComposeProblem::new(
                format!(
                    "{} is a remote context ({context_text}); stackup builds from local folders only",
                    at("context")
                ),
                "check the sources out and point context at the folder".to_string(),
            ));
            return Err(problems);
        }
        let context = clean(&compose_dir.join(&context_text));
        let dockerfile = clean(&context.join(dockerfile.as_deref().unwrap_or("Dockerfile")));
        let context_path = display_path(config_dir, &resolve_path(config_dir, &context));
        let dockerfile_path = display_path(config_dir, &resolve_path(config_dir, &dockerfile));
        if !context_path.is_dir() {
            problems.push(ComposeProblem::new(
                format!(
                    "{}: {} is not a directory",
                    at("context"),
                    context_path.display()
                ),
                "set context to a folder relative to the Compose file's".to_string(),
            ));
        } else if !dockerfile_path.is_file() {
            problems.push(ComposeProblem::new(
                format!(
                    "{}: {} does not exist",
                    at("dockerfile"),
                    dockerfile_path.display()
                ),
                "create it, or set dockerfile to its path relative to the context".to_string(),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ImageBuild {
            container: container.to_string(),
            context,
            dockerfile,
            target,
            args,
        })
    }
}

/// `args:` as a map (`NAME: value`) or a list (`- NAME=value`).
fn read_args(
    value: &Value,
    at: &str,
    problems: &mut Vec<ComposeProblem>,
) -> BTreeMap<String, String> {
    let mut entries: Vec<(String, Option<String>)> = Vec::new();
    match value {
        Value::Mapping(map) => {
            for (name, value) in map {
                let name = scalar_text(name).unwrap_or_default();
                match value {
                    Value::Null => entries.push((name, None)),
                    other => match scalar_text(other) {
                        Some(text) => entries.push((name, Some(text))),
                        None => problems.push(ComposeProblem::new(
                            format!("{at}.{name} is not a string"),
                            format!("write it as {name}: \"...\""),
                        )),
                    },
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                match item.as_str() {
                    Some(text) => match text.split_once('=') {
                        Some((name, value)) => {
                            entries.push((name.to_string(), Some(value.to_string())))
                        }
                        None => entries.push((text.to_string(), None)),
                    },
                    None => problems.push(ComposeProblem::new(
                        format!("{at} has an entry that is not NAME=value"),
                        "write each entry as - NAME=value".to_string(),
                    )),
                }
            }
        }
        _ => problems.push(ComposeProblem::new(
            format!("{at} is neither a map nor a list"),
            "write it as args: { NAME: value } or as a list of NAME=value".to_string(),
        )),
    }
    let mut args = BTreeMap::new();
    for (name, value) in entries {
        let Some(value) = value else {
            problems.push(ComposeProblem::new(
                format!(
                    "{at}.{name} has no value (docker compose would take it from the environment)"
                ),
                format!("give it its value in the Compose file, as {name}: \"...\""),
            ));
            continue;
        };
        match literal(&value) {
            Ok(value) => {
                args.insert(name, value);
            }
            Err(variable) => problems.push(variable_problem(&format!("{at}.{name}"), &variable)),
        }
    }
    args
}

/// A YAML scalar as Compose reads it: numbers and booleans as their text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The text of a value with Compose's `$$` escape undone; `Err(variable)`
/// when it interpolates one (`$NAME`, `${NAME...}`), which needs the
/// environment or an `.env` file stackup does not read.
fn literal(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some((_, '$')) => {
                chars.next();
                out.push('$');
            }
            Some((_, next)) if *next == '{' || *next == '_' || next.is_ascii_alphabetic() => {
                let rest = &text[index..];
                let end = if *next == '{' {
                    rest.find('}').map_or(rest.len(), |end| end + 1)
                } else {
                    rest[1..]
                        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                        .map_or(rest.len(), |end| end + 1)
                };
                return Err(rest[..end].to_string());
            }
            _ => out.push('$'),
        }
    }
    Ok(out)
}

fn variable_problem(at: &str, variable: &str) -> ComposeProblem {
    ComposeProblem::new(
        format!("{at} uses the variable {variable}; stackup does not read Compose variables (the environment, .env), so the image could differ from docker compose's"),
        "write the value itself (a literal $ is written $$)".to_string(),
    )
}

/// `a/./b/../c` as `a/c`, lexically: the path as a user would write it.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compose(text: &str, dir: &Path) -> ComposeFile {
        ComposeFile {
            path: PathBuf::from("deploy/docker-compose.yml"),
            shown: dir.join("deploy/docker-compose.yml"),
            services: parse_services(text).expect("a Compose file"),
        }
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for folder in ["deploy", "app", "app/docker"] {
            std::fs::create_dir_all(dir.path().join(folder)).expect("folder");
        }
        std::fs::write(dir.path().join("deploy/Dockerfile"), "FROM scratch\n").expect("file");
        std::fs::write(dir.path().join("app/Dockerfile"), "FROM scratch\n").expect("file");
        std::fs::write(dir.path().join("app/docker/Release"), "FROM scratch\n").expect("file");
        dir
    }

    #[test]
    fn a_string_build_is_the_context_beside_the_compose_file() {
        let dir = project();
        let file = compose("services:\n  web:\n    build: ../app\n", dir.path());
        let build = file.image_build("web", "web", dir.path()).expect("a build");
        assert_eq!(build.context, PathBuf::from("app"));
        assert_eq!(build.dockerfile, PathBuf::from("app/Dockerfile"));
        assert_eq!(build.target, None);
        assert!(build.args.is_empty());
    }

    #[test]
    fn a_map_build_gives_the_dockerfile_from_the_context_and_args_in_either_form() {
        let dir = project();
        let text = "x-common: &common\n  MIX_ENV: prod\nservices:\n  web:\n    build:\n      context: ../app\n      dockerfile: docker/Release\n      target: release\n      args:\n        <<: *common\n        PORT: 4000\n        DEBUG: false\n        PRICE: \"$$5\"\n      cache_from: [web]\n  worker:\n    build:\n      args:\n        - MIX_ENV=prod\n        - EMPTY=\n";
        let file = compose(text, dir.path());
        let build = file.image_build("web", "web", dir.path()).expect("a build");
        assert_eq!(build.context, PathBuf::from("app"));
        assert_eq!(build.dockerfile, PathBuf::from("app/docker/Release"));
        assert_eq!(build.target.as_deref(), Some("release"));
        let args: Vec<(&str, &str)> = build
            .args
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            args,
            [
                ("DEBUG", "false"),
                ("MIX_ENV", "prod"),
                ("PORT", "4000"),
                ("PRICE", "$5")
            ]
        );
        let worker = file
            .image_build("worker", "worker", dir.path())
            .expect("a build");
        assert_eq!(worker.context, PathBuf::from("deploy"));
        assert_eq!(worker.dockerfile, PathBuf::from("deploy/Dockerfile"));
        assert_eq!(worker.args.get("EMPTY").map(String::as_str), Some(""));
        assert_eq!(worker.args.get("MIX_ENV").map(String::as_str), Some("prod"));
    }

    #[test]
    fn every_problem_of_a_service_is_named() {
        let dir = project();
        let text = "services:\n  web:\n    build:\n      context: ../app\n      dockerfile: Missing\n      secrets: [key]\n      args:\n        - TOKEN\n        - TAG=${GIT_SHA}\n  db:\n    image: postgres:16\n";
        let file = compose(text, dir.path());
        let problems = file
            .image_build("web", "web", dir.path())
            .expect_err("problems");
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 4, "{messages:#?}");
        assert!(messages[0].contains("build.secrets is not something stackup builds with"));
        assert!(messages[1].contains("build.args.TOKEN has no value"));
        assert!(messages[2].contains("build.args.TAG uses the variable ${GIT_SHA}"));
        assert!(messages[3].contains("app/Missing does not exist"));

        let no_build = file
            .image_build("db", "db", dir.path())
            .expect_err("no build");
        assert!(no_build[0]
            .message
            .contains("has no build: (it runs image postgres:16)"));
        let unknown = file
            .image_build("wbe", "web", dir.path())
            .expect_err("unknown");
        assert!(unknown[0].message.contains("has no service \"wbe\""));
        assert_eq!(unknown[0].fix, "did you mean \"web\"?");
    }

    #[test]
    fn variables_are_found_and_dollars_escaped() {
        assert_eq!(literal("a$$b"), Ok("a$b".to_string()));
        assert_eq!(literal("cost $5"), Ok("cost $5".to_string()));
        assert_eq!(literal("x $HOME/y"), Err("$HOME".to_string()));
        assert_eq!(literal("${TAG:-1}z"), Err("${TAG:-1}".to_string()));
    }

    #[test]
    fn paths_are_cleaned_lexically() {
        assert_eq!(
            clean(Path::new("deploy/../app/./x")),
            PathBuf::from("app/x")
        );
        assert_eq!(clean(Path::new("./.")), PathBuf::from("."));
        assert_eq!(clean(Path::new("../app")), PathBuf::from("../app"));
        assert_eq!(clean(Path::new("/srv/../app")), PathBuf::from("/app"));
    }
}
