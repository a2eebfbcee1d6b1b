//! The stack as AWS sees it now, as one report (`status`). The network and
//! platform stacks with their last events; each service's deployments, last
//! events and whether it is stable; every task with its node name, address,
//! host, zone, health and age; the cluster's EC2 hosts; CPU and memory from
//! CloudWatch. Reads only. The calls that do not depend on each other run at
//! once: `read` holds the reads, `report` the report and its decisions.

mod read;
mod report;

use std::time::SystemTime;

use crate::aws::cloudformation::CloudFormation;
use crate::aws::Aws;
use crate::config::{ServiceConfig, StackConfig};
use crate::ui::Printer;

use read::{METRIC_PERIOD, METRIC_WINDOW};
pub use report::{
    ClusterVerdictLine, DeploymentStatus, HostStatus, HostUsage, MetricValue, Metrics, Report,
    ServiceEventLine, ServiceStatus, ServiceUsage, StackReport, TaskStatus, Usage,
};

/// Read everything `status` shows; with `erlang_clusters`, ask each running
/// node for its cluster too. Stacks not created yet are a failure that names
/// the command to run; metrics that cannot be read are a warning, not one.
pub async fn gather(
    aws: &Aws,
    stack: &StackConfig,
    erlang_clusters: bool,
    printer: &Printer,
) -> anyhow::Result<Report> {
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
            let why = report::missing_stacks(&missing, aws.region(), &stack.name);
            return Err(why
                .unwrap_or_else(|| crate::error::Failure::new("the stacks do not exist"))
                .into());
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
        read::recent_stack_events(&cloudformation, &network.name),
        read::recent_stack_events(&cloudformation, &platform.name),
        read::read_services(&ecs_client, cluster.as_deref(), &services),
        read::read_hosts(
            &ecs_client,
            &ec2_client,
            &cloudwatch_client,
            cluster.as_deref(),
            now
        ),
        read::read_usage(&cloudwatch_client, cluster.as_deref(), &services, now),
    );
    let hosts = hosts?;
    let host_of = report::hosts_by_container_instance(&hosts.container_instances);

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

    let erlang_clusters = match (erlang_clusters, &cluster) {
        (true, Some(_)) => Some(read::cluster_verdicts(aws, stack).await),
        _ => None,
    };
    Ok(Report {
        erlang_clusters,
        stack: stack.name.clone(),
        stack_id: stack.stack_id(),
        region: aws.region().to_string(),
        cluster: cluster.clone(),
        stacks: vec![
            report::stack_report("network", network, network_events?),
            report::stack_report("platform", platform, platform_events?),
        ],
        services: read_services?
            .iter()
            .map(|read| {
                report::service_status(
                    read.config,
                    read.service.as_ref(),
                    &read.tasks,
                    &read.namings,
                    &host_of,
                    now,
                )
            })
            .collect(),
        hosts: report::host_status(&hosts.container_instances, &hosts.instances),
        metrics: Metrics {
            period_seconds: METRIC_PERIOD.as_secs(),
            window_seconds: METRIC_WINDOW.as_secs(),
            error: (!errors.is_empty()).then(|| errors.join("; ")),
            cluster: usage.1,
            services: usage.0,
            hosts: host_usage,
        },
    })
}

#[cfg(test)]
pub use report::sample_report;
