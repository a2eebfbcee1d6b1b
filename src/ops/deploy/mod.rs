//! Deploying a release: [`plan`] reads what runs and decides what changes,
//! [`apply`] carries it out. `deploy-release` renders the plan between the
//! two and asks before applying; what each service ended as is a
//! [`ServiceResult`].

pub mod apply;
pub mod plan;

use serde::Serialize;

use crate::release::history::Outcome;

pub use apply::{apply, Options};
pub use plan::{plan, Planned, ReleasePlan, Request};

/// Tag on every revision: the SHA-256 of its resolved definition, so that a
/// re-deploy of the same thing registers nothing.
pub const DEFINITION_TAG: &str = "stackup:definition-sha256";
/// Tag of a registered revision: the release that registered it.
pub const RELEASE_TAG: &str = "stackup:release";

/// How one service's deployment ended (`--output json`'s `services[]`).
#[derive(Clone, Serialize)]
pub struct ServiceResult {
    pub service: String,
    pub task_definition: String,
    pub revision: i64,
    pub registered: bool,
    pub created: bool,
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Interrupted while the failed rollout was being rolled back: where to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_back_to: Option<String>,
}
