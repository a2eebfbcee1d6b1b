//! `stackup build` when the registry already holds the image of the same
//! build inputs (`ops/build_reuse.rs`): nothing built or pushed, and no
//! Docker engine needed; and each change that makes another image built
//! and pushed again: a file of the context, a build arg, the image deleted
//! from the registry. Against the local cloud's real engine and registry
//! (ECR's registry endpoint, scripts/moto_server.py entry 17).
//!
//! The changes are made where the git commit, and so the image's tag, stays
//! the same (a file git ignores, a stack file git ignores): only the build
//! inputs tell these runs apart, so a skip that looked at less would pass
//! the same image off as new. A dead DOCKER_HOST proves that a run asked
//! the engine nothing.

mod common;
#[path = "common/docker_cloud.rs"]
mod docker_cloud;

use docker_cloud::{cloud, git, unique, Cloud};

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use base64::Engine;
use serde_json::Value;

/// A config dir in a git repository building container `web` from `app/`
/// with `dockerfile`; git ignores `app/local.txt` and, when
/// `stack_file_ignored`, the stack file (so editing it keeps the tag).
fn project(
    environment: &str,
    dockerfile: &str,
    build_table: &str,
    stack_file_ignored: bool,
) -> tempfile::TempDir {
    let dir = common::stack_config_dir(&[(
        "environment = \"local\"",
        &format!("environment = \"{environment}\""),
    )]);
    append_stack_file(
        dir.path(),
        &format!("\n\n[services.web.build.web]\ncontext = \"app\"\n{build_table}"),
    );
    std::fs::create_dir_all(dir.path().join("app")).expect("app dir");
    std::fs::write(dir.path().join("app/hello.txt"), unique("hello ")).expect("hello");
    std::fs::write(dir.path().join("app/local.txt"), "first").expect("local");
    std::fs::write(dir.path().join("app/Dockerfile"), dockerfile).expect("Dockerfile");
    std::fs::write(dir.path().join("app/.dockerignore"), "*.log\n").expect(".dockerignore");
    let mut ignored = "app/local.txt\napp/*.log\n".to_string();
    if stack_file_ignored {
        ignored.push_str("stacks/local.toml\n");
    }
    std::fs::write(dir.path().join(".gitignore"), ignored).expect(".gitignore");
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "sources"]);
    dir
}

fn append_stack_file(dir: &Path, text: &str) {
    let path = dir.join("stacks/local.toml");
    let mut stack_file = std::fs::read_to_string(&path).expect("stack file");
    stack_file.push_str(text);
    std::fs::write(&path, stack_file).expect("write stack file");
}

const DOCKERFILE: &str = "FROM scratch\nCOPY hello.txt local.txt /\n";

/// `stackup build local` with the engine at `docker_host`.
fn build(cloud: &Cloud, dir: &Path, docker_host: &str) -> (bool, String, String) {
    let output = common::stackup_process(dir, &cloud.moto)
        .env("DOCKER_HOST", docker_host)
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "local"])
        .output()
        .expect("stackup runs");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stdout.contains(&cloud.password) && !stderr.contains(&cloud.password));
    (output.status.success(), stdout, stderr)
}

/// A Docker engine that is not there: any `docker` call fails.
fn no_engine(dir: &Path) -> String {
    format!("unix://{}", dir.join("no-engine.sock").display())
}

/// One request to the registry, with its credentials: (status, headers, body).
fn registry(cloud: &Cloud, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(&cloud.registry).expect("registry answers");
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", cloud.user, cloud.password));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {credentials}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n",
        cloud.registry
    )
    .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn tags(cloud: &Cloud, repository: &str) -> Vec<String> {
    let (status, _, body) = registry(cloud, "GET", &format!("/v2/{repository}/tags/list"));
    assert_eq!(status, 200, "{body}");
    // The body may be chunked: the JSON object is on a line of its own.
    let json = body
        .lines()
        .find(|line| line.starts_with('{'))
        .expect("a JSON body");
    let listed: Value = serde_json::from_str(json).expect("JSON");
    let mut tags: Vec<String> = listed["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|tag| tag.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

fn commit_tag(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])[..12].to_string()
}

