//! Is a service's Erlang cluster whole? Decided from what each running task's
//! node said it is connected to (`stackup cluster`, `status --cluster`).
//!
//! Erlang distribution connects nodes transitively (a node that connects to a
//! member of a cluster connects to all of them), so the nodes a task is
//! connected to are the cluster as that node sees it. The verdict: **whole**
//! when every running task's node answered and all of them are one group;
//! **split** when they answered but form several groups (each group's nodes
//! are connected among themselves, not to the others); **nodes missing** when
//! a task's node did not answer (or answered under another name than the
//! naming rule gives it, see ARCHITECTURE.md "How is a task's node named?").
//! Nodes outside the service's running tasks (an old release's, a console's
//! hidden node) do not count.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// What one task's node said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAnswer {
    pub task: String,
    /// The name the naming rule gives the task's node.
    pub node: String,
    /// `Ok(connected nodes)`, or why the node could not be asked.
    pub connected: Result<Vec<String>, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// One group holding every running task's node.
    Whole,
    /// Every node answered; they form these groups (sorted).
    Split { groups: Vec<Vec<String>> },
    /// These nodes did not answer; the ones that did form `groups`.
    Missing {
        missing: Vec<String>,
        groups: Vec<Vec<String>>,
    },
}

impl Verdict {
    pub fn is_whole(&self) -> bool {
        matches!(self, Verdict::Whole)
    }

