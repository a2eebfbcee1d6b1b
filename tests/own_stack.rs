//! A new user's own stack on the local cloud: a stack file and templates of
//! their own (another app, environment and service name, master user, no
//! `[local]` table, no `[ssh]` key), run with the environment
//! `scripts/local-cloud env` gives (STACKUP_LOCAL_CLOUD, dummy credentials).

mod common;

use common::{AwsProxy, LocalCloud, MustSucceed};

const STACK_FILE: &str = r#"
app = "shop"
environment = "trial"
version = 1
region = "us-east-1"

[network]
cidr = "10.40.0.0/16"
availability_zones = 2
nat = "single"
bastion_ingress = ["127.0.0.1/32"]

[database]
name = "DATABASE_NAME"
master_user = "admin"
collation = "C.UTF-8"
# Verified against the local cloud's CA, which STACKUP_LOCAL_CLOUD gives.
sslmode = "verify-full"
migrations = "db/migrations"
deletion_protection = false

[services.api]
task_definition = "ecs/api.json"
service_definition = "ecs/api-service.json"
desired_count = 2
node_basename = "api"
cookie = "release"
"#;

/// The local cloud's file for any stack, as `scripts/local-cloud up` writes it.
fn local_cloud_file() -> std::path::PathBuf {
    let file = common::repo_root().join(".local-cloud/local.toml");
    assert!(
        file.is_file(),
        "{} is missing: run scripts/local-cloud up",
        file.display()
    );
    file
}

/// The user's folder: their stack file, their templates (the shipped ones with
/// the container and service renamed), their migration.
fn own_config(database: &str) -> tempfile::TempDir {
    let root = common::repo_root();
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "stacks/shop.toml",
        &STACK_FILE.replace("DATABASE_NAME", database),
    );
    let task = std::fs::read_to_string(root.join("task-defs/web.json")).expect("template");
    write(
        "ecs/api.json",
        &task
            .replace("\"name\": \"web\"", "\"name\": \"api\"")
            .replace("{{image.web}}", "{{image.api}}"),
    );
    let service =
        std::fs::read_to_string(root.join("task-defs/web-service.json")).expect("template");
    write(
        "ecs/api-service.json",
        &service.replace("\"containerName\": \"web\"", "\"containerName\": \"api\""),
    );
    write(
        "db/migrations/001_create_orders.sql",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, placed_at timestamptz NOT NULL DEFAULT now());",
    );
    write(
        "db/migrations/001_create_orders.down.sql",
        "DROP TABLE orders;",
    );
    dir
}

#[test]
fn a_stack_file_of_its_own_runs_on_the_local_cloud_without_a_local_table() {
    let cloud = LocalCloud::load();
    let account = common::account_for("own-stack");
    let proxy = AwsProxy::start(&cloud.moto_endpoint(), &account);
    let database = format!("shop{}", &account[..10]);
    let config = own_config(&database);
    let stackup = || {
        let mut command = common::stackup(config.path(), &proxy.endpoint);
        command.env("STACKUP_LOCAL_CLOUD", local_cloud_file());
        command
    };

    stackup().args(["validate", "shop"]).successful_output();
    stackup()
        .args(["create-stack", "shop", "--yes"])
        .successful_output();
    // The database through the local cloud's bastion, with the master password
    // the stack's own create-stack stored, as the master user it names.
    let output = stackup()
        .args(["update-resources", "shop", "--yes"])
        .successful_output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("001_create_orders"), "{stderr}");
    assert_eq!(
        cloud.psql(&database, "SELECT count(*) FROM schema_migrations"),
        "1"
    );
    // The application role's password lost from SSM: update-resources resets
    // the role as the master user, who (as on RDS) is no superuser.
    common::block_on(async {
        aws_sdk_ssm::Client::new(&common::sdk_config(&proxy.endpoint).await)
            .delete_parameter()
            .name("/stackup/shop-trial-v1/database/app-password")
            .send()
            .await
            .expect("delete the app password")
    });
    let output = stackup()
        .args(["update-resources", "shop", "--yes"])
        .successful_output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("its password is not in SSM"), "{stderr}");
    stackup()
        .args(["deploy-release", "shop", "--yes"])
        .args(["--image", "api=ghcr.io/example/shop:1.0.0"])
        .successful_output();
    let output = stackup()
        .args(["--output", "json", "status", "shop"])
        .successful_output();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(status["services"][0]["name"], "api", "{status}");

    drop_database(&cloud, &database);
}

/// A STACKUP_LOCAL_CLOUD that names no file is bad input naming the variable.
#[test]
fn a_local_cloud_file_that_is_missing_is_named() {
    let config = own_config("shop");
    let output = common::stackup(config.path(), "http://127.0.0.1:9")
        .env("STACKUP_LOCAL_CLOUD", "/nonexistent/local.toml")
        .args(["validate", "shop"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("STACKUP_LOCAL_CLOUD=/nonexistent/local.toml: cannot read it"),
        "{stderr}"
    );
}

fn drop_database(cloud: &LocalCloud, database: &str) {
    cloud.psql("postgres", &format!("DROP DATABASE IF EXISTS {database}"));
    cloud.psql("postgres", &format!("DROP ROLE IF EXISTS {database}_app"));
}
