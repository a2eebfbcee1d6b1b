//! Applying one CloudFormation stack of a plan: a change set made, shown,
//! confirmed, executed and followed until the stack settles; a failed first
//! creation deleted and made again; what a declined or failed run leaves
//! behind cleaned up. `create-stack` calls it per stack, in order.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::cloudformation::{
    ChangeSetOutcome, ChangeSetRequest, CloudFormation, ResourceChangeInfo, StackEvent, StackInfo,
    StackStatus,
};
use crate::aws::errors::with_hint;
use crate::aws::ssm;
use crate::error::Failure;
use crate::ops::ids::{client_token, timestamp};
use crate::ops::stack_events::{describe_failures, existing_events, follow};
use crate::ops::stack_guard::{self, LayerGuard};
use crate::secret::Secret;
use crate::stacks::LayerPlan;
use crate::ui::{confirm, Printer};

#[derive(Serialize)]
pub struct LayerResult {
    pub layer: &'static str,
    pub name: String,
    pub status: StackStatus,
    /// created, updated or unchanged.
    pub result: &'static str,
    pub outputs: BTreeMap<String, String>,
}

pub fn show_changes(printer: &Printer, stack_name: &str, changes: &[ResourceChangeInfo]) {
    printer.info(format!("{stack_name}: {} change(s)", changes.len()));
    let width = changes
        .iter()
        .map(|change| change.logical_id.len())
        .max()
        .unwrap_or(0);
    for change in changes {
        let marker = match change.action.as_str() {
            "Add" => printer.paint("32", "+"),
            "Remove" => printer.paint("31", "-"),
            _ => printer.paint("33", "~"),
        };
        let replacement = match change.replacement.as_deref() {
            Some("True") => printer.paint("31", "  (replaced)"),
            Some("Conditional") => printer.paint("33", "  (may be replaced)"),
            _ => String::new(),
        };
        printer.info(format!(
            "  {marker} {:<8} {:<width$} {}{replacement}",
            change.action, change.logical_id, change.resource_type
        ));
    }
}

