//! Release records: one SSM String parameter per service,
//! `/stackup/<stack>/releases/<service>`, whose versions are the history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub release: String,
    pub service: String,
    pub task_definition: String,
    pub revision: i64,
    pub images: BTreeMap<String, String>,
    pub time: String,
    pub by: String,
    pub result: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The platform stack (its CloudFormation id) the release ran on. A stack
    /// deleted and created again keeps its name, its parameters and its task
    /// definition families, but not its id: records of the deleted one are
    /// not this stack's history (see [`Life`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// The platform stack a history belongs to: its id and when it was created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Life {
    pub stack_id: String,
    pub created: Option<std::time::SystemTime>,
}

impl Life {
    /// Whether `record` was written for this stack: it names this stack's id,
    /// or (a record from before records named one) it was written after the
    /// stack was created.
    pub fn holds(&self, record: &ReleaseRecord) -> bool {
        match (&record.stack, self.created) {
            (Some(stack), _) => *stack == self.stack_id,
            (None, None) => true,
            (None, Some(created)) => crate::rfc3339::parse(&record.time).is_some_and(|time| {
                // Records carry whole seconds.
                let created = created
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|since| since.as_secs())
                    .unwrap_or_default();
                u64::try_from(time.as_second()).is_ok_and(|since| since >= created)
            }),
        }
    }

    /// This stack's records, and those of the stacks of the same name
    /// deleted before it, each oldest first.
    pub fn split(&self, records: Vec<ReleaseRecord>) -> (Vec<ReleaseRecord>, Vec<ReleaseRecord>) {
        records.into_iter().partition(|record| self.holds(record))
    }
}

/// The time a record is written, as records carry it (RFC 3339, seconds).
pub fn record_time() -> String {
    crate::rfc3339::seconds(std::time::SystemTime::now())
}

/// A release's images as said to a person: `web=demo:1.4.2, worker=...`.
pub fn images_text(images: &BTreeMap<String, String>) -> String {
    images
        .iter()
        .map(|(container, image)| format!("{container}={image}"))
        .collect::<Vec<_>>()
        .join(", ")
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
        .fix("give a revision number such as --to 3 (or family:3, or the task definition's ARN); without --to, rollback goes back one release")),
    }
}

/// How a release ended for one service: in its record (the history) and in
/// deploy-release's and rollback's reports. Written as its kebab-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The rollout is under way: recorded before a wait, or with --no-wait.
    Started,
    Completed,
    /// The service already ran this release (reports only).
    Unchanged,
    Failed,
    /// Failed, and the service went back to the revision before.
    RolledBack,
    TimedOut,
    /// Ctrl-C (or SIGTERM, SIGHUP) while waiting: ECS carries on.
    Interrupted,
    /// Written by a later stackup, read by this one.
    #[serde(other)]
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Started => "started",
            Outcome::Completed => "completed",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled-back",
            Outcome::TimedOut => "timed-out",
            Outcome::Interrupted => "interrupted",
            Outcome::Unknown => "unknown",
        }
    }

    /// A release whose rollout was not followed to its end.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Outcome::Started | Outcome::Interrupted)
    }

    /// A release that did not roll out.
    pub fn is_known_bad(self) -> bool {
        matches!(
            self,
            Outcome::Failed | Outcome::RolledBack | Outcome::TimedOut
        )
    }

    /// The run ends in failure when a service ends so.
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            Outcome::Completed | Outcome::Started | Outcome::Unchanged | Outcome::Interrupted
        )
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The family of a task definition ARN or `family:revision`.
pub fn family_of(task_definition: &str) -> &str {
    let name = task_definition
        .rsplit('/')
        .next()
        .unwrap_or(task_definition);
    name.rsplit_once(':').map_or(name, |(family, _)| family)
}

/// Why there is no release to roll back to.
#[derive(Debug, PartialEq, Eq)]
pub enum NoTarget {
    /// `--to` names nothing this service ran: bad input.
    Unknown(String),
    /// The history holds nothing to go back to.
    Nothing(String),
}

