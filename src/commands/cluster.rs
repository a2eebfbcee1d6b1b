//! `cluster <STACK> [--service NAME]`: every running task's node, the nodes
//! it is connected to, and each service's verdict (whole, split, nodes
//! missing); exit 1 unless every one is whole.

use serde::Serialize;

use super::Context;
use crate::cli::ClusterArgs;
use crate::error::Failure;
use crate::ops::cluster::{survey, NodeReport, ServiceCluster};
use crate::ui::table;
use crate::{ops, validation};

/// `--output json`.
#[derive(Serialize)]
struct Report<'a> {
    nodes: Vec<&'a NodeReport>,
    whole: bool,
    services: &'a [ServiceCluster],
}

pub async fn run(context: &Context, args: &ClusterArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let services = ops::select_services(&stack, &args.service)?;
    let aws = crate::aws::Aws::load(&context.aws, Some(&stack)).await?;
    let (outputs, _) = ops::stack_outputs::stack_outputs(&stack, &aws).await?;
    let clusters = survey(&aws, &stack, &outputs, &services).await?;
    let whole = clusters.iter().all(|cluster| cluster.verdict.is_whole());

    if printer.is_json() {
        printer.json(&Report {
            nodes: clusters.iter().flat_map(|cluster| &cluster.nodes).collect(),
            whole,
            services: &clusters,
        })?;
    } else {
        printer.data(&render_text(&clusters))?;
    }
    if whole {
        return Ok(());
    }
    let not_whole: Vec<String> = clusters
        .iter()
        .filter(|cluster| !cluster.verdict.is_whole())
        .map(|cluster| {
            format!(
                "{}: {}",
                cluster.service,
                cluster.verdict.line(cluster.nodes.len())
            )
        })
        .collect();
    Err(Failure::new(format!(
        "the cluster is not whole ({})",
        not_whole.join("; ")
    ))
    .hint(format!(
        "see what the nodes said with `stackup logs {} --since 10m`",
        stack.name
    ))
    .into())
}

fn render_text(clusters: &[ServiceCluster]) -> String {
    let mut text = String::new();
    for cluster in clusters {
        text.push_str(&format!(
            "{}: {}\n",
            cluster.service,
            cluster.verdict.line(cluster.nodes.len())
        ));
        if cluster.nodes.is_empty() {
            continue;
        }
        let mut rows = vec![["TASK", "NODE", "CONNECTED TO"].map(String::from).to_vec()];
        rows.extend(cluster.nodes.iter().map(|node| {
            let connected = match &node.error {
                Some(error) => format!("(did not answer: {error})"),
                None if node.connected.is_empty() => "(none)".to_string(),
                None => node.connected.join(", "),
            };
            vec![node.task.clone(), node.node.clone(), connected]
        }));
        text.push_str(&table(&rows, "  "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::cluster_verdict::Verdict;

    fn node(task: &str, name: &str, connected: &[&str], error: Option<&str>) -> NodeReport {
        NodeReport {
            service: "web".into(),
            task: task.into(),
            node: name.into(),
            connected: connected.iter().map(|node| node.to_string()).collect(),
            error: error.map(str::to_string),
        }
    }

    /// The text as `cluster` has always printed it: a verdict line, then the
    /// nodes in columns as wide as their widest cell, no line padded.
    #[test]
    fn text_lists_each_service_verdict_then_its_nodes_in_columns() {
        let clusters = [
            ServiceCluster {
                service: "web".into(),
                nodes: vec![
                    node("0a1b", "web@10.0.1.5", &["web@10.0.2.17"], None),
                    node("ffee99", "web@10.0.2.17", &[], Some("timed out")),
                    node("c3", "web@10.0.3.4", &[], None),
                ],
                verdict: Verdict::Missing {
                    missing: vec!["web@10.0.2.17".into()],
                    groups: vec![vec!["web@10.0.1.5".into()], vec!["web@10.0.3.4".into()]],
                },
            },
            ServiceCluster {
                service: "worker".into(),
                nodes: Vec::new(),
                verdict: Verdict::Missing {
                    missing: Vec::new(),
                    groups: Vec::new(),
                },
            },
        ];
        assert_eq!(
            render_text(&clusters),
            "web: nodes missing: web@10.0.2.17; the others form [web@10.0.1.5] [web@10.0.3.4]\n\
             \x20 TASK    NODE           CONNECTED TO\n\
             \x20 0a1b    web@10.0.1.5   web@10.0.2.17\n\
             \x20 ffee99  web@10.0.2.17  (did not answer: timed out)\n\
             \x20 c3      web@10.0.3.4   (none)\n\
             worker: no running node\n"
        );
    }
}
