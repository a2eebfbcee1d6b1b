//! The local cloud's launcher (scripts/moto_server.py) models what moto gets
//! wrong as AWS documents it; each test here checks one of its fixes (the
//! number in the launcher's docstring) through stackup or the SDK.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudformation::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition};
use common::db::DatabaseStack;
use common::{block_on, MustSucceed, TestStack};

const CLUSTER: &str = "demo-local-v1";

/// Fix 10: a task definition with only task-level cpu and memory (valid for
/// the EC2 launch type) runs; its service rolls out and DescribeServices and
/// `status` keep answering.
#[test]
fn a_task_definition_with_only_task_level_memory_runs_and_describes() {
    let stack = TestStack::new("lc-task-size", common::stack_config_dir(&[]));
    stack.create_stack();
    let ecs = aws_sdk_ecs::Client::new(&stack.sdk());
    let task_definition = block_on(
        ecs.register_task_definition()
            .family("demo-local-v1-web")
            .requires_compatibilities(Compatibility::Ec2)
            .cpu("256")
            .memory("0.5 GB")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("web")
                    .image("ghcr.io/example/demo:1.0.0")
                    .essential(true)
                    .build(),
            )
            .send(),
    )
    .expect("RegisterTaskDefinition")
    .task_definition
    .expect("task definition")
    .task_definition_arn
    .expect("arn");
    block_on(
        ecs.create_service()
            .cluster(CLUSTER)
            .service_name("web")
            .task_definition(&task_definition)
            .desired_count(2)
            .send(),
    )
    .expect("CreateService");

    // The scheduler takes a step per DescribeServices: a first deployment of
    // two tasks completes on the third.
    let mut service = None;
    for _ in 0..4 {
        service = Some(block_on(common::web_service(&stack.sdk())));
    }
    let service = service.expect("described");
    assert_eq!(service.running_count(), 2, "{service:?}");
    assert_eq!(
        service.deployments()[0]
            .rollout_state()
            .map(|state| state.as_str()),
        Some("COMPLETED"),
        "{service:?}"
    );
    let tasks =
        block_on(ecs.list_tasks().cluster(CLUSTER).service_name("web").send()).expect("ListTasks");
    let described = block_on(
        ecs.describe_tasks()
            .cluster(CLUSTER)
            .set_tasks(Some(tasks.task_arns().to_vec()))
            .send(),
    )
    .expect("DescribeTasks");
    assert_eq!(described.tasks().len(), 2);
    for task in described.tasks() {
        assert_eq!(task.last_status(), Some("RUNNING"));
        assert_eq!(
            (task.cpu(), task.memory()),
            (Some("256"), Some("512")),
            "the task-level size, in MiB as ECS registers it"
        );
    }

    let output = stack
        .stackup()
        .args(["--output", "json", "status", "local"])
        .successful_output();
    let status: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("status --output json is JSON");
    assert!(status.to_string().contains("\"web\""), "{status}");
}

/// Fix 11: a failure inside moto (here an operation it does not implement,
/// and an intrinsic function it does not know) is an AWS error with a code,
/// in the protocol of the request, not an HTML page.
#[test]
fn a_failure_inside_the_local_cloud_is_an_aws_error_with_a_code() {
    let stack = TestStack::new("lc-errors", common::stack_config_dir(&[]));
    let sdk = stack.sdk();
    let ecs = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(&sdk)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let error = block_on(
        ecs.execute_command()
            .cluster(CLUSTER)
            .task("0123456789abcdef0123456789abcdef")
            .command("ls")
            .interactive(true)
            .send(),
    )
    .expect_err("ExecuteCommand is not modelled");
    let error = error.into_service_error();
    assert!(error.is_server_exception(), "{error:?}");
    assert!(
        error.to_string().contains("execute_command"),
        "the message says what failed: {error}"
    );

    // The query protocol (XML).
    let cloudformation = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&sdk)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let template = serde_json::json!({
        "Resources": {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {
            "CidrBlock": {"Fn::Select": [0, {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}]}
        }}}
    });
    let error = block_on(
        cloudformation
            .create_stack()
            .stack_name("cidr")
            .template_body(template.to_string())
            .send(),
    )
    .expect_err("Fn::Cidr is not modelled");
    let service_error = error.as_service_error().expect("a service error");
    let meta = aws_sdk_cloudformation::error::ProvideErrorMetadata::meta(service_error);
    assert_eq!(meta.code(), Some("InternalFailure"), "{error:?}");
    assert!(meta
        .message()
        .is_some_and(|message| !message.contains("<html")));
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Fix 12: `logs --service web` reads the streams whose names start with
/// `web/` only (FilterLogEvents' logStreamNamePrefix); both a prefix and
/// stream names is InvalidParameterException.
#[test]
fn logs_of_one_service_read_its_streams_only() {
    let stack = TestStack::new("lc-logs-prefix", common::stack_config_dir(&[]));
    stack.create_stack();
    let group = "/stackup/demo-local-v1";
    let logs = aws_sdk_cloudwatchlogs::Client::new(&stack.sdk());
    let base = now_ms() - 60_000;
    let streams = [
        ("web/web/0a1b2c", "from web"),
        ("webhooks/webhooks/3d4e5f", "from webhooks"),
        ("worker/worker/6a7b8c", "from worker"),
    ];
    block_on(async {
        for (index, (stream, message)) in streams.iter().enumerate() {
            logs.create_log_stream()
                .log_group_name(group)
                .log_stream_name(*stream)
                .send()
                .await
                .expect("CreateLogStream");
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(*stream)
                .log_events(
                    InputLogEvent::builder()
                        .timestamp(base + index as i64)
                        .message(*message)
                        .build()
                        .expect("event"),
                )
                .send()
                .await
                .expect("PutLogEvents");
        }
    });

    let output = stack
        .stackup()
        .args(["--output", "json", "logs", "local", "--service", "web"])
        .args(["--since", "5m"])
        .successful_output();
    let messages: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            event["message"].as_str().expect("message").to_string()
        })
        .collect();
    assert_eq!(messages, ["from web"]);

    let both = block_on(
        logs.filter_log_events()
            .log_group_name(group)
            .log_stream_name_prefix("web/")
            .log_stream_names("worker/worker/6a7b8c")
            .send(),
    )
    .expect_err("a prefix and names together");
    assert!(
        both.as_service_error()
            .is_some_and(|error| error.is_invalid_parameter_exception()),
        "{both:?}"
    );
}

