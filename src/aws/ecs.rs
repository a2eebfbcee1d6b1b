//! ECS: task definitions, services, tasks.

use std::collections::BTreeMap;

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::types::{DesiredStatus, Service, SortOrder, Task, TaskDefinitionField};
use aws_sdk_ecs::Client;

use super::errors::AwsResultExt;
use super::once::{at_most_once, attempt, Attempt};
use crate::release::ecs_model::{ServiceDefinition, TaskDefinition};

/// The service, or `None` when it does not exist (or was deleted: INACTIVE).
pub async fn describe_service(
    client: &Client,
    cluster: &str,
    service: &str,
) -> anyhow::Result<Option<Service>> {
    let output = client
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .aws_context(|| format!("describing service {service} in cluster {cluster}"))?;
    Ok(output
        .services()
        .iter()
        .find(|found| found.status() != Some("INACTIVE"))
        .cloned())
}

/// DescribeServices takes at most this many services per call.
const SERVICES_PER_CALL: usize = 10;

/// Several services of one cluster, ten to a call: name -> service, for those
/// that exist (not INACTIVE).
pub async fn describe_services(
    client: &Client,
    cluster: &str,
    services: &[String],
) -> anyhow::Result<BTreeMap<String, Service>> {
    let mut found = BTreeMap::new();
    for chunk in services.chunks(SERVICES_PER_CALL) {
        let output = client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .aws_context(|| {
                format!(
                    "describing services {} in cluster {cluster}",
                    chunk.join(", ")
                )
            })?;
        for service in output.services() {
            if service.status() == Some("INACTIVE") {
                continue;
            }
            if let Some(name) = service.service_name() {
                found.insert(name.to_string(), service.clone());
            }
        }
    }
    Ok(found)
}

/// A registered task definition in the template's shape, with its tags and
/// its ARN (`arn` may also be a family, or `family:revision`).
pub async fn describe_task_definition(
    client: &Client,
    arn: &str,
) -> anyhow::Result<(TaskDefinition, BTreeMap<String, String>, String)> {
    let output = client
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .aws_context(|| format!("describing task definition {arn}"))?;
    let definition = output
        .task_definition()
        .ok_or_else(|| anyhow::anyhow!("ECS returned no task definition for {arn}"))?;
    let tags = output
        .tags()
        .iter()
        .filter_map(|tag| Some((tag.key()?.to_string(), tag.value()?.to_string())))
        .collect();
    let registered_arn = definition.task_definition_arn().unwrap_or(arn).to_string();
    Ok((
        TaskDefinition::from_sdk(definition).with_tags(&tags),
        tags,
        registered_arn,
    ))
}

/// The newest ACTIVE revision of a task family, with its ARN and tags; `None`
/// when it cannot be read (no such family yet, or any other error: a caller
/// that needs a revision for certain describes it by ARN, which reports why).
/// A deploy reads it beside the stack's outputs, before it knows which
/// revision its service runs: usually that one, which saves a round trip.
pub async fn describe_newest_revision(
    client: &Client,
    family: &str,
) -> Option<(String, TaskDefinition, BTreeMap<String, String>)> {
    match describe_task_definition(client, family).await {
        Ok((definition, tags, arn)) => Some((arn, definition, tags)),
        Err(error) => {
            tracing::debug!("the newest revision of {family} is not read ahead: {error:#}");
            None
        }
    }
}

/// Register a revision; returns its ARN. Once, even when an answer is lost
/// (RegisterTaskDefinition has no client token): before sending again, the
/// family's newest revisions are searched for one carrying all of `tags`,
/// which name this release (see [`super::once`]).
pub async fn register(
    client: &Client,
    definition: &TaskDefinition,
    tags: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let context = || format!("registering task definition {}", definition.family);
    at_most_once(
        || async {
            let request = match definition.register_request(client, tags) {
                Ok(request) => request,
                Err(error) => return Attempt::Fail(error),
            };
            let result = request
                .customize()
                .config_override(
                    aws_sdk_ecs::config::Builder::default().retry_config(RetryConfig::disabled()),
                )
                .send()
                .await;
            let output = match attempt(result, context) {
                Attempt::Done(output) => output,
                Attempt::Retry(error) => return Attempt::Retry(error),
                Attempt::Fail(error) => return Attempt::Fail(error),
            };
            match output
                .task_definition()
                .and_then(|registered| registered.task_definition_arn())
            {
                Some(arn) => Attempt::Done(arn.to_string()),
                None => Attempt::Fail(anyhow::anyhow!(
                    "ECS returned no ARN for the new revision of {}",
                    definition.family
                )),
            }
        },
        || registered_with(client, &definition.family, tags),
    )
    .await
}

