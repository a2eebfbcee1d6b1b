//! Service discovery: the platform stack's Cloud Map private DNS namespace
//! (`<stack id>.internal`, in the stack's VPC) and one Cloud Map service per
//! ECS service, so that `<service>.<namespace>` answers with the addresses of
//! the service's running tasks (ECS registers and deregisters them: the
//! service definition's `serviceRegistries`, `{{service.registry_arn}}`).
//!
//! CloudFormation has no loop over a list without the AWS::LanguageExtensions
//! transform (`Fn::ForEach`), which the stack's own checks, the replacement
//! analysis and the local cloud do not read; so the template has
//! [`MAX_SERVICES`] slots (`DiscoveryServiceName1..8`, each with its
//! conditional `AWS::ServiceDiscovery::Service` and outputs
//! `DiscoveryService<N>Name` / `DiscoveryService<N>Arn`), as the images stack
//! has repository slots. A Cloud Map service's `Name` cannot change in place
//! (the resource schema lists it as create-only), and one with registered
//! instances cannot be deleted, so a service keeps the slot the running stack
//! gave it: slots are read back from the platform stack's parameters (the
//! state lives in CloudFormation, as the AMIs kept in `amis.rs`), and a new
//! service takes the lowest free slot.

use std::collections::BTreeMap;

use crate::aws::cloudformation::ParameterValue;
use crate::config::StackConfig;
use crate::error::{InputError, Problem};

/// Cloud Map service slots in the built-in platform template.
pub const MAX_SERVICES: usize = 8;

/// The template parameter of slot `index` (0-based): `DiscoveryServiceName1`...
pub fn slot_parameter(index: usize) -> String {
    format!("DiscoveryServiceName{}", index + 1)
}

/// The services in their slots: each keeps the slot `current` (the platform
/// stack's parameters, when it exists) gives it; the others take the lowest
/// free slots, in name order. `Err` names the services that do not fit.
pub fn assign(
    services: &[String],
    current: Option<&BTreeMap<String, String>>,
) -> Result<Vec<String>, Vec<String>> {
    let mut slots = vec![String::new(); MAX_SERVICES];
    if let Some(current) = current {
        for (index, slot) in slots.iter_mut().enumerate() {
            if let Some(name) = current.get(&slot_parameter(index)) {
                if services.contains(name) {
                    *slot = name.clone();
                }
            }
        }
    }
    let mut newcomers: Vec<&String> = services
        .iter()
        .filter(|service| !slots.contains(service))
        .collect();
    newcomers.sort();
    newcomers.dedup();
    let mut left = Vec::new();
    for service in newcomers {
        match slots.iter_mut().find(|slot| slot.is_empty()) {
            Some(slot) => *slot = service.clone(),
            None => left.push(service.clone()),
        }
    }
    if left.is_empty() {
        Ok(slots)
    } else {
        Err(left)
    }
}

/// The slot parameters for the stack's services (the platform template keeps
/// only those it declares, see `stacks::platform_layer`).
pub fn parameters(
    stack: &StackConfig,
    current: Option<&BTreeMap<String, String>>,
) -> Result<Vec<(String, ParameterValue)>, InputError> {
    let services: Vec<String> = stack.services.keys().cloned().collect();
    let slots = assign(&services, current).map_err(|left| {
        InputError::one(
            Problem::new(format!(
                "{} services; the platform stack has Cloud Map slots for {MAX_SERVICES} (left without one: {})",
                services.len(),
                left.join(", ")
            ))
            .in_file(&stack.file)
            .fix(format!(
                "keep at most {MAX_SERVICES} [services.<name>] sections in one stack, or split the stack"
            )),
        )
    })?;
    Ok(slots
        .into_iter()
        .enumerate()
        .map(|(index, name)| (slot_parameter(index), ParameterValue::Plain(name)))
        .collect())
}

/// The Cloud Map service ARN of an ECS service, from the platform stack's
/// outputs (`DiscoveryService<N>Name` equal to the service's name).
pub fn registry_arn<'a>(outputs: &'a BTreeMap<String, String>, service: &str) -> Option<&'a str> {
    (1..=MAX_SERVICES)
        .find(|slot| {
            outputs
                .get(&format!("DiscoveryService{slot}Name"))
                .map(String::as_str)
                == Some(service)
        })
        .and_then(|slot| outputs.get(&format!("DiscoveryService{slot}Arn")))
        .map(String::as_str)
}

