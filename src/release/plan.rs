//! Resolving a service's templates for one release: placeholders filled from
//! the release arguments, the stack's outputs and generated values, then read
//! into the ECS model. Unknown or unresolved placeholders are input errors
//! naming them and the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cookie;
use super::ecs_model::{ServiceDefinition, TaskDefinition};
use super::placeholders;
use crate::config::{self, ServiceConfig, StackConfig};
use crate::error::{InputError, Problem};

/// Stands for the task definition ARN until the revision is registered.
pub const TASK_DEFINITION_PENDING: &str = "stackup:task-definition-being-deployed";

/// What every service of one release shares.
pub struct ReleaseContext<'a> {
    pub stack: &'a StackConfig,
    pub region: String,
    pub account: String,
    /// Outputs of the network and platform stacks.
    pub outputs: BTreeMap<String, String>,
    /// `--image CONTAINER=IMAGE`.
    pub images: BTreeMap<String, String>,
    pub release_id: String,
}

/// One service's resolved release.
pub struct ServiceRelease {
    pub service: ServiceConfig,
    pub cookie_parameter: String,
    pub task_definition: TaskDefinition,
    /// SHA-256 of the resolved task definition's canonical JSON.
    pub sha256: String,
    /// The hash as stackup took it before named lists were sorted: a revision
    /// registered then and tagged with it is the same definition.
    pub sha256_unsorted: String,
    pub service_definition: ServiceDefinition,
}

impl ServiceRelease {
    /// Image of every container.
    pub fn images(&self) -> BTreeMap<String, String> {
        self.task_definition
            .container_definitions
            .iter()
            .map(|container| (container.name.clone(), container.image.clone()))
            .collect()
    }
}

fn read_template(
    stack: &StackConfig,
    path: &std::path::Path,
) -> Result<(PathBuf, Value), InputError> {
    let resolved = stack.resolve(path);
    let display = config::display_path(&stack.config_dir, &resolved);
    let value = super::templates::parse(&resolved, &display)?;
    Ok((display, value))
}

/// The task definition as the JSON its hash is taken of: lists of named
/// objects (containers, environment, secrets, volumes) in name order, as the
/// diff matches them, so a reordered template is not a new revision.
fn canonical_json(definition: &TaskDefinition) -> String {
    fn sort_named(value: &mut Value) {
        match value {
            Value::Object(map) => map.values_mut().for_each(sort_named),
            Value::Array(items) => {
                items.iter_mut().for_each(sort_named);
                let names: Option<Vec<String>> = items
                    .iter()
                    .map(|item| item.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                if let Some(names) = names {
                    let mut keyed: Vec<(String, Value)> =
                        names.into_iter().zip(items.drain(..)).collect();
                    keyed.sort_by(|left, right| left.0.cmp(&right.0));
                    items.extend(keyed.into_iter().map(|(_, item)| item));
                }
            }
            _ => {}
        }
    }
    // Back through the model, so the fields keep its order (and a template in
    // name order keeps the hash it had).
    let mut value = serde_json::to_value(definition).unwrap_or(Value::Null);
    sort_named(&mut value);
    serde_json::from_value::<TaskDefinition>(value)
        .ok()
        .and_then(|sorted| serde_json::to_string(&sorted).ok())
        .unwrap_or_default()
}

impl<'a> ReleaseContext<'a> {
    /// The same context for another release: what an earlier release resolves
    /// to (its cookie, its `{{release.id}}`).
    pub fn with_release_id(&self, release_id: &str) -> ReleaseContext<'a> {
        ReleaseContext {
            stack: self.stack,
            region: self.region.clone(),
            account: self.account.clone(),
            outputs: self.outputs.clone(),
            images: self.images.clone(),
            release_id: release_id.to_string(),
        }
    }
}