/// How many of a family's newest revisions are searched for a lost registration:
/// it is the newest unless other registrations came in between.
const RECENT_REVISIONS: i32 = 10;

/// The newest revision of `family` that carries every one of `tags`, if any.
async fn registered_with(
    client: &Client,
    family: &str,
    tags: &BTreeMap<String, String>,
) -> anyhow::Result<Option<String>> {
    let output = client
        .list_task_definitions()
        .family_prefix(family)
        .sort(SortOrder::Desc)
        .max_results(RECENT_REVISIONS)
        .send()
        .await
        .aws_context(|| format!("listing the revisions of task definition {family}"))?;
    for arn in output.task_definition_arns() {
        // family_prefix is a prefix: "web" lists "web-worker" too
        let of_family = arn
            .rsplit_once('/')
            .and_then(|(_, name)| name.rsplit_once(':'))
            .is_some_and(|(name, _)| name == family);
        if !of_family {
            continue;
        }
        let (_, found, _) = describe_task_definition(client, arn).await?;
        if tags
            .iter()
            .all(|(key, value)| found.get(key) == Some(value))
        {
            return Ok(Some(arn.clone()));
        }
    }
    Ok(None)
}

pub async fn create_service(
    client: &Client,
    definition: &ServiceDefinition,
    client_token: &str,
) -> anyhow::Result<()> {
    client
        .create_service()
        .cluster(&definition.cluster)
        .service_name(&definition.service_name)
        .task_definition(&definition.task_definition)
        .set_desired_count(definition.desired_count)
        .set_launch_type(
            definition
                .launch_type
                .as_deref()
                .map(aws_sdk_ecs::types::LaunchType::from),
        )
        .set_load_balancers(Some(definition.load_balancers_sdk()))
        .set_network_configuration(definition.network_configuration_sdk()?)
        .set_health_check_grace_period_seconds(definition.health_check_grace_period_seconds)
        .set_deployment_configuration(definition.deployment_configuration_sdk())
        .set_placement_strategy(given(definition.placement_strategy_sdk()))
        .set_placement_constraints(given(definition.placement_constraints_sdk()))
        .set_enable_execute_command(definition.enable_execute_command)
        .set_propagate_tags(
            definition
                .propagate_tags
                .as_deref()
                .map(aws_sdk_ecs::types::PropagateTags::from),
        )
        .set_enable_ecs_managed_tags(definition.enable_ecs_managed_tags)
        .set_capacity_provider_strategy(definition.capacity_provider_strategy_sdk()?)
        .set_scheduling_strategy(
            definition
                .scheduling_strategy
                .as_deref()
                .map(aws_sdk_ecs::types::SchedulingStrategy::from),
        )
        .set_service_registries(definition.service_registries_sdk())
        .set_platform_version(definition.platform_version.clone())
        .set_tags(definition.tags_sdk())
        .client_token(client_token)
        .send()
        .await
        .aws_context(|| {
            format!(
                "creating service {} in cluster {}",
                definition.service_name, definition.cluster
            )
        })?;
    Ok(())
}

/// A list the template gives, or None when it leaves it out (or gives it
/// empty). UpdateService keeps what it is not sent, as the diff shown before
/// (service_diff) assumes; an empty list sent would remove the service's load
/// balancers or placement.
fn given<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

/// Point the service at `definition.task_definition`, with the template's
/// deployment settings; `desired_count` only when given. `force_new_deployment`
/// starts a deployment even when nothing changed (the same revision again,
/// after its rollout failed).
pub async fn update_service(
    client: &Client,
    definition: &ServiceDefinition,
    desired_count: Option<i32>,
    force_new_deployment: bool,
) -> anyhow::Result<()> {
    client
        .update_service()
        .cluster(&definition.cluster)
        .service(&definition.service_name)
        .task_definition(&definition.task_definition)
        .set_desired_count(desired_count)
        .set_force_new_deployment(force_new_deployment.then_some(true))
        .set_load_balancers(given(definition.load_balancers_sdk()))
        .set_network_configuration(definition.network_configuration_sdk()?)
        .set_health_check_grace_period_seconds(definition.health_check_grace_period_seconds)
        .set_deployment_configuration(definition.deployment_configuration_sdk())
        .set_placement_strategy(given(definition.placement_strategy_sdk()))
        .set_enable_execute_command(definition.enable_execute_command)
        // launchType, schedulingStrategy and tags are fixed when the service
        // is created: UpdateService takes none of them.
        .set_placement_constraints(given(definition.placement_constraints_sdk()))
        .set_capacity_provider_strategy(definition.capacity_provider_strategy_sdk()?)
        .set_service_registries(definition.service_registries_sdk())
        .set_platform_version(definition.platform_version.clone())
        .set_enable_ecs_managed_tags(definition.enable_ecs_managed_tags)
        .set_propagate_tags(
            definition
                .propagate_tags
                .as_deref()
                .map(aws_sdk_ecs::types::PropagateTags::from),
        )
        .send()
        .await
        .aws_context(|| {
            format!(
                "updating service {} in cluster {}",
                definition.service_name, definition.cluster
            )
        })?;
    Ok(())
}

