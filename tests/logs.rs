//! logs against moto: many events over many streams, AWS time boundaries,
//! --follow, and a reader that goes away.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use common::{AwsProxy, LocalCloud};

const GROUP: &str = "/stackup/demo-local-v1";

struct Fixture {
    proxy: AwsProxy,
    config: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    logs: aws_sdk_cloudwatchlogs::Client,
}

fn fixture(test: &str) -> Fixture {
    let cloud = LocalCloud::load();
    let proxy = AwsProxy::start(&cloud.moto_endpoint(), &common::account_for(test));
    let config = common::stack_config_dir(&[]);
    common::stackup(config.path(), &proxy.endpoint)
        .args(["create-stack", "local", "--yes"])
        .assert()
        .success();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let logs =
        aws_sdk_cloudwatchlogs::Client::new(&runtime.block_on(common::sdk_config(&proxy.endpoint)));
    Fixture {
        proxy,
        config,
        runtime,
        logs,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
}

impl Fixture {
    /// Put events (timestamp, message) into one stream, creating it when needed.
    fn put(&self, stream: &str, events: &[(i64, String)]) {
        self.runtime.block_on(async {
            let _ = self
                .logs
                .create_log_stream()
                .log_group_name(GROUP)
                .log_stream_name(stream)
                .send()
                .await;
            for chunk in events.chunks(10_000) {
                let batch: Vec<InputLogEvent> = chunk
                    .iter()
                    .map(|(timestamp, message)| {
                        InputLogEvent::builder()
                            .timestamp(*timestamp)
                            .message(message)
                            .build()
                            .expect("event")
                    })
                    .collect();
                self.logs
                    .put_log_events()
                    .log_group_name(GROUP)
                    .log_stream_name(stream)
                    .set_log_events(Some(batch))
                    .send()
                    .await
                    .expect("put events");
            }
        });
    }

    fn logs_command(&self) -> Command {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("stackup"));
        command
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_ENDPOINT_URL")
            .arg("--config-dir")
            .arg(self.config.path())
            .arg("--endpoint-url")
            .arg(&self.proxy.endpoint)
            .args(["--output", "json", "logs", "local"]);
        command
    }

    /// The messages of `logs --since since --until until`, which must
    /// succeed, and what it said on stderr.
    fn messages_between(&self, since: &str, until: &str) -> (Vec<String>, String) {
        let output = self
            .logs_command()
            .args(["--since", since, "--until", until])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{stderr}");
        let messages = parse_lines(&output.stdout)
            .iter()
            .map(|event| event["message"].as_str().expect("message").to_string())
            .collect();
        (messages, stderr)
    }
}

fn parse_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line per event"))
        .collect()
}

