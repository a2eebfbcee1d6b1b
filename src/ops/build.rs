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
//! same image.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::amis::{architecture_of, Architecture};
use crate::aws::cloudformation::CloudFormation;
use crate::aws::ecr::{self, RegistryLogin};
use crate::aws::Aws;
use crate::config::build::ImageBuild;
use crate::config::{ServiceConfig, StackConfig};
use crate::error::{InputError, Problem};
use crate::images;
use crate::ui::{stderr_line, Printer};

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
    let head = git(&["rev-parse", "--verify", "HEAD"])
        .output()
        .await
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
    let status = git(&["status", "--porcelain", "--untracked-files=all"])
        .output()
        .await
        .map_err(|error| {
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
    // The engine is asked while ECR is: the two are independent.
    let repositories = images::repository_names(stack);
    let cloudformation = CloudFormation::new(aws.cloudformation());
    let ecr_client = aws.ecr();
    let (engine, registry) = tokio::join!(docker_answers(), async {
        crate::ops::images_stack::ensure(printer, &cloudformation, stack, &repositories).await?;
        let uris = ecr::repository_uris(&ecr_client, &repositories).await?;
        let login = ecr::registry_login(&ecr_client).await?;
        anyhow::Ok((uris, login))
    });
    engine.map_err(|reason| {
        anyhow::anyhow!(
            "no Docker engine answers ({reason}); start one (or set DOCKER_HOST), then {again}"
        )
    })?;
    let (uris, login) = registry?;

    // The login goes on while the images build: only their look-up in the
    // registry and their push wait for it.
    let docker_config = tempfile_dir()?;
    let logged_in = docker_login(&docker_config.0, &login).boxed().shared();
    let context = ImageContext {
        printer,
        stack,
        docker_config: &docker_config.0,
        logged_in,
        registry: &login.endpoint,
        insecure: login.endpoint.starts_with("http://"),
        platform: platform_of(stack),
        tag: &plan.tag,
        again: &again,
    };
    let mut items: Vec<(&String, &ImageBuild, String)> = Vec::new();
    for (service, build) in &plan.items {
        // Two services running one container of the same build share its
        // image (validate refuses two different builds of one repository).
        if items
            .iter()
            .any(|(_, seen, _)| seen.container == build.container)
        {
            continue;
        }
        let repository = images::repository_name(stack, &build.container);
        let uri = uris.get(&repository).ok_or_else(|| {
            anyhow::anyhow!(
                "ECR repository {repository} does not exist after updating stack {}; {again}",
                images::stack_name(stack)
            )
        })?;
        items.push((service, build, uri.clone()));
    }
    futures_util::stream::iter(items)
        .map(|(service, build, uri)| {
            let context = &context;
            async move { context.build_and_push_one(service, build, &uri).await }
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
    ) -> anyhow::Result<BuiltImage> {
        let again = self.again;
        let image = format!("{uri}:{}", self.tag);
        self.printer.info(format!(
            "{}: building {image} ({})",
            build.container, self.platform
        ));
        let image_id = docker_build(self.stack, build, &image, self.platform)
            .await
            .map_err(|reason| {
                anyhow::anyhow!(
                    "building the image of container {} failed: {reason}; nothing was deployed; fix it, then {again}",
                    build.container
                )
            })?;
        self.logged_in.clone().await.map_err(|reason| {
            anyhow::anyhow!(
                "docker login at {} failed: {reason}; {again}",
                self.registry
            )
        })?;
        if let Some(digest) =
            registry_digest_if_same(self.docker_config, &image, &image_id, self.insecure).await
        {
            self.printer.info(format!(
                "{}: {image} already holds this image: not pushed",
                build.container
            ));
            return Ok(BuiltImage {
                service: service.to_string(),
                container: build.container.clone(),
                image,
                digest,
                pushed: false,
            });
        }
        self.printer
            .info(format!("{}: pushing {image}", build.container));
        docker_push(self.docker_config, &image, &build.container)
            .await
            .map_err(|reason| anyhow::anyhow!("pushing {image} failed: {reason}; nothing was deployed; {again} (the layers pushed already are kept)"))?;
        let digest = pushed_digest(uri, &image).await.ok_or_else(|| {
            anyhow::anyhow!("docker pushed {image} but reports no digest for it; {again}")
        })?;
        self.printer
            .info(format!("{}: pushed {image} ({digest})", build.container));
        Ok(BuiltImage {
            service: service.to_string(),
            container: build.container.clone(),
            image,
            digest,
            pushed: true,
        })
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

/// A folder removed when dropped, for DOCKER_CONFIG.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> anyhow::Result<TempDir> {
    let path = std::env::temp_dir().join(format!(
        "stackup-docker-{}-{}",
        std::process::id(),
        crate::secret::Secret::generate(8)
            .expose()
            .to_ascii_lowercase()
    ));
    std::fs::create_dir(&path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(TempDir(path))
}

fn docker() -> Command {
    let mut command = Command::new("docker");
    command.stdin(Stdio::null());
    command
}

fn failure(output: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let last: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let tail = last[last.len().saturating_sub(3)..].join(" / ");
    format!("{} ({})", output.status, tail.trim())
}

async fn docker_answers() -> Result<(), String> {
    let output = docker()
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .await
        .map_err(|error| format!("cannot run docker: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failure(&output))
    }
}

async fn docker_login(config: &Path, login: &RegistryLogin) -> Result<(), String> {
    let mut child = docker()
        .env("DOCKER_CONFIG", config)
        .args([
            "login",
            "--username",
            &login.user,
            "--password-stdin",
            &login.endpoint,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run docker: {error}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin
            .write_all(login.password.expose().as_bytes())
            .await
            .map_err(|error| error.to_string())?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|error| error.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failure(&output))
    }
}

/// `docker build`; returns the image id (`sha256:...`).
async fn docker_build(
    stack: &StackConfig,
    build: &ImageBuild,
    image: &str,
    platform: &str,
) -> Result<String, String> {
    let id_file = std::env::temp_dir().join(format!(
        "stackup-iid-{}-{}",
        std::process::id(),
        crate::secret::Secret::generate(8).expose()
    ));
    let mut command = docker();
    command
        .arg("build")
        .arg("--quiet")
        .arg("--iidfile")
        .arg(&id_file)
        .arg("--file")
        .arg(stack.resolve(&build.dockerfile))
        .arg("--tag")
        .arg(image)
        .arg("--platform")
        .arg(platform);
    if let Some(target) = &build.target {
        command.arg("--target").arg(target);
    }
    for (name, value) in &build.args {
        command.arg("--build-arg").arg(format!("{name}={value}"));
    }
    command.arg(stack.resolve(&build.context));
    let output = command
        .output()
        .await
        .map_err(|error| format!("cannot run docker: {error}"))?;
    let id = std::fs::read_to_string(&id_file).unwrap_or_default();
    let _ = std::fs::remove_file(&id_file);
    if !output.status.success() {
        return Err(failure(&output));
    }
    let id = id.trim().to_string();
    if id.starts_with("sha256:") {
        Ok(id)
    } else {
        Err("docker build wrote no image id".to_string())
    }
}

/// The manifest digest of `image` in the registry when its config is
/// `image_id` (the same image), else `None` (absent, another image, or the
/// registry could not say: then the push decides).
async fn registry_digest_if_same(
    config: &Path,
    image: &str,
    image_id: &str,
    insecure: bool,
) -> Option<String> {
    let mut command = docker();
    command
        .env("DOCKER_CONFIG", config)
        .env("DOCKER_CLI_EXPERIMENTAL", "enabled")
        .args(["manifest", "inspect", "--verbose"]);
    if insecure {
        command.arg("--insecure");
    }
    let output = command.arg(image).output().await.ok()?;
    if !output.status.success() {
        return None;
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    manifest_digest_if_config(&answer, image_id)
}

/// From `docker manifest inspect --verbose` of one image: its descriptor's
/// digest when the manifest's config digest is `image_id`.
fn manifest_digest_if_config(answer: &serde_json::Value, image_id: &str) -> Option<String> {
    let config_digest = answer
        .pointer("/SchemaV2Manifest/config/digest")
        .or_else(|| answer.pointer("/OCIManifest/config/digest"))?
        .as_str()?;
    if config_digest != image_id {
        return None;
    }
    answer
        .pointer("/Descriptor/digest")?
        .as_str()
        .map(str::to_string)
}

/// `docker push`, its progress lines on stderr prefixed with the container.
async fn docker_push(config: &Path, image: &str, container: &str) -> Result<(), String> {
    let mut child = docker()
        .env("DOCKER_CONFIG", config)
        .args(["push", image])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run docker: {error}"))?;
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        // Without a terminal docker prints its retry countdown one line a
        // second: the first line of each countdown is enough.
        let mut counting_down = std::collections::HashSet::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let layer = line.split(':').next().unwrap_or_default().to_string();
            if line.contains(": Retrying in ") {
                if !counting_down.insert(layer) {
                    continue;
                }
            } else {
                counting_down.remove(&layer);
            }
            stderr_line(format_args!("  {container}: {line}"));
        }
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|error| error.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failure(&output))
    }
}

/// The digest the registry gave `image` when it was pushed (docker records
/// it as `<repository>@sha256:...` in the image's RepoDigests).
async fn pushed_digest(repository: &str, image: &str) -> Option<String> {
    let output = docker()
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            image,
        ])
        .output()
        .await
        .ok()?;
    let digests: Vec<String> = serde_json::from_slice(&output.stdout).ok()?;
    digests.iter().find_map(|entry| {
        entry
            .strip_prefix(repository)
            .and_then(|rest| rest.strip_prefix('@'))
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_image_is_recognised_by_its_config_digest() {
        let answer = serde_json::json!({
            "Ref": "127.0.0.1:5050/demo-local/web:abc",
            "Descriptor": {"digest": "sha256:manifest"},
            "SchemaV2Manifest": {"config": {"digest": "sha256:config"}}
        });
        assert_eq!(
            manifest_digest_if_config(&answer, "sha256:config").as_deref(),
            Some("sha256:manifest")
        );
        assert_eq!(manifest_digest_if_config(&answer, "sha256:other"), None);
    }

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
