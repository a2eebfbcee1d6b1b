//! Stack files: `stacks/<STACK>.toml` (README, "Stack files"). Load, validate, resolve.
//!
//! Loading reads the whole file and reports every problem it finds, each with
//! the file, key, line and fix, as one [`InputError`] (exit 2) before any AWS
//! call. Paths in a stack file are relative to `--config-dir`.

mod reader;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::error::{InputError, Problem};
use crate::network;
use reader::{Diagnostics, Found, Source, TableReader};

pub use reader::Span;

/// What a stack file says, checked and resolved.
#[derive(Clone, Debug, Serialize)]
pub struct StackConfig {
    /// The `<STACK>` argument: the file's name without `.toml`.
    pub name: String,
    /// The stack file, as given (for messages).
    pub file: PathBuf,
    /// `--config-dir`, against which relative paths are resolved.
    pub config_dir: PathBuf,
    pub app: String,
    pub environment: String,
    pub version: u32,
    pub region: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub network: NetworkConfig,
    pub upstream: BTreeMap<String, String>,
    /// The line of each `[upstream]` key in the stack file, for messages.
    #[serde(skip)]
    pub upstream_lines: BTreeMap<String, usize>,
    pub database: DatabaseConfig,
    pub cluster: ClusterConfig,
    pub bastion: BastionConfig,
    pub load_balancer: LoadBalancerConfig,
    pub logs: LogsConfig,
    pub deploy: DeployConfig,
    pub services: BTreeMap<String, ServiceConfig>,
    pub ssh: SshConfig,
    pub templates: TemplateFiles,
    pub local: Option<LocalConfig>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NetworkConfig {
    pub cidr: Ipv4Net,
    pub availability_zones: AvailabilityZones,
    pub nat: NatMode,
    pub bastion_ingress: Vec<Ipv4Net>,
    pub s3_endpoint: bool,
}

/// How many AZs to use, or exactly which.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AvailabilityZones {
    /// The first N available AZs of the region, in order.
    Count(usize),
    Named(Vec<String>),
}

