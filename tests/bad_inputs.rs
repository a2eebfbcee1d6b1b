//! The bad-input corpus beyond the stack files of tests/validate.rs: bad
//! CloudFormation, task and service templates, bad migrations, bad arguments,
//! missing SSM parameters, stacks that were never created and endpoints that
//! cannot be reached, each given to the command that meets it.
//!
//! Every case states its exit code (2 for bad input, 1 for a remote cause),
//! what the message must say (the file, key or resource, and the fix), and
//! proves that AWS was not changed: each case runs through a proxy of its own
//! into its world's moto account, and every operation it recorded must only
//! read (or there must be none at all, for input refused before any call). On
//! top of that, each world's moto state is read before and after all its cases
//! and must be the same. Cases that reach the database also check what the
//! database holds afterwards: a failed migration leaves nothing half-applied.
//!
//! `BAD_INPUTS_SHOW=1` prints every case's stderr.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::{block_on, AwsProxy, LocalCloud};

/// No case may take longer than this (the unreachable endpoint cases wait out
/// the SDK's retries, about 20 s).
const CASE_LIMIT: Duration = Duration::from_secs(120);
/// Cases run this many at a time.
const WORKERS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    CloudFormationTemplate,
    TaskOrServiceTemplate,
    Migration,
    Argument,
    /// What the stack file says to build: a Compose file and its services.
    BuildSource,
    MissingParameter,
    MissingStack,
    Unreachable,
}

/// The moto account (and database) a case runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum WorldKind {
    /// Nothing created.
    Empty,
    /// create-stack, update-resources and deploy-release done: the stack, the
    /// database with migration 001 and seeds, and service web with running tasks.
    Live,
    /// create-stack and deploy-release done, then the database master password
    /// and the release history of web deleted from SSM.
    MissingParameters,
}

/// What the case may do to AWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AwsExpectation {
    /// Refused before any AWS call.
    NoCall,
    /// Calls that only read.
    ReadOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    /// The case's own proxy into its world's account.
    Proxy,
    /// A loopback port nothing listens on.
    Closed,
}

/// A file written into the case's config dir before it runs.
#[derive(Clone, Copy)]
enum Content {
    Text(&'static str),
    Remove,
    /// The built-in network or platform template, changed by the function.
    Network(fn(&mut serde_json::Value)),
    Platform(fn(&mut serde_json::Value)),
    /// The repository's task or service definition template with a text edit.
    TaskDefinition(&'static str, &'static str),
    ServiceDefinition(&'static str, &'static str),
    /// The task definition template with several text edits.
    TaskDefinitionEdits(&'static [(&'static str, &'static str)]),
}

type Check = fn(&World) -> Result<(), String>;

#[derive(Clone)]
struct Case {
    name: &'static str,
    category: Category,
    world: WorldKind,
    args: &'static [&'static str],
    edits: Vec<(&'static str, &'static str)>,
    files: Vec<(&'static str, Content)>,
    endpoint: Endpoint,
    code: i32,
    says: &'static [&'static str],
    aws: AwsExpectation,
    after: Option<Check>,
}

fn case(
    name: &'static str,
    category: Category,
    world: WorldKind,
    args: &'static [&'static str],
    code: i32,
    says: &'static [&'static str],
) -> Case {
    Case {
        name,
        category,
        world,
        args,
        edits: Vec::new(),
        files: Vec::new(),
        endpoint: Endpoint::Proxy,
        code,
        says,
        aws: AwsExpectation::ReadOnly,
        after: None,
    }
}

impl Case {
    /// Replace text in the stack file (tokens as in [`Tokens::fill`]).
    fn edit(mut self, from: &'static str, to: &'static str) -> Case {
        self.edits.push((from, to));
        self
    }

    fn file(mut self, path: &'static str, content: Content) -> Case {
        self.files.push((path, content));
        self
    }

    fn no_call(mut self) -> Case {
        self.aws = AwsExpectation::NoCall;
        self
    }

    fn closed_endpoint(mut self) -> Case {
        self.endpoint = Endpoint::Closed;
        self.aws = AwsExpectation::NoCall;
        self
    }

    fn then(mut self, check: Check) -> Case {
        self.after = Some(check);
        self
    }
}

use Category::*;
use Content::*;
use WorldKind::*;

const STACK_FILE: &str = "stacks/local.toml";
const SSH_SECTION: &str = "[ssh]\n";
const WITH_OWN_NETWORK: &str = "[templates]\nnetwork = \"stacks/own-network.json\"\n\n[ssh]\n";
const WITH_OWN_PLATFORM: &str = "[templates]\nplatform = \"stacks/own-platform.json\"\n\n[ssh]\n";
/// Container web built as the Compose file's service db says.
const COMPOSE_WEB_FROM_DB: &str = "[build]\ncompose = \"docker-compose.yml\"\n\n[services.web.build.web]\ncompose_service = \"db\"\n\n[ssh]\n";
const DEPLOY: &[&str] = &[
    "deploy-release",
    "local",
    "--yes",
    "--image",
    "web=ghcr.io/example/demo:2.0.0",
];
const UPDATE: &[&str] = &["update-resources", "local", "--yes"];
const CREATE: &[&str] = &["create-stack", "local", "--yes"];

fn remove_output(template: &mut serde_json::Value, output: &str) {
    template["Outputs"]
        .as_object_mut()
        .expect("Outputs")
        .remove(output);
}

