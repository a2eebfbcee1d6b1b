//! The live-AWS suite (README, "Live AWS tests"): the whole life of a throwaway stack on a
//! real AWS account, through the real binary, with the real credential chain.
//!
//! Compiled only with `--features live-aws`, and even then it does nothing
//! unless `STACKUP_LIVE_AWS=1`: each test prints why it skipped and returns.
//! Never run in CI (scripts/test only compiles it). See the README section
//! "Live AWS tests" for the variables, what it creates and what it costs.
//!
//! ```sh
//! STACKUP_LIVE_AWS=1 STACKUP_LIVE_REGION=eu-west-1 STACKUP_LIVE_MY_CIDR=203.0.113.7/32 \
//!   cargo test --features live-aws --test live_aws -- --nocapture
//! ```
//!
//! The stack is `stackuplive-t<unix time>-v1` (network and platform), so two
//! people, or two runs, never collide. [`Live`]'s `Drop` always deletes it, also
//! after a failed assertion (a panic unwinds through it), and then tidies what
//! CloudFormation leaves behind: the database's final snapshot and log groups,
//! the SSM parameters under `/stackup/<stack id>/`, the task definitions and
//! the throwaway EC2 key pair. What it could not delete it prints, loudly, with
//! the commands to finish by hand. A killed test process (SIGKILL, a closed
//! terminal) runs no `Drop`: the config dir it printed at the start is kept, and
//! `stackup --config-dir <dir> delete-stack live --yes` deletes the stack.

#![cfg(feature = "live-aws")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The `<STACK>` argument: the stack file is `stacks/live.toml` in the temp dir.
const STACK: &str = "live";
const APP: &str = "stackuplive";
/// Small public images that serve HTTP on port 80 and have busybox `wget` for
/// the container health check. Override with STACKUP_LIVE_IMAGE / _IMAGE_2.
const DEFAULT_IMAGE: &str = "public.ecr.aws/nginx/nginx:stable-alpine";
const DEFAULT_SECOND_IMAGE: &str = "public.ecr.aws/nginx/nginx:mainline-alpine";

/// create-stack has no --timeout: the process is bounded instead. A network
/// stack with a NAT gateway takes ~5 min, a platform stack with RDS 10-20 min.
const CREATE_LIMIT: Duration = Duration::from_secs(50 * 60);
/// Deleting RDS (with its final snapshot) and a NAT gateway: ~10-20 min.
const DELETE_LIMIT: Duration = Duration::from_secs(50 * 60);
/// deploy-release and rollback wait this long for a rollout (--timeout)...
const ROLLOUT_TIMEOUT: &str = "20m";
/// ...and the process is given this long in all.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(25 * 60);
/// Commands that only read, or do little.
const QUICK_LIMIT: Duration = Duration::from_secs(5 * 60);
/// After the bound, SIGINT; after this much more, SIGKILL.
const INTERRUPT_GRACE: Duration = Duration::from_secs(120);

/// The task definition: nginx needs no entry point script (it is not an Erlang
/// release), listens on 80, and keeps the cookie only as an SSM reference.
const TASK_TEMPLATE: &str = r#"{
  "family": "{{family}}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["EC2"],
  "executionRoleArn": "{{stack.TaskExecutionRoleArn}}",
  "taskRoleArn": "{{stack.TaskRoleArn}}",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "{{image.web}}",
      "essential": true,
      "memoryReservation": 64,
      "memory": 256,
      "portMappings": [{ "containerPort": "{{service.port}}", "protocol": "tcp" }],
      "environment": [
        { "name": "NODE_BASENAME", "value": "{{service.node_basename}}" }
      ],
      "secrets": [
        { "name": "RELEASE_COOKIE", "valueFrom": "{{cookie.arn}}" }
      ],
      "healthCheck": {
        "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:{{service.port}}/ || exit 1"],
        "interval": 15,
        "timeout": 5,
        "retries": 3,
        "startPeriod": 30
      },
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": "{{stack.LogGroupName}}",
          "awslogs-region": "{{region}}",
          "awslogs-stream-prefix": "{{service.name}}"
        }
      }
    }
  ]
}
"#;

/// The service: one task on one t3.micro host. awsvpc gives each task an ENI
/// and a t3.micro has room for one besides its own, so a rollout stops the old
/// task before starting the new one (0% / 100%); with one task, 50% / 150%
/// would round to 1 / 1 and never move.
const SERVICE_TEMPLATE: &str = r#"{
  "cluster": "{{stack.ClusterName}}",
  "serviceName": "{{service.name}}",
  "taskDefinition": "{{task_definition}}",
  "desiredCount": "{{service.desired_count}}",
  "launchType": "EC2",
  "loadBalancers": [
    { "targetGroupArn": "{{stack.TargetGroupArn}}", "containerName": "web", "containerPort": "{{service.port}}" }
  ],
  "networkConfiguration": {
    "awsvpcConfiguration": {
      "subnets": "{{stack.PrivateSubnetIds}}",
      "securityGroups": ["{{stack.AppSecurityGroup}}"],
      "assignPublicIp": "DISABLED"
    }
  },
  "healthCheckGracePeriodSeconds": 60,
  "deploymentConfiguration": {
    "maximumPercent": 100,
    "minimumHealthyPercent": 0,
    "deploymentCircuitBreaker": { "enable": true, "rollback": true }
  },
  "placementStrategy": [
    { "type": "spread", "field": "attribute:ecs.availability-zone" }
  ]
}
"#;

// ---------------------------------------------------------------------------
// Settings

/// What the environment says. `None`: the suite is off (and said so).
struct Settings {
    region: String,
    my_cidr: String,
    /// A private key file: its public half becomes a throwaway EC2 key pair
    /// for the bastion and the ECS host, and the SSH steps run.
    ssh_identity: Option<PathBuf>,
    /// The RDS CA bundle: with it the database is verified (verify-full).
    rds_ca: Option<PathBuf>,
    image: String,
    second_image: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

fn settings(test: &str) -> Option<Settings> {
    if var("STACKUP_LIVE_AWS").as_deref() != Some("1") {
        eprintln!(
            "{test}: skipped: the live-AWS suite creates real, billed resources and runs only with \
             STACKUP_LIVE_AWS=1 (plus STACKUP_LIVE_REGION and STACKUP_LIVE_MY_CIDR); see the README, \"Live AWS tests\""
        );
        return None;
    }
    let region = var("STACKUP_LIVE_REGION").unwrap_or_else(|| {
        panic!(
            "STACKUP_LIVE_REGION is not set: the live-AWS suite needs the region to create its stack in, \
             for example STACKUP_LIVE_REGION=eu-west-1"
        )
    });
    let my_cidr = var("STACKUP_LIVE_MY_CIDR").unwrap_or_else(|| {
        panic!(
            "STACKUP_LIVE_MY_CIDR is not set: the bastion's SSH ingress must be your own address, \
             for example STACKUP_LIVE_MY_CIDR=203.0.113.7/32 (curl -s https://checkip.amazonaws.com)"
        )
    });
    match my_cidr.parse::<ipnet::Ipv4Net>() {
        Ok(cidr) if cidr.prefix_len() >= 8 => {}
        _ => panic!(
            "STACKUP_LIVE_MY_CIDR={my_cidr:?} is not an IPv4 CIDR of /8 or narrower: give your address, such as 203.0.113.7/32"
        ),
    }
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        panic!(
            "AWS_ENDPOINT_URL is set: the live-AWS suite talks to real AWS only; unset it (the local cloud has its own tests)"
        );
    }
    let existing_file = |name: &str| {
        var(name).map(|value| {
            let path = PathBuf::from(&value);
            let path = match path.strip_prefix("~") {
                Ok(rest) => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(rest),
                Err(_) => path,
            };
            assert!(path.is_file(), "{name}={value}: no such file");
            std::path::absolute(&path).unwrap_or(path)
        })
    };
    Some(Settings {
        region,
        my_cidr,
        ssh_identity: existing_file("STACKUP_LIVE_SSH_IDENTITY"),
        rds_ca: existing_file("STACKUP_LIVE_RDS_CA"),
        image: var("STACKUP_LIVE_IMAGE").unwrap_or_else(|| DEFAULT_IMAGE.to_string()),
        second_image: var("STACKUP_LIVE_IMAGE_2")
            .unwrap_or_else(|| DEFAULT_SECOND_IMAGE.to_string()),
    })
}

