//! The secrets audit (ARCHITECTURE.md, "What never prints"): every command, run at `-vv` and again
//! with `RUST_LOG=trace`, against the local cloud; then everything they
//! printed, every registered task definition revision, the CloudFormation
//! templates and outputs, and the rendered plan are searched for the Erlang
//! cookie, the database master and application passwords (read from SSM
//! afterwards) and the application role's SCRAM verifier (read from
//! PostgreSQL): none may appear. The task definition refers to the cookie by
//! `valueFrom` only.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::block_on;
use common::db::DatabaseStack;

const COMMAND_LIMIT: Duration = Duration::from_secs(180);

/// How diagnostics are asked for.
#[derive(Clone, Copy, Debug)]
enum Verbosity {
    /// `-vv` on every command.
    DoubleVerbose,
    /// `RUST_LOG=trace` in the environment: every crate's trace logs,
    /// the AWS SDK's and PostgreSQL client's included.
    TraceEverything,
}

struct Audit {
    /// Dropped with the audit: the database and role it provisioned go too.
    stack: DatabaseStack,
    verbosity: Verbosity,
    /// Every command's stdout and stderr, labelled.
    transcript: Vec<(String, String)>,
}

impl Audit {
    fn new(test: &str, verbosity: Verbosity) -> Audit {
        Audit {
            stack: DatabaseStack::new(test, "s"),
            verbosity,
            transcript: Vec::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command =
            common::stackup_process(self.stack.config.path(), &self.stack.proxy.endpoint);
        match self.verbosity {
            Verbosity::DoubleVerbose => {
                command.arg("-vv");
            }
            Verbosity::TraceEverything => {
                command.env("RUST_LOG", "trace");
            }
        }
        command.args(args);
        command
    }

    /// Run a command to its end; it must succeed. Its output joins the transcript.
    fn run(&mut self, args: &[&str]) -> String {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let (code, stdout, stderr) = wait_exit(&mut child, COMMAND_LIMIT);
        self.record(args, &stdout, &stderr);
        assert_eq!(
            code,
            0,
            "`stackup {}` failed:\n{}",
            args.join(" "),
            tail(&stderr)
        );
        stdout
    }

    fn record(&mut self, args: &[&str], stdout: &str, stderr: &str) {
        self.transcript.push((
            format!("stackup {} (stdout)", args.join(" ")),
            stdout.to_string(),
        ));
        self.transcript.push((
            format!("stackup {} (stderr)", args.join(" ")),
            stderr.to_string(),
        ));
    }

    /// `tunnel`: started, a query made through it with psql, stopped with Ctrl-C.
    fn tunnel(&mut self, app_password: &str) {
        let args = ["--output", "json", "tunnel", "local", "--local-port", "0"];
        let mut child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        // Both pipes are drained from the start: at trace level the tunnel
        // writes more than a pipe holds before its first line on stdout.
        let (lines, stdout) = line_reader(child.stdout.take().expect("stdout"));
        let stderr = drain(child.stderr.take().expect("stderr"));
        let Ok(first) = lines.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the tunnel did not print where it listens within a minute");
        };
        let psql = self.stack.psql_through_tunnel(
            &common::db::tunnel_port(&first),
            app_password,
            "SELECT count(*) FROM accounts",
        );
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        let code = wait_status(&mut child, Duration::from_secs(20));
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        self.record(&args, &stdout, &stderr);
        assert!(
            psql.status.success(),
            "psql through the tunnel: {}",
            String::from_utf8_lossy(&psql.stderr)
        );
        assert_eq!(
            code,
            0,
            "the tunnel ends cleanly on Ctrl-C: {}",
            tail(&stderr)
        );
    }

    fn secret(&self, name: &str) -> String {
        block_on(async {
            aws_sdk_ssm::Client::new(&common::sdk_config(&self.stack.proxy.endpoint).await)
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .unwrap_or_else(|error| panic!("{name}: {error:?}"))
                .parameter()
                .and_then(|parameter| parameter.value().map(str::to_string))
                .expect("value")
        })
    }

