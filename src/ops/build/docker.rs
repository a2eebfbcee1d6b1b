//! The local Docker engine, driven through the `docker` CLI: is it there,
//! log in with ECR's token, build, ask the registry whether it holds an image
//! already, push, and read the digest pushed. Each answers a plain result or
//! the engine's own words; `ops::build` decides what to do with them.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::aws::ecr::RegistryLogin;
use crate::config::build::ImageBuild;
use crate::config::StackConfig;
use crate::ui::stderr_line;

/// A folder removed when dropped, for DOCKER_CONFIG.
pub(super) struct TempDir(pub(super) PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn tempfile_dir() -> anyhow::Result<TempDir> {
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

pub(super) fn docker() -> Command {
    let mut command = Command::new("docker");
    command.stdin(Stdio::null());
    command
}

pub(super) fn failure(output: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let last: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let tail = last[last.len().saturating_sub(3)..].join(" / ");
    format!("{} ({})", output.status, tail.trim())
}

pub(super) async fn docker_answers() -> Result<(), String> {
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

pub(super) async fn docker_login(config: &Path, login: &RegistryLogin) -> Result<(), String> {
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
pub(super) async fn docker_build(
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
pub(super) async fn registry_digest_if_same(
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
pub(super) fn manifest_digest_if_config(
    answer: &serde_json::Value,
    image_id: &str,
) -> Option<String> {
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
pub(super) async fn docker_push(config: &Path, image: &str, container: &str) -> Result<(), String> {
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
pub(super) async fn pushed_digest(repository: &str, image: &str) -> Option<String> {
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
}
