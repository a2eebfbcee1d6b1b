//! `stackup cluster` over the console's path (two SSH hops through the local
//! cloud's sshd) to real Erlang nodes (Debian's erlang-base) named by the
//! naming rule for the tasks moto runs, with the cookie stackup stored in
//! SSM. The service's eval_command stands in for `bin/<app> rpc`, which
//! needs a release in a container: a hidden Erlang node asks `{node}` for
//! `[node() | nodes()]` and prints it as IO.inspect prints the Elixir list.

mod common;

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{block_on, LocalCloud, TestStack};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// The stack deployed (two tasks of `web`), their node names and addresses,
/// and the stack's cookie. Nodes are named by task (`web-<task id>@<ip>`):
/// the test's nodes share one epmd, which keys nodes by the name before `@`.
fn deployed(test: &str) -> (TestStack, Vec<(String, Ipv4Addr)>, String) {
    let cloud = LocalCloud::load();
    let config = common::database_config_dir(&cloud, "unused", None, None, None);
    let file = config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&file).expect("stack file");
    let edited = text.replacen(
        "node_basename = \"web\"",
        "node_basename = \"web\"\nnode_name = \"task\"",
        1,
    );
    assert_ne!(text, edited, "the stack file names the basename");
    std::fs::write(&file, edited).expect("write stack file");
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
    let (tasks, cookie) = block_on(async {
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
            .set_tasks(Some(arns.task_arns().to_vec()))
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
        (described.tasks().to_vec(), cookie)
    });
    let nodes: Vec<(String, Ipv4Addr)> = tasks
        .iter()
        .map(|task| {
            let name = stackup::release::node_name::task_node_name(
                stackup::config::NodeNameMode::Task,
                "web",
                task,
            )
            .expect("node name");
            let address = stackup::release::node_name::private_ip(task)
                .expect("ip")
                .parse()
                .expect("IPv4");
            (name, address)
        })
        .collect();
    assert_eq!(nodes.len(), 2, "desired_count = 2 runs two tasks");
    (fixture, nodes, cookie)
}

/// One epmd on loopback and the tasks' addresses, for every node of the
/// test; the addresses go on `lo`. Everything stops when dropped.
struct Epmd {
    port: u16,
    process: Child,
    added: Vec<Ipv4Addr>,
}

