//! `deploy-release <STACK> --image CONTAINER=IMAGE...`: register a task
//! definition revision when something changed, create or update the service,
//! wait for the rollout (or `--no-wait`), roll back on failure.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use futures_util::future::{join_all, try_join_all};
use serde::Serialize;

use super::Context;
use crate::aws::{ecs, ssm, sts, Aws};
use crate::cli::DeployReleaseArgs;
use crate::config::{CookieMode, ServiceConfig, StackConfig};
use crate::error::{InputError, Interrupted, Problem};
use crate::ops::ids::release_id;
use crate::ops::roll_back::{roll_back, Back};
use crate::ops::rollout_wait::{failure_details, seen_events, wait, Waited};
use crate::ops::select_services;
use crate::ops::stack_outputs::stack_outputs_for;
use crate::release::ecs_model::TaskDefinition;
use crate::release::history::{self, ReleaseRecord};
use crate::release::plan::{ReleaseContext, ServiceRelease};
use crate::release::rollout::{interpret, Rollout};
use crate::release::{cookie, diff, service_diff};
use crate::secret::Secret;
use crate::ui::{confirm, Printer};
use crate::validation;

/// Tag on every revision: the SHA-256 of its resolved definition, so that a
/// re-deploy of the same thing registers nothing.
pub const DEFINITION_TAG: &str = "stackup:definition-sha256";
/// Tag of a registered revision: the release that registered it.
pub const RELEASE_TAG: &str = "stackup:release";

#[derive(Serialize)]
struct Report {
    stack: String,
    release: String,
    services: Vec<ServiceResult>,
}

#[derive(Clone, Serialize)]
pub struct ServiceResult {
    pub service: String,
    pub task_definition: String,
    pub revision: i64,
    pub registered: bool,
    pub created: bool,
    /// completed, started, unchanged, failed, rolled-back, timed-out, interrupted.
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Interrupted while the failed rollout was being rolled back: where to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_back_to: Option<String>,
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

/// The placeholder names in a service's two templates (unreadable templates
/// have none here: resolving them reports why).
fn placeholder_names(stack: &StackConfig, service: &ServiceConfig) -> Vec<String> {
    [&service.task_definition, &service.service_definition]
        .into_iter()
        .filter_map(|path| {
            let path = stack.resolve(path);
            crate::release::templates::parse(&path, &path).ok()
        })
        .flat_map(|template| crate::release::placeholders::scan(&template).0)
        .map(|found| found.name)
        .collect()
}

/// The stack outputs the services' templates refer to (`{{stack.<Output>}}`),
/// from each service's placeholder names.
fn outputs_used(placeholders: &[(&str, Vec<String>)]) -> BTreeSet<String> {
    placeholders
        .iter()
        .flat_map(|(_, names)| names)
        .filter_map(|name| name.strip_prefix("stack.").map(str::to_string))
        .collect()
}

/// The SSM parameters each service's templates name with
/// `{{parameter.<path>}}`: (service, parameter name).
fn parameters_referenced(
    stack: &StackConfig,
    placeholders: &[(&str, Vec<String>)],
) -> BTreeSet<(String, String)> {
    placeholders
        .iter()
        .flat_map(|(service, names)| {
            names.iter().filter_map(move |name| {
                name.strip_prefix("parameter.")
                    .map(|path| (service.to_string(), stack.parameter_name(path)))
            })
        })
        .collect()
}

/// One service's plan after reading what runs now.
struct Planned {
    release: ServiceRelease,
    current_task_definition: Option<String>,
    current_desired: Option<i32>,
    registration_needed: bool,
    changes: Vec<diff::Change>,
    /// What the service definition template changes in the running service.
    service_changes: Vec<diff::Change>,
    /// The running revision is the one to deploy, but its rollout was not
    /// followed to its end (an interrupted run, `--no-wait`): follow it now.
    unfinished: Option<Unfinished>,
    /// The running revision is the one to deploy, but its rollout failed and
    /// was left in place (`--no-rollback`, a first deploy, one not followed):
    /// deploy it again, in a new deployment.
    failed_rollout: Option<FailedRollout>,
    /// Where a failure of this release goes back to: what runs, or, when
    /// the running revision's rollout failed or is followed, what ran before
    /// it (as its record says; never a revision whose rollout failed).
    previous: Option<String>,
}

/// A failed rollout of the revision this release would deploy.
struct FailedRollout {
    reason: String,
    /// The newest record of the service, when it is of that revision.
    record: Option<ReleaseRecord>,
}

/// A rollout under way, or finished without stackup seeing it.
struct Unfinished {
    /// The release that started it, when the history has it.
    record: Option<ReleaseRecord>,
}

impl Planned {
    /// The service definition gives a desired count the running service lacks.
    fn desired_changes(&self) -> bool {
        let desired = self.release.service_definition.desired_count;
        self.current_task_definition.is_some()
            && desired.is_some()
            && desired != self.current_desired
    }

