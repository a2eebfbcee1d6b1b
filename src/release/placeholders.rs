//! Placeholders in task and service definition templates.
//!
//! One syntax: `{{ name }}` inside a JSON string or object key, with optional spaces. Names:
//!
//! | name | value |
//! |---|---|
//! | `image.<container>` | the image given with `--image <container>=<image>` |
//! | `stack.<Output>` | an output of the stack's network or platform CloudFormation stack |
//! | `parameter.<path>` | the ARN of the SSM parameter `/stackup/<stack>/<path>` (for `secrets[].valueFrom`) |
//! | `cookie.arn` | the ARN of the Erlang cookie's SSM parameter (for `RELEASE_COOKIE`) |
//! | `app`, `environment`, `version`, `stack_id`, `region`, `account_id` | the stack's identity |
//! | `service.name`, `service.desired_count`, `service.node_basename`, `service.node_name`, `service.port` | from `[services.<name>]` and `[load_balancer]` |
//! | `service.distribution_ports` | `[cluster] distribution_ports`, as `FIRST-LAST` (for the entrypoint's DISTRIBUTION_PORTS) |
//! | `service.registry_arn` | the service's Cloud Map service in the platform stack (for `serviceRegistries[].registryArn`) |
//! | `service.dns_name` | `<service>.<namespace>`: the private DNS name answering with the service's running tasks' addresses |
//! | `family`, `task_definition` | the task family (`<stack_id>-<service>`) and the ARN of the revision being deployed |
//! | `release.id` | a unique id of this release |
//!
//! Substitution is always textual: the result is a string. Where the ECS API
//! wants a number (`"containerPort": "{{ service.port }}"`), deploy-release
//! accepts a string of digits. An unknown name, or one without a value, is an
//! error that names it and the file.

use serde_json::Value;

/// Names without a dot that are always known.
pub const PLAIN_NAMES: &[&str] = &[
    "app",
    "environment",
    "version",
    "stack_id",
    "region",
    "account_id",
    "family",
    "task_definition",
];

/// Fixed dotted names.
pub const DOTTED_NAMES: &[&str] = &[
    "cookie.arn",
    "release.id",
    "service.name",
    "service.desired_count",
    "service.node_basename",
    "service.node_name",
    "service.distribution_ports",
    "service.port",
    "service.registry_arn",
    "service.dns_name",
];

/// Namespaces whose second part is chosen by the user.
pub const OPEN_NAMESPACES: &[&str] = &["image", "stack", "parameter"];

/// The longest image reference ECS takes.
const IMAGE_REFERENCE_LIMIT: usize = 255;

/// What is wrong with an image reference given for `{{image.<container>}}`,
/// if anything: ECS takes up to 255 characters, and the reference must parse
/// by the distribution grammar (see [`super::image_reference`]) or the agent
/// cannot pull it.
pub fn image_reference_problem(image: &str) -> Option<String> {
    if image.chars().count() > IMAGE_REFERENCE_LIMIT {
        return Some(format!(
            "is {} characters long; ECS takes at most {IMAGE_REFERENCE_LIMIT}",
            image.chars().count()
        ));
    }
    super::image_reference::parse(image).err()
}

/// `--image CONTAINER=IMAGE` with an image ECS would not take, as a problem
/// that says how to write one; found before any AWS call.
pub fn image_argument_problem(container: &str, image: &str) -> Option<crate::error::Problem> {
    image_reference_problem(image).map(|problem| {
        crate::error::Problem::new(format!("--image {container}={image}: the image {problem}"))
            .fix(format!(
                "give an image reference as Docker writes one, REGISTRY/REPOSITORY:TAG or @sha256:DIGEST (repository in lowercase, at most {IMAGE_REFERENCE_LIMIT} characters), like --image {container}=123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo:1.4.2"
            ))
    })
}

/// A placeholder found in a template, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// JSON pointer of the string holding it, for example `/containerDefinitions/0/image`.
    pub pointer: String,
}

/// A malformed use of the syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxProblem {
    pub pointer: String,
    pub message: String,
}

