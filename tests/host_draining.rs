//! ECS hosts drained before they go (issue 20, item 4): the platform stack
//! makes the hosts' Auto Scaling group a capacity provider with managed
//! draining and the cluster's default strategy, services run on it, a service
//! created with a launch type moves to it, and the plan says when the hosts
//! roll. `scripts/moto_server.py` entry 27 models what moto skips.

mod common;

use common::{block_on, TestStack};

const STRATEGY: &str = "\"capacityProviderStrategy\": [\n    { \"capacityProvider\": \"{{stack.CapacityProviderName}}\", \"weight\": 1, \"base\": 0 }\n  ],";
const LAUNCH_TYPE: &str = "\"launchType\": \"EC2\",";

fn fixture(test: &str, edits: &[(&str, &str)]) -> TestStack {
    let fixture = TestStack::new(test, common::stack_config_dir(edits));
    fixture.create_stack();
    fixture
}

/// The service template with `from` replaced by `to`.
fn edit_service_template(fixture: &TestStack, from: &str, to: &str) {
    let path = fixture.config.path().join("task-defs/web-service.json");
    let text = std::fs::read_to_string(&path).expect("web-service.json");
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

fn platform_output(fixture: &TestStack, key: &str) -> String {
    let config = fixture.sdk();
    let described = block_on(
        aws_sdk_cloudformation::Client::new(&config)
            .describe_stacks()
            .stack_name("demo-local-v1-platform")
            .send(),
    )
    .expect("describe");
    described.stacks()[0]
        .outputs()
        .iter()
        .find(|output| output.output_key() == Some(key))
        .and_then(|output| output.output_value())
        .unwrap_or_else(|| panic!("no output {key}"))
        .to_string()
}

fn deploy(fixture: &TestStack, image: &str) -> (Option<i32>, String) {
    let output = fixture
        .stackup()
        .args(["deploy-release", "local", "--yes", "--image"])
        .arg(format!("web={image}"))
        .output()
        .expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

fn strategy_of(service: &aws_sdk_ecs::types::Service) -> Vec<String> {
    service
        .capacity_provider_strategy()
        .iter()
        .map(|item| item.capacity_provider().to_string())
        .collect()
}

#[test]
fn services_run_on_the_hosts_capacity_provider_which_drains_them() {
    let fixture = fixture("drain-provider", &[]);
    let provider = platform_output(&fixture, "CapacityProviderName");
    let config = fixture.sdk();
    let ecs = aws_sdk_ecs::Client::new(&config);

    let described = block_on(
        ecs.describe_capacity_providers()
            .capacity_providers(&provider)
            .send(),
    )
    .expect("capacity provider");
    let group = described.capacity_providers()[0]
        .auto_scaling_group_provider()
        .expect("an Auto Scaling group provider");
    assert_eq!(
        group.managed_draining().map(|draining| draining.as_str()),
        Some("ENABLED")
    );
    assert_eq!(
        group.auto_scaling_group_arn(),
        platform_output(&fixture, "AutoScalingGroupName")
    );
    let cluster = block_on(ecs.describe_clusters().clusters("demo-local-v1").send())
        .expect("cluster")
        .clusters()[0]
        .clone();
    assert_eq!(
        cluster.capacity_providers(),
        std::slice::from_ref(&provider)
    );
    assert_eq!(
        cluster.default_capacity_provider_strategy()[0].capacity_provider(),
        provider
    );

    let (code, stderr) = deploy(&fixture, "ghcr.io/example/demo:1.0.0");
    assert_eq!(code, Some(0), "{stderr}");
    let service = block_on(common::web_service(&config));
    assert_eq!(strategy_of(&service), std::slice::from_ref(&provider));
    assert_eq!(
        service.launch_type(),
        None,
        "a service on a strategy has no launch type"
    );
}

/// A service created with `launchType: EC2` (the template stackup shipped
/// before) moves to the capacity provider when its template names it: ECS
/// takes that only with forceNewDeployment, which the deploy sends.
#[test]
fn a_service_created_with_a_launch_type_moves_to_the_capacity_provider() {
    let fixture = fixture("drain-switch", &[]);
    let provider = platform_output(&fixture, "CapacityProviderName");
    edit_service_template(&fixture, STRATEGY, LAUNCH_TYPE);
    let (code, stderr) = deploy(&fixture, "ghcr.io/example/demo:1.0.0");
    assert_eq!(code, Some(0), "{stderr}");
    let config = fixture.sdk();
    let before = block_on(common::web_service(&config));
    assert_eq!(
        before.launch_type().map(|launch_type| launch_type.as_str()),
        Some("EC2")
    );
    assert!(strategy_of(&before).is_empty());

    edit_service_template(&fixture, LAUNCH_TYPE, STRATEGY);
    let (code, stderr) = deploy(&fixture, "ghcr.io/example/demo:1.0.0");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("capacityProviderStrategy"),
        "the plan shows the move: {stderr}"
    );
    let after = block_on(common::web_service(&config));
    assert_eq!(strategy_of(&after), std::slice::from_ref(&provider));
    assert_eq!(after.launch_type(), None);
    let primary = &after.deployments()[0];
    assert_ne!(
        primary.id(),
        before.deployments()[0].id(),
        "the move is a new deployment"
    );
    assert_eq!(
        primary
            .capacity_provider_strategy()
            .iter()
            .map(|item| item.capacity_provider())
            .collect::<Vec<_>>(),
        [provider.as_str()]
    );
}

#[test]
fn the_plan_says_the_hosts_are_drained_when_they_roll() {
    let fixture = fixture("drain-plan", &[]);
    let path = fixture.config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&path).expect("stack file");
    std::fs::write(
        &path,
        text.replacen(
            "instance_type = \"t3.small\"",
            "instance_type = \"t3.medium\"",
            1,
        ),
    )
    .expect("write");
    let output = fixture
        .stackup()
        .args(["create-stack", "local", "--dry-run"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(
            "  hosts: the ECS hosts are replaced one at a time (instance type t3.small -> t3.medium); \
             ECS drains each before it goes (capacity provider EcsCapacityProvider, managed draining)"
        ),
        "{stdout}"
    );

    // Nothing that rolls the hosts, nothing said.
    std::fs::write(&path, text).expect("write");
    let output = fixture
        .stackup()
        .args(["create-stack", "local", "--dry-run"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("hosts:"), "{stdout}");
}
