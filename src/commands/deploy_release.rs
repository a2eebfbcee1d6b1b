//! `deploy-release <STACK> --image CONTAINER=IMAGE...`: register a task
//! definition revision when something changed, create or update the service,
//! wait for the rollout (or `--no-wait`), roll back on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use super::Context;
use crate::aws::Aws;
use crate::cli::DeployReleaseArgs;
use crate::config::StackConfig;
use crate::error::{InputError, Interrupted, Problem};
use crate::ops::deploy::{self, Planned, ServiceResult};
use crate::ops::{self, select_services};
use crate::release::history::{self, Outcome};
use crate::ui::{confirm, Printer};
use crate::validation;

#[derive(Serialize)]
struct Report {
    stack: String,
    release: String,
    services: Vec<ServiceResult>,
}

fn parse_images(args: &[String]) -> Result<BTreeMap<String, String>, InputError> {
    let mut images = BTreeMap::new();
    let mut problems = Vec::new();
    for arg in args {
        match arg.split_once('=') {
            Some((container, image)) if !container.is_empty() && !image.is_empty() => {
                if let Some(problem) = crate::release::placeholders::image_argument_problem(container, image) {
                    problems.push(problem);
                } else if images.insert(container.to_string(), image.to_string()).is_some() {
                    problems.push(Problem::new(format!("--image {container}=... is given twice")).fix("give each container once"));
                }
            }
            _ => problems.push(
                Problem::new(format!("--image {arg} is not CONTAINER=IMAGE"))
                    .fix("write it like --image web=123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo:1.4.2"),
            ),
        }
    }
    if problems.is_empty() {
        Ok(images)
    } else {
        Err(InputError::new(problems))
    }
}

