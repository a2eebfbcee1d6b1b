//! create-stack and delete-stack against moto, read back through the EC2, RDS
//! and CloudFormation APIs. Each test runs in its own moto account.

mod common;

use std::collections::BTreeSet;

use aws_sdk_ec2::types::Filter;
use common::{block_on, AwsProxy, LocalCloud, MustSucceed, TestStack};

/// The local stack file with `edits`, in the account of `test`.
fn fixture(test: &str, edits: &[(&str, &str)]) -> TestStack {
    TestStack::new(test, common::stack_config_dir(edits))
}

impl TestStack {
    fn create(&self) -> serde_json::Value {
        let output = self
            .stackup()
            .args(["--output", "json", "create-stack", "local", "--yes"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "create-stack failed: {stderr}");
        // Each stack's end is said once, as the result (not also as progress).
        for stack in ["demo-local-v1-network", "demo-local-v1-platform"] {
            let said = stderr
                .lines()
                .filter(|line| line.ends_with(&format!("{stack}: CREATE_COMPLETE")))
                .count();
            assert!(said <= 1, "{stack} said {said} times: {stderr}");
        }
        serde_json::from_slice(&output.stdout).expect("JSON report")
    }
}

/// Default routes of a VPC's tables, by the tier tag of the table.
struct DefaultRoutes {
    gateway_tiers: Vec<String>,
    nat_tiers: Vec<String>,
    nat_gateways: BTreeSet<String>,
}

/// Tier of each route table, from its logical id in the network stack
/// (`PublicRouteTable`, `PrivateRouteTable2`, `DataRouteTable1`).
async fn route_table_tiers(
    config: &aws_config::SdkConfig,
    stack: &str,
) -> std::collections::BTreeMap<String, String> {
    let cloudformation = aws_sdk_cloudformation::Client::new(config);
    let resources = cloudformation
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .expect("resources");
    resources
        .stack_resources()
        .iter()
        .filter(|resource| resource.resource_type() == Some("AWS::EC2::RouteTable"))
        .filter_map(|resource| {
            let logical = resource.logical_resource_id()?;
            let tier = ["Public", "Private", "Data"]
                .into_iter()
                .find(|tier| logical.starts_with(tier))?;
            Some((
                resource.physical_resource_id()?.to_string(),
                tier.to_ascii_lowercase(),
            ))
        })
        .collect()
}

async fn default_routes(
    config: &aws_config::SdkConfig,
    stack: &str,
    vpc_id: &str,
) -> DefaultRoutes {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let tiers = route_table_tiers(config, stack).await;
    let tables = ec2
        .describe_route_tables()
        .filters(vpc_filter(vpc_id))
        .send()
        .await
        .expect("route tables");
    let mut routes = DefaultRoutes {
        gateway_tiers: Vec::new(),
        nat_tiers: Vec::new(),
        nat_gateways: BTreeSet::new(),
    };
    for table in tables.route_tables() {
        let id = table.route_table_id().unwrap_or_default();
        let tier = tiers
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("unknown table {id}"));
        for route in table
            .routes()
            .iter()
            .filter(|route| route.destination_cidr_block() == Some("0.0.0.0/0"))
        {
            if route
                .gateway_id()
                .is_some_and(|gateway| gateway.starts_with("igw-"))
            {
                routes.gateway_tiers.push(tier.clone());
            }
            if let Some(nat) = route.nat_gateway_id() {
                routes.nat_tiers.push(tier.clone());
                routes.nat_gateways.insert(nat.to_string());
            }
        }
    }
    routes.gateway_tiers.sort();
    routes.nat_tiers.sort();
    routes
}

fn vpc_filter(vpc: &str) -> Filter {
    Filter::builder().name("vpc-id").values(vpc).build()
}

