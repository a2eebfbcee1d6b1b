//! Stack files: `stacks/<STACK>.toml` (README, "Stack files"). Load, validate, resolve.
//!
//! Loading reads the whole file and reports every problem it finds, each with
//! the file, key, line and fix, as one [`InputError`] (exit 2) before any AWS
//! call. Paths in a stack file are relative to `--config-dir`.

pub mod build;
mod compose;
mod database;
pub mod host_access;
mod local;
mod model;
mod platform;
mod principals;
pub(crate) mod reader;
mod services;
mod values;
mod vpc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::error::{InputError, Problem};
use crate::network;
use reader::{Diagnostics, Found, Source, TableReader};

pub use model::*;
pub use reader::Span;

use database::*;
use local::*;
pub use platform::*;
pub use services::*;
pub use values::*;
pub use vpc::*;

fn resolve_path(config_dir: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_dir.join(path)
    }
}

/// The stack file for `<STACK>` under `config_dir`.
pub fn stack_file_path(config_dir: &Path, stack: &str) -> Result<PathBuf, InputError> {
    let valid = stack
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric())
        && stack
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !stack.contains("..");
    if !valid {
        return Err(InputError::one(
            Problem::new(format!("`{stack}` is not a stack name"))
                .fix("give the name of a file in stacks/ without `.toml`, for example `stackup validate local`"),
        ));
    }
    Ok(config_dir.join("stacks").join(format!("{stack}.toml")))
}

/// Load and check `stacks/<STACK>.toml`, reporting every problem at once.
pub fn load(config_dir: &Path, stack: &str) -> Result<StackConfig, InputError> {
    let salvaged = load_salvaged(config_dir, stack)?;
    match salvaged.stack {
        Some(config) if salvaged.problems.is_empty() => Ok(config),
        _ => Err(InputError::new(salvaged.problems)),
    }
}

/// The stack file with its problems and what could be read of it; an error
/// only when there is nothing to read (no file, not TOML).
pub fn load_salvaged(config_dir: &Path, stack: &str) -> Result<Salvaged, InputError> {
    let path = stack_file_path(config_dir, stack)?;
    let display_path = display_path(config_dir, &path);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let available = list_stacks(config_dir);
            let fix = if available.is_empty() {
                format!(
                    "create {} (see stacks/example.toml in the stackup repository), or pass --config-dir",
                    display_path.display()
                )
            } else {
                format!("stacks here: {}", available.join(", "))
            };
            return Err(InputError::one(
                Problem::new(format!(
                    "stack file {} does not exist",
                    display_path.display()
                ))
                .fix(fix),
            ));
        }
        Err(error) => {
            return Err(InputError::one(Problem::new(format!(
                "cannot read stack file {}: {error}",
                display_path.display()
            ))))
        }
    };
    let source = Source { display_path, text };
    let overlay = match std::env::var_os(LOCAL_CLOUD_VARIABLE).filter(|file| !file.is_empty()) {
        Some(file) => Some(read_local_cloud_file(Path::new(&file))?),
        None => None,
    };
    // The local cloud's CA stands in for the stack's: verify-full needs no
    // ca_file of its own then.
    let local_ca = overlay
        .as_ref()
        .is_some_and(|local| local.ca_file.is_some());
    let Salvaged {
        stack: config,
        problems,
    } = parse(&source, stack, config_dir, local_ca)?;
    let Some(mut config) = config else {
        return Ok(Salvaged {
            stack: None,
            problems,
        });
    };
    if let Some(overlay) = overlay {
        let own = config.local.take().unwrap_or_default();
        config.local = Some(own.or(overlay));
    }
    if let Some(local) = &config.local {
        if let Some(identity) = &local.identity {
            config.ssh.identity = Some(identity.clone());
        }
        if let Some(known_hosts) = &local.known_hosts {
            config.ssh.known_hosts = known_hosts.clone();
        }
        if let Some(ca_file) = &local.ca_file {
            config.database.ca_file = Some(ca_file.clone());
        }
    }
    Ok(Salvaged {
        stack: Some(config),
        problems,
    })
}

