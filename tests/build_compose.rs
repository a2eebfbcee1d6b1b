//! `stackup build` of a container that a Compose file's service says how to
//! build (`[build] compose`, `compose_service`), against the local cloud's
//! real Docker engine and registry: the Compose service's context (beside
//! the Compose file), Dockerfile (in the context), target and build args all
//! reach `docker build`, and the image is pushed through ECR's login.
//!
//! Needs `scripts/local-cloud up` (scripts/test runs it); tests/build.rs has
//! the build itself (tags, pushes, faults) for context/dockerfile builds.

mod common;
#[path = "common/docker_cloud.rs"]
mod docker_cloud;

use docker_cloud::{git, unique};

fn docker_host() -> String {
    docker_cloud::cloud().docker_host
}

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The Dockerfile's last stage is not the target: built without `target`,
/// the image would be labelled `stage=debug`.
const DOCKERFILE: &str = "FROM scratch AS release\nARG GREETING=unset\nCOPY hello.txt /hello.txt\nLABEL stage=release greeting=$GREETING\n\nFROM release AS debug\nLABEL stage=debug\n";

/// A committed project whose Compose file (in deploy/) builds ../app with
/// app/docker/Release.Dockerfile, target release and a build arg in the
/// list form.
fn compose_project(environment: &str, greeting: &str) -> tempfile::TempDir {
    let dir = common::stack_config_dir(&[(
        "environment = \"local\"",
        &format!("environment = \"{environment}\""),
    )]);
    let stack_file = dir.path().join("stacks/local.toml");
    let mut text = std::fs::read_to_string(&stack_file).expect("stack file");
    text.push_str("\n\n[build]\ncompose = \"deploy/docker-compose.yml\"\n\n[services.web.build.web]\ncompose_service = \"app\"\n");
    std::fs::write(&stack_file, text).expect("write stack file");
    for folder in ["deploy", "app/docker"] {
        std::fs::create_dir_all(dir.path().join(folder)).expect("folder");
    }
    std::fs::write(
        dir.path().join("deploy/docker-compose.yml"),
        format!("services:\n  app:\n    build:\n      context: ../app\n      dockerfile: docker/Release.Dockerfile\n      target: release\n      args:\n        - GREETING={greeting}\n    ports: [\"4000:4000\"]\n  db:\n    image: postgres:16\n"),
    )
    .expect("compose file");
    std::fs::write(dir.path().join("app/hello.txt"), unique("hello ")).expect("hello");
    std::fs::write(dir.path().join("app/docker/Release.Dockerfile"), DOCKERFILE)
        .expect("Dockerfile");
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "sources"]);
    dir
}

fn label(docker_host: &str, image: &str, name: &str) -> String {
    let docker = if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    };
    let output = Command::new(docker)
        .args([
            "-H",
            docker_host,
            "image",
            "inspect",
            "--format",
            &format!("{{{{index .Config.Labels \"{name}\"}}}}"),
            image,
        ])
        .output()
        .expect("docker image inspect");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn a_compose_service_s_build_is_what_stackup_builds_and_pushes() {
    let cloud = common::LocalCloud::load();
    let docker_host = docker_host();
    let environment = unique("c");
    let greeting = unique("hi-");
    let dir = compose_project(&environment, &greeting);

    let validated = common::stackup_process(dir.path(), "http://127.0.0.1:9")
        .args(["validate", "local"])
        .output()
        .expect("stackup runs");
    assert!(
        validated.status.success(),
        "{}",
        String::from_utf8_lossy(&validated.stderr)
    );

    let built = common::stackup_process(dir.path(), &cloud.moto_endpoint())
        .env("DOCKER_HOST", &docker_host)
        .env("DOCKER_BUILDKIT", "0")
        .args(["--output", "json", "build", "local"])
        .output()
        .expect("stackup runs");
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "build failed: {stderr}");
    assert!(stderr.contains("pushing"), "{stderr}");
    let report: Value = serde_json::from_slice(&built.stdout).expect("JSON report");
    let image = &report["images"][0];
    assert_eq!(image["container"], "web");
    assert_eq!(image["pushed"], true);
    let pinned = image["pinned"].as_str().expect("pinned");
    assert!(
        pinned.contains(&format!("/demo-{environment}/web@sha256:")),
        "{pinned}"
    );

    // The target stage, with the Compose file's build arg.
    let tagged = image["image"].as_str().expect("image");
    assert_eq!(label(&docker_host, tagged, "stage"), "release");
    assert_eq!(label(&docker_host, tagged, "greeting"), greeting);

    // The same sources again: the same pinned image, one line, nothing pushed.
    let again = common::stackup_process(dir.path(), &cloud.moto_endpoint())
        .env("DOCKER_HOST", &docker_host)
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "local"])
        .output()
        .expect("stackup runs");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "second build failed: {stderr}");
    assert!(!stderr.contains("pushing"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        format!("web={pinned}\n")
    );
}
