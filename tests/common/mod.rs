//! The integration-test harness: the real binary against the local cloud.
//!
//! `scripts/local-cloud up` must have run (scripts/test does it); its state in
//! `.local-cloud/state.json` says where moto, PostgreSQL and sshd listen.
//!
//! Isolation: each test talks to moto through its own [`AwsProxy`], which adds
//! the `x-moto-account-id` header with an account of its own, so tests run in
//! parallel without seeing each other's stacks, parameters or services. The
//! proxy also counts requests, which is how tests prove that bad input makes
//! no AWS call.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

mod aws_operation;
pub mod db;
pub mod faults;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

use aws_operation::{operation_of, signed_service, signing_key};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the local cloud runs, from `.local-cloud/state.json`.
pub struct LocalCloud {
    pub state: Value,
}

impl LocalCloud {
    pub fn load() -> LocalCloud {
        // STACKUP_LOCAL_CLOUD_STATE: another local cloud's state.json (a second
        // one started from another folder, whose moto, engine and registry these
        // tests then use).
        let path = std::env::var_os("STACKUP_LOCAL_CLOUD_STATE")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".local-cloud/state.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "the local cloud is not running ({}: {error}); start it with `scripts/local-cloud up`",
                path.display()
            )
        });
        let mut state: Value = serde_json::from_str(&text).expect("state.json is JSON");
        // A second moto launcher of one's own (say, to try a change to
        // scripts/moto_server.py while others use the shared one).
        if let Ok(endpoint) = std::env::var("STACKUP_TEST_MOTO_ENDPOINT") {
            state["moto"]["endpoint"] = Value::String(endpoint);
        }
        let endpoint = state["moto"]["endpoint"]
            .as_str()
            .expect("moto endpoint")
            .to_string();
        let probe = std::net::TcpStream::connect(endpoint.trim_start_matches("http://"));
        assert!(
            probe.is_ok(),
            "moto is not answering at {endpoint}; start the local cloud with `scripts/local-cloud up`"
        );
        LocalCloud { state }
    }

    pub fn moto_endpoint(&self) -> String {
        self.state["moto"]["endpoint"]
            .as_str()
            .expect("moto endpoint")
            .to_string()
    }
}

/// A twelve-digit moto account id of a test's own: derived from its name and
/// this run, so that a rerun against the same local cloud starts clean.
pub fn account_for(test_name: &str) -> String {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        format!("{}-{nanos}", std::process::id())
    });
    let mut hash: u64 = 1469598103934665603;
    for byte in test_name.bytes().chain(run.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(1099511628211);
    }
    format!("{:012}", hash % 1_000_000_000_000)
}

/// One recorded request: the AWS operation (from `X-Amz-Target` or `Action=`)
/// and the service it was signed for (the SigV4 credential scope: `ecs`,
/// `monitoring` for CloudWatch, ...).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub operation: String,
    pub service: String,
    /// The access key id it was signed with.
    pub key: String,
}