/// Create or update one CloudFormation stack. `untouched` names, for the
/// messages of a run that stops here, what it has not started yet.
#[expect(
    clippy::too_many_arguments,
    reason = "one layer's whole context; called once per layer"
)]
pub async fn apply_layer(
    printer: &Printer,
    yes: bool,
    cloudformation: &CloudFormation,
    ssm_client: &aws_sdk_ssm::Client,
    layer: &LayerPlan,
    mut current: Option<StackInfo>,
    store_password: Option<(String, Secret, String)>,
    stack_file: &str,
    untouched: &str,
    guard: &LayerGuard,
) -> anyhow::Result<LayerResult> {
    let resume = &format!(
        "{untouched}Run `stackup create-stack {stack_file}` again to follow it to its end and continue."
    );
    let name = &layer.stack_name;

    // A stack CloudFormation is still working on: follow it to the end first.
    if let Some(stack) = current.as_ref().filter(|stack| stack.is_busy()) {
        printer.info(format!(
            "{name} is {}: following it until it settles",
            stack.status
        ));
        let mut seen = existing_events(cloudformation, name).await?;
        current = follow(printer, cloudformation, name, &mut seen, resume)
            .await?
            .stack;
    }
    match current.as_ref().map(|stack| &stack.status) {
        Some(status @ (StackStatus::RollbackComplete | StackStatus::RollbackFailed)) => {
            printer.warn(format!("{name} failed to create earlier ({status}) and must be deleted before it can be created again"));
            if !confirm(
                &format!("Delete the failed stack {name} and create it again"),
                yes,
            )
            .await?
            {
                anyhow::bail!("cancelled: {name} was left as it is ({status})");
            }
            let mut seen = existing_events(cloudformation, name).await?;
            cloudformation
                .delete_stack(
                    name,
                    &client_token("delete", &format!("{name}-{}", timestamp())),
                )
                .await?;
            let followed = follow(printer, cloudformation, name, &mut seen, resume).await?;
            if let Some(stack) = followed.stack {
                anyhow::bail!(
                    "{name} could not be deleted ({}){}",
                    stack.status,
                    describe_failures(&followed.failures)
                );
            }
            current = None;
        }
        Some(status) => {
            if let Some(stuck) = stuck(name, status, stack_file) {
                return Err(stuck.into());
            }
        }
        None => {}
    }
    let create = current
        .as_ref()
        .is_none_or(|stack| stack.status == StackStatus::ReviewInProgress);

    // The template reads the master password from SSM with a dynamic
    // reference, which CloudFormation resolves from the change set on
    // (user guide, "Get a secure string value from Systems Manager Parameter
    // Store"): it is stored first, and removed again when this run goes no
    // further, so that "not changed" stays true.
    let stored_password = match store_password {
        Some((parameter, password, key_id)) => {
            let stored = ssm::create_secret(
                ssm_client,
                &parameter,
                password.clone(),
                "RDS master password (stackup)",
                &key_id,
            )
            .await?;
            if stored != password {
                return Err(Failure::new(format!(
                    "{parameter} was created by someone else meanwhile"
                ))
                .hint(format!(
                    "run `stackup create-stack {stack_file}` again to use it"
                ))
                .into());
            }
            Some(parameter)
        }
        None => None,
    };
    let forget_password = || async {
        if let Some(parameter) = &stored_password {
            ssm::delete(ssm_client, parameter).await?;
        }
        anyhow::Ok(())
    };

    let change_set_name = format!("stackup-{}", timestamp());
    let request = ChangeSetRequest {
        stack_name: name.clone(),
        change_set_name: change_set_name.clone(),
        create,
        template_body: layer.template_body(),
        parameters: layer.parameters.clone(),
        tags: layer.tags.clone(),
        client_token: client_token(&change_set_name, name),
    };
    let change_set = match cloudformation.create_change_set(&request).await {
        Ok(change_set) => change_set,
        Err(error) => {
            forget_password().await?;
            return Err(error);
        }
    };
    let outcome = cloudformation
        .wait_for_change_set(&change_set, std::time::Duration::from_secs(300))
        .await?;
    let changes = match outcome {
        ChangeSetOutcome::NoChanges => {
            // AWS keeps failed change sets around; tidy up, it is not an error.
            let _ = cloudformation.delete_change_set(&change_set).await;
            printer.success(format!("{name}: no changes"));
            let stack = current.unwrap_or_else(|| unreachable_stack(name));
            stack_guard::ensure(cloudformation, &stack, guard).await?;
            return Ok(LayerResult {
                layer: layer.layer.name(),
                name: name.clone(),
                status: stack.status,
                result: "unchanged",
                outputs: stack.outputs,
            });
        }
        ChangeSetOutcome::Failed(reason) => {
            let _ = cloudformation.delete_change_set(&change_set).await;
            forget_password().await?;
            anyhow::bail!("CloudFormation refused the change set for {name}: {reason}");
        }
        ChangeSetOutcome::Ready(changes) => changes,
    };
    show_changes(printer, name, &changes);
    let verb = if create { "Create" } else { "Update" };
    let answer = confirm(&format!("{verb} {name} with these changes"), yes).await;
    if !matches!(answer, Ok(true)) {
        // Refused (no terminal), declined or interrupted: what showing the
        // changes made goes too, so that "not changed" is true.
        discard_review(printer, cloudformation, &change_set, name, create).await?;
        forget_password().await?;
        return Err(match answer {
            Err(refused) => refused,
            Ok(_) => anyhow::anyhow!("cancelled: {name} was not changed"),
        });
    }
    if let Some(parameter) = &stored_password {
        printer.success(format!(
            "stored the database master password in {parameter}"
        ));
    }
    let mut seen = if create {
        Default::default()
    } else {
        stack_guard::before_update(cloudformation, name, guard).await?;
        existing_events(cloudformation, name).await?
    };
    cloudformation
        .execute_change_set(
            &change_set,
            &client_token("execute", &format!("{name}-{change_set_name}")),
        )
        .await?;
    let followed = follow(printer, cloudformation, name, &mut seen, resume).await?;
    let Some(stack) = followed.stack else {
        anyhow::bail!(
            "{name} disappeared while it was being {}d",
            verb.to_lowercase()
        );
    };
    let status = stack.status;
    if status != StackStatus::RollbackComplete {
        stack_guard::after_settled(cloudformation, name, guard).await?;
    }
    // Followed until it settled: failed, rolled back, or done.
    if !status.is_failed() {
        printer.success(format!("{name}: {status}"));
        return Ok(LayerResult {
            layer: layer.layer.name(),
            name: name.clone(),
            status,
            result: if create { "created" } else { "updated" },
            outputs: stack.outputs,
        });
    }
    // An update the stack policy refused: what it would have replaced, and
    // how to allow it (ops/policy_denial.rs).
    if let Some(denied) = crate::ops::policy_denial::explain(name, stack_file, &followed.failures) {
        return Err(denied.into());
    }
    Err(settled_failure(name, &status, stack_file, &followed.failures).into())
}

