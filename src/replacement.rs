//! Which resources an update would replace, predicted before any change, and
//! the guard on those that hold state.
//!
//! CloudFormation replaces a resource (a new one is made, the old one deleted)
//! when an update changes one of its create-only properties (CloudFormation
//! user guide "Update behaviors of stack resources"; the resource schemas'
//! `createOnlyProperties`). `create_only_properties.json` lists them for every
//! type of the built-in templates, extracted from the schemas cfn-lint ships
//! by `scripts/create-only-properties`. A replaced database is a new, empty
//! one; a replaced target group has no targets: such resources are replaced
//! only with the operator's consent (`--allow-replacement <LogicalId>`), and a
//! stack policy denying `Update:Replace` on them (CloudFormation user guide
//! "Prevent updates to stack resources") holds whatever else updates the stack.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// Resource types whose replacement loses data or an address others hold:
/// a database, a target group's registrations and the address clients use, a
/// load balancer's DNS name, an Elastic IP, a log group's events, a VPC (and
/// everything in it).
const STATEFUL_TYPES: &[&str] = &[
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ElasticLoadBalancingV2::TargetGroup",
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::EC2::EIP",
    "AWS::Logs::LogGroup",
    "AWS::EC2::VPC",
    "AWS::ECR::Repository",
    "AWS::S3::Bucket",
];

fn create_only() -> &'static BTreeMap<String, Vec<String>> {
    static TABLE: OnceLock<BTreeMap<String, Vec<String>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let document: Value =
            serde_json::from_str(include_str!("replacement/create_only_properties.json"))
                .unwrap_or_default();
        serde_json::from_value(document["types"].clone()).unwrap_or_default()
    })
}

/// The create-only properties of a resource type (`Port`, `Foo/Bar` for a
/// nested one); `None` for a type the table does not know.
pub fn create_only_properties(resource_type: &str) -> Option<&'static [String]> {
    create_only().get(resource_type).map(Vec::as_slice)
}

pub fn is_stateful(resource_type: &str) -> bool {
    STATEFUL_TYPES.contains(&resource_type)
}

/// What replacing a stateful resource of this type loses, for messages.
pub fn what_replacement_loses(resource_type: &str) -> &'static str {
    match resource_type {
        "AWS::RDS::DBInstance" | "AWS::RDS::DBCluster" => {
            "a new, empty database (the old one is deleted, with a snapshot kept only if its UpdateReplacePolicy is Snapshot)"
        }
        "AWS::ElasticLoadBalancingV2::TargetGroup" => {
            "a new target group with no targets: the services' tasks are registered in the old one until each service is deployed again"
        }
        "AWS::ElasticLoadBalancingV2::LoadBalancer" => "a new load balancer with a new DNS name",
        "AWS::EC2::EIP" => "a new address: whatever allows or resolves the old one stops reaching it",
        "AWS::Logs::LogGroup" => "a new, empty log group (the old one's events are deleted)",
        "AWS::EC2::VPC" => "a new network, and everything in it made again",
        _ => "a new, empty resource",
    }
}

/// One resource the update would replace, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Replacement {
    pub logical_id: String,
    pub resource_type: String,
    /// `MasterUsername (parameter DatabaseMasterUsername: postgres -> admin)`.
    pub because: Vec<String>,
    pub stateful: bool,
}

/// The stateful resources of a template, by logical id (what the stack policy protects).
pub fn stateful_resources(template: &Value) -> Vec<String> {
    resources(template)
        .filter(|(_, resource)| resource_type(resource).is_some_and(is_stateful))
        .map(|(logical_id, _)| logical_id.clone())
        .collect()
}