/// A proxy in front of moto for one test (see the module documentation).
pub struct AwsProxy {
    pub endpoint: String,
    pub account: String,
    count: Arc<AtomicUsize>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AwsProxy {
    /// Forward to `upstream` (moto) with the account header of `account`.
    pub fn start(upstream: &str, account: &str) -> AwsProxy {
        Self::start_inner(Some(upstream.to_string()), account)
    }

    /// A listener that answers every request with 500 and counts it: for
    /// proving that a command makes no AWS call at all.
    pub fn start_counting_only() -> AwsProxy {
        Self::start_inner(None, "000000000000")
    }

    fn start_inner(upstream: Option<String>, account: &str) -> AwsProxy {
        let count = Arc::new(AtomicUsize::new(0));
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address_receiver) = std::sync::mpsc::channel::<SocketAddr>();
        let (shutdown, shutdown_receiver) = tokio::sync::oneshot::channel::<()>();
        let thread_count = count.clone();
        let thread_recorded = recorded.clone();
        let account_header = account.to_string();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
                address_sender.send(listener.local_addr().expect("address")).expect("send address");
                let client: Client<_, Full<Bytes>> =
                    Client::builder(TokioExecutor::new()).build_http();
                let mut shutdown_receiver = shutdown_receiver;
                loop {
                    tokio::select! {
                        _ = &mut shutdown_receiver => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let client = client.clone();
                            let upstream = upstream.clone();
                            let count = thread_count.clone();
                            let recorded = thread_recorded.clone();
                            let account = account_header.clone();
                            tokio::spawn(async move {
                                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                                    let client = client.clone();
                                    let upstream = upstream.clone();
                                    let count = count.clone();
                                    let recorded = recorded.clone();
                                    let account = account.clone();
                                    async move {
                                        forward(request, client, upstream, count, recorded, account).await
                                    }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        let address = address_receiver.recv().expect("proxy address");
        AwsProxy {
            endpoint: format!("http://{address}"),
            account: account.to_string(),
            count,
            recorded,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Requests seen so far.
    pub fn request_count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The IAM actions of the calls seen so far, in order: `ecs:UpdateService`
    /// (CloudWatch signs as `monitoring`; its actions are `cloudwatch:`).
    pub fn actions(&self) -> Vec<String> {
        self.recorded
            .lock()
            .expect("recorded")
            .iter()
            .map(|recorded| {
                let prefix = match recorded.service.as_str() {
                    "monitoring" => "cloudwatch",
                    other => other,
                };
                format!("{prefix}:{}", recorded.operation)
            })
            .collect()
    }

    /// The operations seen so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.recorded
            .lock()
            .expect("recorded")
            .iter()
            .map(|recorded| recorded.operation.clone())
            .collect()
    }

    /// The access key ids the calls so far were signed with, each once.
    pub fn signing_keys(&self) -> std::collections::BTreeSet<String> {
        self.recorded
            .lock()
            .expect("recorded")
            .iter()
            .map(|recorded| recorded.key.clone())
            .collect()
    }
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type ProxyClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn forward(
    request: Request<Incoming>,
    client: ProxyClient,
    upstream: Option<String>,
    count: Arc<AtomicUsize>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    account: String,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    count.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let operation = operation_of(&parts.method, &parts.uri, &parts.headers, &body);
    let service = signed_service(&parts.headers);
    let key = signing_key(&parts.headers);
    recorded.lock().expect("recorded").push(Recorded {
        operation,
        service,
        key,
    });
    let Some(upstream) = upstream else {
        return Ok(Response::builder()
            .status(500)
            .body(Full::new(Bytes::from_static(
                b"counting proxy: no upstream",
            )))
            .expect("response"));
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|path| path.as_str())
        .unwrap_or("/");
    let uri: hyper::Uri = format!("{upstream}{path}").parse().expect("upstream uri");
    let mut builder = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    builder = builder.header("x-moto-account-id", account);
    let upstream_request = builder.body(Full::new(body)).expect("request");
    match client.request(upstream_request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(error) => Ok(Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(format!("proxy: {error}"))))
            .expect("response")),
    }
}

/// A stack of a test's own: a config dir, and a moto account of its own
/// behind its own proxy. Nothing is created until the test runs stackup.
pub struct TestStack {
    pub proxy: AwsProxy,
    pub config: tempfile::TempDir,
}

impl TestStack {
    /// The stack in `config`, in the account of `test` (see [`account_for`]).
    pub fn new(test: &str, config: tempfile::TempDir) -> TestStack {
        TestStack {
            proxy: AwsProxy::start(&LocalCloud::load().moto_endpoint(), &account_for(test)),
            config,
        }
    }

    /// stackup for this stack, through its account's proxy.
    pub fn stackup(&self) -> assert_cmd::Command {
        stackup(self.config.path(), &self.proxy.endpoint)
    }

    /// `create-stack local --yes`, which must succeed, then the application's
    /// database password as `update-resources` leaves it (the shipped task
    /// template's secret refers to it: without it, deploy-release refuses).
    pub fn create_stack(&self) {
        self.stackup()
            .args(["create-stack", "local", "--yes"])
            .assert()
            .success();
        put_app_password(&self.proxy.endpoint);
    }

    /// An SDK configuration for reading this account back.
    pub fn sdk(&self) -> aws_config::SdkConfig {
        block_on(sdk_config(&self.proxy.endpoint))
    }
}

/// The SSM parameter `update-resources` writes the application role's
/// password to, which the shipped task template gives its tasks as a secret.
pub const APP_PASSWORD_PARAMETER: &str = "/stackup/demo-local-v1/database/app-password";

/// Put [`APP_PASSWORD_PARAMETER`] (a made-up value), as `update-resources`
/// would, for tests that deploy without a database.
pub fn put_app_password(endpoint: &str) {
    block_on(async {
        aws_sdk_ssm::Client::new(&sdk_config(endpoint).await)
            .put_parameter()
            .name(APP_PASSWORD_PARAMETER)
            .value("not-a-real-password")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .expect("put the application password parameter")
    });
}

/// The stackup binary with a clean AWS environment pointing at `endpoint`.
pub fn stackup(config_dir: &Path, endpoint: &str) -> assert_cmd::Command {
    assert_cmd::Command::from_std(stackup_process(config_dir, endpoint))
}

/// [`stackup`] as a plain process, for a test that runs it in the background
/// (reads its output as it comes, signals it): the same clean environment.
pub fn stackup_process(config_dir: &Path, endpoint: &str) -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("stackup"));
    command
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("RUST_LOG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        // The made-up images the tests deploy (ghcr.io/example/demo:1.0.0)
        // exist nowhere: tests of the look-up remove this.
        .env("STACKUP_SKIP_IMAGE_CHECK", "true")
        .arg("--config-dir")
        .arg(config_dir)
        .arg("--endpoint-url")
        .arg(endpoint);
    command
}

/// A run of stackup that must succeed.
pub trait MustSucceed {
    /// Run to the end; it must succeed (its stderr says why not).
    fn successful_output(&mut self) -> std::process::Output;
}

impl MustSucceed for assert_cmd::Command {
    fn successful_output(&mut self) -> std::process::Output {
        let output = self.output().expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// An AWS SDK configuration for the test itself, through a proxy.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// The `local` stack's `web` service, as ECS describes it now.
pub async fn web_service(config: &aws_config::SdkConfig) -> aws_sdk_ecs::types::Service {
    aws_sdk_ecs::Client::new(config)
        .describe_services()
        .cluster("demo-local-v1")
        .services("web")
        .send()
        .await
        .expect("service")
        .services()[0]
        .clone()
}

/// The status of the CloudFormation stack `name` (`CREATE_COMPLETE`, ...), or
/// None when CloudFormation does not describe it.
pub async fn stack_status(config: &aws_config::SdkConfig, name: &str) -> Option<String> {
    aws_sdk_cloudformation::Client::new(config)
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .ok()
        .and_then(|output| {
            output.stacks().first().and_then(|stack| {
                stack
                    .stack_status()
                    .map(|status| status.as_str().to_string())
            })
        })
}

/// An UpdateStack of `stack` outside stackup (its template, `changed`
/// parameters set, the others kept) that CloudFormation accepts and then
/// rolls back: the reason its resource `failing` gives (UPDATE_FAILED).
pub async fn update_rolled_back(
    config: &aws_config::SdkConfig,
    stack: &str,
    changed: &[(&str, &str)],
    failing: &str,
) -> String {
    use aws_sdk_cloudformation::types::Parameter;
    let cloudformation = aws_sdk_cloudformation::Client::new(config);
    let described = cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .expect("describe");
    let parameters: Vec<Parameter> = described.stacks()[0]
        .parameters()
        .iter()
        .map(|parameter| {
            let key = parameter.parameter_key().unwrap_or_default();
            let builder = Parameter::builder().parameter_key(key);
            match changed.iter().find(|(name, _)| *name == key) {
                Some((_, value)) => builder.parameter_value(*value).build(),
                None => builder.use_previous_value(true).build(),
            }
        })
        .collect();
    cloudformation
        .update_stack()
        .stack_name(stack)
        .use_previous_template(true)
        .set_parameters(Some(parameters))
        .send()
        .await
        .expect("UpdateStack is accepted; the update itself fails");
    assert_eq!(
        stack_status(config, stack).await.as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );
    let events = cloudformation
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .expect("events");
    events
        .stack_events()
        .iter()
        .find(|event| {
            event.logical_resource_id() == Some(failing)
                && event.resource_status().map(|status| status.as_str()) == Some("UPDATE_FAILED")
        })
        .and_then(|event| event.resource_status_reason())
        .unwrap_or_default()
        .to_string()
}

/// Whether the CloudFormation stack `name` is gone: not described, or only as deleted.
pub async fn stack_is_gone(config: &aws_config::SdkConfig, name: &str) -> bool {
    matches!(
        stack_status(config, name).await.as_deref(),
        None | Some("DELETE_COMPLETE")
    )
}

/// A config dir in a temporary folder: the repository's `local` stack file with
/// `edits` applied (pairs of text to replace), its task definitions and
/// migrations, and no `[local]` section (tests pass --endpoint-url).
pub fn stack_config_dir(edits: &[(&str, &str)]) -> tempfile::TempDir {
    let root = repo_root();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut text = std::fs::read_to_string(root.join("stacks/local.toml")).expect("local.toml");
    if let Some(start) = text.find("\n[local]") {
        text.truncate(start + 1);
    }
    text = text
        .lines()
        .filter(|line| {
            !["ca_file", "sslmode", "identity"]
                .iter()
                .any(|key| line.starts_with(key))
        })
        .collect::<Vec<_>>()
        .join("\n");
    for (from, to) in edits {
        assert!(text.contains(from), "stack file edit: {from:?} not found");
        text = text.replacen(from, to, 1);
    }
    std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
    std::fs::write(dir.path().join("stacks/local.toml"), text).expect("write stack file");
    copy_tree(&root.join("task-defs"), &dir.path().join("task-defs"));
    copy_tree(&root.join("scripts/db"), &dir.path().join("scripts/db"));
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Whether an AWS operation name only reads.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "List", "Get"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

impl LocalCloud {
    pub fn pg_port(&self) -> u16 {
        self.state["postgres"]["port"].as_u64().expect("pg port") as u16
    }

    pub fn ssh_port(&self) -> u16 {
        self.state["ssh"]["port"].as_u64().expect("ssh port") as u16
    }

    pub fn ssh_user(&self) -> String {
        self.state["ssh"]["user"]
            .as_str()
            .expect("ssh user")
            .to_string()
    }

    pub fn path(&self, section: &str, key: &str) -> PathBuf {
        PathBuf::from(
            self.state[section][key]
                .as_str()
                .unwrap_or_else(|| panic!("{section}.{key}")),
        )
    }

    pub fn master_password(&self) -> String {
        std::fs::read_to_string(self.path("postgres", "master_password_file"))
            .expect("master password file")
            .trim()
            .to_string()
    }

    /// Run SQL with the real psql client as the master user; rows as `a|b` lines.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = std::process::Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={} user=postgres dbname={database} sslmode=verify-full sslrootcert={}",
                self.pg_port(),
                self.path("postgres", "ca_file").display()
            ))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", self.master_password())
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

/// A config dir whose stack provisions its own database (`database`, with role
/// `<database>_app`) on the local cloud: the local stack file with absolute
/// paths to the local cloud's key, known_hosts and CA, and a `[local]` section
/// with the given bastion and database addresses (default: the local cloud's).
pub fn database_config_dir(
    cloud: &LocalCloud,
    database: &str,
    bastion: Option<String>,
    database_address: Option<String>,
    known_hosts: Option<&Path>,
) -> tempfile::TempDir {
    let dir = stack_config_dir(&[("name = \"demo\"", &format!("name = \"{database}\""))]);
    let stack_file = dir.path().join("stacks/local.toml");
    let mut text = std::fs::read_to_string(&stack_file).expect("stack file");
    let known_hosts = known_hosts
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cloud.path("ssh", "known_hosts"));
    text = text.replace(
        "[database]\n",
        &format!(
            "[database]\nsslmode = \"verify-full\"\nca_file = \"{}\"\n",
            cloud.path("postgres", "ca_file").display()
        ),
    );
    text = text.replace(
        "[ssh]\n",
        &format!(
            "[ssh]\nidentity = \"{}\"\n",
            cloud.path("ssh", "identity").display()
        ),
    );
    text = text.replace(
        "known_hosts = \".local-cloud/ssh/known_hosts\"",
        &format!("known_hosts = \"{}\"", known_hosts.display()),
    );
    text.push_str(&format!(
        "\n[local]\nbastion = \"{}\"\ndatabase = \"{}\"\nhosts = \"127.0.0.1:{}\"\nssh_user = \"{}\"\n",
        bastion.unwrap_or_else(|| format!("127.0.0.1:{}", cloud.ssh_port())),
        database_address.unwrap_or_else(|| format!("127.0.0.1:{}", cloud.pg_port())),
        cloud.ssh_port(),
        cloud.ssh_user()
    ));
    std::fs::write(&stack_file, text).expect("write stack file");
    dir
}

/// A runtime of one worker for a test's own server, and a listener on a free
/// loopback port for it. The server's tasks stop when the runtime is dropped.
pub fn loopback_server() -> (tokio::runtime::Runtime, tokio::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    (runtime, listener)
}

/// A loopback TCP proxy whose open connections can be cut at once, to kill a
/// link mid-operation; new connections keep working. Stops when dropped.
pub struct CuttableProxy {
    pub address: String,
    cut: tokio::sync::watch::Sender<u64>,
    _runtime: tokio::runtime::Runtime,
}

impl CuttableProxy {
    pub fn start(target: String) -> CuttableProxy {
        let (runtime, listener) = loopback_server();
        let address = listener.local_addr().expect("address").to_string();
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        runtime.spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let mut cuts = cuts.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let generation = *cuts.borrow_and_update();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.wait_for(|current| *current != generation) => {}
                    }
                });
            }
        });
        CuttableProxy {
            address,
            cut,
            _runtime: runtime,
        }
    }

    /// Close every connection open now.
    pub fn cut(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }
}

