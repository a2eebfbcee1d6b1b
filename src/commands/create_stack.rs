//! `create-stack <STACK> [--dry-run]` (alias `update-stack`): plan, then per
//! CloudFormation stack (network, then platform) a change set that is shown,
//! confirmed, executed and followed until it settles.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Context;
use crate::amis;
use crate::aws::cloudformation::{
    status_kind, ChangeSetOutcome, ChangeSetRequest, CloudFormation, ResourceChangeInfo, StackInfo,
    StatusKind,
};
use crate::aws::{ec2, ssm, Aws};
use crate::cli::CreateStackArgs;
use crate::config::StackConfig;
use crate::error::{InputError, Problem};
use crate::ops::ids::{client_token, timestamp};
use crate::ops::stack_events::{describe_failures, existing_events, follow};
use crate::secret::Secret;
use crate::stacks::{self, LayerPlan, LayerSummary, PlanSummary};
use crate::templates::{Layer, Template};
use crate::ui::{confirm, Printer};
use crate::validation;

/// Length of a generated master password (RDS allows 8-128 printable characters).
const MASTER_PASSWORD_LENGTH: usize = 40;

#[derive(Serialize)]
struct Report {
    stack: String,
    stack_id: String,
    stacks: Vec<LayerResult>,
}

#[derive(Serialize)]
struct LayerResult {
    layer: &'static str,
    name: String,
    status: String,
    /// created, updated or unchanged.
    result: &'static str,
    outputs: BTreeMap<String, String>,
}

pub async fn run(context: &Context, args: &CreateStackArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let cloudformation = CloudFormation::new(aws.cloudformation());
    let ssm_client = aws.ssm();

    // The plan: zones, subnets, parameters. Reads only.
    let available = ec2::available_zones(&aws.ec2()).await?;
    let zones = stacks::choose_zones(&stack, aws.region(), &available)?;
    let subnets = stacks::subnet_plan(&stack, &zones)?;
    check_upstream(&stack, &cloudformation).await?;
    let password_parameter = stack.master_password_parameter();
    let existing_password = ssm::get_secret(&ssm_client, &password_parameter).await?;
    let password_is_new = existing_password.is_none();
    let password = existing_password.unwrap_or_else(|| Secret::generate(MASTER_PASSWORD_LENGTH));
    let current = [
        cloudformation.describe(&stack.network_stack_name()).await?,
        cloudformation
            .describe(&stack.platform_stack_name())
            .await?,
    ];
    let amis = choose_amis(&stack, current[1].as_ref(), args.refresh_amis, &ssm_client).await?;
    let network = stacks::network_layer(&stack, load_template(&stack, Layer::Network)?, &subnets);
    let mut platform = stacks::platform_layer(
        &stack,
        load_template(&stack, Layer::Platform)?,
        zones.len(),
        password.clone(),
        &amis,
    );
    platform.fill_from_network(current[0].as_ref().map(|network| &network.outputs));

    let summary = PlanSummary {
        stack_id: stack.stack_id(),
        region: aws.region().to_string(),
        availability_zones: zones.clone(),
        subnets,
        nat: stack.network.nat.as_str().to_string(),
        amis,
        stacks: [&network, &platform]
            .iter()
            .zip(&current)
            .map(|(layer, current)| LayerSummary {
                layer: layer.layer.name(),
                stack_name: layer.stack_name.clone(),
                template: layer.template.display_name(),
                template_sha256: layer.template.sha256(),
                action: planned_action(current.as_ref()),
                parameters: layer.displayed_parameters(),
                tags: layer.tags.clone(),
            })
            .collect(),
    };
    // HTTPS needs a certificate of the load balancer's own region; without
    // one the stack serves plain HTTP, which is worth saying every time.
    match &stack.load_balancer.certificate_arn {
        Some(arn) if arn.split(':').nth(3) != Some(aws.region()) => {
            return Err(InputError::one(
                Problem::new(format!(
                    "load_balancer.certificate_arn is a certificate of {}, but the stack goes to {}: a load balancer takes certificates of its own region only",
                    arn.split(':').nth(3).unwrap_or_default(),
                    aws.region()
                ))
                .in_file(&stack.file)
                .fix("request or import the certificate in ACM in the stack's region"),
            )
            .into());
        }
        Some(_) => {}
        None => printer.warn(
            "no [load_balancer] certificate_arn: the load balancer serves plain HTTP on port 80; set it to an ACM certificate to serve HTTPS on 443 (HTTP then redirects to it)",
        ),
    }
    let password_note = if password_is_new {
        format!("{password_parameter} (SecureString) will be created with a random password")
    } else {
        format!("{password_parameter} (SecureString) exists")
    };
    if args.dry_run {
        if printer.is_json() {
            printer.json(&serde_json::json!({
                "dry_run": true,
                "plan": summary,
                "master_password_parameter": password_parameter,
                "master_password_exists": !password_is_new,
            }))?;
        } else {
            printer.data(&plan_text(&summary, &password_note, true))?;
        }
        printer.info("dry run: nothing was changed");
        return Ok(());
    }
    printer.info(plan_text(&summary, &password_note, false));

    let mut results = Vec::new();
    let mut password_stored = !password_is_new;
    // Said when a run stops in the network stack: the platform is untouched.
    let platform_untouched = format!("{} was not started. ", platform.stack_name);
    for (mut layer, current) in [network, platform].into_iter().zip(current) {
        // The network stack as it is now (just created or updated) feeds the platform.
        if layer.layer == Layer::Platform {
            let network_outputs = results
                .first()
                .map(|network: &LayerResult| &network.outputs);
            layer.fill_from_network(network_outputs);
        }
        let store_password = (layer.layer == Layer::Platform && !password_stored).then(|| {
            password_stored = true;
            (password_parameter.clone(), password.clone())
        });
        let untouched = match layer.layer {
            Layer::Network => platform_untouched.as_str(),
            Layer::Platform => "",
        };
        let result = apply_layer(
            context,
            &cloudformation,
            &ssm_client,
            &layer,
            current,
            store_password,
            &stack.name,
            untouched,
        )
        .await?;
        results.push(result);
    }

    let report = Report {
        stack: stack.name.clone(),
        stack_id: stack.stack_id(),
        stacks: results,
    };
    if printer.is_json() {
        printer.json(&report)
    } else {
        let mut text = String::new();
        for layer in &report.stacks {
            text.push_str(&format!(
                "{}  {}  {}\n",
                layer.name, layer.status, layer.result
            ));
            let width = layer.outputs.keys().map(String::len).max().unwrap_or(0);
            for (key, value) in &layer.outputs {
                text.push_str(&format!("  {key:<width$}  {value}\n"));
            }
        }
        printer.data(&text)
    }
}