// ---------------------------------------------------------------------------
// Running the binary, bounded

/// One finished run of stackup.
struct Run {
    step: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

/// The last lines of a text, for failure messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(80)..].join("\n")
}

impl Run {
    fn expect_code(&self, code: i32) -> &Run {
        assert!(
            !self.timed_out,
            "{}: did not finish within its bound and was interrupted\n--- stderr (end)\n{}",
            self.step,
            tail(&self.stderr)
        );
        assert_eq!(
            self.code,
            Some(code),
            "{}: exit code\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
            self.step,
            tail(&self.stdout),
            tail(&self.stderr)
        );
        self
    }

    fn succeeded(&self) -> &Run {
        self.expect_code(0)
    }

    /// stdout as one JSON document (`--output json`).
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| {
            panic!(
                "{}: stdout is not one JSON document ({error})\n{}",
                self.step,
                tail(&self.stdout)
            )
        })
    }
}

fn interrupt(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: sending a signal to our own child process by its id.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    }
}

/// Run to its end, echoing stderr (progress) as it comes; after `limit`, SIGINT
/// (stackup then says what state it left and exits 130), and SIGKILL after
/// [`INTERRUPT_GRACE`] more.
fn run_bounded(step: &str, mut command: Command, limit: Duration) -> Run {
    let started = Instant::now();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("{step}: cannot start stackup: {error}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = BufReader::new(stdout).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("   | {line}");
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut timed_out = false;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) => {}
            Err(error) => {
                eprintln!("{step}: waiting for stackup failed: {error}");
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
        let elapsed = started.elapsed();
        if !timed_out && elapsed > limit {
            eprintln!("{step}: still running after {limit:?}: interrupting it (SIGINT)");
            timed_out = true;
            interrupt(&child);
        } else if timed_out && elapsed > limit + INTERRUPT_GRACE {
            eprintln!("{step}: did not stop after SIGINT: killing it");
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let run = Run {
        step: step.to_string(),
        code,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
        timed_out,
    };
    eprintln!(
        "== {step}: exit {:?} after {:.0?}",
        run.code,
        started.elapsed()
    );
    run
}

// ---------------------------------------------------------------------------
// The live stack and its guard

/// One run's stack. Dropping it deletes everything the run created.
struct Live {
    settings: Settings,
    /// `t<unix time>`: unique per run.
    environment: String,
    /// `stackuplive-t<unix time>-v1`.
    stack_id: String,
    config: Option<tempfile::TempDir>,
    config_path: PathBuf,
    runtime: tokio::runtime::Runtime,
    sdk: aws_config::SdkConfig,
    account: String,
    /// The EC2 key pair imported from STACKUP_LIVE_SSH_IDENTITY's public half.
    key_pair: Option<String>,
    /// The RDS instance, once known: its final snapshot and log groups outlive the stack.
    db_instance: Mutex<Option<String>>,
    /// Everything stackup printed, to prove that no secret is in it.
    transcript: Mutex<String>,
}

impl Live {
    fn new(settings: Settings) -> Live {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let environment = format!("t{now}");
        let stack_id = format!("{APP}-{environment}-v1");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let region = settings.region.clone();
        let sdk = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region))
                .load(),
        );
        let caller = runtime
            .block_on(aws_sdk_sts::Client::new(&sdk).get_caller_identity().send())
            .unwrap_or_else(|error| {
                panic!(
                    "no usable AWS credentials ({}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or log in with `aws sso login`",
                    aws_sdk_sts::error::DisplayErrorContext(&error)
                )
            });
        let account = caller.account().unwrap_or_default().to_string();
        let config = tempfile::Builder::new()
            .prefix("stackup-live-")
            .tempdir()
            .expect("temp dir");
        let config_path = config.path().to_path_buf();
        eprintln!(
            "live-AWS run: stack {stack_id} in {} of account {account} as {}\n  config dir: {}\n  \
             if this process is killed, delete the stack with: stackup --config-dir {} --region {} delete-stack {STACK} --yes",
            settings.region,
            caller.arn().unwrap_or("?"),
            config_path.display(),
            config_path.display(),
            settings.region,
        );
        let mut live = Live {
            settings,
            environment,
            stack_id,
            config: Some(config),
            config_path,
            runtime,
            sdk,
            account,
            key_pair: None,
            db_instance: Mutex::new(None),
            transcript: Mutex::new(String::new()),
        };
        // From here on, Drop cleans up whatever exists.
        if let Some(identity) = live.settings.ssh_identity.clone() {
            live.key_pair = Some(live.import_key_pair(&identity));
        }
        write_config(
            &live.config_path,
            &live.settings,
            &live.environment,
            live.key_pair.as_deref(),
        );
        live
    }

    fn ssh(&self) -> bool {
        self.key_pair.is_some()
    }

    fn network_stack(&self) -> String {
        format!("{}-network", self.stack_id)
    }

    fn platform_stack(&self) -> String {
        format!("{}-platform", self.stack_id)
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The public half of the identity as a throwaway EC2 key pair: the
    /// bastion's and the ECS host's `ec2-user` accept it.
    fn import_key_pair(&self, identity: &Path) -> String {
        let mut public_file = identity.as_os_str().to_owned();
        public_file.push(".pub");
        let public = match std::fs::read_to_string(&public_file) {
            Ok(text) => text.trim().to_string(),
            Err(_) => russh::keys::load_secret_key(identity, None)
                .unwrap_or_else(|error| {
                    panic!(
                        "STACKUP_LIVE_SSH_IDENTITY={}: cannot read the key ({error}); give an unencrypted key, or put its .pub beside it",
                        identity.display()
                    )
                })
                .public_key()
                .to_openssh()
                .expect("OpenSSH public key"),
        };
        let name = format!("{}-{}", APP, self.environment);
        self.block_on(
            aws_sdk_ec2::Client::new(&self.sdk)
                .import_key_pair()
                .key_name(&name)
                .public_key_material(aws_sdk_ec2::primitives::Blob::new(public.into_bytes()))
                .send(),
        )
        .unwrap_or_else(|error| {
            panic!(
                "importing the SSH key as EC2 key pair {name}: {}",
                aws_sdk_ec2::error::DisplayErrorContext(&error)
            )
        });
        eprintln!("imported EC2 key pair {name} (deleted at the end)");
        name
    }

    /// stackup with the real credential chain, this run's config dir and region.
    fn stackup(&self, step: &str, args: &[&str], limit: Duration) -> Run {
        eprintln!("\n== {step}: stackup {}", args.join(" "));
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackup"));
        command
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .arg("--config-dir")
            .arg(&self.config_path)
            .arg("--region")
            .arg(&self.settings.region)
            .arg("--no-progress")
            .args(args);
        let run = run_bounded(step, command, limit);
        lock(&self.transcript).push_str(&format!(
            "$ stackup {}\n{}\n{}\n",
            args.join(" "),
            run.stdout,
            run.stderr
        ));
        run
    }

    // -- reading AWS directly, to check what stackup did ----------------------

    /// The stacks of this run that exist, with their status.
    fn existing_stacks(&self) -> Result<Vec<(String, String)>, String> {
        let client = aws_sdk_cloudformation::Client::new(&self.sdk);
        let mut existing = Vec::new();
        for name in [self.platform_stack(), self.network_stack()] {
            match self.block_on(client.describe_stacks().stack_name(&name).send()) {
                Ok(answer) => {
                    for stack in answer.stacks() {
                        let status = stack
                            .stack_status()
                            .map(|status| status.as_str().to_string())
                            .unwrap_or_default();
                        if status != "DELETE_COMPLETE" {
                            existing.push((name.clone(), status));
                        }
                    }
                }
                Err(error) => {
                    let text =
                        aws_sdk_cloudformation::error::DisplayErrorContext(&error).to_string();
                    if !text.contains("does not exist") {
                        return Err(format!("DescribeStacks {name}: {text}"));
                    }
                }
            }
        }
        Ok(existing)
    }

    fn stack_tags(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        let answer = self
            .block_on(
                aws_sdk_cloudformation::Client::new(&self.sdk)
                    .describe_stacks()
                    .stack_name(name)
                    .send(),
            )
            .expect("DescribeStacks");
        answer.stacks()[0]
            .tags()
            .iter()
            .map(|tag| {
                (
                    tag.key().unwrap_or_default().to_string(),
                    tag.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The RDS instance of the platform stack, from its resources.
    fn remember_db_instance(&self) {
        if lock(&self.db_instance).is_some() {
            return;
        }
        let answer = self.block_on(
            aws_sdk_cloudformation::Client::new(&self.sdk)
                .describe_stack_resource()
                .stack_name(self.platform_stack())
                .logical_resource_id("Database")
                .send(),
        );
        if let Ok(answer) = answer {
            if let Some(id) = answer
                .stack_resource_detail()
                .and_then(|detail| detail.physical_resource_id())
                .filter(|id| !id.is_empty())
            {
                *lock(&self.db_instance) = Some(id.to_string());
            }
        }
    }

    /// An SSM SecureString's value; None when it does not exist.
    fn secret(&self, name: &str) -> Option<String> {
        match self.block_on(
            aws_sdk_ssm::Client::new(&self.sdk)
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send(),
        ) {
            Ok(answer) => answer
                .parameter()
                .and_then(|parameter| parameter.value())
                .map(str::to_string),
            Err(error) => {
                let text = aws_sdk_ssm::error::DisplayErrorContext(&error).to_string();
                assert!(
                    text.contains("ParameterNotFound"),
                    "GetParameter {name}: {text}"
                );
                None
            }
        }
    }

    fn service(&self, cluster: &str) -> aws_sdk_ecs::types::Service {
        let answer = self
            .block_on(
                aws_sdk_ecs::Client::new(&self.sdk)
                    .describe_services()
                    .cluster(cluster)
                    .services("web")
                    .send(),
            )
            .expect("DescribeServices");
        answer
            .services()
            .first()
            .cloned()
            .expect("service web exists")
    }

    /// After a rollout stackup called complete: ECS agrees, on `task_definition`.
    fn assert_rolled_out(&self, cluster: &str, task_definition: &str, step: &str) {
        let service = self.service(cluster);
        assert_eq!(
            service.task_definition(),
            Some(task_definition),
            "{step}: the service runs the revision stackup reported"
        );
        let deployments = service.deployments();
        assert_eq!(
            deployments.len(),
            1,
            "{step}: one deployment left: {deployments:?}"
        );
        let primary = &deployments[0];
        assert_eq!(primary.status(), Some("PRIMARY"), "{step}");
        assert_eq!(
            primary.rollout_state().map(|state| state.as_str()),
            Some("COMPLETED"),
            "{step}: rollout state {:?}",
            primary.rollout_state_reason()
        );
        assert_eq!(primary.task_definition(), Some(task_definition), "{step}");
        assert_eq!(service.desired_count(), 1, "{step}");
        assert_eq!(
            service.running_count(),
            service.desired_count(),
            "{step}: running == desired"
        );
        assert_eq!(primary.running_count(), primary.desired_count(), "{step}");
    }

    fn wait_for_container_instance(&self, cluster: &str) {
        let client = aws_sdk_ecs::Client::new(&self.sdk);
        let started = Instant::now();
        loop {
            let answer = self
                .block_on(client.describe_clusters().clusters(cluster).send())
                .expect("DescribeClusters");
            let registered = answer
                .clusters()
                .first()
                .map(|cluster| cluster.registered_container_instances_count())
                .unwrap_or(0);
            if registered >= 1 {
                eprintln!(
                    "cluster {cluster}: {registered} container instance(s) registered after {:.0?}",
                    started.elapsed()
                );
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15 * 60),
                "no ECS host registered in cluster {cluster} within 15 minutes: check the auto scaling group's activity and the host's route to the internet (NAT)"
            );
            std::thread::sleep(Duration::from_secs(15));
        }
    }

    /// The host keys of an instance, from its serial console (cloud-init prints
    /// them there at boot): AWS's authenticated API vouches for them, which is
    /// how a new instance's key is known without trusting it on first use.
    fn trust_host_keys(&self, instance: &str, address: &str) {
        let client = aws_sdk_ec2::Client::new(&self.sdk);
        let started = Instant::now();
        let keys = loop {
            let answer = self.block_on(
                client
                    .get_console_output()
                    .instance_id(instance)
                    .latest(true)
                    .send(),
            );
            let text = match answer {
                Ok(answer) => answer
                    .output()
                    .and_then(|encoded| {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD
                            .decode(encoded.trim())
                            .ok()
                    })
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .unwrap_or_default(),
                Err(error) => {
                    eprintln!(
                        "GetConsoleOutput {instance}: {}",
                        aws_sdk_ec2::error::DisplayErrorContext(&error)
                    );
                    String::new()
                }
            };
            let keys = host_keys_from_console(&text);
            if !keys.is_empty() {
                break keys;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10 * 60),
                "no SSH host keys in the console output of {instance} within 10 minutes \
                 (cloud-init prints them between -----BEGIN SSH HOST KEY KEYS----- and -----END SSH HOST KEY KEYS-----); \
                 without them the host cannot be verified, so the SSH steps cannot run"
            );
            std::thread::sleep(Duration::from_secs(15));
        };
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.config_path.join("known_hosts"))
            .expect("known_hosts");
        for (algorithm, blob) in &keys {
            writeln!(file, "{address} {algorithm} {blob}").expect("write known_hosts");
        }
        eprintln!(
            "known_hosts: {} key(s) of {instance} at {address}, from its console output",
            keys.len()
        );
    }

    fn private_ip(&self, instance: &str) -> String {
        let answer = self
            .block_on(
                aws_sdk_ec2::Client::new(&self.sdk)
                    .describe_instances()
                    .instance_ids(instance)
                    .send(),
            )
            .expect("DescribeInstances");
        answer
            .reservations()
            .iter()
            .flat_map(|reservation| reservation.instances())
            .find_map(|found| found.private_ip_address().map(str::to_string))
            .unwrap_or_else(|| panic!("instance {instance} has no private IP"))
    }

    // -- cleanup -------------------------------------------------------------

    /// Delete everything this run created. Never panics; returns what may be left.
    fn cleanup(&self) -> Vec<String> {
        let mut left = Vec::new();
        self.remember_db_instance();
        match self.existing_stacks() {
            Ok(existing) if existing.is_empty() => {}
            Ok(existing) => {
                eprintln!("\n== cleanup: deleting {existing:?}");
                for attempt in 1..=2 {
                    let run = self.stackup(
                        &format!("cleanup: delete-stack (attempt {attempt})"),
                        &["delete-stack", STACK, "--yes"],
                        DELETE_LIMIT,
                    );
                    if run.code == Some(0)
                        && self.existing_stacks().is_ok_and(|left| left.is_empty())
                    {
                        break;
                    }
                }
                if !self.existing_stacks().is_ok_and(|left| left.is_empty()) {
                    eprintln!(
                        "== cleanup: stackup did not delete the stacks; deleting them with the SDK"
                    );
                    self.delete_stacks_directly();
                }
                match self.existing_stacks() {
                    Ok(still) if still.is_empty() => {}
                    Ok(still) => {
                        for (name, status) in still {
                            left.push(format!(
                                "CloudFormation stack {name} ({status}): aws cloudformation delete-stack --region {} --stack-name {name}",
                                self.settings.region
                            ));
                        }
                    }
                    Err(error) => left.push(format!(
                        "CloudFormation stacks {} and {} (could not check: {error})",
                        self.platform_stack(),
                        self.network_stack()
                    )),
                }
            }
            Err(error) => left.push(format!(
                "CloudFormation stacks {} and {} (could not check: {error})",
                self.platform_stack(),
                self.network_stack()
            )),
        }
        let region = &self.settings.region;
        let db_instance = lock(&self.db_instance).clone();
        if let Some(instance) = db_instance {
            if let Err(error) = self.delete_final_snapshots(&instance) {
                left.push(format!(
                    "the final snapshot of RDS instance {instance} ({error}): aws rds describe-db-snapshots --region {region} --db-instance-identifier {instance}, then aws rds delete-db-snapshot"
                ));
            }
            for log in ["postgresql", "upgrade"] {
                let group = format!("/aws/rds/instance/{instance}/{log}");
                if let Err(error) = self.delete_log_group(&group) {
                    left.push(format!(
                        "log group {group} ({error}): aws logs delete-log-group --region {region} --log-group-name {group}"
                    ));
                }
            }
        }
        if let Err(error) = self.delete_parameters() {
            left.push(format!(
                "SSM parameters under /stackup/{}/ ({error}): aws ssm get-parameters-by-path --region {region} --recursive --path /stackup/{}/",
                self.stack_id, self.stack_id
            ));
        }
        if let Err(error) = self.delete_task_definitions() {
            left.push(format!(
                "task definitions of family {}-web ({error}; they cost nothing)",
                self.stack_id
            ));
        }
        if let Some(name) = &self.key_pair {
            if let Err(error) = self.block_on(
                aws_sdk_ec2::Client::new(&self.sdk)
                    .delete_key_pair()
                    .key_name(name)
                    .send(),
            ) {
                left.push(format!(
                    "EC2 key pair {name} ({}): aws ec2 delete-key-pair --region {region} --key-name {name}",
                    aws_sdk_ec2::error::DisplayErrorContext(&error)
                ));
            }
        }
        left
    }

    /// The fallback when stackup itself cannot delete the stacks: services
    /// first (a cluster with services cannot go), then platform, then network.
    fn delete_stacks_directly(&self) {
        let cloudformation = aws_sdk_cloudformation::Client::new(&self.sdk);
        let cluster = self
            .block_on(
                cloudformation
                    .describe_stacks()
                    .stack_name(self.platform_stack())
                    .send(),
            )
            .ok()
            .and_then(|answer| {
                answer.stacks().first().and_then(|stack| {
                    stack
                        .outputs()
                        .iter()
                        .find(|output| output.output_key() == Some("ClusterName"))
                        .and_then(|output| output.output_value().map(str::to_string))
                })
            });
        if let Some(cluster) = cluster {
            let ecs = aws_sdk_ecs::Client::new(&self.sdk);
            let _ = self.block_on(
                ecs.delete_service()
                    .cluster(&cluster)
                    .service("web")
                    .force(true)
                    .send(),
            );
        }
        for name in [self.platform_stack(), self.network_stack()] {
            if let Err(error) =
                self.block_on(cloudformation.delete_stack().stack_name(&name).send())
            {
                eprintln!(
                    "DeleteStack {name}: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(&error)
                );
                continue;
            }
            let started = Instant::now();
            while started.elapsed() < DELETE_LIMIT {
                let status = self.existing_stacks().ok().and_then(|existing| {
                    existing
                        .into_iter()
                        .find(|(existing, _)| *existing == name)
                        .map(|(_, status)| status)
                });
                match status.as_deref() {
                    None => break,
                    Some("DELETE_FAILED") => {
                        eprintln!("{name}: DELETE_FAILED");
                        break;
                    }
                    Some(_) => std::thread::sleep(Duration::from_secs(20)),
                }
            }
        }
    }

    /// CloudFormation snapshots the database on delete (DeletionPolicy
    /// Snapshot); the snapshot would be billed for as long as it is kept.
    fn delete_final_snapshots(&self, instance: &str) -> Result<(), String> {
        let rds = aws_sdk_rds::Client::new(&self.sdk);
        let started = Instant::now();
        loop {
            let answer = self
                .block_on(
                    rds.describe_db_snapshots()
                        .db_instance_identifier(instance)
                        .snapshot_type("manual")
                        .send(),
                )
                .map_err(|error| aws_sdk_rds::error::DisplayErrorContext(&error).to_string())?;
            let snapshots: Vec<_> = answer
                .db_snapshots()
                .iter()
                .filter(|snapshot| snapshot.db_instance_identifier() == Some(instance))
                .cloned()
                .collect();
            let creating = snapshots
                .iter()
                .any(|snapshot| snapshot.status() == Some("creating"));
            if creating && started.elapsed() < Duration::from_secs(20 * 60) {
                std::thread::sleep(Duration::from_secs(20));
                continue;
            }
            for snapshot in snapshots {
                let Some(id) = snapshot.db_snapshot_identifier() else {
                    continue;
                };
                self.block_on(rds.delete_db_snapshot().db_snapshot_identifier(id).send())
                    .map_err(|error| {
                        format!("{id}: {}", aws_sdk_rds::error::DisplayErrorContext(&error))
                    })?;
                eprintln!("cleanup: deleted DB snapshot {id}");
            }
            return Ok(());
        }
    }

    fn delete_log_group(&self, group: &str) -> Result<(), String> {
        match self.block_on(
            aws_sdk_cloudwatchlogs::Client::new(&self.sdk)
                .delete_log_group()
                .log_group_name(group)
                .send(),
        ) {
            Ok(_) => {
                eprintln!("cleanup: deleted log group {group}");
                Ok(())
            }
            Err(error) => {
                let text = aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&error).to_string();
                if text.contains("ResourceNotFound") {
                    Ok(())
                } else {
                    Err(text)
                }
            }
        }
    }

    fn delete_parameters(&self) -> Result<(), String> {
        let ssm = aws_sdk_ssm::Client::new(&self.sdk);
        let path = format!("/stackup/{}/", self.stack_id);
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let answer = self
                .block_on(
                    ssm.get_parameters_by_path()
                        .path(&path)
                        .recursive(true)
                        .set_next_token(token)
                        .send(),
                )
                .map_err(|error| aws_sdk_ssm::error::DisplayErrorContext(&error).to_string())?;
            names.extend(
                answer
                    .parameters()
                    .iter()
                    .filter_map(|parameter| parameter.name().map(str::to_string))
                    .filter(|name| name.starts_with(&path)),
            );
            token = answer.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for chunk in names.chunks(10) {
            self.block_on(
                ssm.delete_parameters()
                    .set_names(Some(chunk.to_vec()))
                    .send(),
            )
            .map_err(|error| aws_sdk_ssm::error::DisplayErrorContext(&error).to_string())?;
        }
        if !names.is_empty() {
            eprintln!(
                "cleanup: deleted {} SSM parameter(s) under {path}",
                names.len()
            );
        }
        Ok(())
    }

    fn delete_task_definitions(&self) -> Result<(), String> {
        let ecs = aws_sdk_ecs::Client::new(&self.sdk);
        let family = format!("{}-web", self.stack_id);
        let list = |status: aws_sdk_ecs::types::TaskDefinitionStatus| {
            self.block_on(
                ecs.list_task_definitions()
                    .family_prefix(&family)
                    .status(status)
                    .send(),
            )
            .map(|answer| answer.task_definition_arns().to_vec())
            .map_err(|error| aws_sdk_ecs::error::DisplayErrorContext(&error).to_string())
        };
        for arn in list(aws_sdk_ecs::types::TaskDefinitionStatus::Active)? {
            self.block_on(
                ecs.deregister_task_definition()
                    .task_definition(&arn)
                    .send(),
            )
            .map_err(|error| aws_sdk_ecs::error::DisplayErrorContext(&error).to_string())?;
        }
        let inactive = list(aws_sdk_ecs::types::TaskDefinitionStatus::Inactive)?;
        for chunk in inactive.chunks(10) {
            self.block_on(
                ecs.delete_task_definitions()
                    .set_task_definitions(Some(chunk.to_vec()))
                    .send(),
            )
            .map_err(|error| aws_sdk_ecs::error::DisplayErrorContext(&error).to_string())?;
        }
        Ok(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("\n== the run failed: deleting everything it created before reporting");
        }
        let left = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.cleanup()))
        {
            Ok(left) => left,
            Err(_) => vec![format!(
                "unknown: the cleanup itself failed; look for stacks named {}-* and SSM parameters under /stackup/{}/",
                self.stack_id, self.stack_id
            )],
        };
        if left.is_empty() {
            eprintln!("== cleanup: nothing of {} is left", self.stack_id);
            return;
        }
        let kept = self.config.take().map(tempfile::TempDir::keep);
        eprintln!(
            "\n!!!!!!!! THESE MAY STILL EXIST AND COST MONEY: delete them by hand !!!!!!!!\n  - {}\n  \
             The config dir is kept: {}\n  stackup --config-dir {} --region {} delete-stack {STACK} --yes\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            left.join("\n  - "),
            kept.as_deref()
                .map(|path| path.display().to_string())
                .unwrap_or_default(),
            kept.as_deref()
                .map(|path| path.display().to_string())
                .unwrap_or_default(),
            self.settings.region,
        );
    }
}

