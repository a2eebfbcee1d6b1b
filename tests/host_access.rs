//! What a task may do to its host (issue 21, item 3) and database TLS that
//! verifies (item 5): the ECS agent configuration the built-in platform
//! renders, a task allowed a host-level field deployed as written (and again
//! unchanged), and the warning `validate` gives a stack on AWS whose database
//! connection does not verify the server. The refusals themselves are in the
//! bad-input corpus (tests/bad_inputs.rs).

mod common;

use base64::Engine;
use common::{block_on, LocalCloud, MustSucceed, TestStack};

/// The `/etc/ecs/ecs.config` lines the user data of the ECS hosts' launch
/// template writes, as moto rendered the platform stack.
fn ecs_agent_configuration(stack: &TestStack) -> Vec<String> {
    let config = stack.sdk();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    // The platform template leaves the name to CloudFormation: the account's
    // only launch template is the ECS hosts'.
    let templates = block_on(ec2.describe_launch_templates().send()).expect("templates");
    let id = templates
        .launch_templates()
        .first()
        .and_then(|template| template.launch_template_id())
        .expect("the platform's launch template")
        .to_string();
    let versions = block_on(
        ec2.describe_launch_template_versions()
            .launch_template_id(id)
            .send(),
    )
    .expect("versions");
    let user_data = versions
        .launch_template_versions()
        .first()
        .and_then(|version| version.launch_template_data())
        .and_then(|data| data.user_data())
        .expect("user data")
        .to_string();
    let script = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(user_data.trim())
            .expect("user data is base64"),
    )
    .expect("user data is text");
    let start = script
        .find("/etc/ecs/ecs.config <<'EOF'\n")
        .expect("the agent configuration is written")
        + "/etc/ecs/ecs.config <<'EOF'\n".len();
    let end = script[start..]
        .find("\nEOF")
        .expect("end of the configuration")
        + start;
    script[start..end].lines().map(str::to_string).collect()
}

/// "Amazon ECS container agent configuration": ECS_DISABLE_PRIVILEGED=true
/// makes the agent refuse to start a privileged container, whatever a task
/// definition says.
#[test]
fn the_ecs_hosts_refuse_privileged_containers() {
    let stack = TestStack::new("host-agent-config", common::stack_config_dir(&[]));
    stack
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .successful_output();
    let lines = ecs_agent_configuration(&stack);
    assert!(
        lines.contains(&"ECS_CLUSTER=demo-local-v1".to_string()),
        "rendered with the stack's cluster: {lines:?}"
    );
    for setting in [
        "ECS_DISABLE_PRIVILEGED=true",
        "ECS_AWSVPC_BLOCK_IMDS=true",
        "ECS_ENABLE_TASK_IAM_ROLE=true",
    ] {
        assert!(lines.contains(&setting.to_string()), "{setting}: {lines:?}");
    }
}

