//! Offline checks of everything a stack file names: CloudFormation templates,
//! task and service definition templates. Used by `validate` and before any
//! command changes anything.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::config::{self, ServiceConfig, StackConfig};
use crate::error::{InputError, Problem};
use crate::release::ecs_model::{ServiceDefinition, TaskDefinition};
use crate::release::host_access;
use crate::release::placeholders;
use crate::release::templates::{self as task_templates, CheckContext, Source, TemplateKind};
use crate::stacks::upstream_parameter_name;
use crate::templates::{Layer, Template};

fn upstream_parameters(stack: &StackConfig) -> Vec<String> {
    stack
        .upstream
        .keys()
        .map(|name| upstream_parameter_name(name))
        .collect()
}

/// An `[upstream]` entry reaches CloudFormation only as the parameter
/// `Upstream<Key>StackName` of a template that declares it; otherwise nothing
/// would import its exports and the entry would be silently ignored.
fn undeclared_upstream(stack: &StackConfig, declared: &BTreeSet<String>) -> Vec<Problem> {
    stack
        .upstream
        .keys()
        .filter_map(|key| {
            let parameter = upstream_parameter_name(key);
            if declared.contains(&parameter) {
                return None;
            }
            Some(
                Problem::new(format!(
                    "no template of this stack declares the parameter {parameter}, so this \
                     upstream stack would be ignored"
                ))
                .in_file(&stack.file)
                .at_line(stack.upstream_lines.get(key).copied())
                .at_key(format!("upstream.{key}"))
                .fix(format!(
                    "declare a String parameter {parameter} in your network or platform template \
                     ([templates] network = ... or platform = ...) and import the upstream \
                     stack's exports with Fn::ImportValue and Fn::Sub \"${{{parameter}}}-...\"; \
                     or remove upstream.{key}"
                )),
            )
        })
        .collect()
}

