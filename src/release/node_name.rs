//! The Erlang node name of a task: `<node_basename>-<task id>@<task private IP>`.
//!
//! The same rule lives in `scripts/ecs-entrypoint.sh`, which sets RELEASE_NODE
//! from the task metadata endpoint inside the container; a test runs both on
//! the same task and checks they agree.

use aws_sdk_ecs::types::Task;

/// The task id: the last part of the task ARN.
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

pub fn node_name(basename: &str, task_arn: &str, private_ip: &str) -> String {
    format!("{basename}-{}@{private_ip}", task_id(task_arn))
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
pub fn task_node_name(basename: &str, task: &Task) -> Option<String> {
    Some(node_name(basename, task.task_arn()?, &private_ip(task)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Attachment, KeyValuePair};

    #[test]
    fn the_node_name_uses_the_task_id_and_address() {
        let task = Task::builder()
            .task_arn("arn:aws:ecs:eu-west-1:123456789012:task/demo-prod-v1/5f2c7e0e9e2b4c5d8a1b2c3d4e5f6a7b")
            .attachments(
                Attachment::builder()
                    .r#type("ElasticNetworkInterface")
                    .details(KeyValuePair::builder().name("subnetId").value("subnet-1").build())
                    .details(KeyValuePair::builder().name("privateIPv4Address").value("10.20.1.134").build())
                    .build(),
            )
            .build();
        assert_eq!(
            task_node_name("web", &task).as_deref(),
            Some("web-5f2c7e0e9e2b4c5d8a1b2c3d4e5f6a7b@10.20.1.134")
        );
        assert_eq!(
            task_node_name("web", &Task::builder().task_arn("x/y").build()),
            None
        );
    }
}
