//! `validate <STACK>`: the stack file and every template it names, offline.

use std::collections::BTreeSet;

use serde::Serialize;

use super::Context;
use crate::cli::StackArgs;
use crate::config::{self, StackConfig};
use crate::error::{InputError, Problem};
use crate::release::templates::{self as task_templates, CheckContext, TemplateKind};
use crate::templates::{Layer, Template};

#[derive(Serialize)]
struct Report<'a> {
    stack: &'a str,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack_id: Option<String>,
    templates: Vec<String>,
    problems: Vec<ProblemReport>,
}

#[derive(Serialize)]
struct ProblemReport {
    file: Option<String>,
    line: Option<usize>,
    key: Option<String>,
    message: String,
    fix: Option<String>,
}

impl From<&Problem> for ProblemReport {
    fn from(problem: &Problem) -> Self {
        ProblemReport {
            file: problem.file.as_ref().map(|file| file.display().to_string()),
            line: problem.line,
            key: problem.key.clone(),
            message: problem.message.clone(),
            fix: problem.fix.clone(),
        }
    }
}

pub fn run(context: &Context, args: &StackArgs) -> anyhow::Result<()> {
    let (stack_id, templates, problems) =
        match config::load(&context.global.config_dir, &args.stack) {
            Ok(stack) => {
                let (templates, problems) = check_templates(&stack);
                (Some(stack.stack_id()), templates, problems)
            }
            Err(error) => (None, Vec::new(), error.problems),
        };
    let valid = problems.is_empty();
    if context.printer.is_json() {
        context.printer.json(&Report {
            stack: &args.stack,
            valid,
            stack_id: stack_id.clone(),
            templates: templates.clone(),
            problems: problems.iter().map(ProblemReport::from).collect(),
        })?;
    }
    if !valid {
        return Err(InputError::new(problems).into());
    }
    if !context.printer.is_json() {
        context.printer.data(&format!(
            "{}: valid ({}; checked {})\n",
            args.stack,
            stack_id.unwrap_or_default(),
            templates.join(", ")
        ))?;
    }
    Ok(())
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
                problems.extend(template.check());
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
