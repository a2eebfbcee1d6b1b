//! `build`: make each container's image with the local Docker engine, tag it
//! with the git commit, and push it to the images stack's ECR repository
//! (README, "Images").
//!
//! The engine is driven through the `docker` client (DOCKER_HOST and
//! DOCKER_BUILDKIT as the user set them): `docker build --iidfile` gives the
//! image id without reading the build's output. The login is ECR's
//! GetAuthorizationToken, given to `docker login` on stdin inside a
//! throw-away DOCKER_CONFIG, so no password lands in `~/.docker` or on a
//! command line. An image whose tag already holds the same image in the
//! registry (its manifest's config digest is the local image id) is not
//! pushed again: ECR tags are immutable, and the same source builds the
//! same image. One whose build inputs the registry has already is not even
//! built (`build_reuse`).

use std::path::Path;
use std::process::Stdio;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::amis::{architecture_of, Architecture};
use crate::aws::cloudformation::CloudFormation;
use crate::aws::ecr::{self, RegistryLogin};
use crate::aws::Aws;
use crate::config::build::ImageBuild;
use crate::config::{ServiceConfig, StackConfig};
use crate::error::{Failure, InputError, Problem};
use crate::images;
use crate::ops::build_reuse;
use crate::ui::Printer;

mod docker;
use docker::{
    docker_answers, docker_build, docker_login, docker_push, pushed_digest,
    registry_digest_if_same, tempfile_dir,
};

/// One image built (and pushed, unless the registry had it).
#[derive(Clone, Debug, Serialize)]
pub struct BuiltImage {
    pub service: String,
    pub container: String,
    /// `<repository uri>:<tag>`.
    pub image: String,
    /// The manifest digest in the registry (`sha256:...`).
    pub digest: String,
    /// False when the tag already held this image.
    pub pushed: bool,
}

impl BuiltImage {
    /// The reference pinned by digest: `<repository uri>@sha256:...`.
    pub fn pinned(&self) -> String {
        let repository = self
            .image
            .rsplit_once(':')
            .map_or(self.image.as_str(), |(repository, _)| repository);
        format!("{repository}@{}", self.digest)
    }
}

/// What to build, checked before any AWS call.
pub struct BuildPlan {
    pub tag: String,
    pub dirty: bool,
    pub items: Vec<(String, ImageBuild)>,
}

/// The images of `services` and the tag they get; bad input (exit 2) when
/// nothing is to be built, the config dir is not in a git work tree, or the
/// tree has changes and `allow_dirty` is not set.
pub async fn plan(
    stack: &StackConfig,
    services: &[ServiceConfig],
    allow_dirty: bool,
) -> Result<BuildPlan, InputError> {
    let items: Vec<(String, ImageBuild)> = services
        .iter()
        .flat_map(|service| {
            service
                .builds
                .iter()
                .map(|build| (service.name.clone(), build.clone()))
        })
        .collect();
    if items.is_empty() {
        return Err(InputError::one(
            Problem::new("no service says what to build: nothing to build")
                .in_file(&stack.file)
                .fix("add a [services.<service>.build.<container>] section, with context = \".\""),
        ));
    }
    let (tag, dirty) = git_tag(&stack.config_dir, allow_dirty).await?;
    Ok(BuildPlan { tag, dirty, items })
}