/// The throwaway config dir: the stack file, the nginx task and service
/// templates, the migrations and seeds of the repository, an empty known_hosts.
fn write_config(root: &Path, settings: &Settings, environment: &str, key_pair: Option<&str>) {
    let key_name = match key_pair {
        Some(name) => format!("key_name = \"{name}\"\n"),
        None => String::new(),
    };
    let (tls, identity) = (
        match &settings.rds_ca {
            Some(ca) => format!(
                "sslmode = \"verify-full\"\nca_file = \"{}\"\n",
                ca.display()
            ),
            None => "sslmode = \"require\"\n".to_string(),
        },
        match &settings.ssh_identity {
            Some(identity) => format!("identity = \"{}\"\n", identity.display()),
            None => String::new(),
        },
    );
    let stack_file = format!(
        r#"# Written by tests/live_aws.rs for one run; the run deletes the stack again.
app = "{APP}"
environment = "{environment}"
version = 1
region = "{region}"

[tags]
purpose = "stackup-live-test"

[network]
cidr = "10.77.0.0/16"
availability_zones = 2
nat = "single"
bastion_ingress = ["{cidr}"]
s3_endpoint = true

[database]
name = "live"
master_user = "postgres"
encoding = "UTF8"
collation = "en_US.UTF-8"
engine_version = "16"
instance_class = "db.t4g.micro"
allocated_storage = 20
multi_az = false
deletion_protection = false
migrations = "scripts/db/migrations"
seeds = "scripts/db/seeds.sql"
{tls}
[cluster]
instance_type = "t3.micro"
hosts = 1
max_hosts = 1

[bastion]
instance_type = "t3.micro"
{key_name}
[load_balancer]
port = 80
health_check_path = "/"

[logs]
retention_days = 1

[deploy]
timeout = "{ROLLOUT_TIMEOUT}"

[services.web]
task_definition = "task-defs/web.json"
service_definition = "task-defs/web-service.json"
desired_count = 1
node_basename = "web"
cookie = "stack"
console_command = "sudo -n docker exec -it {{container}} sh"

[ssh]
user = "ec2-user"
{identity}known_hosts = "known_hosts"
"#,
        region = settings.region,
        cidr = settings.my_cidr,
    );
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create dir");
        std::fs::write(&path, text).expect("write");
    };
    write("stacks/live.toml", &stack_file);
    write("task-defs/web.json", TASK_TEMPLATE);
    write("task-defs/web-service.json", SERVICE_TEMPLATE);
    write("known_hosts", "");
    std::fs::create_dir_all(root.join("scripts/db/migrations")).expect("create dir");
    let migrations = repo_root().join("scripts/db/migrations");
    for entry in std::fs::read_dir(&migrations).expect("scripts/db/migrations") {
        let entry = entry.expect("entry");
        std::fs::copy(
            entry.path(),
            root.join("scripts/db/migrations").join(entry.file_name()),
        )
        .expect("copy migration");
    }
    std::fs::copy(
        repo_root().join("scripts/db/seeds.sql"),
        root.join("scripts/db/seeds.sql"),
    )
    .expect("copy seeds");
}

