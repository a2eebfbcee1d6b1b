//! A CloudFormation stack's status, typed: every value the CloudFormation API
//! reference lists for `Stack` `StackStatus`, and any other kept as AWS sent
//! it (a status added after this stackup was built).

use std::fmt;

use serde::{Serialize, Serializer};

/// A stack's status (CloudFormation API reference, "Stack": `StackStatus`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StackStatus {
    CreateInProgress,
    CreateFailed,
    CreateComplete,
    RollbackInProgress,
    RollbackFailed,
    RollbackComplete,
    DeleteInProgress,
    DeleteFailed,
    DeleteComplete,
    UpdateInProgress,
    UpdateCompleteCleanupInProgress,
    UpdateComplete,
    UpdateFailed,
    UpdateRollbackInProgress,
    UpdateRollbackFailed,
    UpdateRollbackCompleteCleanupInProgress,
    UpdateRollbackComplete,
    /// A stack CloudFormation made to hold a change set that creates it: no
    /// resources, nothing under way (user guide, "Create a change set").
    ReviewInProgress,
    ImportInProgress,
    ImportComplete,
    ImportRollbackInProgress,
    ImportRollbackFailed,
    ImportRollbackComplete,
    /// A status not in the list above, as AWS sent it.
    Other(String),
}

impl StackStatus {
    /// The status AWS sent; an unknown one is kept in [`StackStatus::Other`].
    pub fn parse(status: &str) -> StackStatus {
        match status {
            "CREATE_IN_PROGRESS" => StackStatus::CreateInProgress,
            "CREATE_FAILED" => StackStatus::CreateFailed,
            "CREATE_COMPLETE" => StackStatus::CreateComplete,
            "ROLLBACK_IN_PROGRESS" => StackStatus::RollbackInProgress,
            "ROLLBACK_FAILED" => StackStatus::RollbackFailed,
            "ROLLBACK_COMPLETE" => StackStatus::RollbackComplete,
            "DELETE_IN_PROGRESS" => StackStatus::DeleteInProgress,
            "DELETE_FAILED" => StackStatus::DeleteFailed,
            "DELETE_COMPLETE" => StackStatus::DeleteComplete,
            "UPDATE_IN_PROGRESS" => StackStatus::UpdateInProgress,
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" => StackStatus::UpdateCompleteCleanupInProgress,
            "UPDATE_COMPLETE" => StackStatus::UpdateComplete,
            "UPDATE_FAILED" => StackStatus::UpdateFailed,
            "UPDATE_ROLLBACK_IN_PROGRESS" => StackStatus::UpdateRollbackInProgress,
            "UPDATE_ROLLBACK_FAILED" => StackStatus::UpdateRollbackFailed,
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" => {
                StackStatus::UpdateRollbackCompleteCleanupInProgress
            }
            "UPDATE_ROLLBACK_COMPLETE" => StackStatus::UpdateRollbackComplete,
            "REVIEW_IN_PROGRESS" => StackStatus::ReviewInProgress,
            "IMPORT_IN_PROGRESS" => StackStatus::ImportInProgress,
            "IMPORT_COMPLETE" => StackStatus::ImportComplete,
            "IMPORT_ROLLBACK_IN_PROGRESS" => StackStatus::ImportRollbackInProgress,
            "IMPORT_ROLLBACK_FAILED" => StackStatus::ImportRollbackFailed,
            "IMPORT_ROLLBACK_COMPLETE" => StackStatus::ImportRollbackComplete,
            other => StackStatus::Other(other.to_string()),
        }
    }

    /// The status as AWS writes it.
    pub fn as_str(&self) -> &str {
        match self {
            StackStatus::CreateInProgress => "CREATE_IN_PROGRESS",
            StackStatus::CreateFailed => "CREATE_FAILED",
            StackStatus::CreateComplete => "CREATE_COMPLETE",
            StackStatus::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            StackStatus::RollbackFailed => "ROLLBACK_FAILED",
            StackStatus::RollbackComplete => "ROLLBACK_COMPLETE",
            StackStatus::DeleteInProgress => "DELETE_IN_PROGRESS",
            StackStatus::DeleteFailed => "DELETE_FAILED",
            StackStatus::DeleteComplete => "DELETE_COMPLETE",
            StackStatus::UpdateInProgress => "UPDATE_IN_PROGRESS",
            StackStatus::UpdateCompleteCleanupInProgress => "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            StackStatus::UpdateComplete => "UPDATE_COMPLETE",
            StackStatus::UpdateFailed => "UPDATE_FAILED",
            StackStatus::UpdateRollbackInProgress => "UPDATE_ROLLBACK_IN_PROGRESS",
            StackStatus::UpdateRollbackFailed => "UPDATE_ROLLBACK_FAILED",
            StackStatus::UpdateRollbackCompleteCleanupInProgress => {
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
            }
            StackStatus::UpdateRollbackComplete => "UPDATE_ROLLBACK_COMPLETE",
            StackStatus::ReviewInProgress => "REVIEW_IN_PROGRESS",
            StackStatus::ImportInProgress => "IMPORT_IN_PROGRESS",
            StackStatus::ImportComplete => "IMPORT_COMPLETE",
            StackStatus::ImportRollbackInProgress => "IMPORT_ROLLBACK_IN_PROGRESS",
            StackStatus::ImportRollbackFailed => "IMPORT_ROLLBACK_FAILED",
            StackStatus::ImportRollbackComplete => "IMPORT_ROLLBACK_COMPLETE",
            StackStatus::Other(status) => status,
        }
    }

    /// Whether CloudFormation has stopped working on the stack. A stack in
    /// REVIEW_IN_PROGRESS is settled: it waits for its change set to be
    /// executed or deleted. An unknown status is settled unless it says it
    /// is in progress.
    pub fn is_settled(&self) -> bool {
        match self {
            StackStatus::CreateInProgress
            | StackStatus::RollbackInProgress
            | StackStatus::DeleteInProgress
            | StackStatus::UpdateInProgress
            | StackStatus::UpdateCompleteCleanupInProgress
            | StackStatus::UpdateRollbackInProgress
            | StackStatus::UpdateRollbackCompleteCleanupInProgress
            | StackStatus::ImportInProgress
            | StackStatus::ImportRollbackInProgress => false,
            StackStatus::Other(status) => !status.ends_with("_IN_PROGRESS"),
            _ => true,
        }
    }

    /// Whether the last operation on the stack did what it was asked to.
    pub fn is_complete(&self) -> bool {
        matches!(
            self,
            StackStatus::CreateComplete
                | StackStatus::UpdateComplete
                | StackStatus::ImportComplete
                | StackStatus::DeleteComplete
        )
    }

    /// Whether the stack settled after an operation that did not do what it
    /// was asked to: failed, or rolled back (an unknown settled status too).
    pub fn is_failed(&self) -> bool {
        self.is_settled() && !self.is_complete() && *self != StackStatus::ReviewInProgress
    }

    /// Whether CloudFormation is undoing a failed operation right now.
    pub fn is_rolling_back(&self) -> bool {
        match self {
            StackStatus::RollbackInProgress
            | StackStatus::UpdateRollbackInProgress
            | StackStatus::ImportRollbackInProgress => true,
            StackStatus::Other(status) => status.ends_with("ROLLBACK_IN_PROGRESS"),
            _ => false,
        }
    }
}

