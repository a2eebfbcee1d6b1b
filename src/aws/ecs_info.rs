//! ECS services, their tasks and the cluster's container instances as plain
//! values, for callers that only read them (`ops::status`): what the SDK's
//! shapes say, with times as `SystemTime` and enums as the strings AWS sends.

use std::time::SystemTime;

use aws_sdk_ecs::types::{
    ContainerInstance, Deployment, DesiredStatus, Service, ServiceEvent, Task,
};
use aws_sdk_ecs::Client;
use aws_smithy_types::DateTime;

use crate::release::node_name::private_ip;

/// A service as DescribeServices tells it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceInfo {
    pub service_name: Option<String>,
    /// ACTIVE or DRAINING.
    pub status: Option<String>,
    pub task_definition: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub deployments: Vec<DeploymentInfo>,
    /// Newest first, as ECS lists them.
    pub events: Vec<ServiceEventInfo>,
}

/// One deployment of a service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentInfo {
    pub id: Option<String>,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: Option<String>,
    pub task_definition: Option<String>,
    /// IN_PROGRESS, COMPLETED or FAILED; absent for services ECS gives none.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
    pub created_at: Option<SystemTime>,
    pub updated_at: Option<SystemTime>,
}

/// One line of a service's event log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceEventInfo {
    pub created_at: Option<SystemTime>,
    pub message: Option<String>,
}

/// A task as DescribeTasks tells it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskInfo {
    pub task_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub container_instance_arn: Option<String>,
    pub availability_zone: Option<String>,
    /// HEALTHY, UNHEALTHY or UNKNOWN.
    pub health: Option<String>,
    pub last_status: Option<String>,
    pub started_at: Option<SystemTime>,
    /// Its network interface's address (`release::node_name::private_ip`).
    pub private_ip: Option<String>,
}

/// An EC2 host registered in the cluster, as DescribeContainerInstances tells it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerInstanceInfo {
    pub arn: Option<String>,
    pub ec2_instance_id: Option<String>,
    /// The `ecs.availability-zone` attribute the ECS agent sets.
    pub availability_zone: Option<String>,
    /// ACTIVE, DRAINING, ...
    pub status: Option<String>,
    pub agent_connected: bool,
    pub running_tasks: i32,
}

fn time(time: &DateTime) -> Option<SystemTime> {
    SystemTime::try_from(*time).ok()
}

impl From<&Service> for ServiceInfo {
    fn from(service: &Service) -> Self {
        ServiceInfo {
            service_name: service.service_name().map(str::to_string),
            status: service.status().map(str::to_string),
            task_definition: service.task_definition().map(str::to_string),
            desired_count: service.desired_count(),
            running_count: service.running_count(),
            pending_count: service.pending_count(),
            deployments: service
                .deployments()
                .iter()
                .map(DeploymentInfo::from)
                .collect(),
            events: service
                .events()
                .iter()
                .map(ServiceEventInfo::from)
                .collect(),
        }
    }
}

impl From<&Deployment> for DeploymentInfo {
    fn from(deployment: &Deployment) -> Self {
        DeploymentInfo {
            id: deployment.id().map(str::to_string),
            status: deployment.status().map(str::to_string),
            task_definition: deployment.task_definition().map(str::to_string),
            rollout_state: deployment
                .rollout_state()
                .map(|state| state.as_str().to_string()),
            rollout_state_reason: deployment.rollout_state_reason().map(str::to_string),
            desired_count: deployment.desired_count(),
            running_count: deployment.running_count(),
            pending_count: deployment.pending_count(),
            failed_tasks: deployment.failed_tasks(),
            created_at: deployment.created_at().and_then(time),
            updated_at: deployment.updated_at().and_then(time),
        }
    }
}

impl From<&ServiceEvent> for ServiceEventInfo {
    fn from(event: &ServiceEvent) -> Self {
        ServiceEventInfo {
            created_at: event.created_at().and_then(time),
            message: event.message().map(str::to_string),
        }
    }
}

impl From<&Task> for TaskInfo {
    fn from(task: &Task) -> Self {
        TaskInfo {
            task_arn: task.task_arn().map(str::to_string),
            task_definition_arn: task.task_definition_arn().map(str::to_string),
            container_instance_arn: task.container_instance_arn().map(str::to_string),
            availability_zone: task.availability_zone().map(str::to_string),
            health: task
                .health_status()
                .map(|health| health.as_str().to_string()),
            last_status: task.last_status().map(str::to_string),
            started_at: task.started_at().and_then(time),
            private_ip: private_ip(task),
        }
    }
}