#[tokio::test]
async fn create_stack_builds_the_designed_network_and_platform() {
    let fixture = fixture("create-designed", &[]);
    let report = fixture.create();
    let network = &report["stacks"][0];
    let platform = &report["stacks"][1];
    assert_eq!(network["name"], "demo-local-v1-network");
    assert_eq!(network["result"], "created");
    assert_eq!(platform["result"], "created");
    let vpc_id = network["outputs"]["VpcId"].as_str().expect("VpcId output");

    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);

    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .expect("vpcs");
    assert_eq!(vpcs.vpcs()[0].cidr_block(), Some("10.20.0.0/16"));

    // Subnets: exactly the plan, tier by tier, in the planned zones.
    let zones = vec!["us-east-1a".to_string(), "us-east-1b".to_string()];
    let plan = stackup::network::plan("10.20.0.0/16".parse().expect("cidr"), &zones).expect("plan");
    let subnets = ec2
        .describe_subnets()
        .filters(vpc_filter(vpc_id))
        .send()
        .await
        .expect("subnets");
    let found: BTreeSet<(String, String)> = subnets
        .subnets()
        .iter()
        .map(|subnet| {
            (
                subnet.cidr_block().unwrap_or_default().to_string(),
                subnet.availability_zone().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let planned: BTreeSet<(String, String)> = plan
        .rows()
        .into_iter()
        .map(|(_, zone, cidr)| (cidr.to_string(), zone.to_string()))
        .collect();
    assert_eq!(found, planned);
    let subnet_id = |output: &str| {
        network["outputs"][output]
            .as_str()
            .expect(output)
            .to_string()
    };
    for (output, zone) in [
        ("DataSubnet1", &plan.zones[0]),
        ("PrivateSubnet2", &plan.zones[1]),
    ] {
        let described = ec2
            .describe_subnets()
            .subnet_ids(subnet_id(output))
            .send()
            .await
            .expect("subnet");
        let expected = if output.starts_with("Data") {
            zone.data
        } else {
            zone.private
        };
        assert_eq!(
            described.subnets()[0].cidr_block(),
            Some(expected.to_string().as_str()),
            "{output}"
        );
    }

    // Routes: only the public table reaches the internet gateway; with a single
    // NAT, one private and one data table both go through the one NAT gateway.
    let routes = default_routes(&config, "demo-local-v1-network", vpc_id).await;
    assert_eq!(routes.gateway_tiers, vec!["public".to_string()]);
    assert_eq!(
        routes.nat_tiers,
        vec!["data".to_string(), "private".to_string()]
    );
    assert_eq!(routes.nat_gateways.len(), 1);

    // Security groups: exactly the rules the README states.
    let group = |output: &str| {
        network["outputs"][output]
            .as_str()
            .expect(output)
            .to_string()
    };
    let (app, database, bastion, load_balancer) = (
        group("AppSecurityGroup"),
        group("DatabaseSecurityGroup"),
        group("BastionSecurityGroup"),
        group("LoadBalancerSecurityGroup"),
    );
    let rules = |id: String| {
        let ec2 = ec2.clone();
        async move {
            let groups = ec2
                .describe_security_groups()
                .group_ids(&id)
                .send()
                .await
                .expect("groups");
            let mut rules = BTreeSet::new();
            for permission in groups.security_groups()[0].ip_permissions() {
                let ports = (
                    permission.from_port().unwrap_or(-1),
                    permission.to_port().unwrap_or(-1),
                );
                for pair in permission.user_id_group_pairs() {
                    rules.insert((ports, pair.group_id().unwrap_or_default().to_string()));
                }
                for range in permission.ip_ranges() {
                    rules.insert((ports, range.cidr_ip().unwrap_or_default().to_string()));
                }
            }
            rules
        }
    };
    assert_eq!(
        rules(app.clone()).await,
        BTreeSet::from([
            ((4000, 4000), load_balancer.clone()),
            ((4369, 4369), app.clone()),
            ((9100, 9155), app.clone()),
        ]),
        "app: the load balancer on the container port; EPMD and distribution only from app tasks"
    );
    assert_eq!(
        rules(database.clone()).await,
        BTreeSet::from([((5432, 5432), app.clone()), ((5432, 5432), bastion.clone())]),
        "database: 5432 from app and bastion only"
    );
    assert_eq!(
        rules(bastion.clone()).await,
        BTreeSet::from([((22, 22), "127.0.0.1/32".to_string())])
    );
    assert_eq!(
        rules(load_balancer.clone()).await,
        BTreeSet::from([
            ((80, 80), "0.0.0.0/0".to_string()),
            ((443, 443), "0.0.0.0/0".to_string())
        ])
    );

    // The database sits in the data subnets.
    let rds = aws_sdk_rds::Client::new(&config);
    let instance_id = platform["outputs"]["DatabaseInstanceId"]
        .as_str()
        .expect("DatabaseInstanceId");
    let instances = rds
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
        .expect("db instances");
    let instance = &instances.db_instances()[0];
    assert_eq!(instance.engine(), Some("postgres"));
    assert_eq!(instance.storage_encrypted(), Some(true));
    assert_eq!(instance.publicly_accessible(), Some(false));
    let placed: BTreeSet<String> = instance
        .db_subnet_group()
        .expect("subnet group")
        .subnets()
        .iter()
        .filter_map(|subnet| subnet.subnet_identifier().map(str::to_string))
        .collect();
    assert_eq!(
        placed,
        BTreeSet::from([subnet_id("DataSubnet1"), subnet_id("DataSubnet2")])
    );

    // Exports the platform (and other stacks) import.
    let cloudformation = aws_sdk_cloudformation::Client::new(&config);
    let exports = cloudformation.list_exports().send().await.expect("exports");
    let names: BTreeSet<&str> = exports
        .exports()
        .iter()
        .filter_map(|export| export.name())
        .collect();
    for name in [
        "VpcId",
        "PrivateSubnetIds",
        "AppSecurityGroup",
        "DatabaseSecurityGroup",
    ] {
        assert!(
            names.contains(format!("demo-local-v1-network:{name}").as_str()),
            "export {name}"
        );
    }
    let stacks = cloudformation
        .describe_stacks()
        .stack_name("demo-local-v1-platform")
        .send()
        .await
        .expect("stack");
    let tags: BTreeSet<String> = stacks.stacks()[0]
        .tags()
        .iter()
        .filter_map(|tag| tag.key().map(str::to_string))
        .collect();
    for tag in [
        "stackup:app",
        "stackup:environment",
        "stackup:version",
        "stackup:template-sha256",
    ] {
        assert!(tags.contains(tag), "tag {tag}");
    }
}

#[tokio::test]
async fn three_zones_with_a_nat_per_zone() {
    let fixture = fixture(
        "create-per-az",
        &[
            ("availability_zones = 2", "availability_zones = 3"),
            ("nat = \"single\"", "nat = \"per-az\""),
        ],
    );
    let report = fixture.create();
    let vpc_id = report["stacks"][0]["outputs"]["VpcId"]
        .as_str()
        .expect("VpcId");
    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let subnets = ec2
        .describe_subnets()
        .filters(vpc_filter(vpc_id))
        .send()
        .await
        .expect("subnets");
    let zones: BTreeSet<&str> = subnets
        .subnets()
        .iter()
        .filter_map(|subnet| subnet.availability_zone())
        .collect();
    assert_eq!(
        zones,
        BTreeSet::from(["us-east-1a", "us-east-1b", "us-east-1c"])
    );
    assert_eq!(subnets.subnets().len(), 9);
    let routes = default_routes(&config, "demo-local-v1-network", vpc_id).await;
    assert_eq!(
        routes.gateway_tiers,
        vec!["public".to_string()],
        "data subnets never route to the internet gateway"
    );
    assert_eq!(
        routes.nat_tiers,
        ["data", "data", "data", "private", "private", "private"]
            .map(String::from)
            .to_vec(),
        "private and data tables of each zone"
    );
    assert_eq!(routes.nat_gateways.len(), 3, "one NAT gateway per zone");
}

#[tokio::test]
async fn the_master_password_is_generated_into_ssm_and_never_printed() {
    let fixture = fixture("create-password", &[]);
    let output = fixture
        .stackup()
        .args(["-vv", "create-stack", "local", "--yes"])
        .successful_output();
    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let parameter = aws_sdk_ssm::Client::new(&config)
        .get_parameter()
        .name("/stackup/demo-local-v1/database/master-password")
        .with_decryption(true)
        .send()
        .await
        .expect("password parameter")
        .parameter()
        .cloned()
        .expect("parameter");
    assert_eq!(
        parameter.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString)
    );
    let password = parameter.value().expect("value");
    assert!(password.len() >= 32 && password.chars().all(|c| c.is_ascii_alphanumeric()));
    // Encrypted with the application's own key (the secrets stack's), not
    // the account-wide aws/ssm.
    let described = aws_sdk_ssm::Client::new(&config)
        .describe_parameters()
        .parameter_filters(
            aws_sdk_ssm::types::ParameterStringFilter::builder()
                .key("Name")
                .values("/stackup/demo-local-v1/database/master-password")
                .build()
                .expect("filter"),
        )
        .send()
        .await
        .expect("DescribeParameters");
    assert_eq!(
        described.parameters()[0].key_id(),
        Some("alias/stackup/demo-local")
    );
    assert_eq!(
        common::stack_status(&config, "demo-local-secrets")
            .await
            .as_deref(),
        Some("CREATE_COMPLETE")
    );
    for stream in [&output.stdout, &output.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(password),
            "the password leaked"
        );
    }
}