fn cases() -> Vec<Case> {
    vec![
        // CloudFormation templates named by [templates]: refused before any call.
        case("cfn-network-not-json", CloudFormationTemplate, Empty, CREATE, 2,
            &["stacks/own-network.json:3: is not valid JSON", "fix: correct the JSON syntax at that line"])
            .edit(SSH_SECTION, WITH_OWN_NETWORK)
            .file("stacks/own-network.json", Text("{\n  \"Resources\": {\n    \"Vpc\": {\"Type\": \"AWS::EC2::VPC\",,}\n  }\n}\n"))
            .no_call(),
        case("cfn-platform-lacks-output", CloudFormationTemplate, Empty, CREATE, 2,
            &["stacks/own-platform.json: has no output DatabaseEndpointAddress, which stackup reads", "fix: add an output named DatabaseEndpointAddress"])
            .edit(SSH_SECTION, WITH_OWN_PLATFORM)
            .file("stacks/own-platform.json", Platform(|template| remove_output(template, "DatabaseEndpointAddress")))
            .no_call(),
        case("cfn-network-lacks-vpc-output", CloudFormationTemplate, Empty, &["deploy-release", "local", "--yes", "--image", "web=x:1"], 2,
            &["stacks/own-network.json: has no output VpcId, which stackup reads", "fix: add an output named VpcId"])
            .edit(SSH_SECTION, WITH_OWN_NETWORK)
            .file("stacks/own-network.json", Network(|template| remove_output(template, "VpcId")))
            .no_call(),
        case("cfn-parameter-stackup-cannot-supply", CloudFormationTemplate, Empty, CREATE, 2,
            &["stacks/own-network.json: parameter KeyPairName has no Default and stackup does not supply it", "fix: give it a Default, or use only parameters stackup supplies: StackId, VpcCidr"])
            .edit(SSH_SECTION, WITH_OWN_NETWORK)
            .file("stacks/own-network.json", Network(|template| {
                template["Parameters"]["KeyPairName"] = serde_json::json!({"Type": "String"});
            }))
            .no_call(),
        case("cfn-platform-without-resources", CloudFormationTemplate, Empty, CREATE, 2,
            &["stacks/own-platform.json: has no Resources", "fix: a CloudFormation template needs a \"Resources\" object"])
            .edit(SSH_SECTION, WITH_OWN_PLATFORM)
            .file("stacks/own-platform.json", Text("{\"Resources\": {}, \"Outputs\": {}}"))
            .no_call(),
        case("cfn-resource-without-type", CloudFormationTemplate, Empty, CREATE, 2,
            &["stacks/own-network.json: resource InternetGateway has no Type", "fix: add \"Type\": \"AWS::...\""])
            .edit(SSH_SECTION, WITH_OWN_NETWORK)
            .file("stacks/own-network.json", Network(|template| {
                template["Resources"]["InternetGateway"]
                    .as_object_mut()
                    .expect("InternetGateway")
                    .remove("Type");
            }))
            .no_call(),
        case("cfn-ref-to-a-renamed-resource", CloudFormationTemplate, Empty, CREATE, 2,
            &["stacks/own-platform.json", "Fn::GetAtt names Database, which the template does not declare", "fix: declare it under Parameters, Resources or Conditions, or correct the name"])
            .edit(SSH_SECTION, WITH_OWN_PLATFORM)
            .file("stacks/own-platform.json", Platform(|template| {
                let resources = template["Resources"].as_object_mut().expect("Resources");
                let database = resources.remove("Database").expect("Database");
                resources.insert("PostgresDatabase".into(), database);
            }))
            .no_call(),

        // Task and service definition templates: refused before anything is registered.
        case("task-not-json", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json:4: is not valid JSON", "fix: correct the JSON syntax at that line"])
            .file("task-defs/web.json", Text("{\n  \"family\": \"{{family}}\",\n  \"containerDefinitions\": [\n"))
            .no_call(),
        case("task-unknown-placeholder", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json", "unknown placeholder {{cookie.value}}", "fix: use image.<container>, stack.<Output>"])
            .file("task-defs/web.json", TaskDefinition("\"{{cookie.arn}}\"", "\"{{cookie.value}}\""))
            .no_call(),
        // A secret whose parameter does not exist: its tasks could not start.
        case("task-parameter-missing", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["web: the task definition refers to SSM parameter /stackup/demo-local-v1/app/api-key, which does not exist: its tasks cannot start until it does",
              "or pass --allow-missing-parameters to deploy anyway"])
            .file("task-defs/web.json", TaskDefinition("\"{{parameter.database/app-password}}\" }", "\"{{parameter.database/app-password}}\" },\n        { \"name\": \"API_KEY\", \"valueFrom\": \"{{parameter.app/api-key}}\" }")),
        case("task-misspelt-placeholder", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json", "unknown placeholder {{relase.id}}", "fix: did you mean {{release.id}}? Otherwise use image.<container>"])
            .file("task-defs/web.json", TaskDefinition("{ \"name\": \"PHX_SERVER\", \"value\": \"true\" }", "{ \"name\": \"PHX_SERVER\", \"value\": \"true\" },\n        { \"name\": \"RELEASE\", \"value\": \"{{relase.id}}\" }"))
            .no_call(),
        case("task-output-cut-short", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json", "{{stack.LoadBalancerDns}} is not an output of the stack's templates", "did you mean {{stack.LoadBalancerDnsName}}?"])
            .file("task-defs/web.json", TaskDefinition("{ \"name\": \"PHX_SERVER\", \"value\": \"true\" }", "{ \"name\": \"PHX_SERVER\", \"value\": \"true\" },\n        { \"name\": \"PHX_HOST\", \"value\": \"{{stack.LoadBalancerDns}}\" }"))
            .no_call(),
        // awsvpc tasks take a network interface each (issue 20, item 6): one t3.small
        // runs 2, and web at 150% of 2 runs 3 while it deploys.
        case("service-tasks-exceed-host-interfaces", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["stacks/local.toml: cluster.hosts: at the peak of a deployment the awsvpc tasks need 3 network interfaces (web: ceil(2 x 150 / 100) = 3), but 1 t3.small host give 2",
              "a t3.small has 3 network interfaces and the first is the host's own",
              "T-family types cannot use ENI trunking",
              "fix: raise [cluster] hosts to 2"])
            .edit("hosts = 2\n", "hosts = 1\n")
            .no_call(),
        case("task-misspelt-output", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json", "{{stack.LogGroup}} is not an output of the stack's templates", "did you mean {{stack.LogGroupName}}?"])
            .file("task-defs/web.json", TaskDefinition("{{stack.LogGroupName}}", "{{stack.LogGroup}}"))
            .no_call(),
        case("task-plain-secret", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json", "DATABASE_PASSWORD looks like a secret but is given as a plain value", "fix: move it to \"secrets\""])
            .file("task-defs/web.json", TaskDefinition(
                "{ \"name\": \"PHX_SERVER\", \"value\": \"true\" }",
                "{ \"name\": \"PHX_SERVER\", \"value\": \"true\" },\n        { \"name\": \"DATABASE_PASSWORD\", \"value\": \"oatmeal-raisin\" }",
            ))
            .no_call()
            .then(|world| world.not_in_output("oatmeal-raisin")),
        case("task-unclosed-placeholder", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json", "/containerDefinitions/0/image", "without a closing `}}`", "fix: write placeholders as {{ name }}"])
            .file("task-defs/web.json", TaskDefinition("\"{{image.web}}\"", "\"{{image.web}\""))
            .no_call(),
        case("task-without-containers", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json", "has no containers", "fix: add \"containerDefinitions\""])
            .file("task-defs/web.json", Text("{\"family\": \"{{family}}\", \"containerDefinitions\": []}"))
            .no_call(),
        case("task-number-field-not-a-number", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json:", "/containerDefinitions/0/memory: is not a task definition stackup can register: \"demo\" is not a whole number (from \"{{app}}\")", "fix: give this field a value of the type ECS RegisterTaskDefinition takes"])
            .file("task-defs/web.json", TaskDefinition("\"memory\": 1792", "\"memory\": \"{{app}}\""))
            .no_call(),
        case("task-size-not-a-size", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json:3: /cpu: is not a task definition stackup can register: \"demo\" is not a number of CPU units (\"256\") or of vCPU (\"1 vCPU\") (from \"{{app}}\")",
              "fix: write a number of CPU units like \"256\" or of vCPU like \"1 vCPU\"",
              "task-defs/web.json:4: /memory: is not a task definition stackup can register: \"demo GB\" is not a number of MiB (\"512\") or of GB (\"1 GB\") (from \"{{app}} GB\")",
              "fix: write a number of MiB like \"512\" or \"1 GB\"",
              "task-defs/web.json:8: /containerDefinitions/0/memoryReservation: is not a task definition stackup can register: \"demo\" is not a whole number (from \"{{app}}\")"])
            .file("task-defs/web.json", Text(concat!(
                "{\n  \"networkMode\": \"awsvpc\",\n",
                "  \"cpu\": \"{{app}}\",\n",
                "  \"memory\": \"{{app}} GB\",\n",
                "  \"containerDefinitions\": [{\n",
                "    \"name\": \"web\",\n",
                "    \"image\": \"{{image.web}}\",\n",
                "    \"memoryReservation\": \"{{app}}\",\n",
                "    \"portMappings\": [{ \"containerPort\": \"{{service.port}}\" }]\n",
                "  }]\n}\n",
            )))
            .no_call(),
        case("task-misspelt-field", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json:", "/containerDefinitions/0/essentail", "unknown field `essentail`", "fix: did you mean \"essential\"? Field names are those of ECS RegisterTaskDefinition (https://docs.aws.amazon.com/"])
            .file("task-defs/web.json", TaskDefinition("\"essential\"", "\"essentail\""))
            .no_call(),
        case("task-other-family", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web.json:2: /family: family is \"custom-fam\", not demo-local-v1-web", "fix: write \"family\": \"{{family}}\", or leave it out"])
            .file("task-defs/web.json", TaskDefinition("\"{{family}}\"", "\"custom-fam\""))
            .no_call(),
        case("service-not-an-object", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web-service.json: must be a JSON object", "fix: write the template as { ... }"])
            .file("task-defs/web-service.json", Text("[]"))
            .no_call(),
        case("service-misspelt-output", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web-service.json", "{{stack.TargetGroup}} is not an output of the stack's templates", "did you mean {{stack.TargetGroupArn}}?"])
            .file("task-defs/web-service.json", ServiceDefinition("{{stack.TargetGroupArn}}", "{{stack.TargetGroup}}"))
            .no_call(),
        case("service-other-cluster", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web-service.json:2: /cluster: cluster is \"no-such-cluster\"", "fix: write \"cluster\": \"{{stack.ClusterName}}\", or leave it out"])
            .file("task-defs/web-service.json", ServiceDefinition("\"{{stack.ClusterName}}\"", "\"no-such-cluster\""))
            .no_call(),
        case("service-other-name", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web-service.json:3: /serviceName: serviceName is \"other-name\", not web: a deploy would create a second ECS service", "fix: write \"serviceName\": \"{{service.name}}\", or leave it out"])
            .file("task-defs/web-service.json", ServiceDefinition("\"{{service.name}}\"", "\"other-name\""))
            .no_call(),
        case("service-fixed-task-definition", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web-service.json", "taskDefinition must be the revision being deployed", "fix: write \"taskDefinition\": \"{{task_definition}}\""])
            .file("task-defs/web-service.json", ServiceDefinition("\"{{task_definition}}\"", "\"demo-local-v1-web:1\""))
            .no_call(),
        case("service-load-balancer-names-no-container", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["task-defs/web-service.json", "/loadBalancers/0/containerName: api names no container of the service's task definition", "fix: use one of: web"])
            .file("task-defs/web-service.json", ServiceDefinition("\"containerName\": \"web\"", "\"containerName\": \"api\""))
            .no_call(),
    ]
    .into_iter()
    .chain(host_access_cases())
    .chain(vec![

        // Migrations: bad files are refused before any call; SQL that fails
        // rolls back its whole transaction.
        case("migration-bad-name", Migration, Live, UPDATE, 2,
            &["scripts/db/migrations/create_users.sql: is not named like a migration", "fix: name migrations NNN_what_it_does.sql"])
            .file("scripts/db/migrations/create_users.sql", Text("CREATE TABLE users (id int);"))
            .no_call(),
        case("migration-duplicate-version", Migration, Live, UPDATE, 2,
            &["scripts/db/migrations/001_create_users.sql: has the same version 1 as 001_create_accounts.sql", "fix: give every migration its own version number"])
            .file("scripts/db/migrations/001_create_users.sql", Text("CREATE TABLE users (id int);"))
            .no_call(),
        case("migration-gap", Migration, Live, UPDATE, 2,
            &["scripts/db/migrations/003_create_users.sql: is version 3, but version 2 is missing (the migration before it is 001_create_accounts.sql)", "fix: rename it 002_create_users.sql, or restore the missing migration"])
            .file("scripts/db/migrations/003_create_users.sql", Text("CREATE TABLE users (id int);"))
            .no_call(),
        case("migration-orphan-down-file", Migration, Live, UPDATE, 2,
            &["scripts/db/migrations/002_create_users.down.sql: reverses version 2, which has no migration", "fix: rename it after its migration"])
            .file("scripts/db/migrations/002_create_users.down.sql", Text("DROP TABLE users;"))
            .no_call(),
        case("migration-empty", Migration, Live, UPDATE, 2,
            &["scripts/db/migrations/002_nothing.sql: is empty", "fix: write the migration's SQL, or remove the file"])
            .file("scripts/db/migrations/002_nothing.sql", Text("  \n\n"))
            .no_call(),
        case("migration-syntax-error", Migration, Live, UPDATE, 1,
            &["migration 002_half.sql failed and was rolled back", "syntax error", "fix: correct 002_half.sql"])
            .file("scripts/db/migrations/002_half.sql", Text("CREATE TABLE half_applied (id int);\nINSERT INTO half_applied VALUES (1);\nCREATE TABLE oops (;\n"))
            .then(|world| world.nothing_half_applied("half_applied")),
        case("migration-fails-at-run-time", Migration, Live, UPDATE, 1,
            &["migration 002_duplicate_key.sql failed and was rolled back", "duplicate key value violates unique constraint", "fix: correct 002_duplicate_key.sql"])
            .file("scripts/db/migrations/002_duplicate_key.sql", Text("CREATE TABLE duplicated (id int PRIMARY KEY);\nINSERT INTO duplicated VALUES (1);\nINSERT INTO duplicated VALUES (1);\n"))
            .then(|world| world.nothing_half_applied("duplicated")),
        // A failure with two hints (PostgreSQL's own, then stackup's): each
        // on its own line after the message, in that order, nothing after.
        case("migration-fails-with-the-servers-hint", Migration, Live, UPDATE, 1,
            &["migration 002_needs_a_cast.sql failed and was rolled back: ERROR: function no_such_function(integer) does not exist\n  fix: No function matches the given name and argument types. You might need to add explicit type casts.\n  fix: correct 002_needs_a_cast.sql and run update-resources again; the migrations before it stay applied\n"])
            .file("scripts/db/migrations/002_needs_a_cast.sql", Text("CREATE TABLE needs_a_cast (id int);\nSELECT no_such_function(1);\n"))
            .then(|world| world.nothing_half_applied("needs_a_cast")),
        case("seeds-file-missing", Migration, Live, UPDATE, 2,
            &["database.seeds: file", "scripts/db/seeds.sql does not exist", "fix: create it, or set seeds to its path"])
            .file("scripts/db/seeds.sql", Remove)
            .no_call(),
        case("seeds-fail", Migration, Live, UPDATE, 1,
            &["seeds scripts/db/seeds.sql failed and were rolled back", "relation \"no_such_table\" does not exist", "fix: correct scripts/db/seeds.sql and run update-resources again"])
            .file("scripts/db/seeds.sql", Text("INSERT INTO accounts (email) VALUES ('seeded-then-rolled-back@example.com');\nINSERT INTO no_such_table VALUES (1);\n"))
            .then(|world| {
                let rows = world.psql("SELECT count(*) FROM accounts WHERE email LIKE 'seeded-then-rolled-back%'");
                if rows == "0" { Ok(()) } else { Err(format!("the failed seeds left {rows} row(s)")) }
            }),

        // Command-line arguments.
        case("image-without-equals", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web"], 2,
            &["--image web is not CONTAINER=IMAGE", "fix: write it like --image web="])
            .no_call(),
        case("image-without-image", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web="], 2,
            &["--image web= is not CONTAINER=IMAGE", "fix: write it like --image web="])
            .no_call(),
        case("image-with-a-space", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=has space:1"], 2,
            &["--image web=has space:1: the image has a space", "fix: give an image reference as Docker writes one"])
            .no_call(),
        // By the distribution reference grammar, as the ECS agent parses it.
        case("image-repository-capitals", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=ghcr.io/Example/Shop:1.0"], 2,
            &["--image web=ghcr.io/Example/Shop:1.0: the image has repository `Example/Shop`; repository names are lowercase (write `example/shop`)"])
            .no_call(),
        case("image-empty-tag", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=ghcr.io/example/shop:"], 2,
            &["--image web=ghcr.io/example/shop:: the image ends in `:` with no tag after it"])
            .no_call(),
        case("image-no-name", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=:1.0"], 2,
            &["--image web=:1.0: the image has no repository name before its tag or digest"])
            .no_call(),
        case("image-double-colon", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=shop::1"], 2,
            &["--image web=shop::1: the image has repository part `shop:`"])
            .no_call(),
        case("image-truncated-digest", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=shop@sha256:0123abcd"], 2,
            &["--image web=shop@sha256:0123abcd: the image has digest `sha256:0123abcd`, whose sha256 value is 8 characters where it takes 64 lowercase hex digits"])
            .no_call(),
        case("image-with-quotes", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=\"demo:1\""], 2,
            &["--image web=\"demo:1\": the image has `\"`", "fix: give an image reference"])
            .no_call(),
        case("image-given-twice", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=a:1", "--image", "web=b:2"], 2,
            &["--image web=... is given twice", "fix: give each container once"])
            .no_call(),
        case("image-of-unknown-container", Argument, Live, &["deploy-release", "local", "--yes", "--image", "api=a:1"], 2,
            &["--image api=...: no container of the deployed services is named api", "fix: containers: web"])
            .no_call(),
        case("deploy-unknown-service", Argument, Live, &["deploy-release", "local", "--yes", "--service", "wbe", "--image", "web=a:1"], 2,
            &["stacks/local.toml: --service wbe: the stack has no such service", "fix: services: web"])
            .no_call(),
        case("deploy-bad-timeout", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=a:1", "--timeout", "5 parsecs"], 2,
            &["invalid value '5 parsecs' for '--timeout <DURATION>'", "unknown time unit \"parsecs\"", "write it like 15m, 90s or 1h30m"])
            .no_call(),
        case("deploy-timeout-zero", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=a:1", "--timeout", "0s"], 2,
            &["invalid value '0s' for '--timeout <DURATION>': 0s is no time to wait"])
            .no_call(),
        case("console-eval-empty", Argument, Live, &["console", "local", "--eval", " "], 2,
            &["--eval is empty", "fix: give an Elixir expression"])
            .no_call(),
        case("deploy-timeout-no-unit", Argument, Live, &["deploy-release", "local", "--yes", "--image", "web=a:1", "--timeout", "5"], 2,
            &["invalid value '5' for '--timeout <DURATION>': a duration needs a unit: write 5m for minutes or 5s for seconds"])
            .no_call(),
        case("logs-bad-since", Argument, Live, &["logs", "local", "--since", "yesterday"], 2,
            &["--since yesterday is neither a duration nor a time", "fix: write --since 15m, --since 2h, --since 2026-11-21T10:00:00Z or --since 2026-11-21T12:00:00+02:00"])
            .no_call(),
        case("logs-impossible-date", Argument, Live, &["logs", "local", "--since", "2026-13-45T00:00:00Z"], 2,
            &["--since 2026-13-45T00:00:00Z is neither a duration nor a time"])
            .no_call(),
        case("logs-since-in-future", Argument, Live, &["logs", "local", "--since", "2999-01-01T00:00:00Z"], 2,
            &["--since 2999-01-01T00:00:00Z is in the future", "fix: give a start in the past", "or add --follow"])
            .no_call(),
        case("logs-until-before-since", Argument, Live, &["logs", "local", "--since", "1h", "--until", "2h"], 2,
            &["--until is not after --since", "fix: give an end later than the start"])
            .no_call(),
        case("logs-unknown-service", Argument, Live, &["logs", "local", "--service", "api"], 2,
            &["--service api: the stack has no such service", "fix: services: web"])
            .no_call(),
        case("rollback-to-not-a-revision", Argument, Live, &["rollback", "local", "--yes", "--to", "latest"], 2,
            &["--to latest is not a task definition revision", "fix: give a revision number such as --to 3"])
            .no_call(),
        case("rollback-to-unknown-revision", Argument, Live, &["rollback", "local", "--yes", "--to", "9"], 2,
            &["web: no release of revision 9 in the history; known revisions: 1 (completed)", "fix: give one of the known revisions"]),
        case("rollback-to-another-family", Argument, Live, &["rollback", "local", "--yes", "--to", "demo-local-v1-worker:1"], 2,
            &["web: --to demo-local-v1-worker:1 is a revision of task definition family demo-local-v1-worker, but the service runs family demo-local-v1-web"]),
        case("rollback-unknown-service", Argument, Live, &["rollback", "local", "--yes", "--service", "api"], 2,
            &["--service api: the stack has no such service", "fix: services: web"])
            .no_call(),
        case("tunnel-port-out-of-range", Argument, Live, &["tunnel", "local", "--local-port", "70000"], 2,
            &["invalid value '70000' for '--local-port <PORT>': 70000 is not in 0..=65535"])
            .no_call(),
        case("tunnel-port-taken", Argument, Live, &["tunnel", "local", "--local-port", "{busy_port}"], 2,
            &["--local-port {busy_port}: cannot listen on 127.0.0.1:{busy_port}", "fix: choose another port with --local-port (0 picks a free one)"])
            .no_call(),
        case("console-unknown-service", Argument, Live, &["console", "local", "--service", "api"], 2,
            &["stacks/local.toml: --service api: the stack has no such service", "fix: services: web"])
            .no_call(),
        case("console-command-unknown-placeholder", Argument, Live, &["console", "local", "--command", "echo {nod} ${HOME} '{print $1}'"], 2,
            &["--command: unknown placeholder {nod}", "fix: use only {container}, {node}, {app}, {tty} (a shell variable is written ${NAME})"])
            .no_call(),
        case("console-unknown-task", Argument, Live, &["console", "local", "--task", "0123456789abcdef"], 2,
            &["--task 0123456789abcdef: no such running task of web", "fix: running: "]),
        case("stack-file-missing", Argument, Live, &["deploy-release", "production", "--yes", "--image", "web=a:1"], 2,
            &["stacks/production.toml does not exist", "fix: stacks here: local"])
            .no_call(),
        case("output-format-unknown", Argument, Live, &["--output", "yaml", "status", "local"], 2,
            &["invalid value 'yaml' for '--output <OUTPUT>'", "[possible values: text, json]"])
            .no_call(),

        // What to build: refused before any call, even by deploy-release --build.
        case("build-compose-file-missing", BuildSource, Empty, &["build", "local"], 2,
            &["build.compose: Compose file", "docker-compose.yml does not exist", "fix: create it, or set compose to its path relative to the config dir"])
            .edit(SSH_SECTION, COMPOSE_WEB_FROM_DB)
            .no_call(),
        case("build-compose-service-without-build", BuildSource, Empty, &["deploy-release", "local", "--build", "--yes"], 2,
            &["services.web.build.web.compose_service: Compose service \"db\" in", "has no build: (it runs image postgres:16), so nothing says how to build container web"])
            .edit(SSH_SECTION, COMPOSE_WEB_FROM_DB)
            .file("docker-compose.yml", Text("services:\n  web:\n    build: .\n  db:\n    image: postgres:16\n"))
            .no_call(),

        // Missing SSM parameters.
        case("master-password-missing", MissingParameter, MissingParameters, UPDATE, 1,
            &["the database master password /stackup/demo-local-v1/database/master-password is missing from SSM", "run `stackup create-stack local`"])
            .then(|world| world.no_database()),
        case("release-history-missing", MissingParameter, MissingParameters, &["rollback", "local", "--yes"], 2,
            &["web: no earlier release that rolled out to roll back to; known revisions: none (release history: SSM parameter /stackup/demo-local-v1/releases/web)"]),

        // Stacks never created.
        case("deploy-no-stack", MissingStack, Empty, DEPLOY, 1,
            &["stack demo-local-v1-network does not exist\n  fix: run `stackup create-stack local` first"]),
        case("status-no-stack", MissingStack, Empty, &["status", "local"], 1,
            &["demo-local-v1-network and demo-local-v1-platform do not exist yet in us-east-1\n  fix: run `stackup create-stack local` to create them"]),
        case("logs-no-stack", MissingStack, Empty, &["logs", "local"], 1,
            &["stack demo-local-v1-platform does not exist\n  fix: run `stackup create-stack local` first"]),
        case("tunnel-no-stack", MissingStack, Empty, &["tunnel", "local", "--local-port", "0"], 1,
            &["the platform stack demo-local-v1-platform does not exist\n  fix: run `stackup create-stack local` first"]),
        case("update-resources-no-stack", MissingStack, Empty, UPDATE, 1,
            &["the platform stack demo-local-v1-platform does not exist\n  fix: run `stackup create-stack local` first"])
            .then(|world| world.no_database()),
        case("delete-no-stack", MissingStack, Empty, &["delete-stack", "local", "--yes"], 0,
            &["demo-local-v1 does not exist: nothing to delete"]),
        case("rollback-no-stack", MissingStack, Empty, &["rollback", "local", "--yes"], 1,
            &["stack demo-local-v1-network does not exist\n  fix: run `stackup create-stack local` first"]),
        case("console-no-stack", MissingStack, Empty, &["console", "local", "--command", "true"], 1,
            &["stack demo-local-v1-network does not exist\n  fix: run `stackup create-stack local` first"]),
        case("rollback-service-never-deployed", MissingStack, Live, &["rollback", "local", "--yes", "--service", "worker"], 2,
            &["service worker does not run in cluster demo-local-v1", "stackup deploy-release local --service worker"])
            .edit(SSH_SECTION, "[services.worker]\ntask_definition = \"task-defs/web.json\"\nservice_definition = \"task-defs/web-service.json\"\n\n[ssh]\n"),
        case("upstream-no-stack", MissingStack, Empty, CREATE, 1,
            &["upstream stack org-shared-v1 ([upstream] shared in", "does not exist in this account and region\n  fix: create it first, or correct the name"])
            .edit("[database]\n", "[upstream]\nshared = \"org-shared-v1\"\n\n[database]\n")
            .edit(SSH_SECTION, WITH_OWN_NETWORK)
            .file("stacks/own-network.json", Network(|template| {
                template["Parameters"]["UpstreamSharedStackName"] = serde_json::json!({"Type": "String"});
            })),
        // No template takes the upstream stack's name: it would be ignored.
        case("upstream-parameter-undeclared", CloudFormationTemplate, Empty, CREATE, 2,
            &["stacks/local.toml:", "upstream.shared: no template of this stack declares the parameter UpstreamSharedStackName", "fix: declare a String parameter UpstreamSharedStackName"])
            .edit("[database]\n", "[upstream]\nshared = \"org-shared-v1\"\n\n[database]\n")
            .no_call(),

        // Endpoints that cannot be reached.
        case("endpoint-closed-status", Unreachable, Empty, &["status", "local"], 1,
            &["Connection refused", "fix: every AWS call goes to http://127.0.0.1:{closed_port}: is it up? (it comes from --endpoint-url"])
            .closed_endpoint(),
        case("endpoint-closed-create", Unreachable, Empty, CREATE, 1,
            &["Connection refused", "fix: every AWS call goes to http://127.0.0.1:{closed_port}: is it up?"])
            .closed_endpoint(),
        case("bastion-closed-update-resources", Unreachable, Live, UPDATE, 1,
            &["cannot reach the bastion stackup@127.0.0.1:{closed_port} over SSH: Connection refused", "check the address, that the bastion is running"])
            .edit("bastion = \"127.0.0.1:{ssh_port}\"", "bastion = \"127.0.0.1:{closed_port}\"")
            .then(|world| world.nothing_half_applied("no_such_table")),
        case("bastion-closed-tunnel", Unreachable, Live, &["tunnel", "local", "--local-port", "0"], 1,
            &["cannot reach the bastion stackup@127.0.0.1:{closed_port} over SSH: Connection refused", "check the address, that the bastion is running"])
            .edit("bastion = \"127.0.0.1:{ssh_port}\"", "bastion = \"127.0.0.1:{closed_port}\""),
        case("database-closed-behind-bastion", Unreachable, Live, UPDATE, 1,
            &["the bastion could not reach 127.0.0.1:{closed_port}", "check that the database security group admits the bastion"])
            .edit("database = \"127.0.0.1:{pg_port}\"", "database = \"127.0.0.1:{closed_port}\""),
        case("host-closed-console", Unreachable, Live, &["console", "local", "--task", "{task}", "--command", "true"], 1,
            &["the bastion could not reach the host 127.0.0.1:{closed_port}", "check that the host is running and that its security group admits SSH from the bastion"])
            .edit("hosts = \"127.0.0.1:{ssh_port}\"", "hosts = \"127.0.0.1:{closed_port}\""),
    ])
    .collect()
}

