//! Task and service definitions as JSON in the ECS API's own field names, read
//! strictly (an unknown field is refused with its name) and turned into SDK
//! requests. The task definition also comes back from DescribeTaskDefinition
//! into the same shape, so the two can be compared and diffed.

use std::collections::BTreeMap;

use aws_sdk_ecs::types as ecs;
use serde::{Deserialize, Serialize};

use super::lenient;

fn is_false(value: &Option<bool>) -> bool {
    value.is_none()
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDefinition {
    pub family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub requires_compatibilities: Vec<String>,
    /// CPU units ("256") or vCPU ("1 vCPU"), kept as written.
    #[serde(
        default,
        deserialize_with = "task_cpu",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<String>,
    /// MiB ("512") or GB ("1 GB"), kept as written.
    #[serde(
        default,
        deserialize_with = "task_memory",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<String>,
    pub container_definitions: Vec<Container>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<PlacementConstraint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    /// The template's own tags; stackup's `stackup:*` tags are added to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// Whether `text` is an amount RegisterTaskDefinition takes for a task's
/// size: a whole number in the base unit (CPU units, MiB), or a number with
/// the larger unit after it, with or without a space ("1 vCPU", ".5vcpu",
/// "0.5 GB"), the unit in any case.
fn is_task_size(text: &str, unit: &str) -> bool {
    let is_digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if is_digits(text) {
        return true;
    }
    let Some(split) = text.len().checked_sub(unit.len()) else {
        return false;
    };
    let (number, suffix) = text.split_at_checked(split).unwrap_or((text, ""));
    if !suffix.eq_ignore_ascii_case(unit) {
        return false;
    }
    let number = number.strip_suffix(' ').unwrap_or(number);
    match number.split_once('.') {
        Some((whole, fraction)) => (whole.is_empty() || is_digits(whole)) && is_digits(fraction),
        None => is_digits(number),
    }
}

/// A task's `cpu` or `memory`: a whole JSON number, or text ECS takes. The
/// text is kept as written, since a revision's hash is taken of it.
fn task_size<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    unit: &str,
    expected: &str,
) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    let given = Option::<serde_json::Value>::deserialize(deserializer)?;
    let text = match given {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(number)) if number.is_u64() => {
            return Ok(Some(number.to_string()))
        }
        Some(serde_json::Value::String(text)) if is_task_size(&text, unit) => {
            return Ok(Some(text))
        }
        Some(serde_json::Value::String(text)) => format!("\"{text}\""),
        Some(other) => other.to_string(),
    };
    Err(D::Error::custom(format!("{text} is not {expected}")))
}

fn task_cpu<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    task_size(
        deserializer,
        "vcpu",
        "a number of CPU units (\"256\") or of vCPU (\"1 vCPU\")",
    )
}

fn task_memory<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    task_size(
        deserializer,
        "gb",
        "a number of MiB (\"512\") or of GB (\"1 GB\")",
    )
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EphemeralStorage {
    #[serde(rename = "sizeInGiB", deserialize_with = "lenient::int")]
    pub size_in_gib: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
}

