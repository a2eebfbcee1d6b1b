//! ECS tasks as real containers on the local cloud (scripts/moto_server.py,
//! entry 25; scripts/ecs_real_tasks.py): deploy-release of the demo release
//! (demo-app/, built by scripts/demo-image and pushed to the local registry)
//! starts real nodes, each at its task's awsvpc address, named by the real
//! scripts/ecs-entrypoint.sh from a task metadata endpoint v4, with its cookie
//! read from SSM; they find each other by the service's DNS name and form one
//! Erlang cluster, which `console --eval` sees on a node; a stopped container
//! is replaced and the cluster is whole again; `logs` shows the nodes' own
//! lines; an image from elsewhere fails to pull as on AWS.
//!
//! Needs `scripts/local-cloud up` with its Docker engine and registry (as
//! root: the image build and the engine); STACKUP_LOCAL_CLOUD_STATE may name
//! another local cloud's state.json. Every container is stopped at the end.

mod common;
#[path = "common/real_tasks.rs"]
mod real;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::LocalCloud;
use real::{demo_image, demo_image_as, docker, real_stack, SERVICE_DNS_NAME};

/// An expression asking the node's resolver what the service's Cloud Map
/// name answers now: a fresh query (`:inet_res.lookup`), not the answer
/// `:inet_res.getbyname` keeps in the node's cache for the record's TTL.
fn dns_query() -> String {
    format!(
        "Enum.map(:inet_res.lookup(String.to_charlist(\"{SERVICE_DNS_NAME}\"), :in, :a), &to_string(:inet.ntoa(&1)))"
    )
}