/// A "PostgreSQL" that answers the TLS request with 'N' (no TLS) and records
/// every byte it receives afterwards. Stops when dropped.
pub struct NoTlsServer {
    pub address: String,
    pub received_after_refusal: Arc<Mutex<Vec<u8>>>,
    _runtime: tokio::runtime::Runtime,
}

impl NoTlsServer {
    pub fn start() -> NoTlsServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (runtime, listener) = loopback_server();
        let address = listener.local_addr().expect("address").to_string();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        runtime.spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 8];
                    if stream.read_exact(&mut request).await.is_err() {
                        return;
                    }
                    let _ = stream.write_all(b"N").await;
                    let mut rest = Vec::new();
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(2),
                        stream.read_to_end(&mut rest),
                    )
                    .await;
                    sink.lock().expect("sink").extend(rest);
                });
            }
        });
        NoTlsServer {
            address,
            received_after_refusal: received,
            _runtime: runtime,
        }
    }
}

/// POST JSON to the local cloud's moto control API through a proxy (so the
/// request carries the proxy's account).
pub fn moto_control(proxy: &AwsProxy, path: &str, body: &serde_json::Value) {
    let output = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
        ])
        .arg(body.to_string())
        .arg(format!("{}{path}", proxy.endpoint))
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "POST {path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Run a future to completion from a synchronous test.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}
