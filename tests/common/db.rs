//! Stacks with a PostgreSQL database of their own on the local cloud, and the
//! cleanup that drops it again.

use std::path::Path;

use super::{block_on, AwsProxy, LocalCloud};

/// Where the `local` stack reads its database master password from.
pub const MASTER_PASSWORD_PARAMETER: &str = "/stackup/demo-local-v1/database/master-password";

/// A stack in a moto account of a test's own whose `[database]` provisions a
/// database of its own on the local cloud's PostgreSQL: `name`, owned by the
/// role `<name>_app`. Dropping it drops both, also after a failed assertion.
pub struct DatabaseStack {
    pub cloud: LocalCloud,
    pub proxy: AwsProxy,
    pub config: tempfile::TempDir,
    pub name: String,
}

impl DatabaseStack {
    /// The account of `test`, its SSM holding the local PostgreSQL's real
    /// master password, and a config dir for the database `<prefix><the
    /// account's first ten digits>` (a name must not start with a digit).
    /// Nothing is created yet: see [`DatabaseStack::create_stack`].
    pub fn new(test: &str, prefix: &str) -> DatabaseStack {
        DatabaseStack::with_route(test, prefix, None, None, None)
    }

    /// [`DatabaseStack::new`] reaching the database through another bastion,
    /// database address or known_hosts file than the local cloud's (see
    /// [`super::database_config_dir`]).
    pub fn with_route(
        test: &str,
        prefix: &str,
        bastion: Option<String>,
        database_address: Option<String>,
        known_hosts: Option<&Path>,
    ) -> DatabaseStack {
        let cloud = LocalCloud::load();
        let account = super::account_for(test);
        let proxy = AwsProxy::start(&cloud.moto_endpoint(), &account);
        let name = format!("{prefix}{}", &account[..10]);
        put_master_password(&cloud, &proxy.endpoint);
        let config =
            super::database_config_dir(&cloud, &name, bastion, database_address, known_hosts);
        DatabaseStack {
            cloud,
            proxy,
            config,
            name,
        }
    }

    /// stackup for this stack, through its account's proxy.
    pub fn stackup(&self) -> assert_cmd::Command {
        super::stackup(self.config.path(), &self.proxy.endpoint)
    }

    /// `create-stack local --yes`, which must succeed.
    pub fn create_stack(&self) {
        self.stackup()
            .args(["create-stack", "local", "--yes"])
            .assert()
            .success();
    }

    /// Run SQL in this database as the master user (see [`LocalCloud::psql`]).
    pub fn sql(&self, sql: &str) -> String {
        self.cloud.psql(&self.name, sql)
    }

    /// Run SQL in this database with the real psql client as the application
    /// role, through a `stackup tunnel` listening on `port`.
    pub fn psql_through_tunnel(
        &self,
        port: &str,
        app_password: &str,
        sql: &str,
    ) -> std::process::Output {
        std::process::Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={port} dbname={} user={}_app sslmode=verify-ca sslrootcert={}",
                self.name,
                self.name,
                self.cloud.path("postgres", "ca_file").display()
            ))
            .args(["-X", "-A", "-t", "-c", sql])
            .env("PGPASSWORD", app_password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql runs")
    }
}

impl Drop for DatabaseStack {
    fn drop(&mut self) {
        drop_database(&self.cloud, &self.name);
    }
}

/// The local port of a tunnel, from the first line `tunnel --output json` prints.
pub fn tunnel_port(first_line: &str) -> String {
    let listening: serde_json::Value = serde_json::from_str(first_line).expect("JSON line");
    listening["local_address"]
        .as_str()
        .expect("address")
        .rsplit(':')
        .next()
        .expect("port")
        .to_string()
}

/// Store the local PostgreSQL's master password at [`MASTER_PASSWORD_PARAMETER`]
/// in SSM of the account behind `endpoint` (a test's proxy).
pub fn put_master_password(cloud: &LocalCloud, endpoint: &str) {
    let master = cloud.master_password();
    block_on(async {
        aws_sdk_ssm::Client::new(&super::sdk_config(endpoint).await)
            .put_parameter()
            .name(MASTER_PASSWORD_PARAMETER)
            .value(master)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .expect("master password parameter");
    });
}

/// Drop the database `name` and its role `<name>_app` if they exist, closing
/// its connections. For `Drop` impls: a failure is ignored rather than
/// turned into a second panic while a failed test unwinds.
pub fn drop_database(cloud: &LocalCloud, name: &str) {
    let _ = std::panic::catch_unwind(|| {
        cloud.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        cloud.psql("postgres", &format!("DROP ROLE IF EXISTS {name}_app"));
    });
}