    /// This release changes the service: a first deploy, a new revision, new
    /// settings or a new desired count.
    fn changes_service(&self) -> bool {
        self.current_task_definition.is_none()
            || self.registration_needed
            || self.failed_rollout.is_some()
            || !self.service_changes.is_empty()
            || self.desired_changes()
    }

    /// Nothing to change and no rollout to follow: the service is left alone.
    fn left_alone(&self) -> bool {
        !self.changes_service() && self.unfinished.is_none()
    }

    /// The release that started the rollout this run follows, if any.
    fn followed_release(&self) -> Option<&str> {
        self.unfinished
            .as_ref()
            .and_then(|unfinished| unfinished.record.as_ref())
            .map(|record| record.release.as_str())
    }

    fn unchanged(&self) -> ServiceResult {
        let task_definition = self.current_task_definition.clone().unwrap_or_default();
        ServiceResult {
            service: self.release.service.name.clone(),
            revision: history::revision_of(&task_definition),
            task_definition,
            registered: false,
            created: false,
            result: "unchanged".into(),
            reason: None,
            rolling_back_to: None,
        }
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

    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let ecs_client = aws.ecs();
    let ssm_client = aws.ssm();
    let release_id = release_id();
    // The parameters the task definitions will refer to: the cookie (one per
    // stack; one per release is new by definition, nothing to read) and those
    // the templates name with {{parameter.<path>}}.
    // The templates' placeholders, read once: which parameters and outputs
    // the first round of reads must cover.
    let placeholders: Vec<(&str, Vec<String>)> = services
        .iter()
        .map(|service| (service.name.as_str(), placeholder_names(&stack, service)))
        .collect();
    let referenced = parameters_referenced(&stack, &placeholders);
    let parameters_to_read: Vec<String> = services
        .iter()
        .filter(|service| service.cookie == CookieMode::Stack)
        .map(|service| stack.cookie_parameter(service.cookie, &release_id))
        .chain(referenced.iter().map(|(_, name)| name.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Independent reads, made at once: who deploys, the stack's outputs (which
    // name the cluster), which of those parameters exist, and each service's
    // newest revision (its family is stackup's to name): the service usually
    // runs that one, so its diff needs no round of its own once the service
    // is read.
    let used = outputs_used(&placeholders);
    let sts_client = aws.sts();
    let newest_revisions = join_all(services.iter().map(|service| {
        let family = crate::release::placeholders::stack_value(&stack, service, "family")
            .unwrap_or_default();
        let ecs_client = &ecs_client;
        async move { ecs::describe_newest_revision(ecs_client, &family).await }
    }));
    let (caller, (outputs, life), existing_parameters, newest_revisions) = tokio::try_join!(
        sts::caller(&sts_client),
        stack_outputs_for(&stack, &aws, Some(&used)),
        ssm::existing(&ssm_client, &parameters_to_read),
        async { anyhow::Ok(newest_revisions.await) },
    )?;
    // A task whose secret's parameter does not exist cannot start (ECS:
    // "ResourceInitializationError: unable to pull secrets"): found before
    // any change, and refused unless the operator says it will exist in time.
    let missing: Vec<Problem> = referenced
        .iter()
        .filter(|(_, name)| !existing_parameters.contains(name))
        .map(|(service, name)| {
            let creates = if name.ends_with("/database/app-password") {
                format!("run `stackup update-resources {}`, which creates it", stack.name)
            } else {
                format!("create it (`aws ssm put-parameter --name {name} --type SecureString ...`)")
            };
            Problem::new(format!(
                "{service}: the task definition refers to SSM parameter {name}, which does not exist: its tasks cannot start until it does"
            ))
            .fix(format!(
                "{creates}, or pass --allow-missing-parameters to deploy anyway"
            ))
        })
        .collect();
    if !missing.is_empty() {
        if !args.allow_missing_parameters {
            return Err(InputError::new(missing).into());
        }
        for problem in &missing {
            printer.warn(problem);
        }
    }
    let release = ReleaseContext {
        stack: &stack,
        region: aws.region().to_string(),
        account: caller.account.clone(),
        outputs,
        life,
        images,
        release_id,
    };

    // Plan every service: what runs now, what would change. The services are
    // read ten to a call per cluster, then planned at once.
    let located = services
        .iter()
        .map(|service| locate(&release, service))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut running = BTreeMap::new();
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (cluster, name) in &located {
        by_cluster.entry(cluster).or_default().push(name.clone());
    }
    let described = try_join_all(by_cluster.iter().map(|(cluster, names)| {
        let ecs_client = &ecs_client;
        async move {
            let found = ecs::describe_services(ecs_client, cluster, names).await?;
            anyhow::Ok((*cluster, found))
        }
    }))
    .await?;
    for (cluster, found) in described {
        for (name, service) in found {
            running.insert((cluster.to_string(), name), service);
        }
    }
    let planned = join_all(services.iter().zip(&located).zip(newest_revisions).map(
        |((service, located), newest)| {
            let current = running.get(located).cloned();
            plan_service(
                &release,
                &ecs_client,
                &ssm_client,
                args,
                service,
                current,
                newest,
            )
        },
    ))
    .await;
    // Every service's input problems at once, as validate reports them.
    let mut problems = Vec::new();
    let mut plans = Vec::new();
    for plan in planned {
        match plan {
            Ok(plan) => plans.push(plan),
            Err(error) => match error.downcast::<InputError>() {
                Ok(input) => problems.extend(input.problems),
                Err(other) => return Err(other),
            },
        }
    }
    if !problems.is_empty() {
        return Err(InputError::new(problems).into());
    }
    let planned = plans;

    for plan in &planned {
        let name = &plan.release.service.name;
        let desired = plan.release.service_definition.desired_count;
        match (&plan.current_task_definition, plan.registration_needed) {
            (Some(current), false) if plan.failed_rollout.is_some() => {
                let reason = plan
                    .failed_rollout
                    .as_ref()
                    .map(|failed| failed.reason.as_str())
                    .unwrap_or_default();
                printer.info(format!(
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
                printer.info(format!(
                    "{name}: revision {} is deployed but its rollout{started_by} was not followed to its end: following it",
                    history::revision_of(current)
                ));
            }
            (None, _) => {
                printer.info(format!(
                    "{name}: create the service with a new revision of {} (images {}{})",
                    plan.release.task_definition.family,
                    history::images_text(&plan.release.images()),
                    desired
                        .map(|count| format!(", desired count {count}"))
                        .unwrap_or_default()
                ));
            }
            (Some(current), true) => {
                printer.info(format!(
                    "{name}: register a new revision of {} (running: revision {})",
                    plan.release.task_definition.family,
                    history::revision_of(current)
                ));
            }
            (Some(current), false) => {
                printer.info(format!(
                    "{name}: the task definition is unchanged (revision {})",
                    history::revision_of(current)
                ));
            }
        }
        for change in &plan.changes {
            printer.info(format!("    {change}"));
        }
        if !plan.service_changes.is_empty() {
            printer.info(format!(
                "{name}: update the service definition of {}",
                plan.release.service_definition.service_name
            ));
            for change in &plan.service_changes {
                printer.info(format!("    {change}"));
            }
        }
        if plan.desired_changes() {
            printer.info(format!(
                "    desired count: {} -> {}",
                plan.current_desired.unwrap_or_default(),
                desired.unwrap_or_default()
            ));
        }
    }
    let to_do = planned.iter().any(Planned::changes_service);
    let to_follow = planned.iter().any(|plan| plan.unfinished.is_some());
    if !to_do && !to_follow {
        printer.success("nothing to deploy: every service already runs these definitions");
        let results = planned.iter().map(Planned::unchanged).collect();
        return report(printer, &stack, &release.release_id, results);
    }
    // Only following rollouts under way: the release is the one that started
    // them, as the history records it, not a new one.
    let release_name = if to_do {
        release.release_id.clone()
    } else {
        planned
            .iter()
            .find_map(Planned::followed_release)
            .unwrap_or(&release.release_id)
            .to_string()
    };
    // Following a rollout already under way changes nothing: no question.
    if to_do
        && !confirm(
            &format!("Deploy release {}", release.release_id),
            context.global.yes,
        )
        .await?
    {
        anyhow::bail!("cancelled: nothing was deployed");
    }

    // Cookies first: the task definitions refer to them.
    let mut cookies_done = HashSet::new();
    for plan in planned.iter().filter(|plan| {
        // A revision already registered has its cookie.
        plan.registration_needed || plan.current_task_definition.is_none()
    }) {
        if cookies_done.insert(plan.release.cookie_parameter.clone())
            && !existing_parameters.contains(&plan.release.cookie_parameter)
        {
            ssm::create_secret(
                &ssm_client,
                &plan.release.cookie_parameter,
                Secret::generate(cookie::COOKIE_LENGTH),
                "Erlang distribution cookie (stackup)",
            )
            .await?;
            let scope = if plan.release.service.cookie == CookieMode::Release {
                "this release"
            } else {
                "the stack"
            };
            printer.success(format!(
                "created the Erlang cookie of {scope} in {}",
                plan.release.cookie_parameter
            ));
        }
    }

    // A service this release does not change is left alone (no update, no
    // wait, no record), even when others of the stack change.
    let mut results: Vec<Option<ServiceResult>> = planned
        .iter()
        .map(|plan| plan.left_alone().then(|| plan.unchanged()))
        .collect();
    // The cookie of each `cookie = "release"` service deployed: a release
    // rolled back everywhere leaves its cookie to no task.
    let release_cookies: Vec<(String, String)> = planned
        .iter()
        .filter(|plan| !plan.left_alone() && plan.release.service.cookie == CookieMode::Release)
        .map(|plan| {
            (
                plan.release.service.name.clone(),
                plan.release.cookie_parameter.clone(),
            )
        })
        .collect();
    let deployments = planned
        .into_iter()
        .filter(|plan| !plan.left_alone())
        .map(|plan| {
            deploy_service(
                context,
                &aws,
                &stack,
                &release,
                &caller.arn,
                plan,
                args.no_wait,
                !args.no_rollback,
                timeout,
            )
        });
    let mut deployed = join_all(deployments).await.into_iter();
    for slot in results.iter_mut().filter(|slot| slot.is_none()) {
        *slot = deployed.next().transpose()?;
    }
    let results: Vec<ServiceResult> = results.into_iter().flatten().collect();
    let failed: Vec<&ServiceResult> = results
        .iter()
        .filter(|result| {
            !["completed", "started", "unchanged", "interrupted"].contains(&result.result.as_str())
        })
        .collect();
    let interrupted: Vec<&ServiceResult> = results
        .iter()
        .filter(|result| result.result == "interrupted")
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
    remove_unused_cookies(printer, &aws, &release_cookies, &results).await?;
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

/// A per-release cookie whose every service was rolled back is used by no
/// task: it is deleted, so failed releases leave no secret behind. One that a
/// service still runs, or may (a failure left in place, a rollout not
/// followed), stays.
async fn remove_unused_cookies(
    printer: &Printer,
    aws: &Aws,
    release_cookies: &[(String, String)],
    results: &[ServiceResult],
) -> anyhow::Result<()> {
    let parameters: BTreeSet<&String> = release_cookies
        .iter()
        .map(|(_, parameter)| parameter)
        .collect();
    for parameter in parameters {
        let all_rolled_back = release_cookies
            .iter()
            .filter(|(_, used)| used == parameter)
            .all(|(service, _)| {
                results
                    .iter()
                    .any(|result| &result.service == service && result.result == "rolled-back")
            });
        if all_rolled_back {
            ssm::delete(&aws.ssm(), parameter).await?;
            printer.info(format!(
                "removed {parameter}: the cookie of a release no task runs"
            ));
        }
    }
    Ok(())
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
    command
}

/// The cluster and ECS service name of one service, from its templates.
fn locate(
    release: &ReleaseContext<'_>,
    service: &ServiceConfig,
) -> anyhow::Result<(String, String)> {
    let resolved = match release.resolve(service, &BTreeMap::new()) {
        Ok(resolved) => resolved,
        // Missing images are resolved from the running revision later; the
        // cluster and name come from a partial resolution.
        Err(_) => release.resolve(service, &placeholder_images(release.stack, service))?,
    };
    Ok((
        resolved.service_definition.cluster,
        resolved.service_definition.service_name,
    ))
}

/// What runs now for one service (`current`, as DescribeServices gave it,
/// and the family's newest revision if it could be read ahead), and what this
/// release would change.
async fn plan_service(
    release: &ReleaseContext<'_>,
    ecs_client: &aws_sdk_ecs::Client,
    ssm_client: &aws_sdk_ssm::Client,
    args: &DeployReleaseArgs,
    service: &ServiceConfig,
    current: Option<aws_sdk_ecs::types::Service>,
    newest: Option<(String, TaskDefinition, BTreeMap<String, String>)>,
) -> anyhow::Result<Planned> {
    let stack = release.stack;
    let current_task_definition = current
        .as_ref()
        .and_then(|found| found.task_definition().map(str::to_string));
    let (current_model, current_tags) = match (&current_task_definition, newest) {
        (Some(arn), Some((newest_arn, model, tags))) if *arn == newest_arn => (Some(model), tags),
        // An older revision runs (after a rollback, say): read that one.
        (Some(arn), _) => {
            let (model, tags, _) = ecs::describe_task_definition(ecs_client, arn).await?;
            (Some(model), tags)
        }
        (None, _) => (None, BTreeMap::new()),
    };
    let running_images: BTreeMap<String, String> = current_model
        .iter()
        .flat_map(|model| {
            model
                .container_definitions
                .iter()
                .map(|container| (container.name.clone(), container.image.clone()))
        })
        .collect();
    let mut resolved = release.resolve(service, &running_images)?;
    let running_sha = current_tags.get(DEFINITION_TAG);
    let same = |release: &ServiceRelease| {
        running_sha.is_some_and(|sha| *sha == release.sha256 || *sha == release.sha256_unsorted)
    };
    let mut registration_needed = !same(&resolved);
    // What differs per release (a `cookie = "release"` cookie, `{{release.id}}`)
    // is no change by itself: resolved for the release that registered the
    // running revision, the same templates may give that very revision.
    if let Some(running_release) = current_tags
        .get(RELEASE_TAG)
        .filter(|id| registration_needed && **id != release.release_id)
    {
        let again = release
            .with_release_id(running_release)
            .resolve(service, &running_images)?;
        if same(&again) {
            resolved = again;
            registration_needed = false;
        }
    }
    let service_changes = match &current {
        Some(found) => service_diff::changes(found, &resolved.service_definition),
        None => Vec::new(),
    };
    let changes = match (&current_model, registration_needed) {
        (Some(old), true) => diff::diff(&to_value(old), &to_value(&resolved.task_definition)),
        _ => Vec::new(),
    };
    // What the running revision's rollout says, and the service's newest
    // release record when it is of that revision: read only where it decides
    // something (a rollout that failed, or one this run may have to follow).
    let state = match (&current, &current_task_definition) {
        (Some(found), Some(arn)) => Some(interpret(found, arn)),
        _ => None,
    };
    let running_failed = matches!(state, Some(Rollout::Failed { .. }));
    let record = match &current_task_definition {
        Some(arn) if running_failed || (!registration_needed && !args.no_wait) => {
            ssm::get_record(ssm_client, &stack.release_record_parameter(&service.name))
                .await?
                .and_then(|value| serde_json::from_str::<ReleaseRecord>(&value).ok())
                .filter(|record| &record.task_definition == arn && release.life.holds(record))
        }
        _ => None,
    };
    let unfinished_record = record
        .clone()
        .filter(|record| history::UNFINISHED.contains(&record.result.as_str()));
    // The same release again converges: it follows a rollout nobody saw end
    // (an interrupted or killed run, --no-wait) and records that end; one that
    // failed meanwhile ends as its wait would have ended it (recorded as
    // failed, and rolled back). A failed rollout left in place on purpose
    // (--no-rollback, a first deploy) is deployed again, in a new deployment.
    let (unfinished, failed_rollout) = match state {
        _ if registration_needed => (None, None),
        Some(Rollout::Failed { reason, .. }) => match unfinished_record {
            Some(followed) if !args.no_wait => (
                Some(Unfinished {
                    record: Some(followed),
                }),
                None,
            ),
            _ => (
                None,
                Some(FailedRollout {
                    reason,
                    record: record.clone(),
                }),
            ),
        },
        Some(Rollout::InProgress(_)) if !args.no_wait => (
            Some(Unfinished {
                record: unfinished_record,
            }),
            None,
        ),
        Some(Rollout::Completed(_)) if !args.no_wait && unfinished_record.is_some() => (
            Some(Unfinished {
                record: unfinished_record,
            }),
            None,
        ),
        _ => (None, None),
    };
    // Where a failure of this release goes back to: what ran before a
    // revision whose rollout failed or is followed (its record says), else
    // what runs.
    let previous = match &unfinished {
        Some(followed) => followed
            .record
            .as_ref()
            .and_then(|record| record.previous.clone()),
        None if running_failed => record.and_then(|record| record.previous),
        None => current_task_definition.clone(),
    };
    Ok(Planned {
        current_desired: current.as_ref().map(|found| found.desired_count()),
        current_task_definition,
        registration_needed,
        changes,
        service_changes,
        unfinished,
        failed_rollout,
        previous,
        release: resolved,
    })
}

/// Any image, only to learn the cluster and service name before the running
/// revision is known.
fn placeholder_images(stack: &StackConfig, service: &ServiceConfig) -> BTreeMap<String, String> {
    let path = stack.resolve(&service.task_definition);
    crate::release::templates::parse(&path, &path)
        .map(|template| crate::release::templates::container_names(&template))
        .unwrap_or_default()
        .into_iter()
        .map(|name| (name, "pending".to_string()))
        .collect()
}

fn to_value(definition: &TaskDefinition) -> serde_json::Value {
    serde_json::to_value(definition).unwrap_or(serde_json::Value::Null)
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

#[expect(
    clippy::too_many_arguments,
    reason = "one deployment's whole context; called once"
)]
async fn deploy_service(
    context: &Context,
    aws: &Aws,
    stack: &StackConfig,
    release: &ReleaseContext<'_>,
    caller: &str,
    plan: Planned,
    no_wait: bool,
    rollback: bool,
    timeout: Duration,
) -> anyhow::Result<ServiceResult> {
    let printer = &context.printer;
    let client = aws.ecs();
    let name = plan.release.service.name.clone();
    // --timeout bounds the new rollout; going back gets at least the stack's timeout.
    let rollback_timeout = timeout.max(stack.deploy.timeout);
    let mut definition = plan.release.service_definition.clone();
    let cluster = definition.cluster.clone();
    let service_name = definition.service_name.clone();

    let (task_definition, registered) =
        match (&plan.current_task_definition, plan.registration_needed) {
            (Some(current), false) => (current.clone(), false),
            _ => {
                let mut tags = BTreeMap::new();
                tags.insert(DEFINITION_TAG.to_string(), plan.release.sha256.clone());
                tags.insert(RELEASE_TAG.to_string(), release.release_id.clone());
                tags.insert("stackup:stack".to_string(), stack.stack_id());
                let arn = ecs::register(&client, &plan.release.task_definition, &tags).await?;
                printer.success(format!(
                    "{name}: registered {}",
                    arn.rsplit('/').next().unwrap_or(&arn)
                ));
                (arn, true)
            }
        };
    definition.task_definition = task_definition.clone();

    // The events already there are not this rollout's; without a wait none are shown.
    let mut seen = if no_wait {
        HashSet::new()
    } else {
        seen_events(&client, &cluster, &service_name).await?
    };
    let created = plan.current_task_definition.is_none();
    // A rollout under way (of an interrupted run) is followed, not restarted,
    // and recorded as the release that started it.
    let unfinished = plan
        .unfinished
        .as_ref()
        .map(|unfinished| unfinished.record.clone());
    let previous = plan.previous.clone();
    // The release whose rollout failed unwatched ends in the history now.
    if let Some(record) = plan.failed_rollout.as_ref().and_then(|failed| {
        failed
            .record
            .as_ref()
            .filter(|record| history::UNFINISHED.contains(&record.result.as_str()))
    }) {
        let ended = ReleaseRecord {
            result: "failed".into(),
            time: history::record_time(),
            ..record.clone()
        };
        ssm::put_record(
            &aws.ssm(),
            &stack.release_record_parameter(&name),
            &serde_json::to_string(&ended)?,
        )
        .await?;
        printer.info(format!(
            "{name}: release {} recorded as failed (its rollout of revision {} failed unwatched)",
            record.release, record.revision
        ));
    }
    if created {
        let token = format!("stackup-{}-{name}", release.release_id);
        ecs::create_service(&client, &definition, &token).await?;
        printer.success(format!("{name}: created service {service_name}"));
    } else {
        let desired = definition
            .desired_count
            .filter(|desired| Some(*desired) != plan.current_desired);
        if unfinished.is_none() || desired.is_some() || !plan.service_changes.is_empty() {
            let again = plan.failed_rollout.is_some();
            ecs::update_service(&client, &definition, desired, again).await?;
            printer.success(format!("{name}: updated service {service_name}"));
        }
    }

    let mut result = ServiceResult {
        service: name.clone(),
        task_definition: task_definition.clone(),
        revision: history::revision_of(&task_definition),
        registered,
        created,
        result: "started".into(),
        reason: None,
        rolling_back_to: None,
    };
    let started_by = unfinished.clone().flatten();
    let ssm_client = aws.ssm();
    let write_record = |outcome: &str| {
        let record = ReleaseRecord {
            release: started_by
                .as_ref()
                .map(|record| record.release.clone())
                .unwrap_or_else(|| release.release_id.clone()),
            service: name.clone(),
            task_definition: task_definition.clone(),
            revision: result.revision,
            images: started_by
                .as_ref()
                .map(|record| record.images.clone())
                .unwrap_or_else(|| plan.release.images()),
            time: history::record_time(),
            by: caller.to_string(),
            result: outcome.to_string(),
            previous: previous.clone(),
            stack: Some(release.life.stack_id.clone()),
        };
        let parameter = stack.release_record_parameter(&name);
        let ssm_client = &ssm_client;
        async move {
            ssm::put_record(ssm_client, &parameter, &serde_json::to_string(&record)?).await?;
            anyhow::Ok(())
        }
    };
    // A new rollout is in the history before it is waited for: a run killed
    // outright (SIGKILL, a lost machine) leaves it "started", which the same
    // deploy-release run again follows to its end and records.
    if !no_wait && unfinished.is_none() {
        write_record("started").await?;
    }
    // A failed or timed-out rollout: (result, reason, where ECS rolled back to).
    let mut failed: Option<(&str, String, Option<String>)> = None;
    if !no_wait {
        match wait(
            printer,
            &client,
            &cluster,
            &service_name,
            &task_definition,
            timeout,
            &mut seen,
        )
        .await?
        {
            Waited::Completed(counts) => {
                printer.success(format!(
                    "{name}: rollout completed, {} of {} running",
                    counts.running, counts.desired
                ));
                result.result = "completed".into();
            }
            Waited::Failed {
                reason,
                rolled_back_to,
            } => {
                printer.error(format!("{name}: the rollout failed: {reason}"));
                failed = Some(("failed", reason, rolled_back_to));
            }
            Waited::TimedOut(counts) => {
                let waited = humantime::format_duration(timeout);
                printer.error(format!(
                    "{name}: the rollout did not finish within {waited} ({counts})"
                ));
                failed = Some(("timed-out", format!("not done after {waited}"), None));
            }
            Waited::Interrupted => {
                printer.warn(format!(
                    "{name}: interrupted; ECS carries on with the rollout of revision {} (look at it with `stackup status {}`)",
                    result.revision, stack.name
                ));
                result.result = "interrupted".into();
            }
        }
    }
    if let Some((outcome, reason, rolled_back_to)) = failed {
        for line in failure_details(
            &client,
            &aws.logs(),
            &cluster,
            &service_name,
            &task_definition,
            &plan.release.task_definition,
        )
        .await
        {
            printer.info(format!("  {line}"));
        }
        result.result = outcome.into();
        result.reason = Some(reason);
        if let (false, Some(target)) = (rollback, &rolled_back_to) {
            // The service's own setting, not stackup's: it goes ahead anyway.
            printer.warn(format!(
                "{name}: ECS's deployment circuit breaker is rolling the service back to revision {} by itself (the service definition turns its rollback on); --no-rollback does not stop that",
                history::revision_of(target)
            ));
            result.reason = Some(format!(
                "{}; ECS's circuit breaker rolls back to revision {}",
                result.reason.unwrap_or_default(),
                history::revision_of(target)
            ));
        }
        if rollback {
            let back_to = roll_back(
                printer,
                aws,
                &cluster,
                &service_name,
                &name,
                rolled_back_to,
                previous.clone(),
                rollback_timeout,
                &mut seen,
            )
            .await?;
            match back_to {
                Some((back_to, Back::Runs)) => {
                    result.result = "rolled-back".into();
                    result.reason = Some(format!(
                        "{}; rolled back to revision {}",
                        result.reason.unwrap_or_default(),
                        history::revision_of(&back_to)
                    ));
                }
                // Ctrl-C (or SIGTERM, SIGHUP) while going back: the release
                // failed, as recorded; the way back is ECS's to finish.
                Some((back_to, Back::Interrupted)) => {
                    write_record(&result.result).await?;
                    result.result = "interrupted".into();
                    result.rolling_back_to = Some(back_to);
                    return Ok(result);
                }
                _ => {}
            }
        }
    }
    write_record(&result.result).await?;
    Ok(result)
}
