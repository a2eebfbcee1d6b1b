//! Applying a planned release: cookies, registrations, service updates,
//! the release history, the wait for each rollout and the way back.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use futures_util::future::join_all;

use super::plan::{Planned, ReleasePlan};
use super::{ServiceResult, DEFINITION_TAG, RELEASE_TAG};
use crate::aws::{ecs, ssm, Aws};
use crate::config::CookieMode;
use crate::ops::rollback::{roll_back, Back};
use crate::ops::rollout_wait::{failure_details, seen_events, wait, Waited};
use crate::release::cookie;
use crate::release::history::{self, Outcome, ReleaseRecord};
use crate::release::plan::ReleaseContext;
use crate::secret::Secret;
use crate::ui::Printer;

/// How to carry out a release.
#[derive(Clone, Copy)]
pub struct Options {
    /// Start the rollouts, do not wait for them.
    pub no_wait: bool,
    /// Go back to the previous revision when a rollout fails.
    pub rollback: bool,
    /// How long a rollout may take.
    pub timeout: Duration,
}

/// Carry out a planned release: create the cookies it needs, then deploy
/// every service it changes or follows, at once; the services it leaves
/// alone are reported unchanged. A rollout's failure is in its result, not
/// an error: only what stops the whole run (AWS refusing a call) is.
pub async fn apply(
    printer: &Printer,
    aws: &Aws,
    plan: ReleasePlan<'_>,
    options: &Options,
) -> anyhow::Result<Vec<ServiceResult>> {
    let ssm_client = aws.ssm();
    let plan_existing = plan.existing_parameters.clone();
    // Cookies first: the task definitions refer to them.
    let mut cookies_done = HashSet::new();
    for service in plan.services.iter().filter(|service| {
        // A revision already registered has its cookie.
        service.registration_needed || service.current_task_definition.is_none()
    }) {
        if cookies_done.insert(service.release.cookie_parameter.clone())
            && !plan_existing.contains(&service.release.cookie_parameter)
        {
            ssm::create_secret(
                &ssm_client,
                &service.release.cookie_parameter,
                Secret::generate(cookie::COOKIE_LENGTH),
                "Erlang distribution cookie (stackup)",
                &crate::secrets_key::key_alias(plan.release.stack),
            )
            .await?;
            let scope = if service.release.service.cookie == CookieMode::Release {
                "this release"
            } else {
                "the stack"
            };
            printer.success(format!(
                "created the Erlang cookie of {scope} in {}",
                service.release.cookie_parameter
            ));
        }
    }

    // A service this release does not change is left alone (no update, no
    // wait, no record), even when others of the stack change.
    let mut results: Vec<Option<ServiceResult>> = plan
        .services
        .iter()
        .map(|plan| plan.left_alone().then(|| plan.unchanged()))
        .collect();
    // The cookie of each `cookie = "release"` service deployed: a release
    // rolled back everywhere leaves its cookie to no task.
    let release_cookies: Vec<(String, String)> = plan
        .services
        .iter()
        .filter(|service| {
            !service.left_alone() && service.release.service.cookie == CookieMode::Release
        })
        .map(|service| {
            (
                service.release.service.name.clone(),
                service.release.cookie_parameter.clone(),
            )
        })
        .collect();
    let ReleasePlan {
        release,
        caller_arn,
        services,
        ..
    } = plan;
    let deployments = services
        .into_iter()
        .filter(|plan| !plan.left_alone())
        .map(|plan| deploy_service(printer, aws, &release, &caller_arn, plan, options));
    let mut deployed = join_all(deployments).await.into_iter();
    for slot in results.iter_mut().filter(|slot| slot.is_none()) {
        *slot = deployed.next().transpose()?;
    }
    let results: Vec<ServiceResult> = results.into_iter().flatten().collect();
    remove_unused_cookies(printer, aws, &release_cookies, &results).await?;
    Ok(results)
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
                results.iter().any(|result| {
                    &result.service == service && result.result == Outcome::RolledBack
                })
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

/// Register (when needed), create or update one service, record the
/// release as started, follow the rollout and go back when it fails.
async fn deploy_service(
    printer: &Printer,
    aws: &Aws,
    release: &ReleaseContext<'_>,
    caller: &str,
    plan: Planned,
    options: &Options,
) -> anyhow::Result<ServiceResult> {
    let stack = release.stack;
    let Options {
        no_wait,
        rollback,
        timeout,
    } = *options;
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
            .filter(|record| record.result.is_unfinished())
    }) {
        let ended = ReleaseRecord {
            result: Outcome::Failed,
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
            let again = plan.failed_rollout.is_some() || plan.moves_capacity();
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
        result: Outcome::Started,
        reason: None,
        rolling_back_to: None,
    };
    let started_by = unfinished.clone().flatten();
    let ssm_client = aws.ssm();
    let write_record = |outcome: Outcome| {
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
            result: outcome,
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
        write_record(Outcome::Started).await?;
    }
    // A failed or timed-out rollout: (result, reason, where ECS rolled back to).
    let mut failed: Option<(Outcome, String, Option<String>)> = None;
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
                result.result = Outcome::Completed;
            }
            Waited::Failed {
                reason,
                rolled_back_to,
            } => {
                printer.error(format!("{name}: the rollout failed: {reason}"));
                failed = Some((Outcome::Failed, reason, rolled_back_to));
            }
            Waited::TimedOut(counts) => {
                let waited = humantime::format_duration(timeout);
                printer.error(format!(
                    "{name}: the rollout did not finish within {waited} ({counts})"
                ));
                failed = Some((Outcome::TimedOut, format!("not done after {waited}"), None));
            }
            Waited::Interrupted => {
                printer.warn(format!(
                    "{name}: interrupted; ECS carries on with the rollout of revision {} (look at it with `stackup status {}`)",
                    result.revision, stack.name
                ));
                result.result = Outcome::Interrupted;
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
        result.result = outcome;
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
                    result.result = Outcome::RolledBack;
                    result.reason = Some(format!(
                        "{}; rolled back to revision {}",
                        result.reason.unwrap_or_default(),
                        history::revision_of(&back_to)
                    ));
                }
                // Ctrl-C (or SIGTERM, SIGHUP) while going back: the release
                // failed, as recorded; the way back is ECS's to finish.
                Some((back_to, Back::Interrupted)) => {
                    write_record(result.result).await?;
                    result.result = Outcome::Interrupted;
                    result.rolling_back_to = Some(back_to);
                    return Ok(result);
                }
                _ => {}
            }
        }
    }
    write_record(result.result).await?;
    Ok(result)
}
