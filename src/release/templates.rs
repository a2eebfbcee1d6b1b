//! Offline checks of task and service definition templates (`task-defs/*.json`).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::placeholders;
use crate::error::Problem;

/// Which template a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    TaskDefinition,
    ServiceDefinition,
}

/// What the checks know about the rest of the stack.
pub struct CheckContext<'a> {
    /// Outputs of the network and platform templates (`stack.<Output>`).
    pub stack_outputs: &'a BTreeSet<String>,
    /// Container names of the service's task definition (`image.<container>`).
    pub containers: &'a BTreeSet<String>,
}

/// Last words of environment variable names that hold a secret, which must
/// come from `secrets[]`, never `environment[]` (DESIGN.md section 7).
/// Matched on whole words so that `PASSWORD_MIN_LENGTH`, `COOKIE_DOMAIN` or
/// `TOKENIZERS_PARALLELISM` (settings about secrets, not secrets) pass.
const SECRET_LAST_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASS",
    "SECRET",
    "TOKEN",
    "COOKIE",
    "CREDENTIALS",
];

/// Last two words of names that hold a secret: keys, and URLs, which carry
/// the password in them.
const SECRET_LAST_PAIRS: &[[&str; 2]] = &[
    ["PRIVATE", "KEY"],
    ["API", "KEY"],
    ["SECRET", "KEY"],
    ["ACCESS", "KEY"],
    ["DATABASE", "URL"],
];

/// Whether an environment variable of this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split('_').filter(|word| !word.is_empty()).collect();
    let Some(last) = words.last() else {
        return false;
    };
    // Phoenix's signing secret.
    upper == "SECRET_KEY_BASE"
        || SECRET_LAST_WORDS.contains(last)
        || SECRET_LAST_PAIRS
            .iter()
            .any(|pair| words.ends_with(pair.as_slice()))
}

/// Parse a template; a syntax error is one problem with its line.
pub fn parse(path: &Path, display: &Path) -> Result<Value, Problem> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Problem::new(format!("cannot read template: {error}")).in_file(display))?;
    let value: Value = serde_json::from_str(&text).map_err(|error| {
        Problem::new(format!("is not valid JSON: {error}"))
            .in_file(display)
            .at_line(Some(error.line()))
            .fix("correct the JSON syntax at that line")
    })?;
    if !value.is_object() {
        return Err(Problem::new("must be a JSON object")
            .in_file(display)
            .fix("write the template as { ... } with the fields of the ECS API"));
    }
    Ok(value)
}

