//! Faults between stackup and AWS: with 30% of the AWS requests answered by
//! throttling errors, 500s, 503s and resets shaped like AWS's (and some
//! delayed), every command completes and its side effects happen once.
//!
//! Each test has its own moto account, reached two ways: through a
//! [`FaultProxy`] for the command under test, and through a plain
//! [`AwsProxy`] for setting up and reading back, so that the checks see moto's
//! real state and the counts are the command's alone. The seed of a run is in
//! the output (`--nocapture`) and printed on failure; `STACKUP_FAULT_SEED=N`
//! repeats it.

mod common;

use common::block_on;

use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::faults::{FaultKind, FaultPlan, FaultProxy};
use common::{AwsProxy, LocalCloud};

/// The fraction of AWS requests that fail before they reach moto.
const FAILURE_RATE: f64 = 0.3;
/// No command may take longer than this, faults included.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// One account behind two proxies: `faulty` for the command under test,
/// `clean` for everything else.
struct Fixture {
    cloud: LocalCloud,
    faulty: FaultProxy,
    clean: AwsProxy,
    config: tempfile::TempDir,
}

fn fixture(test: &str, plan: FaultPlan, config: tempfile::TempDir) -> Fixture {
    let cloud = LocalCloud::load();
    let account = common::account_for(test);
    Fixture {
        faulty: FaultProxy::start(&cloud.moto_endpoint(), &account, plan),
        clean: AwsProxy::start(&cloud.moto_endpoint(), &account),
        cloud,
        config,
    }
}

impl Fixture {
    /// stackup through the fault proxy, bounded in time.
    fn under_faults(&self, args: &[&str]) -> Output {
        common::stackup(self.config.path(), &self.faulty.endpoint)
            .args(args)
            .timeout(COMMAND_LIMIT)
            .output()
            .expect("runs")
    }

    /// stackup through the clean proxy (setup).
    fn cleanly(&self, args: &[&str]) {
        let output = common::stackup(self.config.path(), &self.clean.endpoint)
            .args(args)
            .timeout(COMMAND_LIMIT)
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "setup `{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn sdk(&self) -> aws_config::SdkConfig {
        block_on(common::sdk_config(&self.clean.endpoint))
    }

    /// The command's report after asserting that it succeeded; the counts go
    /// to the test's output.
    fn succeeded(&self, what: &str, output: &Output) -> serde_json::Value {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{what} failed under faults ({:?}):\n{stderr}\n{}",
            output.status.code(),
            self.faulty.summary()
        );
        eprintln!("{what}: {}", self.faulty.summary());
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Make the next requests of `operation` (whose body contains `body`)
    /// fail before forwarding, one per kind in order, whatever the seed.
    fn force(&self, operation: &str, body: Option<&str>, kinds: &[FaultKind]) {
        for kind in kinds {
            self.faulty
                .fail_before_forwarding(operation, body, 1, *kind);
        }
    }

    /// `operation` met at least `faults` faults and was sent again until it
    /// got through: by the SDK's retries (attempt > 1), or by stackup's own
    /// for the calls it sends without them (src/aws/once.rs), whose repeats
    /// are new calls (attempt 1) and count as requests beyond the faults.
    fn retried_past(&self, operation: &str, faults: usize) {
        let stats = self.faulty.operation(operation);
        assert!(
            stats.fault_count() >= faults
                && (stats.retries >= faults || stats.requests > stats.fault_count()),
            "{operation} was not retried past {faults} faults: {stats:?}"
        );
    }

    /// How many requests of `operation` reached moto and were answered 2xx:
    /// how many times its side effect happened.
    fn done_upstream(&self, operation: &str) -> usize {
        self.faulty.operation(operation).succeeded_upstream
    }
}

/// An SDK configuration through `endpoint` with `attempts` attempts and short
/// backoffs, for looking at single responses.
async fn sdk_with_attempts(endpoint: &str, attempts: u32) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .load()
        .await
}

