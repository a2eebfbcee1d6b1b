//! Not building what the registry already holds (README, "Images"): each
//! image stackup pushes is also tagged `stackup-inputs-<digest of its build
//! inputs>` (`build_inputs`), so that the registry itself records which
//! inputs made which image. Before building, the registry is asked for the
//! inputs' tag and the commit's tag at once (two manifest HEADs, OCI
//! Distribution Specification, "Checking if content exists in the
//! registry"): both holding one image means there is nothing to build or
//! push; the inputs' tag alone (a commit that changed nothing the image is
//! made of) means the image gets the commit's tag too, with no build. Any
//! other answer, or inputs that cannot be told, and the image is built and
//! pushed as always. An image deleted (by digest) takes its tags with it,
//! so the registry never claims an image it no longer has.

use std::process::Stdio;

use tokio::process::Command;

use crate::aws::ecr::RegistryLogin;
use crate::aws::registry::{self, ManifestAnswer};
use crate::build_inputs::{self, BuildRequest};
use crate::config::build::ImageBuild;
use crate::config::StackConfig;
use crate::ui::Printer;

/// The tag naming an image by the digest of its build inputs (79
/// characters; a tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, OCI
/// Distribution Specification, "Pulling manifests").
pub fn inputs_tag(inputs_digest: &str) -> String {
    format!("stackup-inputs-{inputs_digest}")
}

/// How an image already in the registry is reused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// The commit's tag holds the image built from these inputs: nothing to do.
    Same { digest: String },
    /// The image built from these inputs now has the commit's tag too.
    Tagged { digest: String },
}

/// The inputs tag of `build` for `platform`, or `None` when its inputs
/// cannot be told (then it is built; why is a debug line).
pub async fn inputs_tag_of(
    stack: &StackConfig,
    build: &ImageBuild,
    platform: &str,
) -> Option<String> {
    // Every field named: a new one (a build setting) must be hashed or
    // said not to change the image before this compiles again.
    let ImageBuild {
        container: _,
        context,
        dockerfile,
        target,
        args,
    } = build;
    let context = stack.resolve(context);
    let dockerfile = stack.resolve(dockerfile);
    let target = target.clone();
    let args = args.clone();
    let platform_owned = platform.to_string();
    let hashed = tokio::task::spawn_blocking(move || {
        build_inputs::hash(&BuildRequest {
            context: &context,
            dockerfile: &dockerfile,
            target: target.as_deref(),
            args: &args,
            platform: &platform_owned,
        })
    })
    .await;
    let pending = match hashed {
        Ok(Ok(pending)) => pending,
        Ok(Err(reason)) => {
            tracing::debug!(container = %build.container, %reason, "its build inputs cannot be told: it is built");
            return None;
        }
        Err(error) => {
            tracing::debug!(container = %build.container, %error, "hashing its build inputs failed: it is built");
            return None;
        }
    };
    let ids = if pending.base_images.is_empty() {
        Vec::new()
    } else {
        local_image_ids(&pending.base_images).await.or_else(|| {
            tracing::debug!(container = %build.container, images = ?pending.base_images, "the engine does not hold every image the Dockerfile builds from (the build would pull): it is built");
            None
        })?
    };
    Some(inputs_tag(&pending.finish(&ids)))
}

/// The engine's id of each image, in order; `None` unless it holds them all.
async fn local_image_ids(names: &[String]) -> Option<Vec<String>> {
    let output = Command::new("docker")
        .stdin(Stdio::null())
        .args(["image", "inspect", "--format", "{{.Id}}"])
        .args(names)
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let ids: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim().to_string())
        .filter(|line| !line.is_empty())
        .collect();
    (ids.len() == names.len()).then_some(ids)
}

impl Reuse {
    pub fn digest(&self) -> &str {
        match self {
            Reuse::Same { digest } | Reuse::Tagged { digest } => digest,
        }
    }

    /// What happened, after the image's name.
    pub fn said(&self) -> &'static str {
        match self {
            Reuse::Same { .. } => "already holds the image of the same build inputs",
            Reuse::Tagged { .. } => "now tags the image already pushed from the same build inputs",
        }
    }
}

/// Whether the registry holds the image of `inputs_tag` under `tag` of
/// `uri` (`<registry host>/<repository>`), giving it that tag when only
/// the inputs' tag has it.
pub async fn reusable(
    login: &RegistryLogin,
    uri: &str,
    tag: &str,
    inputs_tag: Option<&str>,
) -> Option<Reuse> {
    let inputs_tag = inputs_tag?;
    let (host, repository) = uri.split_once('/')?;
    let authorization = login.basic_authorization();
    let (by_inputs, by_tag) = tokio::join!(
        registry::manifest_with(host, repository, inputs_tag, &authorization),
        registry::manifest_with(host, repository, tag, &authorization),
    );
    let ManifestAnswer::Found(Some(digest)) = by_inputs else {
        return None;
    };
    match by_tag {
        ManifestAnswer::Found(Some(held)) if held == digest => Some(Reuse::Same { digest }),
        ManifestAnswer::Missing => {
            match registry::add_tag(host, repository, &digest, tag, &authorization).await {
                Ok(()) => Some(Reuse::Tagged { digest }),
                Err(reason) => {
                    tracing::debug!(%uri, %tag, %reason, "could not tag the image built from the same inputs: building");
                    None
                }
            }
        }
        // Another image under the commit's tag (inputs outside the commit
        // changed), or no clear answer: the build and push decide.
        _ => None,
    }
}

/// Record in the registry that the image `digest` of `uri` was built from
/// the inputs of `inputs_tag` (when they could be told). A failure is a
/// warning: the image is pushed, only the next run builds it again.
pub async fn remember(
    printer: &Printer,
    login: &RegistryLogin,
    uri: &str,
    inputs_tag: Option<&str>,
    digest: &str,
) {
    let Some(inputs_tag) = inputs_tag else {
        return;
    };
    let Some((host, repository)) = uri.split_once('/') else {
        return;
    };
    let authorization = login.basic_authorization();
    if let Err(reason) =
        registry::add_tag(host, repository, digest, inputs_tag, &authorization).await
    {
        printer.warn(format!(
            "could not tag {uri}@{digest} with its build inputs ({reason}): the next build of the same sources builds it again"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inputs_tag_is_a_valid_ecr_tag() {
        let tag = inputs_tag(&"ab".repeat(32));
        assert!(tag.len() <= 128, "{}", tag.len());
        assert!(tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    }
}
