//! What a release needs from the stacks: their outputs, and where the
//! platform stack's life (its release history) starts.

use std::collections::{BTreeMap, BTreeSet};

use crate::aws::cloudformation::CloudFormation;
use crate::aws::Aws;
use crate::config::StackConfig;
use crate::release::history;

/// Outputs of the network and platform stacks, which must exist.
pub async fn stack_outputs(
    stack: &StackConfig,
    aws: &Aws,
) -> anyhow::Result<(BTreeMap<String, String>, history::Life)> {
    stack_outputs_for(stack, aws, None).await
}

/// Outputs of the platform stack, and of the network stack as well unless the
/// platform has every output in `needed` (it re-exports what services use, so
/// a deploy usually reads one stack, not two). A platform output wins over a
/// network output of the same name. With them, the platform stack's life:
/// where its release history starts.
pub async fn stack_outputs_for(
    stack: &StackConfig,
    aws: &Aws,
    needed: Option<&BTreeSet<String>>,
) -> anyhow::Result<(BTreeMap<String, String>, history::Life)> {
    let cloudformation = CloudFormation::new(aws.cloudformation());
    let missing = |name: &str| {
        anyhow::Error::new(
            crate::error::Failure::new(format!("stack {name} does not exist"))
                .hint(format!("run `stackup create-stack {}` first", stack.name)),
        )
    };
    let network_name = stack.network_stack_name();
    let platform_name = stack.platform_stack_name();
    let Some(platform) = cloudformation.describe(&platform_name).await? else {
        // Name the first stack to create, as reading both in order would.
        return Err(match cloudformation.describe(&network_name).await? {
            None => missing(&network_name),
            Some(_) => missing(&platform_name),
        });
    };
    let life = history::Life {
        stack_id: platform.id,
        created: platform.created,
    };
    let mut outputs = platform.outputs;
    let complete =
        needed.is_some_and(|needed| needed.iter().all(|name| outputs.contains_key(name)));
    if !complete {
        let network = cloudformation
            .describe(&network_name)
            .await?
            .ok_or_else(|| missing(&network_name))?;
        for (name, value) in network.outputs {
            outputs.entry(name).or_insert(value);
        }
    }
    Ok((outputs, life))
}
