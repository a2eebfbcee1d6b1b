//! update-resources and tunnel through the real sshd of the local cloud to its
//! real PostgreSQL with TLS. Each test has its own moto account, database and
//! role, and drops them at the end.

mod common;

use common::block_on;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::db::DatabaseStack;
use common::{LocalCloud, MustSucceed};

/// A stack with its own database, created (network and platform) in its own
/// moto account whose SSM holds the local PostgreSQL's real master password.
fn database(
    test: &str,
    bastion: Option<String>,
    address: Option<String>,
    known_hosts: Option<&Path>,
) -> DatabaseStack {
    let database = DatabaseStack::with_route(test, "t", bastion, address, known_hosts);
    database.create_stack();
    database
}

/// What these tests do with a database stack beyond the shared harness.
impl DatabaseStack {
    /// The same command as a background process.
    fn spawn(&self, args: &[&str]) -> Child {
        common::stackup_process(self.config.path(), &self.proxy.endpoint)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns")
    }

    fn update(&self) -> (serde_json::Value, String) {
        let output = self
            .stackup()
            .args([
                "--output",
                "json",
                "-vv",
                "update-resources",
                "local",
                "--yes",
            ])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "update-resources failed: {stderr}");
        (
            serde_json::from_slice(&output.stdout).expect("JSON report"),
            stderr,
        )
    }

    fn migrations_dir(&self) -> std::path::PathBuf {
        self.config.path().join("scripts/db/migrations")
    }

    fn app_password(&self) -> String {
        block_on(async {
            let ssm = aws_sdk_ssm::Client::new(&common::sdk_config(&self.proxy.endpoint).await);
            ssm.get_parameter()
                .name("/stackup/demo-local-v1/database/app-password")
                .with_decryption(true)
                .send()
                .await
                .expect("app password")
                .parameter()
                .and_then(|parameter| parameter.value().map(str::to_string))
                .expect("value")
        })
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> (i32, String, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stdout = String::new();
            let mut stderr = String::new();
            use std::io::Read;
            if let Some(mut out) = child.stdout.take() {
                out.read_to_string(&mut stdout).expect("read");
            }
            if let Some(mut err) = child.stderr.take() {
                err.read_to_string(&mut stderr).expect("read");
            }
            return (status.code().unwrap_or(-1), stdout, stderr);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn full_provisioning_then_a_second_run_changes_nothing() {
    let db = database("db-full", None, None, None);
    let (report, stderr) = db.update();
    assert_eq!(report["database_created"], true);
    assert_eq!(report["role_created"], true);
    assert_eq!(
        report["migrations_applied"],
        serde_json::json!(["001_create_accounts.sql"])
    );
    assert_eq!(report["seeds_applied"], true);

    // The catalogue, read with psql as the master user.
    let name = &db.name;
    assert_eq!(
        db.cloud.psql(
            "postgres",
            &format!("SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'")
        ),
        format!("UTF8|C.UTF-8|C.UTF-8|{name}_app")
    );
    assert_eq!(
        db.cloud.psql(
            "postgres",
            &format!("SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname = '{name}_app'")
        ),
        "f|f|f|t|f",
        "the application role can log in and nothing more"
    );
    assert_eq!(
        db.cloud.psql(name, "SELECT email FROM accounts"),
        "admin@example.com"
    );
    assert_eq!(
        db.cloud.psql(
            name,
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'accounts'"
        ),
        format!("{name}_app")
    );
    assert_eq!(
        db.cloud
            .psql(name, "SELECT version, name FROM schema_migrations"),
        "1|create_accounts"
    );

    // Secrets never reach the output, even at -vv.
    let app_password = db.app_password();
    assert!(app_password.len() >= 32);
    for secret in [app_password.as_str(), db.cloud.master_password().as_str()] {
        assert!(!stderr.contains(secret), "a password leaked to stderr");
        assert!(
            !report.to_string().contains(secret),
            "a password leaked to stdout"
        );
    }

    let (again, stderr) = db.update();
    assert_eq!(again["database_created"], false);
    assert_eq!(again["role_created"], false);
    assert_eq!(again["role_password_reset"], false);
    assert_eq!(again["migrations_applied"], serde_json::json!([]));
    assert_eq!(again["seeds_applied"], false);
    assert!(stderr.contains("nothing to do"), "{stderr}");
}

#[test]
fn unknown_changed_and_revoked_host_keys_are_refused() {
    let cloud = LocalCloud::load();
    let real = cloud.state["ssh"]["host_public_key"]
        .as_str()
        .expect("host key")
        .to_string();
    let blob = real.split_whitespace().nth(1).expect("blob").to_string();
    let host = format!("[127.0.0.1]:{}", cloud.ssh_port());
    let other = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let files = tempfile::tempdir().expect("dir");
    let cases = [
        ("unknown", String::new(), "is not in"),
        (
            "changed",
            format!("{host} ssh-ed25519 {other}\n"),
            "has CHANGED",
        ),
        (
            "revoked",
            format!("{host} ssh-ed25519 {blob}\n@revoked * ssh-ed25519 {blob}\n"),
            "is revoked",
        ),
    ];
    for (case, content, expected) in cases {
        let file = files.path().join(case);
        std::fs::write(&file, content).expect("write known_hosts");
        let db = database(&format!("db-hostkey-{case}"), None, None, Some(&file));
        let output = db
            .stackup()
            .args(["update-resources", "local", "--yes"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{case}: {stderr}");
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert!(
            stderr.contains("SHA256:"),
            "{case}: the fingerprint is shown: {stderr}"
        );
        if case == "unknown" {
            assert!(
                stderr.contains(&format!("{host} ssh-ed25519 {blob}")),
                "the line to accept it: {stderr}"
            );
        }
        let exists = db.cloud.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                db.name
            ),
        );
        assert_eq!(exists, "0", "{case}: nothing was created");
    }
}

#[test]
fn a_postgresql_without_tls_is_refused_before_any_credential_is_sent() {
    let fake = common::NoTlsServer::start();
    let db = database("db-no-tls", None, Some(fake.address.clone()), None);
    let output = db
        .stackup()
        .args(["update-resources", "local", "--yes"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("without working TLS"), "{stderr}");
    assert!(
        fake.received_after_refusal
            .lock()
            .expect("bytes")
            .is_empty(),
        "nothing (no startup message, no password) follows a refused TLS request"
    );
}

#[test]
fn the_tunnel_killed_mid_migration_rolls_it_back_and_the_next_run_completes() {
    let cloud = LocalCloud::load();
    let link = common::CuttableProxy::start(format!("127.0.0.1:{}", cloud.ssh_port()));
    // The bastion is reached through the proxy: its key is known under the proxy's address.
    let files = tempfile::tempdir().expect("dir");
    let known_hosts = files.path().join("known_hosts");
    let host_key = cloud.state["ssh"]["host_public_key"]
        .as_str()
        .expect("host key");
    let port = link.address.rsplit(':').next().expect("port");
    std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_key}\n")).expect("write");
    let db = database(
        "db-killed",
        Some(link.address.clone()),
        None,
        Some(&known_hosts),
    );
    let slow = db.migrations_dir().join("002_slow.sql");
    std::fs::write(
        &slow,
        "CREATE TABLE slow_partial (id int);\nSELECT pg_sleep(60);\n",
    )
    .expect("write");

    let mut run = db.spawn(&["-v", "update-resources", "local", "--yes"]);
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid()",
        db.name
    );
    wait_for(
        "the migration to be running",
        Duration::from_secs(30),
        || {
            if let Some(status) = run.try_wait().expect("wait") {
                let (_, _, stderr) = wait_exit(&mut run, Duration::from_secs(1));
                panic!("update-resources ended early ({status}): {stderr}");
            }
            db.cloud.psql("postgres", &sleeping) == "1"
        },
    );
    link.cut();
    let (code, _, stderr) = wait_exit(&mut run, Duration::from_secs(40));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("SSH link to the bastion died during 002_slow.sql"),
        "{stderr}"
    );
    assert!(stderr.contains("cancelled on the server"), "{stderr}");
    eprintln!("update-resources said: {stderr}");
    wait_for(
        "the statement to stop on the server",
        Duration::from_secs(10),
        || db.cloud.psql("postgres", &sleeping) == "0",
    );
    assert_eq!(
        db.cloud.psql(
            &db.name,
            "SELECT string_agg(version::text, ',') FROM schema_migrations"
        ),
        "1"
    );
    assert_eq!(
        db.cloud
            .psql(&db.name, "SELECT to_regclass('slow_partial') IS NULL"),
        "t",
        "rolled back"
    );

    std::fs::write(&slow, "CREATE TABLE slow_partial (id int);\n").expect("rewrite");
    let (report, _) = db.update();
    assert_eq!(
        report["migrations_applied"],
        serde_json::json!(["002_slow.sql"])
    );
    assert_eq!(
        db.cloud.psql(
            &db.name,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"
        ),
        "1,2"
    );
}