pub async fn run(context: &Context, args: &DeployReleaseArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let images = parse_images(&args.image)?;
    let services = select_services(&stack, &args.service)?;
    let known: BTreeSet<String> = services
        .iter()
        .filter_map(|service| {
            let path = stack.resolve(&service.task_definition);
            crate::release::templates::parse(&path, &path).ok()
        })
        .flat_map(|template| crate::release::templates::container_names(&template))
        .collect();
    let unknown: Vec<Problem> = images
        .keys()
        .filter(|container| !known.contains(*container))
        .map(|container| {
            Problem::new(format!("--image {container}=...: no container of the deployed services is named {container}"))
                .fix(format!("containers: {}", known.iter().cloned().collect::<Vec<_>>().join(", ")))
        })
        .collect();
    if !unknown.is_empty() {
        return Err(InputError::new(unknown).into());
    }
    let timeout = args
        .timeout
        .map(Duration::from)
        .unwrap_or(stack.deploy.timeout);
    for warning in validation::cookie_warnings(&stack, &services) {
        printer.warn(warning);
    }
    crate::release::capacity::refuse_over_capacity(&stack, |warning| printer.warn(warning))?;
    for warning in validation::host_access_warnings(&stack, &services) {
        printer.warn(warning);
    }

    // --build: what to build is checked (a git commit to tag with) before
    // any AWS call; a container is either built or given.
    let build_plan = if args.build {
        Some(ops::build::plan(&stack, &services, args.allow_dirty).await?)
    } else {
        None
    };
    if let Some(build_plan) = &build_plan {
        refuse_built_and_given(build_plan, &images)?;
    }
    let images_to_check = if args.skip_image_check {
        BTreeSet::new()
    } else {
        images.keys().cloned().collect()
    };

    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let mut images = images;
    if let Some(build_plan) = &build_plan {
        if build_plan.dirty {
            printer.warn(format!(
                "building uncommitted changes (--allow-dirty): tagged {}",
                build_plan.tag
            ));
        }
        let again = again_command(&stack, args);
        for built in ops::build::build_and_push(printer, &aws, &stack, build_plan, &again).await? {
            images.insert(built.container.clone(), built.pinned());
        }
    }
    let request = deploy::Request {
        stack: &stack,
        services,
        images,
        no_wait: args.no_wait,
        allow_missing_parameters: args.allow_missing_parameters,
        images_to_check,
    };
    let plan = deploy::plan(&aws, &request).await?;
    for problem in &plan.missing_parameters {
        printer.warn(problem);
    }
    for warning in &plan.image_warnings {
        printer.warn(warning);
    }
    for service in &plan.services {
        for line in describe(service) {
            printer.info(line);
        }
    }
    let release_name = plan.release_name();
    if !plan.changes_anything() && !plan.follows_anything() {
        printer.success("nothing to deploy: every service already runs these definitions");
        let results = plan.services.iter().map(Planned::unchanged).collect();
        return report(printer, &stack, &release_name, results);
    }
    // Following a rollout already under way changes nothing: no question.
    if plan.changes_anything()
        && !confirm(
            &format!("Deploy release {release_name}"),
            context.global.yes,
        )
        .await?
    {
        anyhow::bail!("cancelled: nothing was deployed");
    }
    let options = deploy::Options {
        no_wait: args.no_wait,
        rollback: !args.no_rollback,
        timeout,
    };
    let results = deploy::apply(printer, &aws, plan, &options).await?;
    let failed: Vec<&ServiceResult> = results
        .iter()
        .filter(|result| result.result.is_failure())
        .collect();
    let interrupted: Vec<&ServiceResult> = results
        .iter()
        .filter(|result| result.result == Outcome::Interrupted)
        .collect();
    let summary = failed
        .iter()
        .map(|result| {
            format!(
                "{}: {}{}",
                result.service,
                result.result,
                result
                    .reason
                    .as_ref()
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    // A closed stdout (`| head`) loses the report, not the outcome: a failure
    // or an interruption still ends the run as such.
    let reported = report(printer, &stack, &release_name, results.clone());
    if !failed.is_empty() {
        anyhow::bail!("release {release_name} did not roll out: {summary}");
    }
    if !interrupted.is_empty() {
        let (going_back, following): (Vec<&ServiceResult>, Vec<&ServiceResult>) = interrupted
            .iter()
            .partition(|result| result.rolling_back_to.is_some());
        let left = following
            .iter()
            .map(|result| {
                format!(
                    "the rollout of service {} continues in ECS without stackup (revision {}, recorded as interrupted)",
                    result.service, result.revision
                )
            })
            .chain(going_back.iter().map(|result| {
                let back = history::revision_of(result.rolling_back_to.as_deref().unwrap_or_default());
                format!(
                    "revision {} of service {} failed (recorded as failed) and its rollback to revision {back} continues in ECS without stackup: run `stackup rollback {} --service {} --to {back}` to follow it to its end",
                    result.revision, result.service, stack.name, result.service
                )
            }))
            .collect::<Vec<_>>()
            .join("; ");
        if following.is_empty() {
            return Err(Interrupted(left).into());
        }
        // A service this release created has no previous revision to go back to.
        let services = following
            .iter()
            .filter(|result| !result.created)
            .map(|result| format!(" --service {}", result.service))
            .collect::<String>();
        let or_back = if services.is_empty() {
            String::new()
        } else {
            format!(
                ", or `stackup rollback {}{services}` to go back to the previous revision",
                stack.name
            )
        };
        return Err(Interrupted(format!(
            "{left}. Run `{}` again to follow it to its end (nothing new is registered){or_back}",
            again_command(&stack, args)
        ))
        .into());
    }
    reported
}

/// A container given with --image whose image --build also makes: one of
/// the two must go (exit 2).
fn refuse_built_and_given(
    build_plan: &ops::build::BuildPlan,
    images: &BTreeMap<String, String>,
) -> Result<(), InputError> {
    let problems: Vec<Problem> = build_plan
        .items
        .iter()
        .filter(|(_, build)| images.contains_key(&build.container))
        .map(|(service, build)| {
            Problem::new(format!(
                "--image {}=... and --build both give the image of container {} (service {service} builds it)",
                build.container, build.container
            ))
            .fix(format!(
                "leave out --image {}=... to deploy the image built, or deploy without --build",
                build.container
            ))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(InputError::new(problems))
    }
}

/// What the plan does to one service, as lines for the operator.
fn describe(plan: &Planned) -> Vec<String> {
    let mut lines = Vec::new();
    let name = &plan.release.service.name;
    let desired = plan.release.service_definition.desired_count;
    match (&plan.current_task_definition, plan.registration_needed) {
        (Some(current), false) if plan.failed_rollout.is_some() => {
            let reason = plan
                .failed_rollout
                .as_ref()
                .map(|failed| failed.reason.as_str())
                .unwrap_or_default();
            lines.push(format!(
                "{name}: revision {} runs, but its rollout failed ({reason}): start a new deployment of it",
                history::revision_of(current)
            ));
        }
        (Some(current), false) if plan.unfinished.is_some() => {
            let started_by = plan
                .unfinished
                .as_ref()
                .and_then(|unfinished| unfinished.record.as_ref())
                .map(|record| format!(" (release {}, {})", record.release, record.result))
                .unwrap_or_default();
            lines.push(format!(
                "{name}: revision {} is deployed but its rollout{started_by} was not followed to its end: following it",
                history::revision_of(current)
            ));
        }
        (None, _) => {
            lines.push(format!(
                "{name}: create the service with a new revision of {} (images {}{})",
                plan.release.task_definition.family,
                history::images_text(&plan.release.images()),
                desired
                    .map(|count| format!(", desired count {count}"))
                    .unwrap_or_default()
            ));
        }
        (Some(current), true) => {
            lines.push(format!(
                "{name}: register a new revision of {} (running: revision {})",
                plan.release.task_definition.family,
                history::revision_of(current)
            ));
        }
        (Some(current), false) => {
            lines.push(format!(
                "{name}: the task definition is unchanged (revision {})",
                history::revision_of(current)
            ));
        }
    }
    for change in &plan.changes {
        lines.push(format!("    {change}"));
    }
    if !plan.service_changes.is_empty() {
        lines.push(format!(
            "{name}: update the service definition of {}",
            plan.release.service_definition.service_name
        ));
        for change in &plan.service_changes {
            lines.push(format!("    {change}"));
        }
    }
    if plan.desired_changes() {
        lines.push(format!(
            "    desired count: {} -> {}",
            plan.current_desired.unwrap_or_default(),
            desired.unwrap_or_default()
        ));
    }
    lines
}

/// This deploy-release as a command to run again (global flags left out, as
/// in every other hint).
fn again_command(stack: &StackConfig, args: &DeployReleaseArgs) -> String {
    let mut command = format!("stackup deploy-release {}", stack.name);
    for image in &args.image {
        command.push_str(&format!(" --image {image}"));
    }
    for service in &args.service {
        command.push_str(&format!(" --service {service}"));
    }
    if args.build {
        command.push_str(" --build");
    }
    if args.allow_dirty {
        command.push_str(" --allow-dirty");
    }
    command
}

fn report(
    printer: &Printer,
    stack: &StackConfig,
    release: &str,
    services: Vec<ServiceResult>,
) -> anyhow::Result<()> {
    let report = Report {
        stack: stack.name.clone(),
        release: release.to_string(),
        services,
    };
    if printer.is_json() {
        printer.json(&report)
    } else {
        let text: String = report
            .services
            .iter()
            .map(|result| {
                format!(
                    "{}  {}  revision {}{}\n",
                    result.service,
                    result.result,
                    result.revision,
                    result
                        .reason
                        .as_ref()
                        .map(|reason| format!("  ({reason})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        printer.data(&text)
    }
}
