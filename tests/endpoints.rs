//! The VPC endpoints ECS hosts need without NAT (issue 20, item 1): created
//! with `nat = "none"`, on request with NAT, read back through EC2's API.
//! Each test runs in its own moto account.

mod common;

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{Filter, VpcEndpointType};
use common::TestStack;

const INTERFACE_SERVICES: [&str; 9] = [
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

fn create(test: &str, edits: &[(&str, &str)]) -> (TestStack, serde_json::Value) {
    let fixture = TestStack::new(test, common::stack_config_dir(edits));
    let output = fixture
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--yes"])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "create-stack failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_slice(&output.stdout).expect("JSON report");
    (fixture, report)
}

/// The endpoints of the stack's VPC and what each is checked against.
async fn assert_interface_endpoints(fixture: &TestStack, network: &serde_json::Value) {
    let output = |key: &str| {
        network["outputs"][key]
            .as_str()
            .unwrap_or_else(|| panic!("output {key}: {network}"))
            .to_string()
    };
    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(output("VpcId"))
                .build(),
        )
        .send()
        .await
        .expect("endpoints");
    let interface: Vec<_> = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|endpoint| endpoint.vpc_endpoint_type() == Some(&VpcEndpointType::Interface))
        .collect();
    let services: BTreeSet<&str> = interface
        .iter()
        .filter_map(|endpoint| endpoint.service_name())
        .map(|name| name.trim_start_matches("com.amazonaws.us-east-1."))
        .collect();
    assert_eq!(services, BTreeSet::from(INTERFACE_SERVICES));
    let private_subnets = BTreeSet::from([output("PrivateSubnet1"), output("PrivateSubnet2")]);
    let mut groups = BTreeSet::new();
    for endpoint in &interface {
        assert_eq!(
            endpoint.private_dns_enabled(),
            Some(true),
            "{endpoint:?}: the services' usual names must resolve to the endpoint"
        );
        let subnets: BTreeSet<String> = endpoint.subnet_ids().iter().cloned().collect();
        assert_eq!(
            subnets, private_subnets,
            "one interface per zone, in the private subnets"
        );
        assert_eq!(endpoint.network_interface_ids().len(), 2, "{endpoint:?}");
        groups.extend(
            endpoint
                .groups()
                .iter()
                .filter_map(|group| group.group_id()),
        );
    }
    assert_eq!(
        groups.len(),
        1,
        "one security group for every endpoint: {groups:?}"
    );
    let gateways: Vec<&str> = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|endpoint| endpoint.vpc_endpoint_type() == Some(&VpcEndpointType::Gateway))
        .filter_map(|endpoint| endpoint.service_name())
        .collect();
    assert_eq!(
        gateways,
        vec!["com.amazonaws.us-east-1.s3"],
        "image layers come from S3"
    );

    // HTTPS from the hosts, the tasks and the bastion; nothing else.
    let group = ec2
        .describe_security_groups()
        .group_ids(groups.into_iter().next().expect("a group"))
        .send()
        .await
        .expect("security group");
    let group = &group.security_groups()[0];
    let mut sources = BTreeSet::new();
    for permission in group.ip_permissions() {
        assert_eq!(
            (permission.from_port(), permission.to_port()),
            (Some(443), Some(443)),
            "{permission:?}"
        );
        assert!(permission.ip_ranges().is_empty(), "{permission:?}");
        sources.extend(
            permission
                .user_id_group_pairs()
                .iter()
                .filter_map(|pair| pair.group_id().map(str::to_string)),
        );
    }
    assert_eq!(
        sources,
        BTreeSet::from([
            output("HostSecurityGroup"),
            output("AppSecurityGroup"),
            output("BastionSecurityGroup"),
        ])
    );
}

#[tokio::test]
async fn without_nat_the_hosts_reach_aws_through_interface_endpoints() {
    let (fixture, report) = create(
        "endpoints-no-nat",
        &[("nat = \"single\"", "nat = \"none\"")],
    );
    let network = &report["stacks"][0];
    assert_interface_endpoints(&fixture, network).await;
    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let nat_gateways = aws_sdk_ec2::Client::new(&config)
        .describe_nat_gateways()
        .send()
        .await
        .expect("NAT gateways");
    assert!(nat_gateways.nat_gateways().is_empty());

    // The endpoints go with the stack (their interfaces with them, or the
    // subnets could not be deleted).
    let deleted = fixture
        .stackup()
        .args(["delete-stack", "local", "--yes"])
        .output()
        .expect("runs");
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let left = aws_sdk_ec2::Client::new(&config)
        .describe_vpc_endpoints()
        .send()
        .await
        .expect("endpoints");
    // EC2 lists a deleted endpoint for a while, in state "deleted".
    let states: BTreeSet<String> = left
        .vpc_endpoints()
        .iter()
        .filter_map(|endpoint| endpoint.state().map(|state| state.as_str().to_lowercase()))
        .collect();
    assert!(
        states.is_empty() || states == BTreeSet::from(["deleted".to_string()]),
        "{states:?}"
    );
}

#[tokio::test]
async fn with_nat_the_endpoints_are_there_on_request_only() {
    let (fixture, report) = create(
        "endpoints-with-nat",
        &[("nat = \"single\"", "nat = \"single\"\nendpoints = true")],
    );
    assert_interface_endpoints(&fixture, &report["stacks"][0]).await;

    // By default a stack with NAT has none: the template is told so.
    let plain = TestStack::new("endpoints-default", common::stack_config_dir(&[]));
    let output = plain
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--dry-run"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        plan["plan"]["stacks"][0]["parameters"]["EnableInterfaceEndpoints"],
        "false"
    );
}

#[test]
fn the_dry_run_counts_what_is_billed_by_the_hour() {
    let fixture = TestStack::new(
        "costs-dry-run",
        common::stack_config_dir(&[
            ("nat = \"single\"", "nat = \"per-az\"\nendpoints = true"),
            ("availability_zones = 2", "availability_zones = 3"),
        ]),
    );
    let output = fixture
        .stackup()
        .args(["create-stack", "local", "--dry-run"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let billed: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("billed hourly"))
        .collect();
    assert_eq!(
        billed,
        vec!["  billed hourly besides the instances: 3 NAT gateways, 9 interface endpoints x 3 AZs, 4 Elastic IPs (prices: README, \"What it costs\")"]
    );
    let json = fixture
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--dry-run"])
        .output()
        .expect("runs");
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        plan["plan"]["billed_hourly"],
        serde_json::json!({
            "nat_gateways": 3,
            "interface_endpoints": 9,
            "zones": 3,
            "multi_az_databases": 0,
            "elastic_ips": 4
        })
    );
}
