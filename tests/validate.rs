//! `validate`: every bad stack file and template in the corpus fails with exit 2
//! and its exact message, without a single AWS call.

mod common;

use predicates::prelude::*;

use std::path::Path;

const CONFIG_DIR: &str = "tests/fixtures/config";

#[test]
fn every_bad_input_fails_with_its_message_and_no_aws_call() {
    let counter = common::AwsProxy::start_counting_only();
    let mut cases = 0;
    insta::glob!("fixtures/config/stacks/*.toml", |path| {
        let stack = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("stack name");
        if stack == "good" {
            return;
        }
        cases += 1;
        let output = common::stackup(Path::new(CONFIG_DIR), &counter.endpoint)
            .args(["validate", stack])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stack}: {stderr}");
        assert!(output.stdout.is_empty(), "{stack}: nothing on stdout");
        insta::assert_snapshot!(stderr);
    });
    assert!(cases >= 40, "the corpus has {cases} bad stack files");
    assert_eq!(
        counter.request_count(),
        0,
        "bad input must make no AWS call"
    );
}

#[test]
fn a_good_stack_file_is_valid() {
    let counter = common::AwsProxy::start_counting_only();
    common::stackup(Path::new(CONFIG_DIR), &counter.endpoint)
        .args(["validate", "good"])
        .assert()
        .success()
        .stdout(predicates::str::starts_with(
            "good: valid (demo-staging-v1;",
        ));
    assert_eq!(counter.request_count(), 0);
}

#[test]
fn the_repository_stack_files_are_valid() {
    let counter = common::AwsProxy::start_counting_only();
    common::stackup(&common::repo_root(), &counter.endpoint)
        .args(["validate", "local"])
        .assert()
        .success()
        .stderr(predicates::str::contains("warning").not());
    // The example goes to AWS with sslmode = "require" until its reader saves
    // the RDS bundle (which the repository cannot ship for every region): the
    // one warning says how.
    let output = common::stackup(&common::repo_root(), &counter.endpoint)
        .env_remove("STACKUP_LOCAL_CLOUD")
        .args(["validate", "example"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0]
            .starts_with("warning: [database] sslmode = \"require\" encrypts but does not verify"),
        "{stderr}"
    );
}

/// A task definition that does not hand over the cookie as RELEASE_COOKIE
/// is valid (not every container is a release) but said to be likely wrong.
#[test]
fn a_template_without_the_cookie_is_valid_with_a_warning() {
    let counter = common::AwsProxy::start_counting_only();
    let config = common::stack_config_dir(&[]);
    let task = config.path().join("task-defs/web.json");
    let text = std::fs::read_to_string(&task).expect("template");
    let renamed = text.replace(
        "\"name\": \"RELEASE_COOKIE\"",
        "\"name\": \"ERLANG_COOKIE\"",
    );
    assert_ne!(renamed, text);
    std::fs::write(&task, renamed).expect("write template");
    common::stackup(config.path(), &counter.endpoint)
        .args(["validate", "local"])
        .assert()
        .success()
        .stderr(predicates::str::contains("warning: web (").and(predicates::str::contains(
            "task-defs/web.json): the Erlang cookie is given as ERLANG_COOKIE, but a release reads RELEASE_COOKIE",
        )));
    assert_eq!(counter.request_count(), 0);
}

#[test]
fn json_output_lists_every_problem() {
    let counter = common::AwsProxy::start_counting_only();
    let output = common::stackup(Path::new(CONFIG_DIR), &counter.endpoint)
        .args(["--output", "json", "validate", "many-problems"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(report["valid"], false);
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 7);
    assert!(problems
        .iter()
        .all(|problem| problem["line"].is_u64() && problem["fix"].is_string()));
}

#[test]
fn a_missing_stack_file_lists_the_stacks_there() {
    let counter = common::AwsProxy::start_counting_only();
    common::stackup(&common::repo_root(), &counter.endpoint)
        .args(["validate", "nope"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("stacks/nope.toml does not exist"))
        .stderr(predicates::str::contains("stacks here: example, local"));
}

#[test]
fn a_stack_name_cannot_leave_the_stacks_folder() {
    let counter = common::AwsProxy::start_counting_only();
    common::stackup(&common::repo_root(), &counter.endpoint)
        .args(["validate", "../Cargo"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not a stack name"));
}

#[test]
fn secrets_in_a_leaky_template_are_not_echoed() {
    let counter = common::AwsProxy::start_counting_only();
    let output = common::stackup(Path::new(CONFIG_DIR), &counter.endpoint)
        .args(["-vv", "validate", "task-plain-secret"])
        .output()
        .expect("runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("RELEASE_COOKIE looks like a secret"));
    assert!(
        !all.contains("chocolate-chip"),
        "the plain cookie value must not be printed"
    );
}

/// An `[upstream]` entry whose parameter a template of the stack declares is
/// valid; the same file with the built-in templates is not (tested by the
/// corpus: upstream-undeclared.toml).
#[test]
fn an_upstream_entry_is_valid_when_a_template_declares_its_parameter() {
    let counter = common::AwsProxy::start_counting_only();
    let config = common::stack_config_dir(&[
        (
            "[database]\n",
            "[upstream]\nledger = \"ledger-qa-v2-network\"\n\n[database]\n",
        ),
        (
            "[ssh]\n",
            "[templates]\nnetwork = \"stacks/own-network.json\"\n\n[ssh]\n",
        ),
    ]);
    let mut template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("stacks/network.json"))
            .expect("network.json"),
    )
    .expect("JSON");
    template["Parameters"]["UpstreamLedgerStackName"] = serde_json::json!({"Type": "String"});
    std::fs::write(
        config.path().join("stacks/own-network.json"),
        serde_json::to_string_pretty(&template).expect("JSON"),
    )
    .expect("write template");
    common::stackup(config.path(), &counter.endpoint)
        .args(["validate", "local"])
        .assert()
        .success();
    assert_eq!(counter.request_count(), 0);
}
