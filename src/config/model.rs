//! The model of a stack file: what each section says, checked and resolved,
//! and the names stackup derives from it (stacks, SSM parameters).

use super::*;

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
    /// Interface VPC endpoints for ECS, ECR, SSM and CloudWatch Logs in the
    /// private subnets (see `crate::endpoints`); on by default with `nat = "none"`.
    pub endpoints: bool,
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
    /// Who may assume the platform's deploy role (IAM role, user or account
    /// ARNs); none: the platform has no deploy role.
    pub trusted_principals: Vec<String>,
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
    /// Task definition fields that give a task the host, allowed for this
    /// service with a reason (`allow_host_access`); all others are refused.
    pub allow_host_access: Vec<host_access::HostAccessAllowance>,
    /// The images `stackup build` makes for this service's containers
    /// (`[services.<name>.build.<container>]`).
    pub builds: Vec<build::ImageBuild>,
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
    pub(super) fn or(self, other: LocalConfig) -> LocalConfig {
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