#[test]
fn a_hundred_thousand_events_over_twenty_streams_each_once_in_time_order() {
    let fixture = fixture("logs-many");
    let base = now_ms() - 20 * 60 * 1000;
    for stream in 0..20 {
        let events: Vec<(i64, String)> = (0..5_000)
            .map(|index| {
                let number = index * 20 + stream;
                (base + number * 5, format!("event {number}"))
            })
            .collect();
        fixture.put(&format!("web/web/task{stream:02}"), &events);
    }
    let output = fixture
        .logs_command()
        .args([
            "--since",
            &rfc3339(base),
            "--until",
            &rfc3339(base + 100_000 * 5),
        ])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = parse_lines(&output.stdout);
    assert_eq!(events.len(), 100_000);
    let ids: HashSet<&str> = events
        .iter()
        .map(|event| event["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 100_000, "every event exactly once");
    let timestamps: Vec<i64> = events
        .iter()
        .map(|event| event["timestamp"].as_i64().expect("timestamp"))
        .collect();
    assert!(
        timestamps.windows(2).all(|pair| pair[0] <= pair[1]),
        "in time order"
    );
    let messages: HashSet<&str> = events
        .iter()
        .map(|event| event["message"].as_str().expect("message"))
        .collect();
    assert!(messages.contains("event 0") && messages.contains("event 99999"));
}

#[test]
fn since_is_inclusive_and_until_exclusive_as_aws_defines() {
    let fixture = fixture("logs-bounds");
    let start = now_ms() - 5 * 60 * 1000;
    fixture.put(
        "web/web/bounds",
        &[
            (start - 1, "before".into()),
            (start, "at start".into()),
            (start + 500, "inside".into()),
            (start + 1000, "at end".into()),
        ],
    );
    let (messages, _) = fixture.messages_between(&rfc3339(start), &rfc3339(start + 1000));
    assert_eq!(messages, vec!["at start", "inside"]);
}

#[test]
fn follow_picks_up_new_events_each_once() {
    let fixture = fixture("logs-follow");
    let start = now_ms() - 60_000;
    fixture.put("web/web/old", &[(start + 1, "already there".into())]);
    let mut child = fixture
        .logs_command()
        .args(["--since", "5m", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let (lines_sender, lines) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_sender.send(line).is_err() {
                return;
            }
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(20))
        .expect("the existing event");
    assert!(first.contains("already there"));
    for round in 0..3 {
        let now = now_ms();
        fixture.put(
            &format!("web/web/new{round}"),
            &[
                (now, format!("new {round}a")),
                (now + 1, format!("new {round}b")),
            ],
        );
        std::thread::sleep(Duration::from_millis(700));
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 6 && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
            let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
            seen.push(event["message"].as_str().expect("message").to_string());
        }
    }
    // A little longer: a duplicate would show up in the next polls.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(3)) {
        let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        seen.push(event["message"].as_str().expect("message").to_string());
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    let status = child.wait().expect("waits");
    seen.sort();
    assert_eq!(
        seen,
        vec!["new 0a", "new 0b", "new 1a", "new 1b", "new 2a", "new 2b"],
        "each new event once"
    );
    assert!(status.success(), "Ctrl-C ends --follow with exit 0");
}

#[test]
fn a_reader_that_goes_away_ends_it_quietly() {
    let fixture = fixture("logs-pipe");
    let base = now_ms() - 10 * 60 * 1000;
    let events: Vec<(i64, String)> = (0..20_000)
        .map(|index| (base + index, format!("line {index} {}", "x".repeat(80))))
        .collect();
    fixture.put("web/web/pipe", &events);
    let mut child = fixture
        .logs_command()
        .args(["--since", &rfc3339(base)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("a line");
    drop(reader);
    let output = child.wait_with_output().expect("waits");
    assert!(output.status.success(), "exit {:?}", output.status);
    assert!(
        output.stderr.is_empty(),
        "quiet: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Text output is one line per event whatever the message holds: the line
/// breaks at the end (`\n`, `\r\n`, `\r`) go (in JSON lines too), other line
/// breaks and terminal escapes are escaped; JSON lines keep them as they are.
#[test]
fn text_output_is_one_line_per_event_without_terminal_escapes() {
    let fixture = fixture("logs-control-characters");
    let base = now_ms() - 60 * 1000;
    let messages = [
        "started\n",
        "** (RuntimeError) boom\n    (demo) lib/demo.ex:1: Demo.run/0\n",
        "\u{1b}[31mred\u{1b}[0m\tafter a tab\rover it\r",
        "from Windows\r\n",
    ];
    let events: Vec<(i64, String)> = messages
        .iter()
        .enumerate()
        .map(|(index, message)| (base + index as i64, message.to_string()))
        .collect();
    fixture.put("web/web/text", &events);
    let mut text = fixture.logs_command();
    // logs_command asks for JSON lines; the last --output wins.
    text.args(["--since", &rfc3339(base), "--output", "text"]);
    let output = text.output().expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "one line per event: {stdout:?}");
    assert!(lines[0].ends_with(" web/web/text started"), "{stdout:?}");
    assert!(
        lines[1].ends_with(" ** (RuntimeError) boom\\n    (demo) lib/demo.ex:1: Demo.run/0"),
        "{stdout:?}"
    );
    assert!(
        lines[2].ends_with(" \\u{1b}[31mred\\u{1b}[0m\tafter a tab\\rover it"),
        "{stdout:?}"
    );
    assert!(
        lines[3].ends_with(" web/web/text from Windows"),
        "{stdout:?}"
    );
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "{stdout:?}"
    );

    let json = fixture
        .logs_command()
        .args(["--since", &rfc3339(base)])
        .output()
        .expect("runs");
    let sent: Vec<String> = parse_lines(&json.stdout)
        .iter()
        .map(|event| event["message"].as_str().expect("message").to_string())
        .collect();
    let want: Vec<&str> = messages
        .iter()
        .map(|message| message.trim_end_matches(['\r', '\n']))
        .collect();
    assert_eq!(
        sent, want,
        "JSON lines: the messages, without the line breaks at the end"
    );
}

/// `rfc3339(ms)` with more digits of a second: `"…08.999Z"` and `"5"` give
/// `"…08.9995Z"`, half a millisecond later.
fn finer(ms: i64, digits: &str) -> String {
    let time = rfc3339(ms);
    format!("{}{digits}Z", time.trim_end_matches('Z'))
}

/// Bounds finer than a millisecond are exact instants: an event (stamped to
/// the millisecond) is in the range when its millisecond starts at or after
/// --since and before --until, so both round up, never down.
#[test]
fn bounds_finer_than_a_millisecond_are_exact_instants() {
    let fixture = fixture("logs-fine-bounds");
    let at = now_ms() - 5 * 60 * 1000;
    fixture.put(
        "web/web/fine",
        &[
            (at - 1, "before the start".into()),
            (at, "at the start 1".into()),
            (at, "at the start 2".into()),
            (at + 1, "after the end".into()),
        ],
    );
    let messages = |since: &str, until: &str| fixture.messages_between(since, until);
    // [at - 0.5 ms, at + 0.1 ms) holds the millisecond `at` only
    let (inside, _) = messages(&finer(at - 1, "5"), &finer(at, "1"));
    assert_eq!(inside, ["at the start 1", "at the start 2"]);
    // [at + 0.1 ms, at + 0.5 ms) is a range, but holds no start of a millisecond
    let (none, stderr) = messages(&finer(at, "1"), &finer(at, "5"));
    assert!(none.is_empty(), "{none:?}");
    assert!(stderr.contains("no events in "), "{stderr}");
}

/// A range without events prints nothing on stdout, and says so on stderr,
/// naming the group, the range and what narrowed it.
#[test]
fn an_empty_range_says_so_on_stderr() {
    let fixture = fixture("logs-empty");
    let output = fixture
        .logs_command()
        .args(["--since", "5m"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("no events in {GROUP} between ")),
        "{stderr}"
    );
    let output = fixture
        .logs_command()
        .args(["--since", "5m", "--service", "web", "--filter", "ERROR"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "no events in {GROUP} (--service web, --filter ERROR) between "
        )),
        "{stderr}"
    );
}

/// `--until` before the default start: the message says where the start was
/// and how to move it.
#[test]
fn until_before_the_default_start_says_since_defaults_to_15m_ago() {
    let proxy = AwsProxy::start_counting_only();
    let config = common::stack_config_dir(&[]);
    let output = common::stackup(config.path(), &proxy.endpoint)
        .args(["logs", "local", "--until", "1h"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--until 1h is not after the start: --since defaults to 15m ago"),
        "{stderr}"
    );
    assert!(stderr.contains("fix: give --since too"), "{stderr}");
    assert_eq!(proxy.request_count(), 0, "no AWS call");
}

/// The help tells what --follow promises and what it does not.
#[test]
fn follow_help_names_its_overlap_window() {
    let output = Command::new(assert_cmd::cargo::cargo_bin("stackup"))
        .args(["logs", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(!help.contains("no gaps"), "{help}");
    assert!(help.contains("10 s"), "{help}");
}