/// Where an edit puts a container-level field: after `"essential": true,` of
/// container web (the template's line 11, so the field is on line 12).
const IN_CONTAINER: &str = "\"essential\": true,";
/// Where an edit puts a task-level field: after `"networkMode"` (line 3).
const IN_TASK: &str = "\"networkMode\": \"awsvpc\",";
const CAPABILITY_ALLOWED: &str = "cookie = \"stack\"\nallow_host_access = [{ field = \"linuxParameters.capabilities.add\", reason = \"the profiler attaches with ptrace\" }]\n";

/// Task definition fields that give a task the ECS host (issue 21, item 3),
/// each refused by validate (offline, no call) and by deploy-release (before
/// any call), naming the file and line, the field, the container and the
/// allowance that would let it through; and the allowances themselves.
fn host_access_cases() -> Vec<Case> {
    type Field = (&'static str, Content, &'static [&'static str]);
    let fields: [Field; 8] = [
        ("privileged", TaskDefinition(IN_CONTAINER, "\"essential\": true,\n      \"privileged\": true,"),
            &["task-defs/web.json:12: /containerDefinitions/0/privileged: container web: privileged is true: on the EC2 launch type it runs the container as root on the ECS host",
              "service web does not allow it",
              "allow_host_access = [{ field = \"privileged\", reason = "]),
        ("capabilities", TaskDefinition(IN_CONTAINER, "\"essential\": true,\n      \"linuxParameters\": { \"capabilities\": { \"add\": [\"SYS_ADMIN\"] } },"),
            &["task-defs/web.json:12: /containerDefinitions/0/linuxParameters/capabilities/add: container web: linuxParameters.capabilities.add is [\"SYS_ADMIN\"]",
              "service web does not allow it",
              "allow_host_access = [{ field = \"linuxParameters.capabilities.add\", reason = "]),
        ("devices", TaskDefinition(IN_CONTAINER, "\"essential\": true,\n      \"linuxParameters\": { \"devices\": [{ \"hostPath\": \"/dev/mem\" }] },"),
            &["task-defs/web.json:12: /containerDefinitions/0/linuxParameters/devices: container web: linuxParameters.devices is [{\"hostPath\":\"/dev/mem\"}]",
              "exposes devices of the ECS host to the container",
              "allow_host_access = [{ field = \"linuxParameters.devices\", reason = "]),
        ("host-path-volume", TaskDefinitionEdits(&[
            (IN_TASK, "\"networkMode\": \"awsvpc\",\n  \"volumes\": [{ \"name\": \"host-root\", \"host\": { \"sourcePath\": \"/\" } }],"),
            (IN_CONTAINER, "\"essential\": true,\n      \"mountPoints\": [{ \"sourceVolume\": \"host-root\", \"containerPath\": \"/host\" }],"),
        ]),
            &["task-defs/web.json:4: /volumes/0/host/sourcePath: volume host-root (mounted by container web): volumes.host.sourcePath is \"/\"",
              "mounts a path of the ECS host into the task",
              "allow_host_access = [{ field = \"volumes.host.sourcePath\", reason = "]),
        // The local driver's options go to mount(8): o=bind and device bind-mount a host path.
        ("docker-volume-bind", TaskDefinitionEdits(&[
            (IN_TASK, "\"networkMode\": \"awsvpc\",\n  \"volumes\": [{ \"name\": \"host-etc\", \"dockerVolumeConfiguration\": { \"driver\": \"local\", \"driverOpts\": { \"type\": \"none\", \"o\": \"bind\", \"device\": \"/etc\" } } }],"),
            (IN_CONTAINER, "\"essential\": true,\n      \"mountPoints\": [{ \"sourceVolume\": \"host-etc\", \"containerPath\": \"/host-etc\" }],"),
        ]),
            &["task-defs/web.json:4: /volumes/0/dockerVolumeConfiguration: volume host-etc (mounted by container web): volumes.dockerVolumeConfiguration is {\"driver\":\"local\",\"driverOpts\":{",
              "o=bind and device=/path bind-mount a host path",
              "service web does not allow it",
              "allow_host_access = [{ field = \"volumes.dockerVolumeConfiguration\", reason = "]),
        ("host-network", TaskDefinition(IN_TASK, "\"networkMode\": \"host\","),
            &["task-defs/web.json:3: /networkMode: container web: networkMode is \"host\"",
              "the instance metadata service and the host role's credentials",
              "allow_host_access = [{ field = \"networkMode\", reason = "]),
        ("host-pid", TaskDefinition(IN_TASK, "\"networkMode\": \"awsvpc\",\n  \"pidMode\": \"host\","),
            &["task-defs/web.json:4: /pidMode: container web: pidMode is \"host\"",
              "shares the ECS host's process namespace",
              "allow_host_access = [{ field = \"pidMode\", reason = "]),
        ("host-ipc", TaskDefinition(IN_TASK, "\"networkMode\": \"awsvpc\",\n  \"ipcMode\": \"host\","),
            &["task-defs/web.json:4: /ipcMode: container web: ipcMode is \"host\"",
              "shares the ECS host's IPC namespace",
              "allow_host_access = [{ field = \"ipcMode\", reason = "]),
    ];
    let name = |command: &str, field: &str| -> &'static str {
        Box::leak(format!("{command}-refuses-host-{field}").into_boxed_str())
    };
    let mut cases = Vec::new();
    for (field, content, says) in fields {
        cases.push(
            case(
                name("validate", field),
                TaskOrServiceTemplate,
                Empty,
                &["validate", "local"],
                2,
                says,
            )
            .file("task-defs/web.json", content)
            .no_call(),
        );
        cases.push(
            case(
                name("deploy", field),
                TaskOrServiceTemplate,
                Live,
                DEPLOY,
                2,
                says,
            )
            .file("task-defs/web.json", content)
            .no_call(),
        );
    }
    cases.extend([
        // Allowed for the service, with its reason: valid, and said.
        case("validate-allows-host-access-with-a-reason", TaskOrServiceTemplate, Empty, &["validate", "local"], 0,
            &["warning: web (", "task-defs/web.json): container web: linuxParameters.capabilities.add is [\"SYS_PTRACE\"], which on the EC2 launch type adds Linux capabilities",
              "allowed because: the profiler attaches with ptrace"])
            .edit("cookie = \"stack\"\n", CAPABILITY_ALLOWED)
            .file("task-defs/web.json", TaskDefinition(IN_CONTAINER, "\"essential\": true,\n      \"linuxParameters\": { \"capabilities\": { \"add\": [\"SYS_PTRACE\"] } },"))
            .no_call(),
        // A Docker volume of the host's Docker, allowed with its reason: valid
        // (the task definition model takes dockerVolumeConfiguration), and said.
        case("validate-allows-a-docker-volume-driver-with-a-reason", TaskOrServiceTemplate, Empty, &["validate", "local"], 0,
            &["warning: web (", "task-defs/web.json): volume shared (mounted by container web): volumes.dockerVolumeConfiguration is {",
              "allowed because: the nodes share one EFS file system"])
            .edit("cookie = \"stack\"\n", "cookie = \"stack\"\nallow_host_access = [{ field = \"volumes.dockerVolumeConfiguration\", reason = \"the nodes share one EFS file system\" }]\n")
            .file("task-defs/web.json", TaskDefinitionEdits(&[
                (IN_TASK, "\"networkMode\": \"awsvpc\",\n  \"volumes\": [{ \"name\": \"shared\", \"dockerVolumeConfiguration\": { \"scope\": \"shared\", \"autoprovision\": true, \"driver\": \"amazon-ecs-volume-plugin\" } }],"),
                (IN_CONTAINER, "\"essential\": true,\n      \"mountPoints\": [{ \"sourceVolume\": \"shared\", \"containerPath\": \"/shared\" }],"),
            ]))
            .no_call(),
        // An allowance for one field lets no other through.
        case("deploy-allowance-is-for-one-field", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["/containerDefinitions/0/privileged: container web: privileged is true", "service web does not allow it"])
            .edit("cookie = \"stack\"\n", CAPABILITY_ALLOWED)
            .file("task-defs/web.json", TaskDefinition(IN_CONTAINER, "\"essential\": true,\n      \"privileged\": true,"))
            .no_call(),
        case("deploy-allowance-without-a-reason", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["stacks/local.toml:", "services.web.allow_host_access[0].reason: is missing: an allowance to reach the host needs its reason",
              "task-defs/web.json:12: /containerDefinitions/0/linuxParameters/capabilities/add: container web", "service web does not allow it"])
            .edit("cookie = \"stack\"\n", "cookie = \"stack\"\nallow_host_access = [{ field = \"linuxParameters.capabilities.add\" }]\n")
            .file("task-defs/web.json", TaskDefinition(IN_CONTAINER, "\"essential\": true,\n      \"linuxParameters\": { \"capabilities\": { \"add\": [\"SYS_PTRACE\"] } },"))
            .no_call(),
        case("validate-allowance-with-a-blank-reason", TaskOrServiceTemplate, Empty, &["validate", "local"], 2,
            &["services.web.allow_host_access[0].reason: is empty: an allowance to reach the host needs its reason"])
            .edit("cookie = \"stack\"\n", "cookie = \"stack\"\nallow_host_access = [{ field = \"pidMode\", reason = \"  \" }]\n")
            .no_call(),
        case("validate-allowance-of-an-unknown-field", TaskOrServiceTemplate, Empty, &["validate", "local"], 2,
            &["services.web.allow_host_access[0].field: \"linuxParameters.capability.add\" is not a task definition field that gives a task the host",
              "fix: did you mean \"linuxParameters.capabilities.add\"? allow one of: privileged, linuxParameters.capabilities.add"])
            .edit("cookie = \"stack\"\n", "cookie = \"stack\"\nallow_host_access = [{ field = \"linuxParameters.capability.add\", reason = \"ptrace\" }]\n")
            .no_call(),
        // The built-in platform's agents run with ECS_DISABLE_PRIVILEGED=true.
        case("deploy-privileged-allowed-on-the-built-in-platform", TaskOrServiceTemplate, Live, DEPLOY, 2,
            &["/containerDefinitions/0/privileged: container web: privileged is allowed by", "stacks/local.toml:", "the built-in platform's ECS hosts refuse privileged containers (ECS_DISABLE_PRIVILEGED=true)",
              "fix: grant only the capabilities it needs"])
            .edit("cookie = \"stack\"\n", "cookie = \"stack\"\nallow_host_access = [{ field = \"privileged\", reason = \"runs docker in docker\" }]\n")
            .file("task-defs/web.json", TaskDefinition(IN_CONTAINER, "\"essential\": true,\n      \"privileged\": true,"))
            .no_call(),
    ]);
    cases
}

/// Values that cases name in their edits, arguments and messages.
struct Tokens {
    values: Vec<(&'static str, String)>,
}

impl Tokens {
    fn fill(&self, text: &str) -> String {
        self.values
            .iter()
            .fold(text.to_string(), |text, (token, value)| {
                text.replace(token, value)
            })
    }
}

/// One moto account with what a [`WorldKind`] holds, and its own database name.
struct World {
    kind: WorldKind,
    cloud: LocalCloud,
    account: String,
    database: String,
    /// For setting up and reading back, never for a case.
    proxy: AwsProxy,
    /// Every case's stdout and stderr, for checks that look at all of them.
    outputs: Mutex<Vec<String>>,
}

impl World {
    fn build(kind: WorldKind) -> World {
        let cloud = LocalCloud::load();
        let account = common::account_for(&format!("bad-inputs-{kind:?}"));
        let proxy = AwsProxy::start(&cloud.moto_endpoint(), &account);
        let database = format!("b{}", &account[..10]);
        let world = World {
            kind,
            cloud,
            account,
            database,
            proxy,
            outputs: Mutex::new(Vec::new()),
        };
        if kind == Empty {
            return world;
        }
        common::db::put_master_password(&world.cloud, &world.proxy.endpoint);
        let config = world.config_dir();
        let setup = |args: &[&str]| {
            let output = common::stackup(config.path(), &world.proxy.endpoint)
                .args(args)
                .timeout(CASE_LIMIT)
                .output()
                .expect("runs");
            assert!(
                output.status.success(),
                "{kind:?} world: `{}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        };
        setup(CREATE);
        match kind {
            Live => {
                setup(UPDATE);
                setup(&[
                    "deploy-release",
                    "local",
                    "--yes",
                    "--image",
                    "web=ghcr.io/example/demo:1.0.0",
                ]);
            }
            MissingParameters => {
                setup(&[
                    "deploy-release",
                    "local",
                    "--yes",
                    "--allow-missing-parameters",
                    "--image",
                    "web=ghcr.io/example/demo:1.0.0",
                ]);
                block_on(async {
                    let ssm =
                        aws_sdk_ssm::Client::new(&common::sdk_config(&world.proxy.endpoint).await);
                    for name in [
                        common::db::MASTER_PASSWORD_PARAMETER,
                        "/stackup/demo-local-v1/releases/web",
                    ] {
                        ssm.delete_parameter()
                            .name(name)
                            .send()
                            .await
                            .expect("delete a parameter");
                    }
                });
            }
            Empty => {}
        }
        world
    }

    /// The config dir of this world's stack: the local stack file reaching the
    /// local cloud's bastion, database and hosts, with this world's database.
    fn config_dir(&self) -> tempfile::TempDir {
        common::database_config_dir(&self.cloud, &self.database, None, None, None)
    }

    fn psql(&self, sql: &str) -> String {
        self.cloud.psql(&self.database, sql)
    }

    /// Migration 001 stays the only one applied and `table` does not exist.
    fn nothing_half_applied(&self, table: &str) -> Result<(), String> {
        let versions = self.psql("SELECT string_agg(version::text, ',') FROM schema_migrations");
        let exists = self.psql(&format!("SELECT to_regclass('{table}') IS NOT NULL"));
        if versions == "1" && exists == "f" {
            Ok(())
        } else {
            Err(format!(
                "half-applied: schema_migrations holds {versions:?}, table {table} exists: {exists}"
            ))
        }
    }

    fn no_database(&self) -> Result<(), String> {
        let count = self.cloud.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                self.database
            ),
        );
        if count == "0" {
            Ok(())
        } else {
            Err(format!("database {} was created", self.database))
        }
    }

    fn not_in_output(&self, text: &str) -> Result<(), String> {
        let outputs = self.outputs.lock().expect("outputs");
        if outputs.iter().any(|output| output.contains(text)) {
            Err(format!("{text:?} was printed"))
        } else {
            Ok(())
        }
    }

    /// The id of a running task of service web.
    fn running_task(&self) -> String {
        let config = block_on(common::sdk_config(&self.proxy.endpoint));
        let arns = block_on(
            aws_sdk_ecs::Client::new(&config)
                .list_tasks()
                .cluster("demo-local-v1")
                .service_name("web")
                .send(),
        )
        .expect("tasks");
        let arn = arns.task_arns().first().expect("a running task of web");
        arn.rsplit('/').next().expect("task id").to_string()
    }

    /// What moto holds for this account: stacks, parameters (with versions),
    /// task definitions, services; compared before and after the cases.
    fn moto_state(&self) -> BTreeMap<String, String> {
        let config = block_on(common::sdk_config(&self.proxy.endpoint));
        block_on(async {
            let mut state = BTreeMap::new();
            let stacks = aws_sdk_cloudformation::Client::new(&config)
                .describe_stacks()
                .send()
                .await
                .map(|output| output.stacks().to_vec())
                .unwrap_or_default();
            for stack in stacks {
                state.insert(
                    format!("stack {}", stack.stack_name().unwrap_or_default()),
                    format!(
                        "{:?} {:?} {:?}",
                        stack.stack_status(),
                        stack.last_updated_time(),
                        stack.parameters()
                    ),
                );
            }
            let ssm = aws_sdk_ssm::Client::new(&config);
            let parameters = ssm
                .describe_parameters()
                .max_results(50)
                .send()
                .await
                .expect("parameters");
            for parameter in parameters.parameters() {
                state.insert(
                    format!("parameter {}", parameter.name().unwrap_or_default()),
                    format!("version {}", parameter.version()),
                );
            }
            let ecs = aws_sdk_ecs::Client::new(&config);
            let families = ecs
                .list_task_definitions()
                .send()
                .await
                .expect("task definitions");
            state.insert(
                "task definitions".into(),
                families.task_definition_arns().join(" "),
            );
            if let Ok(services) = ecs
                .describe_services()
                .cluster("demo-local-v1")
                .services("web")
                .send()
                .await
            {
                for service in services.services() {
                    state.insert(
                        format!("service {}", service.service_name().unwrap_or_default()),
                        format!(
                            "{:?} desired {}",
                            service.task_definition(),
                            service.desired_count()
                        ),
                    );
                }
            }
            state
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if self.kind == Empty {
            return;
        }
        common::db::drop_database(&self.cloud, &self.database);
    }
}

/// Write a case's files into its config dir.
fn write_files(dir: &Path, files: &[(&'static str, Content)]) {
    let root = common::repo_root();
    let read_json = |path: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(path)).expect("read"))
            .expect("JSON")
    };
    for (path, content) in files {
        let target = dir.join(path);
        let text = match content {
            Remove => {
                std::fs::remove_file(&target).expect("remove");
                continue;
            }
            Text(text) => text.to_string(),
            Network(change) => {
                let mut template = read_json("stacks/network.json");
                change(&mut template);
                serde_json::to_string_pretty(&template).expect("JSON")
            }
            Platform(change) => {
                let mut template = read_json("stacks/platform.json");
                change(&mut template);
                serde_json::to_string_pretty(&template).expect("JSON")
            }
            TaskDefinitionEdits(edits) => {
                let mut text =
                    std::fs::read_to_string(root.join("task-defs/web.json")).expect("read");
                for (from, to) in *edits {
                    assert!(text.contains(from), "task-defs/web.json has no {from:?}");
                    text = text.replacen(from, to, 1);
                }
                text
            }
            TaskDefinition(from, to) | ServiceDefinition(from, to) => {
                let source = match content {
                    TaskDefinition(..) => "task-defs/web.json",
                    _ => "task-defs/web-service.json",
                };
                let text = std::fs::read_to_string(root.join(source)).expect("read");
                assert!(text.contains(from), "{source} has no {from:?}");
                text.replacen(from, to, 1)
            }
        };
        std::fs::create_dir_all(target.parent().expect("parent")).expect("dir");
        std::fs::write(&target, text).expect("write");
    }
}

/// Run one case; the problems found with it, if any.
fn run_case(case: &Case, world: &World, tokens: &Tokens) -> Result<(), String> {
    let config = world.config_dir();
    let stack_file = config.path().join(STACK_FILE);
    let mut text = std::fs::read_to_string(&stack_file).expect("stack file");
    for (from, to) in &case.edits {
        let (from, to) = (tokens.fill(from), tokens.fill(to));
        if !text.contains(&from) {
            return Err(format!("stack file edit: {from:?} not found"));
        }
        text = text.replacen(&from, &to, 1);
    }
    std::fs::write(&stack_file, text).expect("write stack file");
    write_files(config.path(), &case.files);

    let proxy = AwsProxy::start(&world.cloud.moto_endpoint(), &world.account);
    let endpoint = match case.endpoint {
        Endpoint::Proxy => proxy.endpoint.clone(),
        Endpoint::Closed => tokens.fill("http://127.0.0.1:{closed_port}"),
    };
    let args: Vec<String> = case.args.iter().map(|arg| tokens.fill(arg)).collect();
    let output = common::stackup(config.path(), &endpoint)
        .args(&args)
        .timeout(CASE_LIMIT)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    if std::env::var_os("BAD_INPUTS_SHOW").is_some() {
        eprintln!("---- {} ({:?})\n{stderr}", case.name, output.status.code());
    }
    world
        .outputs
        .lock()
        .expect("outputs")
        .push(format!("{stdout}{stderr}"));

    let mut problems = Vec::new();
    if output.status.code() != Some(case.code) {
        problems.push(format!(
            "exit code {:?}, expected {}",
            output.status.code(),
            case.code
        ));
    }
    for expected in case.says {
        let expected = tokens.fill(expected);
        if !stderr.contains(&expected) {
            problems.push(format!("stderr lacks {expected:?}"));
        }
    }
    if case.code != 0 && !stdout.is_empty() {
        problems.push(format!("stdout is not empty: {stdout:?}"));
    }
    let operations = proxy.operations();
    match case.aws {
        AwsExpectation::NoCall if !operations.is_empty() => {
            problems.push(format!("AWS was called: {operations:?}"));
        }
        _ => {
            let mutations: Vec<&String> = operations
                .iter()
                .filter(|operation| !common::is_read_only(operation))
                .collect();
            if !mutations.is_empty() {
                problems.push(format!("AWS was asked to change: {mutations:?}"));
            }
        }
    }
    if let Some(check) = case.after {
        if let Err(problem) = check(world) {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}:\n  - {}\n  stderr: {stderr}",
            case.name,
            problems.join("\n  - ")
        ))
    }
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Nothing listens where the calls go: each call is tried once, not ten
/// times over half a minute as a transient network error would be (the SDK
/// says at debug, shown by -vv, when it begins each attempt).
#[test]
fn a_refused_connection_is_not_retried() {
    let port = closed_port();
    let output = common::stackup_process(&common::repo_root(), &format!("http://127.0.0.1:{port}"))
        .args(["-vv", "status", "local"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    let attempts = stderr.matches("beginning attempt #").count();
    let first_attempts = stderr.matches("beginning attempt #1").count();
    assert!(
        first_attempts >= 1,
        "the SDK's attempts are logged at -vv: {stderr}"
    );
    assert_eq!(attempts, first_attempts, "a call was tried again: {stderr}");
}

#[test]
fn every_bad_input_is_refused_with_its_fix_and_changes_nothing() {
    let cases = cases();
    let mut per_category: BTreeMap<Category, usize> = BTreeMap::new();
    for case in &cases {
        *per_category.entry(case.category).or_default() += 1;
    }
    eprintln!("{} cases: {per_category:?}", cases.len());
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    assert_eq!(per_category.len(), 8, "every category has cases");
    let mut names: Vec<&str> = cases.iter().map(|case| case.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");

    let kinds = [Empty, Live, MissingParameters];
    let worlds: Vec<World> = std::thread::scope(|scope| {
        let builders: Vec<_> = kinds
            .iter()
            .map(|kind| scope.spawn(move || World::build(*kind)))
            .collect();
        builders
            .into_iter()
            .map(|builder| builder.join().expect("world built"))
            .collect()
    });
    let world_of = |kind: WorldKind| {
        worlds
            .iter()
            .find(|world| world.kind == kind)
            .expect("world")
    };
    let before: Vec<BTreeMap<String, String>> = worlds.iter().map(World::moto_state).collect();

    let cloud = LocalCloud::load();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let tokens = Tokens {
        values: vec![
            ("{closed_port}", closed_port().to_string()),
            (
                "{busy_port}",
                busy.local_addr().expect("address").port().to_string(),
            ),
            ("{ssh_port}", cloud.ssh_port().to_string()),
            ("{pg_port}", cloud.pg_port().to_string()),
            ("{task}", world_of(Live).running_task()),
        ],
    };

    let queue = Mutex::new(cases.iter());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let next = queue.lock().expect("queue").next();
                let Some(case) = next else { break };
                if let Err(failure) = run_case(case, world_of(case.world), &tokens) {
                    failures.lock().expect("failures").push(failure);
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    for (world, before) in worlds.iter().zip(before) {
        assert_eq!(
            world.moto_state(),
            before,
            "{:?} world: moto's state changed",
            world.kind
        );
    }
    drop(busy);
}