/// The images of the ECS hosts and the bastion: those the stack runs, kept,
/// or the newest AWS publishes for the instance type's architecture (see
/// `amis`).
async fn choose_amis(
    stack: &StackConfig,
    platform: Option<&StackInfo>,
    refresh: bool,
    ssm_client: &aws_sdk_ssm::Client,
) -> anyhow::Result<Vec<amis::Chosen>> {
    let instance_type = |role: amis::Role| match role {
        amis::Role::Hosts => stack.cluster.instance_type.as_str(),
        amis::Role::Bastion => stack.bastion.instance_type.as_str(),
    };
    let choices: Vec<(amis::Role, amis::Choice)> = amis::Role::ALL
        .into_iter()
        .map(|role| {
            let choice = amis::choose(
                role,
                instance_type(role),
                platform.map(|platform| &platform.parameters),
                refresh,
            );
            (role, choice)
        })
        .collect();
    let wanted: Vec<String> = choices
        .iter()
        .filter_map(|(_, choice)| match choice {
            amis::Choice::Newest { parameter, .. } => Some(parameter.to_string()),
            amis::Choice::Keep(_) => None,
        })
        .collect();
    let published = if wanted.is_empty() {
        Default::default()
    } else {
        ssm::values(ssm_client, &wanted).await?
    };
    choices
        .into_iter()
        .map(|(role, choice)| {
            let architecture = amis::architecture_of(instance_type(role)).as_str();
            let (ami, source) = match choice {
                amis::Choice::Keep(ami) => (ami, "kept".to_string()),
                amis::Choice::Newest { parameter, why } => {
                    let ami = published.get(parameter).cloned().ok_or_else(|| {
                        anyhow::anyhow!(
                            "AWS publishes no {} image for {architecture} in this region (SSM parameter {parameter} is missing)",
                            role.name()
                        )
                    })?;
                    (ami, format!("newest, from {parameter} ({why})"))
                }
            };
            anyhow::Ok(amis::Chosen {
                role: role.name(),
                architecture,
                ami,
                source,
            })
        })
        .collect()
}

