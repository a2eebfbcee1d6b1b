//! A JSON-aware diff, for showing what a deploy changes. Arrays of objects
//! with a `name` are matched by name (containers, environment, secrets), so a
//! reordering is not a change; secrets are references and shown as such.

use std::collections::BTreeMap;

use serde_json::Value;

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
        _ => true,
    });
    changes.sort_by(|left, right| path_of(left).cmp(path_of(right)));
    changes
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
}