/// An allowed field reaches ECS as written, and the revision read back is no
/// change from the template: the same release again registers nothing.
#[test]
fn an_allowed_capability_is_registered_and_deployed_again_unchanged() {
    let stack = TestStack::new(
        "host-allowed-capability",
        common::stack_config_dir(&[(
            "cookie = \"stack\"\n",
            "cookie = \"stack\"\nallow_host_access = [{ field = \"linuxParameters.capabilities.add\", reason = \"the profiler attaches with ptrace\" }]\n",
        )]),
    );
    let task = stack.config.path().join("task-defs/web.json");
    let text = std::fs::read_to_string(&task).expect("template");
    let edited = text.replacen(
        "\"essential\": true,",
        "\"essential\": true,\n      \"linuxParameters\": { \"initProcessEnabled\": true, \"capabilities\": { \"add\": [\"SYS_PTRACE\"], \"drop\": [\"NET_RAW\"] }, \"devices\": [] },",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&task, edited).expect("write template");
    stack.create_stack();

    let deploy = || {
        let output = stack
            .stackup()
            .args(["--output", "json", "deploy-release", "local", "--yes"])
            .args(["--image", "web=ghcr.io/example/demo:1.0.0"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{stderr}");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        (report, stderr)
    };
    let (_, stderr) = deploy();
    assert!(
        stderr.contains("warning: web (")
            && stderr.contains("allowed because: the profiler attaches with ptrace"),
        "the allowance is said on every deploy: {stderr}"
    );
    let config = stack.sdk();
    let service = block_on(common::web_service(&config));
    let definition = block_on(
        aws_sdk_ecs::Client::new(&config)
            .describe_task_definition()
            .task_definition(service.task_definition().expect("task definition"))
            .send(),
    )
    .expect("task definition");
    let linux = definition
        .task_definition()
        .and_then(|definition| definition.container_definitions().first())
        .and_then(|container| container.linux_parameters())
        .expect("linuxParameters");
    let capabilities = linux.capabilities().expect("capabilities");
    assert_eq!(capabilities.add(), ["SYS_PTRACE"]);
    assert_eq!(capabilities.drop(), ["NET_RAW"]);
    assert_eq!(linux.init_process_enabled(), Some(true));

    let before = stack.proxy.operations().len();
    let (report, stderr) = deploy();
    assert_eq!(report["services"][0]["result"], "unchanged", "{stderr}");
    let second_run = stack.proxy.operations()[before..].to_vec();
    assert!(
        !second_run
            .iter()
            .any(|operation| operation == "RegisterTaskDefinition"),
        "{second_run:?}"
    );
}

fn validate_stderr(config: &std::path::Path) -> String {
    let counter = common::AwsProxy::start_counting_only();
    let output = common::stackup(config, &counter.endpoint)
        .env_remove("STACKUP_LOCAL_CLOUD")
        .args(["validate", "local"])
        .successful_output();
    assert_eq!(counter.request_count(), 0, "validate is offline");
    String::from_utf8_lossy(&output.stderr).to_string()
}

const TLS_WARNING: &str = "[database] sslmode = \"require\" encrypts but does not verify that the server is your RDS instance";

/// On AWS, a database connection that does not verify the server is said,
/// with the region's RDS bundle and the one setting that verifies it.
#[test]
fn validate_warns_on_aws_when_the_database_is_not_verified() {
    let config = common::stack_config_dir(&[]);
    let stderr = validate_stderr(config.path());
    let warning = stderr
        .lines()
        .find(|line| line.contains(TLS_WARNING))
        .unwrap_or_else(|| panic!("no TLS warning: {stderr}"));
    assert!(
        warning.contains(
            "save https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem as certs/rds-ca.pem"
        ) && warning.contains("set ca_file = \"certs/rds-ca.pem\" in [database]"),
        "{warning}"
    );
    // Said as require explicitly, too.
    let config =
        common::stack_config_dir(&[("[database]\n", "[database]\nsslmode = \"require\"\n")]);
    assert!(validate_stderr(config.path()).contains(TLS_WARNING));
}

/// No warning where the server is verified (ca_file alone turns verify-full
/// on), nor on the local cloud, whose `[local]` table replaces AWS.
#[test]
fn no_tls_warning_when_verified_or_on_the_local_cloud() {
    let cloud = LocalCloud::load();
    let ca_file = cloud.path("postgres", "ca_file");
    let with_ca = common::stack_config_dir(&[(
        "[database]\n",
        &format!("[database]\nca_file = \"{}\"\n", ca_file.display()),
    )]);
    let stderr = validate_stderr(with_ca.path());
    assert!(!stderr.contains("warning"), "{stderr}");

    let local = common::stack_config_dir(&[]);
    let stack_file = local.path().join("stacks/local.toml");
    let mut text = std::fs::read_to_string(&stack_file).expect("stack file");
    text.push_str("\n[local]\nendpoint_url = \"http://127.0.0.1:4566\"\n");
    std::fs::write(&stack_file, text).expect("write stack file");
    let stderr = validate_stderr(local.path());
    assert!(!stderr.contains("warning"), "{stderr}");
}
