//! `status <STACK>`: the stack as AWS sees it now. The network and platform
//! stacks with their last events; each service's deployments, last events and
//! whether it is stable; every task with its node name, address, host, zone,
//! health and age; the cluster's EC2 hosts; CPU and memory from CloudWatch.
//! Reads only. The calls that do not depend on each other run at once.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_ecs::types::{ContainerInstance, DeploymentRolloutState, DesiredStatus, Service, Task};
use aws_smithy_types::DateTime;
use futures_util::future::join_all;
use serde::Serialize;

use super::Context;
use crate::aws::cloudformation::{CloudFormation, StackEvent, StackInfo};
use crate::aws::cloudwatch::{self, Datapoint, MetricName};
use crate::aws::errors::class_of;
use crate::aws::{ec2, ecs, Aws, ErrorClass};
use crate::cli::StatusArgs;
use crate::config::{ServiceConfig, StackConfig};
use crate::ops::node_names::{namings, Naming};
use crate::release::history;
use crate::release::node_name::{private_ip, task_id, task_node_name};
use crate::validation;

/// How many of the most recent events of each stack and service are shown.
const RECENT_EVENTS: usize = 5;
/// Metrics: the newest datapoint in this window...
const METRIC_WINDOW: Duration = Duration::from_secs(15 * 60);
/// ...of averages over periods this long (ECS publishes every minute).
const METRIC_PERIOD: Duration = Duration::from_secs(60);

/// The whole answer: `--output json` prints it as it is. Field names are stable.
#[derive(Debug, Serialize)]
struct Report {
    stack: String,
    stack_id: String,
    region: String,
    /// The ECS cluster: the platform stack's ClusterName output, once it has one.
    cluster: Option<String>,
    stacks: Vec<StackStatus>,
    services: Vec<ServiceStatus>,
    hosts: Vec<HostStatus>,
    metrics: Metrics,
    /// Each service's Erlang cluster verdict, with --cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    erlang_clusters: Option<Vec<ClusterVerdictLine>>,
}

/// One service's cluster verdict (`stackup cluster` says more).
#[derive(Debug, Serialize)]
struct ClusterVerdictLine {
    service: String,
    whole: bool,
    verdict: String,
}

#[derive(Debug, Serialize)]
struct StackStatus {
    layer: &'static str,
    name: String,
    status: String,
    status_reason: Option<String>,
    /// The most recent events, oldest first.
    events: Vec<StackEvent>,
}

#[derive(Debug, Serialize)]
struct ServiceStatus {
    /// The `[services.<name>]` key of the stack file.
    name: String,
    /// The ECS service's name.
    service_name: String,
    /// False while deploy-release has not created the service yet.
    deployed: bool,
    /// ECS's status of the service: ACTIVE or DRAINING.
    status: Option<String>,
    /// One deployment, its rollout COMPLETED, and every desired task running.
    stable: bool,
    /// Why it is not stable (absent when it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    unstable_reason: Option<String>,
    task_definition: Option<String>,
    revision: Option<i64>,
    desired: i32,
    running: i32,
    pending: i32,
    deployments: Vec<DeploymentStatus>,
    /// Tasks ECS wants running (RUNNING, or PENDING on their way there).
    tasks: Vec<TaskStatus>,
    /// The most recent service events, oldest first.
    events: Vec<ServiceEventLine>,
}

#[derive(Debug, Serialize)]
struct DeploymentStatus {
    id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    status: String,
    task_definition: String,
    revision: i64,
    /// IN_PROGRESS, COMPLETED or FAILED.
    rollout_state: Option<String>,
    rollout_state_reason: Option<String>,
    desired: i32,
    running: i32,
    pending: i32,
    failed: i32,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Debug, Serialize)]