impl Epmd {
    fn start(addresses: &[Ipv4Addr]) -> Epmd {
        let mut added = Vec::new();
        for address in addresses {
            let output = Command::new("ip")
                .args(["address", "add", &format!("{address}/32"), "dev", "lo"])
                .output()
                .expect("ip runs");
            if output.status.success() {
                added.push(*address);
            } else {
                assert!(
                    String::from_utf8_lossy(&output.stderr).contains("File exists"),
                    "cannot put {address} on lo (root needed): {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        let port = free_port();
        let listen: Vec<String> = std::iter::once("127.0.0.1".to_string())
            .chain(addresses.iter().map(ToString::to_string))
            .collect();
        let process = Command::new("epmd")
            .args(["-port", &port.to_string(), "-address", &listen.join(",")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("epmd starts");
        Epmd {
            port,
            process,
            added,
        }
    }

    fn registered(&self, name: &str) -> bool {
        let names = Command::new("epmd")
            .args(["-port", &self.port.to_string(), "-names"])
            .output()
            .expect("epmd -names");
        let short = name.split('@').next().expect("name");
        String::from_utf8_lossy(&names.stdout).contains(&format!("name {short} "))
    }
}

impl Drop for Epmd {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        for address in &self.added {
            let _ = Command::new("ip")
                .args(["address", "del", &format!("{address}/32"), "dev", "lo"])
                .status();
        }
    }
}

/// A visible Erlang node on `address`, registered with `epmd`; `connect_to`
/// is pinged once it runs. Killed when dropped.
struct ErlangNode(Child);

impl ErlangNode {
    fn start(
        epmd: &Epmd,
        name: &str,
        address: Ipv4Addr,
        cookie: &str,
        connect_to: Option<&str>,
    ) -> ErlangNode {
        let octets = address.octets();
        let mut command = Command::new("erl");
        command
            .args(["-name", name, "-setcookie", cookie, "-start_epmd", "false"])
            .args(["-noshell", "-kernel", "inet_dist_use_interface"])
            .arg(format!(
                "{{{},{},{},{}}}",
                octets[0], octets[1], octets[2], octets[3]
            ));
        if let Some(peer) = connect_to {
            command.args(["-eval", &format!("pong = net_adm:ping('{peer}').")]);
        }
        let process = command
            .env("ERL_EPMD_PORT", epmd.port.to_string())
            .env("HOME", std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("erl starts");
        let started = Instant::now();
        while !epmd.registered(name) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{name} did not register with epmd"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        ErlangNode(process)
    }
}

impl Drop for ErlangNode {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The service's eval_command for this test: `{expr}` is accepted and left
/// aside; a hidden node asks `{node}` over distribution.
fn probe_eval_command(epmd_port: u16, cookie_file: &std::path::Path) -> String {
    format!(
        r#": {{expr}}; ERL_EPMD_PORT={epmd_port} erl -name probe-$$@127.0.0.1 -setcookie "$(cat {cookie})" -start_epmd false -hidden -noshell -kernel inet_dist_use_interface '{{127,0,0,1}}' -eval "N = '{{node}}', case rpc:call(N, erlang, nodes, []) of L when is_list(L) -> io:format(\"~p~n\", [[atom_to_list(X) || X <- [rpc:call(N, erlang, node, []) | L]]]), halt(0); Other -> io:format(\"cannot reach ~s: ~p~n\", [N, Other]), halt(1) end.""#,
        cookie = cookie_file.display()
    )
}

fn set_eval_command(fixture: &TestStack, command: &str) {
    let file = fixture.config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&file).expect("stack file");
    let edited = text.replacen(
        "cookie = \"stack\"",
        &format!("cookie = \"stack\"\neval_command = '''{command}'''"),
        1,
    );
    assert_ne!(text, edited, "the stack file names the service's cookie");
    std::fs::write(&file, edited).expect("write stack file");
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

fn cluster_json(fixture: &TestStack) -> (Option<i32>, serde_json::Value, String) {
    let output = fixture
        .stackup()
        .args(["--output", "json", "cluster", "local"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (output.status.code(), json, stderr)
}

fn node<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|node| node["node"] == name)
        .unwrap_or_else(|| panic!("{name} in {report}"))
}

#[test]
fn cluster_says_whole_split_or_missing_as_the_nodes_answer() {
    let (fixture, nodes, cookie) = deployed("cluster-verdict");
    let [(first, first_address), (second, second_address)] = [nodes[0].clone(), nodes[1].clone()];
    let epmd = Epmd::start(&[first_address, second_address]);
    let cookie_dir = cookie_file(&cookie);
    set_eval_command(
        &fixture,
        &probe_eval_command(epmd.port, &cookie_dir.path().join("cookie")),
    );

    // Two nodes, the second connected to the first: one cluster.
    let first_node = ErlangNode::start(&epmd, &first, first_address, &cookie, None);
    let second_node = ErlangNode::start(&epmd, &second, second_address, &cookie, Some(&first));
    let (code, report, stderr) = cluster_json(&fixture);
    assert_eq!(code, Some(0), "{report}{stderr}");
    assert_eq!(report["whole"], true, "{report}");
    assert_eq!(
        report["nodes"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    assert_eq!(
        node(&report, &first)["connected"],
        serde_json::json!([second])
    );
    assert_eq!(
        node(&report, &second)["connected"],
        serde_json::json!([first])
    );
    assert!(!stderr.contains(&cookie), "the cookie is not printed");

    // The text names every node and the verdict.
    let output = fixture
        .stackup()
        .args(["cluster", "local"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("web: whole (2 nodes, all connected)\n"),
        "{text}"
    );
    assert!(text.contains(&first) && text.contains(&second), "{text}");

    // The second node gone: missing, exit 1.
    drop(second_node);
    let (code, report, stderr) = cluster_json(&fixture);
    assert_eq!(code, Some(1), "{report}{stderr}");
    assert_eq!(report["whole"], false, "{report}");
    assert_eq!(report["services"][0]["verdict"], "missing", "{report}");
    assert_eq!(
        report["services"][0]["missing"],
        serde_json::json!([second]),
        "{report}"
    );
    assert!(node(&report, &second)["error"].is_string(), "{report}");
    assert!(stderr.contains("not whole"), "{stderr}");

    // Back, but not connected to the first: two groups.
    let _second_node = ErlangNode::start(&epmd, &second, second_address, &cookie, None);
    let (code, report, stderr) = cluster_json(&fixture);
    assert_eq!(code, Some(1), "{report}{stderr}");
    assert_eq!(report["services"][0]["verdict"], "split", "{report}");
    let mut groups = vec![vec![first.clone()], vec![second.clone()]];
    groups.sort();
    assert_eq!(report["services"][0]["groups"], serde_json::json!(groups));
    drop(first_node);
}
