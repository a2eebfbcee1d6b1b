//! The images stack: the ECR repositories of one application and environment
//! (`stacks/images.json`, compiled in), apart from the stack versions so that
//! deleting a version never deletes the images its releases ran.
//!
//! One repository per container that the stack file builds
//! (`[services.<service>.build.<container>]`), named
//! `<app>-<environment>/<container>`, in the template's slots
//! `RepositoryName1..8`. Scan on push, immutable tags, KMS encryption, and a
//! lifecycle policy keeping the newest [`KEEP_IMAGES`] tagged images (ECR user
//! guide, "Lifecycle policies").

use std::collections::BTreeMap;

use crate::aws::cloudformation::ParameterValue;
use crate::config::StackConfig;
use crate::error::{InputError, Problem};

pub const TEMPLATE: &str = include_str!("../stacks/images.json");

/// Repository slots in the template.
pub const MAX_REPOSITORIES: usize = 8;

/// Tagged images each repository keeps.
pub const KEEP_IMAGES: u32 = 30;

/// `<app>-<environment>`: what the images stack is for (no version).
pub fn images_stack_id(stack: &StackConfig) -> String {
    format!("{}-{}", stack.app, stack.environment)
}

/// The CloudFormation stack holding the repositories.
pub fn stack_name(stack: &StackConfig) -> String {
    format!("{}-images", images_stack_id(stack))
}

/// The repository of one container's image.
pub fn repository_name(stack: &StackConfig, container: &str) -> String {
    format!("{}/{container}", images_stack_id(stack))
}

/// Every repository the stack file's builds need, sorted, each once.
pub fn repository_names(stack: &StackConfig) -> Vec<String> {
    let mut names: Vec<String> = stack
        .services
        .values()
        .flat_map(|service| service.builds.iter())
        .map(|build| repository_name(stack, &build.container))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Two services that build one container name differently would push two
/// images to one repository under one tag (immutable: the second push is
/// refused); the same build in both is one image, built once.
pub fn repository_clashes(stack: &StackConfig) -> Vec<Problem> {
    let mut first: BTreeMap<&str, (&str, &crate::config::build::ImageBuild)> = BTreeMap::new();
    let mut problems = Vec::new();
    for (service, config) in &stack.services {
        for build in &config.builds {
            match first.get(build.container.as_str()) {
                Some((other, earlier)) if *earlier != build => problems.push(
                    Problem::new(format!(
                        "services {other} and {service} both build container {} but differently: both images would go to repository {}",
                        build.container,
                        repository_name(stack, &build.container)
                    ))
                    .in_file(&stack.file)
                    .at_key(format!("services.{service}.build.{}", build.container))
                    .fix(format!(
                        "give both the same [services.<name>.build.{}] section, or name one of the containers otherwise",
                        build.container
                    )),
                ),
                Some(_) => {}
                None => {
                    first.insert(&build.container, (service, build));
                }
            }
        }
    }
    problems
}

/// The template's parameters for these repositories, or bad input (exit 2)
/// when there are more than the template has slots for.
pub fn parameters(
    stack: &StackConfig,
    repositories: &[String],
) -> Result<Vec<(String, ParameterValue)>, InputError> {
    if repositories.len() > MAX_REPOSITORIES {
        return Err(InputError::one(
            Problem::new(format!(
                "{} containers are built ({}); the images stack holds at most {MAX_REPOSITORIES} repositories",
                repositories.len(),
                repositories.join(", ")
            ))
            .in_file(&stack.file)
            .fix("build fewer containers with [services.<name>.build.<container>]"),
        ));
    }
    let mut parameters = vec![
        (
            "ImagesStackId".to_string(),
            ParameterValue::Plain(images_stack_id(stack)),
        ),
        (
            "KeepImages".to_string(),
            ParameterValue::Plain(KEEP_IMAGES.to_string()),
        ),
    ];
    for slot in 0..MAX_REPOSITORIES {
        parameters.push((
            format!("RepositoryName{}", slot + 1),
            ParameterValue::Plain(repositories.get(slot).cloned().unwrap_or_default()),
        ));
    }
    Ok(parameters)
}

/// The images stack's tags.
pub fn tags(stack: &StackConfig) -> BTreeMap<String, String> {
    let mut tags = stack.tags.clone();
    tags.insert("stackup:app".into(), stack.app.clone());
    tags.insert("stackup:environment".into(), stack.environment.clone());
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_declares_what_stackup_passes() {
        let template: serde_json::Value = serde_json::from_str(TEMPLATE).expect("valid JSON");
        let declared = template["Parameters"].as_object().expect("parameters");
        assert!(declared.contains_key("ImagesStackId"));
        assert!(declared.contains_key("KeepImages"));
        for slot in 1..=MAX_REPOSITORIES {
            assert!(declared.contains_key(&format!("RepositoryName{slot}")));
            let repository = &template["Resources"][format!("Repository{slot}")];
            let properties = &repository["Properties"];
            assert_eq!(properties["ImageTagMutability"], "IMMUTABLE");
            assert_eq!(properties["ImageScanningConfiguration"]["ScanOnPush"], true);
            assert_eq!(
                properties["EncryptionConfiguration"]["EncryptionType"],
                "KMS"
            );
            assert_eq!(repository["DeletionPolicy"], "Retain");
            assert!(
                properties["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"]
                    .as_str()
                    .expect("policy text")
                    .contains("${KeepImages}")
            );
        }
        assert!(template["Resources"]
            .get(format!("Repository{}", MAX_REPOSITORIES + 1))
            .is_none());
    }
}
