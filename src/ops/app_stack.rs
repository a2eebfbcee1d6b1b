//! A small per-application stack (the images stack, the secrets stack): one
//! template stackup carries, created or updated through a change set
//! (CloudFormation user guide, "Update stacks using change sets"), executed
//! and followed until it settles. Each caller keeps what is its own: the
//! template, its parameters and tags, when to ask and what to say, and what
//! the stack's outputs mean.

use std::collections::{BTreeMap, HashSet};

use crate::aws::cloudformation::{
    ChangeSetOutcome, ChangeSetRequest, CloudFormation, ParameterValue, StackInfo,
};
use crate::ops::ids::{client_token, timestamp};
use crate::ops::stack_events::{existing_events, follow};
use crate::ui::Printer;

/// How long CloudFormation may take to make a change set.
const CHANGE_SET_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// One application stack, as this stackup would have it.
pub struct AppStack<'a> {
    pub name: &'a str,
    pub template_body: &'static str,
    pub parameters: Vec<(String, ParameterValue)>,
    pub tags: BTreeMap<String, String>,
    /// Names the change set's client tokens: "images", "secrets".
    pub token_purpose: &'static str,
    /// What to run to pick up after an interrupted follow.
    pub resume_hint: &'a str,
    /// A line added when the stack fails: what its failure leaves undone.
    pub after_failure: Option<&'a str>,
}

/// What applying the stack did.
#[derive(Debug)]
pub enum Applied {
    /// CloudFormation found nothing to change; its change set is deleted.
    NoChanges,
    /// Created or updated: the stack as it settled, its outputs read.
    Completed(StackInfo),
}

/// Whether `running` was given `parameters`. A secret never matches:
/// CloudFormation does not give NoEcho values back.
pub fn runs_parameters(running: &StackInfo, parameters: &[(String, ParameterValue)]) -> bool {
    parameters.iter().all(|(key, value)| match value {
        ParameterValue::Plain(text) => running.parameters.get(key) == Some(text),
        ParameterValue::Secret(_) => false,
    })
}

impl AppStack<'_> {
    /// Create (`create`: no stack, or one CloudFormation holds for review)
    /// or update the stack, and follow it until it settles. A change set
    /// CloudFormation refuses is deleted and its reason is the error; so is
    /// a stack that does not end CREATE_COMPLETE or UPDATE_COMPLETE, with its
    /// failed resources.
    pub async fn apply(
        self,
        printer: &Printer,
        cloudformation: &CloudFormation,
        create: bool,
    ) -> anyhow::Result<Applied> {
        let name = self.name;
        let change_set_name = format!("stackup-{}", timestamp());
        let request = ChangeSetRequest {
            stack_name: name.to_string(),
            change_set_name: change_set_name.clone(),
            create,
            template_body: self.template_body.to_string(),
            parameters: self.parameters,
            tags: self.tags,
            client_token: client_token(self.token_purpose, &change_set_name),
        };
        let change_set = cloudformation.create_change_set(&request).await?;
        match cloudformation
            .wait_for_change_set(&change_set, CHANGE_SET_TIMEOUT)
            .await?
        {
            ChangeSetOutcome::NoChanges => {
                cloudformation.delete_change_set(&change_set).await?;
                return Ok(Applied::NoChanges);
            }
            ChangeSetOutcome::Failed(reason) => {
                // AWS keeps a failed change set; it is of no further use.
                let _ = cloudformation.delete_change_set(&change_set).await;
                anyhow::bail!("CloudFormation refused the change set for {name}: {reason}")
            }
            ChangeSetOutcome::Ready(_) => {}
        }
        // A stack being created shows every event (as `apply_stack` does);
        // one being updated only those from now on.
        let mut seen: HashSet<String> = if create {
            HashSet::new()
        } else {
            existing_events(cloudformation, name).await?
        };
        let execute_purpose = format!("{}-exec", self.token_purpose);
        cloudformation
            .execute_change_set(
                &change_set,
                &client_token(&execute_purpose, &change_set_name),
            )
            .await?;
        let followed = follow(printer, cloudformation, name, &mut seen, self.resume_hint).await?;
        match (followed.completed(), followed.stack) {
            (Ok(_), Some(stack)) => Ok(Applied::Completed(stack)),
            (outcome, _) => {
                let ended = outcome.err().unwrap_or_else(|| "ended deleted".to_string());
                let after = self
                    .after_failure
                    .map(|note| format!("\n{note}"))
                    .unwrap_or_default();
                anyhow::bail!("stack {name} {ended}{after}")
            }
        }
    }
}

/// The operation against responses shaped like AWS's (CloudFormation API
/// reference: CreateChangeSet, DescribeChangeSet, ExecuteChangeSet,
/// DescribeStacks): what moto cannot show, a refused change set with its
/// reason and an update that rolls back.
#[cfg(test)]
mod aws_shaped_tests {
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
    use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
    use aws_sdk_cloudformation::primitives::DateTime;
    use aws_sdk_cloudformation::types::{
        Change, ChangeAction, ChangeSetStatus, ChangeType, Output, ResourceChange, Stack,
        StackStatus as SdkStackStatus,
    };
    use aws_sdk_cloudformation::Client;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    use super::*;
    use crate::ui::{OutputFormat, Printer};

    const NAME: &str = "demo-local-images";
    const CHANGE_SET: &str = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/x/1";

