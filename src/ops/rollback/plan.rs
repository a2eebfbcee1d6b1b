//! Planning a rollback: the revision each service goes back to, from its
//! release history (this platform stack's), and whether it can start.

use std::collections::{BTreeMap, BTreeSet};

use super::ROLLBACK_PREFIX;
use crate::aws::{ecs, ssm, sts, Aws};
use crate::config::{ServiceConfig, StackConfig};
use crate::error::{InputError, Problem};
use crate::release::history::{self, Life, NoTarget, Outcome, ReleaseRecord};
use crate::release::rollout::{interpret, Rollout};
use crate::ui::Printer;

/// One service going back.
pub struct ServicePlan {
    pub service: ServiceConfig,
    /// The revision that runs (its ARN).
    pub current: String,
    /// The revision to run (its ARN); the same when a rollout to it is followed.
    pub target: String,
    /// The images of the target's release.
    pub images: BTreeMap<String, String>,
    /// The unfinished record of a rollout to `target` this run follows.
    pub follow: Option<ReleaseRecord>,
}

/// A rollback planned for the services of a stack.
pub struct RollbackPlan {
    pub cluster: String,
    /// Who rolls back (recorded in the history).
    pub caller_arn: String,
    pub life: Life,
    pub services: Vec<ServicePlan>,
    /// Why each service passed over has nothing to roll back.
    pub passed_over: Vec<String>,
    /// Per-release cookies a target refers to that were removed when its
    /// release was rolled back: made again before going back.
    pub cookies_to_make: BTreeSet<String>,
}

