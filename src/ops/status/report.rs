//! What `status` reports, and the decisions that make it from what AWS said:
//! whether a service is stable, which events are recent, how each task is
//! named, which EC2 instance hosts it. Pure: no AWS call, no SDK shape.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::aws::cloudformation::{StackEvent, StackInfo, StackStatus};
use crate::aws::cloudwatch::Datapoint;
use crate::aws::ec2::InstanceInfo;
use crate::aws::ecs_info::{ContainerInstanceInfo, DeploymentInfo, ServiceInfo, TaskInfo};
use crate::config::ServiceConfig;
use crate::error::Failure;
use crate::ops::node_names::Naming;
use crate::release::history;
use crate::release::node_name::{node_name, task_id};

/// How many of the most recent events of each stack and service are shown.
pub const RECENT_EVENTS: usize = 5;

/// The whole answer: `--output json` prints it as it is. Field names are stable.
#[derive(Debug, Serialize)]
pub struct Report {
    pub stack: String,
    pub stack_id: String,
    pub region: String,
    /// The ECS cluster: the platform stack's ClusterName output, once it has one.
    pub cluster: Option<String>,
    pub stacks: Vec<StackReport>,
    pub services: Vec<ServiceStatus>,
    pub hosts: Vec<HostStatus>,
    pub metrics: Metrics,
    /// Each service's Erlang cluster verdict, with --cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erlang_clusters: Option<Vec<ClusterVerdictLine>>,
}

/// One service's cluster verdict (`stackup cluster` says more).
#[derive(Debug, Serialize)]
pub struct ClusterVerdictLine {
    pub service: String,
    pub whole: bool,
    pub verdict: String,
}

/// One CloudFormation stack of the stack file: the network or the platform.
#[derive(Debug, Serialize)]
pub struct StackReport {
    pub layer: &'static str,
    pub name: String,
    pub status: StackStatus,
    pub status_reason: Option<String>,
    /// The most recent events, oldest first.
    pub events: Vec<StackEvent>,
}

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    /// The `[services.<name>]` key of the stack file.
    pub name: String,
    /// The ECS service's name.
    pub service_name: String,
    /// False while deploy-release has not created the service yet.
    pub deployed: bool,
    /// ECS's status of the service: ACTIVE or DRAINING.
    pub status: Option<String>,
    /// One deployment, its rollout COMPLETED, and every desired task running.
    pub stable: bool,
    /// Why it is not stable (absent when it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unstable_reason: Option<String>,
    pub task_definition: Option<String>,
    pub revision: Option<i64>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: Vec<DeploymentStatus>,
    /// Tasks ECS wants running (RUNNING, or PENDING on their way there).
    pub tasks: Vec<TaskStatus>,
    /// The most recent service events, oldest first.
    pub events: Vec<ServiceEventLine>,
}

