//! `delete-stack <STACK>`: platform, then network; refuses while another stack
//! depends on them.

use serde::Serialize;

use super::Context;
use crate::aws::cloudformation::{CloudFormation, StackInfo};
use crate::aws::Aws;
use crate::cli::StackArgs;
use crate::config;
use crate::error::Failure;
use crate::ops::ids::{client_token, timestamp};
use crate::ops::stack_events::{describe_failures, existing_events, follow};
use crate::ui::confirm;

#[derive(Serialize)]
struct Report {
    stack: String,
    stack_id: String,
    deleted: Vec<String>,
}

pub async fn run(context: &Context, args: &StackArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = config::load(&context.global.config_dir, &args.stack)?;
    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let cloudformation = CloudFormation::new(aws.cloudformation());

    let names = [stack.platform_stack_name(), stack.network_stack_name()];
    let mut existing: Vec<StackInfo> = Vec::new();
    for name in &names {
        if let Some(info) = cloudformation.describe(name).await? {
            existing.push(info);
        }
    }
    if existing.is_empty() {
        printer.success(format!(
            "{} does not exist: nothing to delete",
            stack.stack_id()
        ));
        return finish(context, &stack, Vec::new());
    }

    // Refuse while any stack outside this pair imports what this pair exports.
    let ours: Vec<&str> = existing.iter().map(|info| info.id.as_str()).collect();
    let our_names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut dependents = Vec::new();
    for export in cloudformation.exports().await? {
        if !ours.contains(&export.exporting_stack_id.as_str()) {
            continue;
        }
        for importer in cloudformation.importers(&export.name).await? {
            if !our_names.contains(&importer.as_str()) {
                dependents.push(format!("{importer} imports {}", export.name));
            }
        }
    }
    if !dependents.is_empty() {
        return Err(Failure::new(format!(
            "refusing to delete {}: other stacks depend on it:\n  {}",
            stack.stack_id(),
            dependents.join("\n  ")
        ))
        .hint("delete those stacks (or remove their imports) first")
        .into());
    }
    if let Some(platform) = existing.iter().find(|info| info.name == names[0]) {
        if platform
            .parameters
            .get("DatabaseDeletionProtection")
            .map(String::as_str)
            == Some("true")
        {
            return Err(Failure::new(format!(
                "refusing to delete {}: its database has deletion protection on",
                platform.name
            ))
            .hint(format!(
                "set `deletion_protection = false` in [database] of {}, run `stackup create-stack {}`, then run `stackup delete-stack {}` again",
                stack.file.display(),
                stack.name,
                stack.name
            ))
            .into());
        }
    }

    // deploy-release creates services outside CloudFormation; a cluster with
    // services cannot be deleted, so they go first.
    let cluster = existing
        .iter()
        .find(|info| info.name == names[0])
        .and_then(|platform| platform.outputs.get("ClusterName").cloned());
    let ecs_client = aws.ecs();
    let services = match &cluster {
        Some(cluster) => crate::aws::ecs::list_services(&ecs_client, cluster).await?,
        None => Vec::new(),
    };
    for service in &services {
        printer.info(format!("will delete ECS service {service} and its tasks"));
    }
    for info in &existing {
        printer.info(format!("will delete {} ({})", info.name, info.status));
    }
    printer.info(format!(
        "SSM parameters under {} are kept (the database master password is needed to restore the final snapshot)",
        stack.parameter_prefix()
    ));
    let question = format!("Delete {} and everything in it", stack.stack_id());
    if !confirm(&question, context.global.yes).await? {
        anyhow::bail!("cancelled: nothing was deleted");
    }

    let resume = format!(
        "Run `stackup delete-stack {}` again to follow it.",
        stack.name
    );
    let mut deleted = Vec::new();
    if let Some(cluster) = &cluster {
        for service in &services {
            crate::aws::ecs::delete_service(
                &ecs_client,
                cluster,
                service,
                std::time::Duration::from_secs(600),
            )
            .await?;
            printer.success(format!("deleted ECS service {service}"));
            deleted.push(format!("service {service}"));
        }
    }
    for info in &existing {
        let mut seen = existing_events(&cloudformation, &info.name).await?;
        if info.is_busy() {
            // Let CloudFormation finish what it is doing (it may be deleting already).
            printer.info(format!(
                "{} is {}: following it until it settles",
                info.name, info.status
            ));
            if follow(printer, &cloudformation, &info.name, &mut seen, &resume)
                .await?
                .stack
                .is_none()
            {
                printer.success(format!("{} deleted", info.name));
                deleted.push(info.name.clone());
                continue;
            }
        }
        // Confirmed above: the stack's termination protection, which create-stack
        // turns on, is lifted for this delete only.
        cloudformation
            .set_termination_protection(&info.name, false)
            .await?;
        cloudformation
            .delete_stack(
                &info.name,
                &client_token("delete", &format!("{}-{}", info.name, timestamp())),
            )
            .await?;
        let followed = follow(printer, &cloudformation, &info.name, &mut seen, &resume).await?;
        if let Some(left) = followed.stack {
            // Not deleted: protected again, as it was (a run again lifts it again).
            cloudformation
                .set_termination_protection(&info.name, true)
                .await?;
            let reason = left
                .status_reason
                .as_deref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default();
            return Err(crate::error::Failure::new(format!(
                "{} is {} and was not deleted{reason}{}",
                left.name,
                left.status,
                describe_failures(&followed.failures)
            ))
            .hint(format!(
                "fix what blocks it, then run `stackup delete-stack {}` again",
                stack.name
            ))
            .into());
        }
        printer.success(format!("{} deleted", info.name));
        deleted.push(info.name.clone());
    }
    finish(context, &stack, deleted)
}

fn finish(
    context: &Context,
    stack: &config::StackConfig,
    deleted: Vec<String>,
) -> anyhow::Result<()> {
    let report = Report {
        stack: stack.name.clone(),
        stack_id: stack.stack_id(),
        deleted,
    };
    if context.printer.is_json() {
        context.printer.json(&report)
    } else {
        context.printer.data(
            &report
                .deleted
                .iter()
                .map(|name| format!("deleted {name}\n"))
                .collect::<String>(),
        )
    }
}