/// Point a service back at an earlier task definition.
pub async fn set_task_definition(
    client: &Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> anyhow::Result<()> {
    client
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .send()
        .await
        .aws_context(|| format!("updating service {service} to {task_definition}"))?;
    Ok(())
}

/// Tasks of a service in a state (RUNNING or STOPPED), described.
pub async fn service_tasks(
    client: &Client,
    cluster: &str,
    service: &str,
    status: DesiredStatus,
) -> anyhow::Result<Vec<Task>> {
    let mut arns = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let output = client
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(status.clone())
            .set_next_token(next_token.clone())
            .send()
            .await
            .aws_context(|| format!("listing tasks of service {service}"))?;
        arns.extend(output.task_arns().iter().cloned());
        next_token = output.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let output = client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .aws_context(|| format!("describing tasks of service {service}"))?;
        tasks.extend(output.tasks().iter().cloned());
    }
    Ok(tasks)
}

/// Names of the active services of a cluster (none when the cluster is gone).
pub async fn list_services(client: &Client, cluster: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let result = client
            .list_services()
            .cluster(cluster)
            .set_next_token(next_token.clone())
            .send()
            .await
            .aws_context(|| format!("listing services of cluster {cluster}"));
        let output = match result {
            Ok(output) => output,
            Err(error) if super::errors::class_of(&error) == Some(super::ErrorClass::NotFound) => {
                return Ok(names)
            }
            Err(error) => return Err(error),
        };
        names.extend(
            output
                .service_arns()
                .iter()
                .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_string()),
        );
        next_token = output.next_token().map(str::to_string);
        if next_token.is_none() {
            return Ok(names);
        }
    }
}

/// Delete a service with its tasks (ECS DeleteService with force) and wait
/// until it is INACTIVE or gone, at most `timeout`.
pub async fn delete_service(
    client: &Client,
    cluster: &str,
    service: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    client
        .delete_service()
        .cluster(cluster)
        .service(service)
        .force(true)
        .send()
        .await
        .aws_context(|| format!("deleting service {service} of cluster {cluster}"))?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let output = client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .aws_context(|| format!("describing service {service}"))?;
        let gone = output
            .services()
            .iter()
            .all(|found| found.status() == Some("INACTIVE"));
        if gone {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(crate::error::Failure::new(format!(
                "service {service} is still draining after {}s",
                timeout.as_secs()
            ))
            .hint("run delete-stack again later")
            .into());
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// The container instances (ECS hosts on EC2) of a cluster, described; none
/// when the cluster has none (Fargate, or no host has joined yet) or is gone.
pub async fn container_instances(
    client: &Client,
    cluster: &str,
) -> anyhow::Result<Vec<aws_sdk_ecs::types::ContainerInstance>> {
    let mut arns = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let result = client
            .list_container_instances()
            .cluster(cluster)
            .set_next_token(next_token.clone())
            .send()
            .await
            .aws_context(|| format!("listing the container instances of cluster {cluster}"));
        let output = match result {
            Ok(output) => output,
            Err(error) if super::errors::class_of(&error) == Some(super::ErrorClass::NotFound) => {
                return Ok(Vec::new())
            }
            Err(error) => return Err(error),
        };
        arns.extend(output.container_instance_arns().iter().cloned());
        next_token = output.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    let mut instances = Vec::new();
    // DescribeContainerInstances takes at most 100 at a time.
    for chunk in arns.chunks(100) {
        let output = client
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(chunk.to_vec()))
            .send()
            .await
            .aws_context(|| format!("describing the container instances of cluster {cluster}"))?;
        instances.extend(output.container_instances().iter().cloned());
    }
    Ok(instances)
}

/// The EC2 instance behind a container instance ARN.
pub async fn container_instance_ec2_id(
    client: &Client,
    cluster: &str,
    container_instance: &str,
) -> anyhow::Result<Option<String>> {
    let output = client
        .describe_container_instances()
        .cluster(cluster)
        .container_instances(container_instance)
        .send()
        .await
        .aws_context(|| format!("describing container instance {container_instance}"))?;
    Ok(output
        .container_instances()
        .first()
        .and_then(|instance| instance.ec2_instance_id().map(str::to_string)))
}