/// What a rollback of `services` would do, read from AWS: for each, the
/// revision it goes back to (`to`, or the release before), said as it is
/// found; a service with nothing to go back to is passed over when the whole
/// stack is rolled back (`whole_stack`) and an error otherwise. Refuses a
/// target whose secrets are gone. Changes nothing, except that a rollout
/// found ended while nobody watched is recorded so.
pub async fn plan(
    printer: &Printer,
    aws: &Aws,
    stack: &StackConfig,
    services: &[ServiceConfig],
    to: Option<&str>,
    whole_stack: bool,
) -> anyhow::Result<RollbackPlan> {
    let client = aws.ecs();
    let ssm_client = aws.ssm();
    let caller = sts::caller(&aws.sts()).await?;
    let (outputs, life) = crate::ops::stack_outputs::stack_outputs(stack, aws).await?;
    let cluster = outputs
        .get("ClusterName")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the platform stack has no ClusterName output"))?;

    // Rolling back the whole stack, a service with nothing to go back to (never
    // deployed, or no earlier release) is passed over and said so, rather than
    // holding back the others; one named with --service is an error.
    let mut passed_over = Vec::new();
    let mut plans = Vec::new();
    for service in services {
        let parameter = stack.release_record_parameter(&service.name);
        // The history starts with this platform stack: a stack of the same
        // name deleted before it left records of revisions whose roles and
        // log group are gone.
        let (records, before) = life.split(history::parse(
            &ssm::history(&ssm_client, &parameter).await?,
        ));
        let found = ecs::describe_service(&client, &cluster, &service.name).await?;
        let Some(current) = found
            .as_ref()
            .and_then(|found| found.task_definition().map(str::to_string))
        else {
            let reason = format!(
                "service {} does not run in cluster {cluster}: there is nothing to roll back; deploy it with `stackup deploy-release {} --service {}`",
                service.name, stack.name, service.name
            );
            if whole_stack {
                printer.warn(&reason);
                passed_over.push(reason);
                continue;
            }
            // Nothing remote failed: there is nothing to do (exit 2).
            return Err(InputError::one(Problem::new(reason)).into());
        };
        // This command run again after it was killed (or interrupted) goes on
        // with that rollback, not one further back.
        let unfinished_rollback = records.last().filter(|newest| {
            to.is_none()
                && newest.task_definition == current
                && newest.release.starts_with(ROLLBACK_PREFIX)
                && newest.result.is_unfinished()
        });
        let target_record = match unfinished_rollback {
            Some(record) => Ok(record),
            None => history::rollback_target(&records, &current, to),
        };
        let record = match target_record {
            Ok(record) => record,
            Err(NoTarget::Unknown(reason)) => {
                if let Some(earlier) = to.and_then(|to| {
                    before
                        .iter()
                        .rev()
                        .find(|record| history::same_revision(record, to, &current))
                }) {
                    return Err(InputError::one(
                        Problem::new(format!(
                            "{}: revision {} ran on an earlier stack {} (released {}), deleted since; its task and execution roles and its log group went with it",
                            service.name,
                            earlier.revision,
                            stack.platform_stack_name(),
                            earlier.time
                        ))
                        .fix(format!(
                            "roll back to a revision of this stack's history ({}), or deploy its images again with `stackup deploy-release {} --service {} {}`",
                            history::known_revisions(&records),
                            stack.name,
                            service.name,
                            earlier
                                .images
                                .iter()
                                .map(|(container, image)| format!("--image {container}={image}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )),
                    )
                    .into());
                }
                let known = if reason.ends_with("known revisions: none") {
                    "the history holds none yet: deploy a release first"
                } else {
                    "give one of the known revisions"
                };
                return Err(InputError::one(
                    Problem::new(format!("{}: {reason}", service.name)).fix(format!(
                        "{known} (the history is SSM parameter {parameter})"
                    )),
                )
                .into());
            }
            Err(NoTarget::Nothing(reason)) => {
                let reason = format!(
                    "{}: {reason} (release history: SSM parameter {parameter})",
                    service.name
                );
                if whole_stack {
                    printer.warn(&reason);
                    passed_over.push(reason);
                    continue;
                }
                return Err(InputError::one(Problem::new(reason)).into());
            }
        };
        let target = record.task_definition.clone();
        // What runs and has rolled out: nothing to do. A rollout to it still
        // under way (an interrupted rollback) is followed to its end.
        let settled = found
            .as_ref()
            .is_some_and(|found| matches!(interpret(found, &current), Rollout::Completed(_)));
        if target == current && settled {
            // A rollback (or release) to it whose rollout ended while nobody
            // watched: its record says so now, as following it would have.
            if let Some(newest) = records
                .last()
                .filter(|newest| newest.task_definition == current && newest.result.is_unfinished())
            {
                let record = ReleaseRecord {
                    result: Outcome::Completed,
                    time: history::record_time(),
                    by: caller.arn.clone(),
                    ..newest.clone()
                };
                ssm::put_record(&ssm_client, &parameter, &serde_json::to_string(&record)?).await?;
                printer.success(format!(
                    "{}: the rollout of revision {} (release {}, {}) has completed; recorded",
                    service.name,
                    history::revision_of(&current),
                    newest.release,
                    newest.result
                ));
            } else {
                printer.info(format!(
                    "{}: runs revision {} already: nothing to roll back",
                    service.name,
                    history::revision_of(&current)
                ));
            }
            continue;
        }
        // A rollout to it still under way (an interrupted run's): followed,
        // not started again, and recorded as the release that started it.
        if target == current {
            if let Some(Rollout::Failed { reason, .. }) =
                found.as_ref().map(|found| interpret(found, &current))
            {
                anyhow::bail!(
                    "{name}: revision {revision} runs, but its rollout failed ({reason}): there is no rollout to follow. To deploy it again, run `stackup deploy-release {stack} --service {name}` with its images; to go further back, `stackup rollback {stack} --service {name} --to <an earlier revision>`",
                    name = service.name,
                    revision = history::revision_of(&current),
                    stack = stack.name
                );
            }
            let follow = records
                .last()
                .filter(|newest| newest.task_definition == current && newest.result.is_unfinished())
                .cloned();
            printer.info(format!(
                "{}: the rollout of revision {}{} is under way: following it",
                service.name,
                history::revision_of(&current),
                follow
                    .as_ref()
                    .map(|record| format!(" (release {}, {})", record.release, record.result))
                    .unwrap_or_default()
            ));
            let images = record.images.clone();
            plans.push(ServicePlan {
                service: service.clone(),
                current,
                target,
                images,
                follow,
            });
            continue;
        }
        let how = match record.result {
            Outcome::Completed => String::new(),
            bad if bad.is_known_bad() => {
                printer.warn(format!(
                    "{}: revision {} is release {}, recorded as {bad}",
                    service.name, record.revision, record.release
                ));
                String::new()
            }
            other => format!(
                " (release {}, {other}: its rollout was not followed)",
                record.release
            ),
        };
        printer.info(format!(
            "{}: roll back from revision {} to revision {}{how}{}",
            service.name,
            history::revision_of(&current),
            history::revision_of(&target),
            if record.images.is_empty() {
                String::new()
            } else {
                format!(", images {}", history::images_text(&record.images))
            }
        ));
        let images = record.images.clone();
        plans.push(ServicePlan {
            service: service.clone(),
            current,
            target,
            images,
            follow: None,
        });
    }
    // The revisions gone back to must be able to start: a secret whose SSM
    // parameter is gone would stop every task. A per-release cookie removed
    // when its release was rolled back is made again (a new one: no task runs
    // with the old); anything else missing is refused before any change.
    let mut cookies_to_make = BTreeSet::new();
    let mut missing = Vec::new();
    for ServicePlan {
        service,
        current,
        target,
        ..
    } in &plans
    {
        if target == current {
            continue;
        }
        let (definition, _, _) = ecs::describe_task_definition(&client, target).await?;
        let names: Vec<String> = definition
            .container_definitions
            .iter()
            .flat_map(|container| &container.secrets)
            .filter_map(|secret| ssm_parameter_name(&secret.value_from))
            .collect();
        let existing = ssm::existing(&ssm_client, &names).await?;
        let cookies = stack.parameter_name("cookies/");
        for name in names.into_iter().filter(|name| !existing.contains(name)) {
            if name.starts_with(&cookies) {
                cookies_to_make.insert(name);
            } else {
                missing.push(
                    Problem::new(format!(
                        "{}: revision {} refers to SSM parameter {name}, which does not exist: its tasks could not start",
                        service.name,
                        history::revision_of(target)
                    ))
                    .fix("create the parameter first, or roll back to another revision with --to"),
                );
            }
        }
    }
    if !missing.is_empty() {
        return Err(InputError::new(missing).into());
    }
    Ok(RollbackPlan {
        cluster,
        caller_arn: caller.arn,
        life,
        services: plans,
        passed_over,
        cookies_to_make,
    })
}

/// The SSM parameter a secret's `valueFrom` names (an SSM ARN or a name);
/// `None` for Secrets Manager.
fn ssm_parameter_name(value_from: &str) -> Option<String> {
    if value_from.starts_with('/') {
        return Some(value_from.to_string());
    }
    let (_, name) = value_from.split_once(":parameter")?;
    value_from
        .split(':')
        .nth(2)
        .filter(|service| *service == "ssm")
        .map(|_| name.to_string())
}
