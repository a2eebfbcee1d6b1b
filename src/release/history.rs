//! Release records: one SSM String parameter per service,
//! `/stackup/<stack>/releases/<service>`, whose versions are the history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::StackConfig;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub release: String,
    pub service: String,
    pub task_definition: String,
    pub revision: i64,
    pub images: BTreeMap<String, String>,
    pub time: String,
    pub by: String,
    /// completed, started (--no-wait), failed, rolled-back, interrupted.
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

pub fn parameter(stack: &StackConfig, service: &str) -> String {
    format!("{}releases/{service}", stack.parameter_prefix())
}

/// The revision number at the end of a task definition ARN (`family:12`).
pub fn revision_of(task_definition: &str) -> i64 {
    task_definition
        .rsplit(':')
        .next()
        .and_then(|revision| revision.parse().ok())
        .unwrap_or_default()
}

/// Records from SSM versions, oldest first; unreadable values are skipped.
pub fn parse(values: &[(i64, String)]) -> Vec<ReleaseRecord> {
    values
        .iter()
        .filter_map(|(_, value)| serde_json::from_str(value).ok())
        .collect()
}

/// Check `--to` before any call: a revision number, `family:revision` or a
/// task definition ARN all end in a revision number.
pub fn check_target_argument(to: &str) -> Result<(), crate::error::Problem> {
    match to.rsplit(':').next().map(str::parse::<i64>) {
        Some(Ok(revision)) if revision >= 1 => Ok(()),
        _ => Err(crate::error::Problem::new(format!(
            "--to {to} is not a task definition revision"
        ))
        .fix("give a revision number such as --to 3 (or family:3, or the task definition's ARN); without --to, rollback goes back one completed release")),
    }
}

/// The task definition to roll back to: `--to` (a revision number, or
/// `family:revision`, or an ARN), or else the newest completed release with a
/// lower revision than the current one (so repeated rollbacks go further back).
pub fn rollback_target(
    records: &[ReleaseRecord],
    current: &str,
    to: Option<&str>,
) -> Result<String, String> {
    if let Some(to) = to {
        let wanted = to
            .rsplit(':')
            .next()
            .and_then(|revision| revision.parse::<i64>().ok());
        return records
            .iter()
            .rev()
            .find(|record| record.task_definition == to || Some(record.revision) == wanted)
            .map(|record| record.task_definition.clone())
            .ok_or_else(|| {
                format!(
                    "no release of revision {to} in the history; known revisions: {}",
                    known_revisions(records)
                )
            });
    }
    records
        .iter()
        .rev()
        .filter(|record| record.result == "completed" && record.revision < revision_of(current))
        .map(|record| record.task_definition.clone())
        .next()
        .ok_or_else(|| {
            format!(
                "no earlier completed release to roll back to; known revisions: {}",
                known_revisions(records)
            )
        })
}

fn known_revisions(records: &[ReleaseRecord]) -> String {
    let mut revisions: Vec<String> = records
        .iter()
        .map(|record| format!("{} ({})", record.revision, record.result))
        .collect();
    revisions.dedup();
    if revisions.is_empty() {
        "none".into()
    } else {
        revisions.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_must_end_in_a_revision() {
        for good in [
            "3",
            "demo-local-v1-web:3",
            "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:12",
        ] {
            assert!(check_target_argument(good).is_ok(), "{good}");
        }
        for bad in ["latest", "0", "web:", "3.1", ""] {
            assert!(check_target_argument(bad).is_err(), "{bad}");
        }
    }

    fn record(revision: i64, result: &str) -> ReleaseRecord {
        ReleaseRecord {
            release: format!("r{revision}"),
            service: "web".into(),
            task_definition: format!("arn:aws:ecs:eu-west-1:1:task-definition/demo-web:{revision}"),
            revision,
            images: BTreeMap::new(),
            time: String::new(),
            by: String::new(),
            result: result.into(),
            previous: None,
        }
    }

    #[test]
    fn rollback_goes_to_the_last_completed_release_before_the_current_one() {
        let records = vec![
            record(1, "completed"),
            record(2, "completed"),
            record(3, "failed"),
            record(3, "rolled-back"),
        ];
        let current = "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:2";
        assert_eq!(
            rollback_target(&records, current, None).expect("target"),
            records[0].task_definition
        );
        assert_eq!(
            rollback_target(&records, current, Some("3")).expect("target"),
            records[3].task_definition
        );
        assert!(rollback_target(&records, current, Some("9"))
            .expect_err("unknown")
            .contains("1 (completed)"));
        assert!(rollback_target(&[], current, None).is_err());
        assert_eq!(revision_of(current), 2);
    }
}
