//! How the tasks of a service name their nodes: as the revision each task
//! runs says, not as the stack file says now. A rollback to a revision named
//! otherwise, or a stack file edited and not deployed yet, would otherwise
//! show (and have the console reach for) names no node has.

use std::collections::{BTreeSet, HashMap};

use futures_util::future::join_all;

use crate::aws::ecs;
use crate::config::{NodeNameMode, ServiceConfig};
use crate::release::ecs_model::TaskDefinition;
use crate::release::templates::COOKIE_VARIABLE;

/// A revision's naming rule: the entrypoint's NODE_NAME_MODE and NODE_BASENAME.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Naming {
    pub mode: NodeNameMode,
    pub basename: String,
}

impl Naming {
    /// What the stack file says, for a revision that cannot be read.
    pub fn of_service(service: &ServiceConfig) -> Naming {
        Naming {
            mode: service.node_name,
            basename: service.node_basename.clone(),
        }
    }
}

/// The naming a revision gives its release's container (the one given the
/// cookie, else the one with NODE_BASENAME); what it leaves out, the stack
/// file says (an entrypoint from before NODE_NAME_MODE named by task, but
/// which entrypoint an image holds cannot be told from here).
pub fn naming_of(definition: &TaskDefinition, service: &ServiceConfig) -> Naming {
    let fallback = Naming::of_service(service);
    let variable = |container: &crate::release::ecs_model::Container, name: &str| {
        container
            .environment
            .iter()
            .find(|variable| variable.name == name)
            .and_then(|variable| variable.value.clone())
    };
    let release = definition
        .container_definitions
        .iter()
        .find(|container| {
            container
                .secrets
                .iter()
                .any(|secret| secret.name == COOKIE_VARIABLE)
        })
        .or_else(|| {
            definition
                .container_definitions
                .iter()
                .find(|container| variable(container, "NODE_BASENAME").is_some())
        });
    let Some(container) = release else {
        return fallback;
    };
    let mode = match variable(container, "NODE_NAME_MODE").as_deref() {
        Some("ip") => NodeNameMode::Ip,
        Some("release") => NodeNameMode::Release,
        Some("task") => NodeNameMode::Task,
        _ => fallback.mode,
    };
    Naming {
        mode,
        basename: variable(container, "NODE_BASENAME").unwrap_or(fallback.basename),
    }
}

/// The naming of each revision in `task_definitions`, read at once; one that
/// cannot be read falls back to the stack file.
pub async fn namings<'a>(
    client: &aws_sdk_ecs::Client,
    service: &ServiceConfig,
    task_definitions: impl IntoIterator<Item = &'a str>,
) -> HashMap<String, Naming> {
    let distinct: BTreeSet<&str> = task_definitions.into_iter().collect();
    let reads = distinct.into_iter().map(|arn| async move {
        let naming = match ecs::describe_task_definition(client, arn).await {
            Ok((definition, _, _)) => naming_of(&definition, service),
            Err(error) => {
                tracing::debug!(%arn, error = %format!("{error:#}"), "naming from the stack file");
                Naming::of_service(service)
            }
        };
        (arn.to_string(), naming)
    });
    join_all(reads).await.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CookieMode;

    fn service() -> ServiceConfig {
        ServiceConfig {
            name: "web".into(),
            task_definition: "task-defs/web.json".into(),
            service_definition: "task-defs/web-service.json".into(),
            desired_count: 2,
            node_basename: "front".into(),
            node_name: NodeNameMode::Task,
            cookie: CookieMode::Stack,
            console_command: String::new(),
            eval_command: String::new(),
            allow_host_access: Vec::new(),
            builds: Vec::new(),
        }
    }

    fn definition(environment: serde_json::Value) -> TaskDefinition {
        serde_json::from_value(serde_json::json!({
            "family": "demo-web",
            "containerDefinitions": [
                {"name": "sidecar", "image": "envoy", "environment": [{"name": "NODE_BASENAME", "value": "envoy"}]},
                {"name": "web", "image": "demo:1", "environment": environment,
                 "secrets": [{"name": "RELEASE_COOKIE", "valueFrom": "arn:aws:ssm:eu-west-1:1:parameter/stackup/x/cookie"}]}
            ]
        }))
        .expect("a task definition")
    }

    #[test]
    fn a_revision_names_its_nodes_as_its_release_container_says() {
        let named = definition(serde_json::json!([
            {"name": "NODE_BASENAME", "value": "web"},
            {"name": "NODE_NAME_MODE", "value": "release"}
        ]));
        assert_eq!(
            naming_of(&named, &service()),
            Naming {
                mode: NodeNameMode::Release,
                basename: "web".into()
            }
        );
        // What the revision leaves out, the stack file says.
        let bare = definition(serde_json::json!([]));
        assert_eq!(naming_of(&bare, &service()), Naming::of_service(&service()));
    }
}
