//! Operations: the workflows commands are made of, each usable (and tested)
//! without the command line. A command loads its stack, calls operations and
//! renders what they report; operations call `aws/`, `release/`, `db/` and
//! print progress through `ui/`. No operation imports a command.

pub mod app_stack;
pub mod apply_stack;
pub mod build;
pub mod build_reuse;
pub mod cluster;
pub mod deploy;
pub mod ids;
pub mod image_check;
pub mod images_stack;
pub mod logs;
pub mod node_names;
pub mod node_shell;
pub mod policy_denial;
pub mod rollback;
pub mod rollout_wait;
pub mod secrets_key_stack;
pub mod stack_events;
pub mod stack_guard;
pub mod stack_outputs;
pub mod status;
pub mod update_database;

use crate::config::{ServiceConfig, StackConfig};
use crate::error::{InputError, Problem};

/// The services this run deploys: `--service`, or all.
pub fn select_services(
    stack: &StackConfig,
    only: &[String],
) -> Result<Vec<ServiceConfig>, InputError> {
    if stack.services.is_empty() {
        return Err(InputError::one(
            Problem::new("has no [services.<name>] section: nothing to deploy")
                .in_file(&stack.file)
                .fix("add a service, for example [services.web]"),
        ));
    }
    if only.is_empty() {
        return Ok(stack.services.values().cloned().collect());
    }
    let mut chosen: Vec<ServiceConfig> = Vec::new();
    for name in only {
        let service = stack.service_named(name).map_err(InputError::one)?;
        // `--service web --service web` is one service, deployed once.
        if !chosen.iter().any(|chosen| chosen.name == service.name) {
            chosen.push(service.clone());
        }
    }
    Ok(chosen)
}
