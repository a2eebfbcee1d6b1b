//! SSH to the bastion, in process (russh): no `ssh` binary needed.
//!
//! The bastion's host key is checked against known_hosts by
//! [`super::known_hosts`]; an unknown, changed or revoked key is refused with its
//! fingerprint and the exact way to accept it on purpose. Authentication uses
//! the stack file's key file, or else the SSH agent. Keepalives, TCP nodelay
//! and a timeout on every wait make a dead or frozen link fail fast
//! (notes/ssh-tunnel.md, traps 2 and 4).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::ChannelStream;

use crate::error::Failure;

use super::known_hosts::{self, Verdict};

/// Limits on every network wait.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
pub const CHANNEL_TIMEOUT: Duration = Duration::from_secs(15);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Keepalives without answer before the link counts as dead (~15 s).
const KEEPALIVE_MAX: usize = 3;
/// Read buffer of the bastion's socket: room for a whole packet of the
/// largest size russh accepts by default (32 KiB) and then some.
const READ_BUFFER: usize = 64 * 1024;

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// A private key file; `None` means the SSH agent.
    pub identity: Option<PathBuf>,
    pub known_hosts: PathBuf,
}

impl std::fmt::Display for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Why a host key was refused.
#[derive(Debug)]
pub struct HostKeyRefused {
    pub message: String,
}

impl std::fmt::Display for HostKeyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HostKeyRefused {}

struct Verifier {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    refusal: Arc<Mutex<Option<String>>>,
}

impl Verifier {
    fn verify(&self, key: &PublicKey) -> Result<(), String> {
        let algorithm = key.algorithm().as_str().to_string();
        let openssh = key
            .to_openssh()
            .map_err(|error| format!("cannot encode the host key: {error}"))?;
        let blob = openssh
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let name = known_hosts::lookup_name(&self.host, self.port);
        let file = self.known_hosts.display();
        let verdict =
            known_hosts::check_file(&self.known_hosts, &self.host, self.port, &algorithm, &blob)
                .map_err(|error| format!("cannot read {file}: {error}"))?;
        let accept_line = format!("{name} {algorithm} {blob}");
        match verdict {
            Verdict::Known => Ok(()),
            Verdict::Unknown => Err(format!(
                "the host key of {name} is not in {file}: it presented {algorithm} {fingerprint}.\n\
                 If that fingerprint is the bastion's (compare it with the instance's console output), accept it by adding this line to {file}:\n  {accept_line}"
            )),
            Verdict::Changed { line } => Err(format!(
                "the host key of {name} has CHANGED: {file} line {line} holds another {algorithm} key, and the server presented {fingerprint}.\n\
                 This may be an attack, or a replaced bastion. Only if the bastion was replaced on purpose, remove line {line} and add:\n  {accept_line}"
            )),
            Verdict::Revoked { line } => Err(format!(
                "the host key of {name} ({algorithm} {fingerprint}) is revoked in {file} line {line}; refusing to connect"
            )),
        }
    }
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let outcome = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verify(key),
            PublicKeyOrCertificate::Certificate(_) => {
                Err("the server presented a host certificate; stackup only accepts plain host keys listed in known_hosts".to_string())
            }
        };
        match outcome {
            Ok(()) => Ok(true),
            Err(message) => {
                *self
                    .refusal
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(message);
                Ok(false)
            }
        }
    }
}

/// An authenticated SSH session to the bastion.
pub struct SshSession {
    handle: Handle<Verifier>,
    pub target: SshTarget,
}

fn client_config() -> Arc<client::Config> {
    // No `nodelay` here: it only applies to russh's own `connect`, and
    // `connect` below opens the socket itself (and sets it).
    Arc::new(client::Config {
        keepalive_interval: Some(KEEPALIVE_INTERVAL),
        keepalive_max: KEEPALIVE_MAX,
        ..Default::default()
    })
}

