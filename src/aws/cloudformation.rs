//! CloudFormation: stacks, change sets, events, exports.

use std::collections::{BTreeMap, HashSet};

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, ResourceChange, Tag,
};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use super::errors::{class_of, AwsResultExt, ErrorClass};
use crate::secret::Secret;

mod stack_status;
pub use stack_status::StackStatus;

/// A stack as stackup needs to see it.
#[derive(Clone, Debug, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub id: String,
    /// Serialised as AWS writes it.
    pub status: StackStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    /// When this stack (this id: a stack deleted and created again is another)
    /// was created.
    #[serde(skip)]
    pub created: Option<std::time::SystemTime>,
    #[serde(skip)]
    pub parameters: BTreeMap<String, String>,
    #[serde(skip)]
    pub tags: BTreeMap<String, String>,
    /// DeleteStack refuses while it is on.
    #[serde(skip)]
    pub termination_protection: bool,
}

impl StackInfo {
    /// Whether CloudFormation is still working on the stack.
    pub fn is_busy(&self) -> bool {
        !self.status.is_settled()
    }
}

/// A value passed to a template parameter; secrets stay wrapped until sent.
#[derive(Clone, Debug)]
pub enum ParameterValue {
    Plain(String),
    Secret(Secret),
}

/// Everything a change set is made from.
#[derive(Debug)]
pub struct ChangeSetRequest {
    pub stack_name: String,
    pub change_set_name: String,
    pub create: bool,
    pub template_body: String,
    pub parameters: Vec<(String, ParameterValue)>,
    pub tags: BTreeMap<String, String>,
    pub client_token: String,
}

