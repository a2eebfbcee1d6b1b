//! A JSON-aware diff, for showing what a deploy changes. Arrays of objects
//! with a `name` are matched by name (containers, environment, secrets), so a
//! reordering is not a change; secrets are references and shown as such. A
//! task definition field that one side leaves out and the other gives as
//! ECS's default for it (`essential: true`, as DescribeTaskDefinition fills
//! it in) is no change either.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ecs_model::{EcsDefault, TASK_DEFINITION_DEFAULTS};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added(String, String),
    Removed(String, String),
    Changed(String, String, String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added(path, value) => write!(f, "+ {path}: {value}"),
            Change::Removed(path, value) => write!(f, "- {path}: {value}"),
            Change::Changed(path, old, new) => write!(f, "~ {path}: {old} -> {new}"),
        }
    }
}

fn flatten(value: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                flatten(item, child, out);
            }
        }
        Value::Array(items) => {
            let named = items
                .iter()
                .all(|item| item.get("name").and_then(Value::as_str).is_some());
            for (index, item) in items.iter().enumerate() {
                let key = match item.get("name").and_then(Value::as_str) {
                    Some(name) if named => name.to_string(),
                    _ => index.to_string(),
                };
                flatten(item, format!("{path}[{key}]"), out);
            }
            if items.is_empty() {
                out.insert(path, "[]".into());
            }
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}

/// The changes from `old` to `new`, in path order.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    flatten(old, String::new(), &mut before);
    flatten(new, String::new(), &mut after);
    let mut changes = Vec::new();
    for (path, value) in &after {
        match before.get(path) {
            None => changes.push(Change::Added(path.clone(), value.clone())),
            Some(old) if old != value => {
                changes.push(Change::Changed(path.clone(), old.clone(), value.clone()))
            }
            Some(_) => {}
        }
    }
    for (path, value) in &before {
        if !after.contains_key(path) {
            changes.push(Change::Removed(path.clone(), value.clone()));
        }
    }
    // An empty list that gains (or loses) items: the items say it all.
    let has_items = |map: &BTreeMap<String, String>, path: &str| {
        map.range(format!("{path}[")..)
            .next()
            .is_some_and(|(key, _)| key.starts_with(&format!("{path}[")))
    };
    changes.retain(|change| match change {
        Change::Added(path, value) if value == "[]" => !has_items(&before, path),
        Change::Removed(path, value) if value == "[]" => !has_items(&after, path),
        Change::Added(path, value) => !is_ecs_default(path, value, &after),
        Change::Removed(path, value) => !is_ecs_default(path, value, &before),
        Change::Changed(..) => true,
    });
    changes.sort_by(|left, right| path_of(left).cmp(path_of(right)));
    changes
}

/// Whether `value` at `path` of a flattened task definition (`document`) is
/// what ECS takes the field's absence to mean.
fn is_ecs_default(path: &str, value: &str, document: &BTreeMap<String, String>) -> bool {
    // `containerDefinitions[web].portMappings[0].hostPort` is
    // `containerDefinitions[].portMappings[].hostPort`.
    let mut pattern = String::with_capacity(path.len());
    let mut in_key = false;
    for character in path.chars() {
        match character {
            '[' => {
                in_key = true;
                pattern.push('[');
            }
            ']' => {
                in_key = false;
                pattern.push(']');
            }
            _ if in_key => {}
            other => pattern.push(other),
        }
    }
    let Some((_, default)) = TASK_DEFINITION_DEFAULTS
        .iter()
        .find(|(default_path, _)| *default_path == pattern)
    else {
        return false;
    };
    match default {
        EcsDefault::Is(default) => value == *default,
        EcsDefault::HostPort => {
            let mode = document.get("networkMode").map(String::as_str);
            if matches!(mode, Some("\"awsvpc\"" | "\"host\"")) {
                path.strip_suffix("hostPort")
                    .and_then(|mapping| document.get(&format!("{mapping}containerPort")))
                    .is_some_and(|container_port| container_port == value)
            } else {
                value == "0"
            }
        }
    }
}

fn path_of(change: &Change) -> &str {
    match change {
        Change::Added(path, _) | Change::Removed(path, _) | Change::Changed(path, _, _) => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_matched_by_name_and_changes_named_by_path() {
        let old = json!({"containerDefinitions": [
            {"name": "web", "image": "demo:1", "environment": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "s:1"}]});
        let new = json!({"containerDefinitions": [
            {"name": "sidecar", "image": "s:1"},
            {"name": "web", "image": "demo:2", "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]});
        let lines: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "+ containerDefinitions[web].environment[B].name: \"B\"",
                "+ containerDefinitions[web].environment[B].value: \"2\"",
                "~ containerDefinitions[web].image: \"demo:1\" -> \"demo:2\"",
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }

    #[test]
    fn what_ecs_fills_in_for_a_field_left_out_is_no_change() {
        // As DescribeTaskDefinition gives back a revision registered from
        // the template below.
        let registered = json!({"networkMode": "awsvpc", "containerDefinitions": [
            {"name": "web", "image": "demo:1", "essential": true,
             "portMappings": [{"containerPort": 4000, "hostPort": 4000, "protocol": "tcp"}],
             "healthCheck": {"command": ["true"], "interval": 30, "timeout": 5, "retries": 3}},
            {"name": "worker", "image": "demo:1", "essential": true, "privileged": false,
             "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": false}]}]});
        let template = json!({"networkMode": "awsvpc", "containerDefinitions": [
            {"name": "web", "image": "demo:1",
             "portMappings": [{"containerPort": 4000}],
             "healthCheck": {"command": ["true"]}},
            {"name": "worker", "image": "demo:1", "essential": true,
             "mountPoints": [{"sourceVolume": "data", "containerPath": "/data"}]}]});
        assert_eq!(diff(&registered, &template), vec![]);
        assert_eq!(diff(&template, &registered), vec![]);

        // Other values than the defaults are changes.
        let changed = json!({"containerDefinitions": [
            {"name": "web", "image": "demo:1", "essential": false,
             "portMappings": [{"containerPort": 4000, "hostPort": 4001}],
             "healthCheck": {"command": ["true"], "interval": 10}}]});
        let bare = json!({"containerDefinitions": [
            {"name": "web", "image": "demo:1",
             "portMappings": [{"containerPort": 4000}],
             "healthCheck": {"command": ["true"]}}]});
        let lines: Vec<String> = diff(&bare, &changed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            vec![
                "+ containerDefinitions[web].essential: false",
                "+ containerDefinitions[web].healthCheck.interval: 10",
                "+ containerDefinitions[web].portMappings[0].hostPort: 4001",
            ]
        );
        // In bridge mode a host port left out is a dynamic one, not the container's.
        let fixed = json!({"containerDefinitions": [{"name": "web", "image": "demo:1",
            "portMappings": [{"containerPort": 4000, "hostPort": 4000}]}]});
        let dynamic = json!({"containerDefinitions": [{"name": "web", "image": "demo:1",
            "portMappings": [{"containerPort": 4000, "hostPort": 0}]}]});
        let plain = json!({"containerDefinitions": [{"name": "web", "image": "demo:1",
            "portMappings": [{"containerPort": 4000}]}]});
        assert_eq!(diff(&fixed, &plain).len(), 1);
        assert_eq!(diff(&dynamic, &plain), vec![]);
    }
}