/// How many resources (of `resource_type`, or of any type) the change set of
/// `stack` that create-stack showed on stderr lists as `action`.
fn listed(stderr: &str, stack: &str, action: &str, resource_type: Option<&str>) -> usize {
    let listing = stderr
        .split(&format!("{stack}: "))
        .find(|part| part.contains("change(s)"))
        .unwrap_or_else(|| panic!("no change-set listing for {stack}: {stderr}"));
    listing
        .lines()
        .filter(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.len() >= 4
                && words[1] == action
                && resource_type.is_none_or(|wanted| words[3] == wanted)
        })
        .count()
}

fn stack_resources(stack: &TestStack, name: &str) -> usize {
    let cloudformation = aws_sdk_cloudformation::Client::new(&stack.sdk());
    block_on(
        cloudformation
            .describe_stack_resources()
            .stack_name(name)
            .send(),
    )
    .expect("DescribeStackResources")
    .stack_resources()
    .len()
}

fn nat_gateways(stack: &TestStack) -> usize {
    let ec2 = aws_sdk_ec2::Client::new(&stack.sdk());
    block_on(ec2.describe_nat_gateways().send())
        .expect("DescribeNatGateways")
        .nat_gateways()
        .iter()
        .filter(|gateway| gateway.state().map(|state| state.as_str()) != Some("deleted"))
        .count()
}

/// `create-stack local --yes` after replacing `from` with `to` in the stack
/// file (when given); what it said on stderr.
fn create_stack_with(stack: &TestStack, edit: Option<(&str, &str)>) -> String {
    if let Some((from, to)) = edit {
        let stack_file = stack.config.path().join("stacks/local.toml");
        let text = std::fs::read_to_string(&stack_file).expect("stack file");
        assert!(text.contains(from), "{from} in the stack file");
        std::fs::write(&stack_file, text.replace(from, to)).expect("stack file");
    }
    let output = stack
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .successful_output();
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// Fix 13: a change set lists what the stack creates given its conditions:
/// a single-NAT stack of three zones has one NAT gateway; turning NAT per
/// zone adds two and turning it back removes them.
#[test]
fn change_sets_honour_conditions() {
    let three_zones = [("availability_zones = 2", "availability_zones = 3")];
    let stack = TestStack::new("lc-conditions", common::stack_config_dir(&three_zones));
    let network = "demo-local-v1-network";
    let nat = Some("AWS::EC2::NatGateway");

    let stderr = create_stack_with(&stack, None);
    assert_eq!(listed(&stderr, network, "Add", nat), 1, "{stderr}");
    let eip = Some("AWS::EC2::EIP");
    assert_eq!(listed(&stderr, network, "Add", eip), 1, "{stderr}");
    let subnet = Some("AWS::EC2::Subnet");
    assert_eq!(listed(&stderr, network, "Add", subnet), 9, "{stderr}");
    assert_eq!(
        listed(&stderr, network, "Add", None),
        stack_resources(&stack, network),
        "the change set lists what the stack then has: {stderr}"
    );
    assert_eq!(nat_gateways(&stack), 1);

    let stderr = create_stack_with(&stack, Some(("nat = \"single\"", "nat = \"per-az\"")));
    assert_eq!(listed(&stderr, network, "Add", nat), 2, "{stderr}");
    assert_eq!(nat_gateways(&stack), 3);

    let stderr = create_stack_with(&stack, Some(("nat = \"per-az\"", "nat = \"single\"")));
    assert_eq!(listed(&stderr, network, "Remove", nat), 2, "{stderr}");
    assert_eq!(nat_gateways(&stack), 1);
}

/// A stack of another app whose master user is `admin`, with its own
/// database on the local PostgreSQL, in the account of `test`.
fn shop_stack(test: &str) -> DatabaseStack {
    let stack = DatabaseStack::new(test, "shop");
    let stack_file = stack.config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&stack_file).expect("stack file");
    assert!(text.contains("app = \"demo\"") && text.contains("master_user = \"postgres\""));
    let text = text
        .replace("app = \"demo\"", "app = \"shop\"")
        .replace("master_user = \"postgres\"", "master_user = \"admin\"");
    std::fs::write(&stack_file, text).expect("stack file");
    stack
}

