//! PostgreSQL connections over any stream (an SSH channel), always over TLS.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::SslMode as WireSslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{CancelToken, Client};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::secret::Secret;

/// A connection may take this long to set up (TLS and authentication included).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Who connects to which database.
#[derive(Clone, Debug)]
pub struct Login {
    pub user: String,
    pub password: Secret,
    pub database: String,
}

/// A connected client and the token to cancel its running query.
pub struct Connected {
    pub client: Client,
    pub cancel: CancelToken,
}

/// TLS settings and the name the server's certificate must carry.
#[derive(Clone)]
pub struct TlsSettings {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: String,
}

fn connector<S>(
    tls: &TlsSettings,
) -> anyhow::Result<<MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect>
where
    MakeRustlsConnect: MakeTlsConnect<S>,
    <MakeRustlsConnect as MakeTlsConnect<S>>::Error: std::fmt::Display,
{
    let mut make = MakeRustlsConnect::new((*tls.config).clone());
    MakeTlsConnect::<S>::make_tls_connect(&mut make, &tls.server_name)
        .map_err(|error| anyhow::anyhow!("TLS set-up for {}: {error}", tls.server_name))
}

/// Connect over `stream`. TLS is required: a server that does not offer it is refused.
pub async fn connect<S>(stream: S, tls: &TlsSettings, login: &Login) -> anyhow::Result<Connected>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut config = tokio_postgres::Config::new();
    config
        .user(&login.user)
        .password(login.password.expose())
        .dbname(&login.database)
        .application_name("stackup")
        .ssl_mode(WireSslMode::Require);
    let connecting = config.connect_raw(stream, connector::<S>(tls)?);
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "PostgreSQL at {} did not complete TLS and login within {}s",
                tls.server_name,
                CONNECT_TIMEOUT.as_secs()
            )
        })?
        .map_err(|error| explain_connect_error(&error, tls, login))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "database connection ended");
        }
    });
    let cancel = client.cancel_token();
    Ok(Connected { client, cancel })
}

fn explain_connect_error(
    error: &tokio_postgres::Error,
    tls: &TlsSettings,
    login: &Login,
) -> anyhow::Error {
    let text = error.to_string();
    let detail = error
        .as_db_error()
        .map(|db| db.message().to_string())
        .unwrap_or_else(|| format!("{text} ({error:?})"));
    if text.contains("TLS") || text.contains("tls") || format!("{error:?}").contains("Tls") {
        return crate::error::Failure::new(format!(
            "refusing to talk to PostgreSQL at {} without working TLS: {detail}. stackup never sends credentials in clear",
            tls.server_name
        ))
        .hint("check sslmode and ca_file in [database]")
        .into();
    }
    anyhow::anyhow!(
        "PostgreSQL refused {} on database {}: {detail}",
        login.user,
        login.database
    )
}

/// Cancel the query behind `token`, over a fresh stream.
pub async fn cancel<S>(token: &CancelToken, stream: S, tls: &TlsSettings) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        token.cancel_query_raw(stream, connector::<S>(tls)?),
    )
    .await
    .map_err(|_| anyhow::anyhow!("cancelling the query timed out"))??;
    Ok(())
}
