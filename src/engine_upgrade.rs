//! A major version upgrade of the database engine (15 to 16).
//!
//! RDS refuses to move a DB instance to a new major version unless the
//! request allows it ("The AllowMajorVersionUpgrade flag must be present when
//! upgrading to a new major version"; RDS user guide "Upgrading the
//! PostgreSQL DB engine for Amazon RDS", AWS::RDS::DBInstance
//! AllowMajorVersionUpgrade), and the instance's parameter group must be of
//! the new version's family. A DB parameter group's Family cannot change in
//! place (AWS::RDS::DBParameterGroup, Family: "Update requires: Replacement"),
//! so CloudFormation makes a new group of the new family and moves the
//! instance to it. stackup allows the major upgrade for the one run that
//! changes the major version, and for no other: a stray major change in a
//! later edit is refused by RDS as it should be. Going back to an older major
//! version is impossible in RDS, and refused here before any change.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::cloudformation::ParameterValue;
use crate::config::StackConfig;
use crate::error::{InputError, Problem};
use crate::stacks::LayerPlan;

/// The platform template's parameter that allows a major upgrade.
pub const ALLOW_PARAMETER: &str = "DatabaseAllowMajorVersionUpgrade";
const ENGINE_VERSION_PARAMETER: &str = "DatabaseEngineVersion";

/// A major upgrade this run makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EngineUpgrade {
    /// The version the database runs (the stack's parameter).
    pub from: String,
    /// The stack file's `engine_version`.
    pub to: String,
    /// The parameter group family of `to`, which replaces the old group.
    pub family: String,
}

impl EngineUpgrade {
    /// For the plan.
    pub fn describe(&self) -> String {
        format!(
            "major engine upgrade {} -> {}: AllowMajorVersionUpgrade for this run only; a new \
             parameter group of family {} replaces DatabaseParameterGroup (RDS takes a snapshot \
             before it upgrades; the database is unavailable while it does)",
            self.from, self.to, self.family
        )
    }
}

fn major(version: &str) -> Option<u32> {
    version.split('.').next()?.trim().parse().ok()
}

/// Compare the stack file's engine version with the one the running
/// platform stack was given: a major upgrade, nothing, or bad input (an
/// older major version).
pub fn plan(
    stack: &StackConfig,
    running_parameters: Option<&BTreeMap<String, String>>,
) -> Result<Option<EngineUpgrade>, InputError> {
    let wanted = &stack.database.engine_version;
    let Some(running) = running_parameters.and_then(|p| p.get(ENGINE_VERSION_PARAMETER)) else {
        return Ok(None);
    };
    let (Some(from), Some(to)) = (major(running), major(wanted)) else {
        return Ok(None);
    };
    if to < from {
        return Err(InputError::one(
            Problem::new(format!(
                "engine_version is {wanted}, but the database runs {running}: RDS cannot move a \
                 database to an older major version"
            ))
            .in_file(&stack.file)
            .at_key("database.engine_version")
            .fix(format!(
                "set engine_version = \"{running}\" (or a newer {from}.x); to go back, restore a \
                 snapshot into a new stack version (version = {})",
                stack.version + 1
            )),
        ));
    }
    Ok((to > from).then(|| EngineUpgrade {
        from: running.clone(),
        to: wanted.clone(),
        family: stack.database.parameter_family(),
    }))
}

/// Let this run's update of the platform make the major upgrade (a template
/// that does not declare the parameter is left as it is).
pub fn allow_for_this_run(platform: &mut LayerPlan) {
    for (key, value) in &mut platform.parameters {
        if key == ALLOW_PARAMETER {
            *value = ParameterValue::Plain("true".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(engine_version: &str) -> StackConfig {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut stack = crate::config::load(dir, "local").expect("stacks/local.toml");
        stack.database.engine_version = engine_version.to_string();
        stack
    }

    fn running(version: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(ENGINE_VERSION_PARAMETER.to_string(), version.to_string())])
    }

    #[test]
    fn only_a_new_major_version_is_an_upgrade() {
        let upgrade = plan(&stack("16"), Some(&running("15"))).expect("allowed");
        assert_eq!(
            upgrade,
            Some(EngineUpgrade {
                from: "15".into(),
                to: "16".into(),
                family: "postgres16".into()
            })
        );
        assert_eq!(plan(&stack("16.4"), Some(&running("16"))).ok(), Some(None));
        assert_eq!(plan(&stack("16"), Some(&running("16.4"))).ok(), Some(None));
        assert_eq!(
            plan(&stack("17.2"), Some(&running("16.4")))
                .ok()
                .flatten()
                .map(|u| u.family),
            Some("postgres17".to_string())
        );
        // A stack not created yet upgrades nothing.
        assert_eq!(plan(&stack("16"), None).ok(), Some(None));
    }

    #[test]
    fn an_older_major_version_is_refused() {
        let error = plan(&stack("15"), Some(&running("16.4"))).expect_err("refused");
        let problem = &error.problems[0];
        assert_eq!(problem.key.as_deref(), Some("database.engine_version"));
        assert!(
            problem.message.contains("the database runs 16.4"),
            "{}",
            problem.message
        );
        assert!(problem
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("engine_version = \"16.4\""));
    }
}
