//! The platform's DeployRole as written in stacks/platform.json, for the
//! tests that record what the deploying commands call (tests/deploy_release.rs,
//! tests/build.rs; included there with `#[path]`). tests/iam_policies.rs
//! evaluates the same policies with their resources.

/// The actions the platform's DeployRole allows (stacks/platform.json), as
/// written: names or patterns with `*`.
pub fn deploy_role_actions() -> Vec<String> {
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::common::repo_root().join("stacks/platform.json"))
            .expect("platform template"),
    )
    .expect("JSON");
    let mut actions = Vec::new();
    for policy in template["Resources"]["DeployRole"]["Properties"]["Policies"]
        .as_array()
        .expect("DeployRole policies")
    {
        for statement in policy["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements")
        {
            // A Deny takes nothing away from what the commands need here
            // (tests/iam_policies.rs proves what each denies).
            if statement["Effect"] == "Deny" {
                continue;
            }
            assert_eq!(statement["Effect"], "Allow", "{statement}");
            match &statement["Action"] {
                serde_json::Value::String(action) => actions.push(action.clone()),
                serde_json::Value::Array(list) => actions.extend(
                    list.iter()
                        .map(|action| action.as_str().expect("action").to_string()),
                ),
                other => panic!("an Action that is neither a name nor a list: {other}"),
            }
        }
    }
    actions
}

/// Whether an IAM action pattern (`ecs:Describe*`) matches an action; IAM
/// compares them without regard to case.
pub fn allows(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_lowercase(), action.to_lowercase());
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == action;
    }
    let mut rest = action.as_str();
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if index == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}
