//! Making sure the secrets stack (`secrets_key.rs`: the KMS key that encrypts
//! the application's SecureStrings) exists and runs the current template,
//! before create-stack writes the master password that the platform stack
//! reads. Confirmed, then created or updated as `app_stack` does.

use crate::aws::cloudformation::{CloudFormation, StackInfo, StackStatus};
use crate::config::StackConfig;
use crate::error::Failure;
use crate::ops::app_stack::{runs_parameters, AppStack, Applied};
use crate::ops::stack_events::{existing_events, follow};
use crate::secrets_key;
use crate::ui::{confirm, Printer};

/// What the secrets stack needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    /// Its template or parameters differ from this stackup's.
    Update,
    /// CloudFormation is working on it: followed to its end first.
    Follow(StackStatus),
    Unchanged,
}

/// The secrets stack as it is, and what this run does to it.
pub struct SecretsKeyPlan {
    pub stack_name: String,
    pub key_alias: String,
    pub action: Action,
}

impl SecretsKeyPlan {
    /// One line for create-stack's plan.
    pub fn describe(&self) -> String {
        let what = match &self.action {
            Action::Create => "create".to_string(),
            Action::Update => "update (its template or parameters changed)".to_string(),
            Action::Follow(status) => format!("wait for {status} to settle, then check it"),
            Action::Unchanged => "unchanged".to_string(),
        };
        format!(
            "  {}: {what} (KMS key {} encrypting the stack's SecureStrings)",
            self.stack_name, self.key_alias
        )
    }
}

/// Read the secrets stack and decide. Reads only.
pub async fn plan(
    cloudformation: &CloudFormation,
    stack: &StackConfig,
) -> anyhow::Result<SecretsKeyPlan> {
    let stack_name = secrets_key::stack_name(stack);
    let existing = cloudformation.describe(&stack_name).await?;
    let action = decide(stack, existing.as_ref())?;
    Ok(SecretsKeyPlan {
        stack_name,
        key_alias: secrets_key::key_alias(stack),
        action,
    })
}

fn decide(stack: &StackConfig, existing: Option<&StackInfo>) -> anyhow::Result<Action> {
    let Some(info) = existing else {
        return Ok(Action::Create);
    };
    match &info.status {
        StackStatus::ReviewInProgress => return Ok(Action::Create),
        StackStatus::RollbackComplete
        | StackStatus::RollbackFailed
        | StackStatus::DeleteFailed
        | StackStatus::UpdateRollbackFailed => {
            return Err(Failure::new(format!("stack {} is {}", info.name, info.status))
                .hint(format!(
                    "look at its events (`aws cloudformation describe-stack-events --stack-name {}`) and fix the cause",
                    info.name
                ))
                .hint(format!(
                    "delete it with `aws cloudformation delete-stack --stack-name {}` (its key is retained)",
                    info.name
                ))
                .hint(format!("then run `stackup create-stack {}` again", stack.name))
                .into())
        }
        status if !status.is_settled() => return Ok(Action::Follow(status.clone())),
        _ => {}
    }
    let same_parameters = runs_parameters(info, &secrets_key::parameters(stack));
    let same_template =
        info.tags.get(secrets_key::TEMPLATE_TAG) == Some(&secrets_key::template_sha256());
    Ok(if same_parameters && same_template {
        Action::Unchanged
    } else {
        Action::Update
    })
}