    /// Every SecureString under the stack's prefix and the key SSM says
    /// encrypts it (DescribeParameters: names and metadata, no value).
    fn secure_string_keys(&self) -> std::collections::BTreeMap<String, String> {
        block_on(async {
            let ssm =
                aws_sdk_ssm::Client::new(&common::sdk_config(&self.stack.proxy.endpoint).await);
            let mut keys = std::collections::BTreeMap::new();
            let mut token = None;
            loop {
                let page = ssm
                    .describe_parameters()
                    .parameter_filters(
                        aws_sdk_ssm::types::ParameterStringFilter::builder()
                            .key("Path")
                            .option("Recursive")
                            .values("/stackup/demo-local-v1")
                            .build()
                            .expect("filter"),
                    )
                    .set_next_token(token)
                    .send()
                    .await
                    .expect("DescribeParameters");
                for parameter in page.parameters() {
                    if parameter.r#type() == Some(&aws_sdk_ssm::types::ParameterType::SecureString)
                    {
                        keys.insert(
                            parameter.name().unwrap_or_default().to_string(),
                            parameter.key_id().unwrap_or_default().to_string(),
                        );
                    }
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    return keys;
                }
            }
        })
    }

    /// The outputs of a stack, by key.
    fn outputs(&self, stack: &str) -> std::collections::BTreeMap<String, String> {
        block_on(async {
            aws_sdk_cloudformation::Client::new(
                &common::sdk_config(&self.stack.proxy.endpoint).await,
            )
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{stack}: {error:?}"))
            .stacks()[0]
                .outputs()
                .iter()
                .map(|output| {
                    (
                        output.output_key().unwrap_or_default().to_string(),
                        output.output_value().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
    }

    /// Every revision of every task definition family, as registered.
    fn task_definitions(&self) -> Vec<aws_sdk_ecs::types::TaskDefinition> {
        block_on(async {
            let ecs =
                aws_sdk_ecs::Client::new(&common::sdk_config(&self.stack.proxy.endpoint).await);
            let arns = ecs
                .list_task_definitions()
                .send()
                .await
                .expect("task definitions")
                .task_definition_arns()
                .to_vec();
            let mut definitions = Vec::new();
            for arn in arns {
                let described = ecs
                    .describe_task_definition()
                    .task_definition(&arn)
                    .send()
                    .await
                    .expect("task definition");
                definitions.push(described.task_definition().cloned().expect("definition"));
            }
            definitions
        })
    }

    /// The templates CloudFormation holds and the stacks' outputs.
    fn cloudformation_documents(&self) -> Vec<(String, String)> {
        block_on(async {
            let cloudformation = aws_sdk_cloudformation::Client::new(
                &common::sdk_config(&self.stack.proxy.endpoint).await,
            );
            let mut documents = Vec::new();
            for stack in [
                "demo-local-secrets",
                "demo-local-v1-network",
                "demo-local-v1-platform",
            ] {
                let template = cloudformation
                    .get_template()
                    .stack_name(stack)
                    .send()
                    .await
                    .expect("template");
                documents.push((
                    format!("{stack} template"),
                    template.template_body().unwrap_or_default().to_string(),
                ));
                let described = cloudformation
                    .describe_stacks()
                    .stack_name(stack)
                    .send()
                    .await
                    .expect("stack");
                documents.push((
                    format!("{stack} outputs"),
                    format!("{:?}", described.stacks()[0].outputs()),
                ));
            }
            documents
        })
    }

    /// The application role's password verifier, as PostgreSQL stores it.
    fn scram_verifier(&self) -> String {
        self.stack.cloud.psql(
            "postgres",
            &format!(
                "SELECT rolpassword FROM pg_authid WHERE rolname = '{}_app'",
                self.stack.name
            ),
        )
    }

    fn running_task(&self) -> String {
        block_on(async {
            let arns =
                aws_sdk_ecs::Client::new(&common::sdk_config(&self.stack.proxy.endpoint).await)
                    .list_tasks()
                    .cluster("demo-local-v1")
                    .service_name("web")
                    .send()
                    .await
                    .expect("tasks");
            arns.task_arns()
                .first()
                .expect("a running task")
                .rsplit('/')
                .next()
                .expect("id")
                .to_string()
        })
    }
}

/// Read a pipe to its end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Read a pipe on a thread, passing on each line as it comes; the thread
/// returns everything read.
fn line_reader(
    pipe: impl Read + Send + 'static,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    let (sender, receiver) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = sender.send(line);
        }
        all
    });
    (receiver, handle)
}

fn wait_status(child: &mut std::process::Child, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> (i32, String, String) {
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let code = wait_status(child, limit);
    (
        code,
        stdout.join().expect("stdout reader"),
        stderr.join().expect("stderr reader"),
    )
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Where `needle` occurs in the labelled documents.
fn occurrences(documents: &[(String, String)], needle: &str) -> Vec<String> {
    documents
        .iter()
        .filter(|(_, text)| text.contains(needle))
        .map(|(label, text)| {
            let line = text
                .lines()
                .find(|line| line.contains(needle))
                .unwrap_or_default();
            let start = line.find(needle).unwrap_or_default().saturating_sub(120);
            let shown: String = line[start..].chars().take(300).collect();
            format!("{label}: ...{shown}")
        })
        .collect()
}

fn audit_every_command(test: &str, verbosity: Verbosity) {
    let mut audit = Audit::new(test, verbosity);
    audit.run(&["validate", "local"]);
    let plan = audit.run(&["--output", "json", "create-stack", "local", "--dry-run"]);
    let plan: serde_json::Value = serde_json::from_str(&plan).expect("the plan is JSON");
    assert!(
        plan["plan"]["stacks"][1]["parameters"]
            .get("DatabaseMasterPassword")
            .is_none(),
        "the master password passes as no parameter (a dynamic reference reads it)"
    );
    audit.run(&["create-stack", "local", "--yes"]);
    audit.run(&["--output", "json", "create-stack", "local", "--yes"]);
    audit.run(&["update-resources", "local", "--yes"]);
    audit.run(&["update-resources", "local", "--check"]);
    let app_password = audit.secret("/stackup/demo-local-v1/database/app-password");
    audit.tunnel(&app_password);
    audit.run(&[
        "deploy-release",
        "local",
        "--yes",
        "--image",
        "web=ghcr.io/example/demo:1.0.0",
    ]);
    // The second release shows its diff against the running revision.
    let diff = audit.run(&[
        "--output",
        "json",
        "deploy-release",
        "local",
        "--yes",
        "--image",
        "web=ghcr.io/example/demo:1.1.0",
    ]);
    assert!(diff.contains("completed"), "{diff}");
    audit.run(&["rollback", "local", "--yes"]);
    audit.run(&["status", "local"]);
    audit.run(&["--output", "json", "status", "local"]);
    audit.run(&["logs", "local", "--since", "1h"]);
    audit.run(&["--output", "json", "logs", "local", "--since", "1h"]);
    let task = audit.running_task();
    let console = audit.run(&[
        "console",
        "local",
        "--task",
        &task,
        "--command",
        "echo attached to {node}",
    ]);
    assert!(console.contains("attached to web@"), "{console}");

    // The secrets, read after the fact.
    let cookie = audit.secret("/stackup/demo-local-v1/cookie");
    let master_password = audit.secret("/stackup/demo-local-v1/database/master-password");
    assert_eq!(master_password, audit.stack.cloud.master_password());
    // Every SecureString stackup wrote (update-resources' application
    // password, deploy-release's cookie) is encrypted with the application's
    // own key, which create-stack made. The master password here is the local
    // PostgreSQL's, stored by the harness beforehand (common/db.rs);
    // tests/create_stack.rs checks the key of one create-stack generates.
    let key_outputs = audit.outputs("demo-local-secrets");
    assert_eq!(key_outputs["KeyAlias"], "alias/stackup/demo-local");
    assert!(
        key_outputs["KeyArn"].starts_with("arn:aws:kms:us-east-1:"),
        "{key_outputs:?}"
    );
    let mut keys = audit.secure_string_keys();
    assert!(
        keys.remove(common::db::MASTER_PASSWORD_PARAMETER).is_some(),
        "the harness's master password is a SecureString: {keys:?}"
    );
    let expected: std::collections::BTreeMap<String, String> = [
        "/stackup/demo-local-v1/cookie",
        "/stackup/demo-local-v1/database/app-password",
    ]
    .into_iter()
    .map(|name| (name.to_string(), "alias/stackup/demo-local".to_string()))
    .collect();
    assert_eq!(keys, expected);
    let verifier = audit.scram_verifier();
    assert!(verifier.starts_with("SCRAM-SHA-256$"), "{verifier}");
    let secrets = [
        ("the cookie", cookie.as_str()),
        ("the master password", master_password.as_str()),
        ("the application password", app_password.as_str()),
        ("the application role's SCRAM verifier", verifier.as_str()),
    ];
    for (what, value) in secrets {
        assert!(value.len() >= 32, "{what} is long: {}", value.len());
    }

    let definitions = audit.task_definitions();
    assert_eq!(definitions.len(), 2, "two revisions were registered");
    let cookie_arn = format!(
        "arn:aws:ssm:us-east-1:{}:parameter/stackup/demo-local-v1/cookie",
        audit.stack.proxy.account
    );
    for definition in &definitions {
        let container = &definition.container_definitions()[0];
        let reference = container
            .secrets()
            .iter()
            .find(|secret| secret.name() == "RELEASE_COOKIE")
            .expect("RELEASE_COOKIE is a secret of the container");
        assert_eq!(reference.value_from(), cookie_arn);
        assert!(
            container
                .environment()
                .iter()
                .all(|variable| variable.name() != Some("RELEASE_COOKIE")),
            "the cookie is not also a plain variable"
        );
    }

    let cloudformation = audit.cloudformation_documents();
    audit.run(&["delete-stack", "local", "--yes"]);

    let mut documents = audit.transcript.clone();
    for definition in &definitions {
        documents.push((
            format!(
                "task definition {}",
                definition.task_definition_arn().unwrap_or_default()
            ),
            format!("{definition:?}"),
        ));
    }
    documents.extend(cloudformation);
    let mut leaks = Vec::new();
    for (what, value) in secrets {
        for place in occurrences(&documents, value) {
            leaks.push(format!("{what} in {place}"));
        }
    }
    // However a verifier is spelt, its prefix gives it away.
    for place in occurrences(&documents, "SCRAM-SHA-256$") {
        leaks.push(format!("a SCRAM verifier in {place}"));
    }
    assert!(
        leaks.is_empty(),
        "{verbosity:?}: {} leak(s):\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    // The audit looked at a real amount of diagnostics.
    let stderr_bytes: usize = audit
        .transcript
        .iter()
        .filter(|(label, _)| label.ends_with("(stderr)"))
        .map(|(_, text)| text.len())
        .sum();
    assert!(
        stderr_bytes > 100_000,
        "{verbosity:?}: only {stderr_bytes} bytes of diagnostics"
    );
}

#[test]
fn no_secret_is_printed_at_double_verbose_or_registered_in_a_task_definition() {
    audit_every_command("secrets-vv", Verbosity::DoubleVerbose);
}

#[test]
fn no_secret_is_printed_with_every_crate_at_trace() {
    audit_every_command("secrets-trace", Verbosity::TraceEverything);
}
