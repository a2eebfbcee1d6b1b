//! status against moto, after create-stack and deploy-release (the local
//! cloud models ECS rollouts, so services have RUNNING tasks with addresses).

mod common;

use common::block_on;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use common::TestStack;

const CLUSTER: &str = "demo-local-v1";

/// A second service in the stack file, which the tests never deploy.
const WORKER: (&str, &str) = (
    "cookie = \"stack\"",
    "cookie = \"stack\"\n\n[services.worker]\ntask_definition = \"task-defs/web.json\"\nservice_definition = \"task-defs/web-service.json\"\ndesired_count = 1",
);
/// Hosts for two services: web and worker run 5 awsvpc tasks at a
/// deployment's peak, more than 2 t3.small hosts take (release/capacity.rs).
const THREE_HOSTS: (&str, &str) = ("hosts = 2", "hosts = 3");

/// A stack file and an account of the test's own, nothing created yet.
fn empty_fixture(test: &str, edits: &[(&str, &str)]) -> TestStack {
    TestStack::new(test, common::stack_config_dir(edits))
}

/// The stack created and `web` deployed.
fn deployed_fixture(test: &str, edits: &[(&str, &str)]) -> TestStack {
    let fixture = empty_fixture(test, edits);
    fixture.create_stack();
    fixture
        .stackup()
        .args(["deploy-release", "local", "--yes", "--service", "web"])
        .args(["--image", "web=ghcr.io/example/demo:1.0.0"])
        .assert()
        .success();
    fixture
}

impl TestStack {
    /// `status --output json`, which must succeed and print one JSON document.
    fn status_json(&self) -> serde_json::Value {
        let output = self
            .stackup()
            .args(["--output", "json", "status", "local"])
            .output()
            .expect("runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("status --output json is one JSON document")
    }

    /// The node names of web's running tasks, by the Rust rule over DescribeTasks.
    fn node_names_from_describe_tasks(&self) -> BTreeSet<String> {
        let ecs = aws_sdk_ecs::Client::new(&self.sdk());
        block_on(async {
            let arns = ecs
                .list_tasks()
                .cluster(CLUSTER)
                .service_name("web")
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
                .send()
                .await
                .expect("list tasks")
                .task_arns()
                .to_vec();
            assert!(!arns.is_empty(), "web has running tasks");
            ecs.describe_tasks()
                .cluster(CLUSTER)
                .set_tasks(Some(arns))
                .send()
                .await
                .expect("describe tasks")
                .tasks()
                .iter()
                .filter(|task| task.last_status() == Some("RUNNING"))
                .map(|task| {
                    stackup::release::node_name::task_node_name(
                        stackup::config::NodeNameMode::Ip,
                        "web",
                        task,
                    )
                    .expect("a running awsvpc task has a node name")
                })
                .collect()
        })
    }

    /// Two datapoints of web's CPU: 20% five minutes ago, 42.5% two minutes ago.
    fn put_web_cpu(&self) {
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&self.sdk());
        let now = SystemTime::now();
        let datum = |ago: u64, value: f64| {
            MetricDatum::builder()
                .metric_name("CPUUtilization")
                .dimensions(
                    Dimension::builder()
                        .name("ClusterName")
                        .value(CLUSTER)
                        .build(),
                )
                .dimensions(
                    Dimension::builder()
                        .name("ServiceName")
                        .value("web")
                        .build(),
                )
                .timestamp((now - Duration::from_secs(ago)).into())
                .value(value)
                .unit(StandardUnit::Percent)
                .build()
        };
        block_on(async {
            cloudwatch
                .put_metric_data()
                .namespace("AWS/ECS")
                .metric_data(datum(300, 20.0))
                .metric_data(datum(120, 42.5))
                .send()
                .await
                .expect("put metric data")
        });
    }
}

