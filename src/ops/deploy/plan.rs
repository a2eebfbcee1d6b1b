//! Planning a release: what runs now for each service, what this release
//! would change, and what a failure would go back to. Reads only.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures_util::future::{join_all, try_join_all};

use super::{ServiceResult, DEFINITION_TAG, RELEASE_TAG};
use crate::aws::{ecs, ssm, sts, Aws};
use crate::config::{CookieMode, ServiceConfig, StackConfig};
use crate::error::{InputError, Problem};
use crate::ops::ids::release_id;
use crate::ops::stack_outputs::stack_outputs_for;
use crate::release::ecs_model::TaskDefinition;
use crate::release::history::{self, Outcome, ReleaseRecord};
use crate::release::plan::{ReleaseContext, ServiceRelease};
use crate::release::rollout::{interpret, Rollout};
use crate::release::{diff, service_diff};

/// What to deploy.
pub struct Request<'s> {
    pub stack: &'s StackConfig,
    pub services: Vec<ServiceConfig>,
    /// `--image CONTAINER=IMAGE`; the others keep the running revision's.
    pub images: BTreeMap<String, String>,
    /// Start the rollouts, do not follow them (nor one under way).
    pub no_wait: bool,
    /// Go ahead when a template refers to an SSM parameter that does not exist.
    pub allow_missing_parameters: bool,
    /// The containers of `images` whose image is looked up before anything
    /// is registered (`ops::image_check`): those given with --image, unless
    /// --skip-image-check (an image just built and pushed needs no look-up).
    pub images_to_check: BTreeSet<String>,
}

/// A release planned for every service of the request.
pub struct ReleasePlan<'s> {
    pub release: ReleaseContext<'s>,
    /// Who deploys (recorded in the release history).
    pub caller_arn: String,
    /// Of the parameters the task definitions refer to, those that exist.
    pub existing_parameters: HashSet<String>,
    /// Those that do not (only when the request allows them).
    pub missing_parameters: Vec<Problem>,
    /// Images that could not be looked up (`ops::image_check`).
    pub image_warnings: Vec<String>,
    pub services: Vec<Planned>,
}