#[test]
fn a_second_run_reports_no_changes() {
    let fixture = fixture("create-twice", &[]);
    fixture.create();
    let output = fixture
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--yes"])
        .successful_output();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["stacks"][0]["result"], "unchanged");
    assert_eq!(report["stacks"][1]["result"], "unchanged");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("demo-local-v1-network: no changes"),
        "{stderr}"
    );
    let mutations: Vec<String> = fixture
        .proxy
        .operations()
        .into_iter()
        .skip_while(|operation| operation != "DescribeAvailabilityZones")
        .skip(1)
        .skip_while(|operation| operation != "DescribeAvailabilityZones")
        .filter(|operation| !common::is_read_only(operation))
        .collect();
    assert!(
        mutations
            .iter()
            .all(|operation| operation.contains("ChangeSet")),
        "a no-op run only creates (and tidies) change sets: {mutations:?}"
    );
}

#[test]
fn dry_run_shows_the_plan_and_changes_nothing() {
    let fixture = fixture("create-dry-run", &[]);
    let output = fixture
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--dry-run"])
        .successful_output();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        report["plan"]["availability_zones"],
        serde_json::json!(["us-east-1a", "us-east-1b"])
    );
    assert_eq!(report["plan"]["stacks"][0]["action"], "create");
    // The master password passes as no parameter: the template reads it
    // from SSM with a dynamic reference.
    let platform_parameters = report["plan"]["stacks"][1]["parameters"]
        .as_object()
        .expect("the platform's parameters");
    assert!(
        !platform_parameters.contains_key("DatabaseMasterPassword"),
        "{platform_parameters:?}"
    );
    let operations = fixture.proxy.operations();
    assert!(!operations.is_empty());
    let mutations: Vec<&String> = operations
        .iter()
        .filter(|operation| !common::is_read_only(operation))
        .collect();
    assert!(
        mutations.is_empty(),
        "--dry-run made mutating calls: {mutations:?}"
    );
}