/// The commit (12 hex digits) the config dir's work tree is at; with changes
/// and `allow_dirty`, `<commit>-dirty-<8 hex digits of the changes>`, so that
/// two different dirty trees never claim one immutable tag.
async fn git_tag(config_dir: &Path, allow_dirty: bool) -> Result<(String, bool), InputError> {
    let git = |args: &[&str]| {
        let mut command = Command::new("git");
        command.arg("-C").arg(config_dir).args(args);
        command.stdin(Stdio::null());
        command
    };
    // Both at once: each is a process start, and neither needs the other.
    let mut rev_parse = git(&["rev-parse", "--verify", "HEAD"]);
    let mut status = git(&["status", "--porcelain", "--untracked-files=all"]);
    let (head, status) = tokio::join!(rev_parse.output(), status.output());
    let head = head
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|commit| commit.len() >= 12)
        .ok_or_else(|| {
            InputError::one(
                Problem::new(format!(
                    "{} is not in a git work tree with a commit: images are tagged with the git commit",
                    config_dir.display()
                ))
                .fix("run `git init` and commit the sources, or run stackup from the repository (--config-dir)"),
            )
        })?;
    let status = status.map_err(|error| {
        InputError::one(Problem::new(format!("cannot run git status: {error}")))
    })?;
    let changes = String::from_utf8_lossy(&status.stdout).to_string();
    let short = head[..12].to_string();
    if changes.trim().is_empty() {
        return Ok((short, false));
    }
    if !allow_dirty {
        let listed: Vec<&str> = changes.lines().take(5).collect();
        return Err(InputError::one(
            Problem::new(format!(
                "the work tree has uncommitted changes, so commit {short} does not name what would be built:\n    {}",
                listed.join("\n    ")
            ))
            .fix("commit the changes, or pass --allow-dirty to build them tagged <commit>-dirty-<hash>"),
        ));
    }
    let diff = git(&["diff", "HEAD", "--binary"])
        .output()
        .await
        .map(|output| output.stdout)
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(changes.as_bytes());
    hasher.update(&diff);
    for line in changes.lines().filter(|line| line.starts_with("??")) {
        if let Ok(content) = std::fs::read(config_dir.join(line[3..].trim())) {
            hasher.update(&content);
        }
    }
    let hash: String = hasher
        .finalize()
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok((format!("{short}-dirty-{hash}"), true))
}

/// Images built and pushed at once: the registry and the engine take
/// several pushes well, and a release's few images should not wait in line.
const CONCURRENT_IMAGES: usize = 4;

/// Build and push every image of the plan, [`CONCURRENT_IMAGES`] at a time;
/// the images stack is created or updated first when a repository is
/// missing. `again` is the command a failure tells the user to run again
/// (`stackup build <STACK>`, or the deploy-release that builds).
pub async fn build_and_push(
    printer: &Printer,
    aws: &Aws,
    stack: &StackConfig,
    plan: &BuildPlan,
    again: &str,
) -> anyhow::Result<Vec<BuiltImage>> {
    let again = format!("run `{again}` again");
    // ECR is asked while the build inputs are hashed (`build_reuse`); the
    // engine only when an image is to be built.
    let repositories = images::repository_names(stack);
    let cloudformation = CloudFormation::new(aws.cloudformation());
    let ecr_client = aws.ecr();
    let (registry, inputs_tags) = tokio::join!(
        async {
            let uris = async {
                crate::ops::images_stack::ensure(printer, &cloudformation, stack, &repositories)
                    .await?;
                ecr::repository_uris(&ecr_client, &repositories).await
            };
            tokio::try_join!(uris, ecr::registry_login(&ecr_client))
        },
        futures_util::future::join_all(
            plan.items
                .iter()
                .map(|(_, build)| build_reuse::inputs_tag_of(stack, build, platform_of(stack)))
        )
    );
    let (uris, login) = registry?;

    // The login goes on while the images build: only their look-up in the
    // registry and their push wait for it.
    let docker_config = tempfile_dir()?;
    let logged_in = docker_login(&docker_config.0, &login).boxed().shared();
    let context = ImageContext {
        printer,
        stack,
        docker_config: &docker_config.0,
        engine: docker_answers().boxed().shared(),
        login: &login,
        logged_in,
        registry: &login.endpoint,
        insecure: login.endpoint.starts_with("http://"),
        platform: platform_of(stack),
        tag: &plan.tag,
        again: &again,
    };
    let mut items: Vec<(&String, &ImageBuild, String, Option<String>)> = Vec::new();
    for ((service, build), inputs_tag) in plan.items.iter().zip(inputs_tags) {
        // Two services running one container of the same build share its
        // image (validate refuses two different builds of one repository).
        if items
            .iter()
            .any(|(_, seen, _, _)| seen.container == build.container)
        {
            continue;
        }
        let repository = images::repository_name(stack, &build.container);
        let uri = uris.get(&repository).ok_or_else(|| {
            Failure::new(format!(
                "ECR repository {repository} does not exist after updating stack {}",
                images::stack_name(stack)
            ))
            .hint(again.as_str())
        })?;
        items.push((service, build, uri.clone(), inputs_tag));
    }
    futures_util::stream::iter(items)
        .map(|(service, build, uri, inputs_tag)| {
            let context = &context;
            async move {
                let inputs_tag = inputs_tag.as_deref();
                context
                    .build_and_push_one(service, build, &uri, inputs_tag)
                    .await
            }
        })
        .buffered(CONCURRENT_IMAGES)
        .try_collect()
        .await
}

