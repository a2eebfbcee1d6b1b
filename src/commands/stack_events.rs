//! Following a CloudFormation stack until it settles, showing its events.

use std::collections::HashSet;
use std::time::Duration;

use crate::aws::cloudformation::{status_kind, CloudFormation, StackEvent, StackInfo, StatusKind};
use crate::ui::{Printer, Progress};

/// How long a stack may take: RDS alone takes 10-20 minutes to create.
pub const STACK_TIMEOUT: Duration = Duration::from_secs(90 * 60);

/// What following a stack saw.
pub struct Followed {
    /// The stack at the end; `None` when it is gone (deleted).
    pub stack: Option<StackInfo>,
    /// Every event of a resource that failed.
    pub failures: Vec<StackEvent>,
}

/// Event ids already there, so that only what happens from now on is shown.
pub async fn existing_events(
    cloudformation: &CloudFormation,
    stack: &str,
) -> anyhow::Result<HashSet<String>> {
    let mut seen = HashSet::new();
    cloudformation.new_events(stack, &mut seen).await?;
    Ok(seen)
}

pub fn event_line(printer: &Printer, event: &StackEvent) -> String {
    let time = event.timestamp.get(11..19).unwrap_or(&event.timestamp);
    let status = if event.is_failure() {
        printer.paint("31", &event.status)
    } else if event.status.ends_with("_COMPLETE") {
        printer.paint("32", &event.status)
    } else {
        event.status.clone()
    };
    let mut line = format!(
        "  {time}  {:<32} {:<42} {status}",
        event.logical_id, event.resource_type
    );
    if let Some(reason) = &event.reason {
        if event.is_failure() || !reason.is_empty() && event.status.contains("FAILED") {
            line.push_str(&format!("\n      {reason}"));
        }
    }
    line
}

/// Poll the stack's events and status until it is no longer in progress, or
/// gone. Ctrl-C stops following (CloudFormation carries on) with a message
/// saying how to pick up again.
pub async fn follow(
    printer: &Printer,
    cloudformation: &CloudFormation,
    stack_name: &str,
    seen: &mut HashSet<String>,
    resume_hint: &str,
) -> anyhow::Result<Followed> {
    let progress = Progress::spinner(printer, format!("{stack_name}: waiting for CloudFormation"));
    let deadline = tokio::time::Instant::now() + STACK_TIMEOUT;
    let mut failures = Vec::new();
    let mut delay = Duration::from_millis(250);
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        match cloudformation.new_events(stack_name, seen).await {
            Ok(events) => {
                for event in events {
                    progress.line(event_line(printer, &event));
                    if event.is_failure() {
                        failures.push(event);
                    }
                }
            }
            // A stack that is gone has no events: the status check below tells.
            Err(error)
                if crate::aws::errors::class_of(&error)
                    == Some(crate::aws::ErrorClass::NotFound) => {}
            Err(error) => return Err(error),
        }
        let stack = cloudformation.describe(stack_name).await?;
        let Some(stack) = stack else {
            progress.finish();
            return Ok(Followed {
                stack: None,
                failures,
            });
        };
        progress.set_message(format!("{stack_name}: {}", stack.status));
        if status_kind(&stack.status) != StatusKind::InProgress {
            progress.finish();
            return Ok(Followed {
                stack: Some(stack),
                failures,
            });
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "{stack_name} is still {} after {}; CloudFormation carries on. {resume_hint}",
                stack.status,
                humantime::format_duration(STACK_TIMEOUT)
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut interrupt => {
                progress.finish();
                anyhow::bail!(
                    "interrupted: stopped following {stack_name}, which is {}; CloudFormation carries on without stackup. {resume_hint}",
                    stack.status
                );
            }
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The failed resources, for the error message.
pub fn describe_failures(failures: &[StackEvent]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nfailed resources:");
    for event in failures {
        text.push_str(&format!(
            "\n  {} ({}) {}: {}",
            event.logical_id,
            event.resource_type,
            event.status,
            event.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    text
}