/// What a refused or declined create-stack must leave in the account: no
/// stack (not even one in REVIEW_IN_PROGRESS) and no change set executed.
fn assert_nothing_left(fixture: &TestStack) {
    let executed: Vec<String> = fixture
        .proxy
        .operations()
        .into_iter()
        .filter(|operation| operation == "ExecuteChangeSet" || operation == "PutParameter")
        .collect();
    assert!(executed.is_empty(), "{executed:?}");
    let config = fixture.sdk();
    for name in [
        "demo-local-secrets",
        "demo-local-v1-network",
        "demo-local-v1-platform",
    ] {
        let status = common::block_on(common::stack_status(&config, name));
        assert!(
            matches!(status.as_deref(), None | Some("DELETE_COMPLETE")),
            "{name} is left behind as {status:?}"
        );
    }
}

#[test]
fn without_a_terminal_or_yes_nothing_is_changed() {
    let fixture = fixture("create-no-yes", &[]);
    fixture
        .stackup()
        .args(["create-stack", "local"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("pass --yes"));
    assert_nothing_left(&fixture);
}

#[test]
fn declined_on_a_terminal_nothing_is_changed() {
    let fixture = fixture("create-declined", &[]);
    let command = format!(
        "{} --config-dir {} --endpoint-url {} create-stack local",
        assert_cmd::cargo::cargo_bin("stackup").display(),
        fixture.config.path().display(),
        fixture.proxy.endpoint
    );
    // script gives stackup a terminal and types the answer into it.
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    // Answer once the question is on the screen, then keep the terminal open
    // until stackup is done.
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        let mut answered = false;
        loop {
            let read = std::io::Read::read(&mut stdout, &mut buffer).unwrap_or(0);
            if read == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..read]);
            if !answered && String::from_utf8_lossy(&seen).contains("[y/N]") {
                std::io::Write::write_all(&mut stdin, b"n\n").expect("answer");
                answered = true;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let status = child.wait().expect("waits");
    let screen = reader.join().expect("reader");
    assert!(screen.contains("[y/N]"), "asked: {screen}");
    assert!(
        // The first question is the secrets stack's: its key encrypts the
        // master password, which is written before the platform's change set.
        screen.contains(
            "cancelled: demo-local-secrets was not created, and nothing else was changed"
        ),
        "{screen}"
    );
    assert!(!status.success(), "{screen}");
    assert_nothing_left(&fixture);
}

#[test]
fn version_2_builds_beside_version_1_with_its_own_vpc() {
    let v1 = fixture("create-versions", &[]);
    v1.create();
    let v2 = TestStack {
        proxy: AwsProxy::start(&LocalCloud::load().moto_endpoint(), &v1.proxy.account),
        config: common::stack_config_dir(&[
            ("version = 1", "version = 2"),
            ("10.20.0.0/16", "10.30.0.0/16"),
        ]),
    };
    let report = v2.create();
    assert_eq!(report["stacks"][0]["name"], "demo-local-v2-network");
    assert_eq!(report["stacks"][0]["outputs"]["VpcCidr"], "10.30.0.0/16");
    let output = v1
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--yes"])
        .output()
        .expect("runs");
    let again: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        again["stacks"][0]["result"], "unchanged",
        "v1 is untouched by v2"
    );
    assert_ne!(
        again["stacks"][0]["outputs"]["VpcId"],
        report["stacks"][0]["outputs"]["VpcId"]
    );
}

