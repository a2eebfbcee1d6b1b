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
use super::templates::{self, Source, TemplateKind};
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
    /// The platform stack whose release history this is.
    pub life: crate::release::history::Life,
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
) -> Result<(PathBuf, Value, String), InputError> {
    let resolved = stack.resolve(path);
    let display = config::display_path(&stack.config_dir, &resolved);
    let (value, text) = super::templates::read(&resolved, &display)?;
    Ok((display, value, text))
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
            life: self.life.clone(),
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
                &stack.parameter_name(path),
            )),
            _ => match name {
                "cookie.arn" => text(cookie::parameter_arn(
                    &self.region,
                    &self.account,
                    cookie_parameter,
                )),
                "release.id" => text(self.release_id.clone()),
                "region" => text(self.region.clone()),
                "account_id" => text(self.account.clone()),
                "task_definition" => text(TASK_DEFINITION_PENDING.to_string()),
                "service.registry_arn" => {
                    crate::discovery::registry_arn(&self.outputs, &service.name)
                        .map(|arn| Value::String(arn.to_string()))
                }
                "service.dns_name" => {
                    crate::discovery::dns_name(&self.outputs, &service.name).map(Value::String)
                }
                _ => placeholders::stack_value(stack, service, name).map(Value::String),
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
        let cookie_parameter = self
            .stack
            .cookie_parameter(service.cookie, &self.release_id);
        let lookup = |name: &str| self.lookup(service, &cookie_parameter, running_images, name);
        let (task_file, task_template, task_text) =
            read_template(self.stack, &service.task_definition)?;
        let (service_file, service_template, service_text) =
            read_template(self.stack, &service.service_definition)?;
        let mut problems = Vec::new();
        let mut task_value = resolve_file(&task_template, &task_file, &lookup, &mut problems);
        let mut service_value =
            resolve_file(&service_template, &service_file, &lookup, &mut problems);
        if !problems.is_empty() {
            return Err(InputError::new(problems));
        }
        let task_source = Source {
            kind: TemplateKind::TaskDefinition,
            file: &task_file,
            text: &task_text,
            service: &service.name,
        };
        let service_source = Source {
            kind: TemplateKind::ServiceDefinition,
            file: &service_file,
            text: &service_text,
            service: &service.name,
        };
        problems.extend(templates::settle_decided_fields(
            &task_source,
            &mut task_value,
            &lookup,
        ));
        problems.extend(templates::settle_decided_fields(
            &service_source,
            &mut service_value,
            &lookup,
        ));
        let task_definition =
            templates::read_model::<TaskDefinition>(&task_source, &task_template, &task_value);
        let service_definition = templates::read_model::<ServiceDefinition>(
            &service_source,
            &service_template,
            &service_value,
        );
        let (task_definition, service_definition) =
            match (task_definition, service_definition, problems.is_empty()) {
                (Ok(task), Ok(service), true) => (task, service),
                (task, service, _) => {
                    problems.extend(task.err());
                    problems.extend(service.err());
                    return Err(InputError::new(problems));
                }
            };
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
                problems.push(unresolved(&name).in_file(file));
            }
            template.clone()
        }
    }
}

/// A placeholder with no value: why, where stackup can tell, and the fix.
fn unresolved(name: &str) -> Problem {
    let placeholder = format!("placeholder {{{{{name}}}}} has no value");
    if let Some(container) = name.strip_prefix("image.") {
        Problem::new(placeholder).fix(format!("pass --image {container}=IMAGE (a new container, or no revision runs yet: there is no running image to keep)"))
    } else if let Some(output) = name.strip_prefix("stack.") {
        Problem::new(format!("{placeholder}: the stack has no output {output}"))
            .fix("run `stackup create-stack`, or correct the name")
    } else if name == "service.registry_arn" || name == "service.dns_name" {
        Problem::new(format!(
            "{placeholder}: the platform stack has no Cloud Map service for this service yet (a stack created before service discovery, or a service added since)"
        ))
        .fix("run `stackup create-stack` first")
    } else {
        Problem::new(placeholder).fix("use a placeholder stackup knows (see the README)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why a placeholder has no value is said with the problem; the fix
    /// line holds only what to do.
    #[test]
    fn an_unresolved_placeholder_says_why_then_the_fix() {
        let output = unresolved("stack.QueueUrl");
        assert_eq!(
            output.message,
            "placeholder {{stack.QueueUrl}} has no value: the stack has no output QueueUrl"
        );
        assert_eq!(
            output.fix.as_deref(),
            Some("run `stackup create-stack`, or correct the name")
        );
        let discovery = unresolved("service.dns_name");
        assert!(
            discovery
                .message
                .starts_with("placeholder {{service.dns_name}} has no value: the platform stack has no Cloud Map service for this service yet"),
            "{}",
            discovery.message
        );
        assert_eq!(
            discovery.fix.as_deref(),
            Some("run `stackup create-stack` first")
        );
        let image = unresolved("image.web");
        assert_eq!(image.message, "placeholder {{image.web}} has no value");
        assert!(image
            .fix
            .as_deref()
            .is_some_and(|fix| fix.starts_with("pass --image web=IMAGE")));
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
