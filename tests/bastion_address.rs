//! The bastion's stable address (issue 20, item 2): an Elastic IP associated
//! with the bastion, which is what the stack's output names. Each test runs in
//! its own moto account.

mod common;

use common::TestStack;

#[tokio::test]
async fn the_bastion_answers_on_an_elastic_ip_the_stack_names() {
    let fixture = TestStack::new("bastion-address", common::stack_config_dir(&[]));
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
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let platform = &report["stacks"][1]["outputs"];
    let address = platform["BastionPublicIp"]
        .as_str()
        .expect("BastionPublicIp");
    let instance = platform["BastionInstanceId"]
        .as_str()
        .expect("BastionInstanceId");
    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let addresses = aws_sdk_ec2::Client::new(&config)
        .describe_addresses()
        .public_ips(address)
        .send()
        .await
        .expect("the output names an Elastic IP");
    let elastic = &addresses.addresses()[0];
    assert_eq!(elastic.instance_id(), Some(instance), "{elastic:?}");
    assert!(
        elastic.allocation_id().is_some(),
        "a VPC address: {elastic:?}"
    );

    // A bastion of another architecture is a new instance (a new image): the
    // plan says the address stays and the host key changes, and what to do.
    let config_dir = fixture.config.path();
    let stack_file = config_dir.join("stacks/local.toml");
    let text = std::fs::read_to_string(&stack_file).expect("stack file");
    std::fs::write(
        &stack_file,
        text.replace("[ssh]", "[bastion]\ninstance_type = \"t4g.micro\"\n\n[ssh]"),
    )
    .expect("write");
    let plan = fixture
        .stackup()
        .args(["create-stack", "local", "--dry-run"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    let note: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("  bastion: the bastion is replaced"))
        .collect();
    assert_eq!(note.len(), 1, "{text}");
    assert!(
        note[0].contains(&format!("it keeps its address {address} (an Elastic IP)")),
        "{}",
        note[0]
    );
    assert!(
        note[0].contains("ImageId (parameter BastionAmiId"),
        "{}",
        note[0]
    );
    assert!(
        note[0].contains(&format!("ssh-keygen -R {address} -f ")),
        "{}",
        note[0]
    );
}
