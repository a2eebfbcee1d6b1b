//! Service discovery on the local cloud: create-stack makes the platform's
//! Cloud Map namespace and one Cloud Map service per ECS service (through
//! the launcher's AWS::ServiceDiscovery::* model, scripts/moto_server.py
//! entry 24), and deploy-release puts the service on its registry, also a
//! service created before the registry existed (UpdateService takes
//! serviceRegistries).

mod common;

use std::process::Command;

use common::{block_on, TestStack};
use serde_json::Value;

fn fixture(test: &str) -> TestStack {
    TestStack::new(test, common::stack_config_dir(&[]))
}

fn deploy(fixture: &TestStack) -> String {
    let output = fixture
        .stackup()
        .args([
            "deploy-release",
            "local",
            "--yes",
            "--image",
            "web=ghcr.io/example/demo:1.0.0",
        ])
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    text
}

/// The service's registries as DescribeServices shows them.
fn registries(fixture: &TestStack) -> Vec<String> {
    let config = fixture.sdk();
    block_on(async {
        let described = aws_sdk_ecs::Client::new(&config)
            .describe_services()
            .cluster("demo-local-v1")
            .services("web")
            .send()
            .await
            .expect("describe services");
        described.services()[0]
            .service_registries()
            .iter()
            .filter_map(|registry| registry.registry_arn().map(str::to_string))
            .collect()
    })
}

fn platform_outputs(fixture: &TestStack) -> std::collections::BTreeMap<String, String> {
    let config = fixture.sdk();
    block_on(async {
        let described = aws_sdk_cloudformation::Client::new(&config)
            .describe_stacks()
            .stack_name("demo-local-v1-platform")
            .send()
            .await
            .expect("describe stacks");
        described.stacks()[0]
            .outputs()
            .iter()
            .filter_map(|output| {
                Some((
                    output.output_key()?.to_string(),
                    output.output_value()?.to_string(),
                ))
            })
            .collect()
    })
}

/// The Cloud Map service `id` and its namespace, read with boto3 from the
/// local cloud's Python (stackup's tests have no Cloud Map SDK).
fn cloud_map_service(fixture: &TestStack, id: &str) -> Value {
    let script = r#"
import json, sys, boto3
client = boto3.client("servicediscovery", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
service = client.get_service(Id=sys.argv[2])["Service"]
namespace = client.get_namespace(Id=service["NamespaceId"])["Namespace"]
print(json.dumps({"service": service, "namespace": namespace}, default=str))
"#;
    let output = Command::new(common::repo_root().join(".venv/cloud/bin/python"))
        .args(["-c", script, &fixture.proxy.endpoint, id])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn create_stack_and_deploy_put_the_service_on_its_cloud_map_service() {
    let fixture = fixture("discovery-registry");
    fixture.create_stack();
    let outputs = platform_outputs(&fixture);
    assert_eq!(
        outputs["ServiceDiscoveryNamespace"],
        "demo-local-v1.internal"
    );
    assert_eq!(outputs["DiscoveryService1Name"], "web");
    let arn = outputs["DiscoveryService1Arn"].clone();
    assert!(
        arn.starts_with("arn:aws:servicediscovery:us-east-1:") && arn.contains(":service/srv-"),
        "{arn}"
    );
    assert!(
        !outputs.contains_key("DiscoveryService2Arn"),
        "one service, one slot"
    );

    let id = arn.rsplit('/').next().expect("id");
    let found = cloud_map_service(&fixture, id);
    assert_eq!(found["service"]["Name"], "web");
    assert_eq!(found["service"]["DnsConfig"]["RoutingPolicy"], "MULTIVALUE");
    assert_eq!(
        found["service"]["DnsConfig"]["DnsRecords"],
        serde_json::json!([{"Type": "A", "TTL": 10}])
    );
    assert_eq!(
        found["service"]["HealthCheckCustomConfig"]["FailureThreshold"],
        1
    );
    assert_eq!(found["namespace"]["Name"], "demo-local-v1.internal");
    assert_eq!(found["namespace"]["Type"], "DNS_PRIVATE");

    deploy(&fixture);
    assert_eq!(registries(&fixture), vec![arn]);

    // Run again with nothing changed: the create-stack keeps the slot.
    fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .assert()
        .success();
    assert_eq!(
        platform_outputs(&fixture)["DiscoveryService1Arn"],
        outputs["DiscoveryService1Arn"]
    );
}

#[test]
fn a_service_created_before_its_registry_is_brought_onto_it() {
    let fixture = fixture("discovery-late");
    let template = fixture.config.path().join("task-defs/web-service.json");
    let shipped = std::fs::read_to_string(&template).expect("template");
    let line = "  \"serviceRegistries\": [{ \"registryArn\": \"{{service.registry_arn}}\" }],\n";
    assert!(
        shipped.contains(line),
        "the shipped template has the registry"
    );
    std::fs::write(&template, shipped.replace(line, "")).expect("write");
    fixture.create_stack();
    deploy(&fixture);
    assert_eq!(registries(&fixture), Vec::<String>::new());

    std::fs::write(&template, &shipped).expect("write");
    let said = deploy(&fixture);
    let arn = platform_outputs(&fixture)["DiscoveryService1Arn"].clone();
    assert!(
        said.contains("serviceRegistries"),
        "the diff shows it: {said}"
    );
    assert_eq!(registries(&fixture), vec![arn]);
}