fn load_template(stack: &StackConfig, layer: Layer) -> Result<Template, InputError> {
    Template::load(stack, layer).map_err(InputError::one)
}

/// Every `[upstream]` stack must exist and be settled: its exports are pinned.
async fn check_upstream(
    stack: &StackConfig,
    cloudformation: &CloudFormation,
) -> anyhow::Result<()> {
    for (name, upstream) in &stack.upstream {
        match cloudformation.describe(upstream).await? {
            Some(info) if status_kind(&info.status) == StatusKind::Succeeded => {}
            Some(info) => anyhow::bail!(
                "upstream stack {upstream} ([upstream] {name} in {}) is {}; wait until it settles, then run create-stack again",
                stack.file.display(),
                info.status
            ),
            None => anyhow::bail!(
                "upstream stack {upstream} ([upstream] {name} in {}) does not exist in this account and region; create it first, or correct the name",
                stack.file.display()
            ),
        }
    }
    Ok(())
}

fn planned_action(current: Option<&StackInfo>) -> String {
    match current {
        None => "create".to_string(),
        Some(stack) if stack.status == "REVIEW_IN_PROGRESS" => "create".to_string(),
        Some(stack) if stack.status == "ROLLBACK_COMPLETE" => {
            "replace the failed stack (ROLLBACK_COMPLETE)".to_string()
        }
        Some(stack) if stack.is_busy() => {
            format!("wait for {} to settle, then update", stack.status)
        }
        Some(_) => "update".to_string(),
    }
}

fn plan_text(summary: &PlanSummary, password_note: &str, dry_run: bool) -> String {
    let mut text = format!(
        "Plan for {} in {}: zones {}, NAT {}\n",
        summary.stack_id,
        summary.region,
        summary.availability_zones.join(", "),
        summary.nat
    );
    text.push_str(&format!("  VPC {}\n", summary.subnets.vpc));
    for (tier, zone, cidr) in summary.subnets.rows() {
        text.push_str(&format!("  {tier:<8} {zone:<16} {cidr}\n"));
    }
    for layer in &summary.stacks {
        text.push_str(&format!(
            "  {}: {} ({}, sha256 {})\n",
            layer.stack_name,
            layer.action,
            layer.template,
            &layer.template_sha256[..12]
        ));
        if dry_run {
            for (key, value) in layer
                .parameters
                .iter()
                .filter(|(_, value)| !value.is_empty())
            {
                text.push_str(&format!("      {key} = {value}\n"));
            }
        }
    }
    for chosen in &summary.amis {
        text.push_str(&format!(
            "  {} image: {} ({}, {})\n",
            chosen.role, chosen.ami, chosen.architecture, chosen.source
        ));
    }
    text.push_str(&format!("  master password: {password_note}\n"));
    text
}

fn show_changes(printer: &Printer, stack_name: &str, changes: &[ResourceChangeInfo]) {
    printer.info(format!("{stack_name}: {} change(s)", changes.len()));
    let width = changes
        .iter()
        .map(|change| change.logical_id.len())
        .max()
        .unwrap_or(0);
    for change in changes {
        let marker = match change.action.as_str() {
            "Add" => printer.paint("32", "+"),
            "Remove" => printer.paint("31", "-"),
            _ => printer.paint("33", "~"),
        };
        let replacement = match change.replacement.as_deref() {
            Some("True") => printer.paint("31", "  (replaced)"),
            Some("Conditional") => printer.paint("33", "  (may be replaced)"),
            _ => String::new(),
        };
        printer.info(format!(
            "  {marker} {:<8} {:<width$} {}{replacement}",
            change.action, change.logical_id, change.resource_type
        ));
    }
}

