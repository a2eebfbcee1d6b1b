//! The guard on the stacks' stateful resources and on the stacks themselves
//! (issue 20, item 9): a change that would replace the database is refused
//! unless the operator allows it, the stack policy denies the replacement to
//! any other update, and termination protection keeps a plain DeleteStack
//! from deleting the stacks, while `delete-stack` still can. Each test runs in
//! its own moto account (`scripts/moto_server.py` entries 20 and 21 model
//! what moto does not enforce).

mod common;

use common::{block_on, MustSucceed, TestStack};

const NETWORK: &str = "demo-local-v1-network";
const PLATFORM: &str = "demo-local-v1-platform";
const MASTER_USER: &str = "master_user = \"postgres\"";

fn fixture(test: &str) -> TestStack {
    TestStack::new(test, common::stack_config_dir(&[]))
}

fn set_master_user(fixture: &TestStack, user: &str) {
    let path = fixture.config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&path).expect("stack file");
    assert!(text.contains(MASTER_USER), "{text}");
    std::fs::write(
        &path,
        text.replace(MASTER_USER, &format!("master_user = \"{user}\"")),
    )
    .expect("write stack file");
}

fn parameter(fixture: &TestStack, stack: &str, key: &str) -> Option<String> {
    let config = fixture.sdk();
    let described = block_on(
        aws_sdk_cloudformation::Client::new(&config)
            .describe_stacks()
            .stack_name(stack)
            .send(),
    )
    .expect("describe");
    described.stacks()[0]
        .parameters()
        .iter()
        .find(|parameter| parameter.parameter_key() == Some(key))
        .and_then(|parameter| parameter.parameter_value().map(str::to_string))
}

fn policy(fixture: &TestStack, stack: &str) -> serde_json::Value {
    let config = fixture.sdk();
    let body = block_on(
        aws_sdk_cloudformation::Client::new(&config)
            .get_stack_policy()
            .stack_name(stack)
            .send(),
    )
    .expect("stack policy")
    .stack_policy_body()
    .map(str::to_string)
    .expect("the stack has a policy");
    serde_json::from_str(&body).expect("JSON policy")
}

fn denied_replacements(policy: &serde_json::Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|statement| {
            statement["Effect"] == "Deny" && statement["Action"] == "Update:Replace"
        })
        .flat_map(|statement| {
            statement["Resource"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|resource| resource.as_str().map(str::to_string))
        .collect()
}

#[test]
fn replacing_the_database_needs_consent() {
    let fixture = fixture("guard-master-user");
    fixture.create_stack();
    let denied = denied_replacements(&policy(&fixture, PLATFORM));
    for resource in ["Database", "TargetGroup", "LoadBalancer", "LogGroup"] {
        assert!(
            denied.contains(&format!("LogicalResourceId/{resource}")),
            "{resource} is not protected: {denied:?}"
        );
    }

    // A new master user is a new, empty database: refused, before any change.
    set_master_user(&fixture, "guard_admin");
    let before = fixture.proxy.operations().len();
    let output = fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for said in [
        "replaces Database (AWS::RDS::DBInstance, holds state): MasterUsername (parameter DatabaseMasterUsername: \"postgres\" -> \"guard_admin\")",
        "demo-local-v1-platform: this change replaces Database (AWS::RDS::DBInstance)",
        "--allow-replacement Database",
    ] {
        assert!(stderr.contains(said), "{said:?} not in {stderr}");
    }
    let changes: Vec<String> = fixture.proxy.operations()[before..]
        .iter()
        .filter(|operation| !common::is_read_only(operation))
        .cloned()
        .collect();
    assert!(changes.is_empty(), "a refused run changed {changes:?}");
    assert_eq!(
        parameter(&fixture, PLATFORM, "DatabaseMasterUsername").as_deref(),
        Some("postgres")
    );

    // A consent for something that holds no state is bad input too.
    fixture
        .stackup()
        .args([
            "create-stack",
            "local",
            "--yes",
            "--allow-replacement",
            "Bastion",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--allow-replacement Bastion: the stacks have no resource Bastion that holds state",
        ));

    // With consent, the update runs, and the policy protects it again after.
    let output = fixture
        .stackup()
        .args([
            "create-stack",
            "local",
            "--yes",
            "--allow-replacement",
            "Database",
        ])
        .successful_output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("replaces Database"), "{stderr}");
    assert_eq!(
        parameter(&fixture, PLATFORM, "DatabaseMasterUsername").as_deref(),
        Some("guard_admin")
    );
    let denied = denied_replacements(&policy(&fixture, PLATFORM));
    assert!(
        denied.contains(&"LogicalResourceId/Database".to_string()),
        "{denied:?}"
    );
}

