//! Offline checks of everything a stack file names: CloudFormation templates,
//! task and service definition templates. Used by `validate` and before any
//! command changes anything.

use std::collections::BTreeSet;

use crate::config::{self, StackConfig};
use crate::error::{InputError, Problem};
use crate::release::templates::{self as task_templates, CheckContext, TemplateKind};
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
                    problems.extend(task_templates::check(
                        kind,
                        &value,
                        &text,
                        display,
                        &check_context,
                    ));
                }
                Err(problem) => problems.push(problem),
            }
        }
    }
    (names, problems)
}