#[tokio::test]
async fn delete_stack_refuses_while_another_stack_imports_and_then_removes_both() {
    let fixture = fixture("delete-dependents", &[]);
    fixture.create();
    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let cloudformation = aws_sdk_cloudformation::Client::new(&config);
    let consumer = serde_json::json!({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"Vpc": {"Value": {"Fn::ImportValue": "demo-local-v1-network:VpcId"}}}
    });
    cloudformation
        .create_stack()
        .stack_name("consumer")
        .template_body(consumer.to_string())
        .send()
        .await
        .expect("consumer stack");

    fixture
        .stackup()
        .args(["delete-stack", "local", "--yes"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "consumer imports demo-local-v1-network:VpcId",
        ));
    let still = cloudformation
        .describe_stacks()
        .stack_name("demo-local-v1-platform")
        .send()
        .await;
    assert!(
        still.is_ok(),
        "nothing was deleted while a dependent exists"
    );

    cloudformation
        .delete_stack()
        .stack_name("consumer")
        .send()
        .await
        .expect("delete consumer");
    fixture
        .stackup()
        .args(["delete-stack", "local", "--yes"])
        .assert()
        .success()
        .stdout("deleted demo-local-v1-platform\ndeleted demo-local-v1-network\n");
    for name in ["demo-local-v1-platform", "demo-local-v1-network"] {
        assert!(
            common::stack_is_gone(&config, name).await,
            "{name} still exists"
        );
    }
    fixture
        .stackup()
        .args(["delete-stack", "local", "--yes"])
        .assert()
        .success()
        .stderr(predicates::str::contains("nothing to delete"));
}

#[tokio::test]
async fn an_upstream_stacks_exports_are_imported_and_a_missing_upstream_is_named() {
    // The stack file's own platform template imports an export of `shared`.
    let mut platform: serde_json::Value =
        serde_json::from_str(stackup::templates::BUILTIN_PLATFORM)
            .expect("built-in platform template");
    platform["Parameters"]["UpstreamSharedStackName"] = serde_json::json!({"Type": "String"});
    platform["Outputs"]["SharedTopic"] = serde_json::json!({
        "Value": {"Fn::ImportValue": {"Fn::Sub": "${UpstreamSharedStackName}:Topic"}}
    });
    let fixture = fixture(
        "create-upstream",
        &[("[services.web]", "[upstream]\nshared = \"org-shared-v1\"\n\n[templates]\nplatform = \"stacks/platform-with-shared.json\"\n\n[services.web]")],
    );
    std::fs::write(
        fixture
            .config
            .path()
            .join("stacks/platform-with-shared.json"),
        platform.to_string(),
    )
    .expect("write template");
    fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "upstream stack org-shared-v1 ([upstream] shared",
        ))
        .stderr(predicates::str::contains("does not exist"));

    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let shared = serde_json::json!({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"Topic": {"Value": {"Ref": "Topic"}, "Export": {"Name": "org-shared-v1:Topic"}}}
    });
    aws_sdk_cloudformation::Client::new(&config)
        .create_stack()
        .stack_name("org-shared-v1")
        .template_body(shared.to_string())
        .send()
        .await
        .expect("shared stack");
    let report = fixture.create();
    let imported = report["stacks"][1]["outputs"]["SharedTopic"]
        .as_str()
        .expect("imported output");
    assert!(imported.contains("arn:aws:sns"), "{imported}");
}