/// The policy stackup sets holds for any update, not only stackup's: an
/// UpdateStack that would replace the database rolls back.
#[test]
fn the_stack_policy_denies_replacing_the_database_to_any_update() {
    let fixture = fixture("guard-policy");
    fixture.create_stack();
    let reason = block_on(common::update_rolled_back(
        &fixture.sdk(),
        PLATFORM,
        &[("DatabaseMasterUsername", "someone_else")],
        "Database",
    ));
    // AWS's words: the denying statement's number (from 1) and its own Action
    // and Resource lists as written (scripts/moto_server.py entry 21).
    let policy = policy(&fixture, PLATFORM);
    let (index, deny) = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .enumerate()
        .find(|(_, statement)| statement["Effect"] == "Deny")
        .expect("a Deny statement");
    let resources: Vec<&str> = deny["Resource"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|resource| resource.as_str())
        .collect();
    assert!(resources.len() > 1, "{resources:?}");
    assert_eq!(
        reason,
        format!(
            "Action denied by stack policy: Statement [#{}] does not allow [Update:Replace] for resource [{}];",
            index + 1,
            resources.join(", ")
        )
    );
    assert_eq!(
        parameter(&fixture, PLATFORM, "DatabaseMasterUsername").as_deref(),
        Some("postgres")
    );
}

/// A replacement stackup cannot foresee (a type its create-only table does not
/// know: an S3 bucket in the operator's own platform template, renamed) is
/// refused by the stack policy during the update, and stackup says what
/// happened and how to allow it; with the consent the update goes through.
#[test]
fn a_replacement_stackup_did_not_foresee_is_refused_by_the_policy_and_explained() {
    let config = common::stack_config_dir(&[]);
    let bucket = format!("guard-{}", common::account_for("guard-unforeseen"));
    let mut template: serde_json::Value =
        serde_json::from_str(include_str!("../stacks/platform.json")).expect("platform.json");
    template["Resources"]["Uploads"] = serde_json::json!({
        "Type": "AWS::S3::Bucket",
        "Properties": {"BucketName": format!("{bucket}-a")}
    });
    let template_file = config.path().join("own-platform.json");
    let write_template = |template: &serde_json::Value| {
        std::fs::write(
            &template_file,
            serde_json::to_string_pretty(template).expect("json"),
        )
        .expect("write template")
    };
    write_template(&template);
    let stack_file = config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&stack_file).expect("stack file");
    std::fs::write(
        &stack_file,
        format!("{text}\n\n[templates]\nplatform = \"own-platform.json\"\n"),
    )
    .expect("write stack file");
    let fixture = TestStack::new("guard-unforeseen", config);
    fixture.create_stack();

    template["Resources"]["Uploads"]["Properties"]["BucketName"] =
        serde_json::json!(format!("{bucket}-b"));
    write_template(&template);
    let output = fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for said in [
        "demo-local-v1-platform: CloudFormation refused to replace Uploads (AWS::S3::Bucket) because the stack policy stackup keeps on the stack denies replacing what holds state; the update was rolled back",
        "\n  Uploads: Action denied by stack policy: Statement [#2] does not allow [Update:Replace] for resource [",
        "\n  fix: or, if you mean it, run `stackup create-stack local --allow-replacement Uploads`",
    ] {
        assert!(stderr.contains(said), "{said:?} not in {stderr}");
    }
    let config = fixture.sdk();
    assert_eq!(
        block_on(common::stack_status(&config, PLATFORM)).as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );

    fixture
        .stackup()
        .args([
            "create-stack",
            "local",
            "--yes",
            "--allow-replacement",
            "Uploads",
        ])
        .successful_output();
    assert_eq!(
        block_on(common::stack_status(&config, PLATFORM)).as_deref(),
        Some("UPDATE_COMPLETE")
    );
}

#[test]
fn protected_stacks_are_deleted_only_by_delete_stack() {
    let fixture = fixture("guard-termination");
    fixture.create_stack();
    let config = fixture.sdk();
    let cloudformation = aws_sdk_cloudformation::Client::new(&config);
    for stack in [NETWORK, PLATFORM] {
        let described =
            block_on(cloudformation.describe_stacks().stack_name(stack).send()).expect("describe");
        assert_eq!(
            described.stacks()[0].enable_termination_protection(),
            Some(true),
            "{stack}"
        );
        let refused = block_on(cloudformation.delete_stack().stack_name(stack).send())
            .expect_err("a protected stack is not deleted");
        let message = format!(
            "{:?}",
            aws_sdk_cloudformation::error::DisplayErrorContext(&refused)
        );
        assert!(
            message.contains("cannot be deleted while TerminationProtection is enabled"),
            "{message}"
        );
        assert!(block_on(common::stack_status(&config, stack)).is_some());
    }

    let output = fixture
        .stackup()
        .args(["delete-stack", "local", "--yes"])
        .successful_output();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "deleted demo-local-v1-platform\ndeleted demo-local-v1-network\n"
    );
    for stack in [NETWORK, PLATFORM] {
        assert!(block_on(common::stack_is_gone(&config, stack)), "{stack}");
    }
}