    /// One line, for `cluster` and `status`.
    pub fn line(&self, nodes: usize) -> String {
        let groups_text = |groups: &[Vec<String>]| {
            groups
                .iter()
                .map(|group| format!("[{}]", group.join(", ")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Verdict::Whole if nodes == 1 => "whole (1 node)".to_string(),
            Verdict::Whole => format!("whole ({nodes} nodes, all connected)"),
            Verdict::Split { groups } => {
                format!(
                    "split into {} groups: {}",
                    groups.len(),
                    groups_text(groups)
                )
            }
            Verdict::Missing { missing, .. } if missing.is_empty() => "no running node".to_string(),
            Verdict::Missing { missing, groups } if groups.is_empty() => {
                format!("nodes missing: {} (no node answered)", missing.join(", "))
            }
            Verdict::Missing { missing, groups } => format!(
                "nodes missing: {}; the others form {}",
                missing.join(", "),
                groups_text(groups)
            ),
        }
    }
}

/// The verdict on these answers (one per running task). No task at all is
/// "missing" nothing and no group: not whole, said as no node.
pub fn verdict(answers: &[NodeAnswer]) -> Verdict {
    let expected: BTreeSet<&str> = answers.iter().map(|answer| answer.node.as_str()).collect();
    let missing: Vec<String> = answers
        .iter()
        .filter(|answer| answer.connected.is_err())
        .map(|answer| answer.node.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let answered: BTreeSet<&str> = answers
        .iter()
        .filter(|answer| answer.connected.is_ok())
        .map(|answer| answer.node.as_str())
        .collect();
    // Undirected edges between answering nodes of the service: a connection
    // seen from either side counts (one side may have answered a moment
    // before the other connected).
    let mut neighbours: BTreeMap<&str, BTreeSet<&str>> = answered
        .iter()
        .map(|node| (*node, BTreeSet::new()))
        .collect();
    for answer in answers {
        let Ok(connected) = &answer.connected else {
            continue;
        };
        for peer in connected {
            let peer = peer.as_str();
            if peer == answer.node || !answered.contains(peer) || !expected.contains(peer) {
                continue;
            }
            neighbours.entry(&answer.node).or_default().insert(peer);
            neighbours.entry(peer).or_default().insert(&answer.node);
        }
    }
    let groups = components(&neighbours);
    if answers.is_empty() {
        return Verdict::Missing {
            missing: Vec::new(),
            groups: Vec::new(),
        };
    }
    match (missing.is_empty(), groups.len()) {
        (true, 1) => Verdict::Whole,
        (true, _) => Verdict::Split { groups },
        (false, _) => Verdict::Missing { missing, groups },
    }
}

/// Connected components, each sorted, in order of their first node.
fn components(neighbours: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut groups = Vec::new();
    for start in neighbours.keys() {
        if !seen.insert(*start) {
            continue;
        }
        let mut group = vec![start.to_string()];
        let mut stack = vec![*start];
        while let Some(node) = stack.pop() {
            for peer in neighbours.get(node).into_iter().flatten() {
                if seen.insert(*peer) {
                    group.push(peer.to_string());
                    stack.push(peer);
                }
            }
        }
        group.sort();
        groups.push(group);
    }
    groups
}

/// The node list `cluster` asks each node for, in Elixir: the node's own
/// name, then the nodes it is connected to, as strings. `console --eval`
/// prints it with IO.inspect: `["web@10.0.1.5", "web@10.0.1.6"]`.
pub const NODES_EXPRESSION: &str = "Enum.map([node() | Node.list()], &Atom.to_string/1)";

/// The node's answer to [`NODES_EXPRESSION`]: its own name and the nodes it
/// is connected to. The last bracketed list of the output is read (a release
/// may log lines before it); IO.inspect may break it over lines.
pub fn parse_nodes(output: &str) -> Result<(String, Vec<String>), String> {
    let end = output
        .rfind(']')
        .ok_or_else(|| format!("no node list in its answer: {}", first_line(output)))?;
    let start = output[..end]
        .rfind('[')
        .ok_or_else(|| format!("no node list in its answer: {}", first_line(output)))?;
    let names: Vec<String> = serde_json::from_str(&output[start..=end]).map_err(|_| {
        format!(
            "cannot read its node list: {}",
            first_line(&output[start..])
        )
    })?;
    let mut names = names.into_iter();
    let own = names
        .next()
        .ok_or_else(|| "its node list is empty (not even its own name)".to_string())?;
    Ok((own, names.collect()))
}

fn first_line(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("(nothing)");
    line.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(node: &str, connected: &[&str]) -> NodeAnswer {
        NodeAnswer {
            task: format!("task-{node}"),
            node: node.to_string(),
            connected: Ok(connected.iter().map(|name| name.to_string()).collect()),
        }
    }

    fn silent(node: &str) -> NodeAnswer {
        NodeAnswer {
            task: format!("task-{node}"),
            node: node.to_string(),
            connected: Err("connection refused".into()),
        }
    }

    #[test]
    fn all_nodes_connected_is_whole() {
        let answers = [
            answer("a", &["b", "c"]),
            answer("b", &["a", "c"]),
            answer("c", &["a", "b"]),
        ];
        assert_eq!(verdict(&answers), Verdict::Whole);
        assert_eq!(verdict(&answers).line(3), "whole (3 nodes, all connected)");
        // One node alone is a whole cluster of one.
        assert_eq!(verdict(&[answer("a", &[])]), Verdict::Whole);
    }

    #[test]
    fn a_connection_seen_from_one_side_joins_and_outsiders_do_not_count() {
        // b answered before a's connection reached it; a hidden console
        // node and an old release's node are not tasks of the service.
        let answers = [
            answer("a", &["b", "console@127.0.0.1", "old@10.0.0.9"]),
            answer("b", &[]),
        ];
        assert_eq!(verdict(&answers), Verdict::Whole);
    }

    #[test]
    fn groups_that_do_not_see_each_other_are_a_split() {
        let answers = [
            answer("d", &["c"]),
            answer("a", &["b"]),
            answer("b", &["a"]),
            answer("c", &["d"]),
            answer("e", &[]),
        ];
        let expected = Verdict::Split {
            groups: vec![
                vec!["a".to_string(), "b".to_string()],
                vec!["c".to_string(), "d".to_string()],
                vec!["e".to_string()],
            ],
        };
        assert_eq!(verdict(&answers), expected);
        assert_eq!(expected.line(5), "split into 3 groups: [a, b] [c, d] [e]");
        assert!(!expected.is_whole());
    }

    #[test]
    fn a_node_that_does_not_answer_is_missing_even_when_the_others_name_it() {
        let answers = [
            answer("a", &["b", "c"]),
            answer("b", &["a", "c"]),
            silent("c"),
        ];
        let found = verdict(&answers);
        assert_eq!(
            found,
            Verdict::Missing {
                missing: vec!["c".to_string()],
                groups: vec![vec!["a".to_string(), "b".to_string()]],
            }
        );
        assert_eq!(found.line(3), "nodes missing: c; the others form [a, b]");
        assert_eq!(
            verdict(&[silent("a")]).line(1),
            "nodes missing: a (no node answered)"
        );
        assert!(!verdict(&[]).is_whole(), "no running task is no cluster");
        assert_eq!(verdict(&[]).line(0), "no running node");
    }

    #[test]
    fn the_node_list_is_read_from_the_inspected_answer() {
        assert_eq!(
            parse_nodes("[\"web@10.0.1.5\", \"web@10.0.1.6\"]\n"),
            Ok(("web@10.0.1.5".to_string(), vec!["web@10.0.1.6".to_string()]))
        );
        // Lines logged first, and IO.inspect's line breaks.
        assert_eq!(
            parse_nodes("12:00:01 [info] booted\n[\"a@x\",\n \"b@y\",\n \"c@z\"]\n"),
            Ok((
                "a@x".to_string(),
                vec!["b@y".to_string(), "c@z".to_string()]
            ))
        );
        assert_eq!(parse_nodes("[\"a@x\"]"), Ok(("a@x".to_string(), vec![])));
        assert!(parse_nodes("** (RuntimeError) boom").is_err());
        assert!(parse_nodes("[]").is_err());
        assert!(parse_nodes("[:a, :b]").is_err());
    }
}