/// `[cluster] distribution_ports` is the one setting for both ends: the app
/// security group opens that range between tasks (and nothing else for
/// distribution), and the shipped task template hands it to the entrypoint.
#[test]
fn the_distribution_ports_of_the_stack_file_are_the_ones_the_security_group_opens() {
    let fixture = fixture(
        "distribution-ports",
        &[("hosts = 2", "hosts = 2\ndistribution_ports = \"9200-9209\"")],
    );
    let report = fixture.create();
    let app = report["stacks"][0]["outputs"]["AppSecurityGroup"]
        .as_str()
        .expect("AppSecurityGroup")
        .to_string();
    let config = fixture.sdk();
    let ports: BTreeSet<(i32, i32)> = block_on(async {
        aws_sdk_ec2::Client::new(&config)
            .describe_security_groups()
            .group_ids(&app)
            .send()
            .await
            .expect("groups")
            .security_groups()[0]
            .ip_permissions()
            .iter()
            .filter(|permission| {
                permission
                    .user_id_group_pairs()
                    .iter()
                    .any(|pair| pair.group_id() == Some(app.as_str()))
            })
            .map(|permission| {
                (
                    permission.from_port().unwrap_or(-1),
                    permission.to_port().unwrap_or(-1),
                )
            })
            .collect()
    });
    assert_eq!(ports, BTreeSet::from([(4369, 4369), (9200, 9209)]));

    // The task template's DISTRIBUTION_PORTS says the same.
    let (code, _, stderr) = {
        let output = fixture
            .stackup()
            .args([
                "--output",
                "json",
                "deploy-release",
                "local",
                "--yes",
                "--no-wait",
            ])
            .args([
                "--image",
                "web=ghcr.io/example/demo:1.0.0",
                "--allow-missing-parameters",
            ])
            .output()
            .expect("runs");
        (
            output.status.code(),
            output.stdout,
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    assert_eq!(code, Some(0), "{stderr}");
    let environment = block_on(async {
        aws_sdk_ecs::Client::new(&config)
            .describe_task_definition()
            .task_definition("demo-local-v1-web")
            .send()
            .await
            .expect("task definition")
            .task_definition()
            .expect("task definition")
            .container_definitions()[0]
            .environment()
            .iter()
            .map(|pair| {
                (
                    pair.name().unwrap_or_default().to_string(),
                    pair.value().unwrap_or_default().to_string(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    });
    assert_eq!(environment["DISTRIBUTION_PORTS"], "9200-9209");
    assert_eq!(environment["NODE_NAME_MODE"], "ip");
}

/// What real AWS would do with the defaults and settings of the load balancer
/// and the database: a target group healthy only on 200 (a redirect is no
/// proof of health), HTTPS with the certificate given and HTTP redirecting to
/// it, storage autoscaling up to its ceiling and the backups kept as long as
/// the stack file says.
/// The healthy codes of the target group of a platform stack's `outputs`.
fn healthy_codes(fixture: &TestStack, outputs: &serde_json::Value) -> Option<String> {
    let config = fixture.sdk();
    block_on(async {
        aws_sdk_elasticloadbalancingv2::Client::new(&config)
            .describe_target_groups()
            .target_group_arns(outputs["TargetGroupArn"].as_str().expect("target group"))
            .send()
            .await
            .expect("target groups")
            .target_groups()[0]
            .matcher()
            .and_then(|matcher| matcher.http_code())
            .map(str::to_string)
    })
}

#[test]
fn health_https_storage_and_backups_follow_the_stack_file() {
    let defaults = fixture("aws-rules-defaults", &[]);
    let report = defaults.create();
    assert_eq!(
        healthy_codes(&defaults, &report["stacks"][1]["outputs"]).as_deref(),
        Some("200")
    );

    let mut configured = fixture("aws-rules-configured", &[]);
    // A certificate ACM holds (a listener refuses one it does not).
    let acm_config = configured.sdk();
    let certificate = block_on(async {
        aws_sdk_acm::Client::new(&acm_config)
            .request_certificate()
            .domain_name("shop.example.com")
            .send()
            .await
            .expect("certificate")
            .certificate_arn()
            .expect("arn")
            .to_string()
    });
    configured.config = common::stack_config_dir(
        &[
            (
                "health_check_path = \"/health\"",
                &format!("health_check_path = \"/health\"\nhealthy_codes = \"200-204\"\ncertificate_arn = \"{certificate}\""),
            ),
            (
                "deletion_protection = false",
                "deletion_protection = false\nmax_allocated_storage = 100\nbackup_retention_days = 14",
            ),
        ],
    );
    let output = configured
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--yes"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("certificate_arn"), "no warning: {stderr}");
    let defaults_stderr = String::from_utf8_lossy(
        &defaults
            .stackup()
            .args(["create-stack", "local", "--dry-run"])
            .output()
            .expect("runs")
            .stderr,
    )
    .to_string();
    assert!(
        defaults_stderr.contains(
            "warning: no [load_balancer] certificate_arn: the load balancer serves plain HTTP"
        ),
        "{defaults_stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let platform = &report["stacks"][1]["outputs"];
    let config = configured.sdk();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let matcher = healthy_codes(&configured, platform);
    let listeners = block_on(async {
        elb.describe_listeners()
            .load_balancer_arn(platform["LoadBalancerArn"].as_str().expect("load balancer"))
            .send()
            .await
            .expect("listeners")
            .listeners()
            .iter()
            .map(|listener| {
                (
                    listener.port().unwrap_or_default(),
                    listener
                        .certificates()
                        .iter()
                        .filter_map(|certificate| certificate.certificate_arn().map(str::to_string))
                        .collect::<Vec<_>>(),
                    listener
                        .default_actions()
                        .iter()
                        .map(|action| {
                            action
                                .r#type()
                                .map(|kind| kind.as_str().to_string())
                                .unwrap_or_default()
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<BTreeSet<_>>()
    });
    assert_eq!(matcher.as_deref(), Some("200-204"));
    assert_eq!(
        listeners,
        BTreeSet::from([
            (80, vec![], vec!["redirect".to_string()]),
            (443, vec![certificate.clone()], vec!["forward".to_string()]),
        ])
    );
    let rds = aws_sdk_rds::Client::new(&config);
    let instance = block_on(async {
        rds.describe_db_instances()
            .db_instance_identifier(platform["DatabaseInstanceId"].as_str().expect("database"))
            .send()
            .await
            .expect("instances")
            .db_instances()[0]
            .clone()
    });
    assert_eq!(instance.max_allocated_storage(), Some(100));
    assert_eq!(instance.backup_retention_period(), Some(14));
}

/// The images are chosen by stackup from AWS's public parameters for the
/// instance type's architecture, passed as plain ids (an SSM-typed parameter
/// would resolve again at every update: a new bastion, rolled hosts), and
/// kept until --refresh-amis or another architecture asks for others.
#[test]
fn images_are_chosen_once_for_their_architecture_and_kept() {
    let fixture = fixture("amis-kept", &[]);
    fixture.create();
    let config = fixture.sdk();
    let published = |name: &str| {
        let name = name.to_string();
        let config = config.clone();
        block_on(async move {
            aws_sdk_ssm::Client::new(&config)
                .get_parameter()
                .name(name)
                .send()
                .await
                .expect("a public AMI parameter")
                .parameter()
                .and_then(|parameter| parameter.value().map(str::to_string))
                .expect("value")
        })
    };
    let hosts_x86 =
        published("/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id");
    let hosts_arm =
        published("/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id");
    let bastion_x86 =
        published("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64");
    assert_ne!(hosts_x86, hosts_arm);
    let parameters = || {
        let config = config.clone();
        block_on(async move {
            aws_sdk_cloudformation::Client::new(&config)
                .describe_stacks()
                .stack_name("demo-local-v1-platform")
                .send()
                .await
                .expect("stack")
                .stacks()[0]
                .parameters()
                .iter()
                .map(|parameter| {
                    (
                        parameter.parameter_key().unwrap_or_default().to_string(),
                        parameter.parameter_value().unwrap_or_default().to_string(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    };
    let created = parameters();
    assert_eq!(created["EcsAmiId"], hosts_x86);
    assert_eq!(created["BastionAmiId"], bastion_x86);

    // The same stack again: the images it runs are kept.
    let plan = |args: &[&str]| {
        let output = fixture
            .stackup()
            .args(["create-stack", "local", "--dry-run"])
            .args(args)
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let again = plan(&[]);
    assert!(
        again.contains(&format!("ECS hosts image: {hosts_x86} (x86_64, kept)")),
        "{again}"
    );
    assert!(
        again.contains(&format!("bastion image: {bastion_x86} (x86_64, kept)")),
        "{again}"
    );
    let refreshed = plan(&["--refresh-amis"]);
    assert!(
        refreshed.contains(&format!("bastion image: {bastion_x86} (x86_64, newest, from /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 (--refresh-amis))")),
        "{refreshed}"
    );

    // Graviton hosts get the arm64 image; the bastion keeps its own.
    let stack_file = fixture.config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&stack_file).expect("stack file");
    std::fs::write(
        &stack_file,
        text.replacen(
            "instance_type = \"t3.small\"",
            "instance_type = \"t4g.small\"",
            1,
        ),
    )
    .expect("write");
    let output = fixture
        .stackup()
        .args(["create-stack", "local", "--yes"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("ECS hosts image: {hosts_arm} (arm64, newest, from /aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id (the instance type's architecture changes))")),
        "{stderr}"
    );
    let updated = parameters();
    assert_eq!(updated["EcsAmiId"], hosts_arm);
    assert_eq!(updated["BastionAmiId"], bastion_x86);
}

/// A stack grows from 2 zones to 3: the network stack's subnet lists change,
/// which CloudFormation refuses for an export another stack imports ("Cannot
/// update export ... as it is in use by ..."; the local cloud enforces it), so
/// the platform takes the lists as parameters read from the network stack.
#[test]
fn a_stack_grows_from_two_zones_to_three() {
    let fixture = fixture("grow-zones", &[]);
    fixture.create();
    let stack_file = fixture.config.path().join("stacks/local.toml");
    let text = std::fs::read_to_string(&stack_file).expect("stack file");
    std::fs::write(
        &stack_file,
        text.replacen("availability_zones = 2", "availability_zones = 3", 1),
    )
    .expect("write");
    let output = fixture
        .stackup()
        .args(["--output", "json", "create-stack", "local", "--yes"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let count = |layer: usize, output: &str| {
        report["stacks"][layer]["outputs"][output]
            .as_str()
            .expect(output)
            .split(',')
            .count()
    };
    assert_eq!(count(0, "PrivateSubnetIds"), 3, "{report}");
    assert_eq!(count(0, "DataSubnetIds"), 3, "{report}");
    // The platform runs its hosts in the three private subnets now.
    assert_eq!(count(1, "PrivateSubnetIds"), 3, "{report}");
    assert_eq!(
        report["stacks"][1]["outputs"]["PrivateSubnetIds"],
        report["stacks"][0]["outputs"]["PrivateSubnetIds"]
    );
}

/// CloudFormation takes at most 51,200 bytes of TemplateBody (quotas); the
/// local cloud refuses more as AWS does (scripts/moto_server.py, entry 29),
/// so a template that grows past it fails here before it fails on AWS.
#[tokio::test]
async fn a_template_body_over_cloudformations_limit_is_refused() {
    let fixture = fixture("body-limit", &[]);
    let config = common::sdk_config(&fixture.proxy.endpoint).await;
    let cloudformation = aws_sdk_cloudformation::Client::new(&config);
    let body = |size: usize| {
        let padding = 51_200 - 64;
        let template = serde_json::json!({
            "Description": "x".repeat(padding),
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}
        })
        .to_string();
        let wanted = size - (template.len() - padding);
        serde_json::json!({
            "Description": "x".repeat(wanted),
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}
        })
        .to_string()
    };
    let refused = cloudformation
        .create_change_set()
        .stack_name("body-limit-over")
        .change_set_name("over")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(body(51_201))
        .send()
        .await
        .expect_err("51,201 bytes are refused");
    let message = format!(
        "{}",
        aws_sdk_cloudformation::error::DisplayErrorContext(&refused)
    );
    assert!(
        message.contains("at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to 51200"),
        "{message}"
    );
    let described = cloudformation
        .describe_stacks()
        .stack_name("body-limit-over")
        .send()
        .await;
    assert!(described.is_err(), "no stack was made: {described:?}");

    let exact = body(51_200);
    assert_eq!(exact.len(), 51_200);
    cloudformation
        .create_change_set()
        .stack_name("body-limit-exact")
        .change_set_name("exact")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(exact)
        .send()
        .await
        .expect("51,200 bytes are taken");
    cloudformation
        .delete_stack()
        .stack_name("body-limit-exact")
        .send()
        .await
        .expect("clean up");
}
