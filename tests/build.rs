//! `stackup build` against the local cloud's real Docker engine and registry:
//! the images stack's ECR repository, ECR's login token accepted by the
//! registry (scripts/moto_server.py, entry 17), a real build and push, the
//! same source again pushing nothing, and a dirty tree refused.
//!
//! Needs `scripts/local-cloud up` (scripts/test runs it), which starts the
//! engine and the registry; STACKUP_LOCAL_CLOUD_STATE may name another local
//! cloud's state.json.

mod common;
#[path = "common/deploy_role.rs"]
mod deploy_role;
#[path = "common/docker_cloud.rs"]
mod docker_cloud;

use docker_cloud::{cloud, git, unique, Cloud};

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use base64::Engine;
use serde_json::Value;

/// A config dir in a git repository with one committed container to build.
fn project(environment: &str, marker: &str) -> tempfile::TempDir {
    let dir = common::stack_config_dir(&[(
        "environment = \"local\"",
        &format!("environment = \"{environment}\""),
    )]);
    let stack_file = dir.path().join("stacks/local.toml");
    let mut text = std::fs::read_to_string(&stack_file).expect("stack file");
    text.push_str("\n\n[services.web.build.web]\ncontext = \"app\"\n");
    std::fs::write(&stack_file, text).expect("write stack file");
    std::fs::create_dir_all(dir.path().join("app")).expect("app dir");
    std::fs::write(dir.path().join("app/hello.txt"), marker).expect("hello");
    std::fs::write(
        dir.path().join("app/Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .expect("Dockerfile");
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "sources"]);
    dir
}

fn build(cloud: &Cloud, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut command = common::stackup_process(dir, &cloud.moto);
    command
        .env("DOCKER_HOST", &cloud.docker_host)
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "local"])
        .args(extra);
    command.output().expect("stackup runs")
}

/// The registry's answer for a manifest: (HTTP status, Docker-Content-Digest).
fn registry_manifest(cloud: &Cloud, repository: &str, tag: &str) -> (u16, Option<String>) {
    let mut stream = std::net::TcpStream::connect(&cloud.registry).expect("registry answers");
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", cloud.user, cloud.password));
    write!(
        stream,
        "HEAD /v2/{repository}/manifests/{tag} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {credentials}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n",
        cloud.registry
    )
    .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let digest = answer.lines().find_map(|line| {
        line.to_ascii_lowercase()
            .starts_with("docker-content-digest:")
            .then(|| line[22..].trim().to_string())
    });
    (status, digest)
}

#[test]
fn build_pushes_through_the_ecr_login_and_the_same_source_pushes_nothing() {
    let cloud = cloud();
    let environment = unique("b");
    let dir = project(&environment, &unique("hello "));

    let first = build(&cloud, dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "build failed: {stderr}");
    let stdout = String::from_utf8_lossy(&first.stdout).trim().to_string();
    let repository = format!("demo-{environment}/web");
    let prefix = format!("web={}/{repository}@sha256:", cloud.registry);
    assert!(
        stdout.starts_with(&prefix),
        "stdout {stdout:?} should be {prefix}..."
    );
    assert!(stderr.contains("pushing"), "{stderr}");
    assert!(
        !stderr.contains(&cloud.password),
        "the registry password reached stderr"
    );
    assert!(
        !stdout.contains(&cloud.password),
        "the registry password reached stdout"
    );
    let digest = stdout.rsplit_once('@').expect("digest").1.to_string();

    // The registry holds it under the commit's tag, with that digest.
    let head = String::from_utf8(
        Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["rev-parse", "HEAD"])
            .output()
            .expect("git")
            .stdout,
    )
    .expect("utf-8");
    let tag = &head.trim()[..12];
    assert_eq!(
        registry_manifest(&cloud, &repository, tag),
        (200, Some(digest.clone()))
    );

    // The same source again: the same digest, nothing pushed.
    let second = build(&cloud, dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "second build failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&second.stdout).trim(), stdout);
    assert!(stderr.contains("not pushed"), "{stderr}");
    assert!(!stderr.contains("pushing"), "{stderr}");
}