/// Create or update one CloudFormation stack. `untouched` names, for the
/// messages of a run that stops here, what it has not started yet.
#[expect(
    clippy::too_many_arguments,
    reason = "one layer's whole context; called once per layer"
)]
async fn apply_layer(
    context: &Context,
    cloudformation: &CloudFormation,
    ssm_client: &aws_sdk_ssm::Client,
    layer: &LayerPlan,
    mut current: Option<StackInfo>,
    store_password: Option<(String, Secret)>,
    stack_file: &str,
    untouched: &str,
) -> anyhow::Result<LayerResult> {
    let resume = &format!(
        "{untouched}Run `stackup create-stack {stack_file}` again to follow it to its end and continue."
    );
    let printer = &context.printer;
    let name = &layer.stack_name;

    // A stack CloudFormation is still working on: follow it to the end first.
    if let Some(stack) = current.as_ref().filter(|stack| stack.is_busy()) {
        printer.info(format!(
            "{name} is {}: following it until it settles",
            stack.status
        ));
        let mut seen = existing_events(cloudformation, name).await?;
        current = follow(printer, cloudformation, name, &mut seen, resume)
            .await?
            .stack;
    }
    match current.as_ref().map(|stack| stack.status.as_str()) {
        Some("ROLLBACK_COMPLETE" | "ROLLBACK_FAILED") => {
            let status = current.as_ref().map(|stack| stack.status.clone()).unwrap_or_default();
            printer.warn(format!("{name} failed to create earlier ({status}) and must be deleted before it can be created again"));
            if !confirm(&format!("Delete the failed stack {name} and create it again"), context.global.yes).await? {
                anyhow::bail!("cancelled: {name} was left as it is ({status})");
            }
            let mut seen = existing_events(cloudformation, name).await?;
            cloudformation
                .delete_stack(name, &client_token("delete", &format!("{name}-{}", timestamp())))
                .await?;
            let followed = follow(printer, cloudformation, name, &mut seen, resume).await?;
            if let Some(stack) = followed.stack {
                anyhow::bail!(
                    "{name} could not be deleted ({}){}",
                    stack.status,
                    describe_failures(&followed.failures)
                );
            }
            current = None;
        }
        Some("UPDATE_ROLLBACK_FAILED") => anyhow::bail!(
            "{name} is UPDATE_ROLLBACK_FAILED: CloudFormation could not roll back an update. Fix the resource it names, run `aws cloudformation continue-update-rollback --stack-name {name}`, then run create-stack again"
        ),
        Some("DELETE_FAILED") => anyhow::bail!(
            "{name} is DELETE_FAILED: run `stackup delete-stack` again after fixing what blocked it"
        ),
        _ => {}
    }
    let create = current
        .as_ref()
        .is_none_or(|stack| stack.status == "REVIEW_IN_PROGRESS");

    let change_set_name = format!("stackup-{}", timestamp());
    let request = ChangeSetRequest {
        stack_name: name.clone(),
        change_set_name: change_set_name.clone(),
        create,
        template_body: layer.template_body(),
        parameters: layer.parameters.clone(),
        tags: layer.tags.clone(),
        client_token: client_token(&change_set_name, name),
    };
    let change_set = cloudformation.create_change_set(&request).await?;
    let outcome = cloudformation
        .wait_for_change_set(&change_set, std::time::Duration::from_secs(300))
        .await?;
    let changes = match outcome {
        ChangeSetOutcome::NoChanges => {
            // AWS keeps failed change sets around; tidy up, it is not an error.
            let _ = cloudformation.delete_change_set(&change_set).await;
            printer.success(format!("{name}: no changes"));
            let stack = current.unwrap_or_else(|| unreachable_stack(name));
            return Ok(LayerResult {
                layer: layer.layer.name(),
                name: name.clone(),
                status: stack.status,
                result: "unchanged",
                outputs: stack.outputs,
            });
        }
        ChangeSetOutcome::Failed(reason) => {
            let _ = cloudformation.delete_change_set(&change_set).await;
            anyhow::bail!("CloudFormation refused the change set for {name}: {reason}");
        }
        ChangeSetOutcome::Ready(changes) => changes,
    };
    show_changes(printer, name, &changes);
    let verb = if create { "Create" } else { "Update" };
    let answer = confirm(
        &format!("{verb} {name} with these changes"),
        context.global.yes,
    )
    .await;
    if !matches!(answer, Ok(true)) {
        // Refused (no terminal), declined or interrupted: what showing the
        // changes made goes too, so that "not changed" is true.
        discard_review(printer, cloudformation, &change_set, name, create).await?;
        return Err(match answer {
            Err(refused) => refused,
            Ok(_) => anyhow::anyhow!("cancelled: {name} was not changed"),
        });
    }
    if let Some((parameter, password)) = store_password {
        let stored = ssm::create_secret(
            ssm_client,
            &parameter,
            password.clone(),
            "RDS master password (stackup)",
        )
        .await?;
        if stored != password {
            let _ = cloudformation.delete_change_set(&change_set).await;
            anyhow::bail!("{parameter} was created by someone else meanwhile; run create-stack again to use it");
        }
        printer.success(format!(
            "stored the database master password in {parameter}"
        ));
    }

    let mut seen = if create {
        Default::default()
    } else {
        existing_events(cloudformation, name).await?
    };
    cloudformation
        .execute_change_set(
            &change_set,
            &client_token("execute", &format!("{name}-{change_set_name}")),
        )
        .await?;
    let followed = follow(printer, cloudformation, name, &mut seen, resume).await?;
    let Some(stack) = followed.stack else {
        anyhow::bail!(
            "{name} disappeared while it was being {}d",
            verb.to_lowercase()
        );
    };
    match status_kind(&stack.status) {
        StatusKind::Succeeded => {
            printer.success(format!("{name}: {}", stack.status));
            Ok(LayerResult {
                layer: layer.layer.name(),
                name: name.clone(),
                status: stack.status,
                result: if create { "created" } else { "updated" },
                outputs: stack.outputs,
            })
        }
        _ => {
            let next = match stack.status.as_str() {
                "ROLLBACK_COMPLETE" => format!(
                    "creation failed and was rolled back. Fix the cause, then run `stackup create-stack {stack_file}` again: the failed stack will be replaced"
                ),
                "UPDATE_ROLLBACK_COMPLETE" => "the update failed and was rolled back: the stack is as it was before. Fix the cause and run create-stack again".to_string(),
                other => format!("the stack is {other}; look at its events with `stackup status`"),
            };
            anyhow::bail!(
                "{name} is {}: {next}{}",
                stack.status,
                describe_failures(&followed.failures)
            )
        }
    }
}

