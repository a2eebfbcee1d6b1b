//! `[cluster]`, `[bastion]`, `[load_balancer]`, `[logs]` and `[deploy]`.

use super::*;

/// CloudWatch Logs accepts only these retention periods.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

pub(super) fn read_instance_type(
    table: &TableReader,
    key: &'static str,
    default: &str,
) -> Option<String> {
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

pub(super) fn read_cluster(root: &TableReader) -> Option<ClusterConfig> {
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
pub(super) fn read_distribution_ports(
    table: &TableReader,
    found: &Found<String>,
) -> Option<(u16, u16)> {
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

pub(super) fn read_bastion(root: &TableReader) -> Option<BastionConfig> {
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

pub(super) fn read_load_balancer(
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
pub(super) fn healthy_codes_problem(codes: &str) -> Option<String> {
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
pub(super) fn certificate_arn_problem(arn: &str, region: Option<&str>) -> Option<String> {
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

pub(super) fn read_logs(root: &TableReader) -> Option<LogsConfig> {
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

pub(super) fn read_duration(
    table: &TableReader,
    key: &'static str,
    default: Duration,
) -> Option<Duration> {
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

pub(super) fn read_deploy(root: &TableReader) -> Option<DeployConfig> {
    let default = Duration::from_secs(15 * 60);
    let Some(table) = root.table("deploy") else {
        return if root.has("deploy") {
            None
        } else {
            Some(DeployConfig {
                timeout: default,
                trusted_principals: Vec::new(),
            })
        };
    };
    let timeout = read_duration(&table, "timeout", default);
    let trusted_principals = principals::read_trusted_principals(&table);
    table.finish();
    Some(DeployConfig {
        timeout: timeout?,
        trusted_principals: trusted_principals?,
    })
}
