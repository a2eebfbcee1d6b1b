//! Reaching a running task's node the way `console` does: over two SSH hops,
//! to the bastion and through it to the task's EC2 host, where a command of
//! the service (`console_command`, `eval_command`) runs with `{container}`,
//! `{node}`, `{app}`, `{tty}` and `{expr}` filled in. Used by `console`,
//! `cluster` and `status --cluster`.

use aws_sdk_ecs::types::Task;
use russh::ChannelMsg;

use crate::aws::{ec2, ecs, Aws};
use crate::config::{ServiceConfig, StackConfig};
use crate::db::ssh::{SshSession, SshTarget};
use crate::error::{InputError, Problem};
use crate::ops::node_names::Naming;
use crate::release::node_name::{task_id, task_node_name};

/// One running task's node, and where its console commands run.
#[derive(Clone, Debug)]
pub struct NodeTarget {
    pub task_arn: String,
    /// The node's name, by the naming of the revision the task runs.
    pub node: String,
    /// The container's runtime id (`docker exec` takes it).
    pub container: String,
    /// The task's host, reached through the bastion.
    pub host: SshTarget,
}

impl NodeTarget {
    pub fn task_id(&self) -> &str {
        task_id(&self.task_arn)
    }

    /// `template` with this node's placeholders filled in; `expression` is
    /// put in as given (see [`eval_expression`]).
    pub fn command(
        &self,
        template: &str,
        app: &str,
        interactive: bool,
        expression: &str,
    ) -> String {
        template
            .replace("{container}", &self.container)
            .replace("{node}", &self.node)
            .replace("{app}", app)
            .replace("{tty}", if interactive { "-it" } else { "-i" })
            .replace("{expr}", expression)
    }
}

/// `expression` as `eval_command`'s `{expr}`: wrapped in IO.inspect on lines
/// of its own (a trailing `# comment` cannot eat the parentheses), as one
/// word of a POSIX shell command line (the host runs the command with the
/// login shell).
pub fn eval_expression(expression: &str) -> Result<String, InputError> {
    shlex::try_quote(&format!("IO.inspect((\n{expression}\n))"))
        .map(|quoted| quoted.into_owned())
        .map_err(|_| {
            InputError::one(
                Problem::new("--eval: the expression holds a NUL character").fix("remove it"),
            )
        })
}

/// The container of the task that runs the release: the one named like the
/// service, else the first with a runtime id.
fn release_container(task: &Task, service: &ServiceConfig) -> String {
    task.containers()
        .iter()
        .find(|container| container.name() == Some(service.name.as_str()))
        .or_else(|| {
            task.containers()
                .iter()
                .find(|container| container.runtime_id().is_some())
        })
        .and_then(|container| container.runtime_id())
        .unwrap_or_default()
        .to_string()
}

/// Where `task`'s node is and what it is called. The host is `[local] hosts`
/// when set, else the private IP of the task's container instance.
pub async fn target(
    aws: &Aws,
    stack: &StackConfig,
    cluster: &str,
    bastion: &SshTarget,
    service: &ServiceConfig,
    naming: &Naming,
    task: &Task,
) -> anyhow::Result<NodeTarget> {
    let task_arn = task.task_arn().unwrap_or_default().to_string();
    let node = task_node_name(naming.mode, &naming.basename, task).unwrap_or_default();
    let (host, port) = match stack.local.as_ref().and_then(|local| local.hosts.clone()) {
        Some(address) => (address.host, address.port),
        None => {
            let instance_arn = task.container_instance_arn().ok_or_else(|| {
                anyhow::anyhow!("task {} runs on no EC2 container instance (Fargate?): there is no host to reach", task_id(&task_arn))
            })?;
            let instance = ecs::container_instance_ec2_id(&aws.ecs(), cluster, instance_arn)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the container instance of task {} has no EC2 instance",
                        task_id(&task_arn)
                    )
                })?;
            let address = ec2::private_ip(&aws.ec2(), &instance)
                .await?
                .ok_or_else(|| anyhow::anyhow!("instance {instance} has no private IP"))?;
            (address, 22)
        }
    };
    Ok(NodeTarget {
        container: release_container(task, service),
        node,
        host: SshTarget {
            host,
            port,
            ..bastion.clone()
        },
        task_arn,
    })
}

/// What a command printed and how it ended.
#[derive(Clone, Debug)]
pub struct Captured {
    pub status: u32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `command` on the target's host (through `bastion`), without a
/// terminal and with no input, and collect what it prints.
pub async fn run_captured(
    bastion: &SshSession,
    target: &NodeTarget,
    command: &str,
) -> anyhow::Result<Captured> {
    let host = bastion.connect_through(&target.host).await?;
    let result = collect(&host, command).await;
    host.close().await;
    result
}

async fn collect(session: &SshSession, command: &str) -> anyhow::Result<Captured> {
    let mut channel = session.exec(command, None).await?;
    channel.eof().await?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut status = None;
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                tracing::debug!(?signal_name, "the remote command was killed by a signal");
                status = Some(255);
            }
            ChannelMsg::Failure => anyhow::bail!("the host refused to run the command"),
            _ => {}
        }
    }
    Ok(Captured {
        status: status.ok_or_else(|| {
            anyhow::anyhow!("the connection to the host ended without the command's exit status")
        })?,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}
