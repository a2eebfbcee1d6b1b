//! `cluster <STACK> [--service NAME]`: every running task's node, the nodes
//! it is connected to, and each service's verdict (whole, split, nodes
//! missing); exit 1 unless every one is whole.

use serde::Serialize;

use super::Context;
use crate::cli::ClusterArgs;
use crate::ops::cluster::{survey, NodeReport, ServiceCluster};
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
    anyhow::bail!(
        "the cluster is not whole ({}); `stackup logs {} --since 10m` shows what the nodes said",
        not_whole.join("; "),
        stack.name
    )
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

/// Rows in columns padded to their widest cell.
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(index) {
                Some(widest) => *widest = (*widest).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut text = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[index]));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}