/// Fix 14: any stack's master user works on the one local PostgreSQL: a
/// role RDS would make (not a superuser), with the password the stack's
/// parameter holds, also when another stack made the role first.
#[test]
fn every_stack_master_user_logs_in_to_the_shared_postgresql() {
    let first = shop_stack("lc-master-first");
    let second = shop_stack("lc-master-second");
    for stack in [&first, &second] {
        stack.create_stack();
        let output = stack
            .stackup()
            .args(["update-resources", "local", "--yes"])
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "update-resources of {}: {}",
            stack.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        first.cloud.psql(
            "postgres",
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = 'admin'"
        ),
        "f|t|t|t",
        "RDS's master user: may log in, create databases and roles, and is no superuser"
    );
    for stack in [&first, &second] {
        assert_eq!(
            stack.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"),
            format!("{}_app", stack.name)
        );
    }

    // The second stack's parameter now holds the role's password, and its
    // stack says the same: nothing to change on the next run.
    let output = second
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--yes"])
        .successful_output();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["stacks"][0]["result"], "unchanged", "{report}");
    assert_eq!(report["stacks"][1]["result"], "unchanged", "{report}");
}

/// Fix 19: a template's `{{resolve:ssm:NAME}}` (also inside Fn::Sub) reaches
/// the resource as the parameter's value, `NAME:V` as version V's, and the
/// stack keeps the reference; a reference to a missing parameter fails the
/// operation with CloudFormation's words.
#[test]
fn dynamic_references_resolve_from_the_stacks_ssm() {
    let stack = TestStack::new("lc-dynamic-references", common::stack_config_dir(&[]));
    let sdk = stack.sdk();
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    for value in ["first", "second"] {
        block_on(
            ssm.put_parameter()
                .name("/lc/dynamic/plain")
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .overwrite(true)
                .send(),
        )
        .expect("PutParameter");
    }
    let cloudformation = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&sdk)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let template = serde_json::json!({
        "Resources": {
            "Latest": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": "/lc/dynamic/latest", "Type": "String",
                "Value": {"Fn::Sub": "{{resolve:ssm:/lc/dynamic/plain}}-${AWS::Region}"}
            }},
            "First": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": "/lc/dynamic/first", "Type": "String",
                "Value": "{{resolve:ssm:/lc/dynamic/plain:1}}"
            }}
        }
    });
    block_on(
        cloudformation
            .create_stack()
            .stack_name("dynamic-references")
            .template_body(template.to_string())
            .send(),
    )
    .expect("CreateStack");
    let value = |name: &str| {
        block_on(ssm.get_parameter().name(name).send())
            .expect("GetParameter")
            .parameter()
            .and_then(|parameter| parameter.value())
            .map(str::to_string)
    };
    assert_eq!(
        value("/lc/dynamic/latest").as_deref(),
        Some("second-us-east-1")
    );
    assert_eq!(value("/lc/dynamic/first").as_deref(), Some("first"));
    let kept = block_on(
        cloudformation
            .get_template()
            .stack_name("dynamic-references")
            .send(),
    )
    .expect("GetTemplate");
    assert!(
        kept.template_body()
            .is_some_and(|body| body.contains("{{resolve:ssm:/lc/dynamic/plain}}")),
        "the stack keeps the reference"
    );

    let missing = serde_json::json!({
        "Resources": {"Missing": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Name": "/lc/dynamic/missing-copy", "Type": "String",
            "Value": "{{resolve:ssm:/lc/dynamic/not-there}}"
        }}}
    });
    let error = block_on(
        cloudformation
            .create_stack()
            .stack_name("dynamic-reference-missing")
            .template_body(missing.to_string())
            .send(),
    )
    .expect_err("a missing parameter fails");
    let service_error = error.as_service_error().expect("a service error");
    let meta = aws_sdk_cloudformation::error::ProvideErrorMetadata::meta(service_error);
    assert_eq!(
        meta.message(),
        Some("Parameters: [ssm:/lc/dynamic/not-there] cannot be found."),
        "{error:?}"
    );
}

