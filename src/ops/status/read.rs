//! `status`'s reads: stack events, services with their tasks and the namings
//! of the revisions they run, hosts, CloudWatch metrics, the Erlang clusters.
//! Each read returns plain values (`aws::ecs_info`, `aws::ec2::InstanceInfo`)
//! or the report's own parts; what they mean is decided in `report.rs`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;

use super::report::{recent, ClusterVerdictLine, HostUsage, MetricValue, ServiceUsage, Usage};
use crate::aws::cloudformation::{CloudFormation, StackEvent};
use crate::aws::cloudwatch::{self, Datapoint, MetricName};
use crate::aws::ec2::{self, InstanceInfo};
use crate::aws::ecs_info::{self, ContainerInstanceInfo, ServiceInfo, TaskInfo};
use crate::aws::errors::class_of;
use crate::aws::{Aws, ErrorClass};
use crate::config::{ServiceConfig, StackConfig};
use crate::ops::node_names::{namings, Naming};

/// Metrics: the newest datapoint in this window...
pub const METRIC_WINDOW: Duration = Duration::from_secs(15 * 60);
/// ...of averages over periods this long (ECS publishes every minute).
pub const METRIC_PERIOD: Duration = Duration::from_secs(60);

/// The last few events of a stack, oldest first.
pub async fn recent_stack_events(
    cloudformation: &CloudFormation,
    stack: &str,
) -> anyhow::Result<Vec<StackEvent>> {
    let events = match cloudformation.recent_events(stack).await {
        Ok(events) => events,
        // Deleted between the two calls: it has no events to show.
        Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => Vec::new(),
        Err(error) => return Err(error),
    };
    Ok(recent(events))
}

/// One service of the stack file as ECS has it.
pub struct ServiceRead<'a> {
    pub config: &'a ServiceConfig,
    /// `None`: not created yet.
    pub service: Option<ServiceInfo>,
    /// The tasks it wants running.
    pub tasks: Vec<TaskInfo>,
    /// How each task definition its tasks run names its nodes.
    pub namings: HashMap<String, Naming>,
}

/// Each service as ECS describes it, with the tasks it wants running. Every
/// service is read at once.
pub async fn read_services<'a>(
    client: &aws_sdk_ecs::Client,
    cluster: Option<&str>,
    services: &[&'a ServiceConfig],
) -> anyhow::Result<Vec<ServiceRead<'a>>> {
    let Some(cluster) = cluster else {
        return Ok(Vec::new());
    };
    let reads = services.iter().map(|config| async move {
        let (service, tasks) = tokio::join!(
            ecs_info::service(client, cluster, &config.name),
            ecs_info::running_tasks(client, cluster, &config.name)
        );
        let service = service?;
        // A service that does not exist has no tasks, whatever ListTasks said.
        let tasks = match service {
            Some(_) => tasks?,
            None => Vec::new(),
        };
        // Each task is named as the revision it runs says.
        let namings = namings(
            client,
            config,
            tasks
                .iter()
                .filter_map(|task| task.task_definition_arn.as_deref()),
        )
        .await;
        anyhow::Ok(ServiceRead {
            config,
            service,
            tasks,
            namings,
        })
    });
    join_all(reads).await.into_iter().collect()
}

/// The container instances of the cluster, their EC2 instances, and each
/// instance's CPU (in the order of `instances`; an error when CloudWatch
/// could not be read, which does not fail the command).
pub struct Hosts {
    pub container_instances: Vec<ContainerInstanceInfo>,
    pub instances: Vec<InstanceInfo>,
    pub cpu: anyhow::Result<Vec<HostUsage>>,
}