/// What every image's build and push share.
struct ImageContext<'a> {
    printer: &'a Printer,
    stack: &'a StackConfig,
    docker_config: &'a Path,
    /// `docker version`, awaited by each image to build (not by one reused).
    engine: Shared<BoxFuture<'a, Result<(), String>>>,
    login: &'a RegistryLogin,
    /// `docker login` into `docker_config`, awaited by each image once built.
    logged_in: Shared<BoxFuture<'a, Result<(), String>>>,
    /// The registry's endpoint, as ECR's login gives it.
    registry: &'a str,
    insecure: bool,
    /// `os/arch` of the cluster's hosts.
    platform: &'static str,
    tag: &'a str,
    again: &'a str,
}

impl ImageContext<'_> {
    async fn build_and_push_one(
        &self,
        service: &str,
        build: &ImageBuild,
        uri: &str,
        inputs_tag: Option<&str>,
    ) -> anyhow::Result<BuiltImage> {
        let again = self.again;
        let image = format!("{uri}:{}", self.tag);
        let built = |digest: String, pushed| BuiltImage {
            service: service.to_string(),
            container: build.container.clone(),
            image: image.clone(),
            digest,
            pushed,
        };
        if let Some(reuse) = build_reuse::reusable(self.login, uri, self.tag, inputs_tag).await {
            self.printer.info(format!(
                "{}: {image} {}: not built, not pushed",
                build.container,
                reuse.said()
            ));
            return Ok(built(reuse.digest().to_string(), false));
        }
        self.engine.clone().await.map_err(|reason| {
            Failure::new(format!("no Docker engine answers ({reason})"))
                .hint(format!("start one (or set DOCKER_HOST), then {again}"))
        })?;
        self.printer.info(format!(
            "{}: building {image} ({})",
            build.container, self.platform
        ));
        let image_id = docker_build(self.stack, build, &image, self.platform)
            .await
            .map_err(|reason| {
                Failure::new(format!(
                    "building the image of container {} failed: {reason}; nothing was deployed",
                    build.container
                ))
                .hint(format!("fix it, then {again}"))
            })?;
        self.logged_in.clone().await.map_err(|reason| {
            Failure::new(format!(
                "docker login at {} failed: {reason}",
                self.registry
            ))
            .hint(again)
        })?;
        if let Some(digest) =
            registry_digest_if_same(self.docker_config, &image, &image_id, self.insecure).await
        {
            self.printer.info(format!(
                "{}: {image} already holds this image: not pushed",
                build.container
            ));
            build_reuse::remember(self.printer, self.login, uri, inputs_tag, &digest).await;
            return Ok(built(digest, false));
        }
        self.printer
            .info(format!("{}: pushing {image}", build.container));
        docker_push(self.docker_config, &image, &build.container)
            .await
            .map_err(|reason| {
                Failure::new(format!(
                    "pushing {image} failed: {reason}; nothing was deployed"
                ))
                .hint(format!("{again} (the layers pushed already are kept)"))
            })?;
        let digest = pushed_digest(uri, &image).await.ok_or_else(|| {
            Failure::new(format!(
                "docker pushed {image} but reports no digest for it"
            ))
            .hint(again)
        })?;
        self.printer
            .info(format!("{}: pushed {image} ({digest})", build.container));
        build_reuse::remember(self.printer, self.login, uri, inputs_tag, &digest).await;
        Ok(built(digest, true))
    }
}

/// The platform images are built for: the cluster's instances' (ECS runs
/// an image only on hosts of its architecture; EC2 user guide, "Instance
/// type naming conventions", for which types are Graviton).
pub fn platform_of(stack: &StackConfig) -> &'static str {
    match architecture_of(&stack.cluster.instance_type) {
        Architecture::Arm64 => "linux/arm64",
        Architecture::X86_64 => "linux/amd64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_reference_replaces_the_tag() {
        let built = BuiltImage {
            service: "web".into(),
            container: "web".into(),
            image: "127.0.0.1:5050/demo-local/web:0123456789ab".into(),
            digest: "sha256:feed".into(),
            pushed: true,
        };
        assert_eq!(built.pinned(), "127.0.0.1:5050/demo-local/web@sha256:feed");
    }
}