impl SshSession {
    /// A second session to `target`, carried by a channel of this one (the
    /// bastion opens the TCP connection to the inner host's SSH port). The
    /// inner host's key is checked against known_hosts the same way.
    pub async fn connect_through(&self, target: &SshTarget) -> anyhow::Result<SshSession> {
        let stream = self
            .open_channel(&target.host, target.port)
            .await?
            .map_err(|error| {
                anyhow::Error::new(
                    Failure::new(format!(
                        "the bastion could not reach the host {}:{}: {error}",
                        target.host, target.port
                    ))
                    .hint("check that the host is running and that its security group admits SSH from the bastion"),
                )
            })?;
        Self::establish(target, "host", |verifier| {
            client::connect_stream(client_config(), stream, verifier)
        })
        .await
    }

    /// Connect over TCP, check the host key, authenticate.
    pub async fn connect(target: &SshTarget) -> anyhow::Result<SshSession> {
        let address = (target.host.clone(), target.port);
        Self::establish(target, "bastion", |verifier| async move {
            let socket = tokio::net::TcpStream::connect(address).await?;
            socket.set_nodelay(true)?;
            // russh reads each packet with two exact reads straight from the
            // socket (its length, then the rest), and as the second one fills
            // its buffer the next read is tried too and fails with EAGAIN:
            // three recvfrom per packet, on the path of every answer.
            // Buffered, one recvfrom takes the whole packet; strace -c of
            // 2000 `SELECT 1` through `stackup tunnel`: 4.04 recvfrom per
            // query before, 2.02 after (the same as a bare TCP forwarder).
            let socket = tokio::io::BufReader::with_capacity(READ_BUFFER, socket);
            client::connect_stream(client_config(), socket, verifier).await
        })
        .await
    }

    /// `role` (bastion, host) names the machine in messages.
    async fn establish<F, Fut>(
        target: &SshTarget,
        role: &str,
        connect: F,
    ) -> anyhow::Result<SshSession>
    where
        F: FnOnce(Verifier) -> Fut,
        Fut: std::future::Future<Output = Result<Handle<Verifier>, russh::Error>>,
    {
        let refusal = Arc::new(Mutex::new(None));
        let verifier = Verifier {
            host: target.host.clone(),
            port: target.port,
            known_hosts: target.known_hosts.clone(),
            refusal: refusal.clone(),
        };
        let handle = match tokio::time::timeout(CONNECT_TIMEOUT, connect(verifier)).await {
            Err(_) => {
                return Err(Failure::new(format!(
                    "SSH to {target} did not answer within {}s",
                    CONNECT_TIMEOUT.as_secs()
                ))
                .hint("check the address, the security group (bastion_ingress) and your network")
                .into())
            }
            Ok(Err(error)) => {
                if let Some(message) = refusal
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .take()
                {
                    return Err(HostKeyRefused { message }.into());
                }
                let group = if role == "bastion" {
                    "the security group (bastion_ingress)"
                } else {
                    "its security group"
                };
                return Err(Failure::new(format!(
                    "cannot reach the {role} {target} over SSH: {error}"
                ))
                .hint(format!(
                    "check the address, that the {role} is running, {group} and your network"
                ))
                .into());
            }
            Ok(Ok(handle)) => handle,
        };
        let mut session = SshSession {
            handle,
            target: target.clone(),
        };
        tokio::time::timeout(CONNECT_TIMEOUT, session.authenticate())
            .await
            .map_err(|_| anyhow::anyhow!("SSH authentication to {target} timed out"))??;
        Ok(session)
    }

    async fn authenticate(&mut self) -> anyhow::Result<()> {
        let target = self.target.clone();
        match &target.identity {
            Some(path) => self.authenticate_with_file(path).await,
            None => self.authenticate_with_agent().await,
        }
    }

