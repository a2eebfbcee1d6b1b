//! `create-stack <STACK> [--dry-run]` (alias `update-stack`): plan, then per
//! CloudFormation stack (network, then platform) a change set that is shown,
//! confirmed, executed and followed until it settles.

use serde::Serialize;

use super::Context;
use crate::amis;
use crate::aws::cloudformation::{CloudFormation, StackInfo, StackStatus};
use crate::aws::{ec2, ssm, Aws};
use crate::cli::CreateStackArgs;
use crate::config::StackConfig;
use crate::engine_upgrade;
use crate::error::{Failure, InputError, Problem};
use crate::ops::apply_stack::{apply_layer, LayerResult};
use crate::ops::secrets_key_stack;
use crate::ops::stack_guard::{self};
use crate::secret::Secret;
use crate::secrets_key;
use crate::stacks::{self, LayerSummary, PlanSummary};
use crate::templates::{Layer, Template};
use crate::validation;

/// Length of a generated master password (RDS allows 8-128 printable characters).
const MASTER_PASSWORD_LENGTH: usize = 40;

#[derive(Serialize)]
struct Report {
    stack: String,
    stack_id: String,
    stacks: Vec<LayerResult>,
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
    let secrets_key = secrets_key_stack::plan(&cloudformation, &stack).await?;
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
    platform.keep_discovery_slots(
        &stack,
        current[1].as_ref().map(|platform| &platform.parameters),
    )?;
    let engine_upgrade = engine_upgrade::plan(
        &stack,
        current[1].as_ref().map(|platform| &platform.parameters),
    )?;
    if engine_upgrade.is_some() {
        engine_upgrade::allow_for_this_run(&mut platform);
    }
    // What the update would replace, and consent for what holds state.
    let allowed = &args.allow_replacement;
    let guards = [
        stack_guard::plan(&cloudformation, &network, current[0].as_ref(), allowed).await?,
        stack_guard::plan(&cloudformation, &platform, current[1].as_ref(), allowed).await?,
    ];
    let refusals = stack_guard::refusals(
        &stack,
        &[
            (network.stack_name.as_str(), &guards[0]),
            (platform.stack_name.as_str(), &guards[1]),
        ],
        allowed,
    );

    let summary = PlanSummary {
        stack_id: stack.stack_id(),
        region: aws.region().to_string(),
        availability_zones: zones.clone(),
        subnets,
        nat: stack.network.nat.as_str().to_string(),
        amis,
        engine_upgrade,
        billed_hourly: crate::costs::count(&stack, zones.len()),
        bastion_replaced: crate::bastion::replacement_note(
            &stack,
            &guards[1].replacements,
            current[1].as_ref().map(|platform| &platform.outputs),
        ),
        hosts_replaced: crate::host_roll::roll_note(
            &platform.template.body,
            current[1].as_ref().map(|platform| &platform.parameters),
            &platform.displayed_parameters(),
        ),
        stacks: [&network, &platform]
            .iter()
            .zip(&current)
            .zip(&guards)
            .map(|((layer, current), guard)| LayerSummary {
                layer: layer.layer.name(),
                stack_name: layer.stack_name.clone(),
                template: layer.template.display_name(),
                template_sha256: layer.template.sha256(),
                action: planned_action(current.as_ref()),
                parameters: layer.displayed_parameters(),
                tags: layer.tags.clone(),
                replaces: guard.replacements.clone(),
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
    printer.info(secrets_key.describe());
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
        if !refusals.is_empty() {
            return Err(InputError::new(refusals).into());
        }
        return Ok(());
    }
    printer.info(plan_text(&summary, &password_note, false));
    if !refusals.is_empty() {
        return Err(InputError::new(refusals).into());
    }

    // The key first: the master password is encrypted with it.
    secrets_key_stack::apply(
        printer,
        &cloudformation,
        &stack,
        secrets_key,
        context.global.yes,
    )
    .await?;
    let key_id = secrets_key::key_alias(&stack);
    let mut results = Vec::new();
    let mut password_stored = !password_is_new;
    // Said when a run stops in the network stack: the platform is untouched.
    let platform_untouched = format!("{} was not started. ", platform.stack_name);
    for ((mut layer, current), guard) in [network, platform].into_iter().zip(current).zip(&guards) {
        // The network stack as it is now (just created or updated) feeds the platform.
        if layer.layer == Layer::Platform {
            let network_outputs = results
                .first()
                .map(|network: &LayerResult| &network.outputs);
            layer.fill_from_network(network_outputs);
        }
        let store_password = (layer.layer == Layer::Platform && !password_stored).then(|| {
            password_stored = true;
            (password_parameter.clone(), password.clone(), key_id.clone())
        });
        let untouched = match layer.layer {
            Layer::Network => platform_untouched.as_str(),
            Layer::Platform => "",
        };
        let result = apply_layer(
            &context.printer,
            context.global.yes,
            &cloudformation,
            &ssm_client,
            &layer,
            current,
            store_password,
            &stack.name,
            untouched,
            guard,
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
            // Settled, and not after a failure: complete, or held for review.
            Some(info) if info.status.is_settled() && !info.status.is_failed() => {}
            Some(info) => {
                return Err(Failure::new(format!(
                    "upstream stack {upstream} ([upstream] {name} in {}) is {}",
                    stack.file.display(),
                    info.status
                ))
                .hint(format!(
                    "wait until it settles, then run `stackup create-stack {}` again",
                    stack.name
                ))
                .into())
            }
            None => {
                return Err(Failure::new(format!(
                    "upstream stack {upstream} ([upstream] {name} in {}) does not exist in this account and region",
                    stack.file.display()
                ))
                .hint("create it first, or correct the name")
                .into())
            }
        }
    }
    Ok(())
}

fn planned_action(current: Option<&StackInfo>) -> String {
    match current {
        None => "create".to_string(),
        Some(stack) if stack.status == StackStatus::ReviewInProgress => "create".to_string(),
        Some(stack) if stack.status == StackStatus::RollbackComplete => {
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
        for replaced in &layer.replaces {
            text.push_str(&format!(
                "      replaces {} ({}{}): {}\n",
                replaced.logical_id,
                replaced.resource_type,
                if replaced.stateful {
                    ", holds state"
                } else {
                    ""
                },
                replaced.because.join("; ")
            ));
        }
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
    if let Some(note) = &summary.bastion_replaced {
        text.push_str(&format!("  bastion: {note}\n"));
    }
    if let Some(note) = &summary.hosts_replaced {
        text.push_str(&format!("  hosts: {note}\n"));
    }
    if let Some(upgrade) = &summary.engine_upgrade {
        text.push_str(&format!("  database: {}\n", upgrade.describe()));
    }
    text.push_str(&format!("  master password: {password_note}\n"));
    text.push_str(&format!("  {}\n", summary.billed_hourly.line()));
    text
}
