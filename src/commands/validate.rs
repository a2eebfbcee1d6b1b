//! `validate <STACK>`: the stack file and every template it names, offline.

use serde::Serialize;

use super::Context;
use crate::cli::StackArgs;
use crate::config;
use crate::error::{InputError, Problem};
use crate::validation::{check_database_files, check_templates, cookie_warnings};

#[derive(Serialize)]
struct Report<'a> {
    stack: &'a str,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack_id: Option<String>,
    templates: Vec<String>,
    problems: Vec<ProblemReport>,
    /// What does not stop a deploy but is likely a mistake.
    warnings: Vec<String>,
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
    let (stack_id, templates, problems, warnings) =
        match config::load(&context.global.config_dir, &args.stack) {
            Ok(stack) => {
                let (templates, mut problems) = check_templates(&stack);
                problems.extend(check_database_files(&stack));
                (
                    Some(stack.stack_id()),
                    templates,
                    problems,
                    cookie_warnings(&stack, stack.services.values()),
                )
            }
            Err(error) => (None, Vec::new(), error.problems, Vec::new()),
        };
    for warning in &warnings {
        context.printer.warn(warning);
    }
    let valid = problems.is_empty();
    if context.printer.is_json() {
        context.printer.json(&Report {
            stack: &args.stack,
            valid,
            stack_id: stack_id.clone(),
            templates: templates.clone(),
            problems: problems.iter().map(ProblemReport::from).collect(),
            warnings: warnings.clone(),
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