impl ReleaseContext<'_> {
    fn lookup(
        &self,
        service: &ServiceConfig,
        cookie_parameter: &str,
        running_images: &BTreeMap<String, String>,
        name: &str,
    ) -> Option<Value> {
        let stack = self.stack;
        let text = |value: String| Some(Value::String(value));
        match name.split_once('.') {
            Some(("image", container)) => self
                .images
                .get(container)
                .or_else(|| running_images.get(container))
                .cloned()
                .map(Value::String),
            Some(("stack", output)) => self.outputs.get(output).cloned().map(Value::String),
            Some(("parameter", path)) => text(cookie::parameter_arn(
                &self.region,
                &self.account,
                &format!(
                    "{}{}",
                    stack.parameter_prefix(),
                    path.trim_start_matches('/')
                ),
            )),
            _ => match name {
                "cookie.arn" => text(cookie::parameter_arn(
                    &self.region,
                    &self.account,
                    cookie_parameter,
                )),
                "release.id" => text(self.release_id.clone()),
                "service.name" => text(service.name.clone()),
                "service.desired_count" => text(service.desired_count.to_string()),
                "service.node_basename" => text(service.node_basename.clone()),
                "service.port" => text(stack.load_balancer.port.to_string()),
                "app" => text(stack.app.clone()),
                "environment" => text(stack.environment.clone()),
                "version" => text(stack.version.to_string()),
                "stack_id" => text(stack.stack_id()),
                "region" => text(self.region.clone()),
                "account_id" => text(self.account.clone()),
                "family" => text(format!("{}-{}", stack.stack_id(), service.name)),
                "task_definition" => text(TASK_DEFINITION_PENDING.to_string()),
                _ => None,
            },
        }
    }

    /// Resolve a service's templates. `running_images` fill `image.<container>`
    /// placeholders that `--image` did not give (the image stays as it runs).
    pub fn resolve(
        &self,
        service: &ServiceConfig,
        running_images: &BTreeMap<String, String>,
    ) -> Result<ServiceRelease, InputError> {
        let cookie_parameter = cookie::parameter(self.stack, service.cookie, &self.release_id);
        let lookup = |name: &str| self.lookup(service, &cookie_parameter, running_images, name);
        let (task_file, task_template) = read_template(self.stack, &service.task_definition)?;
        let (service_file, service_template) =
            read_template(self.stack, &service.service_definition)?;
        let mut problems = Vec::new();
        let task_value = resolve_file(&task_template, &task_file, &lookup, &mut problems);
        let service_value = resolve_file(&service_template, &service_file, &lookup, &mut problems);
        if !problems.is_empty() {
            return Err(InputError::new(problems));
        }
        let task_definition: TaskDefinition = from_resolved(&task_value).map_err(|error| {
            InputError::one(
                Problem::new(format!("is not a task definition stackup can register: {error}"))
                    .in_file(&task_file)
                    .fix("use the ECS RegisterTaskDefinition field names (camelCase); see task-defs/web.json"),
            )
        })?;
        let service_definition: ServiceDefinition = from_resolved(&service_value).map_err(|error| {
            InputError::one(
                Problem::new(format!("is not a service definition stackup can use: {error}"))
                    .in_file(&service_file)
                    .fix("use the ECS CreateService field names (camelCase); see task-defs/web-service.json"),
            )
        })?;
        if service_definition.task_definition != TASK_DEFINITION_PENDING {
            return Err(InputError::one(
                Problem::new("taskDefinition must be the revision being deployed")
                    .in_file(&service_file)
                    .at_key("taskDefinition")
                    .fix("write \"taskDefinition\": \"{{task_definition}}\""),
            ));
        }
        let hex = |text: String| -> String {
            Sha256::digest(text.as_bytes())
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect()
        };
        let sha256 = hex(canonical_json(&task_definition));
        let sha256_unsorted = hex(serde_json::to_string(&task_definition).unwrap_or_default());
        Ok(ServiceRelease {
            service: service.clone(),
            cookie_parameter,
            task_definition,
            sha256,
            sha256_unsorted,
            service_definition,
        })
    }
}

