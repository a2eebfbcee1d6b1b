//! Task definition fields that give a task the ECS host (see
//! `config::host_access` for which and why), found in a template: refused
//! unless the service's `allow_host_access` allows the field with a reason.
//!
//! The template is read as written, before placeholders are filled: a mode or
//! flag whose value comes from a placeholder is taken as the worst it could
//! be, since what a stack output says is known only at deploy time.

use std::path::Path;

use serde_json::Value;

use super::templates::line_of_pointer;
use crate::config::host_access::{HostAccess, HostAccessAllowance};
use crate::config::{ServiceConfig, StackConfig};
use crate::error::Problem;

/// One use of a host-level field in a task definition template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostUse {
    pub access: HostAccess,
    /// The containers it is for: the one that sets it, those that mount a
    /// host path volume, or every container for a task-level mode.
    pub containers: Vec<String>,
    /// The volume, for a host path volume.
    pub volume: Option<String>,
    /// JSON pointer of the field.
    pub pointer: String,
    /// The value as written, shortened for a message.
    pub value: String,
}

fn has_placeholder(value: &Value) -> bool {
    value.as_str().is_some_and(|text| text.contains("{{"))
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

/// Whether a list field holds anything: an array with an element, or a
/// non-blank string (placeholders and comma-joined lists arrive as text).
fn non_empty_list(value: &Value) -> bool {
    match value {
        Value::Array(items) => !items.is_empty(),
        Value::String(text) => !text.trim().is_empty(),
        Value::Null => false,
        _ => true,
    }
}

/// Whether a Docker volume's configuration has the host's Docker mount
/// something of the host: any driver options (the local driver passes them to
/// mount(8): `o=bind` with `device=/path` bind-mounts a host path, `device`
/// alone mounts a host device or a network file system from the host's
/// network), or a driver other than `local` (a volume plugin, running on the
/// host, that mounts what it will). A placeholder counts as the worst.
fn reaches_the_host(docker: &Value) -> bool {
    let driver = docker.get("driver").filter(|driver| !driver.is_null());
    let other_driver = driver.is_some_and(|driver| driver.as_str() != Some("local"));
    let options = docker
        .get("driverOpts")
        .is_some_and(|options| match options {
            Value::Object(map) => !map.is_empty(),
            Value::Null => false,
            _ => true,
        });
    other_driver || options
}

/// Every use of a host-level field in a task definition template.
pub fn uses(template: &Value) -> Vec<HostUse> {
    let containers: Vec<&Value> = template
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .map(|containers| containers.iter().collect())
        .unwrap_or_default();
    let name_of = |container: &Value| {
        container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_string()
    };
    let every_container: Vec<String> = containers
        .iter()
        .map(|container| name_of(container))
        .collect();
    let mut found = Vec::new();

    for (field, access) in [
        ("networkMode", HostAccess::HostNetwork),
        ("pidMode", HostAccess::HostPid),
        ("ipcMode", HostAccess::HostIpc),
    ] {
        if let Some(value) = template.get(field) {
            if value.as_str() == Some("host") || has_placeholder(value) {
                found.push(HostUse {
                    access,
                    containers: every_container.clone(),
                    volume: None,
                    pointer: format!("/{field}"),
                    value: shown(value),
                });
            }
        }
    }

    let volumes = template.get("volumes").and_then(Value::as_array);
    for (index, volume) in volumes.into_iter().flatten().enumerate() {
        let name = volume
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mounting = || -> Vec<String> {
            containers
                .iter()
                .filter(|container| {
                    container
                        .get("mountPoints")
                        .and_then(Value::as_array)
                        .is_some_and(|mounts| {
                            mounts.iter().any(|mount| {
                                mount.get("sourceVolume").and_then(Value::as_str) == Some(name)
                            })
                        })
                })
                .map(|container| name_of(container))
                .collect()
        };
        if let Some(source_path) = volume
            .get("host")
            .and_then(|host| host.get("sourcePath"))
            .filter(|path| !path.is_null())
        {
            found.push(HostUse {
                access: HostAccess::HostPathVolume,
                containers: mounting(),
                volume: Some(name.to_string()),
                pointer: format!("/volumes/{index}/host/sourcePath"),
                value: shown(source_path),
            });
        }
        if let Some(docker) = volume
            .get("dockerVolumeConfiguration")
            .filter(|docker| reaches_the_host(docker))
        {
            found.push(HostUse {
                access: HostAccess::DockerVolumeDriver,
                containers: mounting(),
                volume: Some(name.to_string()),
                pointer: format!("/volumes/{index}/dockerVolumeConfiguration"),
                value: shown(docker),
            });
        }
    }

    for (index, container) in containers.iter().enumerate() {
        let pointer = format!("/containerDefinitions/{index}");
        let name = name_of(container);
        if let Some(value) = container.get("privileged") {
            if value == &Value::Bool(true)
                || value.as_str() == Some("true")
                || has_placeholder(value)
            {
                found.push(HostUse {
                    access: HostAccess::Privileged,
                    containers: vec![name.clone()],
                    volume: None,
                    pointer: format!("{pointer}/privileged"),
                    value: shown(value),
                });
            }
        }
        let linux = container.get("linuxParameters");
        if let Some(add) = linux
            .and_then(|linux| linux.get("capabilities"))
            .and_then(|capabilities| capabilities.get("add"))
            .filter(|add| non_empty_list(add))
        {
            found.push(HostUse {
                access: HostAccess::Capabilities,
                containers: vec![name.clone()],
                volume: None,
                pointer: format!("{pointer}/linuxParameters/capabilities/add"),
                value: shown(add),
            });
        }
        if let Some(devices) = linux
            .and_then(|linux| linux.get("devices"))
            .filter(|devices| non_empty_list(devices))
        {
            found.push(HostUse {
                access: HostAccess::Devices,
                containers: vec![name.clone()],
                volume: None,
                pointer: format!("{pointer}/linuxParameters/devices"),
                value: shown(devices),
            });
        }
    }
    found
}

fn containers_phrase(host_use: &HostUse) -> String {
    let containers = match host_use.containers.as_slice() {
        [] => "no container".to_string(),
        [one] => format!("container {one}"),
        many => format!("containers {}", many.join(", ")),
    };
    match &host_use.volume {
        Some(volume) => format!("volume {volume} (mounted by {containers})"),
        None => containers,
    }
}

fn allowance_of(service: &ServiceConfig, access: HostAccess) -> Option<&HostAccessAllowance> {
    service
        .allow_host_access
        .iter()
        .find(|allowance| allowance.access == access)
}

/// The problems of one service's task definition template: each use of a
/// host-level field the service does not allow, and each allowed use the
/// stack's hosts would refuse anyway.
pub fn check(
    stack: &StackConfig,
    service: &ServiceConfig,
    template: &Value,
    text_for_lines: &str,
    display: &Path,
) -> Vec<Problem> {
    let stack_file = stack.file.display();
    let mut problems = Vec::new();
    for host_use in uses(template) {
        let field = host_use.access.field();
        let problem = Problem::new(String::new())
            .in_file(display)
            .at_line(line_of_pointer(text_for_lines, &host_use.pointer))
            .at_key(host_use.pointer.clone());
        match allowance_of(service, host_use.access) {
            None => {
                let placeholder = if host_use.value.contains("{{") {
                    " (a placeholder is taken as the worst it could be)"
                } else {
                    ""
                };
                problems.push(
                    Problem {
                        message: format!(
                            "{}: {field} is {}{placeholder}: on the EC2 launch type it {}; service {} does not allow it",
                            containers_phrase(&host_use),
                            host_use.value,
                            host_use.access.gives(),
                            service.name,
                        ),
                        ..problem
                    }
                    .fix(format!(
                        "remove it; or, if service {} truly needs it, allow it in {stack_file}: [services.{}] allow_host_access = [{{ field = \"{field}\", reason = \"why this service needs it\" }}]",
                        service.name, service.name
                    )),
                );
            }
            // The built-in platform's hosts run the ECS agent with
            // ECS_DISABLE_PRIVILEGED=true (stacks/platform.json): a
            // privileged container would never start there.
            Some(allowance)
                if host_use.access == HostAccess::Privileged
                    && stack.templates.platform.is_none() =>
            {
                problems.push(
                    Problem {
                        message: format!(
                            "{}: privileged is allowed by {stack_file}:{}, but the built-in platform's ECS hosts refuse privileged containers (ECS_DISABLE_PRIVILEGED=true): its tasks would never start",
                            containers_phrase(&host_use),
                            allowance.line
                        ),
                        ..problem
                    }
                    .fix("grant only the capabilities it needs (linuxParameters.capabilities.add, allowed the same way); or name a platform template of your own in [templates] platform, whose hosts allow privileged containers"),
                );
            }
            Some(_) => {}
        }
    }
    problems
}

/// What validate and deploy-release say about allowances, as warnings: each
/// allowed use (so that it stays in sight, with its reason), and each
/// allowance the template does not use (least privilege: remove it).
pub fn warnings(allowances: &[HostAccessAllowance], template: &Value) -> Vec<String> {
    let found = uses(template);
    let mut warnings = Vec::new();
    for allowance in allowances {
        let field = allowance.access.field();
        let using: Vec<&HostUse> = found
            .iter()
            .filter(|host_use| host_use.access == allowance.access)
            .collect();
        if using.is_empty() {
            warnings.push(format!(
                "allow_host_access allows {field}, which the task definition does not use: remove the allowance"
            ));
        }
        for host_use in using {
            warnings.push(format!(
                "{}: {field} is {}, which on the EC2 launch type {}; allowed because: {}",
                containers_phrase(host_use),
                host_use.value,
                host_use.access.gives(),
                allowance.reason
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accesses(template: Value) -> Vec<(HostAccess, String, Vec<String>)> {
        uses(&template)
            .into_iter()
            .map(|host_use| (host_use.access, host_use.pointer, host_use.containers))
            .collect()
    }

    #[test]
    fn every_host_level_field_is_found_where_it_is() {
        let template = json!({
            "networkMode": "host",
            "pidMode": "host",
            "ipcMode": "host",
            "volumes": [
                {"name": "scratch"},
                {"name": "docker", "host": {"sourcePath": "/var/run/docker.sock"}}
            ],
            "containerDefinitions": [
                {"name": "web", "image": "x", "privileged": true,
                 "mountPoints": [{"sourceVolume": "docker", "containerPath": "/var/run/docker.sock"}]},
                {"name": "agent", "image": "y",
                 "linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"], "drop": ["NET_RAW"]},
                                     "devices": [{"hostPath": "/dev/fuse"}]}}
            ]
        });
        let web_and_agent = vec!["web".to_string(), "agent".to_string()];
        assert_eq!(
            accesses(template),
            vec![
                (
                    HostAccess::HostNetwork,
                    "/networkMode".into(),
                    web_and_agent.clone()
                ),
                (
                    HostAccess::HostPid,
                    "/pidMode".into(),
                    web_and_agent.clone()
                ),
                (HostAccess::HostIpc, "/ipcMode".into(), web_and_agent),
                (
                    HostAccess::HostPathVolume,
                    "/volumes/1/host/sourcePath".into(),
                    vec!["web".into()]
                ),
                (
                    HostAccess::Privileged,
                    "/containerDefinitions/0/privileged".into(),
                    vec!["web".into()]
                ),
                (
                    HostAccess::Capabilities,
                    "/containerDefinitions/1/linuxParameters/capabilities/add".into(),
                    vec!["agent".into()]
                ),
                (
                    HostAccess::Devices,
                    "/containerDefinitions/1/linuxParameters/devices".into(),
                    vec!["agent".into()]
                ),
            ]
        );
    }

    #[test]
    fn what_keeps_the_task_in_its_box_is_not_a_host_use() {
        let template = json!({
            "networkMode": "awsvpc",
            "pidMode": "task",
            "ipcMode": "none",
            "volumes": [{"name": "scratch", "host": {}}],
            "containerDefinitions": [
                {"name": "web", "image": "x", "privileged": false,
                 "linuxParameters": {"initProcessEnabled": true,
                                     "capabilities": {"add": [], "drop": ["ALL"]},
                                     "devices": []}}
            ]
        });
        assert_eq!(accesses(template), Vec::new());
    }

    fn allowances(allowed: &[HostAccess]) -> Vec<HostAccessAllowance> {
        allowed
            .iter()
            .map(|access| HostAccessAllowance {
                access: *access,
                reason: "the profiler attaches with ptrace".into(),
                line: 9,
            })
            .collect()
    }

    #[test]
    fn an_allowed_use_is_said_with_its_reason_and_an_unused_allowance_too() {
        let template = json!({"containerDefinitions": [{"name": "web", "image": "x",
            "linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"]}}}]});
        let warnings = warnings(
            &allowances(&[HostAccess::Capabilities, HostAccess::HostPid]),
            &template,
        );
        assert_eq!(
            warnings,
            vec![
                "container web: linuxParameters.capabilities.add is [\"SYS_PTRACE\"], which on the EC2 launch type adds Linux capabilities beyond Docker's default set, which reach the ECS host's kernel; allowed because: the profiler attaches with ptrace".to_string(),
                "allow_host_access allows pidMode, which the task definition does not use: remove the allowance".to_string(),
            ]
        );
        assert!(super::warnings(&[], &template).is_empty());
    }

    #[test]
    fn a_docker_volume_reaches_the_host_through_driver_options_or_another_driver() {
        let template = json!({
            "volumes": [
                {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local",
                                                                "labels": {"app": "demo"}}},
                {"name": "shared", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true}},
                {"name": "etc", "dockerVolumeConfiguration": {"driver": "local",
                    "driverOpts": {"type": "none", "o": "bind", "device": "/etc"}}},
                {"name": "plugin", "dockerVolumeConfiguration": {"driver": "rexray/ebs"}},
                {"name": "later", "dockerVolumeConfiguration": {"driver": "{{stack.VolumeDriver}}"}}
            ],
            "containerDefinitions": [
                {"name": "web", "image": "x",
                 "mountPoints": [{"sourceVolume": "etc", "containerPath": "/host-etc"},
                                 {"sourceVolume": "cache", "containerPath": "/cache"}]}
            ]
        });
        assert_eq!(
            accesses(template),
            vec![
                (
                    HostAccess::DockerVolumeDriver,
                    "/volumes/2/dockerVolumeConfiguration".into(),
                    vec!["web".into()]
                ),
                (
                    HostAccess::DockerVolumeDriver,
                    "/volumes/3/dockerVolumeConfiguration".into(),
                    Vec::new()
                ),
                (
                    HostAccess::DockerVolumeDriver,
                    "/volumes/4/dockerVolumeConfiguration".into(),
                    Vec::new()
                ),
            ]
        );
    }

    #[test]
    fn a_placeholder_in_a_mode_is_taken_as_the_worst() {
        let template = json!({
            "networkMode": "{{stack.NetworkMode}}",
            "containerDefinitions": [{"name": "web", "image": "x", "privileged": "{{stack.Privileged}}"}]
        });
        let found: Vec<HostAccess> = uses(&template)
            .into_iter()
            .map(|host_use| host_use.access)
            .collect();
        assert_eq!(found, vec![HostAccess::HostNetwork, HostAccess::Privileged]);
    }
}
