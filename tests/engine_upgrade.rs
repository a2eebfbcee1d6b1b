//! A major engine upgrade of the database (issue 20, item 7): create-stack
//! allows it for the run that changes the major version, with a parameter
//! group of the new family, and says so in the plan; the local cloud refuses
//! a major change without the flag as RDS does (`scripts/moto_server.py`
//! entry 22). Each test runs in its own moto account.

mod common;

use common::{block_on, MustSucceed, TestStack};

const PLATFORM: &str = "demo-local-v1-platform";
const ENGINE: &str = "engine_version = \"16\"";

fn set_engine_version(fixture: &TestStack, version: &str) {
    let path = fixture.config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&path).expect("stack file");
    let current = text
        .lines()
        .find(|line| line.starts_with("engine_version"))
        .expect("engine_version")
        .to_string();
    std::fs::write(
        &path,
        text.replace(&current, &format!("engine_version = \"{version}\"")),
    )
    .expect("write stack file");
}

/// The instance's engine version and its parameter group's family.
fn database(fixture: &TestStack) -> (String, String) {
    let config = fixture.sdk();
    let rds = aws_sdk_rds::Client::new(&config);
    let instances = block_on(rds.describe_db_instances().send()).expect("instances");
    let instance = &instances.db_instances()[0];
    let group = instance.db_parameter_groups()[0]
        .db_parameter_group_name()
        .expect("group name")
        .to_string();
    let groups = block_on(
        rds.describe_db_parameter_groups()
            .db_parameter_group_name(&group)
            .send(),
    )
    .expect("group");
    (
        instance.engine_version().unwrap_or_default().to_string(),
        groups.db_parameter_groups()[0]
            .db_parameter_group_family()
            .unwrap_or_default()
            .to_string(),
    )
}

fn allow_parameter(fixture: &TestStack) -> Option<String> {
    let config = fixture.sdk();
    let described = block_on(
        aws_sdk_cloudformation::Client::new(&config)
            .describe_stacks()
            .stack_name(PLATFORM)
            .send(),
    )
    .expect("describe");
    described.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("DatabaseAllowMajorVersionUpgrade"))
        .and_then(|p| p.parameter_value().map(str::to_string))
}

#[test]
fn a_major_upgrade_is_allowed_for_its_run_only_with_a_new_parameter_group() {
    let fixture = TestStack::new(
        "engine-major-upgrade",
        common::stack_config_dir(&[(ENGINE, "engine_version = \"15\"")]),
    );
    fixture.create_stack();
    assert_eq!(database(&fixture), ("15".into(), "postgres15".into()));
    assert_eq!(allow_parameter(&fixture).as_deref(), Some("false"));

    set_engine_version(&fixture, "16");
    let dry_run = fixture
        .stackup()
        .args(["create-stack", "local", "--dry-run"])
        .successful_output();
    let plan = String::from_utf8_lossy(&dry_run.stdout);
    for said in [
        "database: major engine upgrade 15 -> 16: AllowMajorVersionUpgrade for this run only; a new parameter group of family postgres16 replaces DatabaseParameterGroup",
        "replaces DatabaseParameterGroup (AWS::RDS::DBParameterGroup): Family (parameter DatabaseParameterFamily: \"postgres15\" -> \"postgres16\")",
        "DatabaseAllowMajorVersionUpgrade = true",
    ] {
        assert!(plan.contains(said), "{said:?} not in {plan}");
    }
    fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .successful_output();
    assert_eq!(database(&fixture), ("16".into(), "postgres16".into()));
    assert_eq!(allow_parameter(&fixture).as_deref(), Some("true"));

    // The next run takes the flag away again: a stray major change later is
    // RDS's to refuse.
    let output = fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .successful_output();
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("major engine upgrade"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(allow_parameter(&fixture).as_deref(), Some("false"));

    // Back to an older major version: refused before any change.
    set_engine_version(&fixture, "15");
    fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "database.engine_version: engine_version is 15, but the database runs 16: RDS cannot move a database to an older major version",
        ));
}

/// What RDS refuses, the local cloud refuses: an update moving the engine to
/// a new major version without AllowMajorVersionUpgrade rolls back.
#[test]
fn the_local_cloud_refuses_a_major_upgrade_without_the_flag() {
    let fixture = TestStack::new(
        "engine-major-no-flag",
        common::stack_config_dir(&[(ENGINE, "engine_version = \"15\"")]),
    );
    fixture.create_stack();
    let reason = block_on(common::update_rolled_back(
        &fixture.sdk(),
        PLATFORM,
        &[
            ("DatabaseEngineVersion", "16"),
            ("DatabaseParameterFamily", "postgres16"),
        ],
        "Database",
    ));
    assert_eq!(
        reason,
        "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version."
    );
    assert_eq!(database(&fixture), ("15".into(), "postgres15".into()));
}
