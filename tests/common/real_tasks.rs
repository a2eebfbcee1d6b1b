//! Helpers of tests/real_tasks.rs (included there with `#[path]`, so other
//! test binaries do not compile it): the demo image in the local registry, a
//! stack whose account runs its tasks as real containers, its tasks as ECS
//! says them, and `stackup cluster` / `console --eval` on its nodes.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, block_on, LocalCloud, TestStack};

pub const CLUSTER: &str = "demo-local-v1";
/// The Cloud Map name of service web: `<service>.<stack id>.internal`, the
/// platform stack's namespace (README, "Clustering").
pub const SERVICE_DNS_NAME: &str = "web.demo-local-v1.internal";

pub fn docker(cloud: &LocalCloud) -> Command {
    let mut command = Command::new(if std::path::Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    });
    command.env(
        "DOCKER_HOST",
        cloud.state["docker"]["host"]
            .as_str()
            .expect("state.json has docker.host: run scripts/local-cloud up"),
    );
    command
}

/// The demo image built by scripts/demo-image (once per run): `stackup-demo:<tag>`.
fn local_demo_image(cloud: &LocalCloud) -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let built = Command::new(common::repo_root().join("scripts/demo-image"))
                .env(
                    "DOCKER_HOST",
                    cloud.state["docker"]["host"].as_str().expect("docker host"),
                )
                .stderr(Stdio::inherit())
                .output()
                .expect("scripts/demo-image runs");
            assert!(built.status.success(), "scripts/demo-image failed");
            String::from_utf8_lossy(&built.stdout)
                .lines()
                .find_map(|line| line.strip_prefix("image "))
                .expect("scripts/demo-image names its image")
                .to_string()
        })
        .clone()
}

/// The demo image in the local registry as `real-tasks/web:<tag><suffix>`
/// (a suffix gives the same image another reference, so a deploy of it is a
/// new release), logged in with the password ECR's token carries.
pub fn demo_image_as(cloud: &LocalCloud, suffix: &str) -> String {
    let local = local_demo_image(cloud);
    let registry = &cloud.state["registry"];
    let address = registry["address"]
        .as_str()
        .expect("state.json has no registry: run scripts/local-cloud up");
    let tag = local.rsplit(':').next().expect("a tag");
    let image = format!("{address}/real-tasks/web:{tag}{suffix}");
    let config = tempfile::tempdir().expect("docker config dir");
    let password = std::fs::read_to_string(registry["password_file"].as_str().expect("file"))
        .expect("registry password");
    let mut login = docker(cloud)
        .arg("--config")
        .arg(config.path())
        .args(["login", "--username", "AWS", "--password-stdin", address])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker login");
    login
        .stdin
        .take()
        .expect("stdin")
        .write_all(password.trim().as_bytes())
        .expect("password to docker login");
    assert!(login.wait().expect("login").success(), "docker login");
    let tagged = docker(cloud).args(["tag", &local, &image]).status();
    assert!(tagged.expect("docker tag").success());
    let pushed = docker(cloud)
        .arg("--config")
        .arg(config.path())
        .args(["push", &image])
        .stdout(Stdio::null())
        .status()
        .expect("docker push");
    assert!(pushed.success(), "docker push {image}");
    image
}

/// The demo image in the local registry, pushed once per run.
pub fn demo_image(cloud: &LocalCloud) -> String {
    static PUSHED: OnceLock<String> = OnceLock::new();
    PUSHED.get_or_init(|| demo_image_as(cloud, "")).clone()
}

/// A stack of three web tasks in its own VPC range, in an account whose tasks
/// run as containers; `stack_edits` (text, replacement) edit the stack file,
/// `task_definition` the shipped web.json.
pub fn real_stack(
    test: &str,
    cidr: &str,
    stack_edits: &[(&str, &str)],
    task_definition: impl Fn(&mut Value),
) -> Deployed {
    let cloud = LocalCloud::load();
    let config = common::database_config_dir(&cloud, "unused", None, None, None);
    let stack_file = config.path().join("stacks/local.toml");
    let mut text = std::fs::read_to_string(&stack_file).expect("stack file");
    for (from, to) in [
        (
            "cidr = \"10.20.0.0/16\"",
            format!("cidr = \"{cidr}\"").as_str(),
        ),
        ("hosts = 2", "hosts = 3"),
        ("desired_count = 2", "desired_count = 3"),
    ]
    .iter()
    .chain(stack_edits)
    {
        assert!(text.contains(from), "stack file edit: {from:?} not found");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&stack_file, text).expect("write stack file");
    let template = config.path().join("task-defs/web.json");
    let mut definition: Value =
        serde_json::from_str(&std::fs::read_to_string(&template).expect("web.json")).expect("JSON");
    task_definition(&mut definition);
    std::fs::write(&template, definition.to_string()).expect("write web.json");
    let fixture = TestStack::new(test, config);
    common::moto_control(
        &fixture.proxy,
        "/moto-api/ecs-model/real-tasks",
        &serde_json::json!({"enabled": true}),
    );
    fixture.create_stack();
    Deployed { fixture, cloud }
}