/// One call of KMS's JSON API in the stack's account, through its proxy (no
/// KMS client is among the dependencies); the answer's JSON.
fn kms(stack: &TestStack, operation: &str, body: &serde_json::Value) -> serde_json::Value {
    let output = std::process::Command::new("curl")
        .args(["-fsS", "-X", "POST", "-H"])
        .arg(format!("X-Amz-Target: TrentService.{operation}"))
        .args(["-H", "Content-Type: application/x-amz-json-1.1", "-H"])
        .arg("Authorization: AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0")
        .arg("-d")
        .arg(body.to_string())
        .arg(format!("{}/", stack.proxy.endpoint))
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "KMS {operation}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("KMS answers JSON")
}

fn key_tags(stack: &TestStack, key: &str) -> Vec<(String, String)> {
    let answer = kms(
        stack,
        "ListResourceTags",
        &serde_json::json!({ "KeyId": key }),
    );
    let mut tags: Vec<(String, String)> = answer["Tags"]
        .as_array()
        .expect("Tags")
        .iter()
        .map(|tag| {
            (
                tag["TagKey"].as_str().expect("TagKey").to_string(),
                tag["TagValue"].as_str().expect("TagValue").to_string(),
            )
        })
        .collect();
    tags.sort();
    tags
}

/// Fix 28: the secrets stack's KMS key carries its template's tags (moto
/// could not create a key with any), keeps its policy as a JSON document,
/// and an update of the template changes that same key in place.
#[test]
fn a_templates_kms_key_is_tagged_and_updated_in_place() {
    let stack = TestStack::new("lc-kms-key", common::stack_config_dir(&[]));
    stack
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .assert()
        .success();
    let cloudformation = aws_sdk_cloudformation::Client::new(&stack.sdk());
    let key_arn = || {
        let described = block_on(
            cloudformation
                .describe_stacks()
                .stack_name("demo-local-secrets")
                .send(),
        )
        .expect("DescribeStacks");
        described.stacks()[0]
            .outputs()
            .iter()
            .find(|output| output.output_key() == Some("KeyArn"))
            .and_then(|output| output.output_value())
            .expect("KeyArn output")
            .to_string()
    };
    let key = key_arn();
    assert_eq!(
        key_tags(&stack, &key),
        vec![
            ("Name".to_string(), "demo-local-secrets".to_string()),
            ("stackup:secrets".to_string(), "demo-local".to_string()),
        ]
    );
    let policy = kms(
        &stack,
        "GetKeyPolicy",
        &serde_json::json!({ "KeyId": key, "PolicyName": "default" }),
    );
    let document: serde_json::Value =
        serde_json::from_str(policy["Policy"].as_str().expect("the policy is a document"))
            .expect("the policy is JSON");
    assert_eq!(
        document["Statement"][0]["Sid"], "AccountAdministersTheKey",
        "{document}"
    );

    let mut template: serde_json::Value =
        serde_json::from_str(stackup::secrets_key::TEMPLATE).expect("template");
    let properties = &mut template["Resources"]["SecretsKey"]["Properties"];
    properties["Tags"] = serde_json::json!([{ "Key": "Name", "Value": "renamed" }]);
    properties["Description"] = serde_json::json!("updated in place");
    block_on(
        cloudformation
            .update_stack()
            .stack_name("demo-local-secrets")
            .template_body(template.to_string())
            .parameters(
                aws_sdk_cloudformation::types::Parameter::builder()
                    .parameter_key("SecretsStackId")
                    .parameter_value("demo-local")
                    .build(),
            )
            .send(),
    )
    .expect("UpdateStack");
    assert_eq!(
        block_on(common::stack_status(&stack.sdk(), "demo-local-secrets")).as_deref(),
        Some("UPDATE_COMPLETE")
    );
    assert_eq!(key_arn(), key, "the same key, not a replacement");
    assert_eq!(
        key_tags(&stack, &key),
        vec![("Name".to_string(), "renamed".to_string())]
    );
    let described = kms(&stack, "DescribeKey", &serde_json::json!({ "KeyId": key }));
    assert_eq!(described["KeyMetadata"]["Description"], "updated in place");
}