impl ReleasePlan<'_> {
    /// Some service changes (the others may only be followed).
    pub fn changes_anything(&self) -> bool {
        self.services.iter().any(Planned::changes_service)
    }

    /// Some service's rollout, started before, is to be followed.
    pub fn follows_anything(&self) -> bool {
        self.services.iter().any(|plan| plan.unfinished.is_some())
    }

    /// The release this run is: a new one when it changes something; when it
    /// only follows rollouts under way, the one that started them, as the
    /// history records it.
    pub fn release_name(&self) -> String {
        if self.changes_anything() {
            return self.release.release_id.clone();
        }
        self.services
            .iter()
            .find_map(Planned::followed_release)
            .unwrap_or(&self.release.release_id)
            .to_string()
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

/// What a deploy-release of `request` would do, read from AWS without
/// changing anything: who deploys, the stacks' outputs, which secret
/// parameters exist, what each service runs now and what would change.
/// Every service's input problems come in one error, as validate reports them.
pub async fn plan<'s>(aws: &Aws, request: &Request<'s>) -> anyhow::Result<ReleasePlan<'s>> {
    let stack = request.stack;
    let services = &request.services;
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
        .map(|service| (service.name.as_str(), placeholder_names(stack, service)))
        .collect();
    let referenced = parameters_referenced(stack, &placeholders);
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
        let family =
            crate::release::placeholders::stack_value(stack, service, "family").unwrap_or_default();
        let ecs_client = &ecs_client;
        async move { ecs::describe_newest_revision(ecs_client, &family).await }
    }));
    // The images given are looked up meanwhile: a missing one is refused
    // before anything is registered.
    let images_to_check: BTreeMap<String, String> = request
        .images
        .iter()
        .filter(|(container, _)| request.images_to_check.contains(*container))
        .map(|(container, image)| (container.clone(), image.clone()))
        .collect();
    let (caller, (outputs, life), existing_parameters, newest_revisions, image_warnings) = tokio::try_join!(
        sts::caller(&sts_client),
        stack_outputs_for(stack, aws, Some(&used)),
        ssm::existing(&ssm_client, &parameters_to_read),
        async { anyhow::Ok(newest_revisions.await) },
        crate::ops::image_check::check(aws, stack, &images_to_check),
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
    if !missing.is_empty() && !request.allow_missing_parameters {
        return Err(InputError::new(missing).into());
    }
    let release = ReleaseContext {
        stack,
        region: aws.region().to_string(),
        account: caller.account.clone(),
        outputs,
        life,
        images: request.images.clone(),
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
                request.no_wait,
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
    Ok(ReleasePlan {
        release,
        caller_arn: caller.arn,
        existing_parameters,
        missing_parameters: missing,
        image_warnings,
        services: planned,
    })
}

/// One service's plan after reading what runs now.
pub struct Planned {
    pub release: ServiceRelease,
    pub current_task_definition: Option<String>,
    pub current_desired: Option<i32>,
    pub registration_needed: bool,
    pub changes: Vec<diff::Change>,
    /// What the service definition template changes in the running service.
    pub service_changes: Vec<diff::Change>,
    /// The running revision is the one to deploy, but its rollout was not
    /// followed to its end (an interrupted run, `--no-wait`): follow it now.
    pub unfinished: Option<Unfinished>,
    /// The running revision is the one to deploy, but its rollout failed and
    /// was left in place (`--no-rollback`, a first deploy, one not followed):
    /// deploy it again, in a new deployment.
    pub failed_rollout: Option<FailedRollout>,
    /// Where a failure of this release goes back to: what runs, or, when
    /// the running revision's rollout failed or is followed, what ran before
    /// it (as its record says; never a revision whose rollout failed).
    pub previous: Option<String>,
}

/// A failed rollout of the revision this release would deploy.
pub struct FailedRollout {
    pub reason: String,
    /// The newest record of the service, when it is of that revision.
    pub record: Option<ReleaseRecord>,
}

/// A rollout under way, or finished without stackup seeing it.
pub struct Unfinished {
    /// The release that started it, when the history has it.
    pub record: Option<ReleaseRecord>,
}

impl Planned {
    /// The service definition gives a desired count the running service lacks.
    pub fn desired_changes(&self) -> bool {
        let desired = self.release.service_definition.desired_count;
        self.current_task_definition.is_some()
            && desired.is_some()
            && desired != self.current_desired
    }

    /// The template moves the running service to another capacity provider
    /// strategy (from a launch type too), which ECS takes only in a new
    /// deployment (API reference UpdateService: "When switching from launch
    /// type to capacity provider strategy on an existing service, or making a
    /// change to a capacity provider strategy ..., you must force a new
    /// deployment").
    pub fn moves_capacity(&self) -> bool {
        self.service_changes.iter().any(|change| {
            let (diff::Change::Added(path, _)
            | diff::Change::Removed(path, _)
            | diff::Change::Changed(path, _, _)) = change;
            path.trim_start_matches('/')
                .starts_with("capacityProviderStrategy")
        })
    }

    /// This release changes the service: a first deploy, a new revision, new
    /// settings or a new desired count.
    pub fn changes_service(&self) -> bool {
        self.current_task_definition.is_none()
            || self.registration_needed
            || self.failed_rollout.is_some()
            || !self.service_changes.is_empty()
            || self.desired_changes()
    }

    /// Nothing to change and no rollout to follow: the service is left alone.
    pub fn left_alone(&self) -> bool {
        !self.changes_service() && self.unfinished.is_none()
    }

    /// The release that started the rollout this run follows, if any.
    pub fn followed_release(&self) -> Option<&str> {
        self.unfinished
            .as_ref()
            .and_then(|unfinished| unfinished.record.as_ref())
            .map(|record| record.release.as_str())
    }

    pub fn unchanged(&self) -> ServiceResult {
        let task_definition = self.current_task_definition.clone().unwrap_or_default();
        ServiceResult {
            service: self.release.service.name.clone(),
            revision: history::revision_of(&task_definition),
            task_definition,
            registered: false,
            created: false,
            result: Outcome::Unchanged,
            reason: None,
            rolling_back_to: None,
        }
    }
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
    no_wait: bool,
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
        Some(arn) if running_failed || (!registration_needed && !no_wait) => {
            ssm::get_record(ssm_client, &stack.release_record_parameter(&service.name))
                .await?
                .and_then(|value| serde_json::from_str::<ReleaseRecord>(&value).ok())
                .filter(|record| &record.task_definition == arn && release.life.holds(record))
        }
        _ => None,
    };
    let unfinished_record = record
        .clone()
        .filter(|record| record.result.is_unfinished());
    // The same release again converges: it follows a rollout nobody saw end
    // (an interrupted or killed run, --no-wait) and records that end; one that
    // failed meanwhile ends as its wait would have ended it (recorded as
    // failed, and rolled back). A failed rollout left in place on purpose
    // (--no-rollback, a first deploy) is deployed again, in a new deployment.
    let (unfinished, failed_rollout) = match state {
        _ if registration_needed => (None, None),
        Some(Rollout::Failed { reason, .. }) => match unfinished_record {
            Some(followed) if !no_wait => (
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
        Some(Rollout::InProgress(_)) if !no_wait => (
            Some(Unfinished {
                record: unfinished_record,
            }),
            None,
        ),
        Some(Rollout::Completed(_)) if !no_wait && unfinished_record.is_some() => (
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
