//! Command-line behaviour: help, usage errors, completions, closed pipes.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

fn binary() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("stackup")
}

#[test]
fn usage_errors_exit_2() {
    assert_cmd::Command::cargo_bin("stackup")
        .expect("binary")
        .args(["validate"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("<STACK>"));
    assert_cmd::Command::cargo_bin("stackup")
        .expect("binary")
        .args(["no-such-command"])
        .assert()
        .code(2);
    assert_cmd::Command::cargo_bin("stackup")
        .expect("binary")
        .args(["--output", "yaml", "validate", "local"])
        .assert()
        .code(2);
}

#[test]
fn help_documents_exit_codes_and_goes_to_stdout() {
    assert_cmd::Command::cargo_bin("stackup")
        .expect("binary")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "Exit codes: 0 success, 1 failure",
        ))
        .stdout(predicates::str::contains("130 interrupted"));
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = assert_cmd::Command::cargo_bin("stackup")
            .expect("binary")
            .args(["completions", shell])
            .output()
            .expect("runs");
        assert!(output.status.success(), "{shell}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("validate"),
            "{shell}"
        );
    }
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // The reader closes the pipe before stackup writes its completion script.
    let mut child = Command::new(binary())
        .args(["completions", "zsh"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    drop(child.stdout.take());
    let status = child.wait().expect("waits");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("reads");
    assert!(status.success(), "exit {status:?}, stderr: {stderr}");
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
}

/// No credentials anywhere: one plain sentence saying so and where they are
/// looked for, with the credentials hint, not the network's; none of the SDK's
/// per-source warnings or Debug dumps.
#[test]
fn missing_credentials_are_named_as_such() {
    let config = common::stack_config_dir(&[]);
    let home = tempfile::tempdir().expect("home");
    let output = common::stackup(config.path(), "http://127.0.0.1:9")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .args(["status", "local"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("no AWS credentials could be loaded (environment, AWS_PROFILE or --profile"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n  fix: check the credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains("ProviderError("), "{stderr}");
    // the error, the sources the chain tried (one line each), the hint
    assert!(stderr.lines().count() <= 10, "{stderr}");
}

/// `-v` diagnostics (tracing) follow the same colour decision as the rest of
/// stderr: none with --no-color, none when stderr is a file or a pipe.
#[test]
fn verbose_diagnostics_have_no_colour_when_colour_is_off() {
    // A stack that does not exist yet: status answers at once.
    let stack = common::TestStack::new("verbose-colour", common::stack_config_dir(&[]));
    // stderr is a pipe here, and NO_COLOR is not set.
    let output = stack
        .stackup()
        .env_remove("NO_COLOR")
        .args(["-v", "status", "local"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEBUG"), "debug diagnostics: {stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "no ANSI escape on a pipe: {stderr:?}"
    );

    // On a terminal (script gives one), colour is on unless --no-color.
    let run_on_terminal = |extra: &str| {
        let command = format!(
            "{} --config-dir {} --endpoint-url {} -v {extra} status local",
            binary().display(),
            stack.config.path().display(),
            stack.proxy.endpoint
        );
        let output = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .output()
            .expect("script runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let coloured = run_on_terminal("");
    assert!(coloured.contains("DEBUG"), "{coloured}");
    assert!(
        coloured.contains('\x1b'),
        "colour on a terminal: {coloured:?}"
    );
    let plain = run_on_terminal("--no-color");
    assert!(plain.contains("DEBUG"), "{plain}");
    assert!(
        !plain.contains('\x1b'),
        "no colour with --no-color: {plain:?}"
    );
}

/// `--profile` names the credentials to use: they win over keys in the
/// environment (as the aws CLI's --profile does), and a profile neither file
/// holds is bad input naming the profile and the files read, before any call.
#[test]
fn an_explicit_profile_wins_over_the_environment_and_an_unknown_one_is_refused() {
    let stack = common::TestStack::new("explicit-profile", common::stack_config_dir(&[]));
    let home = tempfile::tempdir().expect("home");
    let credentials = home.path().join("credentials");
    std::fs::write(
        &credentials,
        "[trial]\naws_access_key_id = AKIATRIALPROFILE0001\naws_secret_access_key = trial-secret\n\n[empty]\nregion = eu-west-1\n",
    )
    .expect("credentials file");
    let with_profile = |profile: &str| {
        stack
            .stackup()
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", home.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .args(["status", "local", "--profile", profile])
            .output()
            .expect("runs")
    };

    // The environment holds AWS_ACCESS_KEY_ID=testing (common::stackup).
    let output = with_profile("trial");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stack.proxy.request_count() > 0, "{stderr}");
    assert_eq!(
        stack.proxy.signing_keys(),
        ["AKIATRIALPROFILE0001".to_string()].into(),
        "{stderr}"
    );

    let calls = stack.proxy.request_count();
    let output = with_profile("nosuch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--profile nosuch: no such profile"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&credentials.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("they hold: empty, trial"), "{stderr}");
    assert_eq!(stack.proxy.request_count(), calls, "no AWS call: {stderr}");

    // A profile that is there but gives no credentials is bad input too, not
    // the SDK's "no credentials could be loaded" after a call was tried.
    let output = with_profile("empty");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--profile empty: the profile (in ")
            && stderr.contains("gives no credentials"),
        "{stderr}"
    );
    assert_eq!(stack.proxy.request_count(), calls, "no AWS call: {stderr}");
}

/// An endpoint without a scheme is bad input (exit 2, before any call), not a
/// failed request with the SDK's dump of it.
#[test]
fn an_endpoint_url_without_a_scheme_is_a_usage_error() {
    let config = common::stack_config_dir(&[]);
    let output = assert_cmd::Command::cargo_bin("stackup")
        .expect("binary")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .arg("--config-dir")
        .arg(config.path())
        .args(["--endpoint-url", "127.0.0.1:4566", "status", "local"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("127.0.0.1:4566 has no scheme: add http:// (a local emulator) or https://, as in http://127.0.0.1:4566"),
        "{stderr}"
    );
    let output = common::stackup(config.path(), "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL", "localhost:4566")
        .args(["status", "local"])
        .output()
        .expect("runs");
    // --endpoint-url (set by the harness) wins: the variable is not read.
    assert_ne!(output.status.code(), Some(2));
}

/// A web server on loopback, not an AWS API: its first `unavailable`
/// requests get a 503 page, the rest a 404 page, each an HTML page titled
/// "Welcome to nginx!". It answers at most 40 requests, then stops.
fn web_server(unavailable: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for served in 0..40 {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut request = [0u8; 65536];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let status = if served < unavailable {
                "503 Service Unavailable"
            } else {
                "404 Not Found"
            };
            let body = "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>hi</body></html>";
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut stream, answer.as_bytes());
        }
    });
    endpoint
}

/// An endpoint that answers with a web page, not an AWS error: the error says
/// what answered instead of "unknown error".
#[test]
fn an_endpoint_that_answers_html_is_named_for_what_it_answered() {
    let config = common::stack_config_dir(&[]);
    let output = common::stackup(config.path(), &web_server(0))
        .args(["status", "local"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the endpoint answered HTTP 404 with an HTML page titled \"Welcome to nginx!\", not an AWS error"),
        "{stderr}"
    );
    assert!(!stderr.contains("unknown error"), "{stderr}");
}

/// Answers the SDK retries (5xx, throttling) are said as they come, from the
/// second failed attempt of a call (the first at -v), with what answered: a
/// failing endpoint does not look like a hung command.
#[test]
fn retries_are_said_with_what_answered() {
    let config = common::stack_config_dir(&[]);
    // status makes at most three calls at once: one of them gets two 503s.
    let output = common::stackup(config.path(), &web_server(7))
        .args(["status", "local"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "of 10 got HTTP 503 with an HTML page titled \"Welcome to nginx!\"; retrying"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("attempt 2 of 10"), "{stderr}");
    assert!(!stderr.contains("attempt 1 of 10"), "only at -v: {stderr}");
    // Said as stackup's own warnings, not as log records.
    let notice = stderr
        .lines()
        .find(|line| line.contains("attempt 2 of 10"))
        .expect("a notice");
    assert!(notice.starts_with("warning: "), "{notice}");
    assert!(!stderr.contains("WARN"), "{stderr}");
}

/// A profile that assumes a role: its STS call gets the stack's region and
/// goes where --endpoint-url points (AWS_ENDPOINT_URL likewise), and the assumed role's keys sign the
/// calls (not the source profile's, not the environment's).
#[test]
fn a_profile_that_assumes_a_role_signs_with_the_role() {
    let stack = common::TestStack::new("assume-role-profile", common::stack_config_dir(&[]));
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("credentials"),
        "[source]\naws_access_key_id = AKIASOURCEPROFILE001\naws_secret_access_key = source-secret\n",
    )
    .expect("credentials file");
    std::fs::write(
        home.path().join("config"),
        "[profile deployer]\nrole_arn = arn:aws:iam::123456789012:role/deployer\nsource_profile = source\n",
    )
    .expect("config file");
    let output = std::process::Command::new(binary())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("RUST_LOG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env_remove("AWS_ENDPOINT_URL")
        .arg("--config-dir")
        .arg(stack.config.path())
        // The role's STS call goes where --endpoint-url says, as every call does.
        .args(["--endpoint-url", &stack.proxy.endpoint])
        .args(["status", "local", "--profile", "deployer"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let keys = stack.proxy.signing_keys();
    assert!(
        keys.contains("AKIASOURCEPROFILE001"),
        "STS signed by the source: {keys:?} {stderr}"
    );
    let others: Vec<&String> = keys
        .iter()
        .filter(|key| key.as_str() != "AKIASOURCEPROFILE001")
        .collect();
    assert!(!others.is_empty(), "{keys:?} {stderr}");
    assert!(
        others.iter().all(|key| key.starts_with("ASIA")),
        "the rest by the assumed role: {keys:?} {stderr}"
    );
    assert!(!keys.contains("testing"), "{keys:?}");
}