fn resources(template: &Value) -> impl Iterator<Item = (&String, &Value)> {
    template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

fn resource_type(resource: &Value) -> Option<&str> {
    resource.get("Type").and_then(Value::as_str)
}

/// Parameter values as the stack sees them: those given, else the template's defaults.
fn with_defaults(template: &Value, given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = template
        .get("Parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, declaration)| {
            let default = match declaration.get("Default")? {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Some((name.clone(), default))
        })
        .collect();
    values.extend(
        given
            .iter()
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    values
}

/// A property with its parameters' values put in: `Ref` to a parameter and
/// `${Parameter}` in `Fn::Sub` (enough to compare two versions of it; other
/// intrinsics are compared as written).
fn substituted(value: &Value, parameters: &BTreeMap<String, String>) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 => {
            if let Some(name) = map.get("Ref").and_then(Value::as_str) {
                if let Some(parameter) = parameters.get(name) {
                    return Value::String(parameter.clone());
                }
            }
            if let Some(Value::String(text)) = map.get("Fn::Sub") {
                let mut text = text.clone();
                for (name, parameter) in parameters {
                    text = text.replace(&format!("${{{name}}}"), parameter);
                }
                return json!({ "Fn::Sub": text });
            }
            Value::Object(
                map.iter()
                    .map(|(key, item)| (key.clone(), substituted(item, parameters)))
                    .collect(),
            )
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), substituted(item, parameters)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substituted(item, parameters))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The parameters and resources a property refers to (Ref, Fn::GetAtt, Fn::Sub).
fn references(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("Ref", Value::String(name)) => {
                        found.insert(name.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(name)) = parts.first() {
                            found.insert(name.clone());
                        }
                    }
                    ("Fn::GetAtt", Value::String(dotted)) => {
                        found.insert(dotted.split('.').next().unwrap_or_default().to_string());
                    }
                    ("Fn::Sub", _) => {
                        let text = match item {
                            Value::String(text) => Some(text.as_str()),
                            Value::Array(parts) => parts.first().and_then(Value::as_str),
                            _ => None,
                        };
                        for piece in text.unwrap_or_default().split("${").skip(1) {
                            if let Some((name, _)) = piece.split_once('}') {
                                found
                                    .insert(name.split('.').next().unwrap_or_default().to_string());
                            }
                        }
                        references(item, found);
                    }
                    _ => references(item, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

/// A create-only property of a resource (`A/B` is nested).
fn property<'a>(resource: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/')
        .try_fold(resource.get("Properties")?, |value, key| value.get(key))
}

/// Compare the running stack (its template and parameter values) with what
/// the update sends: which resources it would replace. NoEcho values come
/// back from AWS masked; the new ones are given masked too (`****`), so they
/// compare equal and are never shown.
pub fn predict(
    old_template: &Value,
    old_parameters: &BTreeMap<String, String>,
    new_template: &Value,
    new_parameters: &BTreeMap<String, String>,
) -> Vec<Replacement> {
    let old_values = with_defaults(old_template, old_parameters);
    let new_values = with_defaults(new_template, new_parameters);
    let old_resources: BTreeMap<&String, &Value> = resources(old_template).collect();
    let mut replaced: BTreeMap<String, Replacement> = BTreeMap::new();
    // Create-only properties and what they refer to, for the second pass.
    let mut referring: Vec<(String, String, String, BTreeSet<String>)> = Vec::new();
    for (logical_id, resource) in resources(new_template) {
        let Some(old) = old_resources.get(logical_id) else {
            continue;
        };
        let Some(new_type) = resource_type(resource) else {
            continue;
        };
        let mut because = Vec::new();
        if resource_type(old) != Some(new_type) {
            because.push(format!(
                "its type changes from {}",
                resource_type(old).unwrap_or("none")
            ));
        }
        for path in create_only_properties(new_type).unwrap_or_default() {
            let before = property(old, path).map(|value| substituted(value, &old_values));
            let after = property(resource, path).map(|value| substituted(value, &new_values));
            let mut names = BTreeSet::new();
            if let Some(value) = property(resource, path) {
                references(value, &mut names);
            }
            if before != after {
                because.push(describe_change(path, &names, &old_values, &new_values));
            }
            referring.push((
                logical_id.clone(),
                new_type.to_string(),
                path.clone(),
                names,
            ));
        }
        if !because.is_empty() {
            replaced.insert(
                logical_id.clone(),
                Replacement {
                    logical_id: logical_id.clone(),
                    resource_type: new_type.to_string(),
                    because,
                    stateful: is_stateful(new_type),
                },
            );
        }
    }
    // A replaced resource has a new name or id: whatever takes it in a
    // create-only property is replaced too (a new DB subnet group, a new database).
    loop {
        let mut grew = false;
        for (logical_id, resource_type, path, names) in &referring {
            let Some(cause) = names
                .iter()
                .find(|name| replaced.contains_key(*name) && *name != logical_id)
            else {
                continue;
            };
            let reason = format!("{path} refers to {cause}, which is replaced");
            let entry = replaced
                .entry(logical_id.clone())
                .or_insert_with(|| Replacement {
                    logical_id: logical_id.clone(),
                    resource_type: resource_type.clone(),
                    because: Vec::new(),
                    stateful: is_stateful(resource_type),
                });
            if !entry.because.contains(&reason) {
                entry.because.push(reason);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    replaced.into_values().collect()
}

fn describe_change(
    path: &str,
    names: &BTreeSet<String>,
    old_values: &BTreeMap<String, String>,
    new_values: &BTreeMap<String, String>,
) -> String {
    let changed: Vec<String> = names
        .iter()
        .filter(|name| old_values.get(*name) != new_values.get(*name))
        .map(|name| {
            let shown = |value: Option<&String>| {
                value.map_or_else(|| "(none)".to_string(), |value| format!("\"{value}\""))
            };
            format!(
                "parameter {name}: {} -> {}",
                shown(old_values.get(name)),
                shown(new_values.get(name))
            )
        })
        .collect();
    if changed.is_empty() {
        format!("{path} changes in the template")
    } else {
        format!("{path} ({})", changed.join(", "))
    }
}

/// The stack policy: every update allowed, except replacing a stateful
/// resource other than those `allowed` (CloudFormation user guide "Prevent
/// updates to stack resources": an explicit Deny wins over the Allow).
pub fn stack_policy(protected: &[String], allowed: &BTreeSet<String>) -> String {
    let denied: Vec<String> = protected
        .iter()
        .filter(|logical_id| !allowed.contains(*logical_id))
        .map(|logical_id| format!("LogicalResourceId/{logical_id}"))
        .collect();
    let mut statements = vec![json!({
        "Effect": "Allow",
        "Action": "Update:*",
        "Principal": "*",
        "Resource": "*"
    })];
    if !denied.is_empty() {
        statements.push(json!({
            "Effect": "Deny",
            "Action": "Update:Replace",
            "Principal": "*",
            "Resource": denied
        }));
    }
    json!({ "Statement": statements }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameters(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn platform() -> Value {
        serde_json::from_str(include_str!("../stacks/platform.json")).expect("platform.json")
    }

    #[test]
    fn the_table_knows_the_built_in_templates_types() {
        for template in [
            include_str!("../stacks/network.json"),
            include_str!("../stacks/platform.json"),
        ] {
            let template: Value = serde_json::from_str(template).expect("template");
            for (logical_id, resource) in resources(&template) {
                let resource_type = resource_type(resource).expect("Type");
                assert!(
                    create_only_properties(resource_type).is_some(),
                    "{logical_id} {resource_type}: run scripts/create-only-properties"
                );
            }
        }
        let database = create_only_properties("AWS::RDS::DBInstance").expect("DBInstance");
        assert!(database.contains(&"MasterUsername".to_string()));
        assert!(database.contains(&"DBSubnetGroupName".to_string()));
    }

    #[test]
    fn a_new_master_user_replaces_the_database() {
        let template = platform();
        let old = parameters(&[("DatabaseMasterUsername", "postgres"), ("AppPort", "4000")]);
        let new = parameters(&[("DatabaseMasterUsername", "admin"), ("AppPort", "4000")]);
        let replaced = predict(&template, &old, &template, &new);
        assert_eq!(replaced.len(), 1, "{replaced:?}");
        assert_eq!(replaced[0].logical_id, "Database");
        assert!(replaced[0].stateful);
        assert_eq!(
            replaced[0].because,
            vec!["MasterUsername (parameter DatabaseMasterUsername: \"postgres\" -> \"admin\")"]
        );
        // Nothing changes, nothing is replaced; a change to a property that
        // is updated in place replaces nothing either.
        assert_eq!(predict(&template, &old, &template, &old), vec![]);
        let bigger = parameters(&[
            ("DatabaseMasterUsername", "postgres"),
            ("AppPort", "4000"),
            ("DatabaseInstanceClass", "db.m7g.large"),
        ]);
        assert_eq!(predict(&template, &old, &template, &bigger), vec![]);
    }

    #[test]
    fn a_new_port_replaces_the_target_group() {
        let template = platform();
        let old = parameters(&[("AppPort", "4000")]);
        let new = parameters(&[("AppPort", "4001")]);
        let replaced: Vec<String> = predict(&template, &old, &template, &new)
            .into_iter()
            .filter(|replacement| replacement.stateful)
            .map(|replacement| replacement.logical_id)
            .collect();
        assert_eq!(replaced, vec!["TargetGroup"]);
    }

    #[test]
    fn a_replaced_subnet_group_replaces_the_database_that_names_it() {
        let old: Value = serde_json::from_value(json!({
            "Resources": {
                "Group": {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupName": "a"}},
                "Database": {"Type": "AWS::RDS::DBInstance", "Properties": {"DBSubnetGroupName": {"Ref": "Group"}}}
            }
        }))
        .expect("json");
        let mut new = old.clone();
        new["Resources"]["Group"]["Properties"]["DBSubnetGroupName"] = json!("b");
        let replaced = predict(&old, &BTreeMap::new(), &new, &BTreeMap::new());
        let ids: Vec<&str> = replaced.iter().map(|r| r.logical_id.as_str()).collect();
        assert_eq!(ids, vec!["Database", "Group"]);
        assert_eq!(
            replaced[0].because,
            vec!["DBSubnetGroupName refers to Group, which is replaced"]
        );
        assert_eq!(
            replaced[1].because,
            vec!["DBSubnetGroupName changes in the template"]
        );
    }

    #[test]
    fn the_policy_denies_replacing_what_was_not_allowed() {
        let protected = vec!["Database".to_string(), "TargetGroup".to_string()];
        let policy: Value =
            serde_json::from_str(&stack_policy(&protected, &BTreeSet::new())).expect("json");
        assert_eq!(
            policy["Statement"][1]["Resource"],
            json!([
                "LogicalResourceId/Database",
                "LogicalResourceId/TargetGroup"
            ])
        );
        assert_eq!(policy["Statement"][1]["Action"], "Update:Replace");
        let allowed = BTreeSet::from(["Database".to_string()]);
        let policy: Value =
            serde_json::from_str(&stack_policy(&protected, &allowed)).expect("json");
        assert_eq!(
            policy["Statement"][1]["Resource"],
            json!(["LogicalResourceId/TargetGroup"])
        );
        assert_eq!(
            stateful_resources(&platform())
                .iter()
                .filter(|id| ["Database", "TargetGroup", "LoadBalancer", "LogGroup"]
                    .contains(&id.as_str()))
                .count(),
            4
        );
    }
}
