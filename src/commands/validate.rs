//! `validate <STACK>`: the stack file and every template it names, offline.

use serde::Serialize;

use super::Context;
use crate::cli::StackArgs;
use crate::error::{InputError, Problem};
use crate::validation::{self, check_database_files, cookie_warnings};

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
    let checked = match validation::check_stack(&context.global.config_dir, &args.stack) {
        Ok(checked) => checked,
        // Nothing to read (no file, not TOML): its problems are the report.
        Err(error) => validation::Checked {
            stack: None,
            templates: Vec::new(),
            problems: error.problems,
            stack_file_valid: false,
        },
    };
    let mut problems = checked.problems;
    let (stack_id, warnings) = match &checked.stack {
        Some(stack) => {
            problems.extend(check_database_files(stack));
            let mut warnings = cookie_warnings(stack, stack.services.values());
            // Hosts and instance types are read only from a whole stack file.
            if checked.stack_file_valid {
                let capacity = crate::release::capacity::check(stack);
                problems.extend(capacity.problems);
                warnings.extend(capacity.warnings);
            }
            warnings.extend(validation::host_access_warnings(
                stack,
                stack.services.values(),
            ));
            // Said of a stack that is otherwise ready to go to AWS.
            if problems.is_empty() {
                warnings.extend(validation::database_tls_warning(stack));
            }
            (checked.stack_file_valid.then(|| stack.stack_id()), warnings)
        }
        None => (None, Vec::new()),
    };
    let templates = checked.templates;
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