impl From<&str> for StackStatus {
    fn from(status: &str) -> Self {
        StackStatus::parse(status)
    }
}

impl fmt::Display for StackStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// As AWS writes it, so a report's JSON stays as it was with strings.
impl Serialize for StackStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The valid values of `StackStatus` in the CloudFormation API reference
    /// ("Stack" data type), in its order.
    const DOCUMENTED: [&str; 23] = [
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "CREATE_COMPLETE",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_FAILED",
        "ROLLBACK_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_FAILED",
        "DELETE_COMPLETE",
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_COMPLETE",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_FAILED",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
        "REVIEW_IN_PROGRESS",
        "IMPORT_IN_PROGRESS",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_IN_PROGRESS",
        "IMPORT_ROLLBACK_FAILED",
        "IMPORT_ROLLBACK_COMPLETE",
    ];

    #[test]
    fn every_documented_status_parses_to_its_own_variant_and_back() {
        let mut variants = std::collections::HashSet::new();
        for documented in DOCUMENTED {
            let status = StackStatus::parse(documented);
            assert!(
                !matches!(status, StackStatus::Other(_)),
                "{documented} is not known"
            );
            assert_eq!(status.to_string(), documented);
            assert_eq!(
                serde_json::to_value(&status).expect("serializes"),
                serde_json::json!(documented)
            );
            variants.insert(status);
        }
        assert_eq!(variants.len(), DOCUMENTED.len(), "one variant each");
    }

    /// The SDK's model of the API lists the same values: a status it gains
    /// is one this enum must learn.
    #[test]
    fn every_status_the_sdk_knows_is_known() {
        for value in aws_sdk_cloudformation::types::StackStatus::values() {
            assert!(DOCUMENTED.contains(value), "{value} is not documented here");
            assert!(
                !matches!(StackStatus::parse(value), StackStatus::Other(_)),
                "{value}"
            );
        }
    }

    #[test]
    fn an_unknown_status_is_kept_as_sent() {
        let status = StackStatus::parse("RESHAPE_IN_PROGRESS");
        assert_eq!(status, StackStatus::Other("RESHAPE_IN_PROGRESS".into()));
        assert_eq!(status.to_string(), "RESHAPE_IN_PROGRESS");
        assert!(!status.is_settled());
        assert!(!status.is_failed());
        let settled = StackStatus::parse("RESHAPE_COMPLETE");
        assert!(settled.is_settled());
        assert!(!settled.is_complete());
        assert!(settled.is_failed());
    }

    /// Every documented status in exactly one of: in progress, complete,
    /// failed, or waiting for review.
    #[test]
    fn statuses_are_classified_as_documented() {
        let in_progress: Vec<&str> = DOCUMENTED
            .into_iter()
            .filter(|status| !StackStatus::parse(status).is_settled())
            .collect();
        assert_eq!(
            in_progress,
            [
                "CREATE_IN_PROGRESS",
                "ROLLBACK_IN_PROGRESS",
                "DELETE_IN_PROGRESS",
                "UPDATE_IN_PROGRESS",
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                "UPDATE_ROLLBACK_IN_PROGRESS",
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                "IMPORT_IN_PROGRESS",
                "IMPORT_ROLLBACK_IN_PROGRESS",
            ]
        );
        let complete: Vec<&str> = DOCUMENTED
            .into_iter()
            .filter(|status| StackStatus::parse(status).is_complete())
            .collect();
        assert_eq!(
            complete,
            [
                "CREATE_COMPLETE",
                "DELETE_COMPLETE",
                "UPDATE_COMPLETE",
                "IMPORT_COMPLETE"
            ]
        );
        let failed: Vec<&str> = DOCUMENTED
            .into_iter()
            .filter(|status| StackStatus::parse(status).is_failed())
            .collect();
        assert_eq!(
            failed,
            [
                "CREATE_FAILED",
                "ROLLBACK_FAILED",
                "ROLLBACK_COMPLETE",
                "DELETE_FAILED",
                "UPDATE_FAILED",
                "UPDATE_ROLLBACK_FAILED",
                "UPDATE_ROLLBACK_COMPLETE",
                "IMPORT_ROLLBACK_FAILED",
                "IMPORT_ROLLBACK_COMPLETE",
            ]
        );
        let review = StackStatus::ReviewInProgress;
        assert!(review.is_settled() && !review.is_complete() && !review.is_failed());
        let rolling_back: Vec<&str> = DOCUMENTED
            .into_iter()
            .filter(|status| StackStatus::parse(status).is_rolling_back())
            .collect();
        assert_eq!(
            rolling_back,
            [
                "ROLLBACK_IN_PROGRESS",
                "UPDATE_ROLLBACK_IN_PROGRESS",
                "IMPORT_ROLLBACK_IN_PROGRESS"
            ]
        );
    }
}