fn strings<'a>(values: impl IntoIterator<Item = &'a serde_json::Value>, key: &str) -> Vec<String> {
    values
        .into_iter()
        .map(|value| value[key].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn status_shows_the_stacks_a_stable_service_and_its_nodes_by_name() {
    let fixture = deployed_fixture("status-deployed", &[WORKER, THREE_HOSTS]);
    let before = fixture.proxy.operations().len();
    let report = fixture.status_json();
    let calls: Vec<String> = fixture.proxy.operations()[before..].to_vec();
    // CloudWatch's RPCv2 CBOR requests name their operation only in the URL
    // path, which the harness does not read: it records them as "?".
    let writes: Vec<&String> = calls
        .iter()
        .filter(|operation| !common::is_read_only(operation) && operation.as_str() != "?")
        .collect();
    assert!(writes.is_empty(), "status only reads: {writes:?}");

    assert_eq!(report["stack"], "local");
    assert_eq!(report["cluster"], CLUSTER);
    let stacks = report["stacks"].as_array().expect("stacks");
    assert_eq!(
        strings(stacks, "name"),
        ["demo-local-v1-network", "demo-local-v1-platform"]
    );
    for stack in stacks {
        assert!(
            stack["status"]
                .as_str()
                .unwrap_or_default()
                .ends_with("_COMPLETE"),
            "{stack}"
        );
        let events = stack["events"].as_array().expect("events");
        assert!(!events.is_empty() && events.len() <= 5, "{stack}");
    }

    let services = report["services"].as_array().expect("services");
    assert_eq!(strings(services, "name"), ["web", "worker"]);
    let web = &services[0];
    assert_eq!(web["deployed"], true);
    assert_eq!(web["stable"], true, "{web}");
    assert_eq!(web["revision"], 1);
    assert_eq!(
        (web["running"].as_i64(), web["desired"].as_i64()),
        (Some(2), Some(2))
    );
    let deployments = web["deployments"].as_array().expect("deployments");
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0]["status"], "PRIMARY");
    assert_eq!(deployments[0]["rollout_state"], "COMPLETED");
    let events = strings(web["events"].as_array().expect("events"), "message");
    assert!(
        events
            .last()
            .is_some_and(|last| last.contains("has reached a steady state")),
        "{events:?}"
    );

    let tasks = web["tasks"].as_array().expect("tasks");
    let node_names: BTreeSet<String> = strings(tasks, "node_name").into_iter().collect();
    assert_eq!(node_names, fixture.node_names_from_describe_tasks());
    for task in tasks {
        let node = task["node_name"].as_str().expect("node name");
        let ip = task["private_ip"].as_str().expect("private ip");
        assert!(node == format!("web@{ip}"), "{task}");
        assert!(
            ip.starts_with("10.20."),
            "an address of the stack's VPC: {task}"
        );
        assert!(task["availability_zone"]
            .as_str()
            .is_some_and(|zone| zone.starts_with("us-east-1")));
        assert_eq!(
            task["host"],
            serde_json::Value::Null,
            "moto's cluster has no container instances"
        );
        assert!(task["health"].is_string(), "{task}");
        assert!(task["started_at"].is_string(), "{task}");
        assert!(
            task["age_seconds"].as_u64().is_some_and(|age| age < 600),
            "{task}"
        );
    }

    let worker = &services[1];
    assert_eq!(worker["deployed"], false);
    assert_eq!(worker["stable"], false);
    assert!(worker["tasks"].as_array().is_some_and(Vec::is_empty));

    assert_eq!(report["hosts"], serde_json::json!([]));
    let metrics = &report["metrics"];
    assert_eq!(
        (
            metrics["period_seconds"].as_u64(),
            metrics["window_seconds"].as_u64()
        ),
        (Some(60), Some(900))
    );
    assert_eq!(
        strings(
            metrics["services"].as_array().expect("service metrics"),
            "name"
        ),
        ["web", "worker"]
    );
    assert!(metrics["cluster"].get("cpu").is_some() && metrics["cluster"].get("memory").is_some());

    let output = fixture
        .stackup()
        .args(["status", "local"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for node in &node_names {
        assert!(
            text.contains(node.as_str()),
            "{node} is in the text:\n{text}"
        );
    }
    for expected in [
        "demo-local-v1-network  CREATE_COMPLETE",
        "web: stable, revision 1, running 2 of 2",
        "worker: not deployed; `stackup deploy-release local` creates it",
        "has reached a steady state",
        "no EC2 container instance is registered in cluster demo-local-v1",
        "Metrics (average per 60s, newest in the last 15 minutes)",
        "service web ",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} is in the text:\n{text}"
        );
    }
}

