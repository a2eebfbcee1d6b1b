//! Asking every running node of a service which nodes it is connected to, all
//! at once, the way `console --eval` reaches a node (`ops::node_shell`: the
//! service's `eval_command` on the task's host, through one bastion session),
//! and the verdict on the answers (`release::cluster_verdict`).

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{DesiredStatus, Task};
use futures_util::future::join_all;
use serde::Serialize;

use crate::aws::{ecs, Aws};
use crate::config::{ServiceConfig, StackConfig};
use crate::db::route::Route;
use crate::db::ssh::SshSession;
use crate::ops::node_names::{self, Naming};
use crate::ops::node_shell;
use crate::release::cluster_verdict::{self, NodeAnswer, Verdict, NODES_EXPRESSION};
use crate::release::node_name::task_id;

/// One running task's node, as `cluster --output json` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub service: String,
    pub task: String,
    pub node: String,
    /// The nodes it said it is connected to (empty when it did not answer).
    pub connected: Vec<String>,
    /// Why it could not be asked, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One service's cluster.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceCluster {
    pub service: String,
    pub nodes: Vec<NodeReport>,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Ask every running task of `services` for its connections.
pub async fn survey(
    aws: &Aws,
    stack: &StackConfig,
    outputs: &BTreeMap<String, String>,
    services: &[ServiceConfig],
) -> anyhow::Result<Vec<ServiceCluster>> {
    let cluster = outputs
        .get("ClusterName")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the platform stack has no ClusterName output"))?;
    let ecs_client = aws.ecs();
    let task_lists = join_all(services.iter().map(|service| {
        ecs::service_tasks(&ecs_client, &cluster, &service.name, DesiredStatus::Running)
    }))
    .await;
    let mut work = Vec::new();
    for (service, tasks) in services.iter().zip(task_lists) {
        let tasks = tasks?;
        let namings = node_names::namings(
            &ecs_client,
            service,
            tasks.iter().filter_map(Task::task_definition_arn),
        )
        .await;
        work.push((service, tasks, namings));
    }
    if work.iter().all(|(_, tasks, _)| tasks.is_empty()) {
        return Ok(work
            .into_iter()
            .map(|(service, _, _)| ServiceCluster {
                service: service.name.clone(),
                nodes: Vec::new(),
                verdict: cluster_verdict::verdict(&[]),
            })
            .collect());
    }
    let route = Route::resolve(stack, outputs)?;
    let bastion = SshSession::connect(&route.ssh).await?;
    let expression = node_shell::eval_expression(NODES_EXPRESSION)?;
    let mut clusters = Vec::new();
    for (service, tasks, namings) in &work {
        let asks = tasks.iter().map(|task| {
            let naming = task
                .task_definition_arn()
                .and_then(|arn| namings.get(arn))
                .cloned()
                .unwrap_or_else(|| Naming::of_service(service));
            ask(
                aws,
                stack,
                &cluster,
                &bastion,
                &route,
                service,
                naming,
                task,
                &expression,
            )
        });
        let answers = join_all(asks).await;
        let verdict = cluster_verdict::verdict(&answers);
        clusters.push(ServiceCluster {
            service: service.name.clone(),
            nodes: answers
                .into_iter()
                .map(|answer| NodeReport {
                    service: service.name.clone(),
                    task: answer.task,
                    node: answer.node,
                    error: answer.connected.as_ref().err().cloned(),
                    connected: answer.connected.unwrap_or_default(),
                })
                .collect(),
            verdict,
        });
    }
    bastion.close().await;
    Ok(clusters)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one node's question needs the stack, its route and the node's naming"
)]
async fn ask(
    aws: &Aws,
    stack: &StackConfig,
    cluster: &str,
    bastion: &SshSession,
    route: &Route,
    service: &ServiceConfig,
    naming: Naming,
    task: &Task,
    expression: &str,
) -> NodeAnswer {
    let task_arn = task.task_arn().unwrap_or_default();
    let expected = crate::release::node_name::task_node_name(naming.mode, &naming.basename, task);
    let mut answer = NodeAnswer {
        task: task_id(task_arn).to_string(),
        node: expected
            .clone()
            .unwrap_or_else(|| format!("(task {}, no address yet)", task_id(task_arn))),
        connected: Err(String::new()),
    };
    if expected.is_none() {
        answer.connected = Err("the task has no address yet".into());
        return answer;
    }
    answer.connected = async {
        let target = node_shell::target(aws, stack, cluster, &route.ssh, service, &naming, task)
            .await
            .map_err(|error| format!("{error:#}"))?;
        let command = target.command(&service.eval_command, &stack.app, false, expression);
        let captured = node_shell::run_captured(bastion, &target, &command)
            .await
            .map_err(|error| format!("{error:#}"))?;
        if captured.status != 0 {
            let said = [captured.stderr.trim(), captured.stdout.trim()]
                .into_iter()
                .find(|text| !text.is_empty())
                .and_then(|text| text.lines().last())
                .unwrap_or("nothing")
                .chars()
                .take(160)
                .collect::<String>();
            return Err(format!(
                "eval_command exited with status {}: {said}",
                captured.status
            ));
        }
        let (own, connected) = cluster_verdict::parse_nodes(&captured.stdout)?;
        if own != target.node {
            return Err(format!(
                "the node there is {own}, not {}: its naming differs from the revision's",
                target.node
            ));
        }
        Ok(connected)
    }
    .await;
    answer
}