/// The placeholder names in one string, in order.
pub fn names_in(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("`{{{{` without a closing `}}}}` in \"{text}\""))?;
        let name = after[..end].trim();
        if !is_well_formed(name) {
            return Err(format!(
                "`{{{{{}}}}}` is not a placeholder: names are like `image.web` or `stack.ClusterName`",
                &after[..end]
            ));
        }
        names.push(name.to_string());
        rest = &after[end + 2..];
    }
    Ok(names)
}

fn is_well_formed(name: &str) -> bool {
    let (head, tail) = match name.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (name, None),
    };
    let head_ok = !head.is_empty() && head.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    let tail_ok = tail.is_none_or(|tail| {
        !tail.is_empty()
            && tail
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
    });
    head_ok && tail_ok
}

/// The value of a placeholder that the stack file alone decides (the stack's
/// identity, the service's settings, the task family); `None` for the others.
pub fn stack_value(
    stack: &crate::config::StackConfig,
    service: &crate::config::ServiceConfig,
    name: &str,
) -> Option<String> {
    Some(match name {
        "service.name" => service.name.clone(),
        "service.desired_count" => service.desired_count.to_string(),
        "service.node_basename" => service.node_basename.clone(),
        "service.node_name" => service.node_name.as_str().to_string(),
        "service.distribution_ports" => {
            let (first, last) = stack.cluster.distribution_ports;
            format!("{first}-{last}")
        }
        "service.port" => stack.load_balancer.port.to_string(),
        "app" => stack.app.clone(),
        "environment" => stack.environment.clone(),
        "version" => stack.version.to_string(),
        "stack_id" => stack.stack_id(),
        "family" => format!("{}-{}", stack.stack_id(), service.name),
        _ => return None,
    })
}

/// Whether a well-formed name is one stackup knows how to fill.
pub fn is_known(name: &str) -> bool {
    if PLAIN_NAMES.contains(&name) || DOTTED_NAMES.contains(&name) {
        return true;
    }
    match name.split_once('.') {
        Some((namespace, _)) => OPEN_NAMESPACES.contains(&namespace),
        None => false,
    }
}

/// Every placeholder in a JSON document, and every syntax problem.
pub fn scan(value: &Value) -> (Vec<Found>, Vec<SyntaxProblem>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    walk(
        value,
        &mut String::new(),
        &mut |pointer, text| match names_in(text) {
            Ok(names) => found.extend(names.into_iter().map(|name| Found {
                name,
                pointer: pointer.to_string(),
            })),
            Err(message) => problems.push(SyntaxProblem {
                pointer: pointer.to_string(),
                message,
            }),
        },
    );
    (found, problems)
}

fn walk(value: &Value, pointer: &mut String, visit: &mut impl FnMut(&str, &str)) {
    match value {
        Value::String(text) => visit(pointer, text),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let length = pointer.len();
                pointer.push_str(&format!("/{index}"));
                walk(item, pointer, visit);
                pointer.truncate(length);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                // A key may hold placeholders too (`"{{app}}.owner"` in dockerLabels).
                visit(pointer, key);
                walk(item, pointer, visit);
                pointer.truncate(length);
            }
        }
        _ => {}
    }
}

/// Replace every placeholder using `lookup`; returns the names without a value.
pub fn resolve(
    value: &Value,
    lookup: &impl Fn(&str) -> Option<Value>,
) -> Result<Value, Vec<String>> {
    let mut missing = Vec::new();
    let resolved = resolve_value(value, lookup, &mut missing);
    if missing.is_empty() {
        Ok(resolved)
    } else {
        missing.sort();
        missing.dedup();
        Err(missing)
    }
}

