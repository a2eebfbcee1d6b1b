//! What a service definition template would change in the service that runs:
//! the settings UpdateService can change, read back from DescribeServices in
//! the template's own shape and compared only where the template says
//! something (a setting it leaves out stays as it is).

use aws_sdk_ecs::types::Service;
use serde_json::{json, Map, Value};

use super::diff::{self, Change};
use super::ecs_model::ServiceDefinition;

/// Fields of a service definition that UpdateService changes in place.
/// `desiredCount` and `taskDefinition` are shown on their own; the others
/// (cluster, serviceName, launchType) name the service rather than set it.
const UPDATABLE: &[&str] = &[
    "loadBalancers",
    "networkConfiguration",
    "healthCheckGracePeriodSeconds",
    "deploymentConfiguration",
    "placementStrategy",
    "placementConstraints",
    "enableExecuteCommand",
    "propagateTags",
    "enableECSManagedTags",
    "capacityProviderStrategy",
    "serviceRegistries",
    "platformVersion",
];

/// Lists whose order means nothing to ECS.
const SETS: &[&str] = &["subnets", "securityGroups", "alarmNames"];

/// The changes the template would make to the running service.
pub fn changes(current: &Service, wanted: &ServiceDefinition) -> Vec<Change> {
    let mut wanted = match serde_json::to_value(wanted) {
        Ok(Value::Object(map)) => map,
        _ => return Vec::new(),
    };
    wanted.retain(|key, _| UPDATABLE.contains(&key.as_str()));
    let mut wanted = Value::Object(wanted);
    let mut running = project(&view(current), &wanted);
    sort_sets(&mut wanted);
    sort_sets(&mut running);
    diff::diff(&running, &wanted)
}

/// A running service in the shape of a service definition template.
fn view(service: &Service) -> Value {
    let mut out = Map::new();
    out.insert(
        "loadBalancers".into(),
        service
            .load_balancers()
            .iter()
            .map(|balancer| {
                let mut item = Map::new();
                if let Some(arn) = balancer.target_group_arn() {
                    item.insert("targetGroupArn".into(), json!(arn));
                }
                if let Some(name) = balancer.container_name() {
                    item.insert("containerName".into(), json!(name));
                }
                if let Some(port) = balancer.container_port() {
                    item.insert("containerPort".into(), json!(port));
                }
                Value::Object(item)
            })
            .collect(),
    );
    if let Some(vpc) = service
        .network_configuration()
        .and_then(|network| network.awsvpc_configuration())
    {
        let mut awsvpc = Map::new();
        awsvpc.insert("subnets".into(), json!(vpc.subnets()));
        awsvpc.insert("securityGroups".into(), json!(vpc.security_groups()));
        if let Some(public) = vpc.assign_public_ip() {
            awsvpc.insert("assignPublicIp".into(), json!(public.as_str()));
        }
        out.insert(
            "networkConfiguration".into(),
            json!({ "awsvpcConfiguration": awsvpc }),
        );
    }
    if let Some(grace) = service.health_check_grace_period_seconds() {
        out.insert("healthCheckGracePeriodSeconds".into(), json!(grace));
    }
    if let Some(deployment) = service.deployment_configuration() {
        let mut item = Map::new();
        if let Some(maximum) = deployment.maximum_percent() {
            item.insert("maximumPercent".into(), json!(maximum));
        }
        if let Some(minimum) = deployment.minimum_healthy_percent() {
            item.insert("minimumHealthyPercent".into(), json!(minimum));
        }
        if let Some(breaker) = deployment.deployment_circuit_breaker() {
            item.insert(
                "deploymentCircuitBreaker".into(),
                json!({ "enable": breaker.enable(), "rollback": breaker.rollback() }),
            );
        }
        if let Some(alarms) = deployment.alarms() {
            item.insert(
                "alarms".into(),
                json!({
                    "alarmNames": alarms.alarm_names(),
                    "enable": alarms.enable(),
                    "rollback": alarms.rollback(),
                }),
            );
        }
        out.insert("deploymentConfiguration".into(), Value::Object(item));
    }
    out.insert(
        "placementStrategy".into(),
        service
            .placement_strategy()
            .iter()
            .map(|strategy| {
                let mut item = Map::new();
                if let Some(kind) = strategy.r#type() {
                    item.insert("type".into(), json!(kind.as_str()));
                }
                if let Some(field) = strategy.field() {
                    item.insert("field".into(), json!(field));
                }
                Value::Object(item)
            })
            .collect(),
    );
    out.insert(
        "placementConstraints".into(),
        service
            .placement_constraints()
            .iter()
            .map(|constraint| {
                let mut item = Map::new();
                if let Some(kind) = constraint.r#type() {
                    item.insert("type".into(), json!(kind.as_str()));
                }
                if let Some(expression) = constraint.expression() {
                    item.insert("expression".into(), json!(expression));
                }
                Value::Object(item)
            })
            .collect(),
    );
    out.insert(
        "enableExecuteCommand".into(),
        json!(service.enable_execute_command()),
    );
    if let Some(propagate) = service.propagate_tags() {
        out.insert("propagateTags".into(), json!(propagate.as_str()));
    }
    out.insert(
        "enableECSManagedTags".into(),
        json!(service.enable_ecs_managed_tags()),
    );
    out.insert(
        "capacityProviderStrategy".into(),
        service
            .capacity_provider_strategy()
            .iter()
            .map(|item| {
                json!({
                    "capacityProvider": item.capacity_provider(),
                    "weight": item.weight(),
                    "base": item.base(),
                })
            })
            .collect(),
    );
    out.insert(
        "serviceRegistries".into(),
        service
            .service_registries()
            .iter()
            .map(|registry| {
                let mut item = Map::new();
                if let Some(arn) = registry.registry_arn() {
                    item.insert("registryArn".into(), json!(arn));
                }
                if let Some(port) = registry.port() {
                    item.insert("port".into(), json!(port));
                }
                if let Some(name) = registry.container_name() {
                    item.insert("containerName".into(), json!(name));
                }
                if let Some(port) = registry.container_port() {
                    item.insert("containerPort".into(), json!(port));
                }
                Value::Object(item)
            })
            .collect(),
    );
    if let Some(version) = service.platform_version() {
        out.insert("platformVersion".into(), json!(version));
    }
    Value::Object(out)
}