#[test]
fn two_runs_at_once_apply_each_migration_exactly_once() {
    let db = database("db-concurrent", None, None, None);
    // Provision first so both runs only race on the migrations.
    db.update();
    std::fs::write(
        db.migrations_dir().join("002_once.sql"),
        "CREATE TABLE once_only (id int);\nSELECT pg_sleep(2);\n",
    )
    .expect("write");
    let mut first = db.spawn(&["--output", "json", "update-resources", "local", "--yes"]);
    let mut second = db.spawn(&["--output", "json", "update-resources", "local", "--yes"]);
    let (first_code, first_out, first_err) = wait_exit(&mut first, Duration::from_secs(60));
    let (second_code, second_out, second_err) = wait_exit(&mut second, Duration::from_secs(60));
    assert_eq!(
        (first_code, second_code),
        (0, 0),
        "{first_err}\n{second_err}"
    );
    let applied: Vec<serde_json::Value> = [first_out, second_out]
        .iter()
        .flat_map(|out| {
            let report: serde_json::Value = serde_json::from_str(out).expect("JSON");
            report["migrations_applied"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        applied,
        vec![serde_json::json!("002_once.sql")],
        "applied by exactly one run"
    );
    assert_eq!(
        db.cloud.psql(
            &db.name,
            "SELECT count(*) FROM schema_migrations WHERE version = 2"
        ),
        "1"
    );
}

#[test]
fn an_edited_applied_migration_is_named_and_nothing_runs() {
    let db = database("db-edited", None, None, None);
    db.update();
    let file = db.migrations_dir().join("001_create_accounts.sql");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, text.replace("email text", "email varchar")).expect("edit");
    db.stackup()
        .args(["update-resources", "local", "--yes"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("001_create_accounts.sql"))
        .stderr(predicates::str::contains(
            "was changed after it was applied",
        ));
}

#[test]
fn the_check_cycle_runs_on_a_throwaway_database_and_needs_down_files() {
    let db = database("db-check", None, None, None);
    let output = db
        .stackup()
        .args(["--output", "json", "update-resources", "local", "--check"])
        .successful_output();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let throwaway = report["database"].as_str().expect("throwaway name");
    assert!(throwaway.starts_with(&format!("{}_check_", db.name)));
    assert_eq!(
        db.cloud.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{throwaway}'")
        ),
        "0",
        "the throwaway database is dropped"
    );

    std::fs::write(
        db.migrations_dir().join("002_no_way_back.sql"),
        "CREATE TABLE x (id int);",
    )
    .expect("write");
    db.stackup()
        .args(["update-resources", "local", "--check"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "002_no_way_back.sql: has no down file",
        ));
}

#[test]
fn psql_through_the_tunnel_runs_a_query() {
    let db = database("db-tunnel", None, None, None);
    db.update();
    let mut tunnel = db.spawn(&["--output", "json", "tunnel", "local", "--local-port", "0"]);
    let mut lines = BufReader::new(tunnel.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("readable");
    let port = common::db::tunnel_port(&first);
    assert!(
        !first.contains(&db.app_password()),
        "no password in the output"
    );
    let output = db.psql_through_tunnel(
        &port,
        &db.app_password(),
        "SELECT current_user || ' ' || count(*) FROM accounts",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("{}_app 1", db.name)
    );

    Command::new("kill")
        .args(["-INT", &tunnel.id().to_string()])
        .status()
        .expect("kill");
    let (code, _, stderr) = wait_exit(&mut tunnel, Duration::from_secs(10));
    assert_eq!(code, 0, "Ctrl-C ends the tunnel cleanly: {stderr}");
    assert!(stderr.contains("tunnel closed"), "{stderr}");
    // The aws CLI command it suggests reads where stackup reads.
    assert!(
        stderr.contains(" --region us-east-1 --endpoint-url http://127.0.0.1:"),
        "{stderr}"
    );

    // SIGTERM (a service manager stopping it) ends it the same way.
    let mut tunnel = db.spawn(&["--output", "json", "tunnel", "local", "--local-port", "0"]);
    let mut lines = BufReader::new(tunnel.stdout.take().expect("stdout")).lines();
    lines.next().expect("a line").expect("readable");
    Command::new("kill")
        .args(["-TERM", &tunnel.id().to_string()])
        .status()
        .expect("kill");
    let (code, _, stderr) = wait_exit(&mut tunnel, Duration::from_secs(10));
    assert_eq!(code, 0, "SIGTERM ends the tunnel cleanly: {stderr}");
    assert!(stderr.contains("tunnel closed"), "{stderr}");
}
