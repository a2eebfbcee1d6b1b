//! Releases: task and service definition templates and their placeholders.

pub mod capacity;
pub mod cluster_verdict;
pub mod cookie;
pub mod diff;
pub mod ecs_model;
pub mod history;
pub mod host_access;
pub mod image_reference;
mod lenient;
pub mod node_name;
pub mod placeholders;
pub mod plan;
pub mod rollout;
pub mod service_diff;
pub mod templates;