struct TaskStatus {
    task_id: String,
    /// `<node_basename>-<task id>@<private IP>`, the name the release runs as.
    node_name: Option<String>,
    private_ip: Option<String>,
    /// The EC2 instance id of the host, when the task runs on a container instance.
    host: Option<String>,
    availability_zone: Option<String>,
    /// The task's healthStatus: HEALTHY, UNHEALTHY or UNKNOWN.
    health: Option<String>,
    last_status: Option<String>,
    revision: Option<i64>,
    started_at: Option<String>,
    age_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
struct ServiceEventLine {
    time: Option<String>,
    message: String,
}

#[derive(Debug, Serialize)]
struct HostStatus {
    /// The EC2 instance id.
    instance_id: Option<String>,
    container_instance: String,
    availability_zone: Option<String>,
    instance_type: Option<String>,
    /// The EC2 state: pending, running, stopping, ...
    state: Option<String>,
    launch_time: Option<String>,
    /// ECS's status of the container instance: ACTIVE, DRAINING, ...
    ecs_status: Option<String>,
    agent_connected: bool,
    running_tasks: i32,
}

#[derive(Debug, Serialize)]
struct Metrics {
    period_seconds: u64,
    window_seconds: u64,
    /// Why some metrics could not be read (they are then null).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    cluster: Usage,
    services: Vec<ServiceUsage>,
    hosts: Vec<HostUsage>,
}

/// AWS/ECS CPUUtilization and MemoryUtilization; null where CloudWatch has no data.
#[derive(Debug, Default, Serialize)]
struct Usage {
    cpu: Option<MetricValue>,
    memory: Option<MetricValue>,
}

#[derive(Debug, Serialize)]
struct ServiceUsage {
    name: String,
    #[serde(flatten)]
    usage: Usage,
}

/// AWS/EC2 CPUUtilization of a host.
#[derive(Debug, Serialize)]
struct HostUsage {
    instance_id: String,
    cpu: Option<MetricValue>,
}

#[derive(Debug, Serialize)]
struct MetricValue {
    percent: f64,
    /// The start of the period the average is over.
    time: String,
}

impl From<Datapoint> for MetricValue {
    fn from(datapoint: Datapoint) -> Self {
        MetricValue {
            percent: datapoint.value,
            time: rfc3339(datapoint.time),
        }
    }
}

pub async fn run(context: &Context, args: &StatusArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let cloudformation = CloudFormation::new(aws.cloudformation());

    let network_name = stack.network_stack_name();
    let platform_name = stack.platform_stack_name();
    let (network, platform) = tokio::join!(
        cloudformation.describe(&network_name),
        cloudformation.describe(&platform_name)
    );
    let (network, platform) = match (network?, platform?) {
        (Some(network), Some(platform)) => (network, platform),
        (network, platform) => {
            let missing: Vec<&str> = [(&network, &network_name), (&platform, &platform_name)]
                .into_iter()
                .filter(|(found, _)| found.is_none())
                .map(|(_, name)| name.as_str())
                .collect();
            let (what, them) = match missing.as_slice() {
                [one] => (format!("stack {one} does not exist yet"), "it"),
                many => (
                    format!("stacks {} do not exist yet", many.join(" and ")),
                    "them",
                ),
            };
            anyhow::bail!(
                "{what} in {}: run `stackup create-stack {}` to create {them}",
                aws.region(),
                stack.name
            );
        }
    };
    let cluster = platform.outputs.get("ClusterName").cloned();
    if cluster.is_none() {
        printer.warn(format!(
            "{} ({}) has no ClusterName output yet: services, hosts and metrics are left out",
            platform.name, platform.status
        ));
    }

    let now = SystemTime::now();
    let ecs_client = aws.ecs();
    let ec2_client = aws.ec2();
    let cloudwatch_client = aws.cloudwatch();
    let services: Vec<&ServiceConfig> = stack.services.values().collect();
    let (network_events, platform_events, read_services, hosts, usage) = tokio::join!(
        recent_stack_events(&cloudformation, &network.name),
        recent_stack_events(&cloudformation, &platform.name),
        read_services(&ecs_client, cluster.as_deref(), &services),
        read_hosts(
            &ecs_client,
            &ec2_client,
            &cloudwatch_client,
            cluster.as_deref(),
            now
        ),
        read_usage(&cloudwatch_client, cluster.as_deref(), &services, now),
    );
    let hosts = hosts?;
    let host_of: HashMap<&str, &str> = hosts
        .container_instances
        .iter()
        .filter_map(|instance| {
            Some((
                instance.container_instance_arn()?,
                instance.ec2_instance_id()?,
            ))
        })
        .collect();

    // Metrics are worth showing but not worth failing for: CloudWatch
    // permissions are often separate from ECS's.
    let mut errors = Vec::new();
    let usage = usage.unwrap_or_else(|error| {
        errors.push(format!("{error:#}"));
        let unknown = services
            .iter()
            .map(|service| ServiceUsage {
                name: service.name.clone(),
                usage: Usage::default(),
            })
            .collect();
        (unknown, Usage::default())
    });
    let host_usage = hosts.cpu.unwrap_or_else(|error| {
        errors.push(format!("{error:#}"));
        Vec::new()
    });
    for error in &errors {
        printer.warn(format!("CloudWatch metrics are left out: {error}"));
    }

    let erlang_clusters = match (args.cluster, &cluster) {
        (true, Some(_)) => Some(cluster_verdicts(&aws, &stack).await),
        _ => None,
    };
    let report = Report {
        erlang_clusters,
        stack: stack.name.clone(),
        stack_id: stack.stack_id(),
        region: aws.region().to_string(),
        cluster: cluster.clone(),
        stacks: vec![
            stack_status("network", network, network_events?),
            stack_status("platform", platform, platform_events?),
        ],
        services: read_services?
            .into_iter()
            .map(|(config, service, tasks, namings)| {
                service_status(config, service.as_ref(), tasks, &namings, &host_of, now)
            })
            .collect(),
        hosts: host_status(&hosts.container_instances, &hosts.instances),
        metrics: Metrics {
            period_seconds: METRIC_PERIOD.as_secs(),
            window_seconds: METRIC_WINDOW.as_secs(),
            error: (!errors.is_empty()).then(|| errors.join("; ")),
            cluster: usage.1,
            services: usage.0,
            hosts: host_usage,
        },
    };
    if printer.is_json() {
        printer.json(&report)
    } else {
        printer.data(&render_text(&report))
    }
}

/// Each service's cluster verdict in a line (`ops::cluster`): every running
/// node asked over SSH, which is why it is only done with --cluster. A
/// failure to ask is said in the line; status itself does not fail for it.
async fn cluster_verdicts(aws: &Aws, stack: &StackConfig) -> Vec<ClusterVerdictLine> {
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

/// The last [`RECENT_EVENTS`] events of a stack, oldest first.
async fn recent_stack_events(
    cloudformation: &CloudFormation,
    stack: &str,
) -> anyhow::Result<Vec<StackEvent>> {
    let mut events = match cloudformation.recent_events(stack).await {
        Ok(events) => events,
        // Deleted between the two calls: it has no events to show.
        Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => Vec::new(),
        Err(error) => return Err(error),
    };
    let keep_from = events.len().saturating_sub(RECENT_EVENTS);
    Ok(events.split_off(keep_from))
}

fn stack_status(layer: &'static str, info: StackInfo, events: Vec<StackEvent>) -> StackStatus {
    StackStatus {
        layer,
        name: info.name,
        status: info.status,
        status_reason: info.status_reason,
        events,
    }
}

/// Each service as ECS describes it (`None`: not created yet), with the tasks
/// it wants running. Every service is read at once.
#[allow(clippy::type_complexity, reason = "one service's reads, side by side")]
async fn read_services<'a>(
    client: &aws_sdk_ecs::Client,
    cluster: Option<&str>,
    services: &[&'a ServiceConfig],
) -> anyhow::Result<
    Vec<(
        &'a ServiceConfig,
        Option<Service>,
        Vec<Task>,
        HashMap<String, Naming>,
    )>,
> {
    let Some(cluster) = cluster else {
        return Ok(Vec::new());
    };
    let reads = services.iter().map(|config| async move {
        let (service, tasks) = tokio::join!(
            ecs::describe_service(client, cluster, &config.name),
            ecs::service_tasks(client, cluster, &config.name, DesiredStatus::Running)
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
            tasks.iter().filter_map(|task| task.task_definition_arn()),
        )
        .await;
        anyhow::Ok((*config, service, tasks, namings))
    });
    join_all(reads).await.into_iter().collect()
}

/// Why a service is not stable, or `None` when it is: exactly one deployment,
/// its rollout COMPLETED (or no rollout state, for services ECS gives none)
/// and every desired task running.
fn unstable_reason(service: &Service) -> Option<String> {
    let deployments = service.deployments();
    let [only] = deployments else {
        return Some(format!("{} deployments", deployments.len()));
    };
    match only.rollout_state() {
        Some(DeploymentRolloutState::Completed) | None => {}
        Some(state) => return Some(format!("rollout {}", state.as_str())),
    }
    if service.running_count() != service.desired_count() {
        return Some(format!(
            "running {} of {}",
            service.running_count(),
            service.desired_count()
        ));
    }
    if only.running_count() != only.desired_count() {
        return Some(format!(
            "its deployment running {} of {}",
            only.running_count(),
            only.desired_count()
        ));
    }
    None
}

fn service_status(
    config: &ServiceConfig,
    service: Option<&Service>,
    tasks: Vec<Task>,
    namings: &HashMap<String, Naming>,
    host_of: &HashMap<&str, &str>,
    now: SystemTime,
) -> ServiceStatus {
    let Some(service) = service else {
        return ServiceStatus {
            name: config.name.clone(),
            service_name: config.name.clone(),
            deployed: false,
            status: None,
            stable: false,
            unstable_reason: Some("not deployed".into()),
            task_definition: None,
            revision: None,
            desired: 0,
            running: 0,
            pending: 0,
            deployments: Vec::new(),
            tasks: Vec::new(),
            events: Vec::new(),
        };
    };
    let mut tasks: Vec<TaskStatus> = tasks
        .iter()
        .map(|task| {
            let naming = task
                .task_definition_arn()
                .and_then(|arn| namings.get(arn))
                .cloned()
                .unwrap_or_else(|| Naming::of_service(config));
            task_status(&naming, task, host_of, now)
        })
        .collect();
    tasks.sort_by(|a, b| (&a.started_at, &a.task_id).cmp(&(&b.started_at, &b.task_id)));
    let mut events: Vec<ServiceEventLine> = service
        .events()
        .iter()
        .take(RECENT_EVENTS)
        .map(|event| ServiceEventLine {
            time: event.created_at().and_then(smithy_rfc3339),
            message: event.message().unwrap_or_default().to_string(),
        })
        .collect();
    // ECS lists the newest first.
    events.reverse();
    let unstable_reason = unstable_reason(service);
    ServiceStatus {
        name: config.name.clone(),
        service_name: service
            .service_name()
            .unwrap_or(config.name.as_str())
            .to_string(),
        deployed: true,
        status: service.status().map(str::to_string),
        stable: unstable_reason.is_none(),
        unstable_reason,
        task_definition: service.task_definition().map(str::to_string),
        revision: service.task_definition().map(history::revision_of),
        desired: service.desired_count(),
        running: service.running_count(),
        pending: service.pending_count(),
        deployments: service
            .deployments()
            .iter()
            .map(|deployment| DeploymentStatus {
                id: deployment.id().unwrap_or_default().to_string(),
                status: deployment.status().unwrap_or_default().to_string(),
                task_definition: deployment.task_definition().unwrap_or_default().to_string(),
                revision: deployment
                    .task_definition()
                    .map(history::revision_of)
                    .unwrap_or_default(),
                rollout_state: deployment
                    .rollout_state()
                    .map(|state| state.as_str().to_string()),
                rollout_state_reason: deployment.rollout_state_reason().map(str::to_string),
                desired: deployment.desired_count(),
                running: deployment.running_count(),
                pending: deployment.pending_count(),
                failed: deployment.failed_tasks(),
                created_at: deployment.created_at().and_then(smithy_rfc3339),
                updated_at: deployment.updated_at().and_then(smithy_rfc3339),
            })
            .collect(),
        tasks,
        events,
    }
}

fn task_status(
    naming: &Naming,
    task: &Task,
    host_of: &HashMap<&str, &str>,
    now: SystemTime,
) -> TaskStatus {
    let started = task
        .started_at()
        .and_then(|time| SystemTime::try_from(*time).ok());
    TaskStatus {
        task_id: task_id(task.task_arn().unwrap_or_default()).to_string(),
        node_name: task_node_name(naming.mode, &naming.basename, task),
        private_ip: private_ip(task),
        host: task
            .container_instance_arn()
            .and_then(|arn| host_of.get(arn))
            .map(|id| id.to_string()),
        availability_zone: task.availability_zone().map(str::to_string),
        health: task
            .health_status()
            .map(|health| health.as_str().to_string()),
        last_status: task.last_status().map(str::to_string),
        revision: task.task_definition_arn().map(history::revision_of),
        started_at: started.map(rfc3339),
        age_seconds: started.map(|started| {
            now.duration_since(started)
                .map(|age| age.as_secs())
                .unwrap_or_default()
        }),
    }
}

/// The container instances of the cluster, their EC2 instances, and each
/// instance's CPU (in the order of `instances`; an error when CloudWatch
/// could not be read, which does not fail the command).
struct Hosts {
    container_instances: Vec<ContainerInstance>,
    instances: Vec<aws_sdk_ec2::types::Instance>,
    cpu: anyhow::Result<Vec<HostUsage>>,
}

async fn read_hosts(
    ecs_client: &aws_sdk_ecs::Client,
    ec2_client: &aws_sdk_ec2::Client,
    cloudwatch_client: &aws_sdk_cloudwatch::Client,
    cluster: Option<&str>,
    now: SystemTime,
) -> anyhow::Result<Hosts> {
    let container_instances = match cluster {
        Some(cluster) => ecs::container_instances(ecs_client, cluster).await?,
        None => Vec::new(),
    };
    let ids: Vec<String> = container_instances
        .iter()
        .filter_map(|instance| instance.ec2_instance_id().map(str::to_string))
        .collect();
    let instances = ec2::describe_instances(ec2_client, &ids).await?;
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

fn host_status(
    container_instances: &[ContainerInstance],
    instances: &[aws_sdk_ec2::types::Instance],
) -> Vec<HostStatus> {
    let mut hosts: Vec<HostStatus> = container_instances
        .iter()
        .map(|container_instance| {
            let instance_id = container_instance.ec2_instance_id();
            let instance = instances
                .iter()
                .find(|instance| instance_id.is_some() && instance.instance_id() == instance_id);
            let zone_attribute = container_instance
                .attributes()
                .iter()
                .find(|attribute| attribute.name() == "ecs.availability-zone")
                .and_then(|attribute| attribute.value());
            HostStatus {
                instance_id: instance_id.map(str::to_string),
                container_instance: task_id(
                    container_instance
                        .container_instance_arn()
                        .unwrap_or_default(),
                )
                .to_string(),
                availability_zone: instance
                    .and_then(|instance| instance.placement())
                    .and_then(|placement| placement.availability_zone())
                    .or(zone_attribute)
                    .map(str::to_string),
                instance_type: instance
                    .and_then(|instance| instance.instance_type())
                    .map(|kind| kind.as_str().to_string()),
                state: instance
                    .and_then(|instance| instance.state())
                    .and_then(|state| state.name())
                    .map(|name| name.as_str().to_string()),
                launch_time: instance
                    .and_then(|instance| instance.launch_time())
                    .and_then(smithy_rfc3339),
                ecs_status: container_instance.status().map(str::to_string),
                agent_connected: container_instance.agent_connected(),
                running_tasks: container_instance.running_tasks_count(),
            }
        })
        .collect();
    hosts.sort_by(|a, b| {
        (&a.availability_zone, &a.instance_id).cmp(&(&b.availability_zone, &b.instance_id))
    });
    hosts
}

/// CPU and memory of each service and of the cluster, in one request.
async fn read_usage(
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

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn smithy_rfc3339(time: &DateTime) -> Option<String> {
    SystemTime::try_from(*time).ok().map(rfc3339)
}

/// `2026-11-21T22:30:01.123Z` as `2026-11-21 22:30:01`, for text (the header says UTC).
fn display_time(rfc3339: &str) -> String {
    rfc3339
        .get(..19)
        .unwrap_or(rfc3339)
        .trim_end_matches('Z')
        .replacen('T', " ", 1)
}

/// A short age: 45s, 12m, 3h05m, 2d04h.
fn format_age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m", seconds / 60),
        3_600..86_400 => format!("{}h{:02}m", seconds / 3_600, seconds % 3_600 / 60),
        _ => format!("{}d{:02}h", seconds / 86_400, seconds % 86_400 / 3_600),
    }
}

/// `42.5% at 22:29:00`; without a value, "no data" when CloudWatch answered,
/// "unknown" when it could not be read.
fn format_metric(value: Option<&MetricValue>, read_failed: bool) -> String {
    match value {
        Some(value) => format!(
            "{:.1}% at {}",
            value.percent,
            value.time.get(11..19).unwrap_or(&value.time)
        ),
        None if read_failed => "unknown".to_string(),
        None => "no data".to_string(),
    }
}

/// Rows of cells as aligned columns, each line starting with `indent`.
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            let length = cell.chars().count();
            match widths.get_mut(index) {
                Some(width) => *width = (*width).max(length),
                None => widths.push(length),
            }
        }
    }
    let mut text = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn or_dash(value: Option<&String>) -> String {
    value.cloned().unwrap_or_else(|| "-".to_string())
}

