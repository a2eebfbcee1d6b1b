//! Going back to an earlier revision: [`back`] points one service at a
//! revision and waits (after a failed rollout, or for `rollback`); [`plan`]
//! and [`apply`] are the `rollback` command's workflow over the history.

pub mod apply;
pub mod back;
pub mod plan;

pub use apply::{apply, RolledBack};
pub use back::{roll_back, wait_back, Back};
pub use plan::{plan, RollbackPlan, ServicePlan};

/// The start of a rollback's release id (a deploy's is the bare id).
pub const ROLLBACK_PREFIX: &str = "rollback-";
