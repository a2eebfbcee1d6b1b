//! `rollback <STACK> [--service NAME] [--to REVISION]`: point services back at
//! an earlier release from their history, and wait the same way as a deploy.

use std::time::Duration;

use serde::Serialize;

use super::Context;
use crate::aws::Aws;
use crate::cli::RollbackArgs;
use crate::error::Interrupted;
use crate::error::{InputError, Problem};
use crate::ops::rollback::{self, Back, RolledBack};
use crate::ops::select_services;
use crate::release::history::{self, Outcome};
use crate::ui::confirm;
use crate::validation;

#[derive(Serialize)]
struct Report {
    stack: String,
    services: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    service: String,
    from: String,
    to: String,
    result: Outcome,
}

pub async fn run(context: &Context, args: &RollbackArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let services = select_services(&stack, &args.service)?;
    if let Some(to) = &args.to {
        history::check_target_argument(to).map_err(InputError::one)?;
        // Revision numbers are per task definition family, so per service.
        if services.len() > 1 {
            return Err(InputError::one(
                Problem::new(format!(
                    "--to {to} names a revision of one service, and the stack has {}",
                    services.len()
                ))
                .in_file(&stack.file)
                .fix(format!(
                    "add --service, one of: {}",
                    services
                        .iter()
                        .map(|service| service.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            )
            .into());
        }
    }
    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    // Rolling back the whole stack, a service with nothing to go back to (never
    // deployed, or no earlier release) is passed over and said so, rather than
    // holding back the others; one named with --service is an error.
    let whole_stack = args.service.is_empty() && services.len() > 1;
    let plan = rollback::plan(
        printer,
        &aws,
        &stack,
        &services,
        args.to.as_deref(),
        whole_stack,
    )
    .await?;
    if plan.services.is_empty() && plan.passed_over.len() == services.len() {
        // Each reason was said above as a warning; nothing remote failed.
        return Err(InputError::one(
            Problem::new(format!(
                "no service has anything to roll back ({} services passed over, see above)",
                plan.passed_over.len()
            ))
            .fix(format!(
                "deploy a release first (`stackup deploy-release {}`), or name a revision with --service and --to",
                stack.name
            )),
        )
        .into());
    }
    if plan.services.is_empty() {
        printer.success("nothing to roll back");
        return print_report(
            printer,
            &Report {
                stack: stack.name.clone(),
                services: Vec::new(),
            },
        );
    }
    if !confirm("Roll back", context.global.yes).await? {
        anyhow::bail!("cancelled: nothing was changed");
    }
    let timeout = args
        .timeout
        .map(Duration::from)
        .unwrap_or(stack.deploy.timeout);
    let mut results = Vec::new();
    let mut failed = Vec::new();
    let mut interrupted = Vec::new();
    for RolledBack {
        service,
        from,
        to,
        back,
    } in rollback::apply(printer, &aws, &stack, plan, timeout).await?
    {
        match &back {
            Back::Runs => {}
            Back::Failed(reason) => failed.push(format!("{service} ({reason})")),
            Back::TimedOut(_) => failed.push(format!(
                "{service} (not done within {}; ECS carries on with it)",
                humantime::format_duration(timeout)
            )),
            Back::Interrupted => interrupted.push((service.clone(), history::revision_of(&to))),
        }
        results.push(Row {
            service,
            from,
            to,
            result: back.result(),
        });
    }
    let report = Report {
        stack: stack.name.clone(),
        services: results,
    };
    // A closed stdout (`| head`) loses the report, not the outcome: a failure
    // or an interruption still ends the run as such.
    let printed = print_report(printer, &report);
    if !failed.is_empty() {
        anyhow::bail!("the rollback of {} did not complete", failed.join(", "));
    }
    if !interrupted.is_empty() {
        let each = interrupted
            .iter()
            .map(|(service, revision)| {
                format!(
                    "the rollback of service {service} to revision {revision} continues in ECS without stackup (recorded as interrupted). Run `stackup rollback {} --service {service} --to {revision}` again to follow it to its end",
                    stack.name
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Interrupted(each).into());
    }
    printed
}

fn print_report(printer: &crate::ui::Printer, report: &Report) -> anyhow::Result<()> {
    if printer.is_json() {
        printer.json(report)
    } else {
        printer.data(
            &report
                .services
                .iter()
                .map(|result| {
                    format!(
                        "{}  {}  revision {}\n",
                        result.service,
                        result.result,
                        history::revision_of(&result.to)
                    )
                })
                .collect::<String>(),
        )
    }
}
