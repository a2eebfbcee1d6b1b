//! Ctrl-C (SIGINT) in the three long waits: deploy-release while it follows a
//! rollout, update-resources while a migration runs, create-stack while it
//! follows stack events. Each test runs the real binary against the local
//! cloud, waits until it is in that phase (its stderr, and the cloud itself),
//! sends SIGINT, and checks the exit code (130), the message (the state left
//! and the command to run next), that nothing is half-applied, and that
//! running the same command again converges. And `logs --follow`, whose
//! normal end Ctrl-C is (exit 0), in the middle of a poll.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::Digest;

use common::db::DatabaseStack;
use common::{block_on, AwsProxy, LocalCloud, MustSucceed};

/// The exit code of a command stopped by Ctrl-C (README, "Exit codes").
const INTERRUPTED: i32 = 130;

/// The stackup binary running in the background, its stderr read line by
/// line as it comes. Dropping it kills the process if it still runs, so no
/// test leaves one behind, even when it fails.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    fn spawn(config_dir: &std::path::Path, endpoint: &str, args: &[&str]) -> Running {
        let mut child = common::stackup_process(config_dir, endpoint)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stackup starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let err_pipe = child.stderr.take().expect("stderr");
        let err_sink = stderr.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut text = err_sink.lock().expect("stderr");
                text.push_str(&line);
                text.push('\n');
            }
        }));
        let mut out_pipe = child.stdout.take().expect("stdout");
        let out_sink = stdout.clone();
        readers.push(std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out_pipe.read_to_string(&mut text);
            out_sink.lock().expect("stdout").push_str(&text);
        }));
        Running {
            child,
            stderr,
            stdout,
            readers,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    /// Wait until `ready` holds (checked with the stderr so far), failing if
    /// the process ends first or `limit` passes.
    fn wait_until(&mut self, what: &str, limit: Duration, mut ready: impl FnMut(&str) -> bool) {
        let start = Instant::now();
        loop {
            if ready(&self.stderr()) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(200));
                panic!("stackup ended ({status}) before {what}:\n{}", self.stderr());
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ctrl-C, as a terminal sends it: SIGINT to the process.
    fn interrupt(&self) {
        self.signal("INT");
    }

    /// `kill -NAME` to the process (TERM: a cancelled CI job; KILL: a lost machine).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait for the exit (bounded): the code (None when a signal ended it),
    /// stdout and stderr.
    fn finish(mut self, limit: Duration) -> (Option<i32>, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                start.elapsed() < limit,
                "stackup did not exit within {limit:?} of the interrupt:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let stdout = self.stdout.lock().expect("stdout").clone();
        (status.code(), stdout, self.stderr())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// deploy-release

/// A stack whose service rolls out slowly: 5 tasks replaced one at a time
/// (maximumPercent 120 allows one extra task, minimumHealthyPercent 100 keeps
/// all 5 running), as a cautious rolling update does on ECS. The local cloud's
/// model of ECS (scripts/moto_server.py, section 8) takes one scheduler step
/// per DescribeServices, so this rollout needs about seven looks, several
/// seconds of stackup's polling: a real window to press Ctrl-C in.
fn slow_rollout_stack(proxy: &AwsProxy) -> tempfile::TempDir {
    // Five tasks (six at a deployment's peak) need three t3.small hosts'
    // network interfaces and memory (release/capacity.rs).
    let config = common::stack_config_dir(&[
        ("desired_count = 2", "desired_count = 5"),
        ("hosts = 2", "hosts = 3"),
    ]);
    let service_file = config.path().join("task-defs/web-service.json");
    let text = std::fs::read_to_string(&service_file).expect("service definition");
    let slow = text.replace(
        "\"maximumPercent\": 150,\n    \"minimumHealthyPercent\": 50,",
        "\"maximumPercent\": 120,\n    \"minimumHealthyPercent\": 100,",
    );
    assert_ne!(slow, text, "the deployment configuration was edited");
    std::fs::write(&service_file, slow).expect("write service definition");
    common::stackup(config.path(), &proxy.endpoint)
        .args(["create-stack", "local", "--yes"])
        .assert()
        .success();
    common::put_app_password(&proxy.endpoint);
    config
}

/// A slow-rolling stack in the account of `test`, with release 1.0.0 of web
/// deployed: its proxy, config dir and an SDK configuration through it.
fn slow_stack_with_release_1(test: &str) -> (AwsProxy, tempfile::TempDir, aws_config::SdkConfig) {
    let cloud = LocalCloud::load();
    let proxy = AwsProxy::start(&cloud.moto_endpoint(), &common::account_for(test));
    let config = slow_rollout_stack(&proxy);
    let sdk = block_on(common::sdk_config(&proxy.endpoint));
    common::stackup(config.path(), &proxy.endpoint)
        .args(["deploy-release", "local", "--yes"])
        .args(["--image", "web=ghcr.io/example/demo:1.0.0"])
        .assert()
        .success();
    (proxy, config, sdk)
}

/// The same deploy-release run again after `release` was left `was`
/// (interrupted, started): it says it follows that rollout and completes it.
/// Its JSON report and stderr.
fn run_again_follows(
    config: &tempfile::TempDir,
    proxy: &AwsProxy,
    args: &[&str],
    release: &str,
    was: &str,
) -> (serde_json::Value, String) {
    let output = common::stackup(config.path(), &proxy.endpoint)
        .args(args)
        .successful_output();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        stderr.contains(&format!(
            "rollout (release {release}, {was}) was not followed to its end: following it"
        )),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["services"][0]["result"], "completed", "{stderr}");
    (report, stderr)
}

/// Every version of the service's release record, oldest first.
fn release_history(config: &aws_config::SdkConfig) -> Vec<serde_json::Value> {
    block_on(async {
        let ssm = aws_sdk_ssm::Client::new(config);
        let mut versions: Vec<(i64, serde_json::Value)> = Vec::new();
        let mut token = None;
        loop {
            let page = ssm
                .get_parameter_history()
                .name("/stackup/demo-local-v1/releases/web")
                .set_next_token(token)
                .send()
                .await
                .expect("release history");
            for parameter in page.parameters() {
                versions.push((
                    parameter.version(),
                    serde_json::from_str(parameter.value().expect("value")).expect("JSON record"),
                ));
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        versions.sort_by_key(|(version, _)| *version);
        versions.into_iter().map(|(_, record)| record).collect()
    })
}

#[test]
fn deploy_release_interrupted_while_waiting_leaves_the_rollout_to_ecs_and_the_same_command_converges(
) {
    let cloud = LocalCloud::load();
    let proxy = AwsProxy::start(
        &cloud.moto_endpoint(),
        &common::account_for("interrupt-deploy"),
    );
    let config = slow_rollout_stack(&proxy);
    common::stackup(config.path(), &proxy.endpoint)
        .args(["deploy-release", "local", "--yes"])
        .args(["--image", "web=ghcr.io/example/demo:1.0.0"])
        .assert()
        .success();
    let sdk = block_on(common::sdk_config(&proxy.endpoint));
    let first = block_on(common::web_service(&sdk))
        .task_definition()
        .expect("revision 1")
        .to_string();

    let release_args = [
        "--output",
        "json",
        "deploy-release",
        "local",
        "--yes",
        "--image",
        "web=ghcr.io/example/demo:1.1.0",
    ];
    let mut run = Running::spawn(config.path(), &proxy.endpoint, &release_args);
    run.wait_until(
        "the wait for the rollout",
        Duration::from_secs(60),
        |stderr| stderr.contains("web: waiting for the rollout"),
    );
    run.interrupt();
    let (code, stdout, stderr) = run.finish(Duration::from_secs(30));
    eprintln!("the interrupted run said:\n{stderr}");
    assert_eq!(code, Some(INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted: the rollout of service web continues in ECS without stackup (revision 2, recorded as interrupted). \
             Run `stackup deploy-release local --image web=ghcr.io/example/demo:1.1.0` again to follow it to its end (nothing new is registered), \
             or `stackup rollback local --service web` to go back to the previous revision"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("error:"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["services"][0]["result"], "interrupted");
    assert_eq!(report["services"][0]["revision"], 2);

    // The update was made whole (the service runs revision 2's deployment)
    // and its rollout is ECS's to finish: nothing is half-applied.
    let service = block_on(common::web_service(&sdk));
    let second = service.task_definition().expect("revision").to_string();
    assert!(second.ends_with(":2"), "{second}");
    let primary = &service.deployments()[0];
    assert_eq!(primary.task_definition(), Some(second.as_str()));
    assert_eq!(
        primary.rollout_state().map(|state| state.as_str()),
        Some("IN_PROGRESS"),
        "the rollout was still under way when stackup stopped following it"
    );
    let interrupted = release_history(&sdk);
    let last = interrupted.last().expect("a record");
    assert_eq!(last["result"], "interrupted");
    assert_eq!(last["revision"], 2);
    let release = last["release"].as_str().expect("release id").to_string();

    // The same command again follows that rollout to its end and records it.
    let before = proxy.operations().len();
    let (report, stderr) =
        run_again_follows(&config, &proxy, &release_args, &release, "interrupted");
    assert!(
        stderr.contains("web: revision 2 is deployed but its rollout"),
        "{stderr}"
    );
    assert_eq!(report["services"][0]["registered"], false);
    assert_eq!(report["services"][0]["revision"], 2);
    let second_run = proxy.operations()[before..].to_vec();
    for mutation in ["RegisterTaskDefinition", "UpdateService", "CreateService"] {
        assert!(
            !second_run.iter().any(|operation| operation == mutation),
            "{mutation} in {second_run:?}"
        );
    }
    assert_eq!(
        second_run
            .iter()
            .filter(|operation| *operation == "PutParameter")
            .count(),
        1,
        "one record, of the release's end: {second_run:?}"
    );

    let service = block_on(common::web_service(&sdk));
    assert_eq!(service.task_definition(), Some(second.as_str()));
    assert_eq!(service.deployments().len(), 1, "only revision 2 is left");
    let deployment = &service.deployments()[0];
    assert_eq!(
        deployment.rollout_state().map(|state| state.as_str()),
        Some("COMPLETED")
    );
    assert_eq!(
        (deployment.running_count(), deployment.desired_count()),
        (5, 5)
    );
    let family = second
        .rsplit('/')
        .next()
        .and_then(|name| name.split(':').next())
        .expect("family")
        .to_string();
    let revisions = block_on(async {
        aws_sdk_ecs::Client::new(&sdk)
            .list_task_definitions()
            .family_prefix(&family)
            .send()
            .await
            .expect("task definitions")
            .task_definition_arns()
            .to_vec()
    });
    assert_eq!(
        revisions,
        vec![first.clone(), second.clone()],
        "no revision was registered twice"
    );
    // Revision 2 is one release, recorded as it went: started before the
    // wait, interrupted, then completed.
    let records: Vec<(String, String)> = release_history(&sdk)
        .iter()
        .filter(|record| record["revision"] == 2)
        .map(|record| {
            (
                record["release"].as_str().unwrap_or_default().to_string(),
                record["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        records,
        vec![
            (release.clone(), "started".to_string()),
            (release.clone(), "interrupted".to_string()),
            (release.clone(), "completed".to_string())
        ]
    );
    let completed = release_history(&sdk);
    let last = completed.last().expect("record");
    assert_eq!(last["previous"], serde_json::json!(first), "{last}");

    // And then there is nothing left to do.
    let output = common::stackup(config.path(), &proxy.endpoint)
        .args(release_args)
        .successful_output();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["services"][0]["result"], "unchanged");
}

/// A run ended by SIGTERM is interrupted as by Ctrl-C; one killed outright
/// has its release in the history already ("started", written before the
/// wait), and the same command follows that rollout to its end.
#[test]
fn deploy_release_terminated_or_killed_while_waiting_is_in_the_history_and_the_same_command_converges(
) {
    let (proxy, config, sdk) = slow_stack_with_release_1("killed-deploy");
    let release_args = |version: &str| {
        [
            "--output".to_string(),
            "json".into(),
            "deploy-release".into(),
            "local".into(),
            "--yes".into(),
            "--image".into(),
            format!("web=ghcr.io/example/demo:{version}"),
        ]
    };
    let waiting = |signal: &str, version: &str| {
        let args = release_args(version);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut run = Running::spawn(config.path(), &proxy.endpoint, &args);
        run.wait_until(
            "the wait for the rollout",
            Duration::from_secs(60),
            |stderr| stderr.contains("web: waiting for the rollout"),
        );
        run.signal(signal);
        run.finish(Duration::from_secs(30))
    };

    let (code, _, stderr) = waiting("TERM", "1.1.0");
    assert_eq!(code, Some(INTERRUPTED), "{stderr}");
    assert!(stderr.contains("recorded as interrupted"), "{stderr}");
    let last = release_history(&sdk).last().cloned().expect("a record");
    assert_eq!(
        (last["revision"].clone(), last["result"].clone()),
        (2.into(), "interrupted".into())
    );

    let (code, _, stderr) = waiting("KILL", "1.2.0");
    assert_eq!(code, None, "killed: {stderr}");
    let last = release_history(&sdk).last().cloned().expect("a record");
    assert_eq!(
        (last["revision"].clone(), last["result"].clone()),
        (3.into(), "started".into())
    );
    let release = last["release"].as_str().expect("release id").to_string();
    let args = release_args("1.2.0");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (report, _) = run_again_follows(&config, &proxy, &args, &release, "started");
    assert_eq!(report["release"], release.as_str());
    let last = release_history(&sdk).last().cloned().expect("a record");
    assert_eq!(
        (last["release"].clone(), last["result"].clone()),
        (release.into(), "completed".into())
    );

    // A rollback killed outright: the same command goes on with it (to
    // revision 2), not one release further back.
    let rollback_args = ["--output", "json", "rollback", "local", "--yes"];
    let mut run = Running::spawn(config.path(), &proxy.endpoint, &rollback_args);
    run.wait_until(
        "the wait for the rollback",
        Duration::from_secs(60),
        |stderr| stderr.contains("web: waiting for the rollout"),
    );
    run.signal("KILL");
    let (code, _, stderr) = run.finish(Duration::from_secs(30));
    assert_eq!(code, None, "killed: {stderr}");
    let last = release_history(&sdk).last().cloned().expect("a record");
    assert_eq!(
        (last["revision"].clone(), last["result"].clone()),
        (2.into(), "started".into())
    );
    let rollback = last["release"].as_str().expect("release id").to_string();
    let output = common::stackup(config.path(), &proxy.endpoint)
        .args(rollback_args)
        .successful_output();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(
        report["services"][0]["to"]
            .as_str()
            .is_some_and(|to| to.ends_with(":2")),
        "{report}"
    );
    let last = release_history(&sdk).last().cloned().expect("a record");
    assert_eq!(
        (last["release"].clone(), last["result"].clone()),
        (rollback.into(), "completed".into())
    );
}

/// `stackup rollback local --service web --to 1 --yes`, which must succeed:
/// the command an interrupted rollback names.
fn rollback_web_to_1(config: &tempfile::TempDir, proxy: &AwsProxy) {
    common::stackup(config.path(), &proxy.endpoint)
        .args([
            "rollback",
            "local",
            "--service",
            "web",
            "--to",
            "1",
            "--yes",
        ])
        .assert()
        .success();
}

/// Interrupted while a failed release is being rolled back: the release is
/// recorded as failed, the way back is left to ECS, exit 130 names the
/// rollback command that follows it, and that command converges.
#[test]
fn deploy_release_interrupted_during_its_rollback_names_the_rollback_to_follow() {
    let (proxy, config, sdk) = slow_stack_with_release_1("interrupt-deploy-rollback");
    common::moto_control(
        &proxy,
        "/moto-api/ecs-model/fail-deployments",
        &serde_json::json!({"account_id": proxy.account, "cluster": "demo-local-v1", "service": "web", "reason": "CannotPullContainerError: not found"}),
    );
    let args = [
        "--output",
        "json",
        "deploy-release",
        "local",
        "--yes",
        "--image",
        "web=ghcr.io/example/demo:broken",
    ];
    let mut run = Running::spawn(config.path(), &proxy.endpoint, &args);
    run.wait_until("the rollback's wait", Duration::from_secs(60), |stderr| {
        stderr.contains("rolling back to revision 1")
    });
    run.signal("TERM");
    let (code, stdout, stderr) = run.finish(Duration::from_secs(30));
    assert_eq!(code, Some(INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains("revision 2 of service web failed (recorded as failed) and its rollback to revision 1 continues in ECS without stackup: run `stackup rollback local --service web --to 1`"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["services"][0]["result"], "interrupted");
    let last = release_history(&sdk).last().cloned().expect("a record");
    assert_eq!(
        (last["revision"].clone(), last["result"].clone()),
        (2.into(), "failed".into())
    );
    rollback_web_to_1(&config, &proxy);
    let service = block_on(common::web_service(&sdk));
    assert!(service
        .task_definition()
        .is_some_and(|arn| arn.ends_with(":1")));
    assert_eq!(service.deployments().len(), 1);
}

#[test]
fn rollback_interrupted_while_waiting_names_the_revision_and_the_command_that_finishes_it() {
    rollback_interrupted_then_run_again("interrupt-rollback", false);
}

/// The rollout the interrupted rollback left to ECS ends before the named
/// command runs: that command then only records the end.
#[test]
fn rollback_interrupted_then_settled_is_recorded_as_completed_by_the_command_it_named() {
    rollback_interrupted_then_run_again("interrupt-rollback-settled", true);
}

fn rollback_interrupted_then_run_again(test: &str, settle_first: bool) {
    let cloud = LocalCloud::load();
    let proxy = AwsProxy::start(&cloud.moto_endpoint(), &common::account_for(test));
    let config = slow_rollout_stack(&proxy);
    for version in ["1.0.0", "1.1.0"] {
        common::stackup(config.path(), &proxy.endpoint)
            .args(["deploy-release", "local", "--yes"])
            .args(["--image", &format!("web=ghcr.io/example/demo:{version}")])
            .assert()
            .success();
    }
    let sdk = block_on(common::sdk_config(&proxy.endpoint));
    let second = block_on(common::web_service(&sdk))
        .task_definition()
        .expect("revision 2")
        .to_string();
    // the revision is after the last ':' (the account id may hold ":2" too)
    let first = format!("{}:1", second.rsplit_once(':').expect("family:revision").0);

    let mut run = Running::spawn(
        config.path(),
        &proxy.endpoint,
        &["rollback", "local", "--yes"],
    );
    run.wait_until(
        "the wait for the rollback",
        Duration::from_secs(60),
        |stderr| stderr.contains("web: waiting for the rollout"),
    );
    run.interrupt();
    let (code, _, stderr) = run.finish(Duration::from_secs(30));
    eprintln!("the interrupted run said:\n{stderr}");
    assert_eq!(code, Some(INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted: the rollback of service web to revision 1 continues in ECS without stackup (recorded as interrupted). \
             Run `stackup rollback local --service web --to 1` again to follow it to its end"
        ),
        "{stderr}"
    );
    let service = block_on(common::web_service(&sdk));
    assert_eq!(service.task_definition(), Some(first.as_str()));
    assert_eq!(
        service.deployments()[0]
            .rollout_state()
            .map(|state| state.as_str()),
        Some("IN_PROGRESS")
    );
    let history = release_history(&sdk);
    let last = history.last().expect("record");
    assert_eq!(
        (last["revision"].clone(), last["result"].clone()),
        (1.into(), "interrupted".into())
    );

    if settle_first {
        // ECS carries on without stackup (the model takes a step per look).
        let settled = (0..50).any(|_| {
            let service = block_on(common::web_service(&sdk));
            service.deployments().len() == 1
                && service.deployments()[0]
                    .rollout_state()
                    .map(|state| state.as_str())
                    == Some("COMPLETED")
        });
        assert!(settled, "the rollback's rollout did not settle in 50 looks");
    }

    // The command it named finishes the rollback; a plain rollback would go
    // further back than revision 1, which is why the message names it.
    let before = proxy.operations().len();
    rollback_web_to_1(&config, &proxy);
    let service = block_on(common::web_service(&sdk));
    assert_eq!(service.task_definition(), Some(first.as_str()));
    assert_eq!(service.deployments().len(), 1);
    assert_eq!(
        service.deployments()[0]
            .rollout_state()
            .map(|state| state.as_str()),
        Some("COMPLETED")
    );
    let again = &proxy.operations()[before..];
    assert!(!again
        .iter()
        .any(|operation| operation == "RegisterTaskDefinition"));
    // Nothing to change in ECS, settled or not: the rollout under way is
    // followed (or found ended) and recorded.
    assert!(
        !again.iter().any(|operation| operation == "UpdateService"),
        "{again:?}"
    );
    let history = release_history(&sdk);
    let last = history.last().expect("record");
    assert_eq!(
        (last["revision"].clone(), last["result"].clone()),
        (1.into(), "completed".into())
    );
    let interrupted = &history[history.len() - 2];
    assert_eq!(interrupted["result"], "interrupted");
    // The end of the interrupted rollback, not another one.
    assert_eq!(last["release"], interrupted["release"]);
}

// ---------------------------------------------------------------------------
// update-resources

/// The migration lock (`stackup::db::migrations::LOCK_KEY`) as pg_locks shows
/// a bigint advisory lock: its high and low 32 bits.
fn lock_holders(db: &DatabaseStack) -> String {
    let key = stackup::db::migrations::LOCK_KEY;
    db.cloud.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = {} AND objid = {} AND objsubid = 1",
            key >> 32,
            key & 0xffff_ffff
        ),
    )
}

#[test]
fn update_resources_interrupted_during_a_migration_rolls_it_back_and_the_same_command_converges() {
    let db = DatabaseStack::new("interrupt-migration", "t");
    db.create_stack();
    // The database, the role, 001 and the seeds, so that the interrupted run
    // has only the new migration to apply.
    db.stackup()
        .args(["update-resources", "local", "--yes"])
        .assert()
        .success();

    // 002 sleeps for as long as the role's setting says: 60 s while the test
    // holds it there, 0 once the setting is gone. The file stays the same, so
    // the converging run applies the very migration that was interrupted.
    let role = format!("{}_app", db.name);
    db.cloud.psql(
        "postgres",
        &format!("ALTER ROLE {role} SET stackup_test.hold_seconds = '60'"),
    );
    let slow_file = db.config.path().join("scripts/db/migrations/002_slow.sql");
    let slow_sql = "CREATE TABLE slow_partial (id int);\n\
                    INSERT INTO slow_partial VALUES (1);\n\
                    SELECT pg_sleep(coalesce(current_setting('stackup_test.hold_seconds', true), '0')::float8);\n";
    std::fs::write(&slow_file, slow_sql).expect("write 002");

    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()",
        db.name
    );
    let args = ["--output", "json", "update-resources", "local", "--yes"];
    let mut run = Running::spawn(db.config.path(), &db.proxy.endpoint, &args);
    run.wait_until("002_slow.sql to run", Duration::from_secs(60), |stderr| {
        stderr.contains("applying 002_slow.sql") && db.cloud.psql("postgres", &sleeping) == "1"
    });
    run.interrupt();
    let (code, stdout, stderr) = run.finish(Duration::from_secs(30));
    eprintln!("the interrupted run said:\n{stderr}");
    assert_eq!(code, Some(INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted: Ctrl-C during 002_slow.sql: it was cancelled on the server and its transaction rolled back, \
             so 002_slow.sql was not applied and the database is at 001_create_accounts.sql. \
             Run `stackup update-resources local` again to continue"
        ),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "no report for a stopped run: {stdout}");

    // Nothing of 002 is left: its statement stopped on the server (not when
    // its 60 s were up), its table and row are gone, the lock is free.
    assert_eq!(db.cloud.psql("postgres", &sleeping), "0");
    assert_eq!(
        db.sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"),
        "1"
    );
    assert_eq!(db.sql("SELECT to_regclass('slow_partial') IS NULL"), "t");
    assert_eq!(lock_holders(&db), "0");

    // The same command again applies 002 (once) and the seeds after it.
    db.cloud.psql(
        "postgres",
        &format!("ALTER ROLE {role} RESET stackup_test.hold_seconds"),
    );
    let output = db.stackup().args(args).successful_output();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        report["migrations_applied"],
        serde_json::json!(["002_slow.sql"])
    );
    assert_eq!(report["seeds_applied"], true);
    let checksum = |file: &str| {
        let text =
            std::fs::read_to_string(db.config.path().join("scripts/db/migrations").join(file))
                .expect("migration file");
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    assert_eq!(
        db.sql("SELECT string_agg(version || ' ' || name || ' ' || checksum, ',' ORDER BY version) FROM schema_migrations"),
        format!(
            "1 create_accounts {},2 slow {}",
            checksum("001_create_accounts.sql"),
            checksum("002_slow.sql")
        )
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM slow_partial"),
        "1",
        "applied once"
    );
    assert_eq!(lock_holders(&db), "0");
    db.stackup()
        .args(["update-resources", "local", "--yes"])
        .assert()
        .success()
        .stderr(predicates::str::contains("nothing to do"));
}

// ---------------------------------------------------------------------------
// create-stack

/// A proxy in front of a test's [`AwsProxy`] that holds every request whose
/// body holds all of `hold` (up to a minute) while `holding` is set: the
/// DescribeStackEvents calls, or the platform's CreateChangeSet.
///
/// Why: moto creates a whole stack inside ExecuteChangeSet, so on the local
/// cloud there is no moment at which a stack is still in progress and
/// create-stack is following its events, as it is for minutes on AWS. Holding
/// the event calls puts create-stack at that same point (waiting on AWS in its
/// event stream, as it does when a call is slow or being retried) without
/// pretending anything about the stack: its real state, CREATE_COMPLETE in
/// moto, is what the interrupted run must report.
struct HoldingProxy {
    endpoint: String,
    holding: Arc<AtomicBool>,
    /// Requests being held now.
    held: Arc<AtomicUsize>,
    /// Matching requests seen so far, held or not.
    seen: Arc<AtomicUsize>,
    /// How many of the first matching requests go through unheld.
    passing: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

const HOLD_AT_MOST: Duration = Duration::from_secs(60);

impl HoldingProxy {
    fn start(upstream: &str, hold: &'static [&'static str]) -> HoldingProxy {
        let (runtime, listener) = common::loopback_server();
        let address: SocketAddr = listener.local_addr().expect("address");
        let holding = Arc::new(AtomicBool::new(true));
        let held = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        let passing = Arc::new(AtomicUsize::new(0));
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.to_string();
        let (task_holding, task_held, task_seen, task_passing) =
            (holding.clone(), held.clone(), seen.clone(), passing.clone());
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (client, upstream) = (client.clone(), upstream.clone());
                let (holding, held, seen, passing) = (
                    task_holding.clone(),
                    task_held.clone(),
                    task_seen.clone(),
                    task_passing.clone(),
                );
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let (client, upstream) = (client.clone(), upstream.clone());
                        let (holding, held, seen, passing) =
                            (holding.clone(), held.clone(), seen.clone(), passing.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await?.to_bytes();
                            let text = String::from_utf8_lossy(&body);
                            if hold.iter().all(|part| text.contains(part))
                                && seen.fetch_add(1, Ordering::SeqCst)
                                    >= passing.load(Ordering::SeqCst)
                            {
                                held.fetch_add(1, Ordering::SeqCst);
                                let start = Instant::now();
                                while holding.load(Ordering::SeqCst)
                                    && start.elapsed() < HOLD_AT_MOST
                                {
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                }
                                held.fetch_sub(1, Ordering::SeqCst);
                            }
                            let path = parts
                                .uri
                                .path_and_query()
                                .map(|p| p.as_str())
                                .unwrap_or("/");
                            let mut builder = Request::builder()
                                .method(parts.method)
                                .uri(format!("{upstream}{path}"));
                            for (name, value) in &parts.headers {
                                builder = builder.header(name, value);
                            }
                            let response = client
                                .request(builder.body(Full::new(body)).expect("request"))
                                .await;
                            Ok::<_, hyper::Error>(match response {
                                Ok(response) => {
                                    let (parts, body) = response.into_parts();
                                    let body = body.collect().await?.to_bytes();
                                    Response::from_parts(parts, Full::new(body))
                                }
                                Err(error) => Response::builder()
                                    .status(502)
                                    .body(Full::new(Bytes::from(format!("holding proxy: {error}"))))
                                    .expect("response"),
                            })
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HoldingProxy {
            endpoint: format!("http://{address}"),
            holding,
            held,
            seen,
            passing,
            _runtime: runtime,
        }
    }

    fn release(&self) {
        self.holding.store(false, Ordering::SeqCst);
    }

    /// Hold the matching requests again (they are held from the start).
    fn hold(&self) {
        self.holding.store(true, Ordering::SeqCst);
    }

    /// Let the first `count` matching requests through unheld.
    fn let_first_through(&self, count: usize) {
        self.passing.store(count, Ordering::SeqCst);
    }
}

#[test]
fn create_stack_interrupted_while_following_events_says_where_it_stopped_and_the_same_command_converges(
) {
    let cloud = LocalCloud::load();
    let proxy = AwsProxy::start(
        &cloud.moto_endpoint(),
        &common::account_for("interrupt-create"),
    );
    // The network stack's events are held (the secrets stack before it is
    // followed as usual).
    let holding = HoldingProxy::start(
        &proxy.endpoint,
        &["Action=DescribeStackEvents", "demo-local-v1-network"],
    );
    let config = common::stack_config_dir(&[]);

    let mut run = Running::spawn(
        config.path(),
        &holding.endpoint,
        &["create-stack", "local", "--yes"],
    );
    run.wait_until(
        "create-stack to follow the network stack's events",
        Duration::from_secs(60),
        |stderr| {
            stderr.contains("demo-local-v1-network: waiting for CloudFormation")
                && holding.held.load(Ordering::SeqCst) > 0
        },
    );
    run.interrupt();
    let (code, _, stderr) = run.finish(Duration::from_secs(30));
    eprintln!("the interrupted run said:\n{stderr}");
    assert_eq!(code, Some(INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted: stopped following demo-local-v1-network, which is CREATE_COMPLETE. \
             demo-local-v1-platform was not started. \
             Run `stackup create-stack local` again to follow it to its end and continue."
        ),
        "{stderr}"
    );

    // Nothing of the platform exists: not its stack, not its master password.
    let sdk = block_on(common::sdk_config(&proxy.endpoint));
    assert_eq!(
        block_on(common::stack_status(&sdk, "demo-local-v1-network")).as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(
        block_on(common::stack_status(&sdk, "demo-local-v1-platform")),
        None
    );
    let password = block_on(async {
        aws_sdk_ssm::Client::new(&sdk)
            .get_parameter()
            .name("/stackup/demo-local-v1/database/master-password")
            .send()
            .await
    });
    assert!(password.is_err(), "the platform's password was stored");
    let executed = |proxy: &AwsProxy| {
        proxy
            .operations()
            .iter()
            .filter(|operation| *operation == "ExecuteChangeSet")
            .count()
    };
    // The secrets stack's and the network's.
    assert_eq!(executed(&proxy), 2);

    // The same command again: the network has nothing to change, the
    // platform is created.
    holding.release();
    let output = common::stackup(config.path(), &holding.endpoint)
        .args(["--output", "json", "create-stack", "local", "--yes"])
        .successful_output();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["stacks"][0]["result"], "unchanged");
    assert_eq!(report["stacks"][1]["result"], "created");
    assert_eq!(report["stacks"][1]["status"], "CREATE_COMPLETE");
    assert_eq!(executed(&proxy), 3, "each stack's change set executed once");
    assert_eq!(
        block_on(common::stack_status(&sdk, "demo-local-v1-platform")).as_deref(),
        Some("CREATE_COMPLETE")
    );
}

/// Ctrl-C while no wait is listening (here: while the platform's change set
/// is being made, between following the network and following the platform)
/// ends the run at once with 130, as SIGINT's default action would, instead
/// of being swallowed by the handler an earlier wait installed. The same
/// command then converges.
#[test]
fn create_stack_interrupted_between_two_waits_ends_at_once_and_the_same_command_converges() {
    let cloud = LocalCloud::load();
    let proxy = AwsProxy::start(
        &cloud.moto_endpoint(),
        &common::account_for("interrupt-between"),
    );
    let holding = HoldingProxy::start(
        &proxy.endpoint,
        &["Action=CreateChangeSet", "StackName=demo-local-v1-platform"],
    );
    let config = common::stack_config_dir(&[]);
    let mut run = Running::spawn(
        config.path(),
        &holding.endpoint,
        &["create-stack", "local", "--yes"],
    );
    run.wait_until(
        "create-stack to make the platform's change set",
        Duration::from_secs(60),
        |_| holding.held.load(Ordering::SeqCst) > 0,
    );
    run.interrupt();
    let (code, _, stderr) = run.finish(Duration::from_secs(30));
    eprintln!("the interrupted run said:\n{stderr}");
    assert_eq!(code, Some(INTERRUPTED), "{stderr}");
    assert!(stderr.trim_end().ends_with("interrupted"), "{stderr}");

    // The held call goes on to moto (as a request already sent to AWS would);
    // the next run finds the platform as that left it and finishes the job.
    holding.release();
    common::stackup(config.path(), &holding.endpoint)
        .args(["--output", "json", "create-stack", "local", "--yes"])
        .successful_output();
    let sdk = block_on(common::sdk_config(&proxy.endpoint));
    for stack in ["demo-local-v1-network", "demo-local-v1-platform"] {
        assert_eq!(
            block_on(common::stack_status(&sdk, stack)).as_deref(),
            Some("CREATE_COMPLETE"),
            "{stack}"
        );
    }
}

// ---------------------------------------------------------------------------
// logs --follow

/// Ctrl-C is the normal end of `logs --follow` (exit 0), and it ends a poll
/// that is still waiting on CloudWatch, not only the pause between polls: a
/// busy poll reads many pages. The poll's FilterLogEvents is held at a proxy
/// until the process has gone.
#[test]
fn logs_follow_ends_with_exit_0_on_ctrl_c_even_in_the_middle_of_a_poll() {
    let cloud = LocalCloud::load();
    let proxy = AwsProxy::start(
        &cloud.moto_endpoint(),
        &common::account_for("interrupt-logs"),
    );
    let config = common::stack_config_dir(&[]);
    common::stackup(config.path(), &proxy.endpoint)
        .args(["create-stack", "local", "--yes"])
        .successful_output();
    // FilterLogEvents (JSON protocol); nothing else stackup sends has these
    let holding = HoldingProxy::start(&proxy.endpoint, &["\"logGroupName\"", "\"startTime\""]);
    holding.release();
    let mut run = Running::spawn(
        config.path(),
        &holding.endpoint,
        &["logs", "local", "--since", "5m", "--follow"],
    );
    // An empty group is one call to read; the second is the first poll of --follow.
    run.wait_until("logs to poll", Duration::from_secs(60), |_| {
        holding.seen.load(Ordering::SeqCst) >= 2
    });
    holding.hold();
    run.wait_until("a poll to be held", Duration::from_secs(30), |_| {
        holding.held.load(Ordering::SeqCst) > 0
    });
    run.interrupt();
    let (code, stdout, stderr) = run.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        holding.held.load(Ordering::SeqCst) > 0,
        "it ended while its poll was still waiting"
    );
    assert_eq!(stdout, "", "an empty group prints nothing");
    assert!(!stderr.contains("rror"), "{stderr}");
    holding.release();
}

/// A stack whose log group holds `count` events, a millisecond apart from
/// ten minutes ago, in one stream: more than two pages, so that reading them
/// takes a first page and then slices. The message of event `i` is `event i`.
fn logs_stack_with_events(test: &str, count: i64) -> (AwsProxy, tempfile::TempDir, i64) {
    let cloud = LocalCloud::load();
    let proxy = AwsProxy::start(&cloud.moto_endpoint(), &common::account_for(test));
    let config = common::stack_config_dir(&[]);
    common::stackup(config.path(), &proxy.endpoint)
        .args(["create-stack", "local", "--yes"])
        .successful_output();
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        - 10 * 60 * 1000;
    block_on(async {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&common::sdk_config(&proxy.endpoint).await);
        logs.create_log_stream()
            .log_group_name("/stackup/demo-local-v1")
            .log_stream_name("web/web/many")
            .send()
            .await
            .expect("stream");
        for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
            let events = chunk
                .iter()
                .map(|index| {
                    aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                        .timestamp(base + index)
                        .message(format!("event {index}"))
                        .build()
                        .expect("event")
                })
                .collect();
            logs.put_log_events()
                .log_group_name("/stackup/demo-local-v1")
                .log_stream_name("web/web/many")
                .set_log_events(Some(events))
                .send()
                .await
                .expect("put events");
        }
    });
    (proxy, config, base)
}

/// The messages of JSON lines, each of which must be whole.
fn messages_of_json_lines(stdout: &str) -> Vec<String> {
    assert!(
        stdout.is_empty() || stdout.ends_with('\n'),
        "whole lines: {:?}",
        &stdout[stdout.len().saturating_sub(200)..]
    );
    stdout
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
            event["message"].as_str().expect("message").to_string()
        })
        .collect()
}

fn first_events(count: usize) -> Vec<String> {
    (0..count).map(|index| format!("event {index}")).collect()
}

/// Ctrl-C during the first read of `logs --follow` (a range of many pages,
/// read before the first poll) ends it as normally as during a poll: exit 0,
/// the lines printed until then whole.
#[test]
fn logs_follow_ends_with_exit_0_on_ctrl_c_during_its_first_read() {
    let (proxy, config, base) = logs_stack_with_events("interrupt-logs-first-read", 25_000);
    // the first page goes through and is printed; the slices after it are held
    let holding = HoldingProxy::start(&proxy.endpoint, &["\"logGroupName\"", "\"startTime\""]);
    holding.let_first_through(1);
    let since = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + Duration::from_millis(base as u64),
    )
    .to_string();
    let mut run = Running::spawn(
        config.path(),
        &holding.endpoint,
        &[
            "--output", "json", "logs", "local", "--since", &since, "--follow",
        ],
    );
    run.wait_until(
        "the rest of the first read to be held",
        Duration::from_secs(60),
        |_| holding.held.load(Ordering::SeqCst) > 0,
    );
    run.interrupt();
    let (code, stdout, stderr) = run.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("rror"), "{stderr}");
    let messages = messages_of_json_lines(&stdout);
    assert!(
        !messages.is_empty() && messages.len() < 25_000,
        "the first page, not the rest: {} lines",
        messages.len()
    );
    assert_eq!(
        messages,
        first_events(messages.len()),
        "in order, from the start"
    );
    holding.release();
}

/// Plain `logs` interrupted is interrupted like any other command (exit 130):
/// the lines printed until then are whole, and the message names the command
/// that prints the rest.
#[test]
fn logs_interrupted_exits_130_with_whole_lines_and_the_command_for_the_rest() {
    let total = 25_000;
    let (proxy, config, base) = logs_stack_with_events("interrupt-logs-read", total);
    let holding = HoldingProxy::start(&proxy.endpoint, &["\"logGroupName\"", "\"startTime\""]);
    holding.let_first_through(1);
    let time = |ms: i64| {
        humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms as u64))
            .to_string()
    };
    let (since, until) = (time(base), time(base + total));
    let mut run = Running::spawn(
        config.path(),
        &holding.endpoint,
        &[
            "--output", "json", "logs", "local", "--since", &since, "--until", &until,
        ],
    );
    run.wait_until(
        "the rest of the read to be held",
        Duration::from_secs(60),
        |_| holding.held.load(Ordering::SeqCst) > 0,
    );
    run.interrupt();
    let (code, stdout, stderr) = run.finish(Duration::from_secs(30));
    holding.release();
    assert_eq!(code, Some(INTERRUPTED), "{stderr}");
    assert!(stderr.contains("interrupted: "), "{stderr}");
    let printed = messages_of_json_lines(&stdout);
    assert!(
        !printed.is_empty() && printed.len() < total as usize,
        "{}",
        printed.len()
    );
    assert_eq!(printed, first_events(printed.len()));
    // the command the message names prints the rest
    let rest = stderr
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("a command in `backquotes`: {stderr}"));
    let words: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(words[..2], ["stackup", "logs"], "{stderr}");
    assert!(rest.contains(&format!("--until {until}")), "{stderr}");
    let output = common::stackup(config.path(), &proxy.endpoint)
        .args(["--output", "json"])
        .args(&words[1..])
        .successful_output();
    let mut all = printed;
    all.extend(messages_of_json_lines(&String::from_utf8_lossy(
        &output.stdout,
    )));
    assert_eq!(
        all,
        first_events(total as usize),
        "every event once, in order"
    );
}