#[derive(Debug, Serialize)]
pub struct DeploymentStatus {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub revision: i64,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed: i32,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TaskStatus {
    pub task_id: String,
    /// `<node_basename>-<task id>@<private IP>`, the name the release runs as.
    pub node_name: Option<String>,
    pub private_ip: Option<String>,
    /// The EC2 instance id of the host, when the task runs on a container instance.
    pub host: Option<String>,
    pub availability_zone: Option<String>,
    /// The task's healthStatus: HEALTHY, UNHEALTHY or UNKNOWN.
    pub health: Option<String>,
    pub last_status: Option<String>,
    pub revision: Option<i64>,
    pub started_at: Option<String>,
    pub age_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ServiceEventLine {
    pub time: Option<String>,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct HostStatus {
    /// The EC2 instance id.
    pub instance_id: Option<String>,
    pub container_instance: String,
    pub availability_zone: Option<String>,
    pub instance_type: Option<String>,
    /// The EC2 state: pending, running, stopping, ...
    pub state: Option<String>,
    pub launch_time: Option<String>,
    /// ECS's status of the container instance: ACTIVE, DRAINING, ...
    pub ecs_status: Option<String>,
    pub agent_connected: bool,
    pub running_tasks: i32,
}

#[derive(Debug, Serialize)]
pub struct Metrics {
    pub period_seconds: u64,
    pub window_seconds: u64,
    /// Why some metrics could not be read (they are then null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cluster: Usage,
    pub services: Vec<ServiceUsage>,
    pub hosts: Vec<HostUsage>,
}

/// AWS/ECS CPUUtilization and MemoryUtilization; null where CloudWatch has no data.
#[derive(Debug, Default, Serialize)]
pub struct Usage {
    pub cpu: Option<MetricValue>,
    pub memory: Option<MetricValue>,
}

#[derive(Debug, Serialize)]
pub struct ServiceUsage {
    pub name: String,
    #[serde(flatten)]
    pub usage: Usage,
}

/// AWS/EC2 CPUUtilization of a host.
#[derive(Debug, Serialize)]
pub struct HostUsage {
    pub instance_id: String,
    pub cpu: Option<MetricValue>,
}

#[derive(Debug, Serialize)]
pub struct MetricValue {
    pub percent: f64,
    /// The start of the period the average is over.
    pub time: String,
}

impl From<Datapoint> for MetricValue {
    fn from(datapoint: Datapoint) -> Self {
        MetricValue {
            percent: datapoint.value,
            time: rfc3339(datapoint.time),
        }
    }
}

/// A time as the report writes it: RFC 3339 to the second, UTC.
fn rfc3339(time: SystemTime) -> String {
    crate::rfc3339::seconds(time)
}

/// Why `status` cannot report yet: the stacks not created (`missing`), with
/// the command that creates them; `None` when none is missing.
pub fn missing_stacks(missing: &[&str], region: &str, stack: &str) -> Option<Failure> {
    let (what, them) = match missing {
        [] => return None,
        [one] => (format!("stack {one} does not exist yet"), "it"),
        many => (
            format!("stacks {} do not exist yet", many.join(" and ")),
            "them",
        ),
    };
    Some(Failure::new(format!("{what} in {region}")).hint(format!(
        "run `stackup create-stack {stack}` to create {them}"
    )))
}

/// The last [`RECENT_EVENTS`] of events listed oldest first.
pub fn recent<T>(mut events: Vec<T>) -> Vec<T> {
    let keep_from = events.len().saturating_sub(RECENT_EVENTS);
    events.split_off(keep_from)
}

pub fn stack_report(layer: &'static str, info: StackInfo, events: Vec<StackEvent>) -> StackReport {
    StackReport {
        layer,
        name: info.name,
        status: info.status,
        status_reason: info.status_reason,
        events,
    }
}

/// Why a service is not stable, or `None` when it is: exactly one deployment,
/// its rollout COMPLETED (or no rollout state, for services ECS gives none)
/// and every desired task running.
pub fn unstable_reason(service: &ServiceInfo) -> Option<String> {
    let [only] = service.deployments.as_slice() else {
        return Some(format!("{} deployments", service.deployments.len()));
    };
    match only.rollout_state.as_deref() {
        Some("COMPLETED") | None => {}
        Some(state) => return Some(format!("rollout {state}")),
    }
    if service.running_count != service.desired_count {
        return Some(format!(
            "running {} of {}",
            service.running_count, service.desired_count
        ));
    }
    if only.running_count != only.desired_count {
        return Some(format!(
            "its deployment running {} of {}",
            only.running_count, only.desired_count
        ));
    }
    None
}

/// Which EC2 instance each container instance (by ARN) is.
pub fn hosts_by_container_instance(
    container_instances: &[ContainerInstanceInfo],
) -> HashMap<&str, &str> {
    container_instances
        .iter()
        .filter_map(|instance| {
            Some((
                instance.arn.as_deref()?,
                instance.ec2_instance_id.as_deref()?,
            ))
        })
        .collect()
}

/// One service of the stack file as ECS has it (`None`: not created yet),
/// with the tasks it wants running, each named as the revision it runs says.
pub fn service_status(
    config: &ServiceConfig,
    service: Option<&ServiceInfo>,
    tasks: &[TaskInfo],
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
                .task_definition_arn
                .as_ref()
                .and_then(|arn| namings.get(arn))
                .cloned()
                .unwrap_or_else(|| Naming::of_service(config));
            task_status(&naming, task, host_of, now)
        })
        .collect();
    tasks.sort_by(|a, b| (&a.started_at, &a.task_id).cmp(&(&b.started_at, &b.task_id)));
    let mut events: Vec<ServiceEventLine> = service
        .events
        .iter()
        .take(RECENT_EVENTS)
        .map(|event| ServiceEventLine {
            time: event.created_at.map(rfc3339),
            message: event.message.clone().unwrap_or_default(),
        })
        .collect();
    // ECS lists the newest first.
    events.reverse();
    let unstable_reason = unstable_reason(service);
    ServiceStatus {
        name: config.name.clone(),
        service_name: service
            .service_name
            .clone()
            .unwrap_or_else(|| config.name.clone()),
        deployed: true,
        status: service.status.clone(),
        stable: unstable_reason.is_none(),
        unstable_reason,
        task_definition: service.task_definition.clone(),
        revision: service.task_definition.as_deref().map(history::revision_of),
        desired: service.desired_count,
        running: service.running_count,
        pending: service.pending_count,
        deployments: service.deployments.iter().map(deployment_status).collect(),
        tasks,
        events,
    }
}

fn deployment_status(deployment: &DeploymentInfo) -> DeploymentStatus {
    DeploymentStatus {
        id: deployment.id.clone().unwrap_or_default(),
        status: deployment.status.clone().unwrap_or_default(),
        task_definition: deployment.task_definition.clone().unwrap_or_default(),
        revision: deployment
            .task_definition
            .as_deref()
            .map(history::revision_of)
            .unwrap_or_default(),
        rollout_state: deployment.rollout_state.clone(),
        rollout_state_reason: deployment.rollout_state_reason.clone(),
        desired: deployment.desired_count,
        running: deployment.running_count,
        pending: deployment.pending_count,
        failed: deployment.failed_tasks,
        created_at: deployment.created_at.map(rfc3339),
        updated_at: deployment.updated_at.map(rfc3339),
    }
}

fn task_status(
    naming: &Naming,
    task: &TaskInfo,
    host_of: &HashMap<&str, &str>,
    now: SystemTime,
) -> TaskStatus {
    // A task without an address yet has no node name (release/node_name.rs).
    let name = || {
        Some(node_name(
            naming.mode,
            &naming.basename,
            task.task_arn.as_deref()?,
            task.task_definition_arn.as_deref().unwrap_or_default(),
            task.private_ip.as_deref()?,
        ))
    };
    TaskStatus {
        task_id: task_id(task.task_arn.as_deref().unwrap_or_default()).to_string(),
        node_name: name(),
        private_ip: task.private_ip.clone(),
        host: task
            .container_instance_arn
            .as_deref()
            .and_then(|arn| host_of.get(arn))
            .map(|id| id.to_string()),
        availability_zone: task.availability_zone.clone(),
        health: task.health.clone(),
        last_status: task.last_status.clone(),
        revision: task
            .task_definition_arn
            .as_deref()
            .map(history::revision_of),
        started_at: task.started_at.map(rfc3339),
        age_seconds: task.started_at.map(|started| {
            now.duration_since(started)
                .map(|age| age.as_secs())
                .unwrap_or_default()
        }),
    }
}

/// The cluster's hosts: each container instance with its EC2 instance (its
/// zone from EC2, else from the ECS agent's attribute), by zone then id.
pub fn host_status(
    container_instances: &[ContainerInstanceInfo],
    instances: &[InstanceInfo],
) -> Vec<HostStatus> {
    let mut hosts: Vec<HostStatus> = container_instances
        .iter()
        .map(|container_instance| {
            let instance_id = container_instance.ec2_instance_id.as_deref();
            let instance = instances.iter().find(|instance| {
                instance_id.is_some() && instance.instance_id.as_deref() == instance_id
            });
            HostStatus {
                instance_id: instance_id.map(str::to_string),
                container_instance: task_id(container_instance.arn.as_deref().unwrap_or_default())
                    .to_string(),
                availability_zone: instance
                    .and_then(|instance| instance.availability_zone.clone())
                    .or_else(|| container_instance.availability_zone.clone()),
                instance_type: instance.and_then(|instance| instance.instance_type.clone()),
                state: instance.and_then(|instance| instance.state.clone()),
                launch_time: instance
                    .and_then(|instance| instance.launch_time)
                    .map(rfc3339),
                ecs_status: container_instance.status.clone(),
                agent_connected: container_instance.agent_connected,
                running_tasks: container_instance.running_tasks,
            }
        })
        .collect();
    hosts.sort_by(|a, b| {
        (&a.availability_zone, &a.instance_id).cmp(&(&b.availability_zone, &b.instance_id))
    });
    hosts
}

/// A report with every part filled in, for the tests of its JSON and its text.
#[cfg(test)]
pub fn sample_report() -> Report {
    let event = |logical: &str, status: &str, reason: Option<&str>| StackEvent {
        id: "e".into(),
        timestamp: "2026-11-21T22:59:06.166Z".into(),
        logical_id: logical.into(),
        resource_type: "AWS::CloudFormation::Stack".into(),
        status: status.into(),
        reason: reason.map(str::to_string),
    };
    let value = |percent: f64| {
        Some(MetricValue {
            percent,
            time: "2026-11-21T22:29:00Z".into(),
        })
    };
    let definition =
        |revision: i64| format!("arn:aws:ecs:eu-west-1:1:task-definition/demo-web:{revision}");
    Report {
        stack: "demo".into(),
        stack_id: "demo-prod-v1".into(),
        region: "eu-west-1".into(),
        cluster: Some("demo-prod-v1".into()),
        stacks: vec![
            StackReport {
                layer: "network",
                name: "demo-prod-v1-network".into(),
                status: "CREATE_COMPLETE".into(),
                status_reason: None,
                events: vec![event("demo-prod-v1-network", "CREATE_COMPLETE", Some(""))],
            },
            StackReport {
                layer: "platform",
                name: "demo-prod-v1-platform".into(),
                status: "UPDATE_ROLLBACK_COMPLETE".into(),
                status_reason: Some("Export in use".into()),
                events: vec![
                    event(
                        "Cluster",
                        "UPDATE_FAILED",
                        Some("Resource handler returned"),
                    ),
                    event("demo-prod-v1-platform", "UPDATE_ROLLBACK_COMPLETE", None),
                ],
            },
        ],
        services: vec![
            ServiceStatus {
                name: "web".into(),
                service_name: "web".into(),
                deployed: true,
                status: Some("ACTIVE".into()),
                stable: false,
                unstable_reason: Some("2 deployments".into()),
                task_definition: Some(definition(8)),
                revision: Some(8),
                desired: 2,
                running: 1,
                pending: 1,
                deployments: vec![
                    DeploymentStatus {
                        id: "ecs-svc/1".into(),
                        status: "PRIMARY".into(),
                        task_definition: definition(8),
                        revision: 8,
                        rollout_state: Some("FAILED".into()),
                        rollout_state_reason: Some("tasks failed to start".into()),
                        desired: 2,
                        running: 0,
                        pending: 1,
                        failed: 3,
                        created_at: Some("2026-11-21T22:00:00Z".into()),
                        updated_at: None,
                    },
                    DeploymentStatus {
                        id: "ecs-svc/0".into(),
                        status: "ACTIVE".into(),
                        task_definition: definition(7),
                        revision: 7,
                        rollout_state: None,
                        rollout_state_reason: Some("not shown".into()),
                        desired: 2,
                        running: 1,
                        pending: 0,
                        failed: 0,
                        created_at: None,
                        updated_at: Some("2026-11-21T21:00:00Z".into()),
                    },
                ],
                tasks: vec![
                    TaskStatus {
                        task_id: "abc".into(),
                        node_name: Some("web@10.20.1.5".into()),
                        private_ip: Some("10.20.1.5".into()),
                        host: Some("i-0123".into()),
                        availability_zone: Some("eu-west-1a".into()),
                        health: Some("HEALTHY".into()),
                        last_status: Some("RUNNING".into()),
                        revision: Some(7),
                        started_at: Some("2026-11-21T20:00:00Z".into()),
                        age_seconds: Some(3 * 3_600 + 5 * 60),
                    },
                    TaskStatus {
                        task_id: "def".into(),
                        node_name: None,
                        private_ip: None,
                        host: None,
                        availability_zone: None,
                        health: None,
                        last_status: Some("PENDING".into()),
                        revision: Some(8),
                        started_at: None,
                        age_seconds: None,
                    },
                ],
                events: vec![
                    ServiceEventLine {
                        time: Some("2026-11-21T22:01:00.5Z".into()),
                        message: "(service web) has started 1 tasks".into(),
                    },
                    ServiceEventLine {
                        time: None,
                        message: "no time".into(),
                    },
                ],
            },
            ServiceStatus {
                name: "worker".into(),
                service_name: "worker".into(),
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
            },
        ],
        hosts: vec![
            HostStatus {
                instance_id: Some("i-0123".into()),
                container_instance: "ci-1".into(),
                availability_zone: Some("eu-west-1a".into()),
                instance_type: Some("t3.small".into()),
                state: Some("running".into()),
                launch_time: Some("2026-11-20T10:00:00Z".into()),
                ecs_status: Some("ACTIVE".into()),
                agent_connected: true,
                running_tasks: 1,
            },
            HostStatus {
                instance_id: None,
                container_instance: "ci-2".into(),
                availability_zone: None,
                instance_type: None,
                state: None,
                launch_time: None,
                ecs_status: None,
                agent_connected: false,
                running_tasks: 0,
            },
        ],
        metrics: Metrics {
            period_seconds: 60,
            window_seconds: 900,
            error: Some("AccessDenied".into()),
            cluster: Usage {
                cpu: value(12.25),
                memory: None,
            },
            services: vec![
                ServiceUsage {
                    name: "web".into(),
                    usage: Usage {
                        cpu: value(42.5),
                        memory: value(7.0),
                    },
                },
                ServiceUsage {
                    name: "worker".into(),
                    usage: Usage::default(),
                },
            ],
            hosts: vec![HostUsage {
                instance_id: "i-0123".into(),
                cpu: value(3.0),
            }],
        },
        erlang_clusters: Some(vec![ClusterVerdictLine {
            service: "web".into(),
            whole: true,
            verdict: "whole: 2 nodes".into(),
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ecs_info::ServiceEventInfo;
    use crate::config::{CookieMode, NodeNameMode};
    use std::time::Duration;

    /// `--output json` is stable: every field, its name and its place.
    #[test]
    fn the_json_keeps_its_fields_and_their_order() {
        let json = serde_json::to_string_pretty(&sample_report()).expect("serializes");
        assert_eq!(
            json,
            include_str!("../../../tests/fixtures/status-report.json")
        );
    }

    fn deployment(state: Option<&str>, running: i32) -> DeploymentInfo {
        DeploymentInfo {
            status: Some("PRIMARY".into()),
            task_definition: Some(
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/demo-prod-v1-web:8".into(),
            ),
            rollout_state: state.map(str::to_string),
            desired_count: 2,
            running_count: running,
            ..DeploymentInfo::default()
        }
    }

    fn service(deployments: Vec<DeploymentInfo>, running: i32) -> ServiceInfo {
        ServiceInfo {
            service_name: Some("web".into()),
            desired_count: 2,
            running_count: running,
            deployments,
            ..ServiceInfo::default()
        }
    }

    #[test]
    fn stable_means_one_completed_deployment_with_every_task_running() {
        let completed = || deployment(Some("COMPLETED"), 2);
        assert_eq!(unstable_reason(&service(vec![completed()], 2)), None);
        assert_eq!(
            unstable_reason(&service(vec![deployment(None, 2)], 2)),
            None,
            "services without rollout states are stable once fully running"
        );
        assert_eq!(
            unstable_reason(&service(
                vec![deployment(Some("IN_PROGRESS"), 1), completed()],
                3
            ))
            .as_deref(),
            Some("2 deployments")
        );
        assert_eq!(
            unstable_reason(&service(vec![deployment(Some("IN_PROGRESS"), 2)], 2)).as_deref(),
            Some("rollout IN_PROGRESS")
        );
        assert_eq!(
            unstable_reason(&service(vec![deployment(Some("COMPLETED"), 1)], 1)).as_deref(),
            Some("running 1 of 2")
        );
        assert_eq!(
            unstable_reason(&service(vec![deployment(Some("COMPLETED"), 1)], 2)).as_deref(),
            Some("its deployment running 1 of 2")
        );
    }

    #[test]
    fn stacks_not_created_are_named_with_the_command_that_creates_them() {
        assert_eq!(missing_stacks(&[], "eu-west-1", "prod"), None);
        assert_eq!(
            missing_stacks(&["demo-prod-v1-platform"], "eu-west-1", "prod"),
            Some(
                Failure::new("stack demo-prod-v1-platform does not exist yet in eu-west-1")
                    .hint("run `stackup create-stack prod` to create it")
            )
        );
        assert_eq!(
            missing_stacks(
                &["demo-prod-v1-network", "demo-prod-v1-platform"],
                "eu-west-1",
                "prod"
            ),
            Some(
                Failure::new(
                    "stacks demo-prod-v1-network and demo-prod-v1-platform do not exist yet in \
                     eu-west-1"
                )
                .hint("run `stackup create-stack prod` to create them")
            )
        );
    }

    #[test]
    fn recent_events_are_the_last_five_oldest_first() {
        assert_eq!(recent((1..=8).collect()), vec![4, 5, 6, 7, 8]);
        assert_eq!(recent(vec![1, 2]), vec![1, 2]);
    }

    fn web() -> ServiceConfig {
        ServiceConfig {
            name: "web".into(),
            task_definition: "task-defs/web.json".into(),
            service_definition: "task-defs/web-service.json".into(),
            desired_count: 2,
            node_basename: "front".into(),
            node_name: NodeNameMode::Ip,
            cookie: CookieMode::Stack,
            console_command: String::new(),
            eval_command: String::new(),
            allow_host_access: Vec::new(),
            builds: Vec::new(),
        }
    }

    const REVISION_7: &str = "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:7";
    const REVISION_8: &str = "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:8";

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn task(id: &str, revision: &str, ip: Option<&str>, started: Option<u64>) -> TaskInfo {
        TaskInfo {
            task_arn: Some(format!("arn:aws:ecs:eu-west-1:1:task/demo/{id}")),
            task_definition_arn: Some(revision.into()),
            private_ip: ip.map(str::to_string),
            started_at: started.map(at),
            last_status: Some("RUNNING".into()),
            ..TaskInfo::default()
        }
    }

    /// Each task is named as the revision it runs says (the stack file's
    /// naming when that revision could not be read), shown on its host, with
    /// its age; oldest first; a task without an address has no name yet.
    #[test]
    fn tasks_are_named_as_their_revision_says_placed_and_ordered() {
        let namings: HashMap<String, Naming> = [(
            REVISION_7.to_string(),
            Naming {
                mode: NodeNameMode::Task,
                basename: "old".into(),
            },
        )]
        .into();
        let mut newer = task("bbb", REVISION_8, Some("10.20.1.5"), Some(1_000));
        newer.container_instance_arn = Some("arn:ci/one".into());
        let tasks = [
            newer,
            task("aaa", REVISION_7, Some("10.20.2.6"), Some(900)),
            task("ccc", REVISION_8, None, None),
        ];
        let host_of: HashMap<&str, &str> = [("arn:ci/one", "i-0123")].into();
        let status = service_status(
            &web(),
            Some(&service(vec![deployment(Some("COMPLETED"), 2)], 2)),
            &tasks,
            &namings,
            &host_of,
            at(1_100),
        );
        // Each task's id, node name, host and age.
        type Shown<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<u64>);
        let shown: Vec<Shown> = status
            .tasks
            .iter()
            .map(|task| {
                (
                    task.task_id.as_str(),
                    task.node_name.as_deref(),
                    task.host.as_deref(),
                    task.age_seconds,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("ccc", None, None, None),
                ("aaa", Some("old-aaa@10.20.2.6"), None, Some(200)),
                ("bbb", Some("front@10.20.1.5"), Some("i-0123"), Some(100)),
            ]
        );
        assert_eq!(status.tasks[2].revision, Some(8));
        assert_eq!(
            status.tasks[2].started_at.as_deref(),
            Some("1970-01-01T00:16:40Z")
        );
        assert!(status.deployed && status.stable);
    }

    #[test]
    fn a_service_shows_its_five_newest_events_oldest_first() {
        let mut ecs = service(vec![deployment(Some("COMPLETED"), 2)], 2);
        // ECS lists the newest first.
        ecs.events = (0..7)
            .map(|n| ServiceEventInfo {
                created_at: Some(at(1_000 - n * 60)),
                message: Some(format!("event {n}")),
            })
            .collect();
        let status = service_status(
            &web(),
            Some(&ecs),
            &[],
            &HashMap::new(),
            &HashMap::new(),
            at(0),
        );
        let messages: Vec<&str> = status
            .events
            .iter()
            .map(|event| event.message.as_str())
            .collect();
        assert_eq!(
            messages,
            ["event 4", "event 3", "event 2", "event 1", "event 0"]
        );
    }

    #[test]
    fn a_service_not_created_is_not_deployed_and_shows_no_tasks() {
        let status = service_status(
            &web(),
            None,
            &[task("aaa", REVISION_7, Some("10.20.2.6"), Some(900))],
            &HashMap::new(),
            &HashMap::new(),
            at(1_000),
        );
        assert!(!status.deployed && !status.stable);
        assert_eq!(status.unstable_reason.as_deref(), Some("not deployed"));
        assert!(status.tasks.is_empty());
    }

    /// A host's zone is EC2's, else the ECS agent's attribute; hosts are
    /// listed by zone, then instance id.
    #[test]
    fn hosts_are_placed_in_their_zone_and_ordered_by_it() {
        let container = |arn: &str, id: Option<&str>, zone: Option<&str>| ContainerInstanceInfo {
            arn: Some(format!(
                "arn:aws:ecs:eu-west-1:1:container-instance/demo/{arn}"
            )),
            ec2_instance_id: id.map(str::to_string),
            availability_zone: zone.map(str::to_string),
            ..ContainerInstanceInfo::default()
        };
        let containers = [
            container("ci1", Some("i-b"), Some("eu-west-1c")),
            container("ci2", Some("i-a"), Some("eu-west-1a")),
            container("ci3", None, Some("eu-west-1a")),
        ];
        let instances = [InstanceInfo {
            instance_id: Some("i-b".into()),
            availability_zone: Some("eu-west-1b".into()),
            instance_type: Some("t3.small".into()),
            ..InstanceInfo::default()
        }];
        let hosts = host_status(&containers, &instances);
        let shown: Vec<(&str, Option<&str>, Option<&str>)> = hosts
            .iter()
            .map(|host| {
                (
                    host.container_instance.as_str(),
                    host.instance_id.as_deref(),
                    host.availability_zone.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("ci3", None, Some("eu-west-1a")),
                ("ci2", Some("i-a"), Some("eu-west-1a")),
                ("ci1", Some("i-b"), Some("eu-west-1b")),
            ]
        );
        assert_eq!(hosts[2].instance_type.as_deref(), Some("t3.small"));
        assert_eq!(
            hosts_by_container_instance(&containers),
            HashMap::from([
                ("arn:aws:ecs:eu-west-1:1:container-instance/demo/ci1", "i-b"),
                ("arn:aws:ecs:eu-west-1:1:container-instance/demo/ci2", "i-a"),
            ])
        );
    }
}