fn resolve_value(
    value: &Value,
    lookup: &impl Fn(&str) -> Option<Value>,
    missing: &mut Vec<String>,
) -> Value {
    match value {
        Value::String(text) => resolve_string(text, lookup, missing),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| resolve_value(item, lookup, missing))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let key = match resolve_string(key, lookup, missing) {
                        Value::String(key) => key,
                        _ => key.clone(),
                    };
                    (key, resolve_value(item, lookup, missing))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn resolve_string(
    text: &str,
    lookup: &impl Fn(&str) -> Option<Value>,
    missing: &mut Vec<String>,
) -> Value {
    let Ok(names) = names_in(text) else {
        // Syntax problems are reported by `scan` before resolution.
        return Value::String(text.to_string());
    };
    if names.is_empty() {
        return Value::String(text.to_string());
    }
    let mut output = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        output.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let name = after[..end].trim();
        match lookup(name) {
            Some(Value::String(value)) => output.push_str(&value),
            Some(other) => output.push_str(&other.to_string()),
            None => missing.push(name.to_string()),
        }
        rest = after.get(end + 2..).unwrap_or_default();
    }
    output.push_str(rest);
    Value::String(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_names_with_or_without_spaces() {
        assert_eq!(
            names_in("{{image.web}} and {{ stack.LogGroupName }}").expect("valid"),
            vec!["image.web", "stack.LogGroupName"]
        );
        assert!(names_in("{{image.web").is_err());
        assert!(names_in("{{ Image }}").is_err());
        assert!(names_in("{{}}").is_err());
        assert!(names_in("plain ${SHELL} text").expect("valid").is_empty());
    }

    #[test]
    fn image_references_are_what_ecs_takes() {
        for good in [
            "ghcr.io/example/demo:2.0.0",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo:1.4.2",
            "localhost:5000/team_a/demo",
        ] {
            assert_eq!(image_reference_problem(good), None, "{good}");
        }
        assert_eq!(
            image_reference_problem("has space:1").as_deref(),
            Some("has a space, which no image reference has")
        );
        assert!(image_reference_problem("\"demo:1\"").is_some());
        assert!(image_reference_problem("demo:1\n").is_some());
        assert!(image_reference_problem("ghcr.io/Example/Shop:1.0").is_some());
        assert!(image_reference_problem(&"a".repeat(256))
            .is_some_and(|problem| problem.contains("at most 255")));
    }

    #[test]
    fn known_names() {
        assert!(is_known("image.web"));
        assert!(is_known("stack.TargetGroupArn"));
        assert!(is_known("cookie.arn"));
        assert!(is_known("app"));
        assert!(!is_known("cookie.value"));
        assert!(!is_known("images.web"));
    }

    #[test]
    fn scan_reports_json_pointers() {
        let template = json!({"containerDefinitions": [{"image": "{{image.web}}", "name": "web"}]});
        let (found, problems) = scan(&template);
        assert!(problems.is_empty());
        assert_eq!(
            found,
            vec![Found {
                name: "image.web".into(),
                pointer: "/containerDefinitions/0/image".into()
            }]
        );
    }

    #[test]
    fn substitution_is_textual() {
        let template = json!({"desiredCount": "{{service.desired_count}}", "name": "{{app}}-{{ service.name }}"});
        let resolved = resolve(&template, &|name| match name {
            "service.desired_count" => Some(json!(3)),
            "app" => Some(json!("demo")),
            "service.name" => Some(json!("web")),
            _ => None,
        })
        .expect("resolves");
        assert_eq!(resolved, json!({"desiredCount": "3", "name": "demo-web"}));
    }

    #[test]
    fn keys_are_scanned_and_resolved_too() {
        let template = json!({"dockerLabels": {"{{app}}.owner": "{{ service.name }}"}});
        let (found, problems) = scan(&template);
        assert!(problems.is_empty());
        assert_eq!(
            found,
            vec![
                Found {
                    name: "app".into(),
                    pointer: "/dockerLabels/{{app}}.owner".into()
                },
                Found {
                    name: "service.name".into(),
                    pointer: "/dockerLabels/{{app}}.owner".into()
                }
            ]
        );
        let resolved = resolve(&template, &|name| match name {
            "app" => Some(json!("demo")),
            "service.name" => Some(json!("web")),
            _ => None,
        })
        .expect("resolves");
        assert_eq!(resolved, json!({"dockerLabels": {"demo.owner": "web"}}));
        assert_eq!(
            resolve(&json!({"{{stack.Nope}}": 1}), &|_| None),
            Err(vec!["stack.Nope".to_string()])
        );
        let (_, problems) = scan(&json!({"{{app": 1}));
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn unresolved_names_are_listed_once() {
        let template = json!(["{{image.web}}", "{{image.web}}", "{{stack.X}}"]);
        assert_eq!(
            resolve(&template, &|_| None),
            Err(vec!["image.web".to_string(), "stack.X".to_string()])
        );
    }
}