/// A closed stderr (`stackup rollback S --yes 2>&1 | head -3`) loses the lines,
/// not the work: the rollback waits for its rollout, records it completed and
/// exits 0; a panic (exit 101) would leave the release `started`.
#[test]
fn a_closed_stderr_does_not_stop_a_rollout() {
    let (proxy, config, sdk) = slow_stack_with_release_1("closed-stderr");
    common::stackup(config.path(), &proxy.endpoint)
        .args(["deploy-release", "local", "--yes"])
        .args(["--image", "web=ghcr.io/example/demo:1.1.0"])
        .assert()
        .success();
    let mut child = common::stackup_process(config.path(), &proxy.endpoint)
        .args(["--output", "json", "rollback", "local", "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stackup starts");
    // Read stderr up to the wait, then close it, as `head` does.
    let mut seen = String::new();
    {
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let start = Instant::now();
        while !seen.contains("web: waiting for the rollout") {
            assert!(start.elapsed() < Duration::from_secs(60), "{seen}");
            match lines.next() {
                Some(Ok(line)) => {
                    seen.push_str(&line);
                    seen.push('\n');
                }
                _ => panic!("stderr ended before the wait:\n{seen}"),
            }
        }
    }
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("stdout");
    let status = child.wait().expect("stackup ends");
    assert_eq!(status.code(), Some(0), "{seen}\nstdout: {stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["services"][0]["result"], "completed", "{report}");
    let last = release_history(&sdk).last().cloned().expect("a record");
    assert_eq!(
        (last["revision"].clone(), last["result"].clone()),
        (1.into(), "completed".into())
    );
}