/// `<service>.<namespace>`: the DNS name answering with the service's tasks'
/// addresses (at most 8 per answer: Cloud Map's MULTIVALUE routing).
pub fn dns_name(outputs: &BTreeMap<String, String>, service: &str) -> Option<String> {
    outputs
        .get("ServiceDiscoveryNamespace")
        .map(|namespace| format!("{service}.{namespace}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn services_take_slots_in_name_order_and_keep_them() {
        let first = assign(&names(&["web", "api"]), None).expect("fits");
        assert_eq!(&first[..3], &names(&["api", "web", ""])[..]);
        // "admin" sorts first but comes later: api and web keep their slots
        // (a renamed Cloud Map service would be replaced), admin takes a free one.
        let current: BTreeMap<String, String> = first
            .iter()
            .enumerate()
            .map(|(index, name)| (slot_parameter(index), name.clone()))
            .collect();
        let second = assign(&names(&["web", "api", "admin"]), Some(&current)).expect("fits");
        assert_eq!(&second[..4], &names(&["api", "web", "admin", ""])[..]);
        // A service removed frees its slot; the others stay.
        let current: BTreeMap<String, String> = second
            .iter()
            .enumerate()
            .map(|(index, name)| (slot_parameter(index), name.clone()))
            .collect();
        let third = assign(&names(&["web", "admin"]), Some(&current)).expect("fits");
        assert_eq!(&third[..3], &names(&["", "web", "admin"])[..]);
    }

    #[test]
    fn more_services_than_slots_are_named() {
        let many: Vec<String> = (0..10).map(|index| format!("s{index}")).collect();
        assert_eq!(assign(&many, None), Err(names(&["s8", "s9"])));
    }

    #[test]
    fn the_registry_and_dns_name_come_from_the_outputs() {
        let outputs: BTreeMap<String, String> = [
            ("ServiceDiscoveryNamespace", "demo-prod-v1.internal"),
            ("DiscoveryService1Name", "api"),
            (
                "DiscoveryService1Arn",
                "arn:aws:servicediscovery:eu-west-1:1:service/srv-a",
            ),
            ("DiscoveryService2Name", "web"),
            (
                "DiscoveryService2Arn",
                "arn:aws:servicediscovery:eu-west-1:1:service/srv-w",
            ),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        assert_eq!(
            registry_arn(&outputs, "web"),
            Some("arn:aws:servicediscovery:eu-west-1:1:service/srv-w")
        );
        assert_eq!(registry_arn(&outputs, "worker"), None);
        assert_eq!(
            dns_name(&outputs, "web").as_deref(),
            Some("web.demo-prod-v1.internal")
        );
    }

    #[test]
    fn the_platform_template_has_the_namespace_and_a_service_per_slot() {
        let template: serde_json::Value =
            serde_json::from_str(include_str!("../stacks/platform.json")).expect("JSON");
        let namespace = &template["Resources"]["DiscoveryNamespace"];
        assert_eq!(
            namespace["Type"],
            "AWS::ServiceDiscovery::PrivateDnsNamespace"
        );
        assert_eq!(
            namespace["Properties"]["Vpc"]["Fn::ImportValue"]["Fn::Sub"],
            "${NetworkStackName}:VpcId"
        );
        for slot in 1..=MAX_SERVICES {
            let parameter = &template["Parameters"][format!("DiscoveryServiceName{slot}")];
            assert_eq!(parameter["Default"], "", "slot {slot} is empty by default");
            let service = &template["Resources"][format!("DiscoveryService{slot}")];
            assert_eq!(service["Type"], "AWS::ServiceDiscovery::Service");
            assert_eq!(service["Condition"], format!("HasDiscoveryService{slot}"));
            let properties = &service["Properties"];
            assert_eq!(properties["NamespaceId"]["Ref"], "DiscoveryNamespace");
            assert_eq!(properties["DnsConfig"]["RoutingPolicy"], "MULTIVALUE");
            assert_eq!(
                properties["DnsConfig"]["DnsRecords"],
                serde_json::json!([{"Type": "A", "TTL": 10}])
            );
            assert!(properties["HealthCheckCustomConfig"].is_object());
            assert_eq!(
                template["Outputs"][format!("DiscoveryService{slot}Arn")]["Value"]["Fn::GetAtt"],
                serde_json::json!([format!("DiscoveryService{slot}"), "Arn"])
            );
            assert_eq!(
                template["Outputs"][format!("DiscoveryService{slot}Name")]["Value"]["Ref"],
                format!("DiscoveryServiceName{slot}")
            );
        }
        assert!(template["Resources"]
            .get(format!("DiscoveryService{}", MAX_SERVICES + 1))
            .is_none());
        assert!(template["Outputs"]["ServiceDiscoveryNamespace"].is_object());
    }
}
