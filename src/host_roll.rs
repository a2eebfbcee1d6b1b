//! What an update that replaces the ECS hosts means for the tasks on them.
//!
//! A new image or instance type gives the hosts' launch template a new
//! version, and the Auto Scaling group's rolling update replaces the hosts
//! one at a time (the platform template's `UpdatePolicy`). With the group as
//! an ECS capacity provider whose managed draining is on, ECS drains each
//! host before the group terminates it: the host's service tasks are started
//! on the other hosts first (Amazon ECS developer guide, "Safely stop Amazon
//! ECS workloads running on EC2 instances"). Without it the tasks are stopped
//! with the host, and their services start them again only afterwards. The
//! plan says which, before the update.

use std::collections::BTreeMap;

use serde_json::Value;

/// The parameters whose change replaces the hosts, and what the plan calls them.
const ROLLING: &[(&str, &str)] = &[
    ("EcsAmiId", "image"),
    ("ClusterInstanceType", "instance type"),
];

/// The plan's note when this update replaces the ECS hosts; `None` for a new
/// stack or an update that keeps them. `old` are the running stack's
/// parameters, `new` this run's, `template` the one this run sends.
pub fn roll_note(
    template: &Value,
    old: Option<&BTreeMap<String, String>>,
    new: &BTreeMap<String, String>,
) -> Option<String> {
    let old = old?;
    let changes: Vec<String> = ROLLING
        .iter()
        .filter_map(|(parameter, what)| {
            let (before, after) = (old.get(*parameter)?, new.get(*parameter)?);
            (before != after).then(|| format!("{what} {before} -> {after}"))
        })
        .collect();
    if changes.is_empty() {
        return None;
    }
    let because = changes.join(", ");
    Some(match draining_provider(template) {
        Some(provider) => format!(
            "the ECS hosts are replaced one at a time ({because}); ECS drains each before it goes \
             (capacity provider {provider}, managed draining): the tasks of the services on that \
             capacity provider start on the other hosts first"
        ),
        None => format!(
            "the ECS hosts are replaced one at a time ({because}), and the template has no ECS \
             capacity provider with managed draining for them: the tasks on each host stop with it \
             and start again elsewhere only afterwards"
        ),
    })
}

/// The logical id of the template's capacity provider that drains the hosts:
/// an `AWS::ECS::CapacityProvider` on one of its Auto Scaling groups whose
/// `ManagedDraining` is not `DISABLED` (ECS's default is ENABLED).
pub fn draining_provider(template: &Value) -> Option<&str> {
    let resources = template.get("Resources")?.as_object()?;
    let is_group = |value: &Value| {
        value
            .get("Ref")
            .and_then(Value::as_str)
            .and_then(|id| resources.get(id))
            .and_then(|resource| resource.get("Type"))
            .and_then(Value::as_str)
            == Some("AWS::AutoScaling::AutoScalingGroup")
    };
    resources.iter().find_map(|(logical_id, resource)| {
        let provider = resource
            .get("Properties")?
            .get("AutoScalingGroupProvider")?;
        let drains = provider.get("ManagedDraining").and_then(Value::as_str) != Some("DISABLED");
        (resource.get("Type").and_then(Value::as_str) == Some("AWS::ECS::CapacityProvider")
            && drains
            && provider.get("AutoScalingGroupArn").is_some_and(is_group))
        .then_some(logical_id.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn platform() -> Value {
        serde_json::from_str(include_str!("../stacks/platform.json")).expect("platform.json")
    }

    fn parameters(ami: &str, instance_type: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("EcsAmiId".to_string(), ami.to_string()),
            ("ClusterInstanceType".to_string(), instance_type.to_string()),
            ("AppPort".to_string(), "4000".to_string()),
        ])
    }

    /// The built-in template drains the hosts: a capacity provider with
    /// managed draining on the hosts' group, the cluster's default strategy,
    /// and its name an output the service templates use.
    #[test]
    fn the_platform_template_drains_the_hosts_through_the_cluster_default_provider() {
        let template = platform();
        assert_eq!(draining_provider(&template), Some("EcsCapacityProvider"));
        let provider =
            &template["Resources"]["EcsCapacityProvider"]["Properties"]["AutoScalingGroupProvider"];
        assert_eq!(provider["ManagedDraining"], "ENABLED");
        assert_eq!(
            provider["AutoScalingGroupArn"],
            json!({"Ref": "AutoScalingGroup"})
        );
        // Managed termination protection needs managed scaling (which would
        // take the host count from the stack file) and instances protected
        // from scale-in; neither is on, so it is off too.
        assert_eq!(provider["ManagedTerminationProtection"], "DISABLED");
        assert_eq!(provider["ManagedScaling"]["Status"], "DISABLED");
        let associations = &template["Resources"]["EcsClusterCapacityProviders"];
        assert_eq!(
            associations["Type"],
            "AWS::ECS::ClusterCapacityProviderAssociations"
        );
        assert_eq!(
            associations["Properties"]["Cluster"],
            json!({"Ref": "EcsCluster"})
        );
        assert_eq!(
            associations["Properties"]["DefaultCapacityProviderStrategy"][0]["CapacityProvider"],
            json!({"Ref": "EcsCapacityProvider"})
        );
        assert_eq!(
            template["Outputs"]["CapacityProviderName"]["Value"],
            json!({"Ref": "EcsCapacityProvider"})
        );
        let service: Value =
            serde_json::from_str(include_str!("../task-defs/web-service.json")).expect("service");
        assert!(service.get("launchType").is_none(), "{service}");
        assert_eq!(
            service["capacityProviderStrategy"][0]["capacityProvider"],
            "{{stack.CapacityProviderName}}"
        );
    }

    #[test]
    fn a_new_image_or_instance_type_says_the_hosts_are_drained() {
        let template = platform();
        let old = parameters("ami-old", "t3.small");
        assert_eq!(roll_note(&template, Some(&old), &old), None);
        assert_eq!(
            roll_note(&template, None, &parameters("ami-new", "t3.small")),
            None,
            "a new stack has no hosts to replace"
        );
        let note =
            roll_note(&template, Some(&old), &parameters("ami-new", "t3.medium")).expect("a note");
        assert!(
            note.contains("(image ami-old -> ami-new, instance type t3.small -> t3.medium)"),
            "{note}"
        );
        assert!(
            note.contains("ECS drains each before it goes (capacity provider EcsCapacityProvider, managed draining)"),
            "{note}"
        );
    }

    #[test]
    fn a_template_without_draining_says_the_tasks_stop_with_their_host() {
        let mut template = platform();
        template["Resources"]["EcsCapacityProvider"]["Properties"]["AutoScalingGroupProvider"]
            ["ManagedDraining"] = json!("DISABLED");
        assert_eq!(draining_provider(&template), None);
        let note = roll_note(
            &template,
            Some(&parameters("ami-old", "t3.small")),
            &parameters("ami-new", "t3.small"),
        )
        .expect("a note");
        assert!(
            note.contains("no ECS capacity provider with managed draining"),
            "{note}"
        );
        assert!(
            note.contains("the tasks on each host stop with it"),
            "{note}"
        );
    }
}