/// A lock that a failed assertion elsewhere does not make unusable: the
/// cleanup must run after any panic.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The public keys cloud-init prints on the serial console between
/// `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----`,
/// as (algorithm, base64 blob); lines may carry a prefix such as `ec2: `.
fn host_keys_from_console(console: &str) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut inside = false;
    for line in console.lines() {
        if line.contains("-----BEGIN SSH HOST KEY KEYS-----") {
            inside = true;
            continue;
        }
        if line.contains("-----END SSH HOST KEY KEYS-----") {
            inside = false;
            continue;
        }
        if !inside {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words
            .iter()
            .position(|word| word.starts_with("ssh-") || word.starts_with("ecdsa-sha2-"))
        else {
            continue;
        };
        if let Some(blob) = words.get(at + 1).filter(|blob| blob.starts_with("AAAA")) {
            let key = (words[at].to_string(), blob.to_string());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// GET / on port 80 of `host`: the raw response.
fn http_get(host: &str) -> Result<String, String> {
    let address = (host, 80)
        .to_socket_addrs()
        .map_err(|error| format!("resolving {host}: {error}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(10))
        .map_err(|error| format!("connecting to {address}: {error}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|error| error.to_string())?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: stackup-live-test\r\nConnection: close\r\n\r\n"
    )
    .map_err(|error| format!("sending: {error}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|error| format!("reading: {error}"))?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn output<'a>(report: &'a Value, layer: usize, key: &str) -> &'a str {
    report["stacks"][layer]["outputs"][key]
        .as_str()
        .unwrap_or_else(|| panic!("create-stack reported no output {key}: {report}"))
}

// ---------------------------------------------------------------------------
// The tests

#[test]
fn the_whole_life_of_a_stack_on_real_aws() {
    let Some(settings) = settings("the_whole_life_of_a_stack_on_real_aws") else {
        return;
    };
    let live = Live::new(settings);
    let id = live.stack_id.clone();
    let network = live.network_stack();
    let platform = live.platform_stack();

    // validate: offline.
    let run = live.stackup("validate", &["validate", STACK], QUICK_LIMIT);
    run.succeeded();
    assert!(
        run.stdout.starts_with(&format!("{STACK}: valid ({id};")),
        "{}",
        run.stdout
    );

    // create-stack --dry-run: the plan, nothing created.
    let run = live.stackup(
        "create-stack --dry-run",
        &["--output", "json", "create-stack", STACK, "--dry-run"],
        QUICK_LIMIT,
    );
    let plan = run.succeeded().json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["master_password_exists"], false);
    assert_eq!(
        plan["plan"]["availability_zones"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(plan["plan"]["nat"], "single");
    for (layer, name) in [(0, &network), (1, &platform)] {
        assert_eq!(plan["plan"]["stacks"][layer]["stack_name"], **name);
        assert_eq!(plan["plan"]["stacks"][layer]["action"], "create");
    }
    assert!(
        plan["plan"]["stacks"][1]["parameters"]
            .get("DatabaseMasterPassword")
            .is_none(),
        "the master password passes as no parameter (a dynamic reference reads it)"
    );
    assert_eq!(
        live.existing_stacks().expect("DescribeStacks"),
        vec![],
        "--dry-run created nothing"
    );
    assert_eq!(
        live.secret(&format!("/stackup/{id}/database/master-password")),
        None,
        "--dry-run stored no password"
    );

    // create-stack: network, then platform (RDS: 10-20 minutes).
    let run = live.stackup(
        "create-stack",
        &["--output", "json", "-v", "create-stack", STACK, "--yes"],
        CREATE_LIMIT,
    );
    live.remember_db_instance();
    let created = run.succeeded().json();
    for (layer, name) in [(0, &network), (1, &platform)] {
        assert_eq!(created["stacks"][layer]["name"], **name);
        assert_eq!(created["stacks"][layer]["result"], "created");
        assert_eq!(created["stacks"][layer]["status"], "CREATE_COMPLETE");
        let tags = live.stack_tags(name);
        assert_eq!(tags.get("stackup:app").map(String::as_str), Some(APP));
        assert_eq!(
            tags.get("stackup:environment"),
            Some(&live.environment),
            "{tags:?}"
        );
        assert_eq!(tags.get("stackup:version").map(String::as_str), Some("1"));
        assert!(tags.contains_key("stackup:template-sha256"), "{tags:?}");
        assert_eq!(
            tags.get("purpose").map(String::as_str),
            Some("stackup-live-test")
        );
    }
    let cluster = output(&created, 1, "ClusterName").to_string();
    let load_balancer = output(&created, 1, "LoadBalancerDnsName").to_string();
    let bastion_ip = output(&created, 1, "BastionPublicIp").to_string();
    let bastion_id = output(&created, 1, "BastionInstanceId").to_string();
    assert!(
        lock(&live.db_instance).is_some(),
        "the platform stack has a Database resource"
    );

    // create-stack again: nothing to change.
    let run = live.stackup(
        "create-stack again",
        &["--output", "json", "create-stack", STACK, "--yes"],
        QUICK_LIMIT,
    );
    let again = run.succeeded().json();
    assert_eq!(again["stacks"][0]["result"], "unchanged");
    assert_eq!(again["stacks"][1]["result"], "unchanged");
    assert!(
        run.stderr.contains(&format!("{network}: no changes")),
        "{}",
        run.stderr
    );

    // The database, through the bastion.
    if live.ssh() {
        live.trust_host_keys(&bastion_id, &bastion_ip);
        database_steps(&live);
    } else {
        eprintln!(
            "\n== skipped: update-resources, tunnel and console need SSH to the bastion: set STACKUP_LIVE_SSH_IDENTITY to a private key file"
        );
    }

    // deploy-release: register, create the service, wait for the rollout.
    live.wait_for_container_instance(&cluster);
    let image_flag = format!("web={}", live.settings.image);
    let deploy_args = [
        "--output",
        "json",
        "-v",
        "deploy-release",
        STACK,
        "--yes",
        "--timeout",
        ROLLOUT_TIMEOUT,
        "--image",
        image_flag.as_str(),
    ];
    let run = live.stackup("deploy-release", &deploy_args, ROLLOUT_LIMIT);
    let first = run.succeeded().json();
    let web = &first["services"][0];
    assert_eq!(web["service"], "web");
    assert_eq!(web["result"], "completed", "{first}");
    assert_eq!(web["registered"], true);
    assert_eq!(web["created"], true);
    let first_definition = web["task_definition"]
        .as_str()
        .expect("task_definition")
        .to_string();
    let first_revision = web["revision"].as_i64().expect("revision");
    live.assert_rolled_out(&cluster, &first_definition, "deploy-release");

    // The registered revision: the cookie only as a reference.
    let definition = live
        .block_on(
            aws_sdk_ecs::Client::new(&live.sdk)
                .describe_task_definition()
                .task_definition(&first_definition)
                .send(),
        )
        .expect("DescribeTaskDefinition")
        .task_definition()
        .cloned()
        .expect("task definition");
    let container = &definition.container_definitions()[0];
    assert_eq!(container.image(), Some(live.settings.image.as_str()));
    let cookie_secret = container
        .secrets()
        .iter()
        .find(|secret| secret.name() == "RELEASE_COOKIE")
        .expect("RELEASE_COOKIE is a secret of the container");
    assert_eq!(
        cookie_secret.value_from(),
        format!(
            "arn:aws:ssm:{}:{}:parameter/stackup/{id}/cookie",
            live.settings.region, live.account
        )
    );
    assert!(
        !container
            .environment()
            .iter()
            .any(|variable| variable.name() == Some("RELEASE_COOKIE")),
        "the cookie is not an environment value"
    );
    let cookie = live
        .secret(&format!("/stackup/{id}/cookie"))
        .expect("the cookie parameter exists after a deploy");
    assert!(cookie.len() >= 48, "a long cookie");
    assert!(
        !format!("{definition:?}").contains(&cookie),
        "the cookie's value is in the task definition"
    );

    // The same release again: nothing registered, nothing updated.
    let run = live.stackup("deploy-release, same image", &deploy_args, ROLLOUT_LIMIT);
    let same = run.succeeded().json();
    assert_eq!(same["services"][0]["result"], "unchanged", "{same}");
    assert_eq!(same["services"][0]["registered"], false);
    assert_eq!(same["services"][0]["task_definition"], *first_definition);

    // The load balancer serves the release.
    let started = Instant::now();
    loop {
        match http_get(&load_balancer) {
            Ok(response) if response.starts_with("HTTP/1.1 200") => {
                assert!(
                    response.to_ascii_lowercase().contains("nginx"),
                    "the release answers through the load balancer: {}",
                    tail(&response)
                );
                break;
            }
            other => {
                assert!(
                    started.elapsed() < Duration::from_secs(5 * 60),
                    "GET http://{load_balancer}/ did not answer 200 within 5 minutes: {other:?}"
                );
                std::thread::sleep(Duration::from_secs(10));
            }
        }
    }

    // status: the stacks, the service, its task with its node name, the host.
    let run = live.stackup(
        "status",
        &["--output", "json", "status", STACK],
        QUICK_LIMIT,
    );
    let status = run.succeeded().json();
    assert_eq!(status["stack_id"], *id);
    assert_eq!(status["cluster"], *cluster);
    for stack in status["stacks"].as_array().expect("stacks") {
        let state = stack["status"].as_str().unwrap_or_default();
        assert!(
            state == "CREATE_COMPLETE" || state == "UPDATE_COMPLETE",
            "{stack}"
        );
    }
    let service = &status["services"][0];
    assert_eq!(service["name"], "web");
    assert_eq!(service["deployed"], true);
    assert_eq!(service["stable"], true, "{service}");
    assert_eq!(service["desired"], 1);
    assert_eq!(service["running"], service["desired"]);
    assert_eq!(service["task_definition"], *first_definition);
    let tasks = service["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{service}");
    let task = &tasks[0];
    let task_id = task["task_id"].as_str().expect("task_id");
    let task_ip = task["private_ip"].as_str().expect("private_ip");
    assert!(task_ip.starts_with("10.77."), "{task}");
    assert_eq!(
        task["node_name"],
        format!("web-{task_id}@{task_ip}"),
        "the node name rule: <node_basename>-<task id>@<private IP>"
    );
    assert_eq!(task["last_status"], "RUNNING");
    assert_ne!(task["health"], "UNHEALTHY", "{task}");
    let host = task["host"].as_str().expect("host").to_string();
    assert!(host.starts_with("i-"), "{task}");
    // ECS itself names the same task with the same address.
    let described = live
        .block_on(
            aws_sdk_ecs::Client::new(&live.sdk)
                .describe_tasks()
                .cluster(&cluster)
                .tasks(task_id)
                .send(),
        )
        .expect("DescribeTasks");
    let ecs_ip = described.tasks()[0]
        .attachments()
        .iter()
        .flat_map(|attachment| attachment.details())
        .find(|detail| detail.name() == Some("privateIPv4Address"))
        .and_then(|detail| detail.value())
        .map(str::to_string);
    assert_eq!(ecs_ip.as_deref(), Some(task_ip));
    let hosts = status["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1, "{status}");
    assert_eq!(hosts[0]["instance_id"], *host);
    assert_eq!(hosts[0]["instance_type"], "t3.micro");
    assert_eq!(hosts[0]["agent_connected"], true);

    // logs: nginx's lines (the load balancer's and the container's health
    // checks), merged in time order; CloudWatch can take a minute to show them.
    let started = Instant::now();
    loop {
        let run = live.stackup(
            "logs --since 15m",
            &["--output", "json", "logs", STACK, "--since", "15m"],
            QUICK_LIMIT,
        );
        run.succeeded();
        let events: Vec<Value> = run
            .stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("logs: not a JSON line ({error}): {line}"))
            })
            .collect();
        let requests = events
            .iter()
            .filter(|event| {
                event["message"]
                    .as_str()
                    .is_some_and(|message| message.contains("GET / "))
            })
            .count();
        if requests > 0 {
            let mut previous = 0;
            for event in &events {
                let timestamp = event["timestamp"].as_i64().expect("timestamp");
                assert!(timestamp >= previous, "events in time order: {event}");
                previous = timestamp;
                let stream = event["stream"].as_str().expect("stream");
                assert!(stream.starts_with("web/web/"), "{event}");
                assert!(event["id"].as_str().is_some_and(|id| !id.is_empty()));
            }
            assert!(
                events.iter().any(|event| event["stream"]
                    .as_str()
                    .is_some_and(|stream| stream.ends_with(task_id))),
                "the running task's stream is read"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5 * 60),
            "logs: no request line of nginx within 5 minutes of a running task; events: {}",
            tail(&run.stdout)
        );
        std::thread::sleep(Duration::from_secs(20));
    }

    // console: two SSH hops to the task's host, the command in its container.
    if live.ssh() {
        let host_ip = live.private_ip(&host);
        live.trust_host_keys(&host, &host_ip);
        let run = live.stackup(
            "console",
            &[
                "console",
                STACK,
                "--command",
                "sudo -n docker exec {container} sh -c 'echo console-ok $NODE_BASENAME'",
            ],
            QUICK_LIMIT,
        );
        run.succeeded();
        assert!(
            run.stdout.contains("console-ok web"),
            "the command ran in the task's container: {}",
            run.stdout
        );
        let run = live.stackup(
            "console, exit status",
            &[
                "console",
                STACK,
                "--command",
                "sudo -n docker exec {container} sh -c 'exit 3'",
            ],
            QUICK_LIMIT,
        );
        run.expect_code(3);
    }

    // A second release, then rollback to the first.
    let second_flag = format!("web={}", live.settings.second_image);
    let run = live.stackup(
        "deploy-release, second image",
        &[
            "--output",
            "json",
            "-v",
            "deploy-release",
            STACK,
            "--yes",
            "--timeout",
            ROLLOUT_TIMEOUT,
            "--image",
            second_flag.as_str(),
        ],
        ROLLOUT_LIMIT,
    );
    let second = run.succeeded().json();
    let web = &second["services"][0];
    assert_eq!(web["result"], "completed", "{second}");
    assert_eq!(web["registered"], true);
    assert_eq!(web["created"], false);
    assert_eq!(web["revision"].as_i64(), Some(first_revision + 1));
    let second_definition = web["task_definition"].as_str().expect("arn").to_string();
    live.assert_rolled_out(&cluster, &second_definition, "second deploy-release");

    let run = live.stackup(
        "rollback",
        &[
            "--output",
            "json",
            "rollback",
            STACK,
            "--yes",
            "--timeout",
            ROLLOUT_TIMEOUT,
        ],
        ROLLOUT_LIMIT,
    );
    let back = run.succeeded().json();
    let web = &back["services"][0];
    assert_eq!(web["service"], "web");
    assert_eq!(web["result"], "completed", "{back}");
    assert_eq!(web["from"], *second_definition);
    assert_eq!(web["to"], *first_definition);
    live.assert_rolled_out(&cluster, &first_definition, "rollback");

    // No secret anywhere in what stackup printed, at any step.
    let mut secrets = vec![("the cookie", cookie)];
    if let Some(password) = live.secret(&format!("/stackup/{id}/database/master-password")) {
        secrets.push(("the database master password", password));
    }
    if let Some(password) = live.secret(&format!("/stackup/{id}/database/app-password")) {
        secrets.push(("the application role's password", password));
    }
    assert!(secrets.len() >= 2, "the master password parameter exists");
    {
        let transcript = lock(&live.transcript).clone();
        for (what, value) in &secrets {
            assert!(
                !transcript.contains(value.as_str()),
                "{what} appears in stackup's stdout or stderr"
            );
        }
    }

    // delete-stack: the service, then platform, then network.
    let run = live.stackup(
        "delete-stack",
        &["--output", "json", "delete-stack", STACK, "--yes"],
        DELETE_LIMIT,
    );
    let deleted = run.succeeded().json();
    let deleted: Vec<&str> = deleted["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        deleted,
        vec!["service web", platform.as_str(), network.as_str()]
    );
    assert_eq!(
        live.existing_stacks().expect("DescribeStacks"),
        vec![],
        "both stacks are gone"
    );
    // Drop tidies the rest: final snapshot, log groups, parameters, task
    // definitions, key pair.
}

/// update-resources twice (the second changes nothing), then the tunnel.
fn database_steps(live: &Live) {
    let id = &live.stack_id;
    let update = |step: &str| {
        let run = live.stackup(
            step,
            &["--output", "json", "-v", "update-resources", STACK, "--yes"],
            Duration::from_secs(15 * 60),
        );
        let report = run.succeeded().json();
        (report, run.stderr.clone())
    };
    let (report, _) = update("update-resources");
    assert_eq!(report["database_created"], true, "{report}");
    assert_eq!(report["role_created"], true);
    assert_eq!(
        report["migrations_applied"],
        serde_json::json!(["001_create_accounts.sql"])
    );
    assert_eq!(report["seeds_applied"], true);
    let (again, stderr) = update("update-resources again");
    assert_eq!(again["database_created"], false, "{again}");
    assert_eq!(again["role_created"], false);
    assert_eq!(again["role_password_reset"], false);
    assert_eq!(again["migrations_applied"], serde_json::json!([]));
    assert_eq!(again["seeds_applied"], false);
    assert!(stderr.contains("nothing to do"), "{stderr}");
    let app_password = live
        .secret(&format!("/stackup/{id}/database/app-password"))
        .expect("the application role's password is in SSM");

    // tunnel: a local port to the database until SIGINT.
    eprintln!("\n== tunnel");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackup"))
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .arg("--config-dir")
        .arg(&live.config_path)
        .arg("--region")
        .arg(&live.settings.region)
        .args(["--output", "json", "tunnel", STACK, "--local-port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tunnel starts");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    let stderr = child.stderr.take().expect("stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let first = match receiver.recv_timeout(Duration::from_secs(120)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "tunnel: no listening line within 2 minutes\n{}",
                tail(&stderr_reader.join().unwrap_or_default())
            );
        }
    };
    let checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let listening: Value = serde_json::from_str(&first)
            .unwrap_or_else(|error| panic!("tunnel: not a JSON line ({error}): {first}"));
        assert_eq!(
            listening["password_parameter"],
            format!("/stackup/{id}/database/app-password")
        );
        assert!(
            listening["database"]
                .as_str()
                .is_some_and(|database| database.ends_with(":5432")),
            "{listening}"
        );
        assert!(!first.contains(&app_password), "no password in the output");
        let local = listening["local_address"].as_str().expect("local_address");
        assert!(local.starts_with("127.0.0.1:"), "{listening}");
        let port = local.rsplit(':').next().expect("port").to_string();

        // A PostgreSQL SSLRequest through the forward: the server answers 'S'.
        let mut stream = TcpStream::connect(local).expect("connect to the tunnel");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream
            .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .expect("SSLRequest");
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).expect("an answer");
        assert_eq!(&answer, b"S", "PostgreSQL with TLS through the tunnel");
        drop(stream);

        // And psql, when it is installed.
        if Command::new("psql").arg("--version").output().is_ok() {
            let ssl = match &live.settings.rds_ca {
                Some(ca) => format!("sslmode=verify-ca sslrootcert={}", ca.display()),
                None => "sslmode=require".to_string(),
            };
            let output = Command::new("psql")
                .arg(format!(
                    "host=127.0.0.1 port={port} dbname=live user=live_app {ssl}"
                ))
                .args([
                    "-X",
                    "-A",
                    "-t",
                    "-c",
                    "SELECT current_user || ' ' || count(*) FROM accounts",
                ])
                .env("PGPASSWORD", &app_password)
                .env("PGCONNECT_TIMEOUT", "20")
                .output()
                .expect("psql runs");
            assert!(
                output.status.success(),
                "psql through the tunnel: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "live_app 1");
        } else {
            eprintln!("tunnel: psql is not installed: the query through the tunnel is skipped");
        }
    }));
    interrupt(&child);
    let started = Instant::now();
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = stderr_reader.join().unwrap_or_default();
    lock(&live.transcript).push_str(&format!("$ stackup tunnel\n{first}\n{stderr}\n"));
    if let Err(panic) = checks {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(code, Some(0), "Ctrl-C ends the tunnel cleanly: {stderr}");
    assert!(stderr.contains("tunnel closed"), "{stderr}");
}

/// Offline: how host keys are read from a console, so that this part of the
/// suite is checked even where it cannot run against AWS.
#[test]
fn host_keys_are_read_between_the_console_markers() {
    let console = "\
[   12.3] cloud-init[1234]: Generating public/private ed25519 key pair.
ec2: #############################################################
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
ec2: 256 SHA256:Xk0sNq2U3nF0bD6a8Qn4o3tC4y1fJ9oHf0oPz8l2d7w no comment (ED25519)
ec2: -----END SSH HOST KEY FINGERPRINTS-----
ec2: #############################################################
-----BEGIN SSH HOST KEY KEYS-----\r
ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= root@ip-10-77-128-5\r
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake root@ip-10-77-128-5\r
-----END SSH HOST KEY KEYS-----\r
ssh-rsa AAAAB3NzaOutsideTheMarkers root@elsewhere
-----BEGIN SSH HOST KEY KEYS-----
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake root@ip-10-77-128-5
-----END SSH HOST KEY KEYS-----
";
    assert_eq!(
        host_keys_from_console(console),
        vec![
            (
                "ecdsa-sha2-nistp256".to_string(),
                "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=".to_string()
            ),
            (
                "ssh-ed25519".to_string(),
                "AAAAC3NzaC1lZDI1NTE5AAAAIFake".to_string()
            ),
        ]
    );
    assert!(host_keys_from_console("no keys printed yet").is_empty());
}

/// With the feature on but STACKUP_LIVE_AWS unset, the suite says why it does
/// nothing and touches no AWS API.
#[test]
fn without_the_variable_the_suite_does_nothing() {
    if var("STACKUP_LIVE_AWS").as_deref() == Some("1") {
        return;
    }
    assert!(settings("without_the_variable_the_suite_does_nothing").is_none());
}

/// Offline: the stack file and the nginx templates the suite writes pass
/// `stackup validate` (which makes no AWS call), in both shapes: without SSH,
/// and with a key pair, an identity and the RDS CA.
#[test]
fn the_config_the_suite_writes_is_valid() {
    for with_ssh in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            region: "eu-west-1".to_string(),
            my_cidr: "203.0.113.7/32".to_string(),
            ssh_identity: None,
            rds_ca: None,
            image: DEFAULT_IMAGE.to_string(),
            second_image: DEFAULT_SECOND_IMAGE.to_string(),
        };
        if with_ssh {
            let identity = dir.path().join("id_ed25519");
            let ca = dir.path().join("rds-global-bundle.pem");
            std::fs::write(&identity, "not a key: validate only checks that it exists")
                .expect("write");
            std::fs::write(&ca, "not a bundle").expect("write");
            settings.ssh_identity = Some(identity);
            settings.rds_ca = Some(ca);
        }
        let config = dir.path().join("config");
        write_config(
            &config,
            &settings,
            "t1700000000",
            with_ssh.then_some("stackuplive-t1700000000"),
        );
        let run = run_bounded(
            "validate",
            {
                let mut command = Command::new(env!("CARGO_BIN_EXE_stackup"));
                command
                    .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                    .env("AWS_REGION", "eu-west-1")
                    .env("NO_COLOR", "1")
                    .arg("--config-dir")
                    .arg(&config)
                    .args(["validate", STACK]);
                command
            },
            QUICK_LIMIT,
        );
        run.succeeded();
        assert!(
            run.stdout
                .starts_with("live: valid (stackuplive-t1700000000-v1;"),
            "{}",
            run.stdout
        );
    }
}