fn render_text(report: &Report) -> String {
    let mut text = format!(
        "{} ({}) in {}, cluster {}; times in UTC\n",
        report.stack_id,
        report.stack,
        report.region,
        report.cluster.as_deref().unwrap_or("unknown")
    );

    text.push_str("\nStacks\n");
    for stack in &report.stacks {
        text.push_str(&format!("  {}  {}", stack.name, stack.status));
        if let Some(reason) = &stack.status_reason {
            text.push_str(&format!("  ({reason})"));
        }
        text.push('\n');
        let rows: Vec<Vec<String>> = stack
            .events
            .iter()
            .map(|event| {
                let mut status = event.status.clone();
                if let Some(reason) = event.reason.as_ref().filter(|reason| !reason.is_empty()) {
                    status.push_str(&format!(": {reason}"));
                }
                vec![
                    display_time(&event.timestamp),
                    event.logical_id.clone(),
                    event.resource_type.clone(),
                    status,
                ]
            })
            .collect();
        text.push_str(&table(&rows, "    "));
    }

    text.push_str("\nServices\n");
    if report.cluster.is_none() {
        text.push_str("  unknown until the platform stack has a ClusterName output\n");
    }
    for service in &report.services {
        text.push_str(&service_text(service, &report.stack));
    }
    if let Some(clusters) = &report.erlang_clusters {
        text.push_str("\nErlang clusters\n");
        for cluster in clusters {
            text.push_str(&format!("  {}: {}\n", cluster.service, cluster.verdict));
        }
    }

    text.push_str("\nHosts\n");
    if report.hosts.is_empty() {
        text.push_str(&format!(
            "  no EC2 container instance is registered in cluster {}\n",
            report.cluster.as_deref().unwrap_or("unknown")
        ));
    } else {
        let mut rows = vec![[
            "INSTANCE", "ZONE", "TYPE", "STATE", "ECS", "TASKS", "LAUNCHED",
        ]
        .map(String::from)
        .to_vec()];
        rows.extend(report.hosts.iter().map(|host| {
            vec![
                or_dash(host.instance_id.as_ref()),
                or_dash(host.availability_zone.as_ref()),
                or_dash(host.instance_type.as_ref()),
                or_dash(host.state.as_ref()),
                format!(
                    "{}{}",
                    host.ecs_status.as_deref().unwrap_or("-"),
                    if host.agent_connected {
                        ""
                    } else {
                        " (agent disconnected)"
                    }
                ),
                host.running_tasks.to_string(),
                host.launch_time
                    .as_deref()
                    .map(display_time)
                    .unwrap_or_else(|| "-".to_string()),
            ]
        }));
        text.push_str(&table(&rows, "  "));
    }

    let metrics = &report.metrics;
    text.push_str(&format!(
        "\nMetrics (average per {}s, newest in the last {} minutes)\n",
        metrics.period_seconds,
        metrics.window_seconds / 60
    ));
    let failed = metrics.error.is_some();
    if let Some(error) = &metrics.error {
        text.push_str(&format!("  could not be read: {error}\n"));
    }
    let mut rows = Vec::new();
    if let Some(cluster) = &report.cluster {
        rows.push(vec![
            format!("cluster {cluster}"),
            format!(
                "CPU {}",
                format_metric(metrics.cluster.cpu.as_ref(), failed)
            ),
            format!(
                "memory {}",
                format_metric(metrics.cluster.memory.as_ref(), failed)
            ),
        ]);
    }
    for service in &metrics.services {
        rows.push(vec![
            format!("service {}", service.name),
            format!("CPU {}", format_metric(service.usage.cpu.as_ref(), failed)),
            format!(
                "memory {}",
                format_metric(service.usage.memory.as_ref(), failed)
            ),
        ]);
    }
    for host in &metrics.hosts {
        rows.push(vec![
            format!("host {}", host.instance_id),
            format!("CPU {}", format_metric(host.cpu.as_ref(), failed)),
        ]);
    }
    text.push_str(&table(&rows, "  "));
    text
}