/// Each service's warnings from its task definition template (unreadable
/// templates have none here: the checks report why), as
/// "<service> (<file>): <warning>".
fn per_service_warnings<'a>(
    stack: &StackConfig,
    services: impl IntoIterator<Item = &'a ServiceConfig>,
    warnings_of: impl Fn(&ServiceConfig, &Value) -> Vec<String>,
) -> Vec<String> {
    services
        .into_iter()
        .filter_map(|service| {
            let path = stack.resolve(&service.task_definition);
            let template = task_templates::parse(&path, &path).ok()?;
            let display = config::display_path(&stack.config_dir, &path);
            Some(
                warnings_of(service, &template)
                    .into_iter()
                    .map(|warning| format!("{} ({}): {warning}", service.name, display.display()))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// Warnings that do not stop anything: how the services' task definition
/// templates hand over the Erlang cookie and name and pin the node.
pub fn cookie_warnings<'a>(
    stack: &StackConfig,
    services: impl IntoIterator<Item = &'a ServiceConfig>,
) -> Vec<String> {
    per_service_warnings(stack, services, |service, template| {
        task_templates::cookie_reference_warning(template)
            .into_iter()
            .chain(task_templates::clustering_warnings(
                template,
                service.node_name,
            ))
            .collect()
    })
}

/// Warnings about the services' allowances to reach the host
/// (`allow_host_access`): each allowed use with its reason, and each
/// allowance nothing uses.
pub fn host_access_warnings<'a>(
    stack: &StackConfig,
    services: impl IntoIterator<Item = &'a ServiceConfig>,
) -> Vec<String> {
    per_service_warnings(stack, services, |service, template| {
        host_access::warnings(&service.allow_host_access, template)
    })
}

/// On AWS (no `[local]` table, no `STACKUP_LOCAL_CLOUD`), a database
/// connection that does not verify the server: `require` encrypts but would
/// as readily talk to whoever answers on the route through the bastion. The
/// fix in one line: the RDS CA bundle for the region ("Using SSL/TLS to encrypt
/// a connection to a DB instance or cluster", certificate bundles by AWS
/// Region) saved beside the stack file, and `ca_file` naming it, which turns
/// on `verify-full` by itself.
pub fn database_tls_warning(stack: &StackConfig) -> Option<String> {
    if stack.local.is_some() || stack.database.sslmode == config::SslMode::VerifyFull {
        return None;
    }
    let bundle = match &stack.region {
        Some(region) => {
            format!("https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem")
        }
        None => "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem".to_string(),
    };
    Some(format!(
        "[database] sslmode = \"require\" encrypts but does not verify that the server is your RDS instance: save {bundle} as certs/rds-ca.pem under the config dir and set ca_file = \"certs/rds-ca.pem\" in [database] of {} (ca_file alone turns on sslmode = \"verify-full\")",
        stack.file.display()
    ))
}

/// What `update-resources` would refuse in the files the `[database]` table
/// names, found offline: the migrations folder (names, duplicate and missing
/// versions, down files without their migration) and the CA bundle.
pub fn check_database_files(stack: &StackConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(dir) = &stack.database.migrations {
        if let Err(error) = crate::db::migrations::read_folder(&stack.resolve(dir)) {
            problems.extend(error.problems);
        }
    }
    if let Some(ca_file) = &stack.database.ca_file {
        if let Err(problem) = crate::db::tls::read_ca_bundle(&stack.resolve(ca_file)) {
            problems.push(
                Problem::new(problem)
                    .in_file(&stack.file)
                    .at_key("database.ca_file")
                    .fix("point ca_file at a PEM file of the CA certificates that sign the database's certificate (for RDS, the region's bundle from https://truststore.pki.rds.amazonaws.com)"),
            );
        }
    }
    problems
}

/// Load the stack file and check every template; all problems in one error.
pub fn load_checked(config_dir: &std::path::Path, stack: &str) -> Result<StackConfig, InputError> {
    let checked = check_stack(config_dir, stack)?;
    match checked.stack {
        Some(config) if checked.problems.is_empty() => Ok(config),
        _ => Err(InputError::new(checked.problems)),
    }
}

/// The stack file and every template it names, checked in one run: the
/// templates are checked even when the stack file has problems, against what
/// could be read of it (`config::Salvaged`).
pub struct Checked {
    /// The stack as read; with problems, each key in trouble at its default.
    pub stack: Option<StackConfig>,
    /// The names of the templates checked.
    pub templates: Vec<String>,
    pub problems: Vec<Problem>,
    /// Whether the stack file itself had no problem.
    pub stack_file_valid: bool,
}

pub fn check_stack(config_dir: &std::path::Path, stack: &str) -> Result<Checked, InputError> {
    let config::Salvaged {
        stack,
        mut problems,
    } = config::load_salvaged(config_dir, stack)?;
    let stack_file_valid = problems.is_empty();
    let mut templates = Vec::new();
    if let Some(stack) = &stack {
        let (names, found) = check_templates(stack);
        templates = names;
        problems.extend(found);
        problems.extend(crate::images::repository_clashes(stack));
    }
    Ok(Checked {
        stack,
        templates,
        problems,
        stack_file_valid,
    })
}

/// Check every template the stack uses; returns their names and the problems.
pub fn check_templates(stack: &StackConfig) -> (Vec<String>, Vec<Problem>) {
    let mut names = Vec::new();
    let mut problems = Vec::new();
    let mut outputs = BTreeSet::new();
    let mut declared = BTreeSet::new();
    let mut every_template_loaded = true;
    for layer in [Layer::Network, Layer::Platform] {
        match Template::load(stack, layer) {
            Ok(template) => {
                names.push(template.display_name());
                problems.extend(template.check(&upstream_parameters(stack)));
                outputs.extend(template.outputs());
                declared.extend(template.parameters().into_keys());
            }
            Err(problem) => {
                every_template_loaded = false;
                problems.push(problem);
            }
        }
    }
    if every_template_loaded {
        problems.extend(undeclared_upstream(stack, &declared));
    }
    for (service_name, service) in &stack.services {
        let task_path = stack.resolve(&service.task_definition);
        let service_path = stack.resolve(&service.service_definition);
        let task_display = config::display_path(&stack.config_dir, &task_path);
        let service_display = config::display_path(&stack.config_dir, &service_path);
        let task = task_templates::parse(&task_path, &task_display);
        let containers = task
            .as_ref()
            .map(task_templates::container_names)
            .unwrap_or_default();
        let check_context = CheckContext {
            stack_outputs: &outputs,
            containers: &containers,
            // An own platform template's role is its own business.
            readable_parameters: stack
                .templates
                .platform
                .is_none()
                .then_some(task_templates::TASK_READABLE_PARAMETERS),
        };
        for (kind, path, display, parsed) in [
            (
                TemplateKind::TaskDefinition,
                &task_path,
                &task_display,
                task.clone(),
            ),
            (
                TemplateKind::ServiceDefinition,
                &service_path,
                &service_display,
                task_templates::parse(&service_path, &service_display),
            ),
        ] {
            names.push(display.display().to_string());
            match parsed {
                Ok(value) => {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    let mut found =
                        task_templates::check(kind, &value, &text, display, &check_context);
                    if kind == TemplateKind::TaskDefinition {
                        found.extend(host_access::check(stack, service, &value, &text, display));
                    }
                    // The model is read whatever the placeholders say (every
                    // problem in one run), but a field whose placeholder is
                    // already reported is not reported again.
                    let source = Source {
                        kind,
                        file: display,
                        text: &text,
                        service: &service.name,
                    };
                    let reported: BTreeSet<&str> = found
                        .iter()
                        .filter_map(|problem| problem.key.as_deref())
                        .collect();
                    problems.extend(
                        check_model(stack, service, &source, &value)
                            .into_iter()
                            .filter(|problem| {
                                problem.key.as_deref().is_none_or(|key| {
                                    !reported.iter().any(|reported| {
                                        key.starts_with(reported) || reported.starts_with(key)
                                    })
                                })
                            }),
                    );
                    problems.extend(found);
                    if kind == TemplateKind::TaskDefinition {
                        problems.extend(check_log_configuration(
                            service_name,
                            &value,
                            &text,
                            display,
                            &outputs,
                        ));
                    }
                }
                Err(problem) => problems.push(problem),
            }
        }
    }
    (names, problems)
}

/// Read a template into the ECS model as deploy-release will, offline: the
/// placeholders the stack file decides are resolved, those only a deploy
/// knows (stack outputs, images, the account, parameter ARNs) are left in as
/// stand-ins, which stand for a number or a flag where the model wants one.
fn check_model(
    stack: &StackConfig,
    service: &ServiceConfig,
    source: &Source<'_>,
    template: &Value,
) -> Vec<Problem> {
    let lookup = |name: &str| -> Option<Value> {
        // An unknown name is reported by the checks; here it stands for itself.
        if !placeholders::is_known(name) {
            return Some(Value::String(format!("{{{{{name}}}}}")));
        }
        let known = match name {
            "region" => stack.region.clone(),
            _ => placeholders::stack_value(stack, service, name),
        };
        Some(Value::String(
            known.unwrap_or_else(|| format!("{{{{{name}}}}}")),
        ))
    };
    let mut resolved = match placeholders::resolve(template, &lookup) {
        Ok(resolved) => resolved,
        // Malformed placeholders are reported by the checks.
        Err(_) => return Vec::new(),
    };
    let mut problems = task_templates::settle_decided_fields(source, &mut resolved, &lookup);
    let read = match source.kind {
        TemplateKind::TaskDefinition => {
            task_templates::read_model_problems::<TaskDefinition>(source, template, &resolved)
                .map(|_| ())
        }
        TemplateKind::ServiceDefinition => {
            task_templates::read_model_problems::<ServiceDefinition>(source, template, &resolved)
                .map(|_| ())
        }
    };
    problems.extend(read.err().into_iter().flatten());
    problems
}

/// `logs` reads the stack's log group (the platform output LogGroupName) and,
/// for `--service S`, the streams `S/<container>/<task id>`: the awslogs
/// driver names them `<awslogs-stream-prefix>/<container>/<task id>`. A
/// container logging anywhere else would be invisible to `logs`, so its
/// awslogs options must say what `logs` expects.
fn check_log_configuration(
    service: &str,
    task_definition: &Value,
    text_for_lines: &str,
    display: &Path,
    stack_outputs: &BTreeSet<String>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    // A misspelt output is reported as such by the placeholder check.
    let names_a_missing_output = |value: &Value| {
        value.as_str().is_some_and(|text| {
            placeholders::names_in(text).is_ok_and(|names| {
                names.iter().any(|name| {
                    name.strip_prefix("stack.")
                        .is_some_and(|output| !stack_outputs.contains(output))
                })
            })
        })
    };
    let checks = [
        (
            "awslogs-group",
            "stack.LogGroupName",
            "the stack's log group: `stackup logs` reads only that one (output LogGroupName)"
                .to_string(),
        ),
        (
            "awslogs-stream-prefix",
            "service.name",
            format!(
                "the service's name: `stackup logs --service {service}` reads the streams \
                 {service}/<container>/<task id>"
            ),
        ),
    ];
    // How many times each option was seen so far: the nth in the text is its line.
    let mut seen = [0usize; 2];
    let mut with_logging = 0usize;
    let containers = task_definition
        .get("containerDefinitions")
        .and_then(Value::as_array);
    for (index, container) in containers.into_iter().flatten().enumerate() {
        let Some(logging) = container.get("logConfiguration") else {
            continue;
        };
        with_logging += 1;
        if logging.get("logDriver").and_then(Value::as_str) != Some("awslogs") {
            continue;
        }
        let options = logging.get("options");
        for ((option, placeholder, why), seen) in checks.iter().zip(&mut seen) {
            let value = options.and_then(|options| options.get(*option));
            let line_needle = match value {
                Some(_) => {
                    *seen += 1;
                    format!("\"{option}\"")
                }
                None => "\"logConfiguration\"".to_string(),
            };
            // A value standing for the placeholder, to tell it from any literal.
            let marker = format!("\u{0}{placeholder}");
            let resolved = value.map(|value| {
                placeholders::resolve(value, &|name: &str| {
                    (name == *placeholder).then(|| Value::String(marker.clone()))
                })
            });
            let is_expected = match resolved {
                Some(Ok(Value::String(text))) => {
                    text == marker || (*option == "awslogs-stream-prefix" && text == service)
                }
                _ => false,
            };
            if is_expected || value.is_some_and(names_a_missing_output) {
                continue;
            }
            let occurrence = if value.is_some() {
                *seen - 1
            } else {
                with_logging - 1
            };
            let line = text_for_lines
                .match_indices(&line_needle)
                .nth(occurrence)
                .map(|(offset, _)| text_for_lines[..offset].matches('\n').count() + 1);
            let found = match value {
                Some(value) => format!("is {value}"),
                None => "is missing".to_string(),
            };
            problems.push(
                Problem::new(format!(
                    "{option} {found}; it must be {why}, or logs would show nothing of this container"
                ))
                .in_file(display)
                .at_line(line)
                .at_key(format!(
                    "/containerDefinitions/{index}/logConfiguration/options/{option}"
                ))
                .fix(format!("write \"{option}\": \"{{{{{placeholder}}}}}\"")),
            );
        }
    }
    problems
}