/// What the SDK made of an error: its code and message, or for errors without
/// a response, the kind of failure.
fn seen_by_the_sdk<E, R>(
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> (String, String)
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match error {
        SdkError::ServiceError(context) => (
            context.err().code().unwrap_or_default().to_string(),
            context.err().message().unwrap_or_default().to_string(),
        ),
        SdkError::DispatchFailure(failure) => (
            "dispatch failure".to_string(),
            format!("io: {}", failure.is_io()),
        ),
        other => ("other".to_string(), format!("{other:?}")),
    }
}

#[test]
fn faults_are_shaped_like_aws_and_the_sdk_retries_each_kind() {
    let cloud = LocalCloud::load();
    let account = common::account_for("faults-shapes");
    let cases = [
        (
            FaultKind::Throttling,
            [
                ("ThrottlingException", "Rate exceeded"),
                ("Throttling", "Rate exceeded"),
                ("RequestLimitExceeded", "Request limit exceeded."),
                ("Throttling", "Rate exceeded"),
            ],
        ),
        (
            FaultKind::InternalError,
            [
                ("InternalFailure", ""),
                ("InternalFailure", ""),
                ("InternalError", ""),
                ("InternalFailure", ""),
            ],
        ),
        (
            FaultKind::Unavailable,
            [
                ("ServiceUnavailable", ""),
                ("ServiceUnavailable", ""),
                ("Unavailable", ""),
                ("ServiceUnavailable", ""),
            ],
        ),
        (FaultKind::Reset, [("dispatch failure", "io: true"); 4]),
    ];
    for (kind, expected) in cases {
        let proxy = FaultProxy::start(
            &cloud.moto_endpoint(),
            &account,
            FaultPlan::new(1.0).with_kinds(&[kind]),
        );
        let seen = block_on(async {
            let config = sdk_with_attempts(&proxy.endpoint, 3).await;
            let ssm = aws_sdk_ssm::Client::new(&config)
                .get_parameter()
                .name("/x")
                .send()
                .await
                .expect_err("every request fails");
            let cloudformation = aws_sdk_cloudformation::Client::new(&config)
                .describe_stacks()
                .send()
                .await
                .expect_err("every request fails");
            let ec2 = aws_sdk_ec2::Client::new(&config)
                .describe_vpcs()
                .send()
                .await
                .expect_err("every request fails");
            let sts = aws_sdk_sts::Client::new(&config)
                .get_caller_identity()
                .send()
                .await
                .expect_err("every request fails");
            [
                seen_by_the_sdk(&ssm),
                seen_by_the_sdk(&cloudformation),
                seen_by_the_sdk(&ec2),
                seen_by_the_sdk(&sts),
            ]
        });
        for ((code, message), (expected_code, expected_message)) in seen.iter().zip(expected) {
            assert_eq!(code, expected_code, "{kind:?}: {seen:?}");
            if !expected_message.is_empty() {
                assert_eq!(message, expected_message, "{kind:?}");
            }
        }
        // The SDK recognised each as retryable: three attempts each, none forwarded.
        for operation in [
            "GetParameter",
            "DescribeStacks",
            "DescribeVpcs",
            "GetCallerIdentity",
        ] {
            let stats = proxy.operation(operation);
            assert_eq!(
                (stats.requests, stats.max_attempt, stats.forwarded),
                (3, 3, 0),
                "{kind:?} {operation}: {stats:?}"
            );
        }
        if kind == FaultKind::Reset {
            // A reset, not a polite close: the kernel answers with RST.
            use std::io::{Read, Write};
            let address = proxy.endpoint.trim_start_matches("http://");
            let mut stream = std::net::TcpStream::connect(address).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let body = "{\"Name\":\"/x\"}";
            write!(
                stream,
                "POST / HTTP/1.1\r\nHost: {address}\r\nX-Amz-Target: AmazonSSM.GetParameter\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .expect("write");
            let mut received = Vec::new();
            let error = stream
                .read_to_end(&mut received)
                .expect_err("the connection is reset");
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
            assert!(received.is_empty(), "no response before the reset");
        }
    }
}

#[test]
fn create_stack_and_delete_stack_complete_under_faults_and_execute_once() {
    let fixture = fixture(
        "faults-create-delete",
        FaultPlan::new(FAILURE_RATE),
        common::stack_config_dir(&[]),
    );
    use FaultKind::{InternalError, Reset, Throttling, Unavailable};
    fixture.force("CreateChangeSet", None, &[Throttling, Reset]);
    fixture.force(
        "ExecuteChangeSet",
        None,
        &[Reset, InternalError, Unavailable],
    );
    fixture.force(
        "PutParameter",
        Some("master-password"),
        &[Reset, Throttling],
    );
    fixture.force("DescribeStackEvents", None, &[Reset]);
    fixture.force("DescribeAvailabilityZones", None, &[Throttling]);
    let output = fixture.under_faults(&["--output", "json", "create-stack", "local", "--yes"]);
    let report = fixture.succeeded("create-stack", &output);
    assert_eq!(report["stacks"][0]["result"], "created", "{report}");
    assert_eq!(report["stacks"][1]["result"], "created", "{report}");

    let config = fixture.sdk();
    for name in ["demo-local-v1-network", "demo-local-v1-platform"] {
        let status = block_on(common::stack_status(&config, name));
        assert_eq!(status.as_deref(), Some("CREATE_COMPLETE"), "{name}");
    }
    // One change set per stack (the secrets key's, the network's, the
    // platform's) was created and executed, each once.
    let executed: Vec<String> = fixture
        .faulty
        .exchanges()
        .into_iter()
        .filter(|exchange| {
            exchange.operation == "ExecuteChangeSet" && exchange.succeeded_upstream()
        })
        .map(|exchange| form_value(&exchange.body, "ChangeSetName"))
        .collect();
    assert_eq!(executed.len(), 3, "{executed:?}");
    let distinct: std::collections::BTreeSet<&String> = executed.iter().collect();
    assert_eq!(distinct.len(), 3, "one per stack: {executed:?}");
    assert_eq!(fixture.done_upstream("CreateChangeSet"), 3);
    assert_eq!(
        fixture.done_upstream("PutParameter"),
        1,
        "the master password"
    );
    for (operation, faults) in [
        ("CreateChangeSet", 2),
        ("ExecuteChangeSet", 3),
        ("PutParameter", 2),
        ("DescribeStackEvents", 1),
        ("DescribeAvailabilityZones", 1),
    ] {
        fixture.retried_past(operation, faults);
    }

    fixture.faulty.clear();
    fixture.force(
        "DeleteStack",
        Some("demo-local-v1-platform"),
        &[Reset, Throttling],
    );
    fixture.force(
        "DeleteStack",
        Some("demo-local-v1-network"),
        &[InternalError],
    );
    fixture.force("ListExports", None, &[Unavailable]);
    let output = fixture.under_faults(&["delete-stack", "local", "--yes"]);
    fixture.succeeded("delete-stack", &output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "deleted demo-local-v1-platform\ndeleted demo-local-v1-network\n"
    );
    for name in ["demo-local-v1-platform", "demo-local-v1-network"] {
        assert!(
            block_on(common::stack_is_gone(&config, name)),
            "{name} still exists"
        );
    }
    assert_eq!(fixture.done_upstream("DeleteStack"), 2);
    fixture.retried_past("DeleteStack", 3);
    fixture.retried_past("ListExports", 1);
}

/// A value of a form-encoded body, percent-decoded.
fn form_value(body: &str, key: &str) -> String {
    let raw = body
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{key}=")))
        .unwrap_or_default();
    let mut bytes = Vec::new();
    let mut input = raw.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'%' => {
                let hex: String = input.by_ref().take(2).map(char::from).collect();
                bytes.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
            }
            b'+' => bytes.push(b' '),
            other => bytes.push(other),
        }
    }
    String::from_utf8_lossy(&bytes).to_string()
}