/// A stack in a state only the operator can get it out of, and how: after
/// fixing what failed, ContinueUpdateRollback takes an update that could not
/// roll back to UPDATE_ROLLBACK_COMPLETE (CloudFormation API reference,
/// ContinueUpdateRollback); a stack whose deletion failed is deleted again.
fn stuck(name: &str, status: &StackStatus, stack_file: &str) -> Option<Failure> {
    match status {
        StackStatus::UpdateRollbackFailed => Some(
            Failure::new(format!(
                "{name} is UPDATE_ROLLBACK_FAILED: CloudFormation could not roll back an update"
            ))
            .hint(format!(
                "fix the resource it names, then run `aws cloudformation continue-update-rollback --stack-name {name}`"
            ))
            .hint(format!("then run `stackup create-stack {stack_file}` again")),
        ),
        StackStatus::DeleteFailed => Some(
            Failure::new(format!("{name} is DELETE_FAILED"))
                .hint(format!(
                    "fix what blocked the deletion, then run `stackup delete-stack {stack_file}` again"
                )),
        ),
        _ => None,
    }
}

/// A create or update that settled without doing what it was asked to:
/// what happened (with the resources that failed), and what to do next.
fn settled_failure(
    name: &str,
    status: &StackStatus,
    stack_file: &str,
    failures: &[StackEvent],
) -> Failure {
    let (what, next) = match status {
        StackStatus::RollbackComplete => (
            ": creation failed and was rolled back",
            format!(
                "fix the cause, then run `stackup create-stack {stack_file}` again: the failed stack will be replaced"
            ),
        ),
        StackStatus::UpdateRollbackComplete => (
            ": the update failed and was rolled back: the stack is as it was before",
            format!("fix the cause, then run `stackup create-stack {stack_file}` again"),
        ),
        _ => (
            "",
            format!("look at its events with `stackup status {stack_file}`"),
        ),
    };
    Failure::new(format!(
        "{name} is {status}{what}{}",
        describe_failures(failures)
    ))
    .hint(next)
}

