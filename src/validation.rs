//! Offline checks of everything a stack file names: CloudFormation templates,
//! task and service definition templates. Used by `validate` and before any
//! command changes anything.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::config::{self, ServiceConfig, StackConfig};
use crate::error::{InputError, Problem};
use crate::release::ecs_model::{ServiceDefinition, TaskDefinition};
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

/// Load the stack file and check every template; all problems in one error.
pub fn load_checked(config_dir: &std::path::Path, stack: &str) -> Result<StackConfig, InputError> {
    let config = config::load(config_dir, stack)?;
    let (_, problems) = check_templates(&config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(InputError::new(problems))
    }
}

/// Check every template the stack uses; returns their names and the problems.
pub fn check_templates(stack: &StackConfig) -> (Vec<String>, Vec<Problem>) {
    let mut names = Vec::new();
    let mut problems = Vec::new();
    let mut outputs = BTreeSet::new();
    for layer in [Layer::Network, Layer::Platform] {
        match Template::load(stack, layer) {
            Ok(template) => {
                names.push(template.display_name());
                problems.extend(template.check(&upstream_parameters(stack)));
                outputs.extend(template.outputs());
            }
            Err(problem) => problems.push(problem),
        }
    }
    for service in stack.services.values() {
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
                    let found = task_templates::check(kind, &value, &text, display, &check_context);
                    // The model is read only from a template whose placeholders
                    // are all known, so that nothing is reported twice.
                    if found.is_empty() {
                        let source = Source {
                            kind,
                            file: display,
                            text: &text,
                            service: &service.name,
                        };
                        problems.extend(check_model(stack, service, &source, &value));
                    }
                    problems.extend(found);
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
        if !placeholders::is_known(name) {
            return None;
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
        // Unknown names are reported by the checks.
        Err(_) => return Vec::new(),
    };
    let mut problems = task_templates::settle_decided_fields(source, &mut resolved, &lookup);
    let read = match source.kind {
        TemplateKind::TaskDefinition => {
            task_templates::read_model::<TaskDefinition>(source, template, &resolved).map(|_| ())
        }
        TemplateKind::ServiceDefinition => {
            task_templates::read_model::<ServiceDefinition>(source, template, &resolved).map(|_| ())
        }
    };
    problems.extend(read.err());
    problems
}