/// `{ "type": ..., "value": ... }`: environment files, resource requirements.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TypedValue {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(deserialize_with = "lenient::string")]
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FirelensConfiguration {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryCredentials {
    pub credentials_parameter: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SystemControl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    pub name: String,
    pub image: String,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "is_false"
    )]
    pub essential: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_reservation: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<NameValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretReference>,
    #[serde(
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub entry_point: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_timeout: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_timeout: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "is_false"
    )]
    pub readonly_root_filesystem: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "is_false"
    )]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub docker_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firelens_configuration: Option<FirelensConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_credentials: Option<RepositoryCredentials>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_files: Vec<TypedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_requirements: Vec<TypedValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_controls: Vec<SystemControl>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMapping {
    #[serde(deserialize_with = "lenient::int")]
    pub container_port: i32,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub host_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NameValue {
    pub name: String,
    #[serde(deserialize_with = "lenient::opt_string", default)]
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretReference {
    pub name: String,
    pub value_from: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    pub command: Vec<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub retries: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_period: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogConfiguration {
    pub log_driver: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_options: Vec<SecretReference>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependency {
    pub container_name: String,
    pub condition: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountPoint {
    pub source_volume: String,
    pub container_path: String,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "is_false"
    )]
    pub read_only: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ulimit {
    pub name: String,
    #[serde(deserialize_with = "lenient::int")]
    pub soft_limit: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub hard_limit: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinuxParameters {
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "is_false"
    )]
    pub init_process_enabled: Option<bool>,
    /// Added capabilities reach the host; validate refuses them unless the
    /// stack file allows them (`config::host_access`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<KernelCapabilities>,
    /// Host devices, refused the same way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KernelCapabilities {
    #[serde(
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub add: Vec<String>,
    #[serde(
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub drop: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Device {
    pub host_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolume>,
}

/// A Docker volume (ECS API reference, DockerVolumeConfiguration). A driver
/// other than `local`, or driver options, make the host's Docker mount what
/// they say (`release::host_access`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockerVolume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub autoprovision: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostVolume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementConstraint {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimePlatform {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
}

/// The service definition template.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceDefinition {
    pub cluster: String,
    pub service_name: String,
    /// Always `{{task_definition}}`: the revision being deployed.
    pub task_definition: String,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub desired_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub health_check_grace_period_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_strategy: Vec<PlacementStrategy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<PlacementConstraint>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "is_false"
    )]
    pub enable_execute_command: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<String>,
    #[serde(
        rename = "enableECSManagedTags",
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "is_false"
    )]
    pub enable_ecs_managed_tags: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    /// REPLICA or DAEMON; ECS takes it only when the service is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_registries: Vec<ServiceRegistry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// ECS takes them only when the service is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityProviderItem {
    pub capacity_provider: String,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub base: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceRegistry {
    pub registry_arn: String,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_port: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentAlarms {
    #[serde(deserialize_with = "lenient::string_list")]
    pub alarm_names: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub enable: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub rollback: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    pub target_group_arn: String,
    pub container_name: String,
    #[serde(deserialize_with = "lenient::int")]
    pub container_port: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkConfiguration {
    pub awsvpc_configuration: AwsVpcConfiguration,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsVpcConfiguration {
    #[serde(deserialize_with = "lenient::string_list")]
    pub subnets: Vec<String>,
    #[serde(
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentConfiguration {
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub maximum_percent: Option<i32>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub minimum_healthy_percent: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<CircuitBreaker>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarms>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreaker {
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub enable: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub rollback: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementStrategy {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

fn built<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> anyhow::Result<T> {
    result.map_err(|error| anyhow::anyhow!("{what}: {error}"))
}

impl Container {
    fn to_sdk(&self) -> anyhow::Result<ecs::ContainerDefinition> {
        let mut builder = ecs::ContainerDefinition::builder()
            .name(&self.name)
            .image(&self.image)
            .set_essential(self.essential)
            .set_cpu(self.cpu)
            .set_memory(self.memory)
            .set_memory_reservation(self.memory_reservation)
            .set_working_directory(self.working_directory.clone())
            .set_user(self.user.clone())
            .set_stop_timeout(self.stop_timeout)
            .set_start_timeout(self.start_timeout)
            .set_readonly_root_filesystem(self.readonly_root_filesystem)
            .set_privileged(self.privileged);
        for port in &self.port_mappings {
            builder = builder.port_mappings(
                ecs::PortMapping::builder()
                    .container_port(port.container_port)
                    .set_host_port(port.host_port)
                    .set_protocol(port.protocol.as_deref().map(ecs::TransportProtocol::from))
                    .set_name(port.name.clone())
                    .set_app_protocol(
                        port.app_protocol
                            .as_deref()
                            .map(ecs::ApplicationProtocol::from),
                    )
                    .build(),
            );
        }
        for variable in &self.environment {
            builder = builder.environment(
                ecs::KeyValuePair::builder()
                    .name(&variable.name)
                    .set_value(variable.value.clone())
                    .build(),
            );
        }
        for secret in &self.secrets {
            builder = builder.secrets(built(
                ecs::Secret::builder()
                    .name(&secret.name)
                    .value_from(&secret.value_from)
                    .build(),
                "secrets",
            )?);
        }
        for part in &self.entry_point {
            builder = builder.entry_point(part);
        }
        for part in &self.command {
            builder = builder.command(part);
        }
        if let Some(check) = &self.health_check {
            builder = builder.health_check(built(
                ecs::HealthCheck::builder()
                    .set_command(Some(check.command.clone()))
                    .set_interval(check.interval)
                    .set_timeout(check.timeout)
                    .set_retries(check.retries)
                    .set_start_period(check.start_period)
                    .build(),
                "healthCheck",
            )?);
        }
        if let Some(logs) = &self.log_configuration {
            let mut log_builder = ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::from(logs.log_driver.as_str()));
            for (key, value) in &logs.options {
                log_builder = log_builder.options(key, value);
            }
            for secret in &logs.secret_options {
                log_builder = log_builder.secret_options(built(
                    ecs::Secret::builder()
                        .name(&secret.name)
                        .value_from(&secret.value_from)
                        .build(),
                    "secretOptions",
                )?);
            }
            builder = builder.log_configuration(built(log_builder.build(), "logConfiguration")?);
        }
        for dependency in &self.depends_on {
            builder = builder.depends_on(built(
                ecs::ContainerDependency::builder()
                    .container_name(&dependency.container_name)
                    .condition(ecs::ContainerCondition::from(dependency.condition.as_str()))
                    .build(),
                "dependsOn",
            )?);
        }
        for mount in &self.mount_points {
            builder = builder.mount_points(
                ecs::MountPoint::builder()
                    .source_volume(&mount.source_volume)
                    .container_path(&mount.container_path)
                    .set_read_only(mount.read_only)
                    .build(),
            );
        }
        for limit in &self.ulimits {
            builder = builder.ulimits(built(
                ecs::Ulimit::builder()
                    .name(ecs::UlimitName::from(limit.name.as_str()))
                    .soft_limit(limit.soft_limit)
                    .hard_limit(limit.hard_limit)
                    .build(),
                "ulimits",
            )?);
        }
        for (key, value) in &self.docker_labels {
            builder = builder.docker_labels(key, value);
        }
        if let Some(linux) = &self.linux_parameters {
            let mut linux_builder = ecs::LinuxParameters::builder()
                .set_init_process_enabled(linux.init_process_enabled)
                .set_capabilities(linux.capabilities.as_ref().map(|capabilities| {
                    ecs::KernelCapabilities::builder()
                        .set_add(Some(capabilities.add.clone()).filter(|add| !add.is_empty()))
                        .set_drop(Some(capabilities.drop.clone()).filter(|drop| !drop.is_empty()))
                        .build()
                }));
            for device in &linux.devices {
                linux_builder = linux_builder.devices(built(
                    ecs::Device::builder()
                        .host_path(&device.host_path)
                        .set_container_path(device.container_path.clone())
                        .set_permissions(Some(
                            device
                                .permissions
                                .iter()
                                .map(|permission| {
                                    ecs::DeviceCgroupPermission::from(permission.as_str())
                                })
                                .collect(),
                        ))
                        .build(),
                    "linuxParameters.devices",
                )?);
            }
            builder = builder.linux_parameters(linux_builder.build());
        }
        if let Some(firelens) = &self.firelens_configuration {
            let mut firelens_builder = ecs::FirelensConfiguration::builder()
                .r#type(ecs::FirelensConfigurationType::from(firelens.kind.as_str()));
            for (key, value) in &firelens.options {
                firelens_builder = firelens_builder.options(key, value);
            }
            builder = builder
                .firelens_configuration(built(firelens_builder.build(), "firelensConfiguration")?);
        }
        if let Some(credentials) = &self.repository_credentials {
            builder = builder.repository_credentials(built(
                ecs::RepositoryCredentials::builder()
                    .credentials_parameter(&credentials.credentials_parameter)
                    .build(),
                "repositoryCredentials",
            )?);
        }
        for file in &self.environment_files {
            builder = builder.environment_files(built(
                ecs::EnvironmentFile::builder()
                    .value(&file.value)
                    .r#type(ecs::EnvironmentFileType::from(file.kind.as_str()))
                    .build(),
                "environmentFiles",
            )?);
        }
        for requirement in &self.resource_requirements {
            builder = builder.resource_requirements(built(
                ecs::ResourceRequirement::builder()
                    .value(&requirement.value)
                    .r#type(ecs::ResourceType::from(requirement.kind.as_str()))
                    .build(),
                "resourceRequirements",
            )?);
        }
        for control in &self.system_controls {
            builder = builder.system_controls(
                ecs::SystemControl::builder()
                    .set_namespace(control.namespace.clone())
                    .set_value(control.value.clone())
                    .build(),
            );
        }
        Ok(builder.set_hostname(self.hostname.clone()).build())
    }

    fn from_sdk(container: &ecs::ContainerDefinition) -> Container {
        let secret = |secret: &ecs::Secret| SecretReference {
            name: secret.name().to_string(),
            value_from: secret.value_from().to_string(),
        };
        Container {
            name: container.name().unwrap_or_default().to_string(),
            image: container.image().unwrap_or_default().to_string(),
            essential: container.essential(),
            cpu: container.cpu().then_some_nonzero(),
            memory: container.memory(),
            memory_reservation: container.memory_reservation(),
            port_mappings: container
                .port_mappings()
                .iter()
                .map(|port| PortMapping {
                    container_port: port.container_port().unwrap_or_default(),
                    host_port: port.host_port(),
                    protocol: port
                        .protocol()
                        .map(|protocol| protocol.as_str().to_string()),
                    name: port.name().map(str::to_string),
                    app_protocol: port
                        .app_protocol()
                        .map(|protocol| protocol.as_str().to_string()),
                })
                .collect(),
            environment: container
                .environment()
                .iter()
                .map(|pair| NameValue {
                    name: pair.name().unwrap_or_default().to_string(),
                    value: pair.value().map(str::to_string),
                })
                .collect(),
            secrets: container.secrets().iter().map(secret).collect(),
            entry_point: container.entry_point().to_vec(),
            command: container.command().to_vec(),
            working_directory: container.working_directory().map(str::to_string),
            user: container.user().map(str::to_string),
            health_check: container.health_check().map(|check| HealthCheck {
                command: check.command().to_vec(),
                interval: check.interval(),
                timeout: check.timeout(),
                retries: check.retries(),
                start_period: check.start_period(),
            }),
            log_configuration: container.log_configuration().map(|logs| LogConfiguration {
                log_driver: logs.log_driver().as_str().to_string(),
                options: logs
                    .options()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                secret_options: logs.secret_options().iter().map(secret).collect(),
            }),
            depends_on: container
                .depends_on()
                .iter()
                .map(|dependency| Dependency {
                    container_name: dependency.container_name().to_string(),
                    condition: dependency.condition().as_str().to_string(),
                })
                .collect(),
            mount_points: container
                .mount_points()
                .iter()
                .map(|mount| MountPoint {
                    source_volume: mount.source_volume().unwrap_or_default().to_string(),
                    container_path: mount.container_path().unwrap_or_default().to_string(),
                    read_only: mount.read_only(),
                })
                .collect(),
            ulimits: container
                .ulimits()
                .iter()
                .map(|limit| Ulimit {
                    name: limit.name().as_str().to_string(),
                    soft_limit: limit.soft_limit(),
                    hard_limit: limit.hard_limit(),
                })
                .collect(),
            stop_timeout: container.stop_timeout(),
            start_timeout: container.start_timeout(),
            readonly_root_filesystem: container.readonly_root_filesystem(),
            privileged: container.privileged(),
            docker_labels: container
                .docker_labels()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            linux_parameters: container
                .linux_parameters()
                .filter(|linux| {
                    linux.init_process_enabled().is_some()
                        || linux.capabilities().is_some_and(|capabilities| {
                            !capabilities.add().is_empty() || !capabilities.drop().is_empty()
                        })
                        || !linux.devices().is_empty()
                })
                .map(|linux| LinuxParameters {
                    init_process_enabled: linux.init_process_enabled(),
                    // An empty set reads back as none: no change from a
                    // template that leaves capabilities out.
                    capabilities: linux
                        .capabilities()
                        .filter(|capabilities| {
                            !capabilities.add().is_empty() || !capabilities.drop().is_empty()
                        })
                        .map(|capabilities| KernelCapabilities {
                            add: capabilities.add().to_vec(),
                            drop: capabilities.drop().to_vec(),
                        }),
                    devices: linux
                        .devices()
                        .iter()
                        .map(|device| Device {
                            host_path: device.host_path().to_string(),
                            container_path: device.container_path().map(str::to_string),
                            permissions: device
                                .permissions()
                                .iter()
                                .map(|permission| permission.as_str().to_string())
                                .collect(),
                        })
                        .collect(),
                }),
            firelens_configuration: container.firelens_configuration().map(|firelens| {
                FirelensConfiguration {
                    kind: firelens.r#type().as_str().to_string(),
                    options: firelens
                        .options()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                }
            }),
            repository_credentials: container.repository_credentials().map(|credentials| {
                RepositoryCredentials {
                    credentials_parameter: credentials.credentials_parameter().to_string(),
                }
            }),
            environment_files: container
                .environment_files()
                .iter()
                .map(|file| TypedValue {
                    kind: file.r#type().as_str().to_string(),
                    value: file.value().to_string(),
                })
                .collect(),
            hostname: container.hostname().map(str::to_string),
            resource_requirements: container
                .resource_requirements()
                .iter()
                .map(|requirement| TypedValue {
                    kind: requirement.r#type().as_str().to_string(),
                    value: requirement.value().to_string(),
                })
                .collect(),
            system_controls: container
                .system_controls()
                .iter()
                .map(|control| SystemControl {
                    namespace: control.namespace().map(str::to_string),
                    value: control.value().map(str::to_string),
                })
                .collect(),
        }
    }
}

/// What ECS takes a task definition field left out to mean, and what
/// DescribeTaskDefinition gives back for it: a revision registered without
/// the field reads back with this value, which is no change from the
/// template (see `diff`). Paths are the diff's, without the list keys.
pub enum EcsDefault {
    /// This value, as JSON.
    Is(&'static str),
    /// The host port of a port mapping: the container port in the `awsvpc`
    /// and `host` network modes, 0 (a dynamic port) in `bridge` mode.
    HostPort,
}

pub const TASK_DEFINITION_DEFAULTS: &[(&str, EcsDefault)] = &[
    ("networkMode", EcsDefault::Is("\"bridge\"")),
    ("containerDefinitions[].essential", EcsDefault::Is("true")),
    ("containerDefinitions[].privileged", EcsDefault::Is("false")),
    (
        "containerDefinitions[].readonlyRootFilesystem",
        EcsDefault::Is("false"),
    ),
    (
        "containerDefinitions[].portMappings[].protocol",
        EcsDefault::Is("\"tcp\""),
    ),
    (
        "containerDefinitions[].portMappings[].hostPort",
        EcsDefault::HostPort,
    ),
    (
        "containerDefinitions[].mountPoints[].readOnly",
        EcsDefault::Is("false"),
    ),
    (
        "containerDefinitions[].healthCheck.interval",
        EcsDefault::Is("30"),
    ),
    (
        "containerDefinitions[].healthCheck.timeout",
        EcsDefault::Is("5"),
    ),
    (
        "containerDefinitions[].healthCheck.retries",
        EcsDefault::Is("3"),
    ),
    (
        "containerDefinitions[].linuxParameters.initProcessEnabled",
        EcsDefault::Is("false"),
    ),
];

/// ECS reports `cpu: 0` for a container that did not set it.
trait NonZero {
    fn then_some_nonzero(self) -> Option<i32>;
}

impl NonZero for i32 {
    fn then_some_nonzero(self) -> Option<i32> {
        (self != 0).then_some(self)
    }
}

impl TaskDefinition {
    /// The RegisterTaskDefinition request, with `tags`.
    pub fn register_request(
        &self,
        client: &aws_sdk_ecs::Client,
        tags: &BTreeMap<String, String>,
    ) -> anyhow::Result<aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder>{
        let mut request = client
            .register_task_definition()
            .family(&self.family)
            .set_task_role_arn(self.task_role_arn.clone())
            .set_execution_role_arn(self.execution_role_arn.clone())
            .set_network_mode(self.network_mode.as_deref().map(ecs::NetworkMode::from))
            .set_cpu(self.cpu.clone())
            .set_memory(self.memory.clone());
        for compatibility in &self.requires_compatibilities {
            request =
                request.requires_compatibilities(ecs::Compatibility::from(compatibility.as_str()));
        }
        for container in &self.container_definitions {
            request = request.container_definitions(container.to_sdk()?);
        }
        for volume in &self.volumes {
            request = request.volumes(
                ecs::Volume::builder()
                    .name(&volume.name)
                    .set_host(volume.host.as_ref().map(|host| {
                        ecs::HostVolumeProperties::builder()
                            .set_source_path(host.source_path.clone())
                            .build()
                    }))
                    .set_docker_volume_configuration(
                        volume.docker_volume_configuration.as_ref().map(|docker| {
                            ecs::DockerVolumeConfiguration::builder()
                                .set_scope(docker.scope.as_deref().map(ecs::Scope::from))
                                .set_autoprovision(docker.autoprovision)
                                .set_driver(docker.driver.clone())
                                .set_driver_opts(
                                    (!docker.driver_opts.is_empty())
                                        .then(|| docker.driver_opts.clone().into_iter().collect()),
                                )
                                .set_labels(
                                    (!docker.labels.is_empty())
                                        .then(|| docker.labels.clone().into_iter().collect()),
                                )
                                .build()
                        }),
                    )
                    .build(),
            );
        }
        for constraint in &self.placement_constraints {
            request = request.placement_constraints(
                ecs::TaskDefinitionPlacementConstraint::builder()
                    .r#type(ecs::TaskDefinitionPlacementConstraintType::from(
                        constraint.kind.as_str(),
                    ))
                    .set_expression(constraint.expression.clone())
                    .build(),
            );
        }
        if let Some(platform) = &self.runtime_platform {
            request = request.runtime_platform(
                ecs::RuntimePlatform::builder()
                    .set_cpu_architecture(
                        platform
                            .cpu_architecture
                            .as_deref()
                            .map(ecs::CpuArchitecture::from),
                    )
                    .set_operating_system_family(
                        platform
                            .operating_system_family
                            .as_deref()
                            .map(ecs::OsFamily::from),
                    )
                    .build(),
            );
        }
        for tag in self.tags.iter().filter(|tag| !tags.contains_key(&tag.key)) {
            request = request.tags(
                ecs::Tag::builder()
                    .key(&tag.key)
                    .set_value(tag.value.clone())
                    .build(),
            );
        }
        for (key, value) in tags {
            request = request.tags(ecs::Tag::builder().key(key).value(value).build());
        }
        Ok(request
            .set_pid_mode(self.pid_mode.as_deref().map(ecs::PidMode::from))
            .set_ipc_mode(self.ipc_mode.as_deref().map(ecs::IpcMode::from))
            .set_ephemeral_storage(self.ephemeral_storage.as_ref().map(|storage| {
                ecs::EphemeralStorage::builder()
                    .size_in_gib(storage.size_in_gib)
                    .build()
            })))
    }

    /// A registered revision in the template's shape, for the diff.
    pub fn from_sdk(definition: &ecs::TaskDefinition) -> TaskDefinition {
        TaskDefinition {
            family: definition.family().unwrap_or_default().to_string(),
            task_role_arn: definition.task_role_arn().map(str::to_string),
            execution_role_arn: definition.execution_role_arn().map(str::to_string),
            network_mode: definition
                .network_mode()
                .map(|mode| mode.as_str().to_string()),
            requires_compatibilities: definition
                .requires_compatibilities()
                .iter()
                .map(|compatibility| compatibility.as_str().to_string())
                .collect(),
            cpu: definition.cpu().map(str::to_string),
            memory: definition.memory().map(str::to_string),
            container_definitions: definition
                .container_definitions()
                .iter()
                .map(Container::from_sdk)
                .collect(),
            volumes: definition
                .volumes()
                .iter()
                .map(|volume| Volume {
                    name: volume.name().unwrap_or_default().to_string(),
                    host: volume.host().map(|host| HostVolume {
                        source_path: host.source_path().map(str::to_string),
                    }),
                    docker_volume_configuration: volume.docker_volume_configuration().map(
                        |docker| DockerVolume {
                            scope: docker.scope().map(|scope| scope.as_str().to_string()),
                            autoprovision: docker.autoprovision(),
                            driver: docker.driver().map(str::to_string),
                            driver_opts: docker
                                .driver_opts()
                                .cloned()
                                .unwrap_or_default()
                                .into_iter()
                                .collect(),
                            labels: docker
                                .labels()
                                .cloned()
                                .unwrap_or_default()
                                .into_iter()
                                .collect(),
                        },
                    ),
                })
                .collect(),
            placement_constraints: definition
                .placement_constraints()
                .iter()
                .map(|constraint| PlacementConstraint {
                    kind: constraint
                        .r#type()
                        .map(|kind| kind.as_str().to_string())
                        .unwrap_or_default(),
                    expression: constraint.expression().map(str::to_string),
                })
                .collect(),
            runtime_platform: definition
                .runtime_platform()
                .map(|platform| RuntimePlatform {
                    cpu_architecture: platform
                        .cpu_architecture()
                        .map(|arch| arch.as_str().to_string()),
                    operating_system_family: platform
                        .operating_system_family()
                        .map(|family| family.as_str().to_string()),
                }),
            pid_mode: definition.pid_mode().map(|mode| mode.as_str().to_string()),
            ipc_mode: definition.ipc_mode().map(|mode| mode.as_str().to_string()),
            ephemeral_storage: definition
                .ephemeral_storage()
                .map(|storage| EphemeralStorage {
                    size_in_gib: storage.size_in_gib(),
                }),
            // DescribeTaskDefinition gives the tags beside the definition.
            tags: Vec::new(),
        }
    }

    /// The template's own tags of a registered revision: all but stackup's.
    pub fn with_tags(mut self, tags: &BTreeMap<String, String>) -> TaskDefinition {
        self.tags = tags
            .iter()
            .filter(|(key, _)| !key.starts_with("stackup:"))
            .map(|(key, value)| Tag {
                key: key.clone(),
                value: Some(value.clone()),
            })
            .collect();
        self
    }
}

impl ServiceDefinition {
    pub fn network_configuration_sdk(&self) -> anyhow::Result<Option<ecs::NetworkConfiguration>> {
        let Some(network) = &self.network_configuration else {
            return Ok(None);
        };
        let vpc = &network.awsvpc_configuration;
        Ok(Some(
            ecs::NetworkConfiguration::builder()
                .awsvpc_configuration(built(
                    ecs::AwsVpcConfiguration::builder()
                        .set_subnets(Some(vpc.subnets.clone()))
                        .set_security_groups(Some(vpc.security_groups.clone()))
                        .set_assign_public_ip(
                            vpc.assign_public_ip
                                .as_deref()
                                .map(ecs::AssignPublicIp::from),
                        )
                        .build(),
                    "awsvpcConfiguration",
                )?)
                .build(),
        ))
    }

    pub fn deployment_configuration_sdk(&self) -> Option<ecs::DeploymentConfiguration> {
        self.deployment_configuration.as_ref().map(|deployment| {
            ecs::DeploymentConfiguration::builder()
                .set_maximum_percent(deployment.maximum_percent)
                .set_minimum_healthy_percent(deployment.minimum_healthy_percent)
                .set_deployment_circuit_breaker(deployment.deployment_circuit_breaker.as_ref().map(
                    |breaker| {
                        ecs::DeploymentCircuitBreaker::builder()
                            .enable(breaker.enable.unwrap_or(false))
                            .rollback(breaker.rollback.unwrap_or(false))
                            .build()
                    },
                ))
                .set_alarms(deployment.alarms.as_ref().and_then(|alarms| {
                    ecs::DeploymentAlarms::builder()
                        .set_alarm_names(Some(alarms.alarm_names.clone()))
                        .enable(alarms.enable.unwrap_or(false))
                        .rollback(alarms.rollback.unwrap_or(false))
                        .build()
                        .ok()
                }))
                .build()
        })
    }

    pub fn capacity_provider_strategy_sdk(
        &self,
    ) -> anyhow::Result<Option<Vec<ecs::CapacityProviderStrategyItem>>> {
        if self.capacity_provider_strategy.is_empty() {
            return Ok(None);
        }
        self.capacity_provider_strategy
            .iter()
            .map(|item| {
                built(
                    ecs::CapacityProviderStrategyItem::builder()
                        .capacity_provider(&item.capacity_provider)
                        .set_weight(item.weight)
                        .set_base(item.base)
                        .build(),
                    "capacityProviderStrategy",
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Some)
    }

    pub fn service_registries_sdk(&self) -> Option<Vec<ecs::ServiceRegistry>> {
        (!self.service_registries.is_empty()).then(|| {
            self.service_registries
                .iter()
                .map(|registry| {
                    ecs::ServiceRegistry::builder()
                        .registry_arn(&registry.registry_arn)
                        .set_port(registry.port)
                        .set_container_name(registry.container_name.clone())
                        .set_container_port(registry.container_port)
                        .build()
                })
                .collect()
        })
    }

    pub fn tags_sdk(&self) -> Option<Vec<ecs::Tag>> {
        (!self.tags.is_empty()).then(|| {
            self.tags
                .iter()
                .map(|tag| {
                    ecs::Tag::builder()
                        .key(&tag.key)
                        .set_value(tag.value.clone())
                        .build()
                })
                .collect()
        })
    }

    pub fn load_balancers_sdk(&self) -> Vec<ecs::LoadBalancer> {
        self.load_balancers
            .iter()
            .map(|balancer| {
                ecs::LoadBalancer::builder()
                    .target_group_arn(&balancer.target_group_arn)
                    .container_name(&balancer.container_name)
                    .container_port(balancer.container_port)
                    .build()
            })
            .collect()
    }

    pub fn placement_strategy_sdk(&self) -> Vec<ecs::PlacementStrategy> {
        self.placement_strategy
            .iter()
            .map(|strategy| {
                ecs::PlacementStrategy::builder()
                    .r#type(ecs::PlacementStrategyType::from(strategy.kind.as_str()))
                    .set_field(strategy.field.clone())
                    .build()
            })
            .collect()
    }

    pub fn placement_constraints_sdk(&self) -> Vec<ecs::PlacementConstraint> {
        self.placement_constraints
            .iter()
            .map(|constraint| {
                ecs::PlacementConstraint::builder()
                    .r#type(ecs::PlacementConstraintType::from(constraint.kind.as_str()))
                    .set_expression(constraint.expression.clone())
                    .build()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholder_text_is_accepted_where_numbers_and_lists_are_wanted() {
        let service: ServiceDefinition = serde_json::from_value(json!({
            "cluster": "c", "serviceName": "web", "taskDefinition": "arn",
            "desiredCount": "2",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": "subnet-a,subnet-b", "securityGroups": ["sg-1"]}},
            "loadBalancers": [{"targetGroupArn": "tg", "containerName": "web", "containerPort": "4000"}]
        }))
        .expect("parses");
        assert_eq!(service.desired_count, Some(2));
        assert_eq!(service.load_balancers[0].container_port, 4000);
        assert_eq!(
            service
                .network_configuration
                .expect("network")
                .awsvpc_configuration
                .subnets,
            vec!["subnet-a", "subnet-b"]
        );
    }

    #[test]
    fn standard_task_definition_fields_are_read_and_passed_on() {
        let task: TaskDefinition = serde_json::from_value(json!({
            "family": "f", "pidMode": "task", "ipcMode": "none",
            "ephemeralStorage": {"sizeInGiB": "30"},
            "tags": [{"key": "team", "value": "payments"}, {"key": "stackup:release", "value": "mine"}],
            "containerDefinitions": [{
                "name": "web", "image": "i", "hostname": "web",
                "firelensConfiguration": {"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true"}},
                "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:eu-west-1:1:secret:r"},
                "environmentFiles": [{"value": "arn:aws:s3:::bucket/web.env", "type": "s3"}],
                "resourceRequirements": [{"value": 1, "type": "GPU"}],
                "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}]
            }]
        }))
        .expect("standard fields are taken");
        let container = &task.container_definitions[0];
        assert_eq!(
            Container::from_sdk(&container.to_sdk().expect("builds")),
            *container,
            "what is registered reads back the same, for the diff"
        );

        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .build();
        let client = aws_sdk_ecs::Client::from_conf(config);
        let stackup_tags = BTreeMap::from([("stackup:release".to_string(), "r1".to_string())]);
        let request = task
            .register_request(&client, &stackup_tags)
            .expect("builds");
        let input = request.as_input();
        assert_eq!(
            input.get_pid_mode().as_ref().map(|mode| mode.as_str()),
            Some("task")
        );
        assert_eq!(
            input.get_ipc_mode().as_ref().map(|mode| mode.as_str()),
            Some("none")
        );
        assert_eq!(
            input
                .get_ephemeral_storage()
                .as_ref()
                .map(|storage| storage.size_in_gib()),
            Some(30)
        );
        let tags: Vec<(Option<&str>, Option<&str>)> = input
            .get_tags()
            .iter()
            .flatten()
            .map(|tag| (tag.key(), tag.value()))
            .collect();
        assert_eq!(
            tags,
            vec![
                (Some("team"), Some("payments")),
                (Some("stackup:release"), Some("r1"))
            ],
            "stackup's own tags win"
        );
        let sent = &input
            .get_container_definitions()
            .as_ref()
            .expect("containers")[0];
        assert_eq!(sent.hostname(), Some("web"));
        assert_eq!(
            sent.firelens_configuration()
                .map(|firelens| firelens.r#type().as_str()),
            Some("fluentbit")
        );
        assert_eq!(sent.resource_requirements()[0].value(), "1");
        assert_eq!(sent.environment_files()[0].r#type().as_str(), "s3");
        assert_eq!(sent.system_controls()[0].value(), Some("1024"));
        assert!(sent.repository_credentials().is_some());
    }

    #[test]
    fn standard_service_fields_are_read() {
        let service: ServiceDefinition = serde_json::from_value(json!({
            "cluster": "c", "serviceName": "web", "taskDefinition": "arn",
            "schedulingStrategy": "DAEMON",
            "capacityProviderStrategy": [{"capacityProvider": "spot", "weight": "2", "base": 1}],
            "serviceRegistries": [{"registryArn": "arn:aws:servicediscovery:x", "containerName": "web", "containerPort": 4000}],
            "enableECSManagedTags": true, "propagateTags": "SERVICE", "platformVersion": "LATEST",
            "tags": [{"key": "team", "value": "payments"}],
            "deploymentConfiguration": {"alarms": {"alarmNames": ["web-5xx"], "enable": true, "rollback": true}}
        }))
        .expect("standard fields are taken");
        assert_eq!(service.scheduling_strategy.as_deref(), Some("DAEMON"));
        assert_eq!(service.enable_ecs_managed_tags, Some(true));
        let strategy = service
            .capacity_provider_strategy_sdk()
            .expect("builds")
            .expect("given");
        assert_eq!(strategy[0].weight(), 2);
        assert_eq!(
            service.service_registries_sdk().expect("given")[0].container_port(),
            Some(4000)
        );
        assert_eq!(service.tags_sdk().expect("given")[0].key(), Some("team"));
        let alarms = service
            .deployment_configuration_sdk()
            .and_then(|deployment| deployment.alarms().cloned())
            .expect("alarms");
        assert_eq!(alarms.alarm_names(), ["web-5xx"]);
        assert!(alarms.rollback());
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let error = serde_json::from_value::<TaskDefinition>(json!({
            "family": "f", "containerDefinitions": [{"name": "web", "image": "i", "memoryReservaton": 5}]
        }))
        .expect_err("refused");
        assert!(error.to_string().contains("memoryReservaton"), "{error}");
    }
}