/// Task definition ARNs of the web family, and the versions of the release record.
fn deployed_state(fixture: &Fixture) -> (Vec<String>, Vec<i64>) {
    let config = fixture.sdk();
    block_on(async {
        let revisions = aws_sdk_ecs::Client::new(&config)
            .list_task_definitions()
            .family_prefix("demo-local-v1-web")
            .send()
            .await
            .expect("task definitions")
            .task_definition_arns()
            .to_vec();
        let versions = aws_sdk_ssm::Client::new(&config)
            .get_parameter_history()
            .name("/stackup/demo-local-v1/releases/web")
            .send()
            .await
            .expect("release history")
            .parameters()
            .iter()
            .map(|parameter| parameter.version())
            .collect();
        (revisions, versions)
    })
}

#[test]
fn deploy_release_under_faults_registers_updates_and_records_once() {
    let fixture = fixture(
        "faults-deploy",
        FaultPlan::new(FAILURE_RATE),
        common::stack_config_dir(&[]),
    );
    fixture.cleanly(&["create-stack", "local", "--yes"]);
    common::put_app_password(&fixture.clean.endpoint);
    use FaultKind::{InternalError, Reset, Throttling, Unavailable};
    fixture.force("RegisterTaskDefinition", None, &[Reset, Throttling]);
    fixture.force("CreateService", None, &[Unavailable, Reset]);
    fixture.force("PutParameter", Some("/cookie"), &[Throttling]);
    fixture.force(
        "PutParameter",
        Some("/releases/web"),
        &[InternalError, Reset],
    );
    fixture.force("GetCallerIdentity", None, &[Throttling]);
    fixture.force("DescribeServices", None, &[Reset]);
    let output = fixture.under_faults(&[
        "--output",
        "json",
        "deploy-release",
        "local",
        "--image",
        "web=x:1",
        "--yes",
    ]);
    let report = fixture.succeeded("deploy-release", &output);
    assert_eq!(report["services"][0]["result"], "completed", "{report}");
    assert_eq!(fixture.done_upstream("RegisterTaskDefinition"), 1);
    assert_eq!(
        fixture.done_upstream("CreateService") + fixture.done_upstream("UpdateService"),
        1
    );
    let (revisions, versions) = deployed_state(&fixture);
    assert_eq!(revisions.len(), 1, "one revision: {revisions:?}");
    assert_eq!(
        versions,
        vec![1, 2],
        "the release recorded once as started, once as completed"
    );
    assert_eq!(
        fixture.done_upstream("PutParameter"),
        3,
        "the cookie and the release's two records, once each"
    );
    for (operation, faults) in [
        ("RegisterTaskDefinition", 2),
        ("CreateService", 2),
        ("PutParameter", 3),
        ("GetCallerIdentity", 1),
        ("DescribeServices", 1),
    ] {
        fixture.retried_past(operation, faults);
    }
}

