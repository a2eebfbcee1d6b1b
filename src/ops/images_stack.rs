//! Making sure the images stack (`images.rs`) holds a repository for every
//! container the stack file builds, through a change set as create-stack does
//! (CloudFormation user guide, "Update stacks using change sets"), followed
//! until it settles. `build` calls it: repositories appear when a container
//! is first built, and a stack version never owns them.

use std::collections::HashSet;

use crate::aws::cloudformation::{ChangeSetOutcome, ChangeSetRequest, CloudFormation};
use crate::config::StackConfig;
use crate::images;
use crate::ops::ids::{client_token, timestamp};
use crate::ops::stack_events::{existing_events, follow};
use crate::ui::Printer;

const CHANGE_SET_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Create or update the images stack so that it holds `repositories`.
/// Returns whether anything changed.
pub async fn ensure(
    printer: &Printer,
    cloudformation: &CloudFormation,
    stack: &StackConfig,
    repositories: &[String],
) -> anyhow::Result<bool> {
    let stack_name = images::stack_name(stack);
    let parameters = images::parameters(stack, repositories)?;
    let existing = cloudformation.describe(&stack_name).await?;
    if let Some(info) = &existing {
        if info.is_busy() {
            anyhow::bail!(
                "stack {stack_name} is {}: wait until it settles, then run `stackup build {}` again",
                info.status,
                stack.name
            );
        }
        let wanted: Vec<(String, String)> = parameters
            .iter()
            .map(|(key, value)| (key.clone(), plain_text(value)))
            .collect();
        let same = wanted
            .iter()
            .all(|(key, value)| info.parameters.get(key) == Some(value))
            && info.status.ends_with("_COMPLETE")
            && !info.status.contains("ROLLBACK");
        if same {
            return Ok(false);
        }
    }
    let create = existing.is_none()
        || existing
            .as_ref()
            .is_some_and(|info| info.status == "REVIEW_IN_PROGRESS");
    let change_set_name = format!("stackup-{}", timestamp());
    let request = ChangeSetRequest {
        stack_name: stack_name.clone(),
        change_set_name: change_set_name.clone(),
        create,
        template_body: images::TEMPLATE.to_string(),
        parameters,
        tags: images::tags(stack),
        client_token: client_token("images", &change_set_name),
    };
    printer.info(format!(
        "{stack_name}: {} the ECR repositories {}",
        if create { "creating" } else { "updating" },
        repositories.join(", ")
    ));
    let change_set = cloudformation.create_change_set(&request).await?;
    match cloudformation
        .wait_for_change_set(&change_set, CHANGE_SET_TIMEOUT)
        .await?
    {
        ChangeSetOutcome::NoChanges => {
            cloudformation.delete_change_set(&change_set).await?;
            return Ok(false);
        }
        ChangeSetOutcome::Failed(reason) => {
            anyhow::bail!("the change set of {stack_name} failed: {reason}")
        }
        ChangeSetOutcome::Ready(_) => {}
    }
    let mut seen: HashSet<String> = existing_events(cloudformation, &stack_name).await?;
    cloudformation
        .execute_change_set(&change_set, &client_token("images-exec", &change_set_name))
        .await?;
    let followed = follow(
        printer,
        cloudformation,
        &stack_name,
        &mut seen,
        &format!("run `stackup build {}` again", stack.name),
    )
    .await?;
    if let Err(ended) = followed.completed() {
        anyhow::bail!("stack {stack_name} {ended}");
    }
    Ok(true)
}

fn plain_text(value: &crate::aws::cloudformation::ParameterValue) -> String {
    match value {
        crate::aws::cloudformation::ParameterValue::Plain(text) => text.clone(),
        crate::aws::cloudformation::ParameterValue::Secret(secret) => secret.expose().to_string(),
    }
}
