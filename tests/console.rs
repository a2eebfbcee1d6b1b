//! console over two SSH hops (the local cloud's sshd is both the bastion and
//! the host) to a real Erlang node named by the node-name rule for a task
//! that moto reports, with the cookie stackup stored in SSM.

mod common;

use common::block_on;

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{LocalCloud, TestStack};

fn deployed(test: &str) -> (TestStack, aws_sdk_ecs::types::Task, String) {
    deployed_with(test, &[])
}

/// [`deployed`], with `edits` made to the stack file first.
fn deployed_with(
    test: &str,
    edits: &[(&str, &str)],
) -> (TestStack, aws_sdk_ecs::types::Task, String) {
    let cloud = LocalCloud::load();
    let config = common::database_config_dir(&cloud, "unused", None, None, None);
    let stack_file = config.path().join("stacks/local.toml");
    let mut text = std::fs::read_to_string(&stack_file).expect("stack file");
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the stack file");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&stack_file, text).expect("write stack file");
    let fixture = TestStack::new(test, config);
    fixture.create_stack();
    fixture
        .stackup()
        .args([
            "deploy-release",
            "local",
            "--yes",
            "--image",
            "web=ghcr.io/example/demo:1.0.0",
        ])
        .assert()
        .success();
    let config = fixture.sdk();
    let (task, cookie) = block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&config);
        let arns = ecs
            .list_tasks()
            .cluster("demo-local-v1")
            .service_name("web")
            .send()
            .await
            .expect("tasks");
        let described = ecs
            .describe_tasks()
            .cluster("demo-local-v1")
            .tasks(arns.task_arns()[0].clone())
            .send()
            .await
            .expect("describe");
        let cookie = aws_sdk_ssm::Client::new(&config)
            .get_parameter()
            .name("/stackup/demo-local-v1/cookie")
            .with_decryption(true)
            .send()
            .await
            .expect("cookie")
            .parameter()
            .and_then(|parameter| parameter.value().map(str::to_string))
            .expect("value");
        (described.tasks()[0].clone(), cookie)
    });
    (fixture, task, cookie)
}