#[test]
fn status_before_create_stack_exits_1_and_names_the_command_to_run() {
    let fixture = empty_fixture("status-no-stack", &[]);
    fixture
        .stackup()
        .args(["status", "local"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains(
            "stacks demo-local-v1-network and demo-local-v1-platform do not exist yet",
        ))
        .stderr(predicates::str::contains(
            "run `stackup create-stack local` to create them",
        ));
}

#[test]
fn status_before_deploy_release_shows_every_service_as_not_deployed() {
    let fixture = empty_fixture("status-no-release", &[]);
    fixture.create_stack();
    let report = fixture.status_json();
    let web = &report["services"][0];
    assert_eq!(web["name"], "web");
    assert_eq!(web["deployed"], false);
    assert_eq!(web["stable"], false);
    assert_eq!(
        report["metrics"]["services"][0]["cpu"],
        serde_json::Value::Null
    );
}

/// aws-sdk-cloudwatch speaks only Smithy RPCv2 CBOR, which moto 5.2.5 does
/// not (getmoto/moto#9195); the local cloud's launcher bridges it (section 9
/// of scripts/moto_server.py), so this goes through the real SDK and protocol.
#[test]
fn status_shows_the_newest_cloudwatch_datapoint_of_each_metric() {
    let fixture = deployed_fixture("status-metrics", &[]);
    fixture.put_web_cpu();
    let report = fixture.status_json();
    let metrics = &report["metrics"];
    assert_eq!(metrics["error"], serde_json::Value::Null, "{metrics}");
    assert_eq!(metrics["services"][0]["name"], "web");
    assert_eq!(
        metrics["services"][0]["cpu"]["percent"], 42.5,
        "the newest datapoint: {metrics}"
    );
    assert_eq!(metrics["services"][0]["memory"], serde_json::Value::Null);
    assert_eq!(metrics["cluster"]["cpu"], serde_json::Value::Null);

    let output = fixture
        .stackup()
        .args(["status", "local"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.lines().any(|line| line.contains("service web")
            && line.contains("CPU 42.5% at ")
            && line.contains("memory no data")),
        "{text}"
    );
}

/// A task is named as the revision it runs says: the stack file changed to
/// `node_name = "task"` (not deployed yet) does not rename the running nodes;
/// deployed, it does.
#[test]
fn status_names_each_node_as_its_revision_says() {
    let fixture = deployed_fixture("status-names-by-revision", &[]);
    let stack_file = fixture.config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&stack_file).expect("stack file");
    std::fs::write(
        &stack_file,
        text.replacen(
            "node_basename = \"web\"",
            "node_basename = \"web\"\nnode_name = \"task\"",
            1,
        ),
    )
    .expect("write");
    let names = |status: &serde_json::Value| {
        strings(
            status["services"][0]["tasks"].as_array().expect("tasks"),
            "node_name",
        )
    };
    let before = names(&fixture.status_json());
    assert!(!before.is_empty());
    assert!(
        before.iter().all(|name| name.starts_with("web@")),
        "the running revision names by ip: {before:?}"
    );
    fixture
        .stackup()
        .args(["deploy-release", "local", "--yes", "--service", "web"])
        .assert()
        .success();
    let after = names(&fixture.status_json());
    assert!(
        after
            .iter()
            .all(|name| name.starts_with("web-") && name.contains('@')),
        "the new revision names by task: {after:?}"
    );
}