/// The release to roll back to: `--to` (a revision number, or
/// `family:revision`, or an ARN, of the service's own family), or else the
/// newest release with a lower revision than the current one that is not
/// known to have failed (so repeated rollbacks go further back); a release
/// whose rollout was not followed (`--no-wait`) counts.
pub fn rollback_target<'r>(
    records: &'r [ReleaseRecord],
    current: &str,
    to: Option<&str>,
) -> Result<&'r ReleaseRecord, NoTarget> {
    if let Some(to) = to {
        // arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>
        // (partition, region, account) of an ARN
        let place = |arn: &str| {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            (parts.len() == 6 && parts[0] == "arn").then(|| {
                (
                    parts[1].to_string(),
                    parts[3].to_string(),
                    parts[4].to_string(),
                )
            })
        };
        if let (Some((partition, region, account)), Some(own)) = (place(to), place(current)) {
            let (_, own_region, own_account) = &own;
            if (&partition, &region, &account) != (&own.0, own_region, own_account) {
                return Err(NoTarget::Unknown(format!(
                    "--to {to} is a task definition of account {account} in {region}, but the service runs in account {own_account} in {own_region}"
                )));
            }
        }
        if to.contains(':') && family_of(to) != family_of(current) {
            return Err(NoTarget::Unknown(format!(
                "--to {to} is a revision of task definition family {}, but the service runs family {}",
                family_of(to),
                family_of(current)
            )));
        }
        return records
            .iter()
            .rev()
            .find(|record| same_revision(record, to, current))
            .ok_or_else(|| {
                NoTarget::Unknown(format!(
                    "no release of revision {to} in the history; known revisions: {}",
                    known_revisions(records)
                ))
            });
    }
    // A release's newest record is its result: "started" before a wait, then
    // what the wait saw (or what a later run found). A release not followed to
    // its end counts unless the release after it replaced another revision
    // (its `previous`): then it did not stick (ECS's circuit breaker rolled
    // it back, say).
    let releases = decisive(records);
    let stuck = |index: usize| {
        let record = releases[index];
        !record.result.is_unfinished()
            || releases
                .get(index + 1)
                .and_then(|next| next.previous.as_ref())
                .is_none_or(|replaced| *replaced == record.task_definition)
    };
    (0..releases.len())
        .rev()
        .filter(|index| stuck(*index))
        .map(|index| releases[index])
        .find(|record| {
            !record.result.is_known_bad()
                && record.revision < revision_of(current)
                && family_of(&record.task_definition) == family_of(current)
        })
        .ok_or_else(|| {
            NoTarget::Nothing(format!(
                "no earlier release that rolled out to roll back to; known revisions: {}",
                known_revisions(records)
            ))
        })
}

/// Whether `record` is of revision `to` (a number, `family:revision` or an
/// ARN) of the family that runs as `current`.
pub fn same_revision(record: &ReleaseRecord, to: &str, current: &str) -> bool {
    let wanted = to
        .rsplit(':')
        .next()
        .and_then(|revision| revision.parse::<i64>().ok());
    family_of(&record.task_definition) == family_of(current)
        && (record.task_definition == to || Some(record.revision) == wanted)
}

/// Each release's newest record (its result), oldest release first.
fn decisive(records: &[ReleaseRecord]) -> Vec<&ReleaseRecord> {
    let mut decided = std::collections::HashSet::new();
    let mut newest: Vec<&ReleaseRecord> = records
        .iter()
        .rev()
        .filter(|record| decided.insert((&record.release, &record.task_definition)))
        .collect();
    newest.reverse();
    newest
}