#[test]
fn logs_under_faults_reads_every_event_once() {
    let fixture = fixture(
        "faults-logs",
        FaultPlan::new(FAILURE_RATE),
        common::stack_config_dir(&[]),
    );
    fixture.cleanly(&["create-stack", "local", "--yes"]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let base = now - 10 * 60 * 1000;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&fixture.sdk());
    let (streams, per_stream) = (4, 500);
    block_on(async {
        for stream in 0..streams {
            let name = format!("web/web/task{stream}");
            logs.create_log_stream()
                .log_group_name("/stackup/demo-local-v1")
                .log_stream_name(&name)
                .send()
                .await
                .expect("stream");
            let events = (0..per_stream)
                .map(|index| {
                    let number = index * streams + stream;
                    aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                        .timestamp(base + number * 10)
                        .message(format!("event {number}"))
                        .build()
                        .expect("event")
                })
                .collect();
            logs.put_log_events()
                .log_group_name("/stackup/demo-local-v1")
                .log_stream_name(&name)
                .set_log_events(Some(events))
                .send()
                .await
                .expect("put events");
        }
    });
    let rfc3339 = |ms: i64| {
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
    };
    use FaultKind::{Reset, Throttling, Unavailable};
    fixture.force("FilterLogEvents", None, &[Reset, Throttling, Unavailable]);
    fixture.force("DescribeStacks", None, &[Throttling]);
    let output = fixture.under_faults(&[
        "--output",
        "json",
        "logs",
        "local",
        "--since",
        &rfc3339(base),
        "--until",
        &rfc3339(base + streams * per_stream * 10),
    ]);
    fixture.succeeded("logs", &output);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line per event"))
        .collect();
    let messages: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|event| event["message"].as_str().expect("message"))
        .collect();
    assert_eq!(
        events.len(),
        (streams * per_stream) as usize,
        "each event once"
    );
    assert_eq!(messages.len(), events.len(), "no duplicates");
    fixture.retried_past("FilterLogEvents", 3);
}