/// One line of a change set.
#[derive(Clone, Debug, Serialize)]
pub struct ResourceChangeInfo {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

impl From<&ResourceChange> for ResourceChangeInfo {
    fn from(change: &ResourceChange) -> Self {
        ResourceChangeInfo {
            action: change
                .action()
                .map(|action| action.as_str().to_string())
                .unwrap_or_default(),
            logical_id: change.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: change.resource_type().unwrap_or_default().to_string(),
            replacement: change
                .replacement()
                .map(|replacement| replacement.as_str().to_string()),
        }
    }
}

/// How a change set ended up.
#[derive(Clone, Debug)]
pub enum ChangeSetOutcome {
    Ready(Vec<ResourceChangeInfo>),
    /// CloudFormation found nothing to change: success.
    NoChanges,
    Failed(String),
}

/// The documented wording of a change set with nothing in it
/// (CloudFormation API reference, DescribeChangeSet `StatusReason`).
pub fn is_no_changes_reason(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

#[derive(Clone, Debug, Serialize)]
pub struct StackEvent {
    #[serde(skip)]
    pub id: String,
    pub timestamp: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StackEvent {
    pub fn is_failure(&self) -> bool {
        self.status.ends_with("_FAILED")
    }

    /// The stack turning back, with why: when no resource failed, this is the
    /// only word of the reason (an export in use: "Update canceled. Cannot
    /// update export X as it is in use by Y."; AWS sends no `_FAILED` event).
    pub fn is_turning_back(&self) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack"
            && StackStatus::parse(&self.status).is_rolling_back()
            && self
                .reason
                .as_deref()
                .is_some_and(|reason| !reason.is_empty())
    }
}

impl From<&aws_sdk_cloudformation::types::StackEvent> for StackEvent {
    fn from(event: &aws_sdk_cloudformation::types::StackEvent) -> Self {
        StackEvent {
            id: event.event_id().unwrap_or_default().to_string(),
            timestamp: event
                .timestamp()
                .and_then(|time| time.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                .unwrap_or_default(),
            logical_id: event.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: event.resource_type().unwrap_or_default().to_string(),
            status: event
                .resource_status()
                .map(|status| status.as_str().to_string())
                .unwrap_or_default(),
            reason: event.resource_status_reason().map(str::to_string),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ExportInfo {
    pub name: String,
    pub value: String,
    pub exporting_stack_id: String,
}

#[derive(Clone, Debug)]
pub struct CloudFormation {
    client: Client,
}

impl CloudFormation {
    pub fn new(client: Client) -> Self {
        CloudFormation { client }
    }

    /// The stack, or `None` when it does not exist.
    pub async fn describe(&self, name: &str) -> anyhow::Result<Option<StackInfo>> {
        let result = self
            .client
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .aws_context(|| format!("describing stack {name}"));
        let output = match result {
            Ok(output) => output,
            Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => return Ok(None),
            Err(error) => return Err(error),
        };
        let Some(stack) = output.stacks().first() else {
            return Ok(None);
        };
        let status = StackStatus::parse(
            stack
                .stack_status()
                .map(|status| status.as_str())
                .unwrap_or_default(),
        );
        if status == StackStatus::DeleteComplete {
            return Ok(None);
        }
        Ok(Some(StackInfo {
            name: stack.stack_name().unwrap_or(name).to_string(),
            id: stack.stack_id().unwrap_or_default().to_string(),
            status,
            status_reason: stack.stack_status_reason().map(str::to_string),
            created: stack
                .creation_time()
                .and_then(|time| std::time::SystemTime::try_from(*time).ok()),
            outputs: stack
                .outputs()
                .iter()
                .filter_map(|output| {
                    Some((
                        output.output_key()?.to_string(),
                        output.output_value()?.to_string(),
                    ))
                })
                .collect(),
            parameters: stack
                .parameters()
                .iter()
                .filter_map(|parameter| {
                    Some((
                        parameter.parameter_key()?.to_string(),
                        parameter.parameter_value().unwrap_or_default().to_string(),
                    ))
                })
                .collect(),
            tags: stack
                .tags()
                .iter()
                .filter_map(|tag| Some((tag.key()?.to_string(), tag.value()?.to_string())))
                .collect(),
            termination_protection: stack.enable_termination_protection() == Some(true),
        }))
    }

    /// Create a change set; returns its ARN.
    pub async fn create_change_set(&self, request: &ChangeSetRequest) -> anyhow::Result<String> {
        let parameters = request
            .parameters
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    ParameterValue::Plain(value) => value.as_str(),
                    ParameterValue::Secret(secret) => secret.expose(),
                };
                Parameter::builder()
                    .parameter_key(key)
                    .parameter_value(value)
                    .build()
            })
            .collect();
        let tags = request
            .tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect();
        let output = self
            .client
            .create_change_set()
            .stack_name(&request.stack_name)
            .change_set_name(&request.change_set_name)
            .change_set_type(if request.create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .template_body(&request.template_body)
            .set_parameters(Some(parameters))
            .set_tags(Some(tags))
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .client_token(&request.client_token)
            .description("created by stackup")
            .send()
            .await
            .aws_context(|| format!("creating change set for stack {}", request.stack_name))?;
        output.id().map(str::to_string).ok_or_else(|| {
            anyhow::anyhow!(
                "CloudFormation returned no change set id for {}",
                request.stack_name
            )
        })
    }

    /// Wait until the change set is ready (or failed), then list its changes.
    pub async fn wait_for_change_set(
        &self,
        change_set: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<ChangeSetOutcome> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = std::time::Duration::from_millis(200);
        loop {
            let mut changes = Vec::new();
            let mut next_token: Option<String> = None;
            let mut status;
            let mut reason;
            loop {
                let output = self
                    .client
                    .describe_change_set()
                    .change_set_name(change_set)
                    .set_next_token(next_token.clone())
                    .send()
                    .await
                    .aws_context(|| format!("describing change set {change_set}"))?;
                status = output.status().cloned();
                reason = output.status_reason().map(str::to_string);
                changes.extend(
                    output
                        .changes()
                        .iter()
                        .filter_map(|change| change.resource_change())
                        .map(ResourceChangeInfo::from),
                );
                next_token = output.next_token().map(str::to_string);
                if next_token.is_none() || status != Some(ChangeSetStatus::CreateComplete) {
                    break;
                }
            }
            match status {
                Some(ChangeSetStatus::CreateComplete) => {
                    return Ok(ChangeSetOutcome::Ready(changes))
                }
                Some(ChangeSetStatus::Failed) => {
                    let reason = reason.unwrap_or_else(|| "no reason given".to_string());
                    return Ok(if is_no_changes_reason(&reason) {
                        ChangeSetOutcome::NoChanges
                    } else {
                        ChangeSetOutcome::Failed(reason)
                    });
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(crate::error::Failure::new(format!(
                    "change set {change_set} was not ready after {}",
                    humantime::format_duration(timeout)
                ))
                .hint("look at it in the CloudFormation console")
                .into());
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(5));
        }
    }

    pub async fn execute_change_set(
        &self,
        change_set: &str,
        client_token: &str,
    ) -> anyhow::Result<()> {
        self.client
            .execute_change_set()
            .change_set_name(change_set)
            .client_request_token(client_token)
            .send()
            .await
            .aws_context(|| format!("executing change set {change_set}"))?;
        Ok(())
    }

    pub async fn delete_change_set(&self, change_set: &str) -> anyhow::Result<()> {
        self.client
            .delete_change_set()
            .change_set_name(change_set)
            .send()
            .await
            .aws_context(|| format!("deleting change set {change_set}"))?;
        Ok(())
    }

    /// The newest page of a stack's events (up to 100), oldest first. Enough
    /// to mark what is there before a change ([`Self::new_events`] stops at
    /// the first event it has seen, and newer events come first) and to show
    /// the last few, without walking a long-lived stack's whole history.
    pub async fn recent_events(&self, stack: &str) -> anyhow::Result<Vec<StackEvent>> {
        let output = self
            .client
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
            .aws_context(|| format!("reading events of stack {stack}"))?;
        let mut events: Vec<StackEvent> =
            output.stack_events().iter().map(StackEvent::from).collect();
        events.reverse();
        Ok(events)
    }

    /// Events not in `seen`, oldest first; `seen` is updated.
    pub async fn new_events(
        &self,
        stack: &str,
        seen: &mut HashSet<String>,
    ) -> anyhow::Result<Vec<StackEvent>> {
        let mut fresh = Vec::new();
        let mut next_token: Option<String> = None;
        'pages: loop {
            let output = self
                .client
                .describe_stack_events()
                .stack_name(stack)
                .set_next_token(next_token.clone())
                .send()
                .await
                .aws_context(|| format!("reading events of stack {stack}"))?;
            // Newest first: stop at the first event already seen.
            for event in output.stack_events() {
                if seen.contains(event.event_id().unwrap_or_default()) {
                    break 'pages;
                }
                fresh.push(StackEvent::from(event));
            }
            next_token = output.next_token().map(str::to_string);
            if next_token.is_none() {
                break;
            }
        }
        for event in &fresh {
            seen.insert(event.id.clone());
        }
        fresh.reverse();
        Ok(fresh)
    }

    /// The template the stack runs (GetTemplate, stage Original), or `None`
    /// when it has none to give.
    pub async fn template(&self, stack: &str) -> anyhow::Result<Option<String>> {
        let output = self
            .client
            .get_template()
            .stack_name(stack)
            .send()
            .await
            .aws_context(|| format!("reading the template of stack {stack}"))?;
        Ok(output.template_body().map(str::to_string))
    }

    /// The stack's policy (GetStackPolicy), `None` when it has none.
    pub async fn stack_policy(&self, stack: &str) -> anyhow::Result<Option<String>> {
        let output = self
            .client
            .get_stack_policy()
            .stack_name(stack)
            .send()
            .await
            .aws_context(|| format!("reading the stack policy of {stack}"))?;
        Ok(output.stack_policy_body().map(str::to_string))
    }

    /// Replace the stack's policy (SetStackPolicy).
    pub async fn set_stack_policy(&self, stack: &str, policy: &str) -> anyhow::Result<()> {
        self.client
            .set_stack_policy()
            .stack_name(stack)
            .stack_policy_body(policy)
            .send()
            .await
            .aws_context(|| format!("setting the stack policy of {stack}"))?;
        Ok(())
    }

    /// Turn termination protection on or off (UpdateTerminationProtection).
    pub async fn set_termination_protection(&self, stack: &str, on: bool) -> anyhow::Result<()> {
        self.client
            .update_termination_protection()
            .stack_name(stack)
            .enable_termination_protection(on)
            .send()
            .await
            .aws_context(|| {
                format!(
                    "turning termination protection of {stack} {}",
                    if on { "on" } else { "off" }
                )
            })?;
        Ok(())
    }

    pub async fn delete_stack(&self, stack: &str, client_token: &str) -> anyhow::Result<()> {
        self.client
            .delete_stack()
            .stack_name(stack)
            .client_request_token(client_token)
            .send()
            .await
            .aws_context(|| format!("deleting stack {stack}"))?;
        Ok(())
    }

    /// Every export of the region.
    pub async fn exports(&self) -> anyhow::Result<Vec<ExportInfo>> {
        let mut exports = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .client
                .list_exports()
                .set_next_token(next_token.clone())
                .send()
                .await
                .aws_context(|| "listing CloudFormation exports")?;
            exports.extend(output.exports().iter().map(|export| ExportInfo {
                name: export.name().unwrap_or_default().to_string(),
                value: export.value().unwrap_or_default().to_string(),
                exporting_stack_id: export.exporting_stack_id().unwrap_or_default().to_string(),
            }));
            next_token = output.next_token().map(str::to_string);
            if next_token.is_none() {
                return Ok(exports);
            }
        }
    }

    /// Names of the stacks that import `export` (empty when none does).
    pub async fn importers(&self, export: &str) -> anyhow::Result<Vec<String>> {
        let mut stacks = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let result = self
                .client
                .list_imports()
                .export_name(export)
                .set_next_token(next_token.clone())
                .send()
                .await
                .aws_context(|| format!("listing the stacks that import {export}"));
            let output = match result {
                Ok(output) => output,
                // "Export 'X' is not imported by any stack." (ListImports, ValidationError)
                Err(error) if is_not_imported(&error) => return Ok(stacks),
                Err(error) => return Err(error),
            };
            stacks.extend(output.imports().iter().cloned());
            next_token = output.next_token().map(str::to_string);
            if next_token.is_none() {
                return Ok(stacks);
            }
        }
    }
}

fn is_not_imported(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<super::AwsError>())
        .any(|aws| {
            aws.code.as_deref() == Some("ValidationError")
                && aws
                    .message
                    .as_deref()
                    .is_some_and(|message| message.contains("is not imported by any stack"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_change_change_sets_are_recognised() {
        assert!(is_no_changes_reason(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(!is_no_changes_reason("Template format error"));
    }
}

/// What moto cannot show, tested with responses shaped like AWS's
/// (CloudFormation API reference: DescribeChangeSet, DescribeStackEvents).
#[cfg(test)]
mod aws_shaped_tests {
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
    use aws_sdk_cloudformation::types::{
        Change, ChangeAction, ChangeSetStatus, ChangeType, Replacement, ResourceChange,
    };
    use aws_sdk_cloudformation::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;

    fn change(
        action: ChangeAction,
        logical: &str,
        kind: &str,
        replacement: Option<Replacement>,
    ) -> Change {
        Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                ResourceChange::builder()
                    .action(action)
                    .logical_resource_id(logical)
                    .resource_type(kind)
                    .set_replacement(replacement)
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_change_set_reports_replacements_once_ready() {
        let rule = mock!(Client::describe_change_set)
            .sequence()
            .output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateInProgress)
                    .build()
            })
            .output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .changes(change(
                        ChangeAction::Modify,
                        "Database",
                        "AWS::RDS::DBInstance",
                        Some(Replacement::True),
                    ))
                    .changes(change(
                        ChangeAction::Modify,
                        "LogGroup",
                        "AWS::Logs::LogGroup",
                        Some(Replacement::False),
                    ))
                    .changes(change(
                        ChangeAction::Remove,
                        "OldBucket",
                        "AWS::S3::Bucket",
                        None,
                    ))
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::Sequential, [&rule]);
        let outcome = CloudFormation::new(client)
            .wait_for_change_set("arn:change-set", std::time::Duration::from_secs(10))
            .await
            .expect("waits");
        let ChangeSetOutcome::Ready(changes) = outcome else {
            panic!("expected a ready change set, got {outcome:?}");
        };
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[0].action, "Modify");
        assert_eq!(changes[0].replacement.as_deref(), Some("True"));
        assert_eq!(changes[1].replacement.as_deref(), Some("False"));
        assert_eq!(changes[2].action, "Remove");
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn an_empty_change_set_is_no_changes_and_other_failures_keep_their_reason() {
        let no_changes = mock!(Client::describe_change_set).then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::Failed)
                .status_reason("The submitted information didn't contain changes. Submit different information to create a change set.")
                .build()
        });
        let client = mock_client!(aws_sdk_cloudformation, [&no_changes]);
        let outcome = CloudFormation::new(client)
            .wait_for_change_set("arn:a", std::time::Duration::from_secs(10))
            .await
            .expect("waits");
        assert!(
            matches!(outcome, ChangeSetOutcome::NoChanges),
            "{outcome:?}"
        );

        let refused = mock!(Client::describe_change_set).then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::Failed)
                .status_reason("Parameters: [DatabaseMasterPassword] must have values")
                .build()
        });
        let client = mock_client!(aws_sdk_cloudformation, [&refused]);
        let outcome = CloudFormation::new(client)
            .wait_for_change_set("arn:b", std::time::Duration::from_secs(10))
            .await
            .expect("waits");
        let ChangeSetOutcome::Failed(reason) = outcome else {
            panic!("expected a failure, got {outcome:?}");
        };
        assert!(reason.contains("DatabaseMasterPassword"));
    }

    /// A change set still being made when the wait ends: what happened is
    /// the message, where to look a hint of its own.
    #[tokio::test]
    async fn a_change_set_not_ready_in_time_says_where_to_look_as_a_hint() {
        let pending = mock!(Client::describe_change_set).then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateInProgress)
                .build()
        });
        let client = mock_client!(aws_sdk_cloudformation, [&pending]);
        let error = CloudFormation::new(client)
            .wait_for_change_set("arn:slow", std::time::Duration::ZERO)
            .await
            .expect_err("not ready in time");
        let failure = error
            .downcast_ref::<crate::error::Failure>()
            .expect("a failure with hints");
        assert_eq!(
            failure.message,
            "change set arn:slow was not ready after 0s"
        );
        assert_eq!(failure.hints, ["look at it in the CloudFormation console"]);
    }
}
