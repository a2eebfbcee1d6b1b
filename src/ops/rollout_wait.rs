//! Waiting for an ECS rollout, showing service events and task counts as they
//! change; on failure, what the stopped tasks said and their last log lines.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_ecs::types::DesiredStatus;

use crate::aws::{ecs, logs};
use crate::release::ecs_model::TaskDefinition;
use crate::release::node_name::task_id;
use crate::release::rollout::{interpret, Rollout};
use crate::ui::{Printer, Progress};

/// Event ids already on the service, so that only new ones are shown.
pub async fn seen_events(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> anyhow::Result<HashSet<String>> {
    Ok(ecs::describe_service(client, cluster, service)
        .await?
        .map(|found| {
            found
                .events()
                .iter()
                .filter_map(|event| event.id().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// How a wait ended.
pub enum Waited {
    Completed(crate::release::rollout::Counts),
    Failed {
        reason: String,
        rolled_back_to: Option<String>,
    },
    /// With the last task counts seen.
    TimedOut(String),
    Interrupted,
}

/// Poll DescribeServices until the rollout of `task_definition` completes,
/// fails, `timeout` passes, or Ctrl-C.
pub async fn wait(
    printer: &Printer,
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
    timeout: Duration,
    seen: &mut HashSet<String>,
) -> anyhow::Result<Waited> {
    let mut interrupt = crate::interrupt::listen()?;
    let progress = Progress::spinner(printer, format!("{service}: waiting for the rollout"));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(300);
    let mut last_counts = String::new();
    loop {
        // Ctrl-C is heard during the call too: a slow or retried call must
        // not hold the operator for its whole timeout.
        let described = tokio::select! {
            described = ecs::describe_service(client, cluster, service) => described?,
            _ = interrupt.recv() => {
                progress.finish();
                return Ok(Waited::Interrupted);
            }
        };
        let Some(current) = described else {
            anyhow::bail!(
                "service {service} disappeared from cluster {cluster} during the rollout"
            );
        };
        let mut events: Vec<_> = current
            .events()
            .iter()
            .filter(|event| event.id().is_some_and(|id| !seen.contains(id)))
            .collect();
        events.reverse();
        for event in events {
            seen.insert(event.id().unwrap_or_default().to_string());
            progress.line(format!(
                "  {service}: {}",
                event.message().unwrap_or_default()
            ));
        }
        match interpret(&current, task_definition) {
            Rollout::Completed(counts) => {
                progress.finish();
                return Ok(Waited::Completed(counts));
            }
            Rollout::Failed {
                reason,
                rolled_back_to,
            } => {
                progress.finish();
                return Ok(Waited::Failed {
                    reason,
                    rolled_back_to,
                });
            }
            Rollout::InProgress(counts) => {
                let text = format!(
                    "{service}: running {}/{} pending {}{}",
                    counts.running,
                    counts.desired,
                    counts.pending,
                    if counts.failed > 0 {
                        format!(", {} failed", counts.failed)
                    } else {
                        String::new()
                    }
                );
                if text != last_counts {
                    progress.set_message(text.clone());
                    last_counts = text;
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            progress.finish();
            return Ok(Waited::TimedOut(last_counts));
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = interrupt.recv() => {
                progress.finish();
                return Ok(Waited::Interrupted);
            }
        }
        delay = (delay * 3 / 2).min(Duration::from_secs(5));
    }
}

/// Why tasks of `task_definition` stopped, with the last log lines of each.
pub async fn failure_details(
    client: &aws_sdk_ecs::Client,
    logs_client: &aws_sdk_cloudwatchlogs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
    definition: &TaskDefinition,
) -> Vec<String> {
    let Ok(stopped) = ecs::service_tasks(client, cluster, service, DesiredStatus::Stopped).await
    else {
        return vec!["(the stopped tasks could not be listed)".into()];
    };
    // The tasks of the newest deployment of this revision (ECS starts a
    // deployment's tasks with startedBy = its id), newest first: not those of
    // an earlier failure of the same revision, nor those ECS stopped when it
    // last replaced this revision.
    let mut ours: Vec<&aws_sdk_ecs::types::Task> = stopped
        .iter()
        .filter(|task| task.task_definition_arn() == Some(task_definition))
        .collect();
    ours.sort_by_key(|task| {
        std::cmp::Reverse(
            task.stopped_at()
                .or(task.created_at())
                .map(|time| (time.secs(), time.subsec_nanos())),
        )
    });
    let newest_deployment = ours
        .first()
        .and_then(|task| task.started_by())
        .map(str::to_string);
    if let Some(deployment) = &newest_deployment {
        ours.retain(|task| task.started_by() == Some(deployment.as_str()));
    }
    let mut lines = Vec::new();
    for task in ours.into_iter().take(3) {
        let id = task_id(task.task_arn().unwrap_or_default()).to_string();
        lines.push(format!(
            "task {id} stopped: {}",
            task.stopped_reason().unwrap_or("no reason given")
        ));
        for container in task.containers() {
            let mut line = format!("  container {}", container.name().unwrap_or_default());
            if let Some(code) = container.exit_code() {
                line.push_str(&format!(" exited {code}"));
            }
            if let Some(reason) = container.reason() {
                line.push_str(&format!(": {reason}"));
            }
            lines.push(line);
            let Some(options) = definition
                .container_definitions
                .iter()
                .find(|defined| Some(defined.name.as_str()) == container.name())
                .and_then(|defined| defined.log_configuration.as_ref())
                .filter(|logs| logs.log_driver == "awslogs")
                .map(|logs| &logs.options)
            else {
                continue;
            };
            let (Some(group), Some(prefix)) = (
                options.get("awslogs-group"),
                options.get("awslogs-stream-prefix"),
            ) else {
                continue;
            };
            let stream = format!("{prefix}/{}/{id}", container.name().unwrap_or_default());
            match logs::last_lines(logs_client, group, &stream, 10).await {
                Ok(last) if !last.is_empty() => {
                    lines.push(format!("    last log lines ({group} {stream}):"));
                    // An application's line cannot break this output's lines
                    // or send the terminal escape sequences.
                    lines.extend(last.into_iter().map(|line| {
                        let mut shown = String::from("      ");
                        crate::ui::push_escaped(&line, &mut shown);
                        shown
                    }));
                }
                Ok(_) => lines.push(format!("    no log lines in {group} {stream}")),
                Err(error) => lines.push(format!("    logs unavailable: {error:#}")),
            }
        }
    }
    if lines.is_empty() {
        lines.push("(no stopped task of this revision was found)".into());
    }
    lines
}