/// A stack with its own database on the local cloud's PostgreSQL (as in
/// tests/database.rs): dropped with the fixture.
struct DatabaseFixture {
    fixture: Fixture,
    name: String,
}

impl Drop for DatabaseFixture {
    fn drop(&mut self) {
        common::db::drop_database(&self.fixture.cloud, &self.name);
    }
}

#[test]
fn update_resources_under_faults_applies_the_migration_once() {
    let cloud = LocalCloud::load();
    let test = "faults-update-resources";
    let name = format!("f{}", &common::account_for(test)[..10]);
    let config = common::database_config_dir(&cloud, &name, None, None, None);
    let database = DatabaseFixture {
        fixture: fixture(test, FaultPlan::new(FAILURE_RATE), config),
        name,
    };
    let fixture = &database.fixture;
    common::db::put_master_password(&fixture.cloud, &fixture.clean.endpoint);
    fixture.cleanly(&["create-stack", "local", "--yes"]);

    use FaultKind::{InternalError, Reset, Throttling, Unavailable};
    fixture.force(
        "GetParameter",
        Some("master-password"),
        &[Throttling, Reset],
    );
    fixture.force(
        "PutParameter",
        Some("app-password"),
        &[Reset, InternalError],
    );
    fixture.force("DescribeStacks", None, &[Unavailable]);
    // And the response to the one that gets through is lost: the password is
    // created with Overwrite=false, so the retry reads back the stored one.
    fixture
        .faulty
        .fail_after_forwarding("PutParameter", Some("app-password"), 1, Reset);
    let output = fixture.under_faults(&["--output", "json", "update-resources", "local", "--yes"]);
    let report = fixture.succeeded("update-resources", &output);
    assert_eq!(report["database_created"], true, "{report}");
    assert_eq!(
        report["migrations_applied"],
        serde_json::json!(["001_create_accounts.sql"])
    );
    assert_eq!(
        fixture.cloud.psql(
            &database.name,
            "SELECT count(*) FROM schema_migrations WHERE version = 1"
        ),
        "1"
    );
    assert_eq!(
        fixture.done_upstream("PutParameter"),
        1,
        "the application password is stored once"
    );
    fixture.retried_past("GetParameter", 2);
    fixture.retried_past("PutParameter", 2);
    let versions = block_on(
        aws_sdk_ssm::Client::new(&fixture.sdk())
            .get_parameter_history()
            .name("/stackup/demo-local-v1/database/app-password")
            .send(),
    )
    .expect("app password history")
    .parameters()
    .len();
    assert_eq!(
        versions, 1,
        "one application password, the one the role has"
    );
}