/// How long the stack created only to show a change set may take to go.
const REVIEW_STACK_DELETE_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Undo what showing a change set made: the change set, and for a change set
/// that creates the stack, the stack CloudFormation made to hold it
/// (REVIEW_IN_PROGRESS, no resources), waiting until it is gone.
async fn discard_review(
    printer: &Printer,
    cloudformation: &CloudFormation,
    change_set: &str,
    name: &str,
    create: bool,
) -> anyhow::Result<()> {
    cloudformation
        .delete_change_set(change_set)
        .await
        .map_err(|error| {
            with_hint(
                error,
                format!(
                    "delete it with `aws cloudformation delete-change-set --change-set-name {change_set}`"
                ),
            )
            .context(format!(
                "{name} was not changed, but its change set could not be deleted"
            ))
        })?;
    let delete_it = format!("delete it with `aws cloudformation delete-stack --stack-name {name}`");
    if !create {
        return Ok(());
    }
    match cloudformation.describe(name).await? {
        Some(stack) if stack.status == StackStatus::ReviewInProgress => {}
        _ => return Ok(()),
    }
    printer.info(format!(
        "deleting {name}, which CloudFormation created only to show these changes"
    ));
    cloudformation
        .delete_stack(
            name,
            &client_token("discard", &format!("{name}-{}", timestamp())),
        )
        .await
        .map_err(|error| {
            with_hint(error, delete_it.clone()).context(format!(
                "{name} was not changed, but it stays in REVIEW_IN_PROGRESS"
            ))
        })?;
    let started = std::time::Instant::now();
    loop {
        let Some(stack) = cloudformation.describe(name).await? else {
            return Ok(());
        };
        if stack.status == StackStatus::DeleteFailed
            || started.elapsed() > REVIEW_STACK_DELETE_LIMIT
        {
            return Err(Failure::new(format!(
                "{name} was not changed, but it is still {}",
                stack.status
            ))
            .hint(delete_it)
            .into());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// A stack that should exist but was not described: only when CloudFormation
/// reports "no changes" for a stack that does not exist, which it never does.
fn unreachable_stack(name: &str) -> StackInfo {
    StackInfo {
        name: name.to_string(),
        id: String::new(),
        status: StackStatus::Other("UNKNOWN".into()),
        status_reason: None,
        outputs: BTreeMap::new(),
        created: None,
        parameters: BTreeMap::new(),
        tags: BTreeMap::new(),
        termination_protection: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(logical_id: &str, reason: &str) -> StackEvent {
        StackEvent {
            id: "e1".into(),
            timestamp: "2026-12-07T23:00:00Z".into(),
            logical_id: logical_id.into(),
            resource_type: "AWS::EC2::Subnet".into(),
            status: "CREATE_FAILED".into(),
            reason: Some(reason.into()),
        }
    }

    /// What happened is the message (with the failed resources); what to do
    /// is a hint of its own, never glued into the sentence.
    #[test]
    fn a_failed_creation_says_what_failed_then_what_to_do() {
        let failure = settled_failure(
            "demo-v1-network",
            &StackStatus::RollbackComplete,
            "demo",
            &[failed("PublicSubnet1", "The CIDR is invalid")],
        );
        assert_eq!(
            failure.message,
            "demo-v1-network is ROLLBACK_COMPLETE: creation failed and was rolled back\n\
             failed resources:\n  PublicSubnet1 (AWS::EC2::Subnet) CREATE_FAILED: The CIDR is invalid"
        );
        assert_eq!(
            failure.hints,
            ["fix the cause, then run `stackup create-stack demo` again: the failed stack will be replaced"]
        );

        let update = settled_failure(
            "demo-v1-platform",
            &StackStatus::UpdateRollbackComplete,
            "demo",
            &[],
        );
        assert_eq!(
            update.message,
            "demo-v1-platform is UPDATE_ROLLBACK_COMPLETE: the update failed and was rolled back: the stack is as it was before"
        );
        assert_eq!(
            update.hints,
            ["fix the cause, then run `stackup create-stack demo` again"]
        );

        let other = settled_failure("demo-v1-platform", &StackStatus::UpdateFailed, "demo", &[]);
        assert_eq!(other.message, "demo-v1-platform is UPDATE_FAILED");
        assert_eq!(
            other.hints,
            ["look at its events with `stackup status demo`"]
        );
    }

    #[test]
    fn a_stack_only_the_operator_can_free_says_how_as_hints() {
        let rollback = stuck(
            "demo-v1-platform",
            &StackStatus::UpdateRollbackFailed,
            "demo",
        )
        .expect("stuck");
        assert_eq!(
            rollback.message,
            "demo-v1-platform is UPDATE_ROLLBACK_FAILED: CloudFormation could not roll back an update"
        );
        assert_eq!(
            rollback.hints,
            [
                "fix the resource it names, then run `aws cloudformation continue-update-rollback --stack-name demo-v1-platform`",
                "then run `stackup create-stack demo` again"
            ]
        );
        let delete = stuck("demo-v1-platform", &StackStatus::DeleteFailed, "demo").expect("stuck");
        assert_eq!(delete.message, "demo-v1-platform is DELETE_FAILED");
        assert_eq!(
            delete.hints,
            ["fix what blocked the deletion, then run `stackup delete-stack demo` again"]
        );
        assert!(stuck("demo-v1-platform", &StackStatus::UpdateComplete, "demo").is_none());
    }
}