/// Read a resolved template into the ECS model. serde names unknown and
/// missing fields itself; a bad value (`"demo" is not a whole number`) is
/// located by looking for that string in the resolved template.
fn from_resolved<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|error| {
        let message = error.to_string();
        let quoted = message
            .strip_prefix('"')
            .and_then(|rest| rest.split_once('"'))
            .map(|(text, _)| text);
        let mut pointers = Vec::new();
        if let Some(text) = quoted {
            find_string(value, text, &mut String::new(), &mut pointers);
        }
        match pointers.as_slice() {
            [pointer] => format!("{pointer}: {message}"),
            _ => message,
        }
    })
}

/// JSON pointers of the strings equal to `text`.
fn find_string(value: &Value, text: &str, pointer: &mut String, found: &mut Vec<String>) {
    let mut visit = |key: &str, item: &Value, pointer: &mut String| {
        let length = pointer.len();
        pointer.push('/');
        pointer.push_str(key);
        find_string(item, text, pointer, found);
        pointer.truncate(length);
    };
    match value {
        Value::String(string) if string == text => found.push(pointer.clone()),
        Value::Object(map) => map.iter().for_each(|(key, item)| visit(key, item, pointer)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(index, item)| visit(&index.to_string(), item, pointer)),
        _ => {}
    }
}

fn resolve_file(
    template: &Value,
    file: &std::path::Path,
    lookup: &impl Fn(&str) -> Option<Value>,
    problems: &mut Vec<Problem>,
) -> Value {
    let (_, syntax) = placeholders::scan(template);
    for bad in syntax {
        problems.push(Problem::new(bad.message).in_file(file).at_key(bad.pointer));
    }
    match placeholders::resolve(template, lookup) {
        Ok(value) => value,
        Err(missing) => {
            for name in missing {
                let fix = if let Some(container) = name.strip_prefix("image.") {
                    format!("pass --image {container}=IMAGE (a new container, or no revision runs yet: there is no running image to keep)")
                } else if let Some(output) = name.strip_prefix("stack.") {
                    format!("the stack has no output {output}: run `stackup create-stack`, or correct the name")
                } else {
                    "use a placeholder stackup knows (see the README)".to_string()
                };
                problems.push(
                    Problem::new(format!("placeholder {{{{{name}}}}} has no value"))
                        .in_file(file)
                        .fix(fix),
                );
            }
            template.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised")]
    struct Limits {
        #[serde(deserialize_with = "crate::release::lenient::int")]
        memory: i32,
        name: String,
    }

    #[test]
    fn a_bad_value_names_its_field() {
        let error = from_resolved::<Limits>(&serde_json::json!({"name": "web", "memory": "demo"}))
            .expect_err("not a number");
        assert_eq!(error, "/memory: \"demo\" is not a whole number");
        let error = from_resolved::<Limits>(&serde_json::json!({"name": "web", "memroy": 1}))
            .expect_err("unknown field");
        assert!(error.starts_with("unknown field `memroy`"), "{error}");
        assert!(!error.contains("line"), "{error}");
    }

    #[test]
    fn a_reordered_template_hashes_the_same() {
        let definition = |environment: serde_json::Value, containers_reversed: bool| {
            let mut containers = vec![
                serde_json::json!({"name": "web", "image": "demo:1", "environment": environment}),
                serde_json::json!({"name": "envoy", "image": "envoy:1"}),
            ];
            if containers_reversed {
                containers.reverse();
            }
            serde_json::from_value::<TaskDefinition>(
                serde_json::json!({"family": "f", "containerDefinitions": containers}),
            )
            .expect("a task definition")
        };
        let a = serde_json::json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
        let a_sorted = a.clone();
        let b = serde_json::json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]);
        let c = serde_json::json!([{"name": "B", "value": "3"}, {"name": "A", "value": "1"}]);
        let first = canonical_json(&definition(a, false));
        assert_eq!(first, canonical_json(&definition(b, true)));
        assert_ne!(first, canonical_json(&definition(c, false)));
        // In name order already: the same JSON as before there was sorting.
        let sorted = definition(a_sorted, true);
        assert_eq!(
            canonical_json(&sorted),
            serde_json::to_string(&sorted).expect("json")
        );
    }
}