pub fn known_revisions(records: &[ReleaseRecord]) -> String {
    // Each revision once, in order, with the results its releases had.
    let mut results: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for record in decisive(records) {
        let seen = results.entry(record.revision).or_default();
        if !seen.contains(&record.result.as_str()) {
            seen.push(record.result.as_str());
        }
    }
    let revisions: Vec<String> = results
        .into_iter()
        .map(|(revision, results)| format!("{revision} ({})", results.join(", ")))
        .collect();
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
            result: serde_json::from_value(serde_json::json!(result)).expect("an outcome"),
            previous: None,
            stack: None,
        }
    }

    #[test]
    fn outcomes_are_written_as_before() {
        for outcome in [
            Outcome::Started,
            Outcome::Completed,
            Outcome::Unchanged,
            Outcome::Failed,
            Outcome::RolledBack,
            Outcome::TimedOut,
            Outcome::Interrupted,
        ] {
            let written = serde_json::to_value(outcome).expect("serialises");
            assert_eq!(written, serde_json::json!(outcome.as_str()));
            assert_eq!(
                serde_json::from_value::<Outcome>(written).ok(),
                Some(outcome)
            );
        }
        assert_eq!(
            serde_json::from_value::<Outcome>(serde_json::json!("paused")).ok(),
            Some(Outcome::Unknown),
            "a result a later version writes is read"
        );
    }

    #[test]
    fn a_history_starts_with_the_stack_it_belongs_to() {
        let created = humantime::parse_rfc3339("2026-12-07T10:00:00.400Z").expect("time");
        let life = Life {
            stack_id: "arn:aws:cloudformation:eu-west-1:1:stack/demo-platform/new".into(),
            created: Some(created),
        };
        let at = |time: &str, stack: Option<&str>| ReleaseRecord {
            time: time.into(),
            stack: stack.map(str::to_string),
            ..record(1, "completed")
        };
        // Named stacks decide by id, whatever the time says.
        assert!(life.holds(&at("2026-12-01T00:00:00Z", Some(&life.stack_id))));
        assert!(!life.holds(&at(
            "2026-12-08T00:00:00Z",
            Some("arn:aws:cloudformation:eu-west-1:1:stack/demo-platform/old")
        )));
        // Records from before records named their stack decide by time, in
        // whole seconds (the second the stack was created counts).
        assert!(life.holds(&at("2026-12-07T10:00:00Z", None)));
        assert!(!life.holds(&at("2026-12-07T09:59:59Z", None)));
        assert!(!life.holds(&at("not a time", None)));
        // A stack whose creation time is unknown holds them all.
        assert!(Life::default().holds(&at("2020-01-01T00:00:00Z", None)));
        let (this, before) = life.split(vec![
            at("2026-12-06T00:00:00Z", None),
            at("2026-12-07T11:00:00Z", Some(&life.stack_id)),
        ]);
        assert_eq!((this.len(), before.len()), (1, 1));
    }

    #[test]
    fn known_revisions_name_each_revision_once_with_its_results() {
        let records = vec![
            record(4, "started"),
            record(4, "completed"),
            record(5, "failed"),
            record(4, "completed"),
        ];
        assert_eq!(known_revisions(&records), "4 (completed), 5 (failed)");
        let mut two_releases = records.clone();
        two_releases.push(ReleaseRecord {
            release: "rollback-1".into(),
            result: Outcome::Interrupted,
            ..record(5, "")
        });
        assert_eq!(
            known_revisions(&two_releases),
            "4 (completed), 5 (failed, interrupted)"
        );
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
            &records[0]
        );
        assert_eq!(
            rollback_target(&records, current, Some("3")).expect("target"),
            &records[3]
        );
        assert!(matches!(
            rollback_target(&records, current, Some("9")),
            Err(NoTarget::Unknown(reason)) if reason.contains("1 (completed)")
        ));
        assert!(matches!(
            rollback_target(&[], current, None),
            Err(NoTarget::Nothing(_))
        ));
        assert_eq!(revision_of(current), 2);
    }

    #[test]
    fn an_arn_of_another_account_or_region_is_refused() {
        let records = vec![record(1, "completed"), record(2, "completed")];
        let current = "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:2";
        assert_eq!(
            rollback_target(
                &records,
                current,
                Some("arn:aws:ecs:eu-west-1:1:task-definition/demo-web:1")
            )
            .expect("its own"),
            &records[0]
        );
        for foreign in [
            "arn:aws:ecs:us-east-1:1:task-definition/demo-web:1",
            "arn:aws:ecs:eu-west-1:999999999999:task-definition/demo-web:1",
            "arn:aws-cn:ecs:eu-west-1:1:task-definition/demo-web:1",
        ] {
            assert!(
                matches!(rollback_target(&records, current, Some(foreign)), Err(NoTarget::Unknown(reason)) if reason.contains("but the service runs in account 1 in eu-west-1")),
                "{foreign}"
            );
        }
    }

    #[test]
    fn a_release_not_followed_that_did_not_stick_is_no_target() {
        let with_previous = |mut record: ReleaseRecord, previous: i64| {
            record.previous = Some(format!(
                "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:{previous}"
            ));
            record
        };
        // 2 was deployed --no-wait and rolled back by ECS's breaker: release
        // 3 replaced 1, not 2.
        let records = vec![
            record(1, "completed"),
            record(2, "started"),
            with_previous(record(3, "completed"), 1),
        ];
        let current = "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:3";
        assert_eq!(
            rollback_target(&records, current, None).expect("target"),
            &records[0]
        );
        // The same, but 3 replaced 2: 2 stuck, and is the target.
        let records = vec![
            record(1, "completed"),
            record(2, "started"),
            with_previous(record(3, "completed"), 2),
        ];
        assert_eq!(
            rollback_target(&records, current, None).expect("target"),
            &records[1]
        );
    }

    #[test]
    fn a_release_is_judged_by_its_newest_record() {
        // Release r2 was "started" before its wait, which saw it fail.
        let records = vec![
            record(1, "started"),
            record(1, "completed"),
            record(2, "started"),
            record(2, "failed"),
        ];
        let current = "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:3";
        assert_eq!(
            rollback_target(&records, current, None).expect("target"),
            &records[1]
        );
    }

    #[test]
    fn a_release_not_followed_counts_and_another_family_is_refused() {
        let records = vec![
            record(1, "started"),
            record(2, "failed"),
            record(3, "completed"),
        ];
        let current = "arn:aws:ecs:eu-west-1:1:task-definition/demo-web:3";
        // --no-wait releases are not known to have failed: they count.
        assert_eq!(
            rollback_target(&records, current, None).expect("target"),
            &records[0]
        );
        for other in [
            "demo-worker:1",
            "arn:aws:ecs:eu-west-1:1:task-definition/demo-worker:1",
        ] {
            assert!(matches!(
                rollback_target(&records, current, Some(other)),
                Err(NoTarget::Unknown(reason)) if reason.contains("family demo-worker")
            ));
        }
        assert_eq!(
            rollback_target(&records, current, Some("demo-web:1")).expect("own family"),
            &records[0]
        );
        assert_eq!(family_of("demo-web:1"), "demo-web");
        assert_eq!(family_of(current), "demo-web");
    }
}