#[test]
fn the_same_sources_again_are_neither_built_nor_pushed_and_need_no_engine() {
    let cloud = cloud();
    let environment = unique("r");
    let dir = project(&environment, DOCKERFILE, "", false);
    let repository = format!("demo-{environment}/web");

    let (ok, first, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "first build failed: {stderr}");
    assert!(stderr.contains("pushing"), "{stderr}");
    // The registry records which inputs made the image: a second tag.
    let tags_after_first = tags(&cloud, &repository);
    assert_eq!(tags_after_first.len(), 2, "{tags_after_first:?}");
    assert!(tags_after_first.contains(&commit_tag(dir.path())));
    assert!(
        tags_after_first
            .iter()
            .any(|tag| tag.starts_with("stackup-inputs-")),
        "{tags_after_first:?}"
    );

    // A file .dockerignore leaves out is no input.
    std::fs::write(dir.path().join("app/debug.log"), "noise").expect("log");
    let (ok, second, stderr) = build(&cloud, dir.path(), &no_engine(dir.path()));
    assert!(ok, "the unchanged build needed the engine: {stderr}");
    assert_eq!(second, first, "the same image, pinned by the same digest");
    assert!(stderr.contains("not built, not pushed"), "{stderr}");
    assert!(
        !stderr.contains("pushing") && !stderr.contains("building"),
        "{stderr}"
    );
    assert_eq!(tags(&cloud, &repository), tags_after_first);

    // A new commit that changes nothing the image is made of: the same
    // image gets the new commit's tag, without an engine.
    std::fs::write(dir.path().join("NOTES.md"), "outside the context").expect("notes");
    git(dir.path(), &["add", "NOTES.md"]);
    git(dir.path(), &["commit", "-q", "-m", "notes"]);
    let (ok, third, stderr) = build(&cloud, dir.path(), &no_engine(dir.path()));
    assert!(
        ok,
        "a commit outside the context needed the engine: {stderr}"
    );
    assert_eq!(third, first);
    assert!(stderr.contains("now tags the image"), "{stderr}");
    let digest = first.rsplit_once('@').expect("pinned").1;
    let (status, headers, _) = registry(
        &cloud,
        "HEAD",
        &format!("/v2/{repository}/manifests/{}", commit_tag(dir.path())),
    );
    assert_eq!(status, 200);
    assert!(
        headers.contains(&format!("docker-content-digest: {digest}")),
        "{headers}"
    );
}

#[test]
fn a_changed_file_of_the_context_is_built_and_pushed_again() {
    let cloud = cloud();
    let environment = unique("f");
    let dir = project(&environment, DOCKERFILE, "", false);

    let (ok, first, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "first build failed: {stderr}");
    // git ignores it, so the commit (the tag) is the same; Docker does not.
    std::fs::write(dir.path().join("app/local.txt"), "second").expect("local");
    let (ok, second, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "second build failed: {stderr}");
    assert!(
        stderr.contains("building") && stderr.contains("pushing"),
        "{stderr}"
    );
    assert_ne!(second, first, "another image, another digest");
}

#[test]
fn a_changed_build_arg_is_built_and_pushed_again() {
    let cloud = cloud();
    let environment = unique("a");
    let dockerfile = "FROM scratch\nARG GREETING\nLABEL greeting=$GREETING\nCOPY hello.txt /\n";
    let dir = project(
        &environment,
        dockerfile,
        "args = { GREETING = \"hello\" }\n",
        true,
    );

    let (ok, first, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "first build failed: {stderr}");
    let path = dir.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&path).expect("stack file");
    std::fs::write(&path, text.replace("\"hello\"", "\"bonjour\"")).expect("stack file");
    let (ok, second, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "second build failed: {stderr}");
    assert!(
        stderr.contains("building") && stderr.contains("pushing"),
        "{stderr}"
    );
    assert_ne!(second, first);
}

#[test]
fn an_image_deleted_from_the_registry_is_built_and_pushed_again() {
    let cloud = cloud();
    let environment = unique("x");
    let dir = project(&environment, DOCKERFILE, "", false);
    let repository = format!("demo-{environment}/web");

    let (ok, first, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "first build failed: {stderr}");
    let digest = first.rsplit_once('@').expect("pinned").1;
    let (status, _, body) = registry(
        &cloud,
        "DELETE",
        &format!("/v2/{repository}/manifests/{digest}"),
    );
    assert_eq!(status, 202, "{body}");

    let (ok, second, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "second build failed: {stderr}");
    assert!(stderr.contains("pushing"), "{stderr}");
    assert_eq!(second, first, "the same image, pushed again");
    let (status, _, _) = registry(
        &cloud,
        "HEAD",
        &format!("/v2/{repository}/manifests/{}", commit_tag(dir.path())),
    );
    assert_eq!(status, 200, "the registry holds the commit's tag again");
}

/// `docker build` of a tiny base image named `name`, holding `content`.
fn base_image(cloud: &Cloud, name: &str, content: &str) {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("base.txt"), content).expect("base.txt");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY base.txt /\n",
    )
    .expect("Dockerfile");
    let status = Command::new("docker")
        .env("DOCKER_HOST", &cloud.docker_host)
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--quiet", "--tag", name])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("docker runs");
    assert!(status.success(), "docker build of {name}");
}

#[test]
fn a_changed_base_image_is_built_and_pushed_again() {
    let cloud = cloud();
    let environment = unique("b");
    let base = format!("stackup-test-base-{environment}:1");
    base_image(&cloud, &base, "first base");
    let dockerfile = format!("FROM {base}\nCOPY hello.txt /\n");
    let dir = project(&environment, &dockerfile, "", false);

    let (ok, first, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "first build failed: {stderr}");
    // The base as it was: nothing to build (the engine is asked for its id).
    let (ok, second, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "second build failed: {stderr}");
    assert!(stderr.contains("not built, not pushed"), "{stderr}");
    assert_eq!(second, first);
    // The same name, another image: the Dockerfile and the context are the
    // same, the image is not.
    base_image(&cloud, &base, "second base");
    let (ok, third, stderr) = build(&cloud, dir.path(), &cloud.docker_host);
    assert!(ok, "third build failed: {stderr}");
    assert!(
        stderr.contains("building") && stderr.contains("pushing"),
        "{stderr}"
    );
    assert_ne!(third, first);
    let _ = Command::new("docker")
        .env("DOCKER_HOST", &cloud.docker_host)
        .args(["rmi", "--force", &base])
        .output();
}