pub async fn read_hosts(
    ecs_client: &aws_sdk_ecs::Client,
    ec2_client: &aws_sdk_ec2::Client,
    cloudwatch_client: &aws_sdk_cloudwatch::Client,
    cluster: Option<&str>,
    now: SystemTime,
) -> anyhow::Result<Hosts> {
    let container_instances = match cluster {
        Some(cluster) => ecs_info::container_instances(ecs_client, cluster).await?,
        None => Vec::new(),
    };
    let ids: Vec<String> = container_instances
        .iter()
        .filter_map(|instance| instance.ec2_instance_id.clone())
        .collect();
    let instances = ec2::instances(ec2_client, &ids).await?;
    let cpu = if ids.is_empty() {
        Ok(Vec::new())
    } else {
        let metrics: Vec<MetricName> = ids
            .iter()
            .map(|id| MetricName::new("AWS/EC2", "CPUUtilization", &[("InstanceId", id)]))
            .collect();
        latest(cloudwatch_client, &metrics, now)
            .await
            .map(|values| {
                ids.iter()
                    .zip(values)
                    .map(|(id, value)| HostUsage {
                        instance_id: id.clone(),
                        cpu: value.map(MetricValue::from),
                    })
                    .collect()
            })
    };
    Ok(Hosts {
        container_instances,
        instances,
        cpu,
    })
}

/// CPU and memory of each service and of the cluster, in one request.
pub async fn read_usage(
    client: &aws_sdk_cloudwatch::Client,
    cluster: Option<&str>,
    services: &[&ServiceConfig],
    now: SystemTime,
) -> anyhow::Result<(Vec<ServiceUsage>, Usage)> {
    let Some(cluster) = cluster else {
        return Ok((Vec::new(), Usage::default()));
    };
    let ecs_pair = |dimensions: &[(&str, &str)]| {
        [
            MetricName::new("AWS/ECS", "CPUUtilization", dimensions),
            MetricName::new("AWS/ECS", "MemoryUtilization", dimensions),
        ]
    };
    let mut metrics: Vec<MetricName> = services
        .iter()
        .flat_map(|service| ecs_pair(&[("ClusterName", cluster), ("ServiceName", &service.name)]))
        .collect();
    metrics.extend(ecs_pair(&[("ClusterName", cluster)]));
    let mut values = latest(client, &metrics, now).await?.into_iter();
    let mut next_usage = || Usage {
        cpu: values.next().flatten().map(MetricValue::from),
        memory: values.next().flatten().map(MetricValue::from),
    };
    let per_service = services
        .iter()
        .map(|service| ServiceUsage {
            name: service.name.clone(),
            usage: next_usage(),
        })
        .collect();
    Ok((per_service, next_usage()))
}

async fn latest(
    client: &aws_sdk_cloudwatch::Client,
    metrics: &[MetricName],
    now: SystemTime,
) -> anyhow::Result<Vec<Option<Datapoint>>> {
    let start = now.checked_sub(METRIC_WINDOW).unwrap_or(now);
    cloudwatch::latest_averages(client, metrics, start, now, METRIC_PERIOD).await
}

/// Each service's cluster verdict in a line (`ops::cluster`): every running
/// node asked over SSH, which is why it is only done with --cluster. A
/// failure to ask is said in the line; status itself does not fail for it.
pub async fn cluster_verdicts(aws: &Aws, stack: &StackConfig) -> Vec<ClusterVerdictLine> {
    let services: Vec<ServiceConfig> = stack.services.values().cloned().collect();
    let surveyed = async {
        let (outputs, _) = crate::ops::stack_outputs::stack_outputs(stack, aws).await?;
        crate::ops::cluster::survey(aws, stack, &outputs, &services).await
    };
    match surveyed.await {
        Ok(clusters) => clusters
            .iter()
            .map(|cluster| ClusterVerdictLine {
                service: cluster.service.clone(),
                whole: cluster.verdict.is_whole(),
                verdict: cluster.verdict.line(cluster.nodes.len()),
            })
            .collect(),
        Err(error) => services
            .iter()
            .map(|service| ClusterVerdictLine {
                service: service.name.clone(),
                whole: false,
                verdict: format!("could not be asked: {error:#}"),
            })
            .collect(),
    }
}