/// The `[local]` table of the file [`LOCAL_CLOUD_VARIABLE`] names; relative
/// paths in it are relative to that file.
fn read_local_cloud_file(file: &Path) -> Result<LocalConfig, InputError> {
    let text = std::fs::read_to_string(file).map_err(|error| {
        InputError::one(
            Problem::new(format!(
                "{LOCAL_CLOUD_VARIABLE}={}: cannot read it: {error}",
                file.display()
            ))
            .fix(format!(
                "start the local cloud (`scripts/local-cloud up`) and run `eval \"$(scripts/local-cloud env)\"` again, or unset {LOCAL_CLOUD_VARIABLE}"
            )),
        )
    })?;
    let source = Source {
        display_path: file.to_path_buf(),
        text,
    };
    let document = toml::de::DeTable::parse(&source.text).map_err(|error| {
        let line = error.span().map(|span| source.line_of(span.start));
        InputError::one(toml_problem(
            error.message(),
            error.span().and_then(|span| source.text.get(span)),
            &source.display_path,
            line,
        ))
    })?;
    let diagnostics = Diagnostics::new(&source);
    let root = TableReader::root(&diagnostics, &document);
    let base = file.parent().unwrap_or(Path::new("."));
    let local = read_local(&root, base);
    root.finish();
    if diagnostics.has_problems() {
        return Err(InputError::new(diagnostics.into_problems()));
    }
    Ok(local.unwrap_or_default())
}