/// Container names of a task definition template.
pub fn container_names(task_definition: &Value) -> BTreeSet<String> {
    task_definition
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .map(|containers| {
            containers
                .iter()
                .filter_map(|container| container.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Every problem of one template.
pub fn check(
    kind: TemplateKind,
    template: &Value,
    text_for_lines: &str,
    display: &Path,
    context: &CheckContext<'_>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let line_of = |needle: &str| {
        text_for_lines
            .find(needle)
            .map(|offset| text_for_lines[..offset].matches('\n').count() + 1)
    };
    let problem = |message: String, key: &str, line: Option<usize>, fix: &str| {
        Problem::new(message)
            .in_file(display)
            .at_line(line)
            .at_key(key)
            .fix(fix)
    };

    if kind == TemplateKind::TaskDefinition {
        match template.get("containerDefinitions").and_then(Value::as_array) {
            Some(containers) if !containers.is_empty() => {
                let mut seen = BTreeSet::new();
                for (index, container) in containers.iter().enumerate() {
                    let pointer = format!("/containerDefinitions/{index}");
                    match container.get("name").and_then(Value::as_str) {
                        Some(name) if !seen.insert(name.to_string()) => problems.push(problem(
                            format!("container name \"{name}\" is used twice"),
                            &pointer,
                            line_of(&format!("\"{name}\"")),
                            "give every container its own name",
                        )),
                        Some(_) => {}
                        None => problems.push(problem(
                            "container has no \"name\"".into(),
                            &pointer,
                            None,
                            "add \"name\": \"web\"",
                        )),
                    }
                    if container.get("image").and_then(Value::as_str).is_none() {
                        problems.push(problem(
                            "container has no \"image\"".into(),
                            &pointer,
                            None,
                            "add \"image\": \"{{image.web}}\" and pass --image web=... to deploy-release",
                        ));
                    }
                    check_environment(container, &pointer, &mut problems, &problem, &line_of);
                }
            }
            _ => problems.push(problem(
                "has no containers".into(),
                "/containerDefinitions",
                None,
                "add \"containerDefinitions\": [{ \"name\": \"web\", \"image\": \"{{image.web}}\", ... }]",
            )),
        }
    }

    if kind == TemplateKind::ServiceDefinition && !context.containers.is_empty() {
        // ECS would refuse it, but only after the revision was registered.
        let balancers = template.get("loadBalancers").and_then(Value::as_array);
        for (index, balancer) in balancers.into_iter().flatten().enumerate() {
            let Some(name) = balancer.get("containerName").and_then(Value::as_str) else {
                continue;
            };
            if !name.contains("{{") && !context.containers.contains(name) {
                problems.push(problem(
                    format!("{name} names no container of the service's task definition"),
                    &format!("/loadBalancers/{index}/containerName"),
                    line_of(&format!("\"{name}\"")),
                    &format!(
                        "use one of: {}",
                        context
                            .containers
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }

    let (found, syntax) = placeholders::scan(template);
    for bad in syntax {
        problems.push(problem(
            bad.message,
            &bad.pointer,
            None,
            "write placeholders as {{ name }}",
        ));
    }
    for placeholder in found {
        let line = line_of(&placeholder.name);
        let (namespace, rest) = placeholder
            .name
            .split_once('.')
            .unwrap_or((&placeholder.name, ""));
        if !placeholders::is_known(&placeholder.name) {
            problems.push(problem(
                format!("unknown placeholder {{{{{}}}}}", placeholder.name),
                &placeholder.pointer,
                line,
                "use image.<container>, stack.<Output>, parameter.<path>, cookie.arn, service.*, app, environment, version, stack_id, region, account_id, family, task_definition or release.id (see the README)",
            ));
        } else if namespace == "image" && !context.containers.contains(rest) {
            problems.push(problem(
                format!(
                    "{{{{{}}}}} names no container of the task definition",
                    placeholder.name
                ),
                &placeholder.pointer,
                line,
                &suggestion("image", rest, context.containers),
            ));
        } else if namespace == "stack" && !context.stack_outputs.contains(rest) {
            problems.push(problem(
                format!(
                    "{{{{{}}}}} is not an output of the stack's templates",
                    placeholder.name
                ),
                &placeholder.pointer,
                line,
                &suggestion("stack", rest, context.stack_outputs),
            ));
        }
    }
    problems
}

/// "did you mean" when a name is near one that exists, else the list of names.
fn suggestion(namespace: &str, name: &str, known: &BTreeSet<String>) -> String {
    match crate::suggest::closest(name, known.iter().map(String::as_str)) {
        Some(near) => format!("did you mean {{{{{namespace}.{near}}}}}?"),
        None => format!(
            "use one of: {}",
            known
                .iter()
                .map(|known| format!("{namespace}.{known}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn check_environment(
    container: &Value,
    pointer: &str,
    problems: &mut Vec<Problem>,
    problem: &impl Fn(String, &str, Option<usize>, &str) -> Problem,
    line_of: &impl Fn(&str) -> Option<usize>,
) {
    let Some(environment) = container.get("environment").and_then(Value::as_array) else {
        return;
    };
    for (index, variable) in environment.iter().enumerate() {
        let name = variable
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = variable
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if is_secret_name(name) && !value.is_empty() {
            problems.push(problem(
                format!("{name} looks like a secret but is given as a plain value in the task definition"),
                &format!("{pointer}/environment/{index}"),
                line_of(&format!("\"{name}\"")),
                "move it to \"secrets\": [{ \"name\": ..., \"valueFrom\": \"{{parameter.<path>}}\" }] so that only an SSM reference is stored",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_task(template: Value) -> Vec<String> {
        let outputs: BTreeSet<String> = ["LogGroupName".to_string()].into();
        let containers = container_names(&template);
        let text = serde_json::to_string_pretty(&template).expect("serialises");
        check(
            TemplateKind::TaskDefinition,
            &template,
            &text,
            Path::new("task-defs/web.json"),
            &CheckContext {
                stack_outputs: &outputs,
                containers: &containers,
            },
        )
        .into_iter()
        .map(|problem| problem.message)
        .collect()
    }

    #[test]
    fn a_good_task_definition_passes() {
        let problems = check_task(
            json!({"containerDefinitions": [{"name": "web", "image": "{{image.web}}",
            "logConfiguration": {"options": {"awslogs-group": "{{stack.LogGroupName}}"}},
            "secrets": [{"name": "RELEASE_COOKIE", "valueFrom": "{{cookie.arn}}"}]}]}),
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_load_balancer_must_name_a_container_of_the_task_definition() {
        let outputs = BTreeSet::new();
        let containers: BTreeSet<String> = ["web".to_string()].into();
        let service = json!({"loadBalancers": [
            {"containerName": "web"}, {"containerName": "api"}, {"containerName": "{{app}}"}
        ]});
        let problems = check(
            TemplateKind::ServiceDefinition,
            &service,
            &service.to_string(),
            Path::new("task-defs/web-service.json"),
            &CheckContext {
                stack_outputs: &outputs,
                containers: &containers,
            },
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].key.as_deref(),
            Some("/loadBalancers/1/containerName")
        );
        assert_eq!(problems[0].fix.as_deref(), Some("use one of: web"));
    }

    #[test]
    fn secret_names_are_told_by_their_words() {
        for name in [
            "RELEASE_COOKIE",
            "DATABASE_PASSWORD",
            "PASSWORD",
            "SMTP_PASSWD",
            "DB_PASS",
            "CLIENT_SECRET",
            "GITHUB_TOKEN",
            "GOOGLE_CREDENTIALS",
            "JWT_PRIVATE_KEY",
            "STRIPE_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "DJANGO_SECRET_KEY",
            "SECRET_KEY_BASE",
            "secret_key_base",
            "DATABASE_URL",
            "REPLICA_DATABASE_URL",
        ] {
            assert!(is_secret_name(name), "{name} holds a secret");
        }
        for name in [
            "PASSWORD_MIN_LENGTH",
            "COOKIE_DOMAIN",
            "SESSION_COOKIE_NAME",
            "TOKENIZERS_PARALLELISM",
            "TOKEN_TTL",
            "SECRET_NAME",
            "PASSWORD_RESET_URL",
            "COMPASS",
            "BYPASS_CACHE",
            "DATABASE_POOL_SIZE",
            "PHX_SERVER",
            "PUBLIC_KEY",
            "",
        ] {
            assert!(!is_secret_name(name), "{name} is no secret");
        }
    }

    #[test]
    fn settings_about_secrets_may_be_plain_values() {
        let problems = check_task(
            json!({"containerDefinitions": [{"name": "web", "image": "{{image.web}}",
            "environment": [{"name": "PASSWORD_MIN_LENGTH", "value": "12"},
                            {"name": "SESSION_COOKIE_NAME", "value": "_demo_key"},
                            {"name": "STRIPE_API_KEY", "value": "sk_live_x"}]}]}),
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("STRIPE_API_KEY looks like a secret"));
    }

    #[test]
    fn plain_secrets_and_unknown_names_are_refused() {
        let problems = check_task(
            json!({"containerDefinitions": [{"name": "web", "image": "{{image.api}}",
            "environment": [{"name": "RELEASE_COOKIE", "value": "abc"}],
            "command": ["{{stack.Nope}}", "{{cookie.value}}"]}]}),
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("RELEASE_COOKIE looks like a secret"));
    }
}
