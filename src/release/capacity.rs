//! Whether the services' tasks fit the cluster's hosts: network interfaces
//! for awsvpc tasks and memory reservations, at the peak of a deployment.
//!
//! On the EC2 launch type every awsvpc task gets its own elastic network
//! interface, attached to the host that runs it; an instance type has a fixed
//! maximum of interfaces and the first is the host's own (ECS "Amazon ECS task
//! networking options for the EC2 launch type"). ENI trunking raises the
//! limit, but it is an account setting (`awsvpcTrunking`) stackup's templates
//! do not turn on, and T-family types cannot use it at all (ECS "Increasing
//! Amazon ECS Linux container instance network interfaces"). During a rolling
//! deployment ECS starts up to `ceil(desired x maximumPercent / 100)` tasks of
//! a service (ECS "Deployment configuration", maximumPercent, default 200).
//! A task that finds no host with a free interface or enough memory stays
//! PROVISIONING, then the deployment fails: found here, offline, instead.

use serde_json::Value;

use crate::config::{ServiceConfig, StackConfig};
use crate::error::{InputError, Problem};
use crate::release::{placeholders, templates};

/// Where [`INSTANCE_TYPES`] comes from.
pub const TABLE_SOURCE: &str = "EC2 User Guide, \"Elastic network interfaces\", \
     \"Maximum IP addresses per network interface\" (its network interfaces column), \
     and the instance types' memory";

/// (instance type, maximum network interfaces, installed memory in MiB), as
/// [`TABLE_SOURCE`] gives them (the same numbers EC2 DescribeInstanceTypes
/// answers as NetworkInfo.MaximumNetworkInterfaces and MemoryInfo.SizeInMiB).
const INSTANCE_TYPES: &[(&str, u32, u32)] = &[
    ("t3.nano", 2, 512),
    ("t3.micro", 2, 1024),
    ("t3.small", 3, 2048),
    ("t3.medium", 3, 4096),
    ("t3.large", 3, 8192),
    ("t3.xlarge", 4, 16384),
    ("t3.2xlarge", 4, 32768),
    ("t3a.nano", 2, 512),
    ("t3a.micro", 2, 1024),
    ("t3a.small", 2, 2048),
    ("t3a.medium", 3, 4096),
    ("t3a.large", 3, 8192),
    ("t3a.xlarge", 4, 16384),
    ("t3a.2xlarge", 4, 32768),
    ("t4g.nano", 2, 512),
    ("t4g.micro", 2, 1024),
    ("t4g.small", 3, 2048),
    ("t4g.medium", 3, 4096),
    ("t4g.large", 3, 8192),
    ("t4g.xlarge", 4, 16384),
    ("t4g.2xlarge", 4, 32768),
    ("m5.large", 3, 8192),
    ("m5.xlarge", 4, 16384),
    ("m5.2xlarge", 4, 32768),
    ("m5.4xlarge", 8, 65536),
    ("m6i.large", 3, 8192),
    ("m6i.xlarge", 4, 16384),
    ("m6i.2xlarge", 4, 32768),
    ("m6i.4xlarge", 8, 65536),
    ("m6g.medium", 2, 4096),
    ("m6g.large", 3, 8192),
    ("m6g.xlarge", 4, 16384),
    ("m6g.2xlarge", 4, 32768),
    ("m6g.4xlarge", 8, 65536),
    ("m7g.medium", 2, 4096),
    ("m7g.large", 3, 8192),
    ("m7g.xlarge", 4, 16384),
    ("m7g.2xlarge", 4, 32768),
    ("m7g.4xlarge", 8, 65536),
    ("c5.large", 3, 4096),
    ("c5.xlarge", 4, 8192),
    ("c5.2xlarge", 4, 16384),
    ("c5.4xlarge", 8, 32768),
    ("c6i.large", 3, 4096),
    ("c6i.xlarge", 4, 8192),
    ("c6i.2xlarge", 4, 16384),
    ("c6i.4xlarge", 8, 32768),
    ("c6g.medium", 2, 2048),
    ("c6g.large", 3, 4096),
    ("c6g.xlarge", 4, 8192),
    ("c6g.2xlarge", 4, 16384),
    ("c6g.4xlarge", 8, 32768),
    ("c7g.medium", 2, 2048),
    ("c7g.large", 3, 4096),
    ("c7g.xlarge", 4, 8192),
    ("c7g.2xlarge", 4, 16384),
    ("c7g.4xlarge", 8, 32768),
    ("r5.large", 3, 16384),
    ("r5.xlarge", 4, 32768),
    ("r5.2xlarge", 4, 65536),
    ("r5.4xlarge", 8, 131072),
    ("r6i.large", 3, 16384),
    ("r6i.xlarge", 4, 32768),
    ("r6i.2xlarge", 4, 65536),
    ("r6i.4xlarge", 8, 131072),
    ("r6g.medium", 2, 8192),
    ("r6g.large", 3, 16384),
    ("r6g.xlarge", 4, 32768),
    ("r6g.2xlarge", 4, 65536),
    ("r6g.4xlarge", 8, 131072),
];

