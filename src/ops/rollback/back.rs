//! Going back to an earlier revision after a failed rollout, or for
//! `rollback`: point the service at it (or follow ECS's own rollback), wait,
//! and say why not when it does not come back.

use std::collections::HashSet;
use std::time::Duration;

use crate::aws::{ecs, Aws};
use crate::ops::rollout_wait::{failure_details, wait, Waited};
use crate::release::history::{self, Outcome};
use crate::ui::Printer;

/// Roll back after a failed rollout: follow ECS's own rollback (circuit
/// breaker), or point the service back at the previous revision and wait.
/// Returns the revision gone back to and how the wait for it ended, if any.
#[expect(clippy::too_many_arguments, reason = "the failed deployment's context")]
pub async fn roll_back(
    printer: &Printer,
    aws: &Aws,
    cluster: &str,
    service_name: &str,
    name: &str,
    rolled_back_to: Option<String>,
    previous: Option<String>,
    timeout: Duration,
    seen: &mut HashSet<String>,
) -> anyhow::Result<Option<(String, Back)>> {
    let target = match (rolled_back_to, previous) {
        (Some(target), _) => {
            printer.info(format!(
                "{name}: ECS is rolling back to revision {}; waiting for it",
                history::revision_of(&target)
            ));
            target
        }
        (None, Some(previous)) => {
            printer.info(format!(
                "{name}: rolling back to revision {}",
                history::revision_of(&previous)
            ));
            ecs::set_task_definition(&aws.ecs(), cluster, service_name, &previous).await?;
            previous
        }
        (None, None) => {
            printer.warn(format!(
                "{name}: no earlier revision to roll back to (the service was just created)"
            ));
            return Ok(None);
        }
    };
    let back = wait_back(
        printer,
        aws,
        cluster,
        service_name,
        name,
        &target,
        timeout,
        seen,
    )
    .await?;
    Ok(Some((target, back)))
}

/// How waiting for a service to run a revision again ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Back {
    Runs,
    /// The rollout failed, with ECS's reason.
    Failed(String),
    /// Not done within the timeout, with the last task counts; ECS carries on.
    TimedOut(String),
    /// Ctrl-C: ECS carries on without stackup.
    Interrupted,
}

impl Back {
    /// The result it is recorded as.
    pub fn result(&self) -> Outcome {
        match self {
            Back::Runs => Outcome::Completed,
            Back::Failed(_) => Outcome::Failed,
            Back::TimedOut(_) => Outcome::TimedOut,
            Back::Interrupted => Outcome::Interrupted,
        }
    }
}

/// Wait for a service to run `target` again (after pointing it there), and
/// say why not when it does not: the reason, the stopped tasks, their logs.
#[expect(clippy::too_many_arguments, reason = "the rollback's context")]
pub async fn wait_back(
    printer: &Printer,
    aws: &Aws,
    cluster: &str,
    service_name: &str,
    name: &str,
    target: &str,
    timeout: Duration,
    seen: &mut HashSet<String>,
) -> anyhow::Result<Back> {
    let client = aws.ecs();
    let revision = history::revision_of(target);
    let back = match wait(
        printer,
        &client,
        cluster,
        service_name,
        target,
        timeout,
        seen,
    )
    .await?
    {
        Waited::Completed(_) => {
            printer.success(format!("{name}: runs revision {revision}"));
            return Ok(Back::Runs);
        }
        Waited::Interrupted => {
            printer.warn(format!(
                "{name}: interrupted; ECS carries on with the rollout of revision {revision}"
            ));
            return Ok(Back::Interrupted);
        }
        Waited::Failed {
            reason,
            rolled_back_to,
        } => {
            // ECS's own breaker may take the service back where it came from.
            let reason = match rolled_back_to {
                Some(back) => format!(
                    "{reason}; ECS's circuit breaker takes the service back to revision {}",
                    history::revision_of(&back)
                ),
                None => reason,
            };
            printer.error(format!(
                "{name}: the rollout of revision {revision} failed: {reason}"
            ));
            Back::Failed(reason)
        }
        Waited::TimedOut(counts) => {
            printer.error(format!(
                "{name}: the rollout of revision {revision} did not finish within {} ({counts}); ECS carries on with it (look at it with `stackup status`)",
                humantime::format_duration(timeout)
            ));
            Back::TimedOut(counts)
        }
    };
    // What the stopped tasks of that revision said, with their last log
    // lines (where they log is in the revision itself).
    match ecs::describe_task_definition(&client, target).await {
        Ok((definition, _, _)) => {
            for line in failure_details(
                &client,
                &aws.logs(),
                cluster,
                service_name,
                target,
                &definition,
            )
            .await
            {
                printer.info(format!("  {line}"));
            }
        }
        Err(error) => printer.info(format!(
            "  (the stopped tasks are not shown: revision {revision} could not be read: {error:#})"
        )),
    }
    Ok(back)
}
