//! An update CloudFormation refused because the stack policy denies it.
//!
//! stackup keeps a stack policy on its stacks that denies replacing what
//! holds state (`replacement::stack_policy`; CloudFormation user guide
//! "Prevent updates to stack resources"), lifted for one run only by
//! `--allow-replacement`. When an update would replace such a resource and
//! stackup did not foresee it (its prediction knows the create-only
//! properties of the built-in templates' types only), CloudFormation refuses
//! during the update: the resource's event is UPDATE_FAILED with "Action
//! denied by stack policy: Statement [#N] does not allow [ACTIONS] for
//! resource [RESOURCES];" (the denying statement's own lists, not the
//! change's) and the stack rolls back to UPDATE_ROLLBACK_COMPLETE, nothing
//! changed. The failure says so and how to go on.

use crate::aws::cloudformation::StackEvent;
use crate::error::Failure;
use crate::replacement;

/// How every stack-policy refusal's reason begins, as CloudFormation words it.
const DENIED: &str = "Action denied by stack policy";

/// Whether a failed resource's reason is a stack-policy refusal (the one
/// place that reads CloudFormation's text for it).
pub fn is_policy_denial(reason: &str) -> bool {
    reason.trim_start().starts_with(DENIED)
}

/// The failure to report when the stack policy refused the update of
/// `stack_name`; `None` when no failed resource was refused by it.
pub fn explain(stack_name: &str, stack_file: &str, failures: &[StackEvent]) -> Option<Failure> {
    let denied: Vec<&StackEvent> = failures
        .iter()
        .filter(|event| event.reason.as_deref().is_some_and(is_policy_denial))
        .collect();
    if denied.is_empty() {
        return None;
    }
    let resources: Vec<String> = denied
        .iter()
        .map(|event| format!("{} ({})", event.logical_id, event.resource_type))
        .collect();
    let mut message = format!(
        "{stack_name}: CloudFormation refused to replace {} because the stack policy stackup keeps on the stack denies replacing what holds state; \
         the update was rolled back and the stack is as it was before (UPDATE_ROLLBACK_COMPLETE). stackup did not foresee this replacement: \
         it knows which changes replace a resource only for the types of its built-in templates\nCloudFormation said:",
        resources.join(", ")
    );
    for event in &denied {
        message.push_str(&format!(
            "\n  {}: {}",
            event.logical_id,
            event.reason.as_deref().unwrap_or_default()
        ));
    }
    let mut failure = Failure::new(message);
    for event in &denied {
        let loses = if replacement::is_stateful(&event.resource_type) {
            replacement::what_replacement_loses(&event.resource_type)
        } else {
            "a new resource in its place"
        };
        failure = failure.hint(format!(
            "put back what changed for {} (a create-only property of {}, or a resource it refers to): replacing it makes {loses}",
            event.logical_id, event.resource_type
        ));
    }
    let allow: Vec<String> = denied
        .iter()
        .map(|event| format!("--allow-replacement {}", event.logical_id))
        .collect();
    Some(failure.hint(format!(
        "or, if you mean it, run `stackup create-stack {stack_file} {}`",
        allow.join(" ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(logical_id: &str, resource_type: &str, status: &str, reason: &str) -> StackEvent {
        StackEvent {
            id: format!("{logical_id}-{status}"),
            timestamp: "2026-01-01T00:00:00Z".to_string(),
            logical_id: logical_id.to_string(),
            resource_type: resource_type.to_string(),
            status: status.to_string(),
            reason: Some(reason.to_string()),
        }
    }

    /// CloudFormation's words, as its events show them on AWS.
    #[test]
    fn a_refusal_is_known_by_cloudformations_words() {
        assert!(is_policy_denial(
            "Action denied by stack policy: Statement [#2] does not allow [Update:Replace] for resource [LogicalResourceId/Database, LogicalResourceId/TargetGroup];"
        ));
        assert!(is_policy_denial(
            "Action denied by stack policy: Statement [#1] does not allow [Update:*] for resource [*];"
        ));
        assert!(!is_policy_denial("Resource update cancelled"));
        assert!(!is_policy_denial(
            "The following resource(s) failed to update: [Database]. "
        ));
    }

    #[test]
    fn a_refused_replacement_says_what_it_would_lose_and_how_to_allow_it() {
        let failures = [event(
            "Database",
            "AWS::RDS::DBInstance",
            "UPDATE_FAILED",
            "Action denied by stack policy: Statement [#2] does not allow [Update:Replace] for resource [LogicalResourceId/Database];",
        ),
        event("demo-prod-v1-platform", "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [Database]. ")];
        let failure = explain("demo-prod-v1-platform", "prod", &failures).expect("a refusal");
        let text = failure.to_string();
        assert!(
            text.starts_with("demo-prod-v1-platform: CloudFormation refused to replace Database (AWS::RDS::DBInstance) because the stack policy"),
            "{text}"
        );
        assert!(
            text.contains("\n  Database: Action denied by stack policy: Statement [#2] does not allow [Update:Replace]"),
            "{text}"
        );
        assert_eq!(failure.hints.len(), 2, "{text}");
        assert!(failure.hints[0].contains("a new, empty database"), "{text}");
        assert_eq!(
            failure.hints[1],
            "or, if you mean it, run `stackup create-stack prod --allow-replacement Database`"
        );
        // Any other failure keeps its own words.
        let other = [event(
            "Database",
            "AWS::RDS::DBInstance",
            "UPDATE_FAILED",
            "Cannot upgrade postgres from 16 to 15",
        )];
        assert!(explain("demo-prod-v1-platform", "prod", &other).is_none());
    }
}