/// A task as ECS describes it.
#[derive(Clone, Debug)]
pub struct RealTask {
    pub id: String,
    pub arn: String,
    pub ip: String,
    /// The container's id (empty until ECS says the task runs).
    pub runtime_id: String,
    pub stop_code: String,
    /// The revision of its task definition.
    pub revision: String,
}

/// What `stackup --output json cluster local` said.
pub struct ClusterReport {
    pub code: Option<i32>,
    pub json: Value,
    pub stderr: String,
}

impl ClusterReport {
    pub fn whole(&self) -> bool {
        self.code == Some(0) && self.json["whole"] == true
    }

    /// Node name -> the nodes it said it is connected to.
    pub fn connections(&self) -> Vec<(String, BTreeSet<String>)> {
        self.json["nodes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|node| {
                (
                    node["node"].as_str().unwrap_or_default().to_string(),
                    node["connected"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|peer| peer.as_str().map(str::to_string))
                        .collect(),
                )
            })
            .collect()
    }
}

pub struct Deployed {
    pub fixture: TestStack,
    pub cloud: LocalCloud,
}

impl Deployed {
    pub fn deploy(&self, image: &str, extra: &[&str]) -> std::process::Output {
        self.fixture
            .stackup()
            .args(["deploy-release", "local", "--yes", "--timeout", "4m"])
            .args(["--image", &format!("web={image}")])
            .args(extra)
            .output()
            .expect("deploy-release runs")
    }

    /// The service's tasks with a given last status, after one scheduler step
    /// of the local cloud's ECS model (a DescribeServices of the service).
    pub fn tasks(&self, status: &str) -> Vec<RealTask> {
        self.list_tasks(status, true)
    }

    /// The same, without the scheduler step: the rollout stays where it is.
    pub fn tasks_unstepped(&self, status: &str) -> Vec<RealTask> {
        self.list_tasks(status, false)
    }

    fn list_tasks(&self, status: &str, step: bool) -> Vec<RealTask> {
        let config = self.fixture.sdk();
        block_on(async {
            let ecs = aws_sdk_ecs::Client::new(&config);
            if step {
                ecs.describe_services()
                    .cluster(CLUSTER)
                    .services("web")
                    .send()
                    .await
                    .expect("describe services");
            }
            let arns = ecs
                .list_tasks()
                .cluster(CLUSTER)
                .service_name("web")
                .desired_status(if status == "STOPPED" {
                    aws_sdk_ecs::types::DesiredStatus::Stopped
                } else {
                    aws_sdk_ecs::types::DesiredStatus::Running
                })
                .send()
                .await
                .expect("list tasks");
            if arns.task_arns().is_empty() {
                return Vec::new();
            }
            let described = ecs
                .describe_tasks()
                .cluster(CLUSTER)
                .set_tasks(Some(arns.task_arns().to_vec()))
                .send()
                .await
                .expect("describe tasks");
            described
                .tasks()
                .iter()
                .filter(|task| task.last_status() == Some(status))
                .map(|task| {
                    let container = &task.containers()[0];
                    let arn = task.task_arn().unwrap_or_default().to_string();
                    RealTask {
                        id: arn.rsplit('/').next().unwrap_or_default().to_string(),
                        ip: container.network_interfaces()[0]
                            .private_ipv4_address()
                            .unwrap_or_default()
                            .to_string(),
                        runtime_id: container.runtime_id().unwrap_or_default().to_string(),
                        stop_code: task
                            .stop_code()
                            .map(|code| code.as_str().to_string())
                            .unwrap_or_default(),
                        revision: task
                            .task_definition_arn()
                            .and_then(|definition| definition.rsplit(':').next())
                            .unwrap_or_default()
                            .to_string(),
                        arn,
                    }
                })
                .collect()
        })
    }

