//! `[services.<name>] allow_host_access`: the task definition fields that give
//! a task the host it runs on, and the stack file's allowances of them.
//!
//! On the EC2 launch type these fields reach past the container: a privileged
//! container, added capabilities or host devices are root on the ECS host;
//! a host path volume reads and writes the host's files, and so does a Docker
//! volume whose driver options have the host's Docker mount a path, a device
//! or a network file system (the local driver takes options "similar to the
//! linux mount command", `o=bind` and `device=/path` among them: `docker
//! volume create`), or whose driver is a plugin running on the host; the
//! host's network, PID or IPC namespace lets the task see the host's processes
//! and, with host networking, the instance role's credentials from IMDS,
//! which `ECS_AWSVPC_BLOCK_IMDS` only blocks for `awsvpc` tasks ("Amazon ECS
//! task definition parameters"; "Amazon ECS container agent configuration";
//! the ECS best practices on task and container security). validate and
//! deploy-release refuse them unless the service's table allows the field,
//! with a reason.

use serde::Serialize;

use super::reader::TableReader;

/// A task definition field that gives a task the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum HostAccess {
    /// `containerDefinitions[].privileged: true`.
    Privileged,
    /// `containerDefinitions[].linuxParameters.capabilities.add`, any.
    Capabilities,
    /// `containerDefinitions[].linuxParameters.devices`, any.
    Devices,
    /// `volumes[].host.sourcePath`: a bind mount of a host path.
    HostPathVolume,
    /// `volumes[].dockerVolumeConfiguration` with a driver other than
    /// `local`, or with driver options.
    DockerVolumeDriver,
    /// `networkMode: "host"`.
    HostNetwork,
    /// `pidMode: "host"`.
    HostPid,
    /// `ipcMode: "host"`.
    HostIpc,
}

impl HostAccess {
    pub const ALL: &'static [HostAccess] = &[
        HostAccess::Privileged,
        HostAccess::Capabilities,
        HostAccess::Devices,
        HostAccess::HostPathVolume,
        HostAccess::DockerVolumeDriver,
        HostAccess::HostNetwork,
        HostAccess::HostPid,
        HostAccess::HostIpc,
    ];

    /// The name an allowance gives it: the task definition field's path.
    pub fn field(self) -> &'static str {
        match self {
            HostAccess::Privileged => "privileged",
            HostAccess::Capabilities => "linuxParameters.capabilities.add",
            HostAccess::Devices => "linuxParameters.devices",
            HostAccess::HostPathVolume => "volumes.host.sourcePath",
            HostAccess::DockerVolumeDriver => "volumes.dockerVolumeConfiguration",
            HostAccess::HostNetwork => "networkMode",
            HostAccess::HostPid => "pidMode",
            HostAccess::HostIpc => "ipcMode",
        }
    }

    /// What the field gives the task on an EC2 host.
    pub fn gives(self) -> &'static str {
        match self {
            HostAccess::Privileged => "runs the container as root on the ECS host, with every device and capability",
            HostAccess::Capabilities => "adds Linux capabilities beyond Docker's default set, which reach the ECS host's kernel",
            HostAccess::Devices => "exposes devices of the ECS host to the container",
            HostAccess::HostPathVolume => "mounts a path of the ECS host into the task, to read and write the host's files",
            HostAccess::DockerVolumeDriver => "has the ECS host's Docker mount what the driver and its options say (with the local driver, o=bind and device=/path bind-mount a host path; another driver is a plugin running on the host)",
            HostAccess::HostNetwork => "puts the task on the ECS host's network, where it reaches the instance metadata service and the host role's credentials",
            HostAccess::HostPid => "shares the ECS host's process namespace: the task sees and can signal every process on the host",
            HostAccess::HostIpc => "shares the ECS host's IPC namespace (shared memory, semaphores, message queues)",
        }
    }

    pub fn from_field(field: &str) -> Option<HostAccess> {
        HostAccess::ALL
            .iter()
            .copied()
            .find(|access| access.field() == field)
    }
}

/// One allowance of `allow_host_access`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostAccessAllowance {
    pub access: HostAccess,
    pub reason: String,
    /// Where it is written in the stack file, for messages.
    pub line: usize,
}

const EXAMPLE: &str =
    "[{ field = \"linuxParameters.capabilities.add\", reason = \"the profiler reads perf events\" }]";

fn known_fields() -> String {
    HostAccess::ALL
        .iter()
        .map(|access| access.field())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read `allow_host_access` of a `[services.<name>]` table: every element a
/// known field with a reason, each field once. Every problem is reported;
/// what is returned are the allowances without one (so that the templates
/// are still checked against them in the same run).
pub fn read_allowances(table: &TableReader) -> Vec<HostAccessAllowance> {
    let Some(elements) = table.table_array("allow_host_access", EXAMPLE) else {
        return Vec::new();
    };
    let diagnostics = table.diagnostics();
    let mut allowances: Vec<HostAccessAllowance> = Vec::new();
    for element in elements {
        let line = diagnostics.source().line_of(element.span().start);
        let field = element.string("field", "\"linuxParameters.capabilities.add\"");
        let reason = element.string("reason", "\"the profiler reads perf events\"");
        let access = match &field {
            None if !element.has("field") => {
                element.missing("field", "\"linuxParameters.capabilities.add\"");
                None
            }
            None => None,
            Some(found) => match HostAccess::from_field(&found.value) {
                Some(access) => Some(access),
                None => {
                    let near = crate::suggest::closest(
                        &found.value,
                        HostAccess::ALL.iter().map(|access| access.field()),
                    )
                    .map(|near| format!("did you mean \"{near}\"? "))
                    .unwrap_or_default();
                    diagnostics.report(
                        Some(&found.span),
                        &element.key_path("field"),
                        format!(
                            "\"{}\" is not a task definition field that gives a task the host",
                            found.value
                        ),
                        Some(format!(
                            "{near}allow one of: {}; other fields need no allowance",
                            known_fields()
                        )),
                    );
                    None
                }
            },
        };
        let reason = match reason {
            Some(found) if found.value.trim().is_empty() => {
                diagnostics.report(
                    Some(&found.span),
                    &element.key_path("reason"),
                    "is empty: an allowance to reach the host needs its reason",
                    Some("say why this service needs it, like reason = \"the profiler reads perf events\"".to_string()),
                );
                None
            }
            Some(found) => Some(found.value.trim().to_string()),
            None if !element.has("reason") => {
                diagnostics.report(
                    Some(element.span()),
                    &element.key_path("reason"),
                    "is missing: an allowance to reach the host needs its reason",
                    Some(format!(
                        "write it as allow_host_access = [{{ field = \"{}\", reason = \"why this service needs it\" }}]",
                        access.map_or("privileged", HostAccess::field)
                    )),
                );
                None
            }
            None => None,
        };
        let duplicate = access.is_some_and(|access| {
            allowances
                .iter()
                .any(|allowance| allowance.access == access)
        });
        if let (true, Some(access)) = (duplicate, access) {
            diagnostics.report(
                Some(element.span()),
                &element.key_path("field"),
                format!("\"{}\" is allowed twice", access.field()),
                Some("allow each field once, with one reason".to_string()),
            );
        }
        element.finish();
        if let (false, Some(access), Some(reason)) = (duplicate, access, reason) {
            allowances.push(HostAccessAllowance {
                access,
                reason,
                line,
            });
        }
    }
    allowances
}