/// Stack names found in `config_dir/stacks`.
pub fn list_stacks(config_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(config_dir.join("stacks"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".toml").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A path as the user would type it from where they run stackup.
pub fn display_path(config_dir: &Path, path: &Path) -> PathBuf {
    if config_dir == Path::new(".") {
        path.strip_prefix(".").unwrap_or(path).to_path_buf()
    } else {
        path.to_path_buf()
    }
}

/// A stack file read as far as it goes: its problems, and the stack with every
/// key in trouble left at its default (`None` when a required key is missing
/// or wrong). Only `validate` and the template checks look at a stack with
/// problems; nothing is deployed from one.
pub struct Salvaged {
    pub stack: Option<StackConfig>,
    pub problems: Vec<Problem>,
}

fn parse(
    source: &Source,
    stack: &str,
    config_dir: &Path,
    local_ca: bool,
) -> Result<Salvaged, InputError> {
    let document = match toml::de::DeTable::parse(&source.text) {
        Ok(document) => document,
        Err(error) => {
            let line = error.span().map(|span| source.line_of(span.start));
            return Err(InputError::one(toml_problem(
                error.message(),
                error.span().and_then(|span| source.text.get(span)),
                &source.display_path,
                line,
            )));
        }
    };
    let diagnostics = Diagnostics::new(source);
    let root = TableReader::root(&diagnostics, &document);
    let mut config = read_stack(&root, stack, config_dir, local_ca);
    root.finish();
    let problems = diagnostics.into_problems();
    if problems.is_empty() {
        return match config {
            Some(config) => Ok(Salvaged {
                stack: Some(config),
                problems,
            }),
            None => Err(InputError::one(
                Problem::new("could not be read").in_file(&source.display_path),
            )),
        };
    }
    // Read again with the keys in trouble set aside (reader.rs), so the
    // templates can be checked in the same run; a missing required key
    // leaves nothing to check them against.
    if config.is_none() {
        let again = Diagnostics::setting_aside(source, &problems);
        let root = TableReader::root(&again, &document);
        config = read_stack(&root, stack, config_dir, local_ca);
        if let Some(config) = &mut config {
            // A template path set aside would send the checks to a default
            // file the user never named.
            config.services.retain(|name, _| {
                !problems.iter().any(|problem| {
                    problem.key.as_deref().is_some_and(|key| {
                        [
                            format!("services.{name}.task_definition"),
                            format!("services.{name}.service_definition"),
                        ]
                        .contains(&key.to_string())
                    })
                })
            });
        }
    }
    Ok(Salvaged {
        stack: config,
        problems,
    })
}

/// A TOML syntax error as a problem. `at` is the text the error points at:
/// for a duplicate key, the key, which toml's message leaves out.
fn toml_problem(message: &str, at: Option<&str>, file: &Path, line: Option<usize>) -> Problem {
    let message = message.trim();
    let duplicate = at
        .map(str::trim)
        .filter(|key| message == "duplicate key" && !key.is_empty() && !key.contains('\n'));
    match duplicate {
        Some(key) => Problem::new(format!("is not valid TOML: duplicate key `{key}`"))
            .in_file(file)
            .at_line(line)
            .fix(format!(
                "a key may appear only once in its table: remove one `{key}`, or merge the two"
            )),
        None => Problem::new(format!("is not valid TOML: {message}"))
            .in_file(file)
            .at_line(line)
            .fix("correct the syntax at that line (https://toml.io)"),
    }
}

fn read_stack(
    root: &TableReader,
    stack: &str,
    config_dir: &Path,
    local_ca: bool,
) -> Option<StackConfig> {
    let diagnostics = root.diagnostics();
    let app = read_name(root, "app", "\"demo\"", 24, true);
    let environment = read_name(root, "environment", "\"staging\"", 16, true);
    let version = match root.integer("version", 1..1000, "1") {
        Some(found) => Some(found.value as u32),
        None if root.has("version") => None,
        None => {
            root.missing("version", "1");
            None
        }
    };
    let region = root.string("region", "\"us-east-1\"").and_then(|found| {
        let valid = found.value.split('-').count() >= 3
            && found
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && found.value.ends_with(|c: char| c.is_ascii_digit());
        if valid {
            Some(found.value)
        } else {
            diagnostics.report(
                Some(&found.span),
                "region",
                format!("\"{}\" is not an AWS region name", found.value),
                Some("write it like region = \"eu-west-1\"".to_string()),
            );
            None
        }
    });

    let tags = read_tags(root);
    let network = read_network(root, region.as_deref());
    let upstream = read_upstream(root);
    let database = read_database(root, config_dir, local_ca);
    let cluster = read_cluster(root);
    let bastion = read_bastion(root);
    let load_balancer = read_load_balancer(
        root,
        cluster
            .as_ref()
            .map_or(DEFAULT_DISTRIBUTION_PORTS, |cluster| {
                cluster.distribution_ports
            }),
        region.as_deref(),
    );
    let logs = read_logs(root);
    let deploy = read_deploy(root);
    // The Compose file first: services' builds may name its services.
    let compose = compose::read_compose(root, config_dir);
    let services = read_services(root, config_dir, &compose);
    let ssh = read_ssh(root, config_dir);
    let templates = read_templates(root, config_dir);
    let local = read_local(root, config_dir);

    Some(StackConfig {
        name: stack.to_string(),
        file: diagnostics.source().display_path.clone(),
        config_dir: config_dir.to_path_buf(),
        app: app?,
        environment: environment?,
        version: version?,
        region,
        tags: tags?,
        network: network?,
        upstream_lines: upstream
            .as_ref()
            .map(|entries| {
                entries
                    .iter()
                    .map(|(key, (_, line))| (key.clone(), *line))
                    .collect()
            })
            .unwrap_or_default(),
        upstream: upstream.map(|entries| {
            entries
                .into_iter()
                .map(|(key, (stack_name, _))| (key, stack_name))
                .collect()
        })?,
        database: database?,
        cluster: cluster?,
        bastion: bastion?,
        load_balancer: load_balancer?,
        logs: logs?,
        deploy: deploy?,
        services: services?,
        ssh: ssh?,
        templates: templates?,
        local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_command_names_only_known_placeholders() {
        assert!(unknown_console_placeholders(
            "docker exec -it {container} bin/{app} remote",
            CONSOLE_PLACEHOLDERS
        )
        .is_empty());
        assert_eq!(
            unknown_console_placeholders("echo {nod} {container} {relase}", CONSOLE_PLACEHOLDERS),
            vec!["{nod}", "{relase}"]
        );
        // The shell's own braces are the command's.
        assert!(unknown_console_placeholders(
            "echo ${HOME} \"${node}\" | awk '{print $1}' {} {1}",
            CONSOLE_PLACEHOLDERS
        )
        .is_empty());
        assert!(unknown_console_placeholders("{", CONSOLE_PLACEHOLDERS).is_empty());
    }

    fn parse_text(text: &str) -> Result<StackConfig, InputError> {
        let source = Source {
            display_path: "stacks/t.toml".into(),
            text: text.into(),
        };
        let salvaged = parse(&source, "t", Path::new("/nonexistent-config-dir"), false)?;
        match salvaged.stack {
            Some(config) if salvaged.problems.is_empty() => Ok(config),
            _ => Err(InputError::new(salvaged.problems)),
        }
    }

    const MINIMAL: &str = r#"
app = "demo"
environment = "staging"
version = 1
[network]
cidr = "10.20.0.0/16"
bastion_ingress = ["203.0.113.7/32"]
[database]
name = "demo"
"#;

    #[test]
    fn minimal_file_gets_defaults() {
        let config = parse_text(MINIMAL).expect("valid");
        assert_eq!(config.stack_id(), "demo-staging-v1");
        assert_eq!(config.network_stack_name(), "demo-staging-v1-network");
        assert_eq!(config.parameter_prefix(), "/stackup/demo-staging-v1/");
        assert_eq!(config.network.nat, NatMode::Single);
        assert_eq!(
            config.network.availability_zones,
            AvailabilityZones::Count(2)
        );
        assert_eq!(config.database.master_user, "postgres");
        assert_eq!(config.database.app_user, "demo_app");
        assert_eq!(config.database.parameter_family(), "postgres16");
        assert!(config.services.is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let error = parse_text(
            "app = \"Demo\"\nenvironment = \"staging\"\nversion = 0\ncolour = 1\n[network]\ncidr = \"10.20.0.1/16\"\nbastion_ingress = []\n[database]\nname = \"demo\"\n",
        )
        .expect_err("invalid");
        let lines: Vec<Option<usize>> = error.problems.iter().map(|problem| problem.line).collect();
        assert_eq!(
            lines,
            vec![Some(1), Some(3), Some(4), Some(6), Some(7)],
            "{error}"
        );
    }

    #[test]
    fn cidrs_that_add_up_to_everything_need_the_anywhere_flag() {
        let with = |ingress: &str, extra: &str| {
            parse_text(&MINIMAL.replace(
                "bastion_ingress = [\"203.0.113.7/32\"]",
                &format!("bastion_ingress = {ingress}\n{extra}"),
            ))
        };
        let halves = r#"["0.0.0.0/1", "128.0.0.0/1"]"#;
        let error = with(halves, "").expect_err("the whole internet");
        assert!(
            error.problems[0]
                .message
                .contains("together cover every IPv4 address"),
            "{error}"
        );
        assert!(with(halves, "allow_bastion_from_anywhere = true").is_ok());
        // Half the internet is wide, but it is not everything.
        assert!(with(r#"["0.0.0.0/1", "203.0.113.7/32"]"#, "").is_ok());
    }

    #[test]
    fn names_follow_the_resource_name_rule() {
        assert!(is_resource_name("web-2"));
        assert!(!is_resource_name("2web"));
        assert!(!is_resource_name("web-"));
        assert!(!is_resource_name("we--b"));
        assert!(!is_resource_name("Web"));
        assert!(!is_resource_name(""));
    }

    #[test]
    fn stack_names_cannot_escape_the_stacks_folder() {
        assert!(stack_file_path(Path::new("."), "../etc/passwd").is_err());
        assert!(stack_file_path(Path::new("."), "").is_err());
        assert!(stack_file_path(Path::new("."), "local").is_ok());
    }
}