#[test]
fn real_nodes_form_one_cluster_are_replaced_and_log_their_lines() {
    let cloud = LocalCloud::load();
    let image = demo_image(&cloud);
    let stack = real_stack("real_tasks_cluster", "10.93.0.0/16", &[], |_| {});

    let started = Instant::now();
    let deployed = stack.deploy(&image, &[]);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    // `stackup cluster`: every task's node, named by the naming rule, connected
    // to the two others, and the verdict whole (exit 0).
    let (running, report) = stack.wait_whole(3, Duration::from_secs(90));
    eprintln!(
        "3 real nodes whole {:?} after deploy-release began",
        started.elapsed()
    );
    let names: BTreeSet<String> = running
        .iter()
        .map(|task| format!("web@{}", task.ip))
        .collect();
    for (node, connected) in report.connections() {
        let mut others = names.clone();
        assert!(
            others.remove(&node),
            "{node} is not a running task's node: {}",
            report.json
        );
        assert_eq!(connected, others, "{node} in {}", report.json);
    }
    let tasks: BTreeSet<&str> = report.json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|node| node["task"].as_str())
        .collect();
    assert_eq!(tasks, running.iter().map(|task| task.id.as_str()).collect());
    assert_eq!(
        report.json["services"][0]["verdict"], "whole",
        "{}",
        report.json
    );

    for task in &running {
        assert!(
            task.ip.starts_with("10.93."),
            "{} is outside the VPC",
            task.ip
        );
        let inspected = docker(&cloud)
            .args([
                "inspect",
                "--format",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                &task.runtime_id,
            ])
            .output()
            .expect("docker inspect");
        assert_eq!(
            String::from_utf8_lossy(&inspected.stdout).trim(),
            task.ip,
            "container {}",
            task.runtime_id
        );
        // console --eval on the real node sees the same cluster.
        let mut others: BTreeSet<String> = running.iter().map(|t| t.ip.clone()).collect();
        others.remove(&task.ip);
        assert_eq!(
            stack.peers_seen_by(&task.id),
            Some(others),
            "web@{}",
            task.ip
        );
    }

    // The nodes found each other by the Cloud Map name the shipped template
    // passes ({{service.dns_name}}), which answers, from inside a task, with
    // every running task's address.
    let sdk = stack.fixture.sdk();
    let definition = common::block_on(async {
        aws_sdk_ecs::Client::new(&sdk)
            .describe_task_definition()
            .task_definition("demo-local-v1-web")
            .send()
            .await
            .expect("describe task definition")
    });
    let query = definition
        .task_definition()
        .and_then(|definition| definition.container_definitions().first())
        .and_then(|container| {
            container
                .environment()
                .iter()
                .find(|variable| variable.name() == Some("DNS_CLUSTER_QUERY"))
                .and_then(|variable| variable.value().map(str::to_string))
        });
    assert_eq!(query.as_deref(), Some(SERVICE_DNS_NAME));
    let answered = stack
        .eval_on(&running[0].id, &dns_query())
        .expect("the DNS lookup runs on the node");
    let answered: BTreeSet<String> = answered
        .split('"')
        .filter(|word| word.starts_with("10.93."))
        .map(str::to_string)
        .collect();
    assert_eq!(
        answered,
        running.iter().map(|task| task.ip.clone()).collect(),
        "{SERVICE_DNS_NAME} from inside a task"
    );

    // The nodes' own lines, in each task's stream (<prefix>/<container>/<task id>).
    let logs = stack
        .fixture
        .stackup()
        .args(["logs", "local", "--since", "30m"])
        .output()
        .expect("logs runs");
    let logs = String::from_utf8_lossy(&logs.stdout);
    for task in &running {
        assert!(
            logs.lines()
                .any(|line| line.contains(&format!("web/web/{}", task.id))
                    && line.contains(&format!("demo started: node=web@{}", task.ip))),
            "no start line of web@{} in task {}'s stream:\n{logs}",
            task.ip,
            task.id
        );
    }

    // A container that stops on its own: `cluster` says the cluster is not
    // whole (its node is missing) until the task is stopped with its exit
    // code, replaced, and the new node joins.
    let gone = running[0].clone();
    let stopped = docker(&cloud)
        .args(["stop", "--time", "10", &gone.runtime_id])
        .stdout(Stdio::null())
        .status();
    assert!(stopped.expect("docker stop").success());
    let report = stack.cluster();
    assert_eq!(report.code, Some(1), "{}\n{}", report.json, report.stderr);
    assert_eq!(report.json["whole"], false);
    assert_eq!(
        report.json["services"][0]["verdict"], "missing",
        "{}",
        report.json
    );
    assert_eq!(
        report.json["services"][0]["missing"],
        serde_json::json!([format!("web@{}", gone.ip)]),
        "{}",
        report.json
    );
    assert!(report.stderr.contains("not whole"), "{}", report.stderr);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stack
        .tasks("STOPPED")
        .iter()
        .any(|task| task.id == gone.id && task.stop_code == "EssentialContainerExited")
    {
        assert!(
            Instant::now() < deadline,
            "task {} was not stopped after its container exited",
            gone.id
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (again, report) = stack.wait_whole(3, Duration::from_secs(90));
    assert!(again
        .iter()
        .all(|task| task.id != gone.id && task.ip != gone.ip));
    assert!(
        !report
            .json
            .to_string()
            .contains(&format!("web@{}\"", gone.ip)),
        "{}",
        report.json
    );

    // An image the local cloud cannot pull fails the rollout as on AWS.
    let failed = stack.deploy("ghcr.io/example/demo:1.0.0", &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("CannotPullContainerError"), "{stderr}");
}

/// The app security group opens EPMD and the distribution range between tasks
/// and nothing else: nodes whose distribution port is not pinned to that range
/// (no DISTRIBUTION_PORTS, so a random port) do not connect, as on AWS; their
/// HTTP port, which the group opens only from the load balancer, is closed
/// between tasks too.
#[test]
fn nodes_whose_distribution_port_the_security_group_closes_stay_apart() {
    let cloud = LocalCloud::load();
    let image = demo_image(&cloud);
    let stack = real_stack("real_tasks_unpinned", "10.94.0.0/16", &[], |definition| {
        definition["containerDefinitions"][0]["environment"]
            .as_array_mut()
            .expect("environment")
            .retain(|variable| variable["name"] != "DISTRIBUTION_PORTS");
    });
    let deployed = stack.deploy(&image, &[]);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let running = stack.tasks("RUNNING");
    assert_eq!(running.len(), 3);
    // Each node resolves the others (EPMD 4369 is open) but cannot reach their
    // distribution port: give discovery (every 3 s) several rounds.
    std::thread::sleep(Duration::from_secs(12));
    for task in &running {
        let (ip, runtime_id) = (&task.ip, &task.runtime_id);
        assert_eq!(
            stack.peers_seen_by(&task.id),
            Some(BTreeSet::new()),
            "web@{ip} joined others through a port its security group closes"
        );
        let other = &running
            .iter()
            .find(|other| other.ip != *ip)
            .expect("another task")
            .ip;
        let probe = docker(&cloud)
            .args([
                "exec",
                runtime_id,
                "curl",
                "-s",
                "-m",
                "3",
                &format!("http://{other}:4000/health"),
            ])
            .output()
            .expect("docker exec");
        assert!(
            !probe.status.success(),
            "{ip} reached {other}:4000 between tasks"
        );
    }
}

/// With `cookie = "release"` and `node_name = "release"`, a second release's
/// nodes do not join the first release's, though both run at once under the
/// one Cloud Map name during the rollout. The rollout is caught half-way: the
/// local cloud's ECS model takes one scheduler step per DescribeServices, so
/// after `deploy-release --no-wait` and one step (maximumPercent 150,
/// minimumHealthyPercent 50 of 3 tasks: one old task stops, two new start)
/// it stays there while nothing describes the service (`cluster` and
/// `console` do not). On AWS the same overlap lasts while the new tasks pass
/// their health checks and the old ones drain.
#[test]
fn a_second_release_with_its_own_cookie_does_not_join_the_first() {
    let cloud = LocalCloud::load();
    let first_image = demo_image(&cloud);
    let second_image = demo_image_as(&cloud, "-second");
    let stack = real_stack(
        "real_tasks_releases",
        "10.95.0.0/16",
        &[(
            "cookie = \"stack\"",
            "cookie = \"release\"\nnode_name = \"release\"",
        )],
        |_| {},
    );
    let deployed = stack.deploy(&first_image, &[]);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let (first, _) = stack.wait_whole(3, Duration::from_secs(90));
    let first_revision = first[0].revision.clone();
    let first_name = |task: &real::RealTask| format!("web-r{first_revision}@{}", task.ip);

    let deployed = stack.deploy(&second_image, &["--no-wait"]);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    // The one scheduler step.
    let new = stack.tasks("PENDING");
    assert_eq!(new.len(), 2, "{new:?}");
    let second_revision = new[0].revision.clone();
    assert_ne!(second_revision, first_revision);
    let second_name = |task: &real::RealTask| format!("web-r{second_revision}@{}", task.ip);
    let old = stack.tasks_unstepped("RUNNING");
    assert_eq!(old.len(), 2, "{old:?}");
    assert!(old.iter().all(|task| task.revision == first_revision));

    // The second release's two nodes start, find each other by the name and
    // connect: asked in their containers, as the console asks a node.
    let containers: Vec<String> = new
        .iter()
        .map(|task| {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(container) = stack.container_of(&task.arn) {
                    return container;
                }
                assert!(
                    Instant::now() < deadline,
                    "no container for task {}",
                    task.id
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = stack.rpc_in_container(
            &containers[0],
            &second_name(&new[0]),
            "IO.inspect(Enum.map(Node.list(), &Atom.to_string/1))",
        );
        if seen
            .as_ref()
            .is_ok_and(|seen| seen.contains(&format!("\"{}\"", second_name(&new[1]))))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second release's nodes did not connect: {seen:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // The name answers with both releases' addresses...
    let answered = stack
        .eval_on(&old[0].id, &dns_query())
        .expect("the DNS lookup runs on the node");
    for task in old.iter().chain(&new) {
        assert!(
            answered.contains(&format!("\"{}\"", task.ip)),
            "{SERVICE_DNS_NAME} does not answer {}: {answered}",
            task.ip
        );
    }
    // ...yet each release is a cluster of its own. `cluster` asks the running
    // tasks (the new ones are not running for ECS yet: missing) and finds the
    // old nodes connected to each other only.
    let report = stack.cluster();
    assert_eq!(report.code, Some(1), "{}\n{}", report.json, report.stderr);
    let service = &report.json["services"][0];
    assert_eq!(service["verdict"], "missing", "{}", report.json);
    let mut old_names: Vec<String> = old.iter().map(first_name).collect();
    old_names.sort();
    let mut new_names: Vec<String> = new.iter().map(second_name).collect();
    new_names.sort();
    assert_eq!(
        service["groups"],
        serde_json::json!([old_names]),
        "{}",
        report.json
    );
    assert_eq!(
        service["missing"],
        serde_json::json!(new_names),
        "{}",
        report.json
    );
    for (node, connected) in report.connections() {
        if old_names.contains(&node) {
            let others: BTreeSet<String> = old_names
                .iter()
                .filter(|name| **name != node)
                .cloned()
                .collect();
            assert_eq!(connected, others, "{node} in {}", report.json);
        }
    }
    // A new node that asks for an old node by its right name is refused: the
    // cookies differ (each release has its own, cookie = "release").
    for task in &old {
        let answer = stack
            .rpc_in_container(
                &containers[0],
                &second_name(&new[0]),
                &format!("IO.inspect(Node.connect(:\"{}\"))", first_name(task)),
            )
            .expect("rpc on the new node");
        assert_eq!(
            answer.trim(),
            "false",
            "{} joined {}",
            second_name(&new[0]),
            first_name(task)
        );
    }

    // The rollout ends: the second release alone, whole.
    let (second, report) = stack.wait_whole(3, Duration::from_secs(120));
    assert!(
        second.iter().all(|task| task.revision == second_revision),
        "{second:?}"
    );
    let names: BTreeSet<String> = report
        .connections()
        .into_iter()
        .map(|(node, _)| node)
        .collect();
    assert_eq!(names, second.iter().map(second_name).collect());
}
