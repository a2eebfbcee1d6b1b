//! The VPC endpoints through which ECS hosts in private subnets reach AWS
//! without NAT, and the stack file keys that ask for them.
//!
//! Without a NAT gateway the ECS agent cannot reach ECS, images cannot be
//! pulled from ECR, secrets cannot be read from SSM and awslogs cannot write:
//! the hosts never join the cluster. AWS's answer is one interface endpoint
//! per service (ECS developer guide "Amazon ECS interface VPC endpoints (AWS
//! PrivateLink)": ecs, ecs-agent, ecs-telemetry; ECR user guide "Amazon ECR
//! interface VPC endpoints": ecr.api, ecr.dkr, and S3's gateway endpoint for
//! the image layers ECR keeps in S3; Systems Manager's ssm, ssmmessages,
//! ec2messages; CloudWatch Logs' logs), each with private DNS so that the
//! services' usual names resolve to it, and a security group that admits 443
//! from what calls them. The network template creates them (parameter
//! `EnableInterfaceEndpoints`); with NAT they are optional and spare NAT's
//! data charges.

use crate::config::reader::TableReader;
use crate::config::NatMode;

/// The interface endpoints' services (`com.amazonaws.<region>.<service>`),
/// in the network template's order.
pub const INTERFACE_SERVICES: &[&str] = &[
    "ecs",
    "ecs-agent",
    "ecs-telemetry",
    "ecr.api",
    "ecr.dkr",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "logs",
];

/// `[network] s3_endpoint` and `endpoints`: the S3 gateway endpoint (default
/// on) and the interface endpoints (default on exactly when there is no
/// NAT). With `nat = "none"` turning either off leaves the hosts unable to
/// join the cluster or pull an image, so it is refused rather than obeyed:
/// whoever wrote `false` expects a working stack, and silently turning it
/// back on would hide a setting that does nothing. `nat` is `None` when it
/// could not be read (already reported).
pub fn read_settings(table: &TableReader, nat: Option<NatMode>) -> (Option<bool>, Option<bool>) {
    let without_nat = nat == Some(NatMode::None);
    let setting = |key: &'static str, default: bool, needed_for: &str| {
        let Some(found) = table.boolean(key) else {
            return (!table.has(key)).then_some(default);
        };
        if without_nat && !found.value {
            table.diagnostics().report(
                Some(&found.span),
                &table.key_path(key),
                format!(
                    "is false while nat = \"none\": without NAT the ECS hosts reach AWS only through VPC endpoints, and without {needed_for}"
                ),
                Some(format!(
                    "remove {key} = false (with nat = \"none\" it is on by default), or choose nat = \"single\""
                )),
            );
            return None;
        }
        Some(found.value)
    };
    let s3 = setting(
        "s3_endpoint",
        true,
        "S3's gateway endpoint no image can be pulled (ECR keeps image layers in S3)",
    );
    let interface = setting(
        "endpoints",
        without_nat,
        "the interface endpoints (ECS, ECR, SSM, CloudWatch Logs) the hosts never join the cluster",
    );
    (s3, interface)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_are_those_ecs_on_ec2_needs_without_nat() {
        for needed in [
            "ecs",
            "ecs-agent",
            "ecs-telemetry",
            "ecr.api",
            "ecr.dkr",
            "ssm",
            "logs",
        ] {
            assert!(INTERFACE_SERVICES.contains(&needed), "{needed}");
        }
        let network: serde_json::Value =
            serde_json::from_str(include_str!("../stacks/network.json")).expect("network.json");
        let created: Vec<String> = network["Resources"]
            .as_object()
            .expect("Resources")
            .values()
            .filter(|resource| resource["Properties"]["VpcEndpointType"] == "Interface")
            .map(|resource| {
                let name = resource["Properties"]["ServiceName"]["Fn::Sub"]
                    .as_str()
                    .expect("ServiceName");
                name.trim_start_matches("com.amazonaws.${AWS::Region}.")
                    .to_string()
            })
            .collect();
        assert_eq!(
            created, INTERFACE_SERVICES,
            "the template creates each, in order"
        );
    }
}