    fn wanted(after_failure: Option<&'static str>) -> AppStack<'static> {
        AppStack {
            name: NAME,
            template_body: "{}",
            parameters: vec![(
                "Repositories".to_string(),
                ParameterValue::Plain("demo/web".to_string()),
            )],
            tags: BTreeMap::new(),
            token_purpose: "images",
            resume_hint: "run it again",
            after_failure,
        }
    }

    fn created() -> Rule {
        mock!(Client::create_change_set)
            .match_requests(|request| {
                request
                    .client_token()
                    .is_some_and(|token| token.starts_with("stackup-images-stackup-"))
            })
            .then_output(|| CreateChangeSetOutput::builder().id(CHANGE_SET).build())
    }

    fn described(status: ChangeSetStatus, reason: Option<&'static str>) -> Rule {
        mock!(Client::describe_change_set).then_output(move || {
            DescribeChangeSetOutput::builder()
                .status(status.clone())
                .set_status_reason(reason.map(str::to_string))
                .changes(
                    Change::builder()
                        .r#type(ChangeType::Resource)
                        .resource_change(
                            ResourceChange::builder()
                                .action(ChangeAction::Add)
                                .logical_resource_id("Repository")
                                .resource_type("AWS::ECR::Repository")
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
    }

    fn stack(status: SdkStackStatus) -> Rule {
        mock!(Client::describe_stacks).then_output(move || {
            DescribeStacksOutput::builder()
                .stacks(
                    Stack::builder()
                        .stack_name(NAME)
                        .stack_id("id")
                        .stack_status(status.clone())
                        .creation_time(DateTime::from_secs(1_790_000_000))
                        .outputs(
                            Output::builder()
                                .output_key("RepositoryUri")
                                .output_value(
                                    "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo/web",
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
    }

    fn no_events() -> Rule {
        mock!(Client::describe_stack_events)
            .then_output(|| DescribeStackEventsOutput::builder().build())
    }

    fn executed() -> Rule {
        mock!(Client::execute_change_set)
            .match_requests(|request| {
                request
                    .client_request_token()
                    .is_some_and(|token| token.starts_with("stackup-images-exec-stackup-"))
            })
            .then_output(|| ExecuteChangeSetOutput::builder().build())
    }

    fn deleted() -> Rule {
        mock!(Client::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build())
    }

    fn printer() -> Printer {
        Printer::new(OutputFormat::Text, true, true, 0)
    }

    #[tokio::test]
    async fn a_created_stack_comes_back_with_its_outputs() {
        let rules = [
            created(),
            described(ChangeSetStatus::CreateComplete, None),
            executed(),
            no_events(),
            stack(SdkStackStatus::CreateComplete),
            deleted(),
        ];
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &rules);
        let applied = wanted(None)
            .apply(&printer(), &CloudFormation::new(client), true)
            .await
            .expect("applied");
        let Applied::Completed(settled) = applied else {
            panic!("expected a completed stack, got {applied:?}");
        };
        assert_eq!(
            settled.status,
            crate::aws::cloudformation::StackStatus::CreateComplete
        );
        assert!(settled.outputs["RepositoryUri"].ends_with("/demo/web"));
        let [create, _, execute, _, _, delete] = &rules;
        assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
        assert_eq!(delete.num_calls(), 0, "a change set carried out stays");
    }

    #[tokio::test]
    async fn a_refused_change_set_is_deleted_and_its_reason_is_the_error() {
        let rules = [
            created(),
            described(
                ChangeSetStatus::Failed,
                Some("Template error: Unresolved resource dependencies [Key]"),
            ),
            deleted(),
            executed(),
        ];
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &rules);
        let error = wanted(None)
            .apply(&printer(), &CloudFormation::new(client), false)
            .await
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "CloudFormation refused the change set for demo-local-images: Template error: Unresolved resource dependencies [Key]"
        );
        let [_, _, delete, execute] = &rules;
        assert_eq!(delete.num_calls(), 1, "the failed change set is deleted");
        assert_eq!(execute.num_calls(), 0, "nothing is executed");
    }

    #[tokio::test]
    async fn no_changes_executes_nothing() {
        let rules = [
            created(),
            described(
                ChangeSetStatus::Failed,
                Some("The submitted information didn't contain changes. Submit different information to create a change set."),
            ),
            deleted(),
            executed(),
        ];
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &rules);
        let applied = wanted(None)
            .apply(&printer(), &CloudFormation::new(client), false)
            .await
            .expect("no changes is no error");
        assert!(matches!(applied, Applied::NoChanges), "{applied:?}");
        let [_, _, delete, execute] = &rules;
        assert_eq!((delete.num_calls(), execute.num_calls()), (1, 0));
    }

    #[tokio::test]
    async fn an_update_rolled_back_fails_with_what_it_leaves_undone() {
        let rules = [
            created(),
            described(ChangeSetStatus::CreateComplete, None),
            no_events(),
            executed(),
            stack(SdkStackStatus::UpdateRollbackComplete),
        ];
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &rules);
        let error = wanted(Some("nothing else was started"))
            .apply(&printer(), &CloudFormation::new(client), false)
            .await
            .expect_err("rolled back");
        assert_eq!(
            error.to_string(),
            "stack demo-local-images ended UPDATE_ROLLBACK_COMPLETE\nnothing else was started"
        );
    }
}