impl From<&ContainerInstance> for ContainerInstanceInfo {
    fn from(instance: &ContainerInstance) -> Self {
        ContainerInstanceInfo {
            arn: instance.container_instance_arn().map(str::to_string),
            ec2_instance_id: instance.ec2_instance_id().map(str::to_string),
            availability_zone: instance
                .attributes()
                .iter()
                .find(|attribute| attribute.name() == "ecs.availability-zone")
                .and_then(|attribute| attribute.value())
                .map(str::to_string),
            status: instance.status().map(str::to_string),
            agent_connected: instance.agent_connected(),
            running_tasks: instance.running_tasks_count(),
        }
    }
}

/// The service, or `None` when it does not exist (`ecs::describe_service`).
pub async fn service(
    client: &Client,
    cluster: &str,
    service: &str,
) -> anyhow::Result<Option<ServiceInfo>> {
    let found = super::ecs::describe_service(client, cluster, service).await?;
    Ok(found.as_ref().map(ServiceInfo::from))
}

/// The tasks ECS wants running for a service (RUNNING, or PENDING on their way).
pub async fn running_tasks(
    client: &Client,
    cluster: &str,
    service: &str,
) -> anyhow::Result<Vec<TaskInfo>> {
    let tasks = super::ecs::service_tasks(client, cluster, service, DesiredStatus::Running).await?;
    Ok(tasks.iter().map(TaskInfo::from).collect())
}

/// The cluster's container instances (`ecs::container_instances`).
pub async fn container_instances(
    client: &Client,
    cluster: &str,
) -> anyhow::Result<Vec<ContainerInstanceInfo>> {
    let instances = super::ecs::container_instances(client, cluster).await?;
    Ok(instances.iter().map(ContainerInstanceInfo::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        Attachment, Attribute, DeploymentRolloutState, HealthStatus, KeyValuePair,
    };

    #[test]
    fn a_task_is_read_with_its_address_health_and_start() {
        let task = Task::builder()
            .task_arn("arn:aws:ecs:eu-west-1:1:task/demo/abc")
            .health_status(HealthStatus::Unhealthy)
            .started_at(DateTime::from_secs(1_000))
            .attachments(
                Attachment::builder()
                    .r#type("ElasticNetworkInterface")
                    .details(
                        KeyValuePair::builder()
                            .name("privateIPv4Address")
                            .value("10.20.1.5")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let info = TaskInfo::from(&task);
        assert_eq!(info.private_ip.as_deref(), Some("10.20.1.5"));
        assert_eq!(info.health.as_deref(), Some("UNHEALTHY"));
        assert_eq!(
            info.started_at,
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000))
        );
        assert_eq!(
            TaskInfo::from(&Task::builder().build()),
            TaskInfo::default()
        );
    }

    #[test]
    fn a_service_keeps_its_deployments_rollout_states_and_events_in_ecs_order() {
        let service = Service::builder()
            .deployments(
                Deployment::builder()
                    .rollout_state(DeploymentRolloutState::Failed)
                    .failed_tasks(3)
                    .build(),
            )
            .events(ServiceEvent::builder().message("newest").build())
            .events(ServiceEvent::builder().message("older").build())
            .build();
        let info = ServiceInfo::from(&service);
        assert_eq!(info.deployments[0].rollout_state.as_deref(), Some("FAILED"));
        assert_eq!(info.deployments[0].failed_tasks, 3);
        let messages: Vec<Option<&str>> = info
            .events
            .iter()
            .map(|event| event.message.as_deref())
            .collect();
        assert_eq!(messages, [Some("newest"), Some("older")]);
    }

    #[test]
    fn a_container_instance_keeps_the_zone_its_agent_reports() {
        let attribute = |name: &str, value: &str| {
            Attribute::builder()
                .name(name)
                .value(value)
                .build()
                .expect("a name")
        };
        let instance = ContainerInstance::builder()
            .attributes(attribute("ecs.os-type", "linux"))
            .attributes(attribute("ecs.availability-zone", "eu-west-1b"))
            .build();
        assert_eq!(
            ContainerInstanceInfo::from(&instance)
                .availability_zone
                .as_deref(),
            Some("eu-west-1b")
        );
    }
}