/// `running` cut to the keys `wanted` has, at every level of objects: what
/// the template leaves out is not compared. A key the service does not show
/// stays out (it is then shown as added).
fn project(running: &Value, wanted: &Value) -> Value {
    match (running, wanted) {
        (Value::Object(running), Value::Object(wanted)) => Value::Object(
            wanted
                .iter()
                .filter_map(|(key, wanted)| {
                    running
                        .get(key)
                        .map(|running| (key.clone(), project(running, wanted)))
                })
                .collect(),
        ),
        (Value::Array(running), Value::Array(wanted)) => Value::Array(
            running
                .iter()
                .enumerate()
                .map(|(index, item)| match wanted.get(index) {
                    Some(wanted) => project(item, wanted),
                    None => item.clone(),
                })
                .collect(),
        ),
        (running, _) => running.clone(),
    }
}

fn sort_sets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if SETS.contains(&key.as_str()) {
                    if let Value::Array(items) = item {
                        items.sort_by_key(ToString::to_string);
                    }
                } else {
                    sort_sets(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_sets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
        NetworkConfiguration,
    };

    fn running() -> Service {
        Service::builder()
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        AwsVpcConfiguration::builder()
                            .subnets("subnet-b")
                            .subnets("subnet-a")
                            .security_groups("sg-1")
                            .assign_public_ip(AssignPublicIp::Disabled)
                            .build()
                            .expect("subnets"),
                    )
                    .build(),
            )
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .maximum_percent(200)
                    .minimum_healthy_percent(100)
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(true)
                            .build(),
                    )
                    .build(),
            )
            .health_check_grace_period_seconds(60)
            .desired_count(2)
            .build()
    }

    fn template(value: Value) -> ServiceDefinition {
        let mut base = json!({
            "cluster": "c",
            "serviceName": "web",
            "taskDefinition": "td",
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, value) {
            base.extend(extra);
        }
        serde_json::from_value(base).expect("a service definition")
    }

    #[test]
    fn what_the_template_says_as_it_runs_is_no_change() {
        // Subnets in another order, settings the template leaves out, the
        // desired count: none of it is a change of the service definition.
        let same = template(json!({
            "desiredCount": 5,
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-1"]}},
            "deploymentConfiguration": {"maximumPercent": 200},
        }));
        assert_eq!(changes(&running(), &same), Vec::new());
    }

    #[test]
    fn every_updatable_field_reads_back_from_the_service() {
        // A template giving every updatable setting, and a service running
        // exactly that: no change (a field the view missed would be "added").
        let wanted = template(json!({
            "loadBalancers": [{"targetGroupArn": "tg", "containerName": "web", "containerPort": 4000}],
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": ["subnet-a"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
            "healthCheckGracePeriodSeconds": 30,
            "deploymentConfiguration": {
                "maximumPercent": 150, "minimumHealthyPercent": 50,
                "deploymentCircuitBreaker": {"enable": true, "rollback": true},
                "alarms": {"alarmNames": ["b", "a"], "enable": true, "rollback": false}},
            "placementStrategy": [{"type": "spread", "field": "instanceId"}],
            "placementConstraints": [{"type": "distinctInstance"}],
            "enableExecuteCommand": true,
            "propagateTags": "SERVICE",
            "enableECSManagedTags": true,
            "capacityProviderStrategy": [{"capacityProvider": "cp", "weight": 1, "base": 0}],
            "serviceRegistries": [{"registryArn": "arn:sd", "containerName": "web", "containerPort": 4000}],
            "platformVersion": "LATEST",
        }));
        let value = serde_json::to_value(&wanted).expect("json");
        let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
        for key in UPDATABLE {
            assert!(keys.contains(&&key.to_string()), "{key} not in {keys:?}");
        }
        use aws_sdk_ecs::types as t;
        let service = Service::builder()
            .load_balancers(
                t::LoadBalancer::builder()
                    .target_group_arn("tg")
                    .container_name("web")
                    .container_port(4000)
                    .build(),
            )
            .network_configuration(
                t::NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        t::AwsVpcConfiguration::builder()
                            .subnets("subnet-a")
                            .security_groups("sg-1")
                            .assign_public_ip(t::AssignPublicIp::Disabled)
                            .build()
                            .expect("vpc"),
                    )
                    .build(),
            )
            .health_check_grace_period_seconds(30)
            .deployment_configuration(
                t::DeploymentConfiguration::builder()
                    .maximum_percent(150)
                    .minimum_healthy_percent(50)
                    .deployment_circuit_breaker(
                        t::DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(true)
                            .build(),
                    )
                    .alarms(
                        t::DeploymentAlarms::builder()
                            .alarm_names("a")
                            .alarm_names("b")
                            .enable(true)
                            .rollback(false)
                            .build()
                            .expect("alarms"),
                    )
                    .build(),
            )
            .placement_strategy(
                t::PlacementStrategy::builder()
                    .r#type(t::PlacementStrategyType::Spread)
                    .field("instanceId")
                    .build(),
            )
            .placement_constraints(
                t::PlacementConstraint::builder()
                    .r#type(t::PlacementConstraintType::DistinctInstance)
                    .build(),
            )
            .enable_execute_command(true)
            .propagate_tags(t::PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .capacity_provider_strategy(
                t::CapacityProviderStrategyItem::builder()
                    .capacity_provider("cp")
                    .weight(1)
                    .base(0)
                    .build()
                    .expect("item"),
            )
            .service_registries(
                t::ServiceRegistry::builder()
                    .registry_arn("arn:sd")
                    .container_name("web")
                    .container_port(4000)
                    .build(),
            )
            .platform_version("LATEST")
            .build();
        assert_eq!(changes(&service, &wanted), Vec::new());
    }

    #[test]
    fn a_changed_setting_is_shown_by_its_path() {
        let changed = template(json!({
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a"]}},
            "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 0},
            "healthCheckGracePeriodSeconds": 5,
            "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
        }));
        let lines: Vec<String> = changes(&running(), &changed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            vec![
                "~ deploymentConfiguration.maximumPercent: 200 -> 100",
                "~ deploymentConfiguration.minimumHealthyPercent: 100 -> 0",
                "~ healthCheckGracePeriodSeconds: 60 -> 5",
                "- networkConfiguration.awsvpcConfiguration.subnets[1]: \"subnet-b\"",
                "+ placementStrategy[0].field: \"attribute:ecs.availability-zone\"",
                "+ placementStrategy[0].type: \"spread\"",
            ]
        );
    }
}
