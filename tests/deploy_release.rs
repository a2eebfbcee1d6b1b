//! deploy-release and rollback against moto, with the local cloud's model of
//! ECS rollouts (scripts/moto_server.py) so that the wait path runs end to end.

mod common;
#[path = "common/deploy_role.rs"]
mod deploy_role;

use common::block_on;
use deploy_role::{allows, deploy_role_actions};

use std::io::Write;

use common::TestStack;

/// A second service, worker, of the same templates as web.
const WITH_WORKER: (&str, &str) = ("cookie = \"stack\"", "cookie = \"stack\"\n\n[services.worker]\ntask_definition = \"task-defs/web.json\"\nservice_definition = \"task-defs/web-service.json\"\ndesired_count = 1");
/// Hosts for two services: at a deployment's peak web and worker run 5 awsvpc
/// tasks, which 2 t3.small hosts (2 tasks each) cannot take (release/capacity.rs).
const THREE_HOSTS: (&str, &str) = ("hosts = 2", "hosts = 3");

/// The local stack file with `edits`, created in the account of `test`.
fn fixture(test: &str, edits: &[(&str, &str)]) -> TestStack {
    let fixture = TestStack::new(test, common::stack_config_dir(edits));
    fixture.create_stack();
    fixture
}

impl TestStack {
    /// stackup with `--output json` and `args`: exit code, JSON report, stderr.
    fn json_run(&self, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
        let output = self
            .stackup()
            .args(["--output", "json"])
            .args(args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        let report = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
        (output.status.code(), report, stderr)
    }

    /// `-vv deploy-release local --yes` with `extra`.
    fn deploy(&self, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
        self.json_run(&[&["-vv", "deploy-release", "local", "--yes"], extra].concat())
    }

    /// `rollback local --yes` with `extra`.
    fn rollback(&self, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
        self.json_run(&[&["rollback", "local", "--yes"], extra].concat())
    }

    fn fail_next_deployment(&self, reason: &str) {
        common::moto_control(
            &self.proxy,
            "/moto-api/ecs-model/fail-deployments",
            &serde_json::json!({"account_id": self.proxy.account, "cluster": "demo-local-v1", "service": "web", "reason": reason}),
        );
    }

    fn service_task_definition(&self) -> String {
        block_on(common::web_service(&self.sdk()))
            .task_definition()
            .expect("task definition")
            .to_string()
    }
}

#[test]
fn a_release_is_registered_rolled_out_and_recorded_with_the_cookie_only_as_a_reference() {
    let fixture = fixture("deploy-first", &[]);
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let web = &report["services"][0];
    assert_eq!(web["result"], "completed");
    assert_eq!(web["registered"], true);
    assert_eq!(web["created"], true);
    assert!(
        stderr.contains("has reached a steady state"),
        "service events are shown: {stderr}"
    );

    let config = fixture.sdk();
    let (cookie, cookie_type) = block_on(async {
        let parameter = aws_sdk_ssm::Client::new(&config)
            .get_parameter()
            .name("/stackup/demo-local-v1/cookie")
            .with_decryption(true)
            .send()
            .await
            .expect("cookie parameter")
            .parameter()
            .cloned()
            .expect("parameter");
        (
            parameter.value().expect("value").to_string(),
            parameter.r#type().cloned(),
        )
    });
    assert_eq!(
        cookie_type,
        Some(aws_sdk_ssm::types::ParameterType::SecureString)
    );
    assert!(cookie.len() >= 48 && cookie.chars().all(|c| c.is_ascii_alphanumeric()));

    let definition = block_on(async {
        aws_sdk_ecs::Client::new(&config)
            .describe_task_definition()
            .task_definition(web["task_definition"].as_str().expect("arn"))
            .send()
            .await
            .expect("task definition")
            .task_definition()
            .cloned()
            .expect("definition")
    });
    let container = &definition.container_definitions()[0];
    let cookie_secret = container
        .secrets()
        .iter()
        .find(|secret| secret.name() == "RELEASE_COOKIE")
        .expect("RELEASE_COOKIE is a secret");
    assert_eq!(
        cookie_secret.value_from(),
        format!(
            "arn:aws:ssm:us-east-1:{}:parameter/stackup/demo-local-v1/cookie",
            fixture.proxy.account
        )
    );
    assert_eq!(
        definition.network_mode().map(|mode| mode.as_str()),
        Some("awsvpc")
    );
    let everything = format!("{definition:?}{report}{stderr}");
    assert!(
        !everything.contains(&cookie),
        "the cookie's value is in a task definition or the output"
    );

    let record: serde_json::Value = block_on(async {
        let value = aws_sdk_ssm::Client::new(&config)
            .get_parameter()
            .name("/stackup/demo-local-v1/releases/web")
            .send()
            .await
            .expect("release record")
            .parameter()
            .and_then(|parameter| parameter.value().map(str::to_string))
            .expect("value");
        serde_json::from_str(&value).expect("JSON record")
    });
    assert_eq!(record["result"], "completed");
    assert_eq!(record["revision"], 1);
    assert_eq!(record["images"]["web"], "ghcr.io/example/demo:1.0.0");
    assert!(record["by"]
        .as_str()
        .expect("caller")
        .starts_with("arn:aws:"));
}

#[test]
fn the_same_release_again_registers_nothing_and_updates_nothing() {
    let fixture = fixture("deploy-same", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let before = fixture.proxy.operations().len();
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["result"], "unchanged");
    let second_run: Vec<String> = fixture.proxy.operations()[before..].to_vec();
    for mutation in [
        "RegisterTaskDefinition",
        "UpdateService",
        "CreateService",
        "PutParameter",
    ] {
        assert!(
            !second_run.iter().any(|operation| operation == mutation),
            "{mutation} in {second_run:?}"
        );
    }
    // Without --image, the running image is kept: still nothing to do.
    let (code, report, _) = fixture.deploy(&[]);
    assert_eq!(code, Some(0));
    assert_eq!(report["services"][0]["result"], "unchanged");
}

/// Rewrite a template of the fixture's config dir.
fn edit_template(fixture: &TestStack, file: &str, from: &str, to: &str) {
    let path = fixture.config.path().join("task-defs").join(file);
    let text = std::fs::read_to_string(&path).expect("template");
    assert!(text.contains(from), "{from:?} not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write template");
}

fn mutations(operations: &[String]) -> Vec<String> {
    operations
        .iter()
        .filter(|operation| {
            [
                "RegisterTaskDefinition",
                "UpdateService",
                "CreateService",
                "PutParameter",
            ]
            .contains(&operation.as_str())
        })
        .cloned()
        .collect()
}

#[test]
fn a_changed_service_definition_is_shown_and_applied_on_its_own() {
    let fixture = fixture("deploy-service-def", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    edit_template(
        &fixture,
        "web-service.json",
        "\"maximumPercent\": 150",
        "\"maximumPercent\": 200",
    );
    edit_template(
        &fixture,
        "web-service.json",
        "\"healthCheckGracePeriodSeconds\": 60",
        "\"healthCheckGracePeriodSeconds\": 5",
    );
    let before = fixture.proxy.operations().len();
    let (code, _, stderr) = fixture.deploy(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("update the service definition of web")
            && stderr.contains("~ deploymentConfiguration.maximumPercent: 150 -> 200")
            && stderr.contains("~ healthCheckGracePeriodSeconds: 60 -> 5"),
        "{stderr}"
    );
    // The task definition did not change: no revision, one update (and the
    // release recorded as started before the wait, then as completed).
    assert_eq!(
        mutations(&fixture.proxy.operations()[before..]),
        vec!["UpdateService", "PutParameter", "PutParameter"]
    );
    let service = block_on(common::web_service(&fixture.sdk()));
    assert_eq!(
        service
            .deployment_configuration()
            .and_then(|deployment| deployment.maximum_percent()),
        Some(200)
    );
    assert_eq!(service.health_check_grace_period_seconds(), Some(5));
    // Applied: nothing left to do.
    let (code, report, stderr) = fixture.deploy(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["result"], "unchanged", "{stderr}");
}

#[test]
fn a_reordered_template_is_no_new_revision() {
    let fixture = fixture("deploy-reordered", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    edit_template(
        &fixture,
        "web.json",
        "{ \"name\": \"PORT\", \"value\": \"{{service.port}}\" },\n        { \"name\": \"PHX_SERVER\", \"value\": \"true\" }",
        "{ \"name\": \"PHX_SERVER\", \"value\": \"true\" },\n        { \"name\": \"PORT\", \"value\": \"{{service.port}}\" }",
    );
    let (code, report, stderr) = fixture.deploy(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["result"], "unchanged", "{stderr}");
}

#[test]
fn a_per_release_cookie_service_deployed_again_unchanged_registers_nothing() {
    let fixture = fixture(
        "deploy-release-cookie",
        &[("cookie = \"stack\"", "cookie = \"release\"")],
    );
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let first = report["services"][0]["task_definition"].clone();
    let before = fixture.proxy.operations().len();
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["result"], "unchanged", "{stderr}");
    assert_eq!(report["services"][0]["task_definition"], first);
    assert_eq!(
        mutations(&fixture.proxy.operations()[before..]),
        Vec::<String>::new(),
        "no revision, no cookie: {stderr}"
    );
    // A new image is a new release: a revision with a cookie of its own.
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_ne!(report["services"][0]["task_definition"], first);
    assert!(
        stderr.contains("created the Erlang cookie of this release"),
        "{stderr}"
    );
}

#[test]
fn a_first_deploy_names_the_missing_images_of_every_service_at_once() {
    let fixture = TestStack::new(
        "deploy-no-images",
        common::stack_config_dir(&[(
            "cookie = \"stack\"",
            "cookie = \"stack\"\n\n[services.worker]\ntask_definition = \"task-defs/worker.json\"\nservice_definition = \"task-defs/worker-service.json\"\ndesired_count = 1",
        ),
            THREE_HOSTS,
        ]),
    );
    let web_service =
        std::fs::read_to_string(fixture.config.path().join("task-defs/web-service.json"))
            .expect("web-service.json");
    std::fs::write(
        fixture.config.path().join("task-defs/worker-service.json"),
        web_service.replace(
            "\"containerName\": \"web\"",
            "\"containerName\": \"worker\"",
        ),
    )
    .expect("worker-service.json");
    let web = std::fs::read_to_string(fixture.config.path().join("task-defs/web.json"))
        .expect("web.json");
    std::fs::write(
        fixture.config.path().join("task-defs/worker.json"),
        web.replace("\"name\": \"web\"", "\"name\": \"worker\"")
            .replace("{{image.web}}", "{{image.worker}}"),
    )
    .expect("worker.json");
    fixture.create_stack();
    fixture
        .stackup()
        .args(["deploy-release", "local", "--yes"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "task-defs/web.json: placeholder {{image.web}} has no value",
        ))
        .stderr(predicates::str::contains(
            "task-defs/worker.json: placeholder {{image.worker}} has no value",
        ));
}

#[test]
fn a_service_named_twice_is_deployed_once() {
    let fixture = fixture("deploy-named-twice", &[]);
    let (code, report, stderr) = fixture.deploy(&[
        "--image",
        "web=ghcr.io/example/demo:1.0.0",
        "--service",
        "web",
        "--service",
        "web",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        report["services"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
}

#[test]
fn a_failed_rollout_exits_1_with_the_reasons_and_rolls_back() {
    let fixture = fixture("deploy-fails", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let good = fixture.service_task_definition();
    fixture.fail_next_deployment(
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref ghcr.io/example/demo:broken: not found",
    );
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:broken"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("ECS deployment circuit breaker: tasks failed to start."),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopped: CannotPullContainerError"),
        "the stopped task's reason: {stderr}"
    );
    assert!(
        stderr.contains("last log lines")
            || stderr.contains("no log lines in /stackup/demo-local-v1 web/web/"),
        "{stderr}"
    );
    assert_eq!(report["services"][0]["result"], "rolled-back");
    assert_eq!(
        fixture.service_task_definition(),
        good,
        "the service runs the previous revision again"
    );
}

#[test]
fn no_rollback_says_when_the_circuit_breaker_rolls_back_by_itself() {
    let fixture = fixture("deploy-breaker-rolls-back", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    fixture.fail_next_deployment("Essential container in task exited");
    let (code, report, stderr) = fixture.deploy(&[
        "--image",
        "web=ghcr.io/example/demo:broken",
        "--no-rollback",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("circuit breaker is rolling the service back to revision 1 by itself")
            && stderr.contains("--no-rollback does not stop that"),
        "{stderr}"
    );
    assert!(
        report["services"][0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("rolls back to revision 1")),
        "{report}"
    );
}

/// The release history of web, oldest first.
fn web_history(sdk: &aws_config::SdkConfig) -> Vec<serde_json::Value> {
    block_on(async {
        aws_sdk_ssm::Client::new(sdk)
            .get_parameter_history()
            .name("/stackup/demo-local-v1/releases/web")
            .send()
            .await
            .expect("history")
            .parameters()
            .iter()
            .map(|version| {
                serde_json::from_str::<serde_json::Value>(version.value().unwrap_or("{}"))
                    .expect("record")
            })
            .collect()
    })
}

/// A fixture whose breaker does not roll back, with revision 1 deployed and
/// the next deployment of web set to fail.
fn failing_without_breaker_rollback(test: &str) -> (TestStack, String) {
    let fixture = fixture(test, &[]);
    edit_template(
        &fixture,
        "web-service.json",
        "\"rollback\": true",
        "\"rollback\": false",
    );
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let first = fixture.service_task_definition();
    fixture.fail_next_deployment("CannotPullContainerError: not found");
    (fixture, first)
}

/// A failed rollout left in place on purpose (--no-rollback) is not "already
/// deployed": the same deploy-release deploys the revision again, in a new
/// deployment, and can still go back to what ran before it.
#[test]
fn a_failed_rollout_left_in_place_is_deployed_again_not_called_unchanged() {
    let (fixture, first) = failing_without_breaker_rollback("deploy-failed-in-place");
    let (code, report, stderr) =
        fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0", "--no-rollback"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["services"][0]["result"], "failed");
    // Rolling "back" to the failed revision that runs has nothing to follow.
    let (code, _, stderr) = fixture.rollback(&["--to", "2"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("revision 2 runs, but its rollout failed")
            && stderr.contains("there is no rollout to follow"),
        "{stderr}"
    );

    let before = fixture.proxy.operations().len();
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("web: revision 2 runs, but its rollout failed"),
        "{stderr}"
    );
    assert_eq!(report["services"][0]["result"], "completed", "{stderr}");
    assert_eq!(report["services"][0]["registered"], false);
    assert_eq!(
        mutations(&fixture.proxy.operations()[before..]),
        ["UpdateService", "PutParameter", "PutParameter"],
        "the new deployment, started, completed"
    );
    let last = web_history(&fixture.sdk())
        .last()
        .cloned()
        .expect("a record");
    assert_eq!(
        (last["result"].clone(), last["previous"].clone()),
        ("completed".into(), first.into())
    );
}

/// The stopped tasks shown for a failed rollout are those of the deployment
/// that failed, not of an earlier failure of the same revision.
#[test]
fn a_failure_shows_the_tasks_of_the_deployment_that_failed() {
    let (fixture, first) = failing_without_breaker_rollback("deploy-failed-twice");
    let (code, _, stderr) =
        fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0", "--no-rollback"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("stopped: CannotPullContainerError: not found"),
        "{stderr}"
    );
    fixture.fail_next_deployment("OutOfMemoryError: the second time");
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("stopped: OutOfMemoryError: the second time")
            && !stderr.contains("CannotPullContainerError"),
        "only the second deployment's tasks: {stderr}"
    );
    assert_eq!(report["services"][0]["result"], "rolled-back", "{stderr}");
    assert_eq!(fixture.service_task_definition(), first);
}

/// When the running revision's own rollout failed, a new revision that fails
/// too goes back to what ran before the failed one, not to it.
#[test]
fn a_failure_on_top_of_a_failed_revision_goes_back_past_it() {
    let (fixture, first) = failing_without_breaker_rollback("deploy-failed-on-failed");
    let (code, _, stderr) =
        fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0", "--no-rollback"]);
    assert_eq!(code, Some(1), "{stderr}");
    fixture.fail_next_deployment("CannotPullContainerError: 1.2.0 not found");
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.2.0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("web: rolling back to revision 1"),
        "{stderr}"
    );
    assert_eq!(report["services"][0]["result"], "rolled-back", "{stderr}");
    assert_eq!(fixture.service_task_definition(), first);
}

/// A release not followed to its end (--no-wait here; Ctrl-C and a killed run
/// alike) whose rollout failed meanwhile ends, when the same deploy-release
/// runs again, as its wait would have: recorded as failed and rolled back.
#[test]
fn a_rollout_that_failed_unwatched_is_followed_to_its_end_and_rolled_back() {
    let (fixture, first) = failing_without_breaker_rollback("deploy-failed-unwatched");
    let (code, report, stderr) =
        fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0", "--no-wait"]);
    assert_eq!(code, Some(0), "{stderr}");
    let started = report["release"].as_str().expect("release id").to_string();
    // ECS fails the rollout while nobody watches (one model step a look).
    let sdk = fixture.sdk();
    let failed = (0..30).any(|_| {
        block_on(common::web_service(&sdk))
            .deployments()
            .iter()
            .any(|deployment| {
                deployment.rollout_state().map(|state| state.as_str()) == Some("FAILED")
            })
    });
    assert!(failed, "the model failed the rollout");

    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "(release {started}, started) was not followed to its end"
        )),
        "{stderr}"
    );
    assert_eq!(report["release"], started.as_str());
    assert_eq!(report["services"][0]["result"], "rolled-back", "{stderr}");
    assert_eq!(fixture.service_task_definition(), first);
    let records: Vec<(String, String)> = web_history(&sdk)
        .iter()
        .filter(|record| record["release"] == started.as_str())
        .map(|record| {
            (
                record["result"].as_str().unwrap_or_default().to_string(),
                record["previous"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        records,
        [
            ("started".to_string(), first.clone()),
            ("rolled-back".to_string(), first.clone())
        ]
    );
}

#[test]
fn a_rollout_that_times_out_is_rolled_back_unless_told_not_to() {
    let fixture = fixture("deploy-timeout", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let good = fixture.service_task_definition();
    let (code, report, stderr) = fixture.deploy(&[
        "--image",
        "web=ghcr.io/example/demo:1.1.0",
        "--timeout",
        "1ms",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["services"][0]["result"], "rolled-back", "{stderr}");
    assert_eq!(fixture.service_task_definition(), good);

    let (code, report, stderr) = fixture.deploy(&[
        "--image",
        "web=ghcr.io/example/demo:1.2.0",
        "--timeout",
        "1ms",
        "--no-rollback",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["services"][0]["result"], "timed-out");
    assert_ne!(
        fixture.service_task_definition(),
        good,
        "left on the new revision"
    );
}

#[test]
fn rollback_uses_the_release_history() {
    let fixture = fixture("deploy-rollback", &[]);
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let (code, _, stderr) =
            fixture.deploy(&["--image", &format!("web=ghcr.io/example/demo:{version}")]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    let revision = |fixture: &TestStack| {
        fixture
            .service_task_definition()
            .rsplit(':')
            .next()
            .expect("revision")
            .to_string()
    };
    assert_eq!(revision(&fixture), "3");
    fixture
        .stackup()
        .args(["rollback", "local", "--yes"])
        .assert()
        .success();
    assert_eq!(revision(&fixture), "2");
    fixture
        .stackup()
        .args(["rollback", "local", "--yes"])
        .assert()
        .success();
    assert_eq!(
        revision(&fixture),
        "1",
        "a second rollback goes further back"
    );
    fixture
        .stackup()
        .args(["rollback", "local", "--to", "3", "--yes"])
        .assert()
        .success();
    assert_eq!(revision(&fixture), "3");
    // To what runs: nothing to do, nothing done.
    let before = fixture.proxy.operations().len();
    fixture
        .stackup()
        .args(["rollback", "local", "--to", "3", "--yes"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "web: runs revision 3 already: nothing to roll back",
        ));
    assert_eq!(
        mutations(&fixture.proxy.operations()[before..]),
        Vec::<String>::new()
    );
    fixture
        .stackup()
        .args(["rollback", "local", "--to", "9", "--yes"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no release of revision 9"));
}

#[test]
fn the_revision_that_runs_is_read_ahead_and_an_older_one_after_a_rollback() {
    let fixture = fixture("deploy-read-ahead", &[]);
    for version in ["1.0.0", "1.1.0"] {
        let (code, _, stderr) =
            fixture.deploy(&["--image", &format!("web=ghcr.io/example/demo:{version}")]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    let reads = |operations: &[String]| -> Vec<String> {
        operations
            .iter()
            .filter(|operation| {
                ["DescribeServices", "DescribeTaskDefinition"].contains(&operation.as_str())
            })
            .cloned()
            .collect()
    };
    // The newest revision runs: it is read beside the stack's outputs, before
    // the service says which revision runs, and not read again.
    let before = fixture.proxy.operations().len();
    let (code, report, stderr) =
        fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.2.0", "--no-wait"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["result"], "started");
    assert!(
        stderr.contains("demo:1.1.0") && stderr.contains("demo:1.2.0"),
        "the diff: {stderr}"
    );
    assert_eq!(
        reads(&fixture.proxy.operations()[before..]),
        ["DescribeTaskDefinition", "DescribeServices"],
    );
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.2.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    fixture
        .stackup()
        .args(["rollback", "local", "--yes"])
        .assert()
        .success();
    assert!(fixture.service_task_definition().ends_with(":2"));
    // Revision 2 runs, 3 is the newest: the comparison is with what runs, so
    // its own image again is no change, and a new one is shown against it.
    let before = fixture.proxy.operations().len();
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["result"], "unchanged", "{stderr}");
    assert_eq!(
        reads(&fixture.proxy.operations()[before..]),
        [
            "DescribeTaskDefinition",
            "DescribeServices",
            "DescribeTaskDefinition"
        ],
    );
    assert_eq!(
        mutations(&fixture.proxy.operations()[before..]),
        Vec::<String>::new()
    );
    let (code, report, stderr) =
        fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.3.0", "--no-wait"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["revision"], 4);
    assert!(
        stderr.contains("running: revision 2") && stderr.contains("demo:1.1.0"),
        "the diff is against revision 2: {stderr}"
    );
}

#[test]
fn no_wait_returns_after_the_update_and_records_it() {
    let fixture = fixture("deploy-no-wait", &[]);
    let (code, report, stderr) =
        fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0", "--no-wait"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["result"], "started");
    assert!(!stderr.contains("steady state"));
    let started = report["release"].as_str().expect("release id").to_string();
    // The same command with a wait follows that rollout, as that release.
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["services"][0]["result"], "completed", "{stderr}");
    assert_eq!(report["release"], started.as_str(), "{stderr}");
}

/// A secret whose SSM parameter does not exist would stop every task at
/// start: refused before any change unless --allow-missing-parameters.
#[test]
fn a_parameter_the_task_definition_refers_to_that_does_not_exist_is_refused() {
    let fixture = TestStack::new("deploy-missing-parameter", common::stack_config_dir(&[]));
    fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .assert()
        .success();
    let problem = "web: the task definition refers to SSM parameter /stackup/demo-local-v1/database/app-password, \
                   which does not exist: its tasks cannot start until it does";
    let before = fixture.proxy.operations().len();
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(problem), "{stderr}");
    assert!(
        stderr.contains("fix: run `stackup update-resources local`, which creates it, or pass --allow-missing-parameters"),
        "{stderr}"
    );
    assert_eq!(
        mutations(&fixture.proxy.operations()[before..]),
        Vec::<String>::new(),
        "nothing registered or deployed"
    );
    // Asked to go ahead: deployed, with the problem as a warning.
    let (code, _, stderr) = fixture.deploy(&[
        "--image",
        "web=ghcr.io/example/demo:1.0.0",
        "--allow-missing-parameters",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains(&format!("warning: {problem}")), "{stderr}");
    common::put_app_password(&fixture.proxy.endpoint);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("which does not exist"), "{stderr}");
}

#[test]
fn a_setting_the_service_template_leaves_out_stays_as_the_service_has_it() {
    let fixture = fixture("deploy-left-out", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let before = block_on(common::web_service(&fixture.sdk()));
    assert_eq!(before.load_balancers().len(), 1);
    assert_eq!(before.placement_strategy().len(), 2);
    edit_template(
        &fixture,
        "web-service.json",
        "\"loadBalancers\": [\n    { \"targetGroupArn\": \"{{stack.TargetGroupArn}}\", \"containerName\": \"web\", \"containerPort\": \"{{service.port}}\" }\n  ],\n",
        "",
    );
    edit_template(
        &fixture,
        "web-service.json",
        "\"placementStrategy\": [\n    { \"type\": \"spread\", \"field\": \"attribute:ecs.availability-zone\" },\n    { \"type\": \"spread\", \"field\": \"instanceId\" }\n  ]",
        "\"placementStrategy\": []",
    );
    edit_template(
        &fixture,
        "web-service.json",
        "\"healthCheckGracePeriodSeconds\": 60",
        "\"healthCheckGracePeriodSeconds\": 5",
    );
    let (code, _, stderr) = fixture.deploy(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("~ healthCheckGracePeriodSeconds: 60 -> 5")
            && !stderr.contains("loadBalancers")
            && !stderr.contains("placementStrategy"),
        "{stderr}"
    );
    // What was shown is what changed: the rest stays.
    let after = block_on(common::web_service(&fixture.sdk()));
    assert_eq!(after.health_check_grace_period_seconds(), Some(5));
    assert_eq!(after.load_balancers(), before.load_balancers());
    assert_eq!(after.placement_strategy(), before.placement_strategy());
}

#[test]
fn a_service_the_release_does_not_change_is_left_alone() {
    let fixture = TestStack::new(
        "deploy-left-alone",
        common::stack_config_dir(&[
            (
                "cookie = \"stack\"",
                "cookie = \"stack\"\n\n[services.worker]\ndesired_count = 1",
            ),
            THREE_HOSTS,
        ]),
    );
    // The worker: the web templates with a container of its own and no load balancer.
    let task_defs = fixture.config.path().join("task-defs");
    let web = std::fs::read_to_string(task_defs.join("web.json")).expect("web.json");
    let worker = web
        .replace("\"name\": \"web\"", "\"name\": \"worker\"")
        .replace("{{image.web}}", "{{image.worker}}");
    assert_ne!(worker, web);
    std::fs::write(task_defs.join("worker.json"), worker).expect("worker.json");
    let service =
        std::fs::read_to_string(task_defs.join("web-service.json")).expect("web-service.json");
    let start = service.find("  \"loadBalancers\"").expect("loadBalancers");
    let end = start + service[start..].find("],\n").expect("end of loadBalancers") + 3;
    std::fs::write(
        task_defs.join("worker-service.json"),
        format!("{}{}", &service[..start], &service[end..]),
    )
    .expect("worker-service.json");
    fixture.create_stack();

    let (code, _, stderr) = fixture.deploy(&[
        "--image",
        "web=ghcr.io/example/demo:1.0.0",
        "--image",
        "worker=ghcr.io/example/worker:1.0.0",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let before = fixture.proxy.operations().len();
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let results = results(&report);
    assert_eq!(results, vec![("web", "completed"), ("worker", "unchanged")]);
    assert!(!stderr.contains("worker: updated service"), "{stderr}");
    // One revision, one update and one release recorded (started, then
    // completed): the web service's.
    assert_eq!(
        mutations(&fixture.proxy.operations()[before..]),
        vec![
            "RegisterTaskDefinition",
            "UpdateService",
            "PutParameter",
            "PutParameter"
        ]
    );
}

/// (service, result) of each service of a deploy-release report.
fn results(report: &serde_json::Value) -> Vec<(&str, &str)> {
    report["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|service| {
            (
                service["service"].as_str().unwrap_or_default(),
                service["result"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn several_services_deploy_at_once() {
    let fixture = fixture("deploy-several", &[WITH_WORKER, THREE_HOSTS]);
    let (code, report, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let results = results(&report);
    assert_eq!(results, vec![("web", "completed"), ("worker", "completed")]);
}

/// Services go back at once (one slow rollout does not hold the others for
/// its timeout), and one whose rollback fails says why: ECS's reason, the
/// stopped tasks and their log lines, as a failed deploy does.
#[test]
fn services_roll_back_at_once_and_a_failed_rollback_says_why() {
    let fixture = fixture("rollback-several", &[WITH_WORKER, THREE_HOSTS]);
    for version in ["1.0.0", "1.1.0"] {
        let (code, _, stderr) =
            fixture.deploy(&["--image", &format!("web=ghcr.io/example/demo:{version}")]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    common::moto_control(
        &fixture.proxy,
        "/moto-api/ecs-model/fail-deployments",
        &serde_json::json!({"account_id": fixture.proxy.account, "cluster": "demo-local-v1", "service": "worker", "reason": "OutOfMemoryError: Container killed due to memory usage"}),
    );
    let before = fixture.proxy.operations().len();
    let (code, report, stderr) = fixture.rollback(&[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        results(&report),
        vec![("web", "completed"), ("worker", "failed")]
    );
    assert!(
        stderr.contains("worker: the rollout of revision 1 failed: ")
            && stderr.contains("ECS's circuit breaker takes the service back to revision 2")
            && stderr.contains("stopped: OutOfMemoryError: Container killed due to memory usage")
            && stderr.contains("the rollback of worker ("),
        "{stderr}"
    );
    // Both services were pointed back before either's rollout was over:
    // each one's final record comes after both updates.
    let mutations = mutations(&fixture.proxy.operations()[before..]);
    let updates: Vec<usize> = mutations
        .iter()
        .enumerate()
        .filter(|(_, operation)| *operation == "UpdateService")
        .map(|(index, _)| index)
        .collect();
    assert_eq!(updates.len(), 2, "{mutations:?}");
    assert!(
        updates[1] < 3,
        "one rollback waited for the other: {mutations:?}"
    );
    assert_eq!(
        mutations.len(),
        6,
        "each: update, started, result: {mutations:?}"
    );
}

/// Rolling back the whole stack passes over a service with nothing to go
/// back to (here: never deployed) and rolls back the others.
#[test]
fn a_service_with_nothing_to_go_back_to_does_not_hold_back_the_others() {
    let fixture = fixture("rollback-passes-over", &[WITH_WORKER, THREE_HOSTS]);
    for version in ["1.0.0", "1.1.0"] {
        let (code, _, stderr) = fixture.deploy(&[
            "--service",
            "web",
            "--image",
            &format!("web=ghcr.io/example/demo:{version}"),
        ]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    let (code, report, stderr) = fixture.rollback(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: service worker does not run in cluster demo-local-v1"),
        "{stderr}"
    );
    assert_eq!(results(&report), vec![("web", "completed")]);
    assert!(fixture.service_task_definition().ends_with(":1"));
}

#[test]
fn a_first_deploy_without_an_image_names_the_placeholder_and_changes_nothing() {
    let fixture = fixture("deploy-no-image", &[]);
    let before = fixture.proxy.operations().len();
    fixture
        .stackup()
        .args(["deploy-release", "local", "--yes"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "task-defs/web.json: placeholder {{image.web}} has no value",
        ))
        .stderr(predicates::str::contains("pass --image web=IMAGE"));
    fixture
        .stackup()
        .args(["deploy-release", "local", "--yes", "--image", "api=x:1"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no container of the deployed services is named api",
        ));
    let mutations: Vec<String> = fixture.proxy.operations()[before..]
        .iter()
        .filter(|operation| !common::is_read_only(operation))
        .cloned()
        .collect();
    assert!(mutations.is_empty(), "{mutations:?}");
}

/// A task metadata document shaped like ECS's (task metadata endpoint v4, awsvpc).
const TASK_METADATA: &str = r#"{
  "Cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/demo-prod-v1",
  "TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/demo-prod-v1/5f2c7e0e9e2b4c5d8a1b2c3d4e5f6a7b",
  "Family": "demo-prod-v1-web",
  "Revision": "8",
  "DesiredStatus": "RUNNING",
  "KnownStatus": "RUNNING",
  "Limits": {"CPU": 0.5, "Memory": 1792},
  "PullStartedAt": "2026-11-21T10:00:01.123456789Z",
  "AvailabilityZone": "eu-west-1b",
  "LaunchType": "EC2",
  "Containers": [
    {
      "DockerId": "cd189a933e5849daa93386466019ab50-2495160603",
      "Name": "web",
      "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo:1.4.2",
      "Labels": {"com.amazonaws.ecs.task-arn": "arn:aws:ecs:eu-west-1:123456789012:task/demo-prod-v1/5f2c7e0e9e2b4c5d8a1b2c3d4e5f6a7b"},
      "DesiredStatus": "RUNNING",
      "KnownStatus": "RUNNING",
      "Type": "NORMAL",
      "Networks": [
        {
          "NetworkMode": "awsvpc",
          "IPv4Addresses": ["10.20.65.17"],
          "AttachmentIndex": 0,
          "MACAddress": "0a:e9:1b:8c:62:f5",
          "IPv4SubnetCIDRBlock": "10.20.64.0/18",
          "PrivateDNSName": "ip-10-20-65-17.eu-west-1.compute.internal",
          "SubnetGatewayIpv4Address": "10.20.64.1/18"
        }
      ]
    }
  ]
}"#;

fn serve_once_per_request(body: &'static str) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    listener.set_nonblocking(false).expect("blocking");
    let handle = std::thread::spawn(move || {
        // Serve a bounded number of requests (curl may retry), then stop.
        for stream in listener.incoming().take(1).flatten() {
            let mut stream = stream;
            let mut buffer = [0u8; 2048];
            let _ = std::io::Read::read(&mut stream, &mut buffer);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (address, handle)
}

/// In every naming mode, the entrypoint (in the container) and stackup (from
/// DescribeTasks) give a task the same node name; and the entrypoint pins the
/// distribution ports, keeping what ERL_AFLAGS held.
#[test]
fn the_entrypoint_script_and_the_rust_rule_name_a_task_the_same() {
    use stackup::config::NodeNameMode;
    let metadata: serde_json::Value = serde_json::from_str(TASK_METADATA).expect("JSON");
    let task_arn = metadata["TaskARN"].as_str().expect("arn");
    let task_definition = format!(
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/{}:{}",
        metadata["Family"].as_str().expect("family"),
        metadata["Revision"].as_str().expect("revision")
    );
    let address = metadata["Containers"][0]["Networks"][0]["IPv4Addresses"][0]
        .as_str()
        .expect("ip");
    for (mode, expected) in [
        (NodeNameMode::Ip, "web@10.20.65.17"),
        (NodeNameMode::Release, "web-r8@10.20.65.17"),
        (
            NodeNameMode::Task,
            "web-5f2c7e0e9e2b4c5d8a1b2c3d4e5f6a7b@10.20.65.17",
        ),
    ] {
        let (server_address, server) = serve_once_per_request(TASK_METADATA);
        let output = std::process::Command::new("sh")
            .arg(common::repo_root().join("scripts/ecs-entrypoint.sh"))
            .args([
                "sh",
                "-c",
                "printf '%s %s %s' \"$RELEASE_DISTRIBUTION\" \"$RELEASE_NODE\" \"$ERL_AFLAGS\"",
            ])
            .env(
                "ECS_CONTAINER_METADATA_URI_V4",
                format!("http://{server_address}/v4/cd189a93"),
            )
            .env("NODE_BASENAME", "web")
            .env("NODE_NAME_MODE", mode.as_str())
            .env("DISTRIBUTION_PORTS", "9100-9155")
            .env("ERL_AFLAGS", "+S 2")
            .output()
            .expect("sh runs");
        server.join().expect("server");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let from_rust = stackup::release::node_name::node_name(
            mode,
            "web",
            task_arn,
            &task_definition,
            address,
        );
        assert_eq!(from_rust, expected);
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!(
                "name {from_rust} +S 2 -kernel inet_dist_listen_min 9100 inet_dist_listen_max 9155"
            )
        );
    }
}

#[test]
fn the_entrypoint_script_fails_clearly_without_metadata() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = closed.local_addr().expect("address");
    drop(closed);
    let output = std::process::Command::new("sh")
        .arg(common::repo_root().join("scripts/ecs-entrypoint.sh"))
        .args(["true"])
        .env(
            "ECS_CONTAINER_METADATA_URI_V4",
            format!("http://{address}/v4/x"),
        )
        .env("NODE_BASENAME", "web")
        .output()
        .expect("sh runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the task metadata"));
    let output = std::process::Command::new("sh")
        .arg(common::repo_root().join("scripts/ecs-entrypoint.sh"))
        .args(["true"])
        .env_remove("ECS_CONTAINER_METADATA_URI_V4")
        .env("NODE_BASENAME", "web")
        .output()
        .expect("sh runs");
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("ECS_CONTAINER_METADATA_URI_V4 is not set"));
}

#[test]
fn delete_stack_removes_the_services_deploy_release_created_first() {
    let fixture = fixture("deploy-then-delete", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    fixture
        .stackup()
        .args(["delete-stack", "local", "--yes"])
        .assert()
        .success()
        .stdout(
            "deleted service web\ndeleted demo-local-v1-platform\ndeleted demo-local-v1-network\n",
        )
        .stderr(predicates::str::contains(
            "will delete ECS service web and its tasks",
        ));
}

/// The platform's DeployRole is for whoever deploys (a person, a CI job): it
/// must allow every call deploy-release, rollback, status and logs make, on
/// their everyday paths and on a failed rollout's (the stopped tasks, their
/// last log lines, the way back). The calls are recorded at a proxy of their
/// own; the role's actions are read from the template.
#[test]
fn the_deploy_role_allows_every_call_of_the_deploying_commands() {
    // A cookie per release: the failed release's cookie is removed too.
    let fixture = fixture(
        "deploy-role",
        &[("cookie = \"stack\"", "cookie = \"release\"")],
    );
    let deployer = common::AwsProxy::start(
        &common::LocalCloud::load().moto_endpoint(),
        &fixture.proxy.account,
    );
    let stackup = || common::stackup(fixture.config.path(), &deployer.endpoint);
    for image in ["ghcr.io/example/demo:1.0.0", "ghcr.io/example/demo:1.0.1"] {
        stackup()
            .args(["deploy-release", "local", "--yes", "--image"])
            .arg(format!("web={image}"))
            .assert()
            .success();
    }
    fixture.fail_next_deployment("CannotPullContainerError: not found");
    stackup()
        .args([
            "deploy-release",
            "local",
            "--yes",
            "--image",
            "web=ghcr.io/example/demo:broken",
        ])
        .assert()
        .code(1);
    stackup()
        .args(["rollback", "local", "--yes"])
        .assert()
        .success();
    for args in [
        &["status", "local"][..],
        &["--output", "json", "status", "local"],
        &["logs", "local", "--since", "1h"],
    ] {
        stackup().args(args).assert().success();
    }

    let used: std::collections::BTreeSet<String> = deployer.actions().into_iter().collect();
    for path in [
        "ecs:CreateService",
        "ecs:UpdateService",
        "ecs:RegisterTaskDefinition",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
        "ssm:GetParameterHistory",
        "ssm:DeleteParameter",
        "cloudwatch:GetMetricData",
    ] {
        assert!(
            used.contains(path),
            "the commands took the path of {path}: {used:?}"
        );
    }
    let allowed = deploy_role_actions();
    // GetCallerIdentity needs no permission: AWS answers it for any caller.
    let missing: Vec<&String> = used
        .iter()
        .filter(|action| action.as_str() != "sts:GetCallerIdentity")
        .filter(|action| !allowed.iter().any(|pattern| allows(pattern, action)))
        .collect();
    assert!(missing.is_empty(), "DeployRole does not allow {missing:?}");
    // Not calls of their own: every revision is registered with tags
    // (ecs:TagResource) and names the stack's task roles (iam:PassRole).
    for implied in ["ecs:TagResource", "iam:PassRole"] {
        assert!(
            allowed.iter().any(|pattern| allows(pattern, implied)),
            "DeployRole does not allow {implied}"
        );
    }
}

#[test]
fn iam_patterns_match_as_iam_does() {
    assert!(allows("ecs:Describe*", "ecs:DescribeServices"));
    assert!(allows("ECS:describeservices", "ecs:DescribeServices"));
    assert!(allows("*", "ssm:PutParameter"));
    assert!(allows("logs:*Log*", "logs:FilterLogEvents"));
    assert!(!allows("ecs:Describe*", "ecs:UpdateService"));
    assert!(!allows("ecs:DescribeServices", "ecs:DescribeServicesX"));
    assert!(!allows("logs:*Log*", "logs:StartLiveTail"));
}

/// A stack deleted and created again keeps its name, its SSM prefix and its
/// task definition families, but its history starts afresh: the revisions of
/// the deleted stack used roles and a log group that are gone.
#[test]
fn a_stack_created_again_starts_its_history_afresh() {
    let fixture = fixture("history-second-life", &[]);
    for version in ["1.0.0", "1.1.0"] {
        let (code, _, stderr) =
            fixture.deploy(&["--image", &format!("web=ghcr.io/example/demo:{version}")]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    fixture
        .stackup()
        .args(["delete-stack", "local", "--yes"])
        .assert()
        .success();
    fixture.create_stack();
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.2.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    let running = fixture.service_task_definition();
    let revision = running.rsplit(':').next().expect("revision").to_string();
    assert_ne!(revision, "1", "a new revision: {running}");

    let before = fixture.proxy.operations().len();
    let (code, _, stderr) = fixture.rollback(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "web: no earlier release that rolled out to roll back to; known revisions: {revision} (completed)"
        )),
        "{stderr}"
    );
    let (code, _, stderr) = fixture.rollback(&["--to", "1"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr
            .contains("web: revision 1 ran on an earlier stack demo-local-v1-platform (released "),
        "{stderr}"
    );
    assert!(
        stderr.contains("--image web=ghcr.io/example/demo:1.0.0"),
        "{stderr}"
    );
    assert_eq!(
        mutations(&fixture.proxy.operations()[before..]),
        Vec::<String>::new()
    );
    assert_eq!(fixture.service_task_definition(), running);
}

/// A `cookie = "release"` release rolled back leaves no task that uses its
/// cookie: the cookie is removed; the running release's stays.
#[test]
fn the_cookie_of_a_rolled_back_release_is_removed() {
    let fixture = fixture(
        "release-cookie-removed",
        &[("cookie = \"stack\"", "cookie = \"release\"")],
    );
    let (code, first, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    fixture.fail_next_deployment("CannotPullContainerError: not found");
    let (code, failed, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:broken"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(failed["services"][0]["result"], "rolled-back", "{failed}");
    let cookie = |report: &serde_json::Value| {
        format!(
            "/stackup/demo-local-v1/cookies/{}",
            report["release"].as_str().expect("release id")
        )
    };
    assert!(
        stderr.contains(&format!("removed {}", cookie(&failed))),
        "{stderr}"
    );
    let sdk = fixture.sdk();
    let exists = |name: String| {
        block_on(async {
            aws_sdk_ssm::Client::new(&sdk)
                .get_parameter()
                .name(name)
                .send()
                .await
                .is_ok()
        })
    };
    assert!(
        !exists(cookie(&failed)),
        "the failed release's cookie is gone"
    );
    assert!(exists(cookie(&first)), "the running release's cookie stays");
}

/// A closed stdout (`deploy-release ... | head`) loses the report, not the
/// outcome: a failed rollout still exits 1 (a pipeline with pipefail must
/// see it), with its error on stderr.
#[test]
fn a_failed_rollout_with_stdout_closed_still_exits_1() {
    let fixture = fixture("failed-stdout-closed", &[]);
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    fixture.fail_next_deployment("CannotPullContainerError: not found");
    let mut child = common::stackup_process(fixture.config.path(), &fixture.proxy.endpoint)
        .args(["deploy-release", "local", "--yes"])
        .args(["--image", "web=ghcr.io/example/demo:broken"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("stackup starts");
    drop(child.stdout.take());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    let status = child.wait().expect("ends");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not roll out"), "{stderr}");
}

/// Going back (with --to) to a release whose per-release cookie was removed
/// when it was rolled back: its tasks could not start without the secret, so
/// the cookie is made again (a new one: no task runs with the old) before the
/// service moves.
#[test]
fn a_rollback_to_a_release_whose_cookie_was_removed_makes_it_again() {
    let fixture = fixture(
        "rollback-removed-cookie",
        &[("cookie = \"stack\"", "cookie = \"release\"")],
    );
    let (code, _, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.0.0"]);
    assert_eq!(code, Some(0), "{stderr}");
    fixture.fail_next_deployment("CannotPullContainerError: not found");
    let (code, failed, stderr) = fixture.deploy(&["--image", "web=ghcr.io/example/demo:1.1.0"]);
    assert_eq!(code, Some(1), "{stderr}");
    let cookie = format!(
        "/stackup/demo-local-v1/cookies/{}",
        failed["release"].as_str().expect("release id")
    );
    assert!(stderr.contains(&format!("removed {cookie}")), "{stderr}");
    let (code, _, stderr) = fixture.rollback(&["--to", "2"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("created {cookie} again")),
        "{stderr}"
    );
    let sdk = fixture.sdk();
    let exists = block_on(async {
        aws_sdk_ssm::Client::new(&sdk)
            .get_parameter()
            .name(&cookie)
            .send()
            .await
            .is_ok()
    });
    assert!(exists);
    assert!(fixture.service_task_definition().ends_with(":2"));
}
