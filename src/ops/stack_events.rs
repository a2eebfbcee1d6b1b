//! Following a CloudFormation stack until it settles, showing its events.

use std::collections::HashSet;
use std::time::Duration;

use crate::aws::cloudformation::{CloudFormation, StackEvent, StackInfo, StackStatus};
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

impl Followed {
    /// The status a change set left the stack in when it created or updated
    /// it; otherwise how it ended ("ended STATUS", with the failed
    /// resources' events), for the caller's message.
    pub fn completed(&self) -> Result<StackStatus, String> {
        let Some(stack) = &self.stack else {
            return Err(format!("ended deleted{}", self.failures_text()));
        };
        let status = stack.status.clone();
        if matches!(
            status,
            StackStatus::CreateComplete | StackStatus::UpdateComplete
        ) {
            return Ok(status);
        }
        Err(format!("ended {status}{}", self.failures_text()))
    }

    fn failures_text(&self) -> String {
        if self.failures.is_empty() {
            String::new()
        } else {
            format!(":\n{}", describe_failures(&self.failures))
        }
    }
}

/// Event ids already there, so that only what happens from now on is shown.
pub async fn existing_events(
    cloudformation: &CloudFormation,
    stack: &str,
) -> anyhow::Result<HashSet<String>> {
    Ok(cloudformation
        .recent_events(stack)
        .await?
        .into_iter()
        .map(|event| event.id)
        .collect())
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
/// saying which state the stack was left in and how to pick up again
/// (`resume_hint`).
pub async fn follow(
    printer: &Printer,
    cloudformation: &CloudFormation,
    stack_name: &str,
    seen: &mut HashSet<String>,
    resume_hint: &str,
) -> anyhow::Result<Followed> {
    let mut interrupt = crate::interrupt::listen()?;
    let progress = Progress::spinner(printer, format!("{stack_name}: waiting for CloudFormation"));
    let deadline = tokio::time::Instant::now() + STACK_TIMEOUT;
    let mut failures = Vec::new();
    let mut delay = Duration::from_millis(250);
    loop {
        // Ctrl-C is heard during the calls too: a slow or retried call must
        // not hold the operator for its whole timeout.
        let polled = tokio::select! {
            polled = poll(printer, cloudformation, stack_name, seen, &progress, &mut failures) => polled?,
            _ = interrupt.recv() => {
                progress.finish();
                return Err(interrupted(cloudformation, stack_name, resume_hint).await);
            }
        };
        let Some(stack) = polled else {
            progress.finish();
            return Ok(Followed {
                stack: None,
                failures,
            });
        };
        // A settled status is the caller's to say (once, as its result).
        if stack.status.is_settled() {
            progress.finish();
            return Ok(Followed {
                stack: Some(stack),
                failures,
            });
        }
        progress.set_message(format!("{stack_name}: {}", stack.status));
        if tokio::time::Instant::now() >= deadline {
            return Err(crate::error::Failure::new(format!(
                "{stack_name} is still {} after {}; CloudFormation carries on",
                stack.status,
                humantime::format_duration(STACK_TIMEOUT)
            ))
            .hint(resume_hint)
            .into());
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = interrupt.recv() => {
                progress.finish();
                return Err(interrupted(cloudformation, stack_name, resume_hint).await);
            }
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// One look at the stack: its new events (shown, failures kept), then its
/// status; `None` when it is gone.
async fn poll(
    printer: &Printer,
    cloudformation: &CloudFormation,
    stack_name: &str,
    seen: &mut HashSet<String>,
    progress: &Progress,
    failures: &mut Vec<StackEvent>,
) -> anyhow::Result<Option<StackInfo>> {
    match cloudformation.new_events(stack_name, seen).await {
        Ok(events) => {
            for event in events {
                progress.line(event_line(printer, &event));
                // A stack turning back says why only when no resource failed.
                if event.is_failure() || (event.is_turning_back() && failures.is_empty()) {
                    failures.push(event);
                }
            }
        }
        // A stack that is gone has no events: the status check below tells.
        Err(error)
            if crate::aws::errors::class_of(&error) == Some(crate::aws::ErrorClass::NotFound) => {}
        Err(error) => return Err(error),
    }
    cloudformation.describe(stack_name).await
}

/// How long the last look at an interrupted stack may take.
const LAST_LOOK: Duration = Duration::from_secs(5);

/// The message of an interrupted follow: the stack's state now (one more
/// look, bounded), whether CloudFormation is still at work on it, and what
/// to run next.
async fn interrupted(
    cloudformation: &CloudFormation,
    stack_name: &str,
    resume_hint: &str,
) -> anyhow::Error {
    let state = match tokio::time::timeout(LAST_LOOK, cloudformation.describe(stack_name)).await {
        Ok(Ok(Some(stack))) if stack.is_busy() => format!(
            "which is {}: CloudFormation carries on without stackup",
            stack.status
        ),
        Ok(Ok(Some(stack))) => format!("which is {}", stack.status),
        Ok(Ok(None)) => "which no longer exists".to_string(),
        Ok(Err(error)) => {
            tracing::debug!(error = format!("{error:#}"), "the last look failed");
            "whose state could not be read: CloudFormation carries on without stackup".to_string()
        }
        Err(_) => format!(
            "whose state could not be read within {}: CloudFormation carries on without stackup",
            humantime::format_duration(LAST_LOOK)
        ),
    };
    anyhow::Error::new(crate::error::Interrupted(format!(
        "stopped following {stack_name}, {state}. {resume_hint}"
    )))
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

/// A failed creation as AWS reports it: the resource's CREATE_FAILED event
/// with its reason, the rollback, and ROLLBACK_COMPLETE (moto cannot show any
/// of this: its failures are synchronous API errors).
#[cfg(test)]
mod aws_shaped_tests {
    use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::primitives::DateTime;
    use aws_sdk_cloudformation::types::{ResourceStatus, Stack, StackStatus};
    use aws_sdk_cloudformation::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;
    use crate::ui::{OutputFormat, Printer};

    const STACK: &str = "demo-prod-v1-network";

    fn event(
        id: u32,
        logical: &str,
        kind: &str,
        status: ResourceStatus,
        reason: Option<&str>,
    ) -> aws_sdk_cloudformation::types::StackEvent {
        aws_sdk_cloudformation::types::StackEvent::builder()
            .stack_id(format!(
                "arn:aws:cloudformation:eu-west-1:123456789012:stack/{STACK}/1"
            ))
            .stack_name(STACK)
            .event_id(format!("event-{id}"))
            .logical_resource_id(logical)
            .resource_type(kind)
            .resource_status(status)
            .set_resource_status_reason(reason.map(str::to_string))
            .timestamp(DateTime::from_secs(1_790_000_000 + i64::from(id)))
            .build()
    }

    /// Newest first, as DescribeStackEvents returns them.
    fn events(upto: u32) -> DescribeStackEventsOutput {
        let all = vec![
            event(1, STACK, "AWS::CloudFormation::Stack", ResourceStatus::CreateInProgress, Some("User Initiated")),
            event(2, "Vpc", "AWS::EC2::VPC", ResourceStatus::CreateInProgress, None),
            event(3, "Vpc", "AWS::EC2::VPC", ResourceStatus::CreateComplete, None),
            event(
                4,
                "PublicSubnet1",
                "AWS::EC2::Subnet",
                ResourceStatus::CreateFailed,
                Some("Value (eu-west-1z) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: eu-west-1a, eu-west-1b, eu-west-1c. (Service: Ec2, Status Code: 400, Request ID: 6e5c0a34)"),
            ),
            event(
                5,
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::RollbackInProgress,
                Some("The following resource(s) failed to create: [PublicSubnet1]. Rollback requested by user."),
            ),
            event(6, "Vpc", "AWS::EC2::VPC", ResourceStatus::DeleteComplete, None),
            event(7, STACK, "AWS::CloudFormation::Stack", ResourceStatus::RollbackComplete, None),
        ];
        let mut shown: Vec<_> = all.into_iter().take(upto as usize).collect();
        shown.reverse();
        DescribeStackEventsOutput::builder()
            .set_stack_events(Some(shown))
            .build()
    }

    fn stack(status: StackStatus) -> DescribeStacksOutput {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name(STACK)
                    .stack_id("id")
                    .stack_status(status)
                    .creation_time(DateTime::from_secs(1_790_000_000))
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_rolled_back_creation_names_the_failed_resource_and_its_reason() {
        let event_pages = mock!(Client::describe_stack_events)
            .sequence()
            .output(|| events(2))
            .output(|| events(7))
            .build();
        let statuses = mock!(Client::describe_stacks)
            .sequence()
            .output(|| stack(StackStatus::CreateInProgress))
            .output(|| stack(StackStatus::RollbackComplete))
            .build();
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&event_pages, &statuses]
        );
        let cloudformation = CloudFormation::new(client);
        let printer = Printer::new(OutputFormat::Text, true, true, 0);
        let mut seen = HashSet::new();
        let followed = follow(&printer, &cloudformation, STACK, &mut seen, "Run it again.")
            .await
            .expect("follows");

        let stack = followed.stack.expect("the stack is still there");
        assert_eq!(
            stack.status,
            crate::aws::cloudformation::StackStatus::RollbackComplete
        );
        assert!(stack.status.is_failed());
        assert_eq!(followed.failures.len(), 1);
        assert_eq!(followed.failures[0].logical_id, "PublicSubnet1");
        assert_eq!(seen.len(), 7, "every event was seen exactly once");
        let message = describe_failures(&followed.failures);
        assert!(
            message.contains("PublicSubnet1 (AWS::EC2::Subnet) CREATE_FAILED: Value (eu-west-1z)"),
            "{message}"
        );
    }
}