/// How long the stack created only to show a change set may take to go.
const REVIEW_STACK_DELETE_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Undo what showing a change set made: the change set, and for a change set
/// that creates the stack, the stack CloudFormation made to hold it
/// (REVIEW_IN_PROGRESS, no resources), waiting until it is gone.
async fn discard_review(
    printer: &Printer,
    cloudformation: &CloudFormation,
    change_set: &str,
    name: &str,
    create: bool,
) -> anyhow::Result<()> {
    cloudformation
        .delete_change_set(change_set)
        .await
        .map_err(|error| {
            error.context(format!(
                "{name} was not changed, but its change set could not be deleted; delete it with \
                 `aws cloudformation delete-change-set --change-set-name {change_set}`"
            ))
        })?;
    let leftover = |what: &str| {
        format!(
            "{name} was not changed, but {what}; delete it with `aws cloudformation delete-stack --stack-name {name}`"
        )
    };
    if !create {
        return Ok(());
    }
    match cloudformation.describe(name).await? {
        Some(stack) if stack.status == "REVIEW_IN_PROGRESS" => {}
        _ => return Ok(()),
    }
    printer.info(format!(
        "deleting {name}, which CloudFormation created only to show these changes"
    ));
    cloudformation
        .delete_stack(
            name,
            &client_token("discard", &format!("{name}-{}", timestamp())),
        )
        .await
        .map_err(|error| error.context(leftover("it stays in REVIEW_IN_PROGRESS")))?;
    let started = std::time::Instant::now();
    loop {
        let Some(stack) = cloudformation.describe(name).await? else {
            return Ok(());
        };
        if stack.status == "DELETE_FAILED" || started.elapsed() > REVIEW_STACK_DELETE_LIMIT {
            anyhow::bail!(leftover(&format!("it is still {}", stack.status)));
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// A stack that should exist but was not described: only when CloudFormation
/// reports "no changes" for a stack that does not exist, which it never does.
fn unreachable_stack(name: &str) -> StackInfo {
    StackInfo {
        name: name.to_string(),
        id: String::new(),
        status: "UNKNOWN".into(),
        status_reason: None,
        outputs: BTreeMap::new(),
        created: None,
        parameters: BTreeMap::new(),
        tags: BTreeMap::new(),
    }
}