/// The percentage of installed memory counted as the tasks' to reserve. The
/// agent registers less than the instance's installed memory (the kernel and
/// platform keep some: an m4.large's 8192 MiB registers as 7985 MiB, ECS
/// "Reserving Amazon ECS Linux container instance memory"), and tasks that take
/// all of it contend with the agent and system processes; AWS recommends
/// keeping 5% for them (AWS Batch "Reserve system memory").
const USABLE_MEMORY_PERCENT: u64 = 95;

/// An instance type's limits, from the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceType {
    pub name: &'static str,
    pub network_interfaces: u32,
    pub memory_mib: u32,
}

impl InstanceType {
    pub fn find(name: &str) -> Option<InstanceType> {
        INSTANCE_TYPES
            .iter()
            .find(|(known, _, _)| *known == name)
            .map(|&(name, network_interfaces, memory_mib)| InstanceType {
                name,
                network_interfaces,
                memory_mib,
            })
    }

    /// awsvpc tasks one host can run: every interface but the host's own.
    pub fn tasks_per_host(&self) -> u32 {
        self.network_interfaces.saturating_sub(1)
    }

    /// MiB of one host that tasks may reserve.
    pub fn usable_memory_mib(&self) -> u64 {
        u64::from(self.memory_mib) * USABLE_MEMORY_PERCENT / 100
    }

    /// T-family types (t3, t3a, t4g) cannot use ENI trunking.
    fn is_burstable(&self) -> bool {
        self.name.starts_with('t')
    }
}

/// What one service asks of the hosts at the peak of a deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demand {
    pub service: String,
    pub desired: u32,
    pub maximum_percent: u32,
    /// Whether each task takes a network interface (networkMode awsvpc).
    pub awsvpc: bool,
    /// MiB one task reserves; `None` when the template does not say a number.
    pub task_memory_mib: Option<u64>,
}

impl Demand {
    /// Tasks running at once while a deployment replaces them.
    pub fn peak_tasks(&self) -> u32 {
        peak_tasks(self.desired, self.maximum_percent)
    }

    /// How the peak is reached, for messages.
    fn peak_explained(&self) -> String {
        format!(
            "{}: ceil({} x {} / 100) = {}",
            self.service,
            self.desired,
            self.maximum_percent,
            self.peak_tasks()
        )
    }
}

/// `ceil(desired x maximum_percent / 100)`: the most tasks of a service a
/// rolling deployment runs at once (never fewer than desired).
pub fn peak_tasks(desired: u32, maximum_percent: u32) -> u32 {
    let peak = (u64::from(desired) * u64::from(maximum_percent)).div_ceil(100);
    u32::try_from(peak).unwrap_or(u32::MAX).max(desired)
}

