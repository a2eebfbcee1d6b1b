//! Releases: task and service definition templates and their placeholders.

pub mod placeholders;
pub mod templates;