/// A response lost after AWS did the work (the client sees a 500 or a reset
/// and the SDK retries): what each side-effecting call of deploy-release does
/// about it.
///
/// - CreateService carries a client token: the retry creates nothing more.
/// - The cookie is created with `Overwrite=false`: the retry gets
///   ParameterAlreadyExists and stackup reads back the value the first attempt stored.
/// - RegisterTaskDefinition and PutParameter have no idempotency token in
///   the ECS and SSM APIs: a blind retry would register a second revision and
///   write the release record twice. stackup sends them without the SDK's
///   retries and, after a failure, first looks for the revision tagged with
///   this release and reads the record back (src/aws/once.rs): one of each.
#[test]
fn lost_responses_to_deploy_release_leave_the_right_service_and_record() {
    let fixture = fixture(
        "faults-after-deploy",
        FaultPlan::none(),
        common::stack_config_dir(&[]),
    );
    fixture.cleanly(&["create-stack", "local", "--yes"]);
    common::put_app_password(&fixture.clean.endpoint);
    let faulty = &fixture.faulty;
    faulty.fail_after_forwarding("RegisterTaskDefinition", None, 1, FaultKind::InternalError);
    faulty.fail_after_forwarding("CreateService", None, 1, FaultKind::Reset);
    faulty.fail_after_forwarding("PutParameter", Some("/cookie"), 1, FaultKind::Reset);
    faulty.fail_after_forwarding(
        "PutParameter",
        Some("/releases/web"),
        1,
        FaultKind::InternalError,
    );
    let output = fixture.under_faults(&[
        "--output",
        "json",
        "deploy-release",
        "local",
        "--image",
        "web=x:1",
        "--yes",
    ]);
    let report = fixture.succeeded("deploy-release (lost responses)", &output);
    assert_eq!(report["services"][0]["result"], "completed", "{report}");
    assert_eq!(faulty.totals().faults_after_forwarding, 4);

    let config = fixture.sdk();
    let (services, running, cookie_versions, records) = block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&config);
        let services = ecs
            .list_services()
            .cluster("demo-local-v1")
            .send()
            .await
            .expect("services")
            .service_arns()
            .to_vec();
        let running = common::web_service(&config)
            .await
            .task_definition()
            .unwrap_or_default()
            .to_string();
        let ssm = aws_sdk_ssm::Client::new(&config);
        let cookie_versions = ssm
            .get_parameter_history()
            .name("/stackup/demo-local-v1/cookie")
            .with_decryption(true)
            .send()
            .await
            .expect("cookie history")
            .parameters()
            .len();
        let records: Vec<serde_json::Value> = ssm
            .get_parameter_history()
            .name("/stackup/demo-local-v1/releases/web")
            .send()
            .await
            .expect("release history")
            .parameters()
            .iter()
            .filter_map(|parameter| serde_json::from_str(parameter.value()?).ok())
            .collect();
        (services, running, cookie_versions, records)
    });
    assert_eq!(services.len(), 1, "one service: {services:?}");
    assert_eq!(cookie_versions, 1, "the cookie is stored once");
    assert_eq!(running, report["services"][0]["task_definition"]);
    let (revisions, _) = deployed_state(&fixture);
    eprintln!(
        "lost responses: {} revisions registered {revisions:?}, {} release record versions, service runs {running}",
        revisions.len(),
        records.len()
    );
    assert_eq!(
        revisions.len(),
        1,
        "the lost RegisterTaskDefinition answer is found, not registered again: {revisions:?}"
    );
    let results: Vec<&str> = records
        .iter()
        .filter_map(|record| record["result"].as_str())
        .collect();
    assert_eq!(
        results,
        ["started", "completed"],
        "the release recorded once before its wait and once after: {records:?}"
    );
    for record in &records {
        assert_eq!(
            record["release"], report["release"],
            "one release: {records:?}"
        );
        assert_eq!(record["task_definition"], running.as_str(), "{records:?}");
    }
}

/// The same for create-stack and delete-stack: CreateChangeSet,
/// ExecuteChangeSet and DeleteStack carry client tokens (AWS then does the
/// work once; moto ignores them and stackup copes with what it does), and the
/// master password is created with `Overwrite=false`.
#[test]
fn lost_responses_to_create_stack_and_delete_stack_do_no_harm() {
    let fixture = fixture(
        "faults-after-create",
        FaultPlan::none(),
        common::stack_config_dir(&[]),
    );
    for operation in ["CreateChangeSet", "ExecuteChangeSet", "PutParameter"] {
        fixture
            .faulty
            .fail_after_forwarding(operation, None, 1, FaultKind::InternalError);
    }
    let output = fixture.under_faults(&["--output", "json", "create-stack", "local", "--yes"]);
    let report = fixture.succeeded("create-stack (lost responses)", &output);
    assert_eq!(report["stacks"][0]["result"], "created", "{report}");
    assert_eq!(report["stacks"][1]["result"], "created", "{report}");
    assert_eq!(fixture.faulty.totals().faults_after_forwarding, 3);
    let config = fixture.sdk();
    let password_versions = block_on(
        aws_sdk_ssm::Client::new(&config)
            .get_parameter_history()
            .name("/stackup/demo-local-v1/database/master-password")
            .send(),
    )
    .expect("password history")
    .parameters()
    .len();
    assert_eq!(password_versions, 1, "the master password is stored once");

    fixture.faulty.clear();
    fixture
        .faulty
        .fail_after_forwarding("DeleteStack", None, 2, FaultKind::Reset);
    let output = fixture.under_faults(&["delete-stack", "local", "--yes"]);
    fixture.succeeded("delete-stack (lost responses)", &output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "deleted demo-local-v1-platform\ndeleted demo-local-v1-network\n"
    );
}
