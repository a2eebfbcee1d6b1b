//! How to reach the database: SSH to the bastion, then a direct-tcpip channel
//! to the database endpoint, then PostgreSQL over TLS inside it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::postgres::{self, Connected, Login, TlsSettings};
use super::ssh::{SshSession, SshTarget};
use super::tls;
use crate::config::StackConfig;

/// How long a session that carried a cancel request stays open afterwards.
const CANCEL_DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The addresses and settings of one stack's database path.
#[derive(Clone)]
pub struct Route {
    pub ssh: SshTarget,
    pub database_host: String,
    pub database_port: u16,
    pub tls: TlsSettings,
}

impl Route {
    /// From the platform stack's outputs, with `[local]` replacing addresses.
    pub fn resolve(
        stack: &StackConfig,
        outputs: &BTreeMap<String, String>,
    ) -> anyhow::Result<Route> {
        let local = stack.local.clone().unwrap_or_default();
        let output = |key: &str| {
            outputs
                .get(key)
                .filter(|value| !value.is_empty())
                .cloned()
                .ok_or_else(|| {
                    crate::error::Failure::new(format!(
                        "the platform stack {} has no output {key}",
                        stack.platform_stack_name()
                    ))
                    .hint(format!("run `stackup create-stack {}`", stack.name))
                })
        };
        let (bastion_host, bastion_port) = match &local.bastion {
            Some(address) => (address.host.clone(), address.port),
            None => (output("BastionPublicIp")?, 22),
        };
        let (database_host, database_port) = match &local.database {
            Some(address) => (address.host.clone(), address.port),
            None => {
                let port = output("DatabaseEndpointPort")?;
                (
                    output("DatabaseEndpointAddress")?,
                    port.parse().map_err(|_| {
                        anyhow::anyhow!("DatabaseEndpointPort {port} is not a port")
                    })?,
                )
            }
        };
        let ca_file = stack
            .database
            .ca_file
            .as_ref()
            .map(|path| stack.resolve(path));
        let config = tls::client_config(stack.database.sslmode, ca_file.as_deref())?;
        Ok(Route {
            ssh: SshTarget {
                host: bastion_host,
                port: bastion_port,
                user: local
                    .ssh_user
                    .clone()
                    .unwrap_or_else(|| stack.ssh.user.clone()),
                identity: stack.ssh.identity.as_ref().map(|path| stack.resolve(path)),
                known_hosts: stack.resolve(&stack.ssh.known_hosts),
            },
            tls: TlsSettings {
                config: Arc::new(config),
                server_name: database_host.clone(),
            },
            database_host,
            database_port,
        })
    }
}

/// An open SSH session to the bastion, from which database connections are made.
pub struct Tunnel {
    pub route: Route,
    session: SshSession,
}

impl Tunnel {
    pub async fn open(route: Route) -> anyhow::Result<Tunnel> {
        let session = SshSession::connect(&route.ssh).await?;
        Ok(Tunnel { route, session })
    }

    /// A new PostgreSQL connection over a new channel of the session.
    pub async fn connect(&self, login: &Login) -> anyhow::Result<Connected> {
        let stream = self
            .session
            .open_tcp(&self.route.database_host, self.route.database_port)
            .await?;
        postgres::connect(stream, &self.route.tls, login).await
    }

    /// A stream to the database port (for `stackup tunnel`).
    pub async fn open_stream(&self) -> anyhow::Result<russh::ChannelStream<russh::client::Msg>> {
        self.session
            .open_tcp(&self.route.database_host, self.route.database_port)
            .await
    }

    pub fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    /// Cancel a running query on the server: over this session if it is alive,
    /// otherwise over a fresh one (the link that carried the query is dead).
    pub async fn cancel(&self, token: &tokio_postgres::CancelToken) -> anyhow::Result<()> {
        if !self.session.is_closed() {
            tracing::debug!("cancelling over the current SSH session");
            if let Ok(stream) = self.open_stream().await {
                return postgres::cancel(token, stream, &self.route.tls).await;
            }
        }
        tracing::debug!("cancelling over a fresh SSH session");
        let fresh = SshSession::connect(&self.route.ssh).await?;
        let stream = fresh
            .open_tcp(&self.route.database_host, self.route.database_port)
            .await?;
        let result = postgres::cancel(token, stream, &self.route.tls).await;
        tracing::debug!(?result, "cancel request sent");
        // The cancel request is only written to the channel: give sshd time to
        // forward it before the session goes, or the server never sees it.
        tokio::time::sleep(CANCEL_DRAIN).await;
        fresh.close().await;
        result
    }

    pub async fn close(self) {
        self.session.close().await;
    }
}
