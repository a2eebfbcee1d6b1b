//! `[services.<service>.build.<container>]`: how `stackup build` makes a
//! container's image with the local Docker engine (README, "Images").
//!
//! ```toml
//! [services.web.build.web]
//! context = "."                 # default: the config dir
//! dockerfile = "Dockerfile"     # default: Dockerfile in the context
//! target = "release"            # optional: a stage of a multi-stage Dockerfile
//! args = { MIX_ENV = "prod" }   # optional: --build-arg
//! ```
//!
//! or, from a Compose file's service (`config/compose.rs`):
//!
//! ```toml
//! [services.web.build.web]
//! compose_service = "web"       # its build: in [build] compose
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::compose::{read_compose_build, Compose};
use super::reader::TableReader;
use super::{is_resource_name, resolve_path};

/// One container's image, as the stack file says to build it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageBuild {
    /// The container of the task definition that runs this image.
    pub container: String,
    /// The build context, relative to the config dir.
    pub context: PathBuf,
    /// The Dockerfile, relative to the config dir.
    pub dockerfile: PathBuf,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
}

const EXAMPLE: &str = "[services.web.build.web]\ncontext = \".\"";

/// Every `[services.<service>.build.<container>]` of one service; `None` when
/// one of them has a problem (reported).
pub fn read_builds(
    service: &TableReader,
    config_dir: &Path,
    compose: &Compose,
) -> Option<Vec<ImageBuild>> {
    let Some(table) = service.table("build") else {
        return (!service.has("build")).then(Vec::new);
    };
    let mut builds = Vec::new();
    let mut ok = true;
    for (container, build) in table.named_tables() {
        if !is_resource_name(&container.value) {
            table.diagnostics().report(
                Some(&container.span),
                &table.key_path(&container.value),
                format!(
                    "\"{}\" is not a container name stackup can build for: lowercase letters, digits and single hyphens, starting with a letter",
                    container.value
                ),
                Some(format!("name the section after the container, as in {EXAMPLE}")),
            );
            ok = false;
            continue;
        }
        let found = if build.has("compose_service") || build.is_set_aside("compose_service") {
            read_compose_build(&build, &container.value, config_dir, compose)
        } else {
            read_build(&build, &container.value, config_dir).map(Some)
        };
        match found {
            Some(Some(found)) => builds.push(found),
            Some(None) => {}
            None => ok = false,
        }
        build.finish();
    }
    ok.then_some(builds)
}

fn read_build(table: &TableReader, container: &str, config_dir: &Path) -> Option<ImageBuild> {
    let context = match table.string("context", "\".\"") {
        Some(found) => PathBuf::from(found.value),
        None if table.has("context") => return None,
        None => PathBuf::from("."),
    };
    let context_path = resolve_path(config_dir, &context);
    if !context_path.is_dir() {
        table.diagnostics().report(
            Some(table.span()),
            &table.key_path("context"),
            format!(
                "build context {} is not a directory",
                context_path.display()
            ),
            Some(format!(
                "set context to a directory relative to the config dir ({})",
                config_dir.display()
            )),
        );
        return None;
    }
    let dockerfile = match table.string("dockerfile", "\"Dockerfile\"") {
        Some(found) => PathBuf::from(found.value),
        None if table.has("dockerfile") => return None,
        None => context.join("Dockerfile"),
    };
    if !resolve_path(config_dir, &dockerfile).is_file() {
        table.diagnostics().report(
            Some(table.span()),
            &table.key_path("dockerfile"),
            format!(
                "Dockerfile {} for container {container} does not exist",
                resolve_path(config_dir, &dockerfile).display()
            ),
            Some("create it, or set dockerfile to its path relative to the config dir".into()),
        );
        return None;
    }
    let target = match table.string("target", "\"release\"") {
        None if table.has("target") => return None,
        found => found.map(|found| found.value),
    };
    let args = match table.table("args") {
        Some(args) => {
            // Every entry is an arg: no key is unknown (and `finish` would
            // call each one so, as `named_strings` cannot mark them read).
            args.named_strings("\"prod\"")
                .into_iter()
                .map(|(name, value)| (name.value, value.value))
                .collect()
        }
        None if table.has("args") => return None,
        None => BTreeMap::new(),
    };
    Some(ImageBuild {
        container: container.to_string(),
        context,
        dockerfile,
        target,
        args,
    })
}