/// An Erlang node on an address of the loopback interface, with its own epmd;
/// everything stops when dropped.
struct ErlangNode {
    address: Ipv4Addr,
    epmd_port: u16,
    epmd: Child,
    node: Child,
    added_address: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

impl ErlangNode {
    fn start(name: &str, address: Ipv4Addr, cookie: &str) -> ErlangNode {
        let added = Command::new("ip")
            .args(["address", "add", &format!("{address}/32"), "dev", "lo"])
            .output()
            .expect("ip runs");
        let added_address = added.status.success();
        assert!(
            added_address || String::from_utf8_lossy(&added.stderr).contains("File exists"),
            "cannot put {address} on lo (root needed): {}",
            String::from_utf8_lossy(&added.stderr)
        );
        let epmd_port = free_port();
        let epmd = Command::new("epmd")
            .args([
                "-port",
                &epmd_port.to_string(),
                "-address",
                &format!("127.0.0.1,{address}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("epmd starts");
        let octets = address.octets();
        let node = Command::new("erl")
            .args([
                "-name",
                name,
                "-setcookie",
                cookie,
                "-start_epmd",
                "false",
                "-noshell",
                "-kernel",
                "inet_dist_use_interface",
            ])
            .arg(format!(
                "{{{},{},{},{}}}",
                octets[0], octets[1], octets[2], octets[3]
            ))
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env("HOME", std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("erl starts");
        let short = name.split('@').next().expect("name").to_string();
        let started = Instant::now();
        loop {
            let names = Command::new("epmd")
                .args(["-port", &epmd_port.to_string(), "-names"])
                .output()
                .expect("epmd -names");
            if String::from_utf8_lossy(&names.stdout).contains(&short) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the Erlang node did not register with epmd"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        ErlangNode {
            address,
            epmd_port,
            epmd,
            node,
            added_address,
        }
    }
}

impl Drop for ErlangNode {
    fn drop(&mut self) {
        let _ = self.node.kill();
        let _ = self.node.wait();
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
        if self.added_address {
            let _ = Command::new("ip")
                .args([
                    "address",
                    "del",
                    &format!("{}/32", self.address),
                    "dev",
                    "lo",
                ])
                .status();
        }
    }
}

/// The console command: a hidden Erlang node on loopback that asks `{node}`
/// (filled in by stackup) for its name, with the cookie read from a file.
fn probe_command(epmd_port: u16, cookie_file: &std::path::Path) -> String {
    format!(
        "ERL_EPMD_PORT={epmd_port} erl -name probe-$$@127.0.0.1 -setcookie \"$(cat {cookie})\" -start_epmd false -hidden -noshell \
         -kernel inet_dist_use_interface '{{127,0,0,1}}' \
         -eval \"N = '{{node}}', case rpc:call(N, erlang, node, []) of N -> io:format(\\\"attached to ~s~n\\\", [N]), halt(0); Other -> io:format(\\\"cannot reach ~s: ~p~n\\\", [N, Other]), halt(1) end.\"",
        cookie = cookie_file.display()
    )
}

fn cookie_file(cookie: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod dir");
    let file = dir.path().join("cookie");
    std::fs::write(&file, cookie).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    dir
}

#[test]
fn the_console_attaches_to_the_node_the_naming_rule_gives() {
    let (fixture, task, cookie) = deployed("console-node");
    let node_name = stackup::release::node_name::task_node_name(
        stackup::config::NodeNameMode::Ip,
        "web",
        &task,
    )
    .expect("node name");
    let address: Ipv4Addr = stackup::release::node_name::private_ip(&task)
        .expect("ip")
        .parse()
        .expect("IPv4");
    let node = ErlangNode::start(&node_name, address, &cookie);
    let task_id = stackup::release::node_name::task_id(task.task_arn().expect("arn")).to_string();

    let right = cookie_file(&cookie);
    let output = fixture
        .stackup()
        .args([
            "console",
            "local",
            "--task",
            &task_id,
            "--command",
            &probe_command(node.epmd_port, &right.path().join("cookie")),
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("attached to {node_name}")),
        "{stdout}"
    );
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(&cookie),
        "the cookie is not printed"
    );

    let wrong = cookie_file("not-the-cookie");
    let output = fixture
        .stackup()
        .args([
            "console",
            "local",
            "--task",
            &task_id,
            "--command",
            &probe_command(node.epmd_port, &wrong.path().join("cookie")),
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "the remote status: {stdout}");
    assert!(
        stdout.contains(&format!("cannot reach {node_name}")),
        "{stdout}"
    );
}

#[test]
fn the_terminal_is_restored_after_the_console_ends_or_fails() {
    let (fixture, task, _) = deployed("console-terminal");
    let task_id = stackup::release::node_name::task_id(task.task_arn().expect("arn")).to_string();
    let binary = assert_cmd::cargo::cargo_bin("stackup");
    for (command, expected) in [("exit 7", "status=7"), ("kill -KILL $$", "status=255")] {
        let script = format!(
            "stty -g; {} --config-dir {} --endpoint-url {} console local --task {task_id} --command '{command}'; echo status=$?; stty -g",
            binary.display(),
            fixture.config.path().display(),
            fixture.proxy.endpoint
        );
        let output = Command::new("script")
            .args(["-qec", &script, "/dev/null"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .output()
            .expect("script runs");
        let text = String::from_utf8_lossy(&output.stdout).replace('\r', "");
        let settings: Vec<&str> = text
            .lines()
            .filter(|line| line.split(':').count() > 20)
            .collect();
        assert_eq!(settings.len(), 2, "two stty -g lines in: {text}");
        assert_eq!(
            settings[0], settings[1],
            "terminal settings restored after `{command}`: {text}"
        );
        assert!(text.contains(expected), "{expected} in: {text}");
    }
}

/// `console --eval EXPR`: the service's eval_command with the expression as
/// one shell word (wrapped in IO.inspect), on any running task when there are
/// several and no --task, without a terminal; the command's exit status is
/// stackup's. (The command here stands in for `bin/<app> rpc`, which needs a
/// release in a container: it prints what it was given.)
#[test]
fn eval_hands_the_expression_to_the_node_as_one_word_and_passes_its_status() {
    let (fixture, _task, _cookie) = deployed_with(
        "console-eval",
        &[(
            "cookie = \"stack\"",
            r#"cookie = "stack"
eval_command = "printf \"%s on %s\\n\" {expr} {node}; exit 3""#,
        )],
    );
    let expression = r#"Enum.sum([1, 2]) + String.length("it's $HOME `x`")"#;
    let output = fixture
        .stackup()
        .args(["console", "local", "--eval", expression])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!("IO.inspect((\n{expression}\n)) on web@")),
        "{stdout}{stderr}"
    );
}