fn service_text(service: &ServiceStatus, stack: &str) -> String {
    if !service.deployed {
        return format!(
            "  {}: not deployed; `stackup deploy-release {stack}` creates it\n",
            service.name
        );
    }
    let running = format!("running {} of {}", service.running, service.desired);
    let mut text = format!(
        "  {}: {}, revision {}, {running}{}\n",
        service.name,
        match &service.unstable_reason {
            None => "stable".to_string(),
            // The counts follow on the same line: say them once.
            Some(reason) if *reason == running => "NOT STABLE".to_string(),
            Some(reason) => format!("NOT STABLE ({reason})"),
        },
        service
            .revision
            .map(|revision| revision.to_string())
            .unwrap_or_else(|| "-".to_string()),
        if service.pending > 0 {
            format!(", {} pending", service.pending)
        } else {
            String::new()
        }
    );
    text.push_str("    deployments\n");
    let rows: Vec<Vec<String>> = service
        .deployments
        .iter()
        .map(|deployment| {
            let mut state = deployment
                .rollout_state
                .clone()
                .unwrap_or_else(|| "-".to_string());
            if state == "FAILED" {
                if let Some(reason) = &deployment.rollout_state_reason {
                    state.push_str(&format!(" ({reason})"));
                }
            }
            vec![
                deployment.status.clone(),
                format!("revision {}", deployment.revision),
                state,
                format!("desired {}", deployment.desired),
                format!("running {}", deployment.running),
                format!("pending {}", deployment.pending),
                format!("failed {}", deployment.failed),
            ]
        })
        .collect();
    text.push_str(&table(&rows, "      "));
    text.push_str("    tasks\n");
    if service.tasks.is_empty() {
        text.push_str("      none running\n");
    } else {
        let mut rows = vec![["NODE", "IP", "HOST", "ZONE", "HEALTH", "STATUS", "AGE"]
            .map(String::from)
            .to_vec()];
        rows.extend(service.tasks.iter().map(|task| {
            vec![
                task.node_name
                    .clone()
                    .unwrap_or_else(|| format!("{} (no address yet)", task.task_id)),
                or_dash(task.private_ip.as_ref()),
                or_dash(task.host.as_ref()),
                or_dash(task.availability_zone.as_ref()),
                or_dash(task.health.as_ref()),
                or_dash(task.last_status.as_ref()),
                task.age_seconds
                    .map(format_age)
                    .unwrap_or_else(|| "-".to_string()),
            ]
        }));
        text.push_str(&table(&rows, "      "));
    }
    text.push_str("    events\n");
    let rows: Vec<Vec<String>> = service
        .events
        .iter()
        .map(|event| {
            vec![
                event
                    .time
                    .as_deref()
                    .map(display_time)
                    .unwrap_or_else(|| "-".to_string()),
                event.message.clone(),
            ]
        })
        .collect();
    text.push_str(&table(&rows, "      "));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::Deployment;

    fn deployment(state: Option<DeploymentRolloutState>, running: i32) -> Deployment {
        Deployment::builder()
            .status("PRIMARY")
            .task_definition(
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/demo-prod-v1-web:8",
            )
            .set_rollout_state(state)
            .desired_count(2)
            .running_count(running)
            .build()
    }

    fn service(deployments: Vec<Deployment>, running: i32) -> Service {
        Service::builder()
            .service_name("web")
            .desired_count(2)
            .running_count(running)
            .set_deployments(Some(deployments))
            .build()
    }

    #[test]
    fn stable_means_one_completed_deployment_with_every_task_running() {
        let completed = || deployment(Some(DeploymentRolloutState::Completed), 2);
        assert_eq!(unstable_reason(&service(vec![completed()], 2)), None);
        assert_eq!(
            unstable_reason(&service(vec![deployment(None, 2)], 2)),
            None,
            "services without rollout states are stable once fully running"
        );
        assert_eq!(
            unstable_reason(&service(
                vec![
                    deployment(Some(DeploymentRolloutState::InProgress), 1),
                    completed()
                ],
                3
            ))
            .as_deref(),
            Some("2 deployments")
        );
        assert_eq!(
            unstable_reason(&service(
                vec![deployment(Some(DeploymentRolloutState::InProgress), 2)],
                2
            ))
            .as_deref(),
            Some("rollout IN_PROGRESS")
        );
        assert_eq!(
            unstable_reason(&service(
                vec![deployment(Some(DeploymentRolloutState::Completed), 1)],
                1
            ))
            .as_deref(),
            Some("running 1 of 2")
        );
        assert_eq!(
            unstable_reason(&service(
                vec![deployment(Some(DeploymentRolloutState::Completed), 1)],
                2
            ))
            .as_deref(),
            Some("its deployment running 1 of 2")
        );
    }

    #[test]
    fn the_service_line_says_each_thing_once() {
        let status = |unstable_reason: Option<&str>| ServiceStatus {
            name: "web".into(),
            service_name: "web".into(),
            deployed: true,
            status: Some("ACTIVE".into()),
            stable: unstable_reason.is_none(),
            unstable_reason: unstable_reason.map(str::to_string),
            task_definition: None,
            revision: Some(1),
            desired: 3,
            running: 2,
            pending: 1,
            deployments: Vec::new(),
            tasks: Vec::new(),
            events: Vec::new(),
        };
        let first_line = |reason| {
            service_text(&status(reason), "demo")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(
            first_line(Some("running 2 of 3")),
            "  web: NOT STABLE, revision 1, running 2 of 3, 1 pending"
        );
        assert_eq!(
            first_line(Some("rollout IN_PROGRESS")),
            "  web: NOT STABLE (rollout IN_PROGRESS), revision 1, running 2 of 3, 1 pending"
        );
    }

    #[test]
    fn times_are_shown_to_the_second() {
        assert_eq!(
            display_time("2026-11-21T22:59:06.166951Z"),
            "2026-11-21 22:59:06"
        );
        assert_eq!(display_time("2026-11-21T22:59:06Z"), "2026-11-21 22:59:06");
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(format_age(45), "45s");
        assert_eq!(format_age(12 * 60 + 5), "12m");
        assert_eq!(format_age(3 * 3_600 + 5 * 60), "3h05m");
        assert_eq!(format_age(2 * 86_400 + 4 * 3_600), "2d04h");
    }

    #[test]
    fn metrics_show_the_value_and_its_time_or_say_why_not() {
        let value = MetricValue {
            percent: 42.5,
            time: "2026-11-21T22:29:00Z".into(),
        };
        assert_eq!(format_metric(Some(&value), false), "42.5% at 22:29:00");
        assert_eq!(format_metric(None, false), "no data");
        assert_eq!(format_metric(None, true), "unknown");
    }

    #[test]
    fn columns_are_aligned_and_lines_not_padded() {
        let rows = vec![
            vec!["a".to_string(), "bb".to_string(), "c".to_string()],
            vec!["aaa".to_string(), "b".to_string(), "".to_string()],
        ];
        assert_eq!(table(&rows, "  "), "  a    bb  c\n  aaa  b\n");
    }
}