    /// `stackup --output json cluster local`.
    pub fn cluster(&self) -> ClusterReport {
        let output = self
            .fixture
            .stackup()
            .args(["--output", "json", "cluster", "local"])
            .timeout(Duration::from_secs(90))
            .output()
            .expect("stackup cluster runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "cluster --output json printed no JSON ({error}): {}{stderr}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        ClusterReport {
            code: output.status.code(),
            json,
            stderr,
        }
    }

    /// `console --eval EXPR` on `task`: its stdout, or None when it failed.
    pub fn eval_on(&self, task: &str, expression: &str) -> Option<String> {
        let output = self
            .fixture
            .stackup()
            .args(["console", "local", "--task", task, "--eval", expression])
            .timeout(Duration::from_secs(60))
            .output()
            .expect("console runs");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `console --eval 'Node.list()'` on `task`: the peers' addresses.
    pub fn peers_seen_by(&self, task: &str) -> Option<BTreeSet<String>> {
        self.eval_on(task, "Node.list()").map(|stdout| {
            stdout
                .split('"')
                .filter_map(|word| word.strip_prefix("web@"))
                .map(str::to_string)
                .collect()
        })
    }

    /// Steps the scheduler until `stackup cluster` says whole (exit 0) with
    /// `count` nodes; the running tasks and the report.
    pub fn wait_whole(&self, count: usize, within: Duration) -> (Vec<RealTask>, ClusterReport) {
        let deadline = Instant::now() + within;
        loop {
            let running = self.tasks("RUNNING");
            if running.len() == count && self.tasks_unstepped("PENDING").is_empty() {
                let report = self.cluster();
                if report.whole() && report.json["nodes"].as_array().map(Vec::len) == Some(count) {
                    return (running, report);
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster is not whole after {within:?}: exit {:?}, {}\n{}",
                    report.code,
                    report.json,
                    report.stderr
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} tasks running after {within:?}, {count} wanted",
                running.len()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// `docker exec` of the service's eval command on a container by hand (as
    /// `console --eval` runs it on the host), for a task ECS does not yet say
    /// runs: the release's `rpc` as node `node`.
    /// `Err` says why the rpc failed (the node still starting, say).
    pub fn rpc_in_container(
        &self,
        container: &str,
        node: &str,
        expression: &str,
    ) -> Result<String, String> {
        let output = docker(&self.cloud)
            .args(["exec", "-e", &format!("RELEASE_NODE={node}")])
            .args(["-e", "RELEASE_DISTRIBUTION=name", container])
            .args(["/app/bin/demo", "rpc", expression])
            .output()
            .expect("docker exec");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "rpc on {node}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// The container running task `arn`, once there is one (the launcher
    /// labels each with its task ARN).
    pub fn container_of(&self, arn: &str) -> Option<String> {
        let listed = docker(&self.cloud)
            .args([
                "ps",
                "--filter",
                &format!("label=com.amazonaws.ecs.task-arn={arn}"),
            ])
            .args(["--format", "{{.ID}}"])
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .next()
            .map(str::to_string)
    }
}

impl Drop for Deployed {
    /// The service goes, so the launcher stops its containers; then none is left.
    fn drop(&mut self) {
        let config = self.fixture.sdk();
        block_on(async {
            let ecs = aws_sdk_ecs::Client::new(&config);
            let _ = ecs
                .delete_service()
                .cluster(CLUSTER)
                .service("web")
                .force(true)
                .send()
                .await;
        });
        let account = format!(":{}:", self.fixture.proxy.account);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listed = docker(&self.cloud)
                .args([
                    "ps",
                    "-a",
                    "--format",
                    "{{.ID}} {{.Label \"com.amazonaws.ecs.task-arn\"}}",
                ])
                .output()
                .expect("docker ps");
            let ours: Vec<String> = String::from_utf8_lossy(&listed.stdout)
                .lines()
                .filter(|line| line.contains(&account))
                .filter_map(|line| line.split_whitespace().next().map(str::to_string))
                .collect();
            if ours.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                let _ = docker(&self.cloud).arg("rm").arg("-f").args(&ours).status();
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
