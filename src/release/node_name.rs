//! The Erlang node name of a task, by the service's `node_name`:
//!
//! | mode | name |
//! |---|---|
//! | `ip` (default) | `<node_basename>@<task IP>`: what libcluster's DNSPoll and Phoenix's DNSCluster build |
//! | `release` | `<node_basename>-r<task definition revision>@<task IP>`: one basename per release |
//! | `task` | `<node_basename>-<task id>@<task IP>`: for strategies that pass full names |
//!
//! The same rule lives in `scripts/ecs-entrypoint.sh`, which sets RELEASE_NODE
//! from the task metadata endpoint inside the container (NODE_NAME_MODE in the
//! task definition); a test runs both on the same task and checks they agree
//! in every mode.

use aws_sdk_ecs::types::Task;

use crate::config::NodeNameMode;

/// The task id: the last part of the task ARN.
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// The revision at the end of a task definition ARN (`...:task-definition/family:12`).
fn revision(task_definition_arn: &str) -> &str {
    task_definition_arn
        .rsplit_once(':')
        .map_or(task_definition_arn, |(_, revision)| revision)
}

pub fn node_name(
    mode: NodeNameMode,
    basename: &str,
    task_arn: &str,
    task_definition_arn: &str,
    private_ip: &str,
) -> String {
    match mode {
        NodeNameMode::Ip => format!("{basename}@{private_ip}"),
        NodeNameMode::Release => {
            format!("{basename}-r{}@{private_ip}", revision(task_definition_arn))
        }
        NodeNameMode::Task => format!("{basename}-{}@{private_ip}", task_id(task_arn)),
    }
}

/// The task's private IPv4 address (awsvpc: the task's network interface).
pub fn private_ip(task: &Task) -> Option<String> {
    let from_attachment = task
        .attachments()
        .iter()
        .filter(|attachment| attachment.r#type() == Some("ElasticNetworkInterface"))
        .flat_map(|attachment| attachment.details())
        .find(|detail| detail.name() == Some("privateIPv4Address"))
        .and_then(|detail| detail.value().map(str::to_string));
    from_attachment.or_else(|| {
        task.containers()
            .iter()
            .flat_map(|container| container.network_interfaces())
            .find_map(|interface| interface.private_ipv4_address().map(str::to_string))
    })
}

/// The node name of a described task, when it has an address yet.
pub fn task_node_name(mode: NodeNameMode, basename: &str, task: &Task) -> Option<String> {
    Some(node_name(
        mode,
        basename,
        task.task_arn()?,
        task.task_definition_arn().unwrap_or_default(),
        &private_ip(task)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Attachment, KeyValuePair};

    #[test]
    fn the_node_name_uses_the_task_id_and_address() {
        let task = Task::builder()
            .task_arn("arn:aws:ecs:eu-west-1:123456789012:task/demo-prod-v1/5f2c7e0e9e2b4c5d8a1b2c3d4e5f6a7b")
            .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/demo-prod-v1-web:12")
            .attachments(
                Attachment::builder()
                    .r#type("ElasticNetworkInterface")
                    .details(KeyValuePair::builder().name("subnetId").value("subnet-1").build())
                    .details(KeyValuePair::builder().name("privateIPv4Address").value("10.20.1.134").build())
                    .build(),
            )
            .build();
        assert_eq!(
            task_node_name(NodeNameMode::Task, "web", &task).as_deref(),
            Some("web-5f2c7e0e9e2b4c5d8a1b2c3d4e5f6a7b@10.20.1.134")
        );
        assert_eq!(
            task_node_name(NodeNameMode::Ip, "web", &task).as_deref(),
            Some("web@10.20.1.134")
        );
        assert_eq!(
            task_node_name(NodeNameMode::Release, "web", &task).as_deref(),
            Some("web-r12@10.20.1.134")
        );
        assert_eq!(
            task_node_name(
                NodeNameMode::Ip,
                "web",
                &Task::builder().task_arn("x/y").build()
            ),
            None
        );
    }
}
