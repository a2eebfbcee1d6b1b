//! The guard around a CloudFormation stack's life: which resources an update
//! would replace (`replacement::predict`, against the template and parameters
//! the stack runs), consent for those that hold state, the stack policy that
//! denies their replacement otherwise, and termination protection.
//!
//! CloudFormation user guide: "Prevent updates to stack resources" (a stack
//! policy applies to every update; SetStackPolicy replaces it, so a run the
//! operator allowed to replace a resource lifts the Deny for that resource and
//! puts it back once the stack settles) and "Protect a stack from being
//! deleted" (UpdateTerminationProtection; DeleteStack fails while it is on).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::aws::cloudformation::{CloudFormation, StackInfo, StackStatus};
use crate::config::StackConfig;
use crate::error::Problem;
use crate::replacement::{self, Replacement};
use crate::stacks::{LayerPlan, TEMPLATE_TAG};

/// One stack's guard for this run.
#[derive(Clone, Debug, Default)]
pub struct LayerGuard {
    /// The stateful resources of its template, which the policy protects.
    pub protected: Vec<String>,
    /// Those of them this run may replace (`--allow-replacement`).
    pub allowed: BTreeSet<String>,
    /// What the update would replace; empty for a stack being created.
    pub replacements: Vec<Replacement>,
}

impl LayerGuard {
    /// The stack's policy while this run updates it.
    fn policy_during_run(&self) -> String {
        replacement::stack_policy(&self.protected, &self.allowed)
    }

    /// The stack's policy between runs: no stateful resource replaced.
    fn policy(&self) -> String {
        replacement::stack_policy(&self.protected, &BTreeSet::new())
    }
}

/// Predict what updating the stack `current` with `layer` replaces, and name
/// what the run may replace. A stack that does not exist yet replaces nothing.
pub async fn plan(
    cloudformation: &CloudFormation,
    layer: &LayerPlan,
    current: Option<&StackInfo>,
    allowed: &[String],
) -> anyhow::Result<LayerGuard> {
    let protected = replacement::stateful_resources(&layer.template.body);
    let allowed = allowed
        .iter()
        .filter(|logical_id| protected.contains(logical_id))
        .cloned()
        .collect();
    let Some(current) = current.filter(|stack| stack.status != StackStatus::ReviewInProgress)
    else {
        return Ok(LayerGuard {
            protected,
            allowed,
            replacements: Vec::new(),
        });
    };
    // The template the stack runs; without one, the parameters alone are
    // compared. Its `stackup:template-sha256` tag saying it is this template
    // (CloudFormation rolls tags back with the template) spares the
    // GetTemplate: the stack policy guards whatever a prediction misses.
    let same_template = current.tags.get(TEMPLATE_TAG) == Some(&layer.template.sha256());
    let running: Value = if same_template {
        layer.template.body.clone()
    } else {
        cloudformation
            .template(&current.name)
            .await?
            .and_then(|body| serde_json::from_str(&body).ok())
            .unwrap_or_else(|| layer.template.body.clone())
    };
    let new_parameters: BTreeMap<String, String> = layer.displayed_parameters();
    let replacements = replacement::predict(
        &running,
        &current.parameters,
        &layer.template.body,
        &new_parameters,
    );
    Ok(LayerGuard {
        protected,
        allowed,
        replacements,
    })
}

/// Every `--allow-replacement` that names no stateful resource of the stacks,
/// and every stateful replacement not allowed: bad input, before any change.
pub fn refusals(
    stack: &StackConfig,
    guards: &[(&str, &LayerGuard)],
    allowed: &[String],
) -> Vec<Problem> {
    let protected: BTreeSet<&String> = guards
        .iter()
        .flat_map(|(_, guard)| &guard.protected)
        .collect();
    let mut problems: Vec<Problem> = allowed
        .iter()
        .filter(|logical_id| !protected.contains(logical_id))
        .map(|logical_id| {
            Problem::new(format!(
                "--allow-replacement {logical_id}: the stacks have no resource {logical_id} that holds state"
            ))
            .fix(format!(
                "name one of {}",
                protected
                    .iter()
                    .map(|id| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
        .collect();
    for (stack_name, guard) in guards {
        for replaced in &guard.replacements {
            if !replaced.stateful || guard.allowed.contains(&replaced.logical_id) {
                continue;
            }
            problems.push(
                Problem::new(format!(
                    "{stack_name}: this change replaces {} ({}): {}; CloudFormation would make {}",
                    replaced.logical_id,
                    replaced.resource_type,
                    replaced.because.join("; "),
                    replacement::what_replacement_loses(&replaced.resource_type)
                ))
                .in_file(&stack.file)
                .fix(format!(
                    "put the setting back, or, if you mean it, run `stackup create-stack {} \
                     --allow-replacement {}`",
                    stack.name, replaced.logical_id
                )),
            );
        }
    }
    problems
}

/// Before an update runs: the policy lets it replace what it may and nothing
/// else (a stack created before stackup set policies gets one now).
pub async fn before_update(
    cloudformation: &CloudFormation,
    stack_name: &str,
    guard: &LayerGuard,
) -> anyhow::Result<()> {
    cloudformation
        .set_stack_policy(stack_name, &guard.policy_during_run())
        .await
}

/// A stack the run leaves as it is: its policy and termination protection
/// put in place only when they are not (a stack created before stackup set
/// them), so that a run with nothing to do changes nothing.
pub async fn ensure(
    cloudformation: &CloudFormation,
    stack: &StackInfo,
    guard: &LayerGuard,
) -> anyhow::Result<()> {
    let wanted: Option<Value> = serde_json::from_str(&guard.policy()).ok();
    let current: Option<Value> = cloudformation
        .stack_policy(&stack.name)
        .await?
        .and_then(|body| serde_json::from_str(&body).ok());
    if current != wanted {
        cloudformation
            .set_stack_policy(&stack.name, &guard.policy())
            .await?;
    }
    if !stack.termination_protection {
        cloudformation
            .set_termination_protection(&stack.name, true)
            .await?;
    }
    Ok(())
}

/// Once the stack has settled (created, updated, unchanged or rolled back):
/// its policy denies every stateful replacement again, and it cannot be
/// deleted but by `stackup delete-stack`.
pub async fn after_settled(
    cloudformation: &CloudFormation,
    stack_name: &str,
    guard: &LayerGuard,
) -> anyhow::Result<()> {
    cloudformation
        .set_stack_policy(stack_name, &guard.policy())
        .await?;
    cloudformation
        .set_termination_protection(stack_name, true)
        .await
}