/// Carry the plan out: create or update the secrets stack after asking, or
/// follow it to its end.
pub async fn apply(
    printer: &Printer,
    cloudformation: &CloudFormation,
    stack: &StackConfig,
    mut plan: SecretsKeyPlan,
    yes: bool,
) -> anyhow::Result<()> {
    let name = plan.stack_name.clone();
    let resume = format!(
        "Nothing else was started. Run `stackup create-stack {}` again to follow it to its end and continue.",
        stack.name
    );
    if let Action::Follow(status) = &plan.action {
        printer.info(format!("{name} is {status}: following it until it settles"));
        let mut seen = existing_events(cloudformation, &name).await?;
        let followed = follow(printer, cloudformation, &name, &mut seen, &resume).await?;
        plan.action = decide(stack, followed.stack.as_ref())?;
    }
    let create = match plan.action {
        Action::Unchanged => return Ok(()),
        Action::Follow(status) => {
            return Err(Failure::new(format!(
                "{name} is still {status}; nothing else was started"
            ))
            .hint(format!(
                "run `stackup create-stack {}` again to follow it to its end and continue",
                stack.name
            ))
            .into())
        }
        Action::Create => true,
        Action::Update => false,
    };
    let verb = if create { "Create" } else { "Update" };
    if !confirm(
        &format!(
            "{verb} {name}, the KMS key {} that encrypts the stack's secrets",
            plan.key_alias
        ),
        yes,
    )
    .await?
    {
        anyhow::bail!(
            "cancelled: {name} was not {}d, and nothing else was changed",
            verb.to_lowercase()
        );
    }
    let wanted = AppStack {
        name: &name,
        template_body: secrets_key::TEMPLATE,
        parameters: secrets_key::parameters(stack),
        tags: secrets_key::tags(stack),
        token_purpose: "secrets",
        resume_hint: &resume,
        after_failure: Some("the stack's secrets have no key, so nothing else was started"),
    };
    match wanted.apply(printer, cloudformation, create).await? {
        Applied::NoChanges => {}
        Applied::Completed(settled) => printer.success(format!(
            "{name}: {} (KMS key {})",
            settled.status, plan.key_alias
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn stack() -> StackConfig {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        crate::config::load(dir, "local").expect("stacks/local.toml")
    }

    fn existing(status: &str, template_sha256: &str, stack_id: &str) -> StackInfo {
        StackInfo {
            name: "demo-local-secrets".into(),
            id: "id".into(),
            status: status.into(),
            status_reason: None,
            outputs: BTreeMap::new(),
            created: None,
            parameters: BTreeMap::from([("SecretsStackId".to_string(), stack_id.to_string())]),
            tags: BTreeMap::from([(
                secrets_key::TEMPLATE_TAG.to_string(),
                template_sha256.to_string(),
            )]),
            termination_protection: false,
        }
    }

    /// A settled stack running this template with these parameters is left
    /// alone (no change set); a changed template or parameter is an update.
    #[test]
    fn only_a_changed_template_or_parameter_is_an_update() {
        let stack = stack();
        let current = secrets_key::template_sha256();
        let id = secrets_key::secrets_stack_id(&stack);
        let decided = |info: Option<StackInfo>| decide(&stack, info.as_ref()).expect("decided");
        assert_eq!(decided(None), Action::Create);
        assert_eq!(
            decided(Some(existing("REVIEW_IN_PROGRESS", "", &id))),
            Action::Create
        );
        assert_eq!(
            decided(Some(existing("CREATE_COMPLETE", &current, &id))),
            Action::Unchanged
        );
        assert_eq!(
            decided(Some(existing("UPDATE_ROLLBACK_COMPLETE", &current, &id))),
            Action::Unchanged
        );
        assert_eq!(
            decided(Some(existing("UPDATE_COMPLETE", "an older template", &id))),
            Action::Update
        );
        assert_eq!(
            decided(Some(existing("CREATE_COMPLETE", &current, "other-local"))),
            Action::Update
        );
        assert_eq!(
            decided(Some(existing("UPDATE_IN_PROGRESS", &current, &id))),
            Action::Follow(StackStatus::UpdateInProgress)
        );
        let failed = decide(&stack, Some(&existing("ROLLBACK_COMPLETE", &current, &id)))
            .expect_err("a failed creation is refused");
        assert!(
            failed
                .to_string()
                .contains("aws cloudformation delete-stack --stack-name demo-local-secrets"),
            "{failed}"
        );
    }

    /// A failed secrets stack: its state is the message, each step out of it
    /// a hint of its own.
    #[test]
    fn a_failed_secrets_stack_says_each_step_as_a_hint() {
        let stack = stack();
        let current = secrets_key::template_sha256();
        let id = secrets_key::secrets_stack_id(&stack);
        let error = decide(&stack, Some(&existing("ROLLBACK_COMPLETE", &current, &id)))
            .expect_err("a failed creation is refused");
        let failure = error
            .downcast_ref::<Failure>()
            .expect("a failure with hints");
        assert_eq!(
            failure.message,
            "stack demo-local-secrets is ROLLBACK_COMPLETE"
        );
        assert_eq!(
            failure.hints,
            [
                "look at its events (`aws cloudformation describe-stack-events --stack-name demo-local-secrets`) and fix the cause",
                "delete it with `aws cloudformation delete-stack --stack-name demo-local-secrets` (its key is retained)",
                "then run `stackup create-stack local` again",
            ]
        );
    }
}