#[test]
fn a_dirty_tree_is_refused_unless_allowed_and_then_marked() {
    let cloud = cloud();
    let environment = unique("d");
    let dir = project(&environment, &unique("dirty "));
    std::fs::write(dir.path().join("app/hello.txt"), unique("changed ")).expect("change");

    let refused = build(&cloud, dir.path(), &[]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("uncommitted changes") && stderr.contains("--allow-dirty"),
        "{stderr}"
    );
    assert!(stdout_is_empty(&refused));

    let allowed = build(&cloud, dir.path(), &["--allow-dirty", "--output", "json"]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    let report: Value = serde_json::from_slice(&allowed.stdout).expect("JSON report");
    assert_eq!(report["dirty"], true);
    let tag = report["tag"].as_str().expect("tag");
    assert!(tag.contains("-dirty-"), "{tag}");
    let image = &report["images"][0];
    assert_eq!(image["pushed"], true);
    assert!(image["image"]
        .as_str()
        .expect("image")
        .ends_with(&format!(":{tag}")));
    assert_eq!(
        registry_manifest(&cloud, &format!("demo-{environment}/web"), tag),
        (200, image["digest"].as_str().map(str::to_string))
    );
}

fn stdout_is_empty(output: &std::process::Output) -> bool {
    output.stdout.is_empty()
}

/// The image of the `local` stack's web service's running revision.
fn running_image(fixture: &common::TestStack) -> String {
    let config = fixture.sdk();
    common::block_on(async {
        let service = common::web_service(&config).await;
        let arn = service.task_definition().expect("task definition");
        aws_sdk_ecs::Client::new(&config)
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .expect("task definition")
            .task_definition()
            .expect("definition")
            .container_definitions()[0]
            .image()
            .expect("image")
            .to_string()
    })
}

/// How many revisions the web service's family has.
fn revisions(fixture: &common::TestStack) -> usize {
    let config = fixture.sdk();
    common::block_on(async {
        aws_sdk_ecs::Client::new(&config)
            .list_task_definitions()
            .family_prefix("demo-local-v1-web")
            .send()
            .await
            .expect("task definitions")
            .task_definition_arns()
            .len()
    })
}

/// `deploy-release local --yes --output json` with `extra`, the Docker
/// engine of the local cloud, and the image look-up on.
fn deploy(
    cloud: &Cloud,
    fixture: &common::TestStack,
    extra: &[&str],
) -> (Option<i32>, Value, String) {
    let output = fixture
        .stackup()
        .env("DOCKER_HOST", &cloud.docker_host)
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("STACKUP_SKIP_IMAGE_CHECK")
        .args(["--output", "json", "deploy-release", "local", "--yes"])
        .args(extra)
        .output()
        .expect("stackup runs");
    (
        output.status.code(),
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn deploy_release_build_pins_the_image_by_digest_and_the_same_source_pushes_and_registers_nothing()
{
    let cloud = cloud();
    let fixture = common::TestStack::new("build-deploy", project("local", &unique("deploy ")));
    fixture.create_stack();

    let (code, report, stderr) = deploy(&cloud, &fixture, &["--build"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("pushing"), "{stderr}");
    assert_eq!(report["services"][0]["registered"], true, "{report}");
    let image = running_image(&fixture);
    let (repository, digest) = image
        .split_once('@')
        .unwrap_or_else(|| panic!("{image} is not pinned by digest"));
    assert_eq!(repository, format!("{}/demo-local/web", cloud.registry));
    // The digest is the one the registry holds under the commit's tag.
    let tag = report_tag(&stderr);
    assert_eq!(
        registry_manifest(&cloud, "demo-local/web", &tag),
        (200, Some(digest.to_string()))
    );
    assert!(!stderr.contains(&cloud.password) && !report.to_string().contains(&cloud.password));

    // The same source again: nothing pushed, nothing registered.
    let before = revisions(&fixture);
    let (code, report, stderr) = deploy(&cloud, &fixture, &["--build"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("not pushed") && !stderr.contains("pushing"),
        "{stderr}"
    );
    assert_eq!(report["services"][0]["result"], "unchanged", "{report}");
    assert_eq!(revisions(&fixture), before);

    // --image and --build for one container: refused before anything.
    let (code, _, stderr) = deploy(
        &cloud,
        &fixture,
        &["--build", "--image", &format!("web={image}")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--build both give the image of container web"),
        "{stderr}"
    );

    // The image built, given with --image, is found in ECR (DescribeImages);
    // a tag the repository lacks is refused, nothing registered.
    let (code, _, stderr) = deploy(&cloud, &fixture, &["--image", &format!("web={image}")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("cannot check"), "{stderr}");
    let missing = format!("{repository}:no-such-tag");
    let (code, report, stderr) = deploy(&cloud, &fixture, &["--image", &format!("web={missing}")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--image web={missing}")) && stderr.contains("no-such-tag"),
        "{stderr}"
    );
    assert_eq!(report, Value::Null);
    assert_eq!(revisions(&fixture), before);
    assert_eq!(running_image(&fixture), image);
}

/// The tag of the images built, from the "building <image>:<tag>" line.
fn report_tag(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|line| line.contains("building "))
        .unwrap_or_else(|| panic!("no building line: {stderr}"));
    let image = line
        .split("building ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("image");
    image.rsplit_once(':').expect("tag").1.to_string()
}

/// A registry of the test's own on loopback: `public/app` gives anonymous
/// tokens (Bearer, as ghcr.io and Docker Hub do) and holds tag 1.0 only;
/// `private/app` wants credentials (Basic). Stops when dropped.
struct StubRegistry {
    address: String,
    _runtime: tokio::runtime::Runtime,
}

impl StubRegistry {
    fn start() -> StubRegistry {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (runtime, listener) = common::loopback_server();
        let address = listener.local_addr().expect("address").to_string();
        let realm = format!("http://{address}/token");
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let realm = realm.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut request_line = String::new();
                        if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut authorization = String::new();
                        loop {
                            let mut header = String::new();
                            if stream.read_line(&mut header).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if header.trim().is_empty() {
                                break;
                            }
                            if let Some((name, value)) = header.split_once(':') {
                                if name.eq_ignore_ascii_case("authorization") {
                                    authorization = value.trim().to_string();
                                }
                            }
                        }
                        let path = request_line.split_whitespace().nth(1).unwrap_or_default();
                        let (status, extra, body) = if path.starts_with("/token") {
                            ("200 OK", String::new(), "{\"token\":\"anonymous\"}".to_string())
                        } else if path.starts_with("/v2/private/") {
                            ("401 Unauthorized", "WWW-Authenticate: Basic realm=\"stub\"\r\n".to_string(), String::new())
                        } else if authorization != "Bearer anonymous" {
                            ("401 Unauthorized", format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"stub\",scope=\"repository:public/app:pull\"\r\n"), String::new())
                        } else if path == "/v2/public/app/manifests/1.0" {
                            ("200 OK", "Docker-Content-Digest: sha256:0000000000000000000000000000000000000000000000000000000000000001\r\n".to_string(), String::new())
                        } else {
                            ("404 Not Found", String::new(), String::new())
                        };
                        let answer = format!(
                            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.get_mut().write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        StubRegistry {
            address,
            _runtime: runtime,
        }
    }
}

#[test]
fn an_image_of_another_registry_is_looked_up_by_its_manifest_before_anything_is_registered() {
    let cloud = cloud();
    let registry = StubRegistry::start();
    let fixture = common::TestStack::new("image-check", common::stack_config_dir(&[]));
    fixture.create_stack();
    let image = |path: &str| format!("web={}/{path}", registry.address);

    // A tag the registry lacks: exit 2 naming image and tag, nothing registered.
    let (code, report, stderr) = deploy(&cloud, &fixture, &["--image", &image("public/app:2.0")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--image {}", image("public/app:2.0")))
            && stderr.contains("has no manifest public/app:2.0"),
        "{stderr}"
    );
    assert_eq!(report, Value::Null);
    assert_eq!(revisions(&fixture), 0);

    // --skip-image-check goes ahead without asking.
    let (code, _, stderr) = deploy(
        &cloud,
        &fixture,
        &[
            "--image",
            &image("public/app:2.0"),
            "--skip-image-check",
            "--no-wait",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(revisions(&fixture), 1);

    // The tag it holds, through an anonymous token: deployed.
    let (code, _, stderr) = deploy(
        &cloud,
        &fixture,
        &["--image", &image("public/app:1.0"), "--no-wait"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("cannot check"), "{stderr}");
    assert_eq!(revisions(&fixture), 2);

    // A registry that wants credentials: a warning, and the release goes on.
    let (code, _, stderr) = deploy(
        &cloud,
        &fixture,
        &["--image", &image("private/app:1.0"), "--no-wait"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("cannot check that") && stderr.contains("needs credentials"),
        "{stderr}"
    );
    assert_eq!(revisions(&fixture), 3);
}

/// A moto launcher of the test's own (scripts/moto_server.py), whose local
/// cloud is the shared one except its registry, which is `registry`: the
/// ECR token and repository URIs it gives name that address. Stops when
/// dropped.
struct OwnMoto {
    endpoint: String,
    child: std::process::Child,
    _state: tempfile::TempDir,
}

impl OwnMoto {
    fn start(registry: &str) -> OwnMoto {
        let shared = common::LocalCloud::load();
        let mut state = shared.state.clone();
        state["registry"]["address"] = Value::String(registry.to_string());
        let dir = tempfile::tempdir().expect("state dir");
        let state_file = dir.path().join("state.json");
        std::fs::write(&state_file, state.to_string()).expect("state.json");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let root = common::repo_root();
        let child = Command::new(root.join(".venv/cloud/bin/python"))
            .arg(root.join("scripts/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("STACKUP_LOCAL_CLOUD_STATE", &state_file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto launcher starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto did not start on {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        OwnMoto {
            endpoint,
            child,
            _state: dir,
        }
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy in front of the registry that, once told to, cuts every
/// connection after `limit` more bytes sent to the registry and from then on
/// closes each new one at once (a registry that stopped mid-push), until told
/// to forward again. Stops when dropped.
struct RegistryCutter {
    address: String,
    /// Bytes still let through towards the registry; `u64::MAX`: no limit.
    allowance: std::sync::Arc<std::sync::atomic::AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl RegistryCutter {
    fn start(target: String) -> RegistryCutter {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (runtime, listener) = common::loopback_server();
        let address = listener.local_addr().expect("address").to_string();
        let allowance = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
        let shared = allowance.clone();
        runtime.spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if shared.load(Ordering::SeqCst) == 0 {
                    continue; // dropped: closed at once
                }
                let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let allowance = shared.clone();
                tokio::spawn(async move {
                    let (mut in_read, mut in_write) = inbound.into_split();
                    let (mut out_read, mut out_write) = outbound.into_split();
                    let upload = async {
                        let mut buffer = vec![0u8; 16 * 1024];
                        loop {
                            let read = in_read.read(&mut buffer).await.unwrap_or(0);
                            if read == 0 {
                                return;
                            }
                            let left = allowance.load(Ordering::SeqCst);
                            if left != u64::MAX {
                                if left < read as u64 {
                                    allowance.store(0, Ordering::SeqCst);
                                    return;
                                }
                                allowance.store(left - read as u64, Ordering::SeqCst);
                            }
                            if out_write.write_all(&buffer[..read]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let download = async {
                        let _ = tokio::io::copy(&mut out_read, &mut in_write).await;
                    };
                    tokio::select! {
                        _ = upload => {}
                        _ = download => {}
                    }
                });
            }
        });
        RegistryCutter {
            address,
            allowance,
            _runtime: runtime,
        }
    }

    fn cut_after(&self, bytes: u64) {
        self.allowance
            .store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    fn forward(&self) {
        self.allowance
            .store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_registry_stopped_mid_push_fails_with_nothing_registered_and_a_later_run_completes() {
    let cloud = cloud();
    let cutter = RegistryCutter::start(cloud.registry.clone());
    let moto = OwnMoto::start(&cutter.address);
    let dir = project("local", &unique("cut "));
    // A layer big enough to be cut in the middle: pseudo-random (not
    // compressible), seeded afresh (never in the registry already).
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64;
    let noise: Vec<u8> = (0..4_000_000)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        })
        .collect();
    std::fs::write(dir.path().join("app/noise.bin"), noise).expect("noise");
    std::fs::write(
        dir.path().join("app/Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\nCOPY noise.bin /noise.bin\n",
    )
    .expect("Dockerfile");
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "noise"]);
    let fixture = common::TestStack {
        proxy: common::AwsProxy::start(&moto.endpoint, &common::account_for("build-cut")),
        config: dir,
    };
    fixture.create_stack();

    cutter.cut_after(1_000_000);
    let started = std::time::Instant::now();
    let (code, report, stderr) = deploy(&cloud, &fixture, &["--build"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("pushing")
            && stderr.contains("failed")
            && stderr.contains("run `stackup deploy-release local --build` again"),
        "{stderr}"
    );
    assert_eq!(report, Value::Null);
    assert_eq!(revisions(&fixture), 0, "a revision was registered");
    // Docker retries an upload 5 times, 5 to 20 s apart, before giving up.
    eprintln!("the failed push took {:?}", started.elapsed());

    cutter.forward();
    let (code, report, stderr) = deploy(&cloud, &fixture, &["--build"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["registered"], true, "{report}");
    assert!(running_image(&fixture).contains("@sha256:"));
}

#[test]
fn two_services_building_one_container_differently_are_refused_by_validate() {
    let worker = |context: &str| {
        format!(
            "\n\n[services.web.build.web]\ncontext = \"app\"\n\n[services.worker]\ntask_definition = \"task-defs/web.json\"\nservice_definition = \"task-defs/web-service.json\"\ndesired_count = 1\n\n[services.worker.build.web]\ncontext = \"{context}\"\n"
        )
    };
    for (context, clash) in [("other", true), ("app", false)] {
        // Room for both services' tasks (the capacity check).
        let dir = common::stack_config_dir(&[("hosts = 2", "hosts = 4")]);
        let stack_file = dir.path().join("stacks/local.toml");
        let mut text = std::fs::read_to_string(&stack_file).expect("stack file");
        text.push_str(&worker(context));
        std::fs::write(&stack_file, text).expect("write stack file");
        for folder in ["app", "other"] {
            std::fs::create_dir_all(dir.path().join(folder)).expect("dir");
            std::fs::write(dir.path().join(folder).join("Dockerfile"), "FROM scratch\n")
                .expect("Dockerfile");
        }
        let output = common::stackup_process(dir.path(), "http://127.0.0.1:9")
            .args(["validate", "local"])
            .output()
            .expect("stackup runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if clash {
            assert_eq!(output.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("services web and worker both build container web but differently")
                    && stderr.contains("repository demo-local/web"),
                "{stderr}"
            );
        } else {
            assert!(output.status.success(), "{stderr}");
        }
    }
}

#[test]
fn images_are_built_for_the_architecture_of_the_cluster_s_instances() {
    let cloud = cloud();
    let environment = unique("g");
    let dir = project(&environment, &unique("graviton "));
    let stack_file = dir.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&stack_file).expect("stack file");
    assert!(text.contains("instance_type = \"t3.small\""));
    std::fs::write(
        &stack_file,
        text.replace(
            "instance_type = \"t3.small\"",
            "instance_type = \"t4g.small\"",
        ),
    )
    .expect("write stack file");
    git(dir.path(), &["commit", "-q", "-am", "graviton"]);

    let built = build(&cloud, dir.path(), &["--output", "json"]);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(stderr.contains("(linux/arm64)"), "{stderr}");
    let report: Value = serde_json::from_slice(&built.stdout).expect("JSON report");
    let image = report["images"][0]["image"].as_str().expect("image");
    let docker = if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    };
    let inspected = Command::new(docker)
        .args([
            "-H",
            &cloud.docker_host,
            "image",
            "inspect",
            "--format",
            "{{.Os}}/{{.Architecture}}",
            image,
        ])
        .output()
        .expect("docker inspect");
    assert_eq!(
        String::from_utf8_lossy(&inspected.stdout).trim(),
        "linux/arm64"
    );
}

/// The platform's DeployRole (for whoever only deploys: a person, a CI job)
/// allows every call of `deploy-release --build`, a push included, and of the
/// `--image` look-up, once the images stack holds the repository: making it
/// (a container's first build) is the operator's, as create-stack is. The
/// calls are recorded at a proxy of their own; the role's actions are read
/// from the template (tests/iam_policies.rs proves them on the application's
/// repositories only).
#[test]
fn the_deploy_role_allows_every_call_of_building_and_checking_images() {
    let cloud = cloud();
    let fixture = common::TestStack::new("build-deploy-role", project("local", &unique("role ")));
    fixture.create_stack();
    let (code, _, stderr) = deploy(&cloud, &fixture, &["--build"]);
    assert_eq!(code, Some(0), "the operator's first build: {stderr}");

    // A new commit, built, pushed and deployed through the recording proxy.
    let sources = fixture.config.path();
    std::fs::write(sources.join("app/hello.txt"), unique("changed ")).expect("hello");
    git(sources, &["commit", "-q", "-am", "changed"]);
    let deployer = common::AwsProxy::start(&cloud.moto, &fixture.proxy.account);
    let run = |extra: &[&str]| {
        let output = common::stackup(sources, &deployer.endpoint)
            .env("DOCKER_HOST", &cloud.docker_host)
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("STACKUP_SKIP_IMAGE_CHECK")
            .args(["deploy-release", "local", "--yes"])
            .args(extra)
            .output()
            .expect("stackup runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (code, stderr) = run(&["--build"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("pushing"), "{stderr}");
    let image = running_image(&fixture);
    let (code, stderr) = run(&["--image", &format!("web={image}")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("cannot check"), "{stderr}");

    let used: std::collections::BTreeSet<String> = deployer.actions().into_iter().collect();
    for path in [
        "cloudformation:DescribeStacks",
        "ecr:DescribeRepositories",
        "ecr:GetAuthorizationToken",
        "ecr:DescribeImages",
        "ecs:RegisterTaskDefinition",
    ] {
        assert!(used.contains(path), "the commands called {path}: {used:?}");
    }
    let allowed = deploy_role::deploy_role_actions();
    // GetCallerIdentity needs no permission: AWS answers it for any caller.
    let missing: Vec<&String> = used
        .iter()
        .filter(|action| action.as_str() != "sts:GetCallerIdentity")
        .filter(|action| {
            !allowed
                .iter()
                .any(|pattern| deploy_role::allows(pattern, action))
        })
        .collect();
    assert!(missing.is_empty(), "DeployRole does not allow {missing:?}");
}