/// Why the demands do not fit `hosts` hosts of `instance`: one sentence per
/// limit exceeded, with the numbers, and its fix.
pub fn shortfalls(
    instance: &InstanceType,
    hosts: u32,
    demands: &[Demand],
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let awsvpc: Vec<&Demand> = demands.iter().filter(|demand| demand.awsvpc).collect();
    let interfaces_needed: u32 = awsvpc.iter().map(|demand| demand.peak_tasks()).sum();
    let per_host = instance.tasks_per_host();
    let interfaces_given = per_host * hosts;
    if interfaces_needed > interfaces_given {
        let trunking = if instance.is_burstable() {
            "T-family types cannot use ENI trunking"
        } else {
            "ENI trunking (the awsvpcTrunking account setting) is not turned on by stackup's templates"
        };
        let hosts_needed = if per_host == 0 {
            None
        } else {
            Some(interfaces_needed.div_ceil(per_host))
        };
        let raise = match hosts_needed {
            Some(needed) => format!("raise [cluster] hosts to {needed}, "),
            None => String::new(),
        };
        found.push((
            format!(
                "at the peak of a deployment the awsvpc tasks need {interfaces_needed} network \
                 interfaces ({}), but {hosts} {} host{} give {interfaces_given}: a {} has {} \
                 network interfaces and the first is the host's own, so it runs {per_host} \
                 awsvpc task{}; {trunking} (source: {TABLE_SOURCE})",
                awsvpc
                    .iter()
                    .map(|demand| demand.peak_explained())
                    .collect::<Vec<_>>()
                    .join(", "),
                instance.name,
                plural(hosts),
                instance.name,
                instance.network_interfaces,
                plural(per_host),
            ),
            format!(
                "{raise}choose an instance type with more network interfaces ([cluster] \
                 instance_type; an .xlarge has 4, a .4xlarge 8), or lower desired_count or the \
                 service definition's deploymentConfiguration.maximumPercent"
            ),
        ));
    }
    let usable = instance.usable_memory_mib();
    for demand in demands {
        if let Some(task) = demand.task_memory_mib.filter(|task| *task > usable) {
            found.push((
                format!(
                    "{}: a task reserves {task} MiB, more than one {} host has for tasks \
                     ({usable} MiB: {USABLE_MEMORY_PERCENT}% of its {} MiB, the rest kept for \
                     the kernel, the ECS agent and the system), so no host can run it",
                    demand.service, instance.name, instance.memory_mib
                ),
                "lower the task definition's memory (or its containers' memoryReservation), or \
                 choose a larger [cluster] instance_type"
                    .to_string(),
            ));
        }
    }
    let sized: Vec<&Demand> = demands
        .iter()
        .filter(|demand| demand.task_memory_mib.is_some())
        .collect();
    let memory_needed: u64 = sized
        .iter()
        .map(|demand| u64::from(demand.peak_tasks()) * demand.task_memory_mib.unwrap_or(0))
        .sum();
    let memory_given = usable * u64::from(hosts);
    if memory_needed > memory_given {
        let hosts_needed = memory_needed.div_ceil(usable.max(1));
        found.push((
            format!(
                "at the peak of a deployment the tasks reserve {memory_needed} MiB ({}), but \
                 {hosts} {} host{} have {memory_given} MiB for tasks ({usable} MiB each: \
                 {USABLE_MEMORY_PERCENT}% of {} MiB, the rest kept for the kernel, the ECS agent \
                 and the system)",
                sized
                    .iter()
                    .map(|demand| format!(
                        "{} x {} MiB",
                        demand.peak_explained(),
                        demand.task_memory_mib.unwrap_or(0)
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                instance.name,
                plural(hosts),
                instance.memory_mib,
            ),
            format!(
                "raise [cluster] hosts to {hosts_needed}, choose an instance type with more \
                 memory, or lower the tasks' memory reservations, desired_count or \
                 maximumPercent"
            ),
        ));
    }
    found
}

fn plural(count: u32) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// What the check found: problems stop a deploy (exit 2); warnings do not.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
}

/// Check every service of the stack against its hosts, offline: all services
/// share the cluster, whichever of them a deploy names.
pub fn check(stack: &StackConfig) -> Findings {
    let mut findings = Findings::default();
    let demands: Vec<Demand> = stack
        .services
        .values()
        .filter_map(|service| demand(stack, service))
        .collect();
    if demands.is_empty() {
        return findings;
    }
    let Some(instance) = InstanceType::find(&stack.cluster.instance_type) else {
        findings.warnings.push(format!(
            "[cluster] instance_type {} is not in stackup's table of instance types, so whether \
             the tasks' network interfaces and memory fit its hosts cannot be checked (each \
             awsvpc task takes one of the host's network interfaces, the first being the \
             host's own; see {TABLE_SOURCE})",
            stack.cluster.instance_type
        ));
        return findings;
    };
    findings.problems = shortfalls(&instance, stack.cluster.hosts, &demands)
        .into_iter()
        .map(|(message, fix)| {
            Problem::new(message)
                .in_file(&stack.file)
                .at_key("cluster.hosts")
                .fix(fix)
        })
        .collect();
    findings
}

/// [`check`] for a command about to deploy: warnings said through `warn`,
/// problems refused as bad input before any AWS call.
pub fn refuse_over_capacity(stack: &StackConfig, warn: impl Fn(&str)) -> Result<(), InputError> {
    let findings = check(stack);
    for warning in &findings.warnings {
        warn(warning);
    }
    if findings.problems.is_empty() {
        Ok(())
    } else {
        Err(InputError::new(findings.problems))
    }
}

/// A service's demand, read from its templates with the stack file's values
/// resolved; `None` when it runs on no host of the cluster (Fargate,
/// external) or its templates cannot be read (reported by the other checks).
fn demand(stack: &StackConfig, service: &ServiceConfig) -> Option<Demand> {
    let read = |path: &std::path::Path| -> Option<Value> {
        let path = stack.resolve(path);
        let template = templates::parse(&path, &path).ok()?;
        let lookup = |name: &str| -> Option<Value> {
            Some(Value::String(
                placeholders::stack_value(stack, service, name)
                    .unwrap_or_else(|| format!("{{{{{name}}}}}")),
            ))
        };
        placeholders::resolve(&template, &lookup).ok()
    };
    let task = read(&service.task_definition)?;
    let definition = read(&service.service_definition)?;
    demand_of(&service.name, &task, &definition, service.desired_count)
}

/// A number written as a JSON number or a string of digits.
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Task-level memory: MiB ("512") or GB ("1 GB", "1GB"), as ECS accepts it.
fn task_memory(value: Option<&Value>) -> Option<u64> {
    if let Some(mib) = number(value) {
        return Some(mib);
    }
    let text = value?.as_str()?.trim().to_ascii_lowercase();
    let gigabytes: f64 = text.strip_suffix("gb")?.trim().parse().ok()?;
    Some((gigabytes * 1024.0).round() as u64)
}

/// What ECS reserves on a host for one task: task-level memory when the task
/// definition sets it, otherwise each container's memoryReservation, or its
/// memory when it has none (ECS task definition parameters, "memory").
fn reserved_memory(task: &Value) -> Option<u64> {
    if task.get("memory").is_some() {
        return task_memory(task.get("memory"));
    }
    let containers = task.get("containerDefinitions")?.as_array()?;
    containers
        .iter()
        .map(|container| {
            number(container.get("memoryReservation")).or_else(|| number(container.get("memory")))
        })
        .sum()
}

/// The pure part of [`demand`], on resolved templates.
fn demand_of(name: &str, task: &Value, service: &Value, desired_in_file: u32) -> Option<Demand> {
    let on_hosts = match service.get("launchType").and_then(Value::as_str) {
        Some(launch_type) => launch_type == "EC2",
        None => !service
            .get("capacityProviderStrategy")
            .and_then(Value::as_array)
            .is_some_and(|strategy| {
                strategy.iter().any(|item| {
                    item.get("capacityProvider")
                        .and_then(Value::as_str)
                        .is_some_and(|provider| provider.starts_with("FARGATE"))
                })
            }),
    };
    if !on_hosts || service.get("schedulingStrategy").and_then(Value::as_str) == Some("DAEMON") {
        return None;
    }
    let desired = number(service.get("desiredCount"))
        .and_then(|count| u32::try_from(count).ok())
        .unwrap_or(desired_in_file);
    // ECS's default for a replica service is 200.
    let maximum_percent = number(
        service
            .get("deploymentConfiguration")
            .and_then(|configuration| configuration.get("maximumPercent")),
    )
    .and_then(|percent| u32::try_from(percent).ok())
    .unwrap_or(200);
    Some(Demand {
        service: name.to_string(),
        desired,
        maximum_percent,
        awsvpc: task.get("networkMode").and_then(Value::as_str) == Some("awsvpc"),
        task_memory_mib: reserved_memory(task),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn web(desired: u32, maximum_percent: u32, memory: Option<u64>) -> Demand {
        Demand {
            service: "web".into(),
            desired,
            maximum_percent,
            awsvpc: true,
            task_memory_mib: memory,
        }
    }

    fn t3_small() -> InstanceType {
        InstanceType::find("t3.small").expect("in the table")
    }

    #[test]
    fn the_peak_rounds_up_and_never_falls_below_desired() {
        assert_eq!(peak_tasks(2, 150), 3);
        assert_eq!(peak_tasks(3, 150), 5);
        assert_eq!(peak_tasks(4, 200), 8);
        assert_eq!(peak_tasks(1, 100), 1);
        assert_eq!(peak_tasks(3, 50), 3);
        assert_eq!(peak_tasks(0, 200), 0);
    }

    #[test]
    fn a_host_runs_one_awsvpc_task_fewer_than_its_interfaces() {
        assert_eq!(t3_small().tasks_per_host(), 2);
        assert_eq!(
            InstanceType::find("t3a.small").map(|t| t.tasks_per_host()),
            Some(1)
        );
        assert_eq!(
            InstanceType::find("m5.4xlarge").map(|t| t.tasks_per_host()),
            Some(7)
        );
        assert_eq!(
            InstanceType::find("t3.nano").map(|t| t.tasks_per_host()),
            Some(1)
        );
        assert_eq!(InstanceType::find("x9.large"), None);
        assert_eq!(t3_small().usable_memory_mib(), 1945);
    }

    #[test]
    fn the_table_covers_the_common_families_up_to_4xlarge() {
        for family in [
            "t3", "t3a", "t4g", "m5", "m6i", "m6g", "m7g", "c5", "c6i", "c6g", "c7g", "r5", "r6i",
            "r6g",
        ] {
            for size in ["large", "xlarge", "2xlarge"] {
                let name = format!("{family}.{size}");
                assert!(InstanceType::find(&name).is_some(), "{name}");
            }
        }
    }

    #[test]
    fn tasks_that_fit_have_no_shortfall() {
        // 2 x t3.small: 4 awsvpc tasks, 3890 MiB; web at 150% runs 3 of 896 MiB.
        assert_eq!(
            shortfalls(&t3_small(), 2, &[web(2, 150, Some(896))]),
            vec![]
        );
        // Exactly full is full, not over.
        assert_eq!(shortfalls(&t3_small(), 2, &[web(2, 200, None)]), vec![]);
    }

    #[test]
    fn too_many_awsvpc_tasks_say_the_numbers_and_the_hosts_needed() {
        let found = shortfalls(&t3_small(), 1, &[web(2, 150, None)]);
        assert_eq!(found.len(), 1, "{found:?}");
        let (message, fix) = &found[0];
        for said in [
            "need 3 network interfaces",
            "web: ceil(2 x 150 / 100) = 3",
            "1 t3.small host give 2",
            "a t3.small has 3 network interfaces",
            "T-family types cannot use ENI trunking",
            "Maximum IP addresses per network interface",
        ] {
            assert!(message.contains(said), "{said:?} not in {message}");
        }
        assert!(fix.contains("raise [cluster] hosts to 2"), "{fix}");
    }

    #[test]
    fn services_add_up_and_bridge_tasks_take_no_interface() {
        let mut worker = web(2, 100, None);
        worker.service = "worker".into();
        let mut bridge = web(10, 200, None);
        bridge.service = "bridge".into();
        bridge.awsvpc = false;
        let found = shortfalls(&t3_small(), 2, &[web(2, 150, None), worker, bridge]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].0.contains("need 5 network interfaces"),
            "{}",
            found[0].0
        );
        assert!(found[0].1.contains("hosts to 3"), "{}", found[0].1);
        let non_burstable = InstanceType::find("m5.large").expect("m5.large");
        let found = shortfalls(&non_burstable, 1, &[web(2, 150, None)]);
        assert!(found[0].0.contains("awsvpcTrunking"), "{}", found[0].0);
    }

    #[test]
    fn memory_is_checked_per_task_and_in_total() {
        // 3 x 3000 MiB = 9000 > 7782 (95% of an m5.large's 8192), each task fits one host.
        let mut bridge = web(2, 150, Some(3000));
        bridge.awsvpc = false;
        let found = shortfalls(&InstanceType::find("m5.large").expect("m5"), 1, &[bridge]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].0.contains("reserve 9000 MiB"), "{}", found[0].0);
        assert!(found[0].0.contains("7782 MiB for tasks"), "{}", found[0].0);
        assert!(found[0].1.contains("hosts to 2"), "{}", found[0].1);
        let found = shortfalls(&t3_small(), 4, &[web(1, 100, Some(2000))]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .0
                .contains("a task reserves 2000 MiB, more than one t3.small host has"),
            "{}",
            found[0].0
        );
    }

    #[test]
    fn a_demand_is_read_from_resolved_templates() {
        let task = json!({
            "networkMode": "awsvpc",
            "containerDefinitions": [
                {"name": "web", "memoryReservation": 896, "memory": 1792},
                {"name": "sidecar", "memory": "128"}
            ]
        });
        let service = json!({
            "desiredCount": "3",
            "launchType": "EC2",
            "deploymentConfiguration": {"maximumPercent": 150}
        });
        let demand = demand_of("web", &task, &service, 2).expect("on hosts");
        assert_eq!(demand.desired, 3);
        assert_eq!(demand.maximum_percent, 150);
        assert!(demand.awsvpc);
        assert_eq!(demand.task_memory_mib, Some(1024));
        assert_eq!(demand.peak_tasks(), 5);
        // Task-level memory wins; ECS's default maximumPercent is 200.
        let task = json!({"memory": "1 GB", "containerDefinitions": [{"memory": 4000}]});
        let demand = demand_of("web", &task, &json!({}), 2).expect("on hosts");
        assert_eq!(
            (
                demand.task_memory_mib,
                demand.maximum_percent,
                demand.awsvpc
            ),
            (Some(1024), 200, false)
        );
        // Fargate and daemons are not counted.
        assert_eq!(
            demand_of("web", &task, &json!({"launchType": "FARGATE"}), 2),
            None
        );
        let fargate = json!({"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}]});
        assert_eq!(demand_of("web", &task, &fargate, 2), None);
        assert_eq!(
            demand_of("web", &task, &json!({"schedulingStrategy": "DAEMON"}), 2),
            None
        );
        // A memory that is not a number leaves the memory check out.
        let task = json!({"containerDefinitions": [{"memory": "{{stack.Memory}}"}]});
        assert_eq!(
            demand_of("web", &task, &json!({}), 2).and_then(|d| d.task_memory_mib),
            None
        );
    }
}