impl AvailabilityZones {
    pub fn count(&self) -> usize {
        match self {
            AvailabilityZones::Count(count) => *count,
            AvailabilityZones::Named(names) => names.len(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatMode {
    None,
    Single,
    PerAz,
}

impl NatMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NatMode::None => "none",
            NatMode::Single => "single",
            NatMode::PerAz => "per-az",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DatabaseConfig {
    pub name: String,
    pub master_user: String,
    /// The application role; owns the database and nothing more.
    pub app_user: String,
    pub encoding: String,
    pub collation: String,
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage: u32,
    /// Storage autoscaling's ceiling in GiB (RDS MaxAllocatedStorage); `None`
    /// leaves autoscaling off.
    pub max_allocated_storage: Option<u32>,
    /// Days of automated backups (1-35).
    pub backup_retention_days: u32,
    pub multi_az: bool,
    pub deletion_protection: bool,
    pub migrations: Option<PathBuf>,
    pub seeds: Option<PathBuf>,
    pub sslmode: SslMode,
    pub ca_file: Option<PathBuf>,
}

impl DatabaseConfig {
    /// The RDS parameter group family, for example `postgres16`.
    pub fn parameter_family(&self) -> String {
        let major = self.engine_version.split('.').next().unwrap_or_default();
        format!("postgres{major}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// TLS required, certificate not checked.
    Require,
    /// TLS required, certificate checked against `ca_file` and the host name.
    VerifyFull,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterConfig {
    pub instance_type: String,
    pub hosts: u32,
    pub max_hosts: u32,
    /// The Erlang distribution ports (inclusive): open between tasks in the
    /// app security group, and the range the VM listens in (the entrypoint
    /// sets `inet_dist_listen_min/max` from `{{service.distribution_ports}}`).
    pub distribution_ports: (u16, u16),
}

/// Where Erlang distribution listens unless `[cluster] distribution_ports` says.
pub const DEFAULT_DISTRIBUTION_PORTS: (u16, u16) = (9100, 9155);
/// EPMD's port, open between tasks beside the distribution range.
pub const EPMD_PORT: u16 = 4369;

#[derive(Clone, Debug, Serialize)]
pub struct BastionConfig {
    pub instance_type: String,
    /// An EC2 key pair for the bastion; empty when keys come another way.
    pub key_name: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LoadBalancerConfig {
    /// The container port the load balancer forwards to.
    pub port: u16,
    pub health_check_path: String,
    /// The answers that count as healthy (ELBv2 Matcher HttpCode: codes and
    /// ranges, 200-499). A redirect is no proof of health: default `200`.
    pub healthy_codes: String,
    /// An ACM certificate for HTTPS on 443; with it, HTTP on 80 redirects.
    pub certificate_arn: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogsConfig {
    pub retention_days: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeployConfig {
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
}

mod humantime_serde_compat {
    pub fn serialize<S: serde::Serializer>(
        duration: &std::time::Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*duration).to_string())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CookieMode {
    /// One cookie for every release of the stack.
    Stack,
    /// A new cookie per release: two revisions never join each other's cluster.
    Release,
}

/// How a task's Erlang node is named (`node_name`), as the entrypoint and
/// stackup both derive it (src/release/node_name.rs, scripts/ecs-entrypoint.sh).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeNameMode {
    /// `<basename>@<task IP>`: what libcluster's DNSPoll and Phoenix's
    /// DNSCluster build for every address a DNS name answers.
    Ip,
    /// `<basename>-r<revision>@<task IP>`: one basename per task definition
    /// revision (per release), so a DNS strategy joins only nodes of one release.
    Release,
    /// `<basename>-<task id>@<task IP>`: for strategies that pass full names.
    Task,
}

impl NodeNameMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeNameMode::Ip => "ip",
            NodeNameMode::Release => "release",
            NodeNameMode::Task => "task",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceConfig {
    pub name: String,
    pub task_definition: PathBuf,
    pub service_definition: PathBuf,
    pub desired_count: u32,
    pub node_basename: String,
    pub node_name: NodeNameMode,
    pub cookie: CookieMode,
    pub console_command: String,
    pub eval_command: String,
}

/// The default console: a remote shell attached to the node running in the
/// container. `docker exec` starts a new process, which never saw what the
/// entrypoint exported: the node's name and distribution mode are passed in.
/// `{tty}` is `-it` when stackup has a terminal, `-i` otherwise.
pub const DEFAULT_CONSOLE_COMMAND: &str =
    "docker exec {tty} -e RELEASE_NODE={node} -e RELEASE_DISTRIBUTION=name {container} bin/{app} remote";
/// The default of `console --eval`: one expression on the node (`{expr}` is
/// the expression, shell-quoted, its value printed with IO.inspect).
pub const DEFAULT_EVAL_COMMAND: &str =
    "docker exec -e RELEASE_NODE={node} -e RELEASE_DISTRIBUTION=name {container} bin/{app} rpc {expr}";
/// Placeholders a console command (`console_command`, `--command`) may use.
pub const CONSOLE_PLACEHOLDERS: &[&str] = &["container", "node", "app", "tty"];
/// Placeholders `eval_command` may use.
pub const EVAL_PLACEHOLDERS: &[&str] = &["container", "node", "app", "expr"];

#[derive(Clone, Debug, Serialize)]
pub struct SshConfig {
    pub user: String,
    /// A private key file; `None` means the SSH agent.
    pub identity: Option<PathBuf>,
    pub known_hosts: PathBuf,
}

/// CloudFormation templates: the built-in ones unless the stack file names its own.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TemplateFiles {
    pub network: Option<PathBuf>,
    pub platform: Option<PathBuf>,
}

/// `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// `[local]`: addresses of the local cloud that replace what AWS would report,
/// and the local cloud's own key, known hosts and database CA, which replace
/// `[ssh] identity`, `[ssh] known_hosts` and `[database] ca_file`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LocalConfig {
    pub endpoint_url: Option<String>,
    pub bastion: Option<HostPort>,
    pub database: Option<HostPort>,
    pub hosts: Option<HostPort>,
    pub ssh_user: Option<String>,
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

impl LocalConfig {
    /// This table, with what it leaves out taken from `other`.
    fn or(self, other: LocalConfig) -> LocalConfig {
        LocalConfig {
            endpoint_url: self.endpoint_url.or(other.endpoint_url),
            bastion: self.bastion.or(other.bastion),
            database: self.database.or(other.database),
            hosts: self.hosts.or(other.hosts),
            ssh_user: self.ssh_user.or(other.ssh_user),
            identity: self.identity.or(other.identity),
            known_hosts: self.known_hosts.or(other.known_hosts),
            ca_file: self.ca_file.or(other.ca_file),
        }
    }
}

/// The environment variable naming a file whose `[local]` table applies to
/// every stack file (`scripts/local-cloud env` sets it): any stack runs on
/// the local cloud without a `[local]` table of its own. A key of the stack
/// file's own `[local]` wins.
pub const LOCAL_CLOUD_VARIABLE: &str = "STACKUP_LOCAL_CLOUD";

impl StackConfig {
    /// `<app>-<environment>-v<version>`: the prefix of every name of this stack.
    pub fn stack_id(&self) -> String {
        format!("{}-{}-v{}", self.app, self.environment, self.version)
    }

    pub fn network_stack_name(&self) -> String {
        format!("{}-network", self.stack_id())
    }

    pub fn platform_stack_name(&self) -> String {
        format!("{}-platform", self.stack_id())
    }

    /// The SSM prefix that holds this stack's parameters, ending in `/`.
    pub fn parameter_prefix(&self) -> String {
        format!("/stackup/{}/", self.stack_id())
    }

    /// The SSM parameter `{{parameter.<path>}}` names: `path` under the prefix.
    pub fn parameter_name(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.parameter_prefix(),
            path.trim_start_matches('/')
        )
    }

    /// The service `--service NAME` names, or the problem saying which exist.
    pub fn service_named(&self, name: &str) -> Result<&ServiceConfig, Problem> {
        self.services.get(name).ok_or_else(|| {
            Problem::new(format!("--service {name}: the stack has no such service"))
                .in_file(&self.file)
                .fix(format!("services: {}", self.service_names()))
        })
    }

    /// The services' names, as a list to read.
    pub fn service_names(&self) -> String {
        self.services.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    // Every SSM parameter stackup names, in one place.

    /// The database master password (SecureString), made by create-stack.
    pub fn master_password_parameter(&self) -> String {
        self.parameter_name("database/master-password")
    }

    /// The application role's password (SecureString), made by update-resources.
    pub fn app_password_parameter(&self) -> String {
        self.parameter_name("database/app-password")
    }

    /// A service's release history: one String parameter whose versions are
    /// the records.
    pub fn release_record_parameter(&self, service: &str) -> String {
        self.parameter_name(&format!("releases/{service}"))
    }

    /// The Erlang cookie (SecureString): one per stack, or one per release.
    pub fn cookie_parameter(&self, mode: CookieMode, release: &str) -> String {
        match mode {
            CookieMode::Stack => self.parameter_name("cookie"),
            CookieMode::Release => self.parameter_name(&format!("cookies/{release}")),
        }
    }

    /// A path from the stack file, resolved against `--config-dir`.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        resolve_path(&self.config_dir, path)
    }
}

fn resolve_path(config_dir: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_dir.join(path)
    }
}

/// The stack file for `<STACK>` under `config_dir`.
pub fn stack_file_path(config_dir: &Path, stack: &str) -> Result<PathBuf, InputError> {
    let valid = stack
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric())
        && stack
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !stack.contains("..");
    if !valid {
        return Err(InputError::one(
            Problem::new(format!("`{stack}` is not a stack name"))
                .fix("give the name of a file in stacks/ without `.toml`, for example `stackup validate local`"),
        ));
    }
    Ok(config_dir.join("stacks").join(format!("{stack}.toml")))
}

/// Load and check `stacks/<STACK>.toml`, reporting every problem at once.
pub fn load(config_dir: &Path, stack: &str) -> Result<StackConfig, InputError> {
    let salvaged = load_salvaged(config_dir, stack)?;
    match salvaged.stack {
        Some(config) if salvaged.problems.is_empty() => Ok(config),
        _ => Err(InputError::new(salvaged.problems)),
    }
}

/// The stack file with its problems and what could be read of it; an error
/// only when there is nothing to read (no file, not TOML).
pub fn load_salvaged(config_dir: &Path, stack: &str) -> Result<Salvaged, InputError> {
    let path = stack_file_path(config_dir, stack)?;
    let display_path = display_path(config_dir, &path);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let available = list_stacks(config_dir);
            let fix = if available.is_empty() {
                format!(
                    "create {} (see stacks/example.toml in the stackup repository), or pass --config-dir",
                    display_path.display()
                )
            } else {
                format!("stacks here: {}", available.join(", "))
            };
            return Err(InputError::one(
                Problem::new(format!(
                    "stack file {} does not exist",
                    display_path.display()
                ))
                .fix(fix),
            ));
        }
        Err(error) => {
            return Err(InputError::one(Problem::new(format!(
                "cannot read stack file {}: {error}",
                display_path.display()
            ))))
        }
    };
    let source = Source { display_path, text };
    let overlay = match std::env::var_os(LOCAL_CLOUD_VARIABLE).filter(|file| !file.is_empty()) {
        Some(file) => Some(read_local_cloud_file(Path::new(&file))?),
        None => None,
    };
    // The local cloud's CA stands in for the stack's: verify-full needs no
    // ca_file of its own then.
    let local_ca = overlay
        .as_ref()
        .is_some_and(|local| local.ca_file.is_some());
    let Salvaged {
        stack: config,
        problems,
    } = parse(&source, stack, config_dir, local_ca)?;
    let Some(mut config) = config else {
        return Ok(Salvaged {
            stack: None,
            problems,
        });
    };
    if let Some(overlay) = overlay {
        let own = config.local.take().unwrap_or_default();
        config.local = Some(own.or(overlay));
    }
    if let Some(local) = &config.local {
        if let Some(identity) = &local.identity {
            config.ssh.identity = Some(identity.clone());
        }
        if let Some(known_hosts) = &local.known_hosts {
            config.ssh.known_hosts = known_hosts.clone();
        }
        if let Some(ca_file) = &local.ca_file {
            config.database.ca_file = Some(ca_file.clone());
        }
    }
    Ok(Salvaged {
        stack: Some(config),
        problems,
    })
}

/// The `[local]` table of the file [`LOCAL_CLOUD_VARIABLE`] names; relative
/// paths in it are relative to that file.
fn read_local_cloud_file(file: &Path) -> Result<LocalConfig, InputError> {
    let text = std::fs::read_to_string(file).map_err(|error| {
        InputError::one(
            Problem::new(format!(
                "{LOCAL_CLOUD_VARIABLE}={}: cannot read it: {error}",
                file.display()
            ))
            .fix(format!(
                "start the local cloud (`scripts/local-cloud up`) and run `eval \"$(scripts/local-cloud env)\"` again, or unset {LOCAL_CLOUD_VARIABLE}"
            )),
        )
    })?;
    let source = Source {
        display_path: file.to_path_buf(),
        text,
    };
    let document = toml::de::DeTable::parse(&source.text).map_err(|error| {
        let line = error.span().map(|span| source.line_of(span.start));
        InputError::one(toml_problem(
            error.message(),
            error.span().and_then(|span| source.text.get(span)),
            &source.display_path,
            line,
        ))
    })?;
    let diagnostics = Diagnostics::new(&source);
    let root = TableReader::root(&diagnostics, &document);
    let base = file.parent().unwrap_or(Path::new("."));
    let local = read_local(&root, base);
    root.finish();
    if diagnostics.has_problems() {
        return Err(InputError::new(diagnostics.into_problems()));
    }
    Ok(local.unwrap_or_default())
}

/// Stack names found in `config_dir/stacks`.
pub fn list_stacks(config_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(config_dir.join("stacks"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".toml").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A path as the user would type it from where they run stackup.
pub fn display_path(config_dir: &Path, path: &Path) -> PathBuf {
    if config_dir == Path::new(".") {
        path.strip_prefix(".").unwrap_or(path).to_path_buf()
    } else {
        path.to_path_buf()
    }
}

/// A stack file read as far as it goes: its problems, and the stack with every
/// key in trouble left at its default (`None` when a required key is missing
/// or wrong). Only `validate` and the template checks look at a stack with
/// problems; nothing is deployed from one.
pub struct Salvaged {
    pub stack: Option<StackConfig>,
    pub problems: Vec<Problem>,
}

fn parse(
    source: &Source,
    stack: &str,
    config_dir: &Path,
    local_ca: bool,
) -> Result<Salvaged, InputError> {
    let document = match toml::de::DeTable::parse(&source.text) {
        Ok(document) => document,
        Err(error) => {
            let line = error.span().map(|span| source.line_of(span.start));
            return Err(InputError::one(toml_problem(
                error.message(),
                error.span().and_then(|span| source.text.get(span)),
                &source.display_path,
                line,
            )));
        }
    };
    let diagnostics = Diagnostics::new(source);
    let root = TableReader::root(&diagnostics, &document);
    let mut config = read_stack(&root, stack, config_dir, local_ca);
    root.finish();
    let problems = diagnostics.into_problems();
    if problems.is_empty() {
        return match config {
            Some(config) => Ok(Salvaged {
                stack: Some(config),
                problems,
            }),
            None => Err(InputError::one(
                Problem::new("could not be read").in_file(&source.display_path),
            )),
        };
    }
    // Read again with the keys in trouble set aside (reader.rs), so the
    // templates can be checked in the same run; a missing required key
    // leaves nothing to check them against.
    if config.is_none() {
        let again = Diagnostics::setting_aside(source, &problems);
        let root = TableReader::root(&again, &document);
        config = read_stack(&root, stack, config_dir, local_ca);
        if let Some(config) = &mut config {
            // A template path set aside would send the checks to a default
            // file the user never named.
            config.services.retain(|name, _| {
                !problems.iter().any(|problem| {
                    problem.key.as_deref().is_some_and(|key| {
                        [
                            format!("services.{name}.task_definition"),
                            format!("services.{name}.service_definition"),
                        ]
                        .contains(&key.to_string())
                    })
                })
            });
        }
    }
    Ok(Salvaged {
        stack: config,
        problems,
    })
}

/// A TOML syntax error as a problem. `at` is the text the error points at:
/// for a duplicate key, the key, which toml's message leaves out.
fn toml_problem(message: &str, at: Option<&str>, file: &Path, line: Option<usize>) -> Problem {
    let message = message.trim();
    let duplicate = at
        .map(str::trim)
        .filter(|key| message == "duplicate key" && !key.is_empty() && !key.contains('\n'));
    match duplicate {
        Some(key) => Problem::new(format!("is not valid TOML: duplicate key `{key}`"))
            .in_file(file)
            .at_line(line)
            .fix(format!(
                "a key may appear only once in its table: remove one `{key}`, or merge the two"
            )),
        None => Problem::new(format!("is not valid TOML: {message}"))
            .in_file(file)
            .at_line(line)
            .fix("correct the syntax at that line (https://toml.io)"),
    }
}

/// `[a-z][a-z0-9-]*`, the shape of names that become parts of AWS names.
pub fn is_resource_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn read_name(
    table: &TableReader,
    key: &'static str,
    example: &str,
    max_len: usize,
    required: bool,
) -> Option<String> {
    let found = if required {
        table.required_string(key, example)?
    } else {
        table.string(key, example)?
    };
    if !is_resource_name(&found.value) || found.value.len() > max_len {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            format!(
                "\"{}\" is not a valid name: use lowercase letters, digits and single hyphens, \
                 starting with a letter, at most {max_len} characters",
                found.value
            ),
            Some(format!("for example {key} = {example}")),
        );
        return None;
    }
    Some(found.value)
}

/// A PostgreSQL identifier stackup creates: lowercase, so it never needs quoting.
fn is_sql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

fn read_sql_identifier(
    table: &TableReader,
    key: &'static str,
    example: &str,
    reserved: &[&str],
) -> Option<Found<String>> {
    let found = table.string(key, example)?;
    if !is_sql_identifier(&found.value) {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            format!(
                "\"{}\" is not a PostgreSQL name stackup can use: lowercase letters, digits and \
                 underscores, starting with a letter or underscore, at most 63 characters",
                found.value
            ),
            Some(format!("for example {key} = {example}")),
        );
        return None;
    }
    if reserved.contains(&found.value.as_str()) {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            format!("\"{}\" is reserved by PostgreSQL or RDS", found.value),
            Some(format!(
                "choose another name, for example {key} = {example}"
            )),
        );
        return None;
    }
    Some(found)
}

fn read_cidr(table: &TableReader, key: String, found: &Found<String>) -> Option<Ipv4Net> {
    match found.value.parse::<Ipv4Net>() {
        Ok(cidr) if cidr.trunc() == cidr => Some(cidr),
        Ok(cidr) => {
            table.diagnostics().report(
                Some(&found.span),
                &key,
                format!("\"{cidr}\" is not a network address (host bits are set)"),
                Some(format!("write \"{}\"", cidr.trunc())),
            );
            None
        }
        Err(_) => {
            let fix = if found.value.parse::<std::net::Ipv4Addr>().is_ok() {
                format!(
                    "add a prefix length: \"{}/32\" for this one address",
                    found.value
                )
            } else {
                "write an IPv4 CIDR such as \"10.20.0.0/16\"".to_string()
            };
            table.diagnostics().report(
                Some(&found.span),
                &key,
                format!("\"{}\" is not an IPv4 CIDR", found.value),
                Some(fix),
            );
            None
        }
    }
}

/// A file the stack file names: must exist (as a file, or as a directory).
fn read_existing_path(
    table: &TableReader,
    key: &'static str,
    default: Option<&str>,
    config_dir: &Path,
    directory: bool,
) -> Option<PathBuf> {
    let example = default.unwrap_or(if directory {
        "\"scripts/db/migrations\""
    } else {
        "\"task-defs/web.json\""
    });
    let (relative, span) = match table.string(key, &format!("\"{}\"", example.trim_matches('"'))) {
        Some(found) => (PathBuf::from(found.value), Some(found.span)),
        None if table.has(key) => return None,
        None => (PathBuf::from(default?), None),
    };
    let resolved = resolve_path(config_dir, &relative);
    let ok = if directory {
        resolved.is_dir()
    } else {
        resolved.is_file()
    };
    if !ok {
        let what = if directory { "directory" } else { "file" };
        let message = if span.is_some() {
            format!("{what} {} does not exist", resolved.display())
        } else {
            format!("{what} {} (the default) does not exist", resolved.display())
        };
        table.diagnostics().report(
            span.as_ref().or(Some(table.span())),
            &table.key_path(key),
            message,
            Some(format!(
                "create it, or set {key} to its path relative to the config dir ({})",
                config_dir.display()
            )),
        );
        return None;
    }
    Some(relative)
}

fn read_host_port(table: &TableReader, key: &'static str) -> Option<HostPort> {
    let found = table.string(key, "\"127.0.0.1:2222\"")?;
    let parsed = found
        .value
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .filter(|(host, port)| !host.is_empty() && *port > 0);
    match parsed {
        Some((host, port)) => Some(HostPort {
            host: host.trim_matches(['[', ']']).to_string(),
            port,
        }),
        None => {
            table.diagnostics().report(
                Some(&found.span),
                &table.key_path(key),
                format!("\"{}\" is not host:port", found.value),
                Some(format!("write it as {key} = \"127.0.0.1:2222\"")),
            );
            None
        }
    }
}

fn read_choice<T: Copy>(
    table: &TableReader,
    key: &'static str,
    choices: &[(&str, T)],
    default: T,
) -> Option<T> {
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let example = format!("\"{}\"", names[0]);
    let Some(found) = table.string(key, &example) else {
        return if table.has(key) { None } else { Some(default) };
    };
    match choices.iter().find(|(name, _)| *name == found.value) {
        Some((_, value)) => Some(*value),
        None => {
            table.diagnostics().report(
                Some(&found.span),
                &table.key_path(key),
                format!("\"{}\" is not one of {}", found.value, names.join(", ")),
                Some(format!("write {key} = {example} (or another of those)")),
            );
            None
        }
    }
}

/// CloudWatch Logs accepts only these retention periods.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Server encodings PostgreSQL accepts for a database (client-only ones excluded).
const POSTGRES_ENCODINGS: &[&str] = &[
    "UTF8",
    "SQL_ASCII",
    "EUC_JP",
    "EUC_CN",
    "EUC_KR",
    "EUC_TW",
    "EUC_JIS_2004",
    "LATIN1",
    "LATIN2",
    "LATIN3",
    "LATIN4",
    "LATIN5",
    "LATIN6",
    "LATIN7",
    "LATIN8",
    "LATIN9",
    "LATIN10",
    "ISO_8859_5",
    "ISO_8859_6",
    "ISO_8859_7",
    "ISO_8859_8",
    "KOI8R",
    "KOI8U",
    "WIN866",
    "WIN874",
    "WIN1250",
    "WIN1251",
    "WIN1252",
    "WIN1253",
    "WIN1254",
    "WIN1255",
    "WIN1256",
    "WIN1257",
    "WIN1258",
    "MULE_INTERNAL",
];

fn read_stack(
    root: &TableReader,
    stack: &str,
    config_dir: &Path,
    local_ca: bool,
) -> Option<StackConfig> {
    let diagnostics = root.diagnostics();
    let app = read_name(root, "app", "\"demo\"", 24, true);
    let environment = read_name(root, "environment", "\"staging\"", 16, true);
    let version = match root.integer("version", 1..1000, "1") {
        Some(found) => Some(found.value as u32),
        None if root.has("version") => None,
        None => {
            root.missing("version", "1");
            None
        }
    };
    let region = root.string("region", "\"us-east-1\"").and_then(|found| {
        let valid = found.value.split('-').count() >= 3
            && found
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && found.value.ends_with(|c: char| c.is_ascii_digit());
        if valid {
            Some(found.value)
        } else {
            diagnostics.report(
                Some(&found.span),
                "region",
                format!("\"{}\" is not an AWS region name", found.value),
                Some("write it like region = \"eu-west-1\"".to_string()),
            );
            None
        }
    });

    let tags = read_tags(root);
    let network = read_network(root, region.as_deref());
    let upstream = read_upstream(root);
    let database = read_database(root, config_dir, local_ca);
    let cluster = read_cluster(root);
    let bastion = read_bastion(root);
    let load_balancer = read_load_balancer(
        root,
        cluster
            .as_ref()
            .map_or(DEFAULT_DISTRIBUTION_PORTS, |cluster| {
                cluster.distribution_ports
            }),
        region.as_deref(),
    );
    let logs = read_logs(root);
    let deploy = read_deploy(root);
    let services = read_services(root, config_dir);
    let ssh = read_ssh(root, config_dir);
    let templates = read_templates(root, config_dir);
    let local = read_local(root, config_dir);

    Some(StackConfig {
        name: stack.to_string(),
        file: diagnostics.source().display_path.clone(),
        config_dir: config_dir.to_path_buf(),
        app: app?,
        environment: environment?,
        version: version?,
        region,
        tags: tags?,
        network: network?,
        upstream_lines: upstream
            .as_ref()
            .map(|entries| {
                entries
                    .iter()
                    .map(|(key, (_, line))| (key.clone(), *line))
                    .collect()
            })
            .unwrap_or_default(),
        upstream: upstream.map(|entries| {
            entries
                .into_iter()
                .map(|(key, (stack_name, _))| (key, stack_name))
                .collect()
        })?,
        database: database?,
        cluster: cluster?,
        bastion: bastion?,
        load_balancer: load_balancer?,
        logs: logs?,
        deploy: deploy?,
        services: services?,
        ssh: ssh?,
        templates: templates?,
        local,
    })
}

fn read_tags(root: &TableReader) -> Option<BTreeMap<String, String>> {
    let Some(table) = root.table("tags") else {
        return if root.has("tags") {
            None
        } else {
            Some(BTreeMap::new())
        };
    };
    let mut tags = BTreeMap::new();
    let mut ok = true;
    for (key, value) in table.named_strings("\"value\"") {
        let lowered = key.value.to_ascii_lowercase();
        if lowered.starts_with("aws:") || lowered.starts_with("stackup:") {
            table.diagnostics().report(
                Some(&key.span),
                &table.key_path(&key.value),
                "tag keys starting with aws: or stackup: are reserved",
                Some("rename the tag".to_string()),
            );
            ok = false;
        } else if key.value.len() > 128 || value.value.len() > 256 {
            table.diagnostics().report(
                Some(&key.span),
                &table.key_path(&key.value),
                "AWS tags are limited to 128 characters of key and 256 of value",
                Some("shorten it".to_string()),
            );
            ok = false;
        } else {
            tags.insert(key.value, value.value);
        }
    }
    ok.then_some(tags)
}

fn read_network(root: &TableReader, region: Option<&str>) -> Option<NetworkConfig> {
    let Some(table) = root.table("network") else {
        if !root.has("network") {
            root.missing_table(
                "network",
                "cidr = \"10.20.0.0/16\"\n    bastion_ingress = [\"203.0.113.7/32\"]",
            );
        }
        return None;
    };
    let diagnostics = table.diagnostics();
    let cidr = match table.required_string("cidr", "\"10.20.0.0/16\"") {
        Some(found) => read_cidr(&table, table.key_path("cidr"), &found).and_then(|cidr| {
            match network::check_vpc_cidr(cidr) {
                Ok(()) => Some(cidr),
                Err(error) => {
                    diagnostics.report(
                        Some(&found.span),
                        "network.cidr",
                        error.to_string(),
                        Some(format!(
                            "use a prefix from /{} to /{}, for example \"10.20.0.0/16\"",
                            network::LARGEST_VPC_PREFIX,
                            network::SMALLEST_VPC_PREFIX
                        )),
                    );
                    None
                }
            }
        }),
        None => None,
    };

    let availability_zones = match table.value("availability_zones") {
        None => Some(AvailabilityZones::Count(2)),
        Some(value) if value.get_ref().is_integer() => table
            .integer("availability_zones", 2..4, "2")
            .map(|found| AvailabilityZones::Count(found.value as usize)),
        Some(value) if value.get_ref().is_array() => {
            let names =
                table.string_array("availability_zones", "[\"us-east-1a\", \"us-east-1b\"]")?;
            let mut zones = Vec::new();
            let mut ok = true;
            for name in &names.value {
                let in_region = region.is_none_or(|region| {
                    name.value.starts_with(region) && name.value.len() > region.len()
                });
                if !in_region {
                    diagnostics.report(
                        Some(&name.span),
                        "network.availability_zones",
                        format!(
                            "\"{}\" is not an availability zone of region {}",
                            name.value,
                            region.unwrap_or("?")
                        ),
                        Some("list zones of the stack's region, such as \"us-east-1a\", or give a count: availability_zones = 2".to_string()),
                    );
                    ok = false;
                } else if zones.contains(&name.value) {
                    diagnostics.report(
                        Some(&name.span),
                        "network.availability_zones",
                        format!("\"{}\" is listed twice", name.value),
                        Some("list each zone once".to_string()),
                    );
                    ok = false;
                } else {
                    zones.push(name.value.clone());
                }
            }
            if ok && !(2..=3).contains(&zones.len()) {
                diagnostics.report(
                    Some(&names.span),
                    "network.availability_zones",
                    format!(
                        "{} listed: a stack uses 2 or 3 zones",
                        if zones.len() == 1 {
                            "only 1 zone".to_string()
                        } else {
                            format!("{} zones", zones.len())
                        }
                    ),
                    Some("list 2 or 3 zones, or give a count: availability_zones = 2".to_string()),
                );
                ok = false;
            }
            ok.then_some(AvailabilityZones::Named(zones))
        }
        Some(value) => {
            diagnostics.report(
                Some(&value.span()),
                "network.availability_zones",
                "expected a count (2 or 3) or a list of zone names",
                Some("write availability_zones = 2, or availability_zones = [\"us-east-1a\", \"us-east-1b\"]".to_string()),
            );
            None
        }
    };

    let nat = read_choice(
        &table,
        "nat",
        &[
            ("none", NatMode::None),
            ("single", NatMode::Single),
            ("per-az", NatMode::PerAz),
        ],
        NatMode::Single,
    );
    let allow_anywhere = table
        .boolean("allow_bastion_from_anywhere")
        .map(|found| found.value)
        .unwrap_or(false);
    let bastion_ingress = match table.string_array("bastion_ingress", "[\"203.0.113.7/32\"]") {
        None => {
            if !table.has("bastion_ingress") {
                table.missing("bastion_ingress", "[\"203.0.113.7/32\"]");
            }
            None
        }
        Some(list) => {
            let mut cidrs = Vec::new();
            let mut ok = true;
            for (index, entry) in list.value.iter().enumerate() {
                let key = format!("network.bastion_ingress[{index}]");
                match read_cidr(&table, key.clone(), entry) {
                    Some(cidr) if cidr.prefix_len() == 0 && !allow_anywhere => {
                        diagnostics.report(
                            Some(&entry.span),
                            &key,
                            "opens SSH on the bastion to the whole internet",
                            Some("list the addresses that need SSH, such as your office's \"203.0.113.7/32\", or set allow_bastion_from_anywhere = true in [network] if you really mean it".to_string()),
                        );
                        ok = false;
                    }
                    Some(cidr) => cidrs.push(cidr),
                    None => ok = false,
                }
            }
            // Halves (or any pieces) that add up to every address are the whole internet too.
            let covers_everything = Ipv4Net::aggregate(&cidrs)
                .iter()
                .any(|merged| merged.prefix_len() == 0);
            if ok && covers_everything && !allow_anywhere {
                diagnostics.report(
                    Some(&list.span),
                    "network.bastion_ingress",
                    format!(
                        "{} together cover every IPv4 address: SSH on the bastion would be open to the whole internet",
                        cidrs
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some("list the addresses that need SSH, such as your office's \"203.0.113.7/32\", or set allow_bastion_from_anywhere = true in [network] if you really mean it".to_string()),
                );
                ok = false;
            }
            if ok && cidrs.is_empty() {
                diagnostics.report(
                    Some(&list.span),
                    "network.bastion_ingress",
                    "is empty: nobody could reach the bastion",
                    Some(
                        "list the addresses that need SSH, such as [\"203.0.113.7/32\"]"
                            .to_string(),
                    ),
                );
                ok = false;
            }
            if ok && cidrs.len() > MAX_BASTION_INGRESS {
                diagnostics.report(
                    Some(&list.span),
                    "network.bastion_ingress",
                    format!(
                        "{} entries: at most {MAX_BASTION_INGRESS} are supported",
                        cidrs.len()
                    ),
                    Some("merge neighbouring addresses into wider CIDRs".to_string()),
                );
                ok = false;
            }
            ok.then_some(cidrs)
        }
    };
    let s3_endpoint = table
        .boolean("s3_endpoint")
        .map(|found| found.value)
        .unwrap_or(true);
    table.finish();
    Some(NetworkConfig {
        cidr: cidr?,
        availability_zones: availability_zones?,
        nat: nat?,
        bastion_ingress: bastion_ingress?,
        s3_endpoint,
    })
}

/// The network template has one parameter per bastion ingress CIDR.
pub const MAX_BASTION_INGRESS: usize = 6;

/// `[upstream]`: each key becomes the template parameter
/// `Upstream<Key>StackName` (see [`crate::stacks::upstream_parameter_name`]);
/// the values are stack names. Returns each stack name with its key's line.
fn read_upstream(root: &TableReader) -> Option<BTreeMap<String, (String, usize)>> {
    let Some(table) = root.table("upstream") else {
        return if root.has("upstream") {
            None
        } else {
            Some(BTreeMap::new())
        };
    };
    let mut upstream = BTreeMap::new();
    // parameter name -> the key that first gave it
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    let mut ok = true;
    for (key, value) in table.named_strings("\"org-shared-v1\"") {
        let valid_key = key
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && key
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_key {
            table.diagnostics().report(
                Some(&key.span),
                &table.key_path(&key.value),
                format!(
                    "\"{}\" cannot name a template parameter",
                    key.value.escape_debug()
                ),
                Some(
                    "name the upstream entry with letters, digits, - and _, starting with a letter, such as shared"
                        .to_string(),
                ),
            );
            ok = false;
            continue;
        }
        let parameter = crate::stacks::upstream_parameter_name(&key.value);
        if let Some(first) = parameters.get(&parameter) {
            table.diagnostics().report(
                Some(&key.span),
                &table.key_path(&key.value),
                format!(
                    "upstream.{first} and upstream.{} both become the template parameter {parameter}",
                    key.value
                ),
                Some(format!(
                    "keep one of upstream.{first} and upstream.{}, or rename one",
                    key.value
                )),
            );
            ok = false;
            continue;
        }
        parameters.insert(parameter, key.value.clone());
        let valid_stack_name = value
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && value
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && value.value.len() <= 128;
        if !valid_stack_name {
            table.diagnostics().report(
                Some(&value.span),
                &table.key_path(&key.value),
                format!("\"{}\" is not a CloudFormation stack name", value.value),
                Some("give the upstream stack's name: letters, digits and hyphens, starting with a letter".to_string()),
            );
            ok = false;
        } else {
            let line = table.diagnostics().source().line_of(key.span.start);
            upstream.insert(key.value, (value.value, line));
        }
    }
    ok.then_some(upstream)
}

const RESERVED_DATABASE_NAMES: &[&str] = &["postgres", "template0", "template1", "rdsadmin"];
const RESERVED_ROLE_NAMES: &[&str] = &[
    "rdsadmin",
    "rdsrepladmin",
    "rds_superuser",
    "public",
    "pg_monitor",
];

fn read_database(root: &TableReader, config_dir: &Path, local_ca: bool) -> Option<DatabaseConfig> {
    let Some(table) = root.table("database") else {
        if !root.has("database") {
            root.missing_table("database", "name = \"demo\"");
        }
        return None;
    };
    let diagnostics = table.diagnostics();
    let name = if table.has("name") {
        read_sql_identifier(&table, "name", "\"demo\"", RESERVED_DATABASE_NAMES)
    } else {
        table.missing("name", "\"demo\"");
        None
    };
    let master_user = if table.has("master_user") {
        read_sql_identifier(&table, "master_user", "\"postgres\"", RESERVED_ROLE_NAMES)
            .map(|found| found.value)
    } else {
        Some("postgres".to_string())
    };
    let app_user =
        match read_sql_identifier(&table, "app_user", "\"demo_app\"", RESERVED_ROLE_NAMES) {
            Some(found) => Some(found.value),
            None if table.has("app_user") => None,
            None => name.as_ref().map(|name| format!("{}_app", name.value)),
        };
    if let (Some(master), Some(app)) = (&master_user, &app_user) {
        if master == app {
            diagnostics.report(
                Some(table.span()),
                "database.app_user",
                "the application role must differ from the master user",
                Some("set app_user to another name, such as \"demo_app\"".to_string()),
            );
        }
    }
    let encoding = match table.string("encoding", "\"UTF8\"") {
        None if table.has("encoding") => None,
        None => Some("UTF8".to_string()),
        Some(found) => {
            let normalised = found.value.to_ascii_uppercase().replace(['-', '_'], "");
            let known = POSTGRES_ENCODINGS
                .iter()
                .find(|known| known.replace('_', "") == normalised);
            match known {
                Some(known) if **known == found.value => Some(found.value),
                Some(known) => {
                    diagnostics.report(
                        Some(&found.span),
                        "database.encoding",
                        format!("\"{}\" is spelt differently by PostgreSQL", found.value),
                        Some(format!("write encoding = \"{known}\"")),
                    );
                    None
                }
                None => {
                    diagnostics.report(
                        Some(&found.span),
                        "database.encoding",
                        format!("\"{}\" is not a PostgreSQL server encoding", found.value),
                        Some("write encoding = \"UTF8\" (or another server encoding PostgreSQL lists)".to_string()),
                    );
                    None
                }
            }
        }
    };
    let collation = match table.string("collation", "\"en_US.UTF-8\"") {
        None if table.has("collation") => None,
        None => Some("en_US.UTF-8".to_string()),
        Some(found) => {
            let valid = !found.value.is_empty()
                && found.value.len() <= 63
                && found
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
            if valid {
                Some(found.value)
            } else {
                diagnostics.report(
                    Some(&found.span),
                    "database.collation",
                    format!("\"{}\" is not a locale name", found.value),
                    Some(
                        "write a locale such as \"en_US.UTF-8\", \"C.UTF-8\" or \"C\"".to_string(),
                    ),
                );
                None
            }
        }
    };
    let engine_version = match table.string("engine_version", "\"16\"") {
        None if table.has("engine_version") => None,
        None => Some("16".to_string()),
        Some(found) => {
            let mut parts = found.value.split('.');
            let major = parts.next().and_then(|major| major.parse::<u32>().ok());
            let rest_ok = parts.all(|part| part.parse::<u32>().is_ok());
            match major {
                Some(major) if rest_ok && (13..=30).contains(&major) => Some(found.value),
                _ => {
                    diagnostics.report(
                        Some(&found.span),
                        "database.engine_version",
                        format!("\"{}\" is not a supported PostgreSQL version (13 or later)", found.value),
                        Some("write a major version such as engine_version = \"16\", or a full one such as \"16.4\"".to_string()),
                    );
                    None
                }
            }
        }
    };
    let instance_class = match table.string("instance_class", "\"db.t4g.micro\"") {
        None if table.has("instance_class") => None,
        None => Some("db.t4g.micro".to_string()),
        Some(found) if found.value.starts_with("db.") && found.value.split('.').count() == 3 => {
            Some(found.value)
        }
        Some(found) => {
            diagnostics.report(
                Some(&found.span),
                "database.instance_class",
                format!("\"{}\" is not an RDS instance class", found.value),
                Some("write it like instance_class = \"db.t4g.micro\"".to_string()),
            );
            None
        }
    };
    let allocated_storage = match table.integer("allocated_storage", 20..65537, "20") {
        Some(found) => Some(found.value as u32),
        None if table.has("allocated_storage") => None,
        None => Some(20),
    };
    let max_allocated_storage = match table.integer("max_allocated_storage", 21..65537, "100") {
        Some(found)
            if allocated_storage.is_some_and(|allocated| found.value <= i64::from(allocated)) =>
        {
            table.diagnostics().report(
                Some(&found.span),
                "database.max_allocated_storage",
                format!(
                    "{} is not above allocated_storage ({}): storage autoscaling needs room to grow",
                    found.value,
                    allocated_storage.unwrap_or_default()
                ),
                Some("set it above allocated_storage (RDS grows storage up to it when the database fills), or leave it out to keep the size fixed".to_string()),
            );
            None
        }
        Some(found) => Some(Some(found.value as u32)),
        None if table.has("max_allocated_storage") => None,
        None => Some(None),
    };
    let backup_retention_days = match table.integer("backup_retention_days", 1..36, "7") {
        Some(found) => Some(found.value as u32),
        None if table.has("backup_retention_days") => None,
        None => Some(crate::stacks::DATABASE_BACKUP_RETENTION_DAYS),
    };
    let multi_az = table
        .boolean("multi_az")
        .map(|found| found.value)
        .unwrap_or(false);
    let deletion_protection = table
        .boolean("deletion_protection")
        .map(|found| found.value)
        .unwrap_or(true);
    let migrations = if table.has("migrations") {
        read_existing_path(&table, "migrations", None, config_dir, true).map(Some)
    } else {
        Some(None)
    };
    let seeds = if table.has("seeds") {
        read_existing_path(&table, "seeds", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    let sslmode = read_choice(
        &table,
        "sslmode",
        &[
            ("require", SslMode::Require),
            ("verify-full", SslMode::VerifyFull),
        ],
        SslMode::Require,
    );
    let ca_file = if table.has("ca_file") {
        read_existing_path(&table, "ca_file", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    if sslmode == Some(SslMode::VerifyFull) && !table.has("ca_file") && !local_ca {
        diagnostics.report(
            Some(table.span()),
            "database.sslmode",
            "verify-full needs a CA bundle to verify the server against",
            Some("set ca_file to the RDS bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem), or use sslmode = \"require\"".to_string()),
        );
    }
    table.finish();
    Some(DatabaseConfig {
        name: name?.value,
        master_user: master_user?,
        app_user: app_user?,
        encoding: encoding?,
        collation: collation?,
        engine_version: engine_version?,
        instance_class: instance_class?,
        allocated_storage: allocated_storage?,
        max_allocated_storage: max_allocated_storage?,
        backup_retention_days: backup_retention_days?,
        multi_az,
        deletion_protection,
        migrations: migrations?,
        seeds: seeds?,
        sslmode: sslmode?,
        ca_file: ca_file?,
    })
}

fn read_instance_type(table: &TableReader, key: &'static str, default: &str) -> Option<String> {
    match table.string(key, &format!("\"{default}\"")) {
        None if table.has(key) => None,
        None => Some(default.to_string()),
        Some(found) => {
            let valid = found.value.split('.').count() == 2
                && !found.value.starts_with("db.")
                && found
                    .value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
            if valid {
                Some(found.value)
            } else {
                table.diagnostics().report(
                    Some(&found.span),
                    &table.key_path(key),
                    format!("\"{}\" is not an EC2 instance type", found.value),
                    Some(format!("write it like {key} = \"{default}\"")),
                );
                None
            }
        }
    }
}

fn read_cluster(root: &TableReader) -> Option<ClusterConfig> {
    let Some(table) = root.table("cluster") else {
        return if root.has("cluster") {
            None
        } else {
            Some(ClusterConfig {
                instance_type: "t3.small".into(),
                hosts: 2,
                max_hosts: 3,
                distribution_ports: DEFAULT_DISTRIBUTION_PORTS,
            })
        };
    };
    let instance_type = read_instance_type(&table, "instance_type", "t3.small");
    let hosts = match table.integer("hosts", 1..101, "2") {
        Some(found) => Some(found.value as u32),
        None if table.has("hosts") => None,
        None => Some(2),
    };
    let max_hosts = match table.integer("max_hosts", 1..201, "3") {
        Some(found) => {
            if hosts.is_some_and(|hosts| (found.value as u32) < hosts) {
                table.diagnostics().report(
                    Some(&found.span),
                    "cluster.max_hosts",
                    "is smaller than hosts",
                    Some("set max_hosts to at least hosts".to_string()),
                );
                None
            } else {
                Some(found.value as u32)
            }
        }
        None if table.has("max_hosts") => None,
        None => hosts.map(|hosts| hosts + 1),
    };
    let distribution_ports = match table.string("distribution_ports", "\"9100-9155\"") {
        Some(found) => read_distribution_ports(&table, &found),
        None if table.has("distribution_ports") => None,
        None => Some(DEFAULT_DISTRIBUTION_PORTS),
    };
    table.finish();
    Some(ClusterConfig {
        instance_type: instance_type?,
        hosts: hosts?,
        max_hosts: max_hosts?,
        distribution_ports: distribution_ports?,
    })
}

/// `"A-B"`: a range of ports, A <= B, that does not take EPMD's 4369.
fn read_distribution_ports(table: &TableReader, found: &Found<String>) -> Option<(u16, u16)> {
    let report = |message: String| {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path("distribution_ports"),
            message,
            Some("write it like distribution_ports = \"9100-9155\" (first and last port; a node needs one port, a host's tasks one each)".to_string()),
        );
        None
    };
    let parsed = found.value.split_once('-').and_then(|(first, last)| {
        Some((
            first.trim().parse::<u16>().ok()?,
            last.trim().parse::<u16>().ok()?,
        ))
    });
    match parsed {
        None => report(format!("\"{}\" is not a range of ports FIRST-LAST", found.value)),
        Some((0, _)) => report("port 0 is not a port".to_string()),
        Some((first, last)) if first > last => report(format!(
            "{first}-{last} is reversed: the first port is above the last"
        )),
        Some((first, last)) if (first..=last).contains(&EPMD_PORT) => report(format!(
            "{first}-{last} takes {EPMD_PORT}, EPMD's port, which nodes use to find each other's distribution port"
        )),
        Some(range) => Some(range),
    }
}

fn read_bastion(root: &TableReader) -> Option<BastionConfig> {
    let Some(table) = root.table("bastion") else {
        return if root.has("bastion") {
            None
        } else {
            Some(BastionConfig {
                instance_type: "t3.micro".into(),
                key_name: None,
            })
        };
    };
    let instance_type = read_instance_type(&table, "instance_type", "t3.micro");
    let key_name = table
        .string("key_name", "\"ops\"")
        .map(|found| found.value)
        .filter(|name| !name.is_empty());
    table.finish();
    Some(BastionConfig {
        instance_type: instance_type?,
        key_name,
    })
}

fn read_load_balancer(
    root: &TableReader,
    distribution: (u16, u16),
    region: Option<&str>,
) -> Option<LoadBalancerConfig> {
    let Some(table) = root.table("load_balancer") else {
        return if root.has("load_balancer") {
            None
        } else {
            Some(LoadBalancerConfig {
                port: 4000,
                health_check_path: "/".into(),
                healthy_codes: "200".into(),
                certificate_arn: None,
            })
        };
    };
    let port = match table.integer("port", 1..65536, "4000") {
        Some(found)
            if found.value == i64::from(EPMD_PORT)
                || (i64::from(distribution.0)..=i64::from(distribution.1))
                    .contains(&found.value) =>
        {
            table.diagnostics().report(
                Some(&found.span),
                "load_balancer.port",
                format!(
                    "{} is an Erlang distribution port, which must never face the load balancer",
                    found.value
                ),
                Some({
                    let free = [4000, 8080, 8000, 3000]
                        .into_iter()
                        .find(|port| *port != EPMD_PORT && !(distribution.0..=distribution.1).contains(port))
                        .unwrap_or(4000);
                    format!(
                        "serve HTTP on a port outside {EPMD_PORT} and distribution_ports ({}-{}), such as {free}, or move [cluster] distribution_ports",
                        distribution.0, distribution.1
                    )
                }),
            );
            None
        }
        Some(found) => Some(found.value as u16),
        None if table.has("port") => None,
        None => Some(4000),
    };
    let health_check_path = match table.string("health_check_path", "\"/health\"") {
        Some(found) if found.value.starts_with('/') && found.value.len() <= 1024 => {
            Some(found.value)
        }
        Some(found) => {
            table.diagnostics().report(
                Some(&found.span),
                "load_balancer.health_check_path",
                format!("\"{}\" is not a path", found.value),
                Some("start it with /, such as \"/health\"".to_string()),
            );
            None
        }
        None if table.has("health_check_path") => None,
        None => Some("/".to_string()),
    };
    let healthy_codes = match table.string("healthy_codes", "\"200\"") {
        Some(found) => match healthy_codes_problem(&found.value) {
            None => Some(found.value),
            Some(problem) => {
                table.diagnostics().report(
                    Some(&found.span),
                    "load_balancer.healthy_codes",
                    problem,
                    Some("write HTTP codes from 200 to 499, comma-separated or as ranges, like healthy_codes = \"200\" or \"200-299\"".to_string()),
                );
                None
            }
        },
        None if table.has("healthy_codes") => None,
        None => Some("200".to_string()),
    };
    let certificate_arn = match table.string(
        "certificate_arn",
        "\"arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b\"",
    ) {
        Some(found) => match certificate_arn_problem(&found.value, region) {
            None => Some(Some(found.value)),
            Some(problem) => {
                table.diagnostics().report(
                    Some(&found.span),
                    "load_balancer.certificate_arn",
                    problem,
                    Some("give the ARN of an ACM certificate in the stack's region (`aws acm list-certificates --region <region>`)".to_string()),
                );
                None
            }
        },
        None if table.has("certificate_arn") => None,
        None => Some(None),
    };
    table.finish();
    Some(LoadBalancerConfig {
        port: port?,
        health_check_path: health_check_path?,
        healthy_codes: healthy_codes?,
        certificate_arn: certificate_arn?,
    })
}

/// What ELBv2 would refuse in a Matcher HttpCode for an application load
/// balancer ("200", "200,202", "200-299"; codes 200 to 499), if anything.
fn healthy_codes_problem(codes: &str) -> Option<String> {
    let code = |text: &str| {
        text.trim()
            .parse::<u16>()
            .ok()
            .filter(|code| (200..=499).contains(code))
    };
    for part in codes.split(',') {
        let valid = match part.split_once('-') {
            Some((first, last)) => {
                matches!((code(first), code(last)), (Some(first), Some(last)) if first <= last)
            }
            None => code(part).is_some(),
        };
        if !valid {
            return Some(format!(
                "\"{}\" is not an HTTP code or range from 200 to 499",
                part.trim()
            ));
        }
    }
    None
}

/// What is wrong with an ACM certificate ARN for the stack's load balancer:
/// `arn:<partition>:acm:<region>:<account>:certificate/<id>`, in the stack's
/// region (a load balancer takes certificates of its own region only).
fn certificate_arn_problem(arn: &str, region: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let shaped = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty());
    if !shaped {
        return Some(format!(
            "\"{arn}\" is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)"
        ));
    }
    match region {
        Some(region) if region != parts[3] => Some(format!(
            "is a certificate of {}, but the stack is in {region}: a load balancer takes certificates of its own region only",
            parts[3]
        )),
        _ => None,
    }
}

fn read_logs(root: &TableReader) -> Option<LogsConfig> {
    let Some(table) = root.table("logs") else {
        return if root.has("logs") {
            None
        } else {
            Some(LogsConfig { retention_days: 30 })
        };
    };
    let retention_days = match table.integer("retention_days", 1..3654, "30") {
        Some(found) if LOG_RETENTION_DAYS.contains(&(found.value as u32)) => {
            Some(found.value as u32)
        }
        Some(found) => {
            let nearest = LOG_RETENTION_DAYS
                .iter()
                .min_by_key(|days| (i64::from(**days) - found.value).abs())
                .copied()
                .unwrap_or(30);
            table.diagnostics().report(
                Some(&found.span),
                "logs.retention_days",
                format!(
                    "CloudWatch Logs does not offer a retention of {} days",
                    found.value
                ),
                Some(format!("use one of its periods, such as {nearest}")),
            );
            None
        }
        None if table.has("retention_days") => None,
        None => Some(30),
    };
    table.finish();
    Some(LogsConfig {
        retention_days: retention_days?,
    })
}

fn read_duration(table: &TableReader, key: &'static str, default: Duration) -> Option<Duration> {
    match table.string(key, "\"15m\"") {
        None if table.has(key) => None,
        None => Some(default),
        Some(found) => match humantime::parse_duration(&found.value) {
            Ok(duration) if duration >= Duration::from_secs(1) => Some(duration),
            _ => {
                table.diagnostics().report(
                    Some(&found.span),
                    &table.key_path(key),
                    format!(
                        "\"{}\" is not a duration of at least one second",
                        found.value
                    ),
                    Some(format!("write it like {key} = \"15m\" or \"90s\"")),
                );
                None
            }
        },
    }
}

fn read_deploy(root: &TableReader) -> Option<DeployConfig> {
    let default = Duration::from_secs(15 * 60);
    let Some(table) = root.table("deploy") else {
        return if root.has("deploy") {
            None
        } else {
            Some(DeployConfig { timeout: default })
        };
    };
    let timeout = read_duration(&table, "timeout", default);
    table.finish();
    Some(DeployConfig { timeout: timeout? })
}

fn read_services(root: &TableReader, config_dir: &Path) -> Option<BTreeMap<String, ServiceConfig>> {
    let Some(table) = root.table("services") else {
        return if root.has("services") {
            None
        } else {
            Some(BTreeMap::new())
        };
    };
    let mut services = BTreeMap::new();
    let mut ok = true;
    for (name, service) in table.named_tables() {
        if !is_resource_name(&name.value) || name.value.len() > 32 {
            table.diagnostics().report(
                Some(&name.span),
                &table.key_path(&name.value),
                format!("\"{}\" is not a valid service name: lowercase letters, digits and single hyphens, starting with a letter, at most 32 characters", name.value),
                Some("rename the section, for example [services.web]".to_string()),
            );
            ok = false;
            continue;
        }
        match read_service(&service, &name.value, config_dir) {
            Some(config) => {
                services.insert(name.value, config);
            }
            None => ok = false,
        }
        service.finish();
    }
    ok.then_some(services)
}

fn read_service(table: &TableReader, name: &str, config_dir: &Path) -> Option<ServiceConfig> {
    let default_task = format!("task-defs/{name}.json");
    let default_service = format!("task-defs/{name}-service.json");
    let task_definition = read_existing_path(
        table,
        "task_definition",
        Some(&default_task),
        config_dir,
        false,
    );
    let service_definition = read_existing_path(
        table,
        "service_definition",
        Some(&default_service),
        config_dir,
        false,
    );
    let desired_count = match table.integer("desired_count", 0..1001, "2") {
        Some(found) => Some(found.value as u32),
        None if table.has("desired_count") => None,
        None => Some(2),
    };
    let node_basename = if table.has("node_basename") {
        read_name(table, "node_basename", "\"web\"", 32, false)
    } else {
        Some(name.to_string())
    };
    let cookie = read_choice(
        table,
        "cookie",
        &[
            ("stack", CookieMode::Stack),
            ("release", CookieMode::Release),
        ],
        CookieMode::Stack,
    );
    let node_name = read_choice(
        table,
        "node_name",
        &[
            ("ip", NodeNameMode::Ip),
            ("release", NodeNameMode::Release),
            ("task", NodeNameMode::Task),
        ],
        NodeNameMode::Ip,
    );
    let console_command = match table.string(
        "console_command",
        "\"docker exec {tty} {container} bin/demo remote\"",
    ) {
        None if table.has("console_command") => None,
        None => Some(DEFAULT_CONSOLE_COMMAND.to_string()),
        Some(found) => check_console_command(table, "console_command", &found),
    };
    let eval_command = match table.string(
        "eval_command",
        "\"docker exec {container} bin/demo rpc {expr}\"",
    ) {
        None if table.has("eval_command") => None,
        None => Some(DEFAULT_EVAL_COMMAND.to_string()),
        Some(found) => check_console_command(table, "eval_command", &found),
    };
    Some(ServiceConfig {
        name: name.to_string(),
        task_definition: task_definition?,
        service_definition: service_definition?,
        desired_count: desired_count?,
        node_basename: node_basename?,
        node_name: node_name?,
        cookie: cookie?,
        console_command: console_command?,
        eval_command: eval_command?,
    })
}

/// The placeholders of a console command that are not [`CONSOLE_PLACEHOLDERS`]:
/// each `{name}` (a name of letters, digits and underscores) not written as a
/// shell's `${name}`. Other braces are the command's own (`awk '{print $1}'`).
pub fn unknown_console_placeholders(command: &str, known: &[&str]) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = command;
    let mut before = None;
    while let Some(start) = rest.find('{') {
        let shell_variable = if start == 0 {
            before == Some('$')
        } else {
            rest[..start].ends_with('$')
        };
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            break;
        };
        let name = &after[..end];
        let is_name = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if is_name && !shell_variable && !known.contains(&name) {
            unknown.push(format!("{{{name}}}"));
        }
        before = Some('}');
        rest = &after[end + 1..];
    }
    unknown
}

/// How to write a console command's placeholders.
pub fn console_placeholders_fix(known: &[&str]) -> String {
    format!(
        "use only {}",
        known
            .iter()
            .map(|placeholder| format!("{{{placeholder}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn check_console_command(
    table: &TableReader,
    key: &'static str,
    found: &Found<String>,
) -> Option<String> {
    if found.value.trim().is_empty() {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            "is empty",
            Some(
                "write it like console_command = \"docker exec -it {container} bin/demo remote\""
                    .to_string(),
            ),
        );
        return None;
    }
    let known = if key == "eval_command" {
        EVAL_PLACEHOLDERS
    } else {
        CONSOLE_PLACEHOLDERS
    };
    if key == "eval_command" && !found.value.contains("{expr}") {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            "has no {expr}: the expression of `console --eval` would be dropped",
            Some("put {expr} where the expression goes, like eval_command = \"docker exec {container} bin/demo rpc {expr}\"".to_string()),
        );
        return None;
    }
    let unknown = unknown_console_placeholders(&found.value, known);
    if let Some(first) = unknown.first() {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            format!("unknown placeholder {first}"),
            Some(console_placeholders_fix(known)),
        );
        return None;
    }
    Some(found.value.clone())
}

fn read_ssh(root: &TableReader, config_dir: &Path) -> Option<SshConfig> {
    let default = || SshConfig {
        user: "ec2-user".into(),
        identity: None,
        known_hosts: PathBuf::from("~/.ssh/known_hosts"),
    };
    let Some(table) = root.table("ssh") else {
        return if root.has("ssh") {
            None
        } else {
            Some(default())
        };
    };
    let user = match table.string("user", "\"ec2-user\"") {
        Some(found)
            if !found.value.is_empty()
                && found
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) =>
        {
            Some(found.value)
        }
        Some(found) => {
            table.diagnostics().report(
                Some(&found.span),
                "ssh.user",
                format!("\"{}\" is not a user name", found.value),
                Some("write it like user = \"ec2-user\"".to_string()),
            );
            None
        }
        None if table.has("user") => None,
        None => Some("ec2-user".to_string()),
    };
    let identity = if table.has("identity") {
        read_existing_path(&table, "identity", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    let known_hosts = match table.string("known_hosts", "\"~/.ssh/known_hosts\"") {
        Some(found) => Some(PathBuf::from(found.value)),
        None if table.has("known_hosts") => None,
        None => Some(default().known_hosts),
    };
    table.finish();
    Some(SshConfig {
        user: user?,
        identity: identity?,
        known_hosts: known_hosts?,
    })
}

fn read_templates(root: &TableReader, config_dir: &Path) -> Option<TemplateFiles> {
    let Some(table) = root.table("templates") else {
        return if root.has("templates") {
            None
        } else {
            Some(TemplateFiles::default())
        };
    };
    let network = if table.has("network") {
        read_existing_path(&table, "network", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    let platform = if table.has("platform") {
        read_existing_path(&table, "platform", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    table.finish();
    Some(TemplateFiles {
        network: network?,
        platform: platform?,
    })
}

fn read_local(root: &TableReader, config_dir: &Path) -> Option<LocalConfig> {
    let table = root.table("local")?;
    let endpoint_url = table
        .string("endpoint_url", "\"http://127.0.0.1:4566\"")
        .and_then(|found| {
            if found.value.starts_with("http://") || found.value.starts_with("https://") {
                Some(found.value)
            } else {
                table.diagnostics().report(
                    Some(&found.span),
                    "local.endpoint_url",
                    format!("\"{}\" is not an http:// or https:// URL", found.value),
                    Some("write it like endpoint_url = \"http://127.0.0.1:4566\"".to_string()),
                );
                None
            }
        });
    let local = LocalConfig {
        endpoint_url,
        bastion: read_host_port(&table, "bastion"),
        database: read_host_port(&table, "database"),
        hosts: read_host_port(&table, "hosts"),
        ssh_user: table
            .string("ssh_user", "\"stackup\"")
            .map(|found| found.value),
        identity: table
            .has("identity")
            .then(|| read_existing_path(&table, "identity", None, config_dir, false))
            .flatten(),
        known_hosts: table
            .string("known_hosts", "\".local-cloud/ssh/known_hosts\"")
            .map(|found| resolve_path(config_dir, Path::new(&found.value))),
        ca_file: table
            .has("ca_file")
            .then(|| read_existing_path(&table, "ca_file", None, config_dir, false))
            .flatten(),
    };
    table.finish();
    Some(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_command_names_only_known_placeholders() {
        assert!(unknown_console_placeholders(
            "docker exec -it {container} bin/{app} remote",
            CONSOLE_PLACEHOLDERS
        )
        .is_empty());
        assert_eq!(
            unknown_console_placeholders("echo {nod} {container} {relase}", CONSOLE_PLACEHOLDERS),
            vec!["{nod}", "{relase}"]
        );
        // The shell's own braces are the command's.
        assert!(unknown_console_placeholders(
            "echo ${HOME} \"${node}\" | awk '{print $1}' {} {1}",
            CONSOLE_PLACEHOLDERS
        )
        .is_empty());
        assert!(unknown_console_placeholders("{", CONSOLE_PLACEHOLDERS).is_empty());
    }

    fn parse_text(text: &str) -> Result<StackConfig, InputError> {
        let source = Source {
            display_path: "stacks/t.toml".into(),
            text: text.into(),
        };
        let salvaged = parse(&source, "t", Path::new("/nonexistent-config-dir"), false)?;
        match salvaged.stack {
            Some(config) if salvaged.problems.is_empty() => Ok(config),
            _ => Err(InputError::new(salvaged.problems)),
        }
    }

    const MINIMAL: &str = r#"
app = "demo"
environment = "staging"
version = 1
[network]
cidr = "10.20.0.0/16"
bastion_ingress = ["203.0.113.7/32"]
[database]
name = "demo"
"#;

    #[test]
    fn minimal_file_gets_defaults() {
        let config = parse_text(MINIMAL).expect("valid");
        assert_eq!(config.stack_id(), "demo-staging-v1");
        assert_eq!(config.network_stack_name(), "demo-staging-v1-network");
        assert_eq!(config.parameter_prefix(), "/stackup/demo-staging-v1/");
        assert_eq!(config.network.nat, NatMode::Single);
        assert_eq!(
            config.network.availability_zones,
            AvailabilityZones::Count(2)
        );
        assert_eq!(config.database.master_user, "postgres");
        assert_eq!(config.database.app_user, "demo_app");
        assert_eq!(config.database.parameter_family(), "postgres16");
        assert!(config.services.is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let error = parse_text(
            "app = \"Demo\"\nenvironment = \"staging\"\nversion = 0\ncolour = 1\n[network]\ncidr = \"10.20.0.1/16\"\nbastion_ingress = []\n[database]\nname = \"demo\"\n",
        )
        .expect_err("invalid");
        let lines: Vec<Option<usize>> = error.problems.iter().map(|problem| problem.line).collect();
        assert_eq!(
            lines,
            vec![Some(1), Some(3), Some(4), Some(6), Some(7)],
            "{error}"
        );
    }

    #[test]
    fn cidrs_that_add_up_to_everything_need_the_anywhere_flag() {
        let with = |ingress: &str, extra: &str| {
            parse_text(&MINIMAL.replace(
                "bastion_ingress = [\"203.0.113.7/32\"]",
                &format!("bastion_ingress = {ingress}\n{extra}"),
            ))
        };
        let halves = r#"["0.0.0.0/1", "128.0.0.0/1"]"#;
        let error = with(halves, "").expect_err("the whole internet");
        assert!(
            error.problems[0]
                .message
                .contains("together cover every IPv4 address"),
            "{error}"
        );
        assert!(with(halves, "allow_bastion_from_anywhere = true").is_ok());
        // Half the internet is wide, but it is not everything.
        assert!(with(r#"["0.0.0.0/1", "203.0.113.7/32"]"#, "").is_ok());
    }

    #[test]
    fn names_follow_the_resource_name_rule() {
        assert!(is_resource_name("web-2"));
        assert!(!is_resource_name("2web"));
        assert!(!is_resource_name("web-"));
        assert!(!is_resource_name("we--b"));
        assert!(!is_resource_name("Web"));
        assert!(!is_resource_name(""));
    }

    #[test]
    fn stack_names_cannot_escape_the_stacks_folder() {
        assert!(stack_file_path(Path::new("."), "../etc/passwd").is_err());
        assert!(stack_file_path(Path::new("."), "").is_err());
        assert!(stack_file_path(Path::new("."), "local").is_ok());
    }
}
