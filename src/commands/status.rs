//! `status <STACK>`: the stack as AWS sees it now (`ops::status`), as text
//! tables or one JSON document. Reads only.

use super::Context;
use crate::aws::Aws;
use crate::cli::StatusArgs;
use crate::ops::status::{self, MetricValue, Report, ServiceStatus};
use crate::ui::table;
use crate::validation;

pub async fn run(context: &Context, args: &StatusArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let report = status::gather(&aws, &stack, args.cluster, printer).await?;
    if printer.is_json() {
        printer.json(&report)
    } else {
        printer.data(&render_text(&report))
    }
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
    use crate::ops::status::sample_report;

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

    /// Every part of the text, from a report with every part filled in.
    #[test]
    fn the_whole_report_reads_as_tables() {
        let expected = "\
demo-prod-v1 (demo) in eu-west-1, cluster demo-prod-v1; times in UTC

Stacks
  demo-prod-v1-network  CREATE_COMPLETE
    2026-11-21 22:59:06  demo-prod-v1-network  AWS::CloudFormation::Stack  CREATE_COMPLETE
  demo-prod-v1-platform  UPDATE_ROLLBACK_COMPLETE  (Export in use)
    2026-11-21 22:59:06  Cluster                AWS::CloudFormation::Stack  UPDATE_FAILED: Resource handler returned
    2026-11-21 22:59:06  demo-prod-v1-platform  AWS::CloudFormation::Stack  UPDATE_ROLLBACK_COMPLETE

Services
  web: NOT STABLE (2 deployments), revision 8, running 1 of 2, 1 pending
    deployments
      PRIMARY  revision 8  FAILED (tasks failed to start)  desired 2  running 0  pending 1  failed 3
      ACTIVE   revision 7  -                               desired 2  running 1  pending 0  failed 0
    tasks
      NODE                  IP         HOST    ZONE        HEALTH   STATUS   AGE
      web@10.20.1.5         10.20.1.5  i-0123  eu-west-1a  HEALTHY  RUNNING  3h05m
      def (no address yet)  -          -       -           -        PENDING  -
    events
      2026-11-21 22:01:00  (service web) has started 1 tasks
      -                    no time
  worker: not deployed; `stackup deploy-release demo` creates it

Erlang clusters
  web: whole: 2 nodes

Hosts
  INSTANCE  ZONE        TYPE      STATE    ECS                     TASKS  LAUNCHED
  i-0123    eu-west-1a  t3.small  running  ACTIVE                  1      2026-11-20 10:00:00
  -         -           -         -        - (agent disconnected)  0      -

Metrics (average per 60s, newest in the last 15 minutes)
  could not be read: AccessDenied
  cluster demo-prod-v1  CPU 12.2% at 22:29:00  memory unknown
  service web           CPU 42.5% at 22:29:00  memory 7.0% at 22:29:00
  service worker        CPU unknown            memory unknown
  host i-0123           CPU 3.0% at 22:29:00
";
        assert_eq!(render_text(&sample_report()), expected);
    }

    /// Without a cluster yet: services and hosts say why they are unknown,
    /// metrics that were read show "no data" rather than "unknown".
    #[test]
    fn a_report_without_a_cluster_says_so() {
        let mut report = sample_report();
        report.cluster = None;
        report.erlang_clusters = None;
        report.hosts.clear();
        report.metrics.error = None;
        let text = render_text(&report);
        assert!(
            text.starts_with("demo-prod-v1 (demo) in eu-west-1, cluster unknown; times in UTC\n")
        );
        assert!(text.contains(
            "\nServices\n  unknown until the platform stack has a ClusterName output\n  web: "
        ));
        assert!(!text.contains("Erlang clusters"));
        assert!(text
            .contains("\nHosts\n  no EC2 container instance is registered in cluster unknown\n"));
        assert!(text.ends_with(
            "Metrics (average per 60s, newest in the last 15 minutes)\n\
             \x20 service web     CPU 42.5% at 22:29:00  memory 7.0% at 22:29:00\n\
             \x20 service worker  CPU no data            memory no data\n\
             \x20 host i-0123     CPU 3.0% at 22:29:00\n"
        ));
    }
}
