//! Making sure the images stack (`images.rs`) holds a repository for every
//! container the stack file builds (created or updated as `app_stack` does).
//! `build` calls it: repositories appear when a container is first built,
//! and a stack version never owns them.

use crate::aws::cloudformation::{CloudFormation, StackStatus};
use crate::config::StackConfig;
use crate::error::Failure;
use crate::images;
use crate::ops::app_stack::{runs_parameters, AppStack, Applied};
use crate::ui::Printer;

/// Create or update the images stack so that it holds `repositories`.
/// Returns whether anything changed.
pub async fn ensure(
    printer: &Printer,
    cloudformation: &CloudFormation,
    stack: &StackConfig,
    repositories: &[String],
) -> anyhow::Result<bool> {
    let stack_name = images::stack_name(stack);
    let resume_hint = format!("run `stackup build {}` again", stack.name);
    let wanted = AppStack {
        name: &stack_name,
        template_body: images::TEMPLATE,
        parameters: images::parameters(stack, repositories)?,
        tags: images::tags(stack),
        token_purpose: "images",
        resume_hint: &resume_hint,
        after_failure: None,
    };
    let existing = cloudformation.describe(&stack_name).await?;
    if let Some(info) = &existing {
        if info.is_busy() {
            return Err(
                Failure::new(format!("stack {stack_name} is {}", info.status))
                    .hint(format!(
                        "wait until it settles, then run `stackup build {}` again",
                        stack.name
                    ))
                    .into(),
            );
        }
        if runs_parameters(info, &wanted.parameters) && info.status.is_complete() {
            return Ok(false);
        }
    }
    let create = existing
        .as_ref()
        .is_none_or(|info| info.status == StackStatus::ReviewInProgress);
    printer.info(format!(
        "{stack_name}: {} the ECR repositories {}",
        if create { "creating" } else { "updating" },
        repositories.join(", ")
    ));
    let applied = wanted.apply(printer, cloudformation, create).await?;
    Ok(matches!(applied, Applied::Completed(_)))
}

/// Against DescribeStacks shaped like AWS's answer (CloudFormation API
/// reference, "Stack"): a stack CloudFormation is still working on.
#[cfg(test)]
mod aws_shaped_tests {
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::types::{Stack, StackStatus as SdkStackStatus};
    use aws_sdk_cloudformation::Client;
    use aws_smithy_mocks::{mock, mock_client};

    use super::*;
    use crate::ui::OutputFormat;

    /// A busy images stack is left alone: what it is doing is the message,
    /// what to do a hint of its own; no change set is asked for.
    #[tokio::test]
    async fn a_busy_images_stack_says_to_wait_as_a_hint() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let stack = crate::config::load(dir, "local").expect("stacks/local.toml");
        let name = images::stack_name(&stack);
        let described = mock!(Client::describe_stacks).then_output(move || {
            DescribeStacksOutput::builder()
                .stacks(
                    Stack::builder()
                        .stack_name(name.clone())
                        .stack_id("id")
                        .stack_status(SdkStackStatus::UpdateInProgress)
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_cloudformation, [&described]);
        let printer = Printer::new(OutputFormat::Text, true, true, 0);
        let error = ensure(
            &printer,
            &CloudFormation::new(client),
            &stack,
            &["demo/web".to_string()],
        )
        .await
        .expect_err("a busy stack is not changed");
        let failure = error
            .downcast_ref::<Failure>()
            .expect("a failure with hints");
        assert_eq!(
            failure.message,
            format!("stack {} is UPDATE_IN_PROGRESS", images::stack_name(&stack))
        );
        assert_eq!(
            failure.hints,
            ["wait until it settles, then run `stackup build local` again"]
        );
        assert_eq!(described.num_calls(), 1);
    }
}
