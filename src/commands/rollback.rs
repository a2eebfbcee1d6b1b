//! `rollback <STACK> [--service NAME] [--to REVISION]`: point services back at
//! an earlier release from their history, and wait the same way as a deploy.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;

use super::Context;
use crate::aws::{ecs, ssm, sts, Aws};
use crate::cli::RollbackArgs;
use crate::error::Interrupted;
use crate::error::{InputError, Problem};
use crate::ops::ids::release_id;
use crate::ops::roll_back::{wait_back, Back};
use crate::ops::rollout_wait::seen_events;
use crate::ops::select_services;
use crate::release::history::{self, NoTarget, ReleaseRecord};
use crate::release::rollout::{interpret, Rollout};
use crate::secret::Secret;
use crate::ui::confirm;
use crate::validation;

/// The start of a rollback's release id (a deploy's is the bare id).
const ROLLBACK_PREFIX: &str = "rollback-";

#[derive(Serialize)]
struct Report {
    stack: String,
    services: Vec<RolledBack>,
}

#[derive(Serialize)]
struct RolledBack {
    service: String,
    from: String,
    to: String,
    result: String,
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
    let client = aws.ecs();
    let ssm_client = aws.ssm();
    let caller = sts::caller(&aws.sts()).await?;
    let (outputs, life) = crate::ops::stack_outputs::stack_outputs(&stack, &aws).await?;
    let cluster = outputs
        .get("ClusterName")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the platform stack has no ClusterName output"))?;

    // Rolling back the whole stack, a service with nothing to go back to (never
    // deployed, or no earlier release) is passed over and said so, rather than
    // holding back the others; one named with --service is an error.
    let whole_stack = args.service.is_empty() && services.len() > 1;
    let mut passed_over = Vec::new();
    let mut plans = Vec::new();
    for service in &services {
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
            args.to.is_none()
                && newest.task_definition == current
                && newest.release.starts_with(ROLLBACK_PREFIX)
                && history::UNFINISHED.contains(&newest.result.as_str())
        });
        let target_record = match unfinished_rollback {
            Some(record) => Ok(record),
            None => history::rollback_target(&records, &current, args.to.as_deref()),
        };
        let record = match target_record {
            Ok(record) => record,
            Err(NoTarget::Unknown(reason)) => {
                if let Some(earlier) = args.to.as_deref().and_then(|to| {
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
            if let Some(newest) = records.last().filter(|newest| {
                newest.task_definition == current
                    && history::UNFINISHED.contains(&newest.result.as_str())
            }) {
                let record = ReleaseRecord {
                    result: "completed".into(),
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
                .filter(|newest| {
                    newest.task_definition == current
                        && history::UNFINISHED.contains(&newest.result.as_str())
                })
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
            plans.push((service.clone(), current, target, images, follow));
            continue;
        }
        let how = match record.result.as_str() {
            "completed" => String::new(),
            bad if history::KNOWN_BAD.contains(&bad) => {
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
        plans.push((service.clone(), current, target, images, None));
    }
    if plans.is_empty() && passed_over.len() == services.len() {
        // Each reason was said above as a warning; nothing remote failed.
        return Err(InputError::one(
            Problem::new(format!(
                "no service has anything to roll back ({} services passed over, see above)",
                passed_over.len()
            ))
            .fix(format!(
                "deploy a release first (`stackup deploy-release {}`), or name a revision with --service and --to",
                stack.name
            )),
        )
        .into());
    }
    if plans.is_empty() {
        printer.success("nothing to roll back");
        return print_report(
            printer,
            &Report {
                stack: stack.name.clone(),
                services: Vec::new(),
            },
        );
    }
    // The revisions gone back to must be able to start: a secret whose SSM
    // parameter is gone would stop every task. A per-release cookie removed
    // when its release was rolled back is made again (a new one: no task runs
    // with the old); anything else missing is refused before any change.
    let mut cookies_to_make = BTreeSet::new();
    let mut missing = Vec::new();
    for (service, current, target, _, _) in &plans {
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
    if !confirm("Roll back", context.global.yes).await? {
        anyhow::bail!("cancelled: nothing was changed");
    }
    for name in &cookies_to_make {
        ssm::create_secret(
            &ssm_client,
            name,
            Secret::generate(crate::release::cookie::COOKIE_LENGTH),
            "Erlang distribution cookie (stackup)",
        )
        .await?;
        printer.info(format!(
            "created {name} again: the cookie of the release gone back to was removed when it was rolled back"
        ));
    }
    let timeout = args
        .timeout
        .map(Duration::from)
        .unwrap_or(stack.deploy.timeout);
    let release = format!("{ROLLBACK_PREFIX}{}", release_id());
    // The services go back at once, as deploy-release deploys them: one slow
    // rollout must not hold the others back for its whole timeout.
    let rollbacks = plans
        .into_iter()
        .map(|(service, current, target, images, follow)| {
            let (printer, aws, ssm_client, cluster, caller, life) =
                (printer, &aws, &ssm_client, &cluster, &caller, &life);
            let parameter = stack.release_record_parameter(&service.name);
            let (release, previous) = match &follow {
                Some(record) => (record.release.clone(), record.previous.clone()),
                None => (release.clone(), Some(current.clone())),
            };
            async move {
                let record = |result: &str| ReleaseRecord {
                    release: release.clone(),
                    service: service.name.clone(),
                    task_definition: target.clone(),
                    revision: history::revision_of(&target),
                    images: images.clone(),
                    time: history::record_time(),
                    by: caller.arn.clone(),
                    result: result.to_string(),
                    previous: previous.clone(),
                    stack: Some(life.stack_id.clone()),
                };
                let client = aws.ecs();
                let mut seen = seen_events(&client, cluster, &service.name).await?;
                if target != current {
                    ecs::set_task_definition(&client, cluster, &service.name, &target).await?;
                    // In the history before the wait: a run killed outright leaves
                    // it "started", which this command run again follows to its end.
                    ssm::put_record(
                        ssm_client,
                        &parameter,
                        &serde_json::to_string(&record("started"))?,
                    )
                    .await?;
                }
                let back = wait_back(
                    printer,
                    aws,
                    cluster,
                    &service.name,
                    &service.name,
                    &target,
                    timeout,
                    &mut seen,
                )
                .await?;
                ssm::put_record(
                    ssm_client,
                    &parameter,
                    &serde_json::to_string(&record(back.result()))?,
                )
                .await?;
                anyhow::Ok((service.name.clone(), current.clone(), target.clone(), back))
            }
        });
    let mut results = Vec::new();
    let mut failed = Vec::new();
    let mut interrupted = Vec::new();
    for outcome in join_all(rollbacks).await {
        let (service, from, to, back) = outcome?;
        match &back {
            Back::Runs => {}
            Back::Failed(reason) => failed.push(format!("{service} ({reason})")),
            Back::TimedOut(_) => failed.push(format!(
                "{service} (not done within {}; ECS carries on with it)",
                humantime::format_duration(timeout)
            )),
            Back::Interrupted => interrupted.push((service.clone(), history::revision_of(&to))),
        }
        results.push(RolledBack {
            service,
            from,
            to,
            result: back.result().into(),
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