    async fn authenticate_with_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let key = russh::keys::load_secret_key(path, None).map_err(|error| {
            anyhow::Error::new(
                Failure::new(format!("cannot use the SSH key {}: {error}", path.display())).hint(
                    format!(
                        "if it has a passphrase, add it to your agent (`ssh-add {}`) and remove `identity` from [ssh] so stackup uses the agent",
                        path.display()
                    ),
                ),
            )
        })?;
        let hash = self.rsa_hash(key.algorithm().is_rsa()).await?;
        let result = self
            .handle
            .authenticate_publickey(
                &self.target.user,
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await?;
        if !result.success() {
            return Err(Failure::new(format!(
                "the bastion refused the key {} for user {}",
                path.display(),
                self.target.user
            ))
            .hint(
                "check [ssh] user and that the key's public half is in the user's authorized_keys",
            )
            .into());
        }
        Ok(())
    }

    async fn authenticate_with_agent(&mut self) -> anyhow::Result<()> {
        let mut agent = russh::keys::agent::client::AgentClient::connect_env().await.map_err(|error| {
            anyhow::Error::new(
                Failure::new(format!(
                    "no SSH key: [ssh] has no `identity` and the SSH agent is not reachable ({error})"
                ))
                .hint("start an agent with your key (`ssh-add`) or set identity = \"~/.ssh/id_ed25519\""),
            )
        })?;
        let identities = agent.request_identities().await?;
        for identity in identities {
            let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = identity else {
                continue;
            };
            let hash = self.rsa_hash(key.algorithm().is_rsa()).await?;
            if let Ok(result) = self
                .handle
                .authenticate_publickey_with(&self.target.user, key, hash, &mut agent)
                .await
            {
                if result.success() {
                    return Ok(());
                }
            }
        }
        Err(Failure::new(format!(
            "the bastion accepted none of the SSH agent's keys for user {}",
            self.target.user
        ))
        .hint("add the right key with `ssh-add`, or set identity in [ssh]")
        .into())
    }

    async fn rsa_hash(&self, is_rsa: bool) -> anyhow::Result<Option<HashAlg>> {
        if !is_rsa {
            return Ok(None);
        }
        Ok(self.handle.best_supported_rsa_hash().await?.flatten())
    }

    /// A TCP connection from the bastion to `host:port`, as a stream.
    pub async fn open_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> anyhow::Result<ChannelStream<client::Msg>> {
        let channel = self.open_channel(host, port).await?.map_err(|error| {
            anyhow::Error::new(
                Failure::new(format!(
                    "the bastion could not reach {host}:{port}: {error}"
                ))
                .hint("check that the database security group admits the bastion"),
            )
        })?;
        Ok(channel)
    }

    /// A direct-tcpip channel from the bastion to `host:port`: the outer error
    /// is a timeout, the inner one the bastion's refusal.
    async fn open_channel(
        &self,
        host: &str,
        port: u16,
    ) -> anyhow::Result<Result<ChannelStream<client::Msg>, russh::Error>> {
        let opening = self
            .handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0);
        let channel = tokio::time::timeout(CHANNEL_TIMEOUT, opening)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the bastion did not open a connection to {host}:{port} within {}s",
                    CHANNEL_TIMEOUT.as_secs()
                )
            })?;
        Ok(channel.map(|channel| channel.into_stream()))
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Run `command` on the host, with a PTY of `pty` = (term, columns, rows)
    /// when given. The returned channel carries its output and exit status.
    pub async fn exec(
        &self,
        command: &str,
        pty: Option<(&str, u32, u32)>,
    ) -> anyhow::Result<russh::Channel<client::Msg>> {
        let channel = tokio::time::timeout(CHANNEL_TIMEOUT, self.handle.channel_open_session())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "{} did not open a session within {}s",
                    self.target,
                    CHANNEL_TIMEOUT.as_secs()
                )
            })??;
        if let Some((term, columns, rows)) = pty {
            channel
                .request_pty(true, term, columns, rows, 0, 0, &[])
                .await?;
        }
        channel.exec(true, command).await?;
        Ok(channel)
    }

    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "done", "en")
            .await;
    }
}
