//! Who can read and write each secret of a stack, proved offline from the
//! policies stackup creates (issue 21): the built-in platform template,
//! rendered with the parameters create-stack passes, is evaluated as IAM
//! evaluates identity policies ("Policy evaluation logic": an explicit Deny
//! wins, otherwise an Allow is needed; Action and Resource match with `*` and
//! `?` wildcards, actions without regard to case). moto enforces no IAM, so
//! this is where a widened policy fails.
//!
//! The SecureStrings are encrypted with the application's own KMS key (the
//! secrets stack, `stacks/secrets.json`): reading one needs ssm:GetParameter
//! from IAM and kms:Decrypt from the key, writing one ssm:PutParameter and
//! kms:Encrypt (SSM encrypts a standard parameter with Encrypt, decrypts it
//! with Decrypt, the parameter's ARN as encryption context: KMS developer
//! guide, "How AWS Systems Manager Parameter Store uses AWS KMS"). The key
//! policy is evaluated as KMS does ("Key policies in AWS KMS"): a statement
//! naming a principal (or `*`) allows it by itself; one naming the account
//! (`:root`) allows only where the principal's IAM policies allow too; its
//! conditions are evaluated against the request SSM makes (kms:ViaService,
//! kms:CallerAccount, the PARAMETER_ARN encryption context, the caller's
//! ARN and tags). Release records are plain Strings: IAM alone decides.

use std::collections::BTreeMap;

use serde_json::Value;
use stackup::amis::{Chosen, Role};
use stackup::aws::cloudformation::ParameterValue;
use stackup::config::{self, CookieMode, StackConfig};
use stackup::images;
use stackup::secret::Secret;
use stackup::secrets_key;
use stackup::stacks::platform_layer;
use stackup::templates::{Layer, Template};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const CI_ROLE: &str = "arn:aws:iam::123456789012:role/ci";
const RELEASE_ENGINEER: &str = "arn:aws:iam::123456789012:user/release-engineer";
const KEY_ARN: &str = "arn:aws:kms:eu-west-1:123456789012:key/0b0e7a52-1b9c-4c1e-9f3d-5a1d2c3b4e5f";

/// The ARN the evaluator gives a role of a template (its logical id stands
/// for the name CloudFormation generates).
fn role_arn(logical_id: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{logical_id}")
}

/// A stack file, written to a directory of its own, loaded as stackup loads it.
fn stack(deploy_table: &str) -> (tempfile::TempDir, StackConfig) {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks/");
    std::fs::write(
        dir.path().join("stacks/iam.toml"),
        format!(
            r#"app = "demo"
environment = "prod"
version = 1
region = "{REGION}"

[network]
cidr = "10.20.0.0/16"
bastion_ingress = ["203.0.113.7/32"]

[database]
name = "demo"

{deploy_table}
"#
        ),
    )
    .expect("stack file");
    let config = config::load(dir.path(), "iam").expect("a valid stack file");
    (dir, config)
}

/// The platform template and the parameters create-stack would send for it.
fn rendered(stack: &StackConfig) -> (Value, BTreeMap<String, String>) {
    let template = Template::load(stack, Layer::Platform).expect("the built-in template");
    let amis = [Role::Hosts, Role::Bastion].map(|role| Chosen {
        role: role.name(),
        architecture: "x86_64",
        ami: "ami-0123456789abcdef0".to_string(),
        source: "kept".to_string(),
    });
    let mut layer = platform_layer(stack, template, 2, Secret::new("not-the-password"), &amis);
    layer.fill_from_network(None);
    let body: Value = serde_json::from_str(&layer.template_body()).expect("template JSON");
    let parameters = layer
        .parameters
        .iter()
        .map(|(key, value)| {
            let value = match value {
                ParameterValue::Plain(value) => value.clone(),
                ParameterValue::Secret(_) => panic!("{key} passes a secret as a parameter"),
            };
            (key.clone(), value)
        })
        .collect();
    (body, parameters)
}

/// The secrets stack's template and the parameters create-stack passes to it.
fn rendered_secrets(stack: &StackConfig) -> (Value, BTreeMap<String, String>) {
    let body: Value = serde_json::from_str(secrets_key::TEMPLATE).expect("template JSON");
    let parameters = secrets_key::parameters(stack)
        .into_iter()
        .map(|(key, value)| match value {
            ParameterValue::Plain(value) => (key, value),
            ParameterValue::Secret(_) => panic!("{key} passes a secret as a parameter"),
        })
        .collect();
    (body, parameters)
}

/// A template's values with the intrinsic functions the platform's policies
/// use evaluated: Ref, Fn::Sub, Fn::GetAtt (a role's ARN), Fn::Split.
struct Renderer<'a> {
    template: &'a Value,
    parameters: &'a BTreeMap<String, String>,
}

impl Renderer<'_> {
    fn reference(&self, name: &str) -> String {
        match name {
            "AWS::Partition" => "aws".into(),
            "AWS::Region" => REGION.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::StackName" => "demo-prod-v1-platform".into(),
            _ => {
                if let Some(value) = self.parameters.get(name) {
                    return value.clone();
                }
                let declared = &self.template["Parameters"][name];
                if let Some(default) = declared.get("Default") {
                    return default.as_str().map_or(default.to_string(), str::to_string);
                }
                assert!(
                    self.template["Resources"].get(name).is_some(),
                    "Ref {name} names nothing"
                );
                // A resource's physical id: its logical id stands for it.
                name.to_string()
            }
        }
    }

    fn attribute(&self, resource: &str, attribute: &str) -> String {
        let kind = self.template["Resources"][resource]["Type"]
            .as_str()
            .unwrap_or_default();
        match (kind, attribute) {
            ("AWS::IAM::Role", "Arn") => role_arn(resource),
            ("AWS::KMS::Key", "Arn") => KEY_ARN.to_string(),
            _ => format!("{resource}.{attribute}"),
        }
    }

    fn render(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (function, argument) = map.iter().next().expect("one key");
                match function.as_str() {
                    "Ref" => Value::String(self.reference(argument.as_str().expect("Ref name"))),
                    "Fn::Sub" => {
                        Value::String(self.substitute(argument.as_str().expect("Fn::Sub text")))
                    }
                    "Fn::GetAtt" => {
                        let pair = argument.as_array().expect("Fn::GetAtt pair");
                        Value::String(self.attribute(
                            pair[0].as_str().expect("resource"),
                            pair[1].as_str().expect("attribute"),
                        ))
                    }
                    "Fn::Split" => {
                        let pair = argument.as_array().expect("Fn::Split pair");
                        let delimiter = pair[0].as_str().expect("delimiter");
                        let text = self.render(&pair[1]);
                        Value::Array(
                            text.as_str()
                                .expect("Fn::Split text")
                                .split(delimiter)
                                .map(|part| Value::String(part.to_string()))
                                .collect(),
                        )
                    }
                    other if other.starts_with("Fn::") => {
                        panic!("the evaluator does not know {other}")
                    }
                    _ => Value::Object(
                        map.iter()
                            .map(|(key, value)| (key.clone(), self.render(value)))
                            .collect(),
                    ),
                }
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, value)| (key.clone(), self.render(value)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| self.render(item)).collect())
            }
            other => other.clone(),
        }
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closed ${") + start;
            let name = &rest[start + 2..end];
            match name.split_once('.') {
                Some((resource, attribute)) => out.push_str(&self.attribute(resource, attribute)),
                None => out.push_str(&self.reference(name)),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A condition of the template (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition).
    fn condition(&self, name: &str) -> bool {
        self.truth(&self.template["Conditions"][name])
    }

    fn truth(&self, value: &Value) -> bool {
        let map = value.as_object().expect("a condition function");
        let (function, argument) = map.iter().next().expect("one key");
        let items = || argument.as_array().expect("condition arguments");
        match function.as_str() {
            "Fn::Equals" => self.render(&items()[0]) == self.render(&items()[1]),
            "Fn::Not" => !self.truth(&items()[0]),
            "Fn::And" => items().iter().all(|item| self.truth(item)),
            "Fn::Or" => items().iter().any(|item| self.truth(item)),
            "Condition" => self.condition(argument.as_str().expect("condition name")),
            other => panic!("the evaluator does not know the condition function {other}"),
        }
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one.
fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Dynamic programming over (pattern position, text position).
    let mut reachable = vec![false; text.len() + 1];
    reachable[0] = true;
    for symbol in &pattern {
        let mut next = vec![false; text.len() + 1];
        for at in 0..=text.len() {
            if !reachable[at] {
                continue;
            }
            match symbol {
                '*' => {
                    for later in next.iter_mut().skip(at) {
                        *later = true;
                    }
                }
                '?' if at < text.len() => next[at + 1] = true,
                literal if at < text.len() && text[at] == *literal => next[at + 1] = true,
                _ => {}
            }
        }
        reachable = next;
    }
    reachable[text.len()]
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Null => Vec::new(),
        other => panic!("expected a string or a list of strings: {other}"),
    }
}

/// One identity policy statement, rendered.
#[derive(Debug)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    not_resources: Vec<String>,
    conditional: bool,
}

impl Statement {
    fn from(value: &Value) -> Statement {
        for unsupported in ["NotAction", "NotPrincipal"] {
            assert!(
                value.get(unsupported).is_none(),
                "the evaluator does not know {unsupported}: {value}"
            );
        }
        Statement {
            allow: match value["Effect"].as_str() {
                Some("Allow") => true,
                Some("Deny") => false,
                other => panic!("Effect {other:?}"),
            },
            actions: strings(&value["Action"]),
            resources: strings(&value["Resource"]),
            not_resources: strings(&value["NotResource"]),
            conditional: value.get("Condition").is_some(),
        }
    }

    /// Whether the statement speaks of this request: one of its actions, and
    /// one of its resources or (NotResource) none of those it sets aside.
    fn applies(&self, action: &str, resource: &str) -> bool {
        let resource_matches = |patterns: &[String]| {
            patterns
                .iter()
                .any(|pattern| matches(pattern, resource, false))
        };
        self.actions
            .iter()
            .any(|pattern| matches(pattern, action, true))
            && if self.not_resources.is_empty() {
                resource_matches(&self.resources)
            } else {
                !resource_matches(&self.not_resources)
            }
    }
}

/// The statements of the AWS managed policies the template attaches, as far
/// as SSM and KMS go (AWS Managed Policy reference). An unknown one fails the
/// test: its statements must be written here first.
fn managed_policy(arn: &str) -> Vec<Statement> {
    let allow = |actions: &[&str]| Statement {
        allow: true,
        actions: actions.iter().map(|action| action.to_string()).collect(),
        resources: vec!["*".to_string()],
        not_resources: Vec::new(),
        conditional: false,
    };
    match arn.rsplit('/').next().unwrap_or_default() {
        // Its first statement; the others are ssmmessages, ec2messages.
        "AmazonSSMManagedInstanceCore" => vec![allow(&[
            "ssm:DescribeAssociation",
            "ssm:GetDeployablePatchSnapshotForInstance",
            "ssm:GetDocument",
            "ssm:DescribeDocument",
            "ssm:GetManifest",
            "ssm:GetParameter",
            "ssm:GetParameters",
            "ssm:ListAssociations",
            "ssm:ListInstanceAssociations",
            "ssm:PutInventory",
            "ssm:PutComplianceItems",
            "ssm:PutConfigurePackageResult",
            "ssm:UpdateAssociationStatus",
            "ssm:UpdateInstanceAssociationStatus",
            "ssm:UpdateInstanceInformation",
        ])],
        // ECS, ECR's pull actions and CloudWatch Logs only.
        "AmazonEC2ContainerServiceforEC2Role" => vec![allow(&[
            "ec2:DescribeTags",
            "ecs:*",
            "ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage",
            "logs:*",
        ])],
        "AmazonECSTaskExecutionRolePolicy" => vec![allow(&[
            "ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ])],
        "AmazonRDSEnhancedMonitoringRole" => vec![allow(&["logs:*"])],
        other => panic!("the evaluator does not know the managed policy {other}"),
    }
}

/// A role of the template (or a principal of the account): who may assume
/// it, its ARN and tags (what a key policy's conditions see), and what its
/// policies say.
struct RoleModel {
    trusted: Vec<String>,
    arn: String,
    tags: BTreeMap<String, String>,
    statements: Vec<Statement>,
}

impl RoleModel {
    /// IAM's answer for one request: an explicit Deny wins; otherwise an
    /// Allow is needed. A conditional Allow counts as allowing and a
    /// conditional Deny as not denying: "may" is over-stated, never under.
    fn may(&self, action: &str, resource: &str) -> bool {
        let denied = self
            .statements
            .iter()
            .any(|s| !s.allow && !s.conditional && s.applies(action, resource));
        let allowed = self
            .statements
            .iter()
            .any(|s| s.allow && s.applies(action, resource));
        allowed && !denied
    }

    /// An explicit, unconditional Deny of IAM for this request.
    fn denies(&self, action: &str, resource: &str) -> bool {
        self.statements
            .iter()
            .any(|s| !s.allow && !s.conditional && s.applies(action, resource))
    }
}

fn roles(template: &Value, parameters: &BTreeMap<String, String>) -> BTreeMap<String, RoleModel> {
    let renderer = Renderer {
        template,
        parameters,
    };
    let mut roles = BTreeMap::new();
    for (logical_id, resource) in template["Resources"].as_object().expect("Resources") {
        if resource["Type"] != "AWS::IAM::Role" {
            continue;
        }
        if let Some(condition) = resource.get("Condition") {
            if !renderer.condition(condition.as_str().expect("condition name")) {
                continue;
            }
        }
        let properties = renderer.render(&resource["Properties"]);
        let mut statements = Vec::new();
        for policy in properties["Policies"].as_array().into_iter().flatten() {
            for statement in policy["PolicyDocument"]["Statement"]
                .as_array()
                .expect("statements")
            {
                statements.push(Statement::from(statement));
            }
        }
        for arn in strings(&properties["ManagedPolicyArns"]) {
            statements.extend(managed_policy(&arn));
        }
        let tags = properties["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|tag| {
                (
                    tag["Key"].as_str().expect("tag key").to_string(),
                    tag["Value"].as_str().expect("tag value").to_string(),
                )
            })
            .collect();
        let trusted = properties["AssumeRolePolicyDocument"]["Statement"]
            .as_array()
            .expect("trust statements")
            .iter()
            .filter(|statement| statement["Effect"] == "Allow")
            .flat_map(|statement| {
                let principal = &statement["Principal"];
                strings(&principal["AWS"])
                    .into_iter()
                    .chain(strings(&principal["Service"]))
            })
            .collect();
        roles.insert(
            logical_id.clone(),
            RoleModel {
                trusted,
                arn: role_arn(logical_id),
                tags,
                statements,
            },
        );
    }
    roles
}

fn parameter_arn(name: &str) -> String {
    format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}")
}

/// Every secret and record of the stack, by what it is.
fn secrets(stack: &StackConfig) -> Vec<(&'static str, String)> {
    vec![
        ("master password", stack.master_password_parameter()),
        ("app password", stack.app_password_parameter()),
        (
            "stack cookie",
            stack.cookie_parameter(CookieMode::Stack, "r1"),
        ),
        (
            "release cookie",
            stack.cookie_parameter(CookieMode::Release, "r1"),
        ),
        ("release record", stack.release_record_parameter("web")),
        ("app parameter", stack.parameter_name("app/stripe-key")),
    ]
}

/// Release records are plain Strings; every other parameter is a
/// SecureString encrypted with the application's key (the application's own
/// `app/*` parameters too, when written as the README says).
fn is_secure(what: &str) -> bool {
    what != "release record"
}

/// One key policy statement, rendered.
#[derive(Debug)]
struct KeyStatement {
    allow: bool,
    /// `*`, or principal ARNs (`arn:aws:iam::<account>:root` for the account).
    principals: Vec<String>,
    actions: Vec<String>,
    /// (operator, condition key, values): all must hold, any value of each.
    conditions: Vec<(String, String, Vec<String>)>,
}

impl KeyStatement {
    fn from(value: &Value) -> KeyStatement {
        for unsupported in ["NotAction", "NotResource", "NotPrincipal"] {
            assert!(
                value.get(unsupported).is_none(),
                "the evaluator does not know {unsupported}: {value}"
            );
        }
        assert_eq!(value["Resource"], "*", "a key policy's Resource is the key");
        let principal = &value["Principal"];
        let principals = match principal {
            Value::String(star) => vec![star.clone()],
            _ => strings(&principal["AWS"]),
        };
        let mut conditions = Vec::new();
        for (operator, keys) in value["Condition"].as_object().into_iter().flatten() {
            for (key, values) in keys.as_object().expect("condition keys") {
                conditions.push((operator.clone(), key.clone(), strings(values)));
            }
        }
        KeyStatement {
            allow: match value["Effect"].as_str() {
                Some("Allow") => true,
                Some("Deny") => false,
                other => panic!("Effect {other:?}"),
            },
            principals,
            actions: strings(&value["Action"]),
            conditions,
        }
    }

    fn conditions_hold(&self, request: &BTreeMap<String, String>) -> bool {
        self.conditions.iter().all(|(operator, key, values)| {
            if operator == "Null" {
                // "true": the key is absent from the request.
                return values
                    .iter()
                    .all(|value| (value == "true") != request.contains_key(key));
            }
            let Some(actual) = request.get(key) else {
                // A key absent from the request fails every operator
                // without IfExists ("IAM JSON policy elements: Condition").
                return false;
            };
            values.iter().any(|value| match operator.as_str() {
                "StringEquals" | "ArnEquals" => value == actual,
                "StringLike" | "ArnLike" => matches(value, actual, false),
                other => panic!("the evaluator does not know the condition operator {other}"),
            })
        })
    }
}

/// The key policy of the secrets stack's key.
struct KeyPolicy {
    statements: Vec<KeyStatement>,
}

impl KeyPolicy {
    fn of(stack: &StackConfig) -> KeyPolicy {
        let (template, parameters) = rendered_secrets(stack);
        let renderer = Renderer {
            template: &template,
            parameters: &parameters,
        };
        let policy =
            renderer.render(&template["Resources"]["SecretsKey"]["Properties"]["KeyPolicy"]);
        KeyPolicy {
            statements: policy["Statement"]
                .as_array()
                .expect("statements")
                .iter()
                .map(KeyStatement::from)
                .collect(),
        }
    }

    /// KMS's answer for `principal` calling `action` on the key with the
    /// request's context: a Deny wins; a statement naming the principal or
    /// `*` allows by itself; one naming the account allows where IAM does too.
    fn allows(
        &self,
        principal: &RoleModel,
        action: &str,
        request: &BTreeMap<String, String>,
    ) -> bool {
        let account_root = format!("arn:aws:iam::{ACCOUNT}:root");
        let applying = |statement: &&KeyStatement| {
            statement
                .actions
                .iter()
                .any(|pattern| matches(pattern, action, true))
                && statement.conditions_hold(request)
        };
        let names = |statement: &KeyStatement, who: &str| {
            statement
                .principals
                .iter()
                .any(|principal| principal == who)
        };
        if self
            .statements
            .iter()
            .filter(applying)
            .any(|statement| !statement.allow)
            || principal.denies(action, KEY_ARN)
        {
            return false;
        }
        self.statements
            .iter()
            .filter(applying)
            .filter(|statement| statement.allow)
            .any(|statement| {
                names(statement, "*")
                    || names(statement, &principal.arn)
                    || (names(statement, &account_root) && principal.may(action, KEY_ARN))
            })
    }
}

/// The request SSM makes to KMS for `principal` and a parameter: what the
/// key policy's condition keys see.
fn kms_request(principal: &RoleModel, parameter_arn: &str) -> BTreeMap<String, String> {
    let mut request: BTreeMap<String, String> = [
        ("kms:ViaService", format!("ssm.{REGION}.amazonaws.com")),
        ("kms:CallerAccount", ACCOUNT.to_string()),
        (
            "kms:EncryptionContext:PARAMETER_ARN",
            parameter_arn.to_string(),
        ),
        ("aws:PrincipalArn", principal.arn.clone()),
        ("aws:PrincipalAccount", ACCOUNT.to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect();
    for (key, value) in &principal.tags {
        request.insert(format!("aws:PrincipalTag/{key}"), value.clone());
    }
    request
}

/// A principal of the account that is none of the stack's roles, with one
/// identity policy allowing `actions` on every resource.
fn outsider(arn: &str, tags: &[(&str, &str)], actions: &[&str]) -> RoleModel {
    RoleModel {
        trusted: Vec::new(),
        arn: arn.to_string(),
        tags: tags
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
        statements: vec![Statement {
            allow: true,
            actions: actions.iter().map(|action| action.to_string()).collect(),
            resources: vec!["*".to_string()],
            not_resources: Vec::new(),
            conditional: false,
        }],
    }
}

/// Principals of the account beside the stack's roles: an operator whose IAM
/// policies grant SSM and the key's use (the path of create-stack and
/// update-resources); a principal allowed every SSM read and nothing of KMS
/// (with `aws/ssm` it read every secret); another application's task
/// execution role, tagged as such, with every SSM read.
fn outsiders() -> BTreeMap<String, RoleModel> {
    [
        (
            "Operator",
            outsider(
                &format!("arn:aws:iam::{ACCOUNT}:user/operator"),
                &[],
                &["ssm:*", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            ),
        ),
        (
            "SsmReader",
            outsider(
                &format!("arn:aws:iam::{ACCOUNT}:role/reporting"),
                &[],
                &["ssm:GetParameter*"],
            ),
        ),
        (
            "OtherApplicationsTaskExecutionRole",
            outsider(
                &format!("arn:aws:iam::{ACCOUNT}:role/other-prod-v1-platform-TaskExecutionRole-X"),
                &[
                    ("stackup:secrets-role", "task-execution"),
                    ("stackup:stack-id", "other-prod-v1"),
                ],
                &["ssm:GetParameter*", "kms:Decrypt"],
            ),
        ),
    ]
    .into_iter()
    .map(|(name, model)| (name.to_string(), model))
    .collect()
}

/// Whether `principal` may read (GetParameter, and Decrypt for a SecureString)
/// and write (PutParameter, and Encrypt) the parameter.
fn access(principal: &RoleModel, key: &KeyPolicy, what: &str, parameter: &str) -> (bool, bool) {
    let arn = parameter_arn(parameter);
    let request = kms_request(principal, &arn);
    let key_allows = |action: &str| !is_secure(what) || key.allows(principal, action, &request);
    let read = ["ssm:GetParameter", "ssm:GetParameters"]
        .iter()
        .any(|action| principal.may(action, &arn))
        && key_allows("kms:Decrypt");
    let write = principal.may("ssm:PutParameter", &arn) && key_allows("kms:Encrypt");
    (read, write)
}

/// For each role and secret: "R" when the role may read it, "W" when it may
/// write it, "-" for neither; the stack's roles and the outsiders.
fn access_matrix(stack: &StackConfig) -> BTreeMap<String, BTreeMap<&'static str, &'static str>> {
    let (template, parameters) = rendered(stack);
    let mut principals = roles(&template, &parameters);
    principals.extend(outsiders());
    let key = KeyPolicy::of(stack);
    principals
        .iter()
        .map(|(name, principal)| {
            let row = secrets(stack)
                .into_iter()
                .map(|(what, parameter)| {
                    let cell = match access(principal, &key, what, &parameter) {
                        (true, true) => "RW",
                        (true, false) => "R",
                        (false, true) => "W",
                        (false, false) => "-",
                    };
                    (what, cell)
                })
                .collect();
            (name.clone(), row)
        })
        .collect()
}

fn row(cells: [(&'static str, &'static str); 6]) -> BTreeMap<&'static str, &'static str> {
    cells.into_iter().collect()
}

/// The whole matrix: any widening (a role reading the master password, the
/// deploy role reading the application's secrets, a host reading anything,
/// a principal with SSM reads but no grant of the key decrypting a secret)
/// fails here.
#[test]
fn each_role_reads_and_writes_only_the_secrets_its_job_needs() {
    let (_dir, stack) = stack(&format!(
        "[deploy]\ntrusted_principals = [\"{CI_ROLE}\", \"{RELEASE_ENGINEER}\"]"
    ));
    let nothing = row([
        ("master password", "-"),
        ("app password", "-"),
        ("stack cookie", "-"),
        ("release cookie", "-"),
        ("release record", "-"),
        ("app parameter", "-"),
    ]);
    let expected: BTreeMap<String, BTreeMap<&str, &str>> = [
        // Hosts and the bastion run SSM's agent (AmazonSSMManagedInstanceCore
        // allows ssm:GetParameter on "*"): a Deny keeps them off the stack's.
        ("BastionRole", nothing.clone()),
        ("EcsHostRole", nothing.clone()),
        ("DatabaseMonitoringRole", nothing.clone()),
        ("TaskRole", nothing.clone()),
        (
            "TaskExecutionRole",
            row([
                ("master password", "-"),
                ("app password", "R"),
                ("stack cookie", "R"),
                ("release cookie", "R"),
                ("release record", "-"),
                ("app parameter", "R"),
            ]),
        ),
        (
            "DeployRole",
            row([
                ("master password", "-"),
                ("app password", "-"),
                ("stack cookie", "RW"),
                ("release cookie", "RW"),
                ("release record", "RW"),
                ("app parameter", "-"),
            ]),
        ),
        // The operator's path: IAM grants SSM and the key's use, and the
        // key policy lets IAM grant it, through SSM, for this application's
        // parameters only.
        (
            "Operator",
            row([
                ("master password", "RW"),
                ("app password", "RW"),
                ("stack cookie", "RW"),
                ("release cookie", "RW"),
                ("release record", "RW"),
                ("app parameter", "RW"),
            ]),
        ),
        // Every SSM read, no grant of the key: with aws/ssm this read every
        // secret; now only what is not secret.
        (
            "SsmReader",
            row([
                ("master password", "-"),
                ("app password", "-"),
                ("stack cookie", "-"),
                ("release cookie", "-"),
                ("release record", "R"),
                ("app parameter", "-"),
            ]),
        ),
        // Tagged a task execution role, but of another application's stack.
        (
            "OtherApplicationsTaskExecutionRole",
            row([
                ("master password", "-"),
                ("app password", "-"),
                ("stack cookie", "-"),
                ("release cookie", "-"),
                ("release record", "R"),
                ("app parameter", "-"),
            ]),
        ),
    ]
    .into_iter()
    .map(|(role, row)| (role.to_string(), row))
    .collect();
    assert_eq!(access_matrix(&stack), expected);
}

/// What deploy-release and rollback call on SSM, the deploy role allows on
/// the parameters they call it for (tests/deploy_release.rs records the calls
/// themselves); deleting is for rolled-back releases' cookies only.
#[test]
fn the_deploy_role_allows_what_deploying_does_with_parameters() {
    let (_dir, stack) = stack(&format!("[deploy]\ntrusted_principals = [\"{CI_ROLE}\"]"));
    let (template, parameters) = rendered(&stack);
    let roles = roles(&template, &parameters);
    let deploy = &roles["DeployRole"];
    let record = parameter_arn(&stack.release_record_parameter("web"));
    let cookie = parameter_arn(&stack.cookie_parameter(CookieMode::Release, "r1"));
    for (action, arn) in [
        ("ssm:GetParameterHistory", &record),
        ("ssm:GetParameter", &record),
        ("ssm:PutParameter", &record),
        ("ssm:DeleteParameter", &cookie),
        // Whether the templates' parameters exist: metadata, no value.
        ("ssm:DescribeParameters", &"*".to_string()),
    ] {
        assert!(deploy.may(action, arn), "DeployRole may not {action} {arn}");
    }
    for what in ["master password", "app password", "release record"] {
        let (_, name) = secrets(&stack)
            .into_iter()
            .find(|(kind, _)| *kind == what)
            .expect("a secret");
        assert!(
            !deploy.may("ssm:DeleteParameter", &parameter_arn(&name)),
            "DeployRole may delete the {what}"
        );
    }
    let everyone_else: Vec<&String> = roles
        .iter()
        .filter(|(name, role)| *name != "DeployRole" && role.may("ssm:PutParameter", &record))
        .map(|(name, _)| name)
        .collect();
    assert!(
        everyone_else.is_empty(),
        "{everyone_else:?} may write release records"
    );
}

/// The deploy role trusts exactly the principals the stack file names; with
/// none named there is no deploy role, rather than one the whole account
/// may assume.
#[test]
fn the_deploy_role_trusts_exactly_the_named_principals() {
    let (_dir, named) = stack(&format!(
        "[deploy]\ntrusted_principals = [\"{CI_ROLE}\", \"{RELEASE_ENGINEER}\"]"
    ));
    let (template, parameters) = rendered(&named);
    let roles_of_named = roles(&template, &parameters);
    assert_eq!(
        roles_of_named["DeployRole"].trusted,
        vec![CI_ROLE.to_string(), RELEASE_ENGINEER.to_string()]
    );
    assert!(template["Outputs"]["DeployRoleArn"]
        .get("Condition")
        .is_some());

    let (_dir, unnamed) = stack("");
    let (template, parameters) = rendered(&unnamed);
    let roles_of_unnamed = roles(&template, &parameters);
    assert!(!roles_of_unnamed.contains_key("DeployRole"));
    for (name, role) in &roles_of_unnamed {
        assert!(
            role.trusted
                .iter()
                .all(|principal| principal.ends_with(".amazonaws.com")),
            "{name} trusts {:?}: only AWS services may assume the stack's other roles",
            role.trusted
        );
    }
}

/// The master password never passes as a parameter: no NoEcho parameter,
/// and the database reads it from SSM with a dynamic reference.
#[test]
fn the_master_password_is_a_dynamic_reference() {
    let (_dir, stack) = stack("");
    let (template, parameters) = rendered(&stack);
    let no_echo: Vec<&String> = template["Parameters"]
        .as_object()
        .expect("Parameters")
        .iter()
        .filter(|(_, declaration)| declaration.get("NoEcho").is_some())
        .map(|(name, _)| name)
        .collect();
    assert!(no_echo.is_empty(), "NoEcho parameters: {no_echo:?}");
    assert!(!parameters.contains_key("DatabaseMasterPassword"));
    let renderer = Renderer {
        template: &template,
        parameters: &parameters,
    };
    let password =
        renderer.render(&template["Resources"]["Database"]["Properties"]["MasterUserPassword"]);
    assert_eq!(
        password,
        Value::String(format!(
            "{{{{resolve:ssm-secure:{}}}}}",
            stack.master_password_parameter()
        ))
    );
}

#[test]
fn wildcards_match_as_iam_matches_them() {
    assert!(matches("ssm:Get*", "ssm:GetParameter", true));
    assert!(matches("SSM:getparameter", "ssm:GetParameter", true));
    assert!(!matches("ssm:GetParameter", "ssm:GetParameters", true));
    assert!(matches("a/*/c", "a/b/x/c", false));
    assert!(matches("a/?", "a/b", false));
    assert!(!matches("a/?", "a/bc", false));
    assert!(!matches("/stackup/X/*", "/stackup/x/cookie", false));
    assert!(matches("*", "", false));
}

/// The key is used through SSM only, for this application's parameters
/// only: the same principals calling KMS directly, or for a parameter
/// outside the application's prefix, are refused; the account's
/// administration of the key is no use of it.
#[test]
fn the_key_is_used_only_through_ssm_for_the_applications_parameters() {
    let (_dir, stack) = stack(&format!("[deploy]\ntrusted_principals = [\"{CI_ROLE}\"]"));
    let (template, parameters) = rendered(&stack);
    let roles = roles(&template, &parameters);
    let key = KeyPolicy::of(&stack);
    let everyone = outsiders();
    let cookie = parameter_arn(&stack.cookie_parameter(CookieMode::Stack, "r1"));
    let elsewhere = parameter_arn("/stackup/other-prod-v1/cookie");
    let administrator = outsider(
        &format!("arn:aws:iam::{ACCOUNT}:role/administrator"),
        &[],
        &["kms:*"],
    );
    for (who, principal) in [
        ("TaskExecutionRole", &roles["TaskExecutionRole"]),
        ("DeployRole", &roles["DeployRole"]),
        ("Operator", &everyone["Operator"]),
    ] {
        let through_ssm = kms_request(principal, &cookie);
        assert!(
            key.allows(principal, "kms:Decrypt", &through_ssm),
            "{who} cannot decrypt the cookie through SSM"
        );
        let mut direct = through_ssm.clone();
        direct.remove("kms:ViaService");
        assert!(
            !key.allows(principal, "kms:Decrypt", &direct),
            "{who} may decrypt with the key directly"
        );
        let other = kms_request(principal, &elsewhere);
        assert!(
            !key.allows(principal, "kms:Decrypt", &other),
            "{who} may decrypt another application's parameter with this key"
        );
        assert!(
            !key.allows(principal, "kms:CreateGrant", &through_ssm),
            "{who} may create grants"
        );
    }
    // Administration through IAM: yes; decrypting with the key directly
    // (not through SSM) by that alone: no.
    let mut anything = kms_request(&administrator, &cookie);
    anything.remove("kms:ViaService");
    assert!(key.allows(&administrator, "kms:PutKeyPolicy", &anything));
    assert!(key.allows(&administrator, "kms:ScheduleKeyDeletion", &anything));
    assert!(!key.allows(&administrator, "kms:Decrypt", &anything));
    // The task execution role's key grant stops at its job: no encrypting.
    assert!(!key.allows(
        &roles["TaskExecutionRole"],
        "kms:Encrypt",
        &kms_request(&roles["TaskExecutionRole"], &cookie)
    ));
}

fn repository_arn(name: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}")
}

/// What `docker push` asks of ECR for one image, besides the login (ECR user
/// guide, "IAM permissions for pushing an image to an Amazon ECR private
/// repository").
const PUSH: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
];

/// What a pull asks of ECR, besides the login (ECS developer guide, "Amazon
/// ECS task execution IAM role").
const PULL: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
];

/// Repositories that are not this application's and environment's: another
/// application's, another environment's of this one, and names that only
/// begin like its prefix.
fn others_repositories() -> Vec<String> {
    [
        "other-prod/web",
        "demo-staging/web",
        "demo-prodx/web",
        "demo-prod-eu/web",
        "demo/web",
        "web",
    ]
    .map(repository_arn)
    .to_vec()
}

/// `stackup build` and `deploy-release --build` (the login, the images
/// stack's repositories, the look-up of what the registry holds, the push)
/// and the `--image` check (DescribeImages) are allowed to the deploy role on
/// the images stack's repositories `<app>-<environment>/...` and nowhere
/// else; no other role of the stack may push.
#[test]
fn the_deploy_role_pushes_and_checks_only_the_applications_images() {
    let (_dir, stack) = stack(&format!("[deploy]\ntrusted_principals = [\"{CI_ROLE}\"]"));
    let (template, parameters) = rendered(&stack);
    let roles = roles(&template, &parameters);
    let deploy = &roles["DeployRole"];
    let web = repository_arn(&images::repository_name(&stack, "web"));
    assert_eq!(web, repository_arn("demo-prod/web"));
    // No resource-level permissions: AWS takes it only on "*".
    assert!(deploy.may("ecr:GetAuthorizationToken", "*"));
    let checks = [
        "ecr:DescribeRepositories",
        "ecr:DescribeImages",
        "ecr:GetDownloadUrlForLayer",
    ];
    for action in PUSH.iter().chain(&checks) {
        assert!(
            deploy.may(action, &web),
            "DeployRole may not {action} {web}"
        );
        for other in others_repositories() {
            assert!(
                !deploy.may(action, &other),
                "DeployRole may {action} {other}"
            );
        }
    }
    // `build` reads the images stack before it pushes.
    let images_stack = format!(
        "arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{}/0b0e7a52",
        images::stack_name(&stack)
    );
    assert!(deploy.may("cloudformation:DescribeStacks", &images_stack));
    assert!(!deploy.may("cloudformation:CreateChangeSet", &images_stack));
    let writes = [
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    ];
    for (name, role) in roles.iter().filter(|(name, _)| *name != "DeployRole") {
        for action in writes {
            assert!(!role.may(action, &web), "{name} may {action} {web}");
        }
    }
}

/// The tasks' images are pulled with the task execution role (the ECS agent
/// uses it when a task definition names one): from this application's
/// repositories only, and nothing written to them; the hosts' role pulls from
/// no other; the task role reaches no repository. Their logs go to this stack's log group only.
#[test]
fn tasks_pull_only_their_applications_images() {
    let (_dir, stack) = stack("");
    let (template, parameters) = rendered(&stack);
    let roles = roles(&template, &parameters);
    let execution = &roles["TaskExecutionRole"];
    let web = repository_arn(&images::repository_name(&stack, "web"));
    assert!(execution.may("ecr:GetAuthorizationToken", "*"));
    for action in PULL {
        assert!(
            execution.may(action, &web),
            "TaskExecutionRole may not {action} {web}"
        );
        for other in others_repositories() {
            assert!(
                !execution.may(action, &other),
                "TaskExecutionRole may {action} {other}"
            );
        }
        assert!(
            !roles["TaskRole"].may(action, &web),
            "TaskRole may {action}"
        );
        // The hosts' managed policy allows every repository; a Deny keeps
        // them to this application's (the agent pulls with the execution role).
        let hosts = &roles["EcsHostRole"];
        assert!(
            hosts.may(action, &web),
            "EcsHostRole may not {action} {web}"
        );
        for other in others_repositories() {
            assert!(
                !hosts.may(action, &other),
                "EcsHostRole may {action} {other}"
            );
        }
    }
    for action in PUSH.iter().filter(|action| !PULL.contains(action)) {
        assert!(
            !execution.may(action, &web),
            "TaskExecutionRole may {action} {web}"
        );
    }
    let stream = |group: &str| {
        format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:web/web/0123")
    };
    let own = stream(&format!("/stackup/{}", stack.stack_id()));
    for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
        assert!(
            execution.may(action, &own),
            "TaskExecutionRole may not {action} {own}"
        );
        let other = stream("/stackup/other-prod-v1");
        assert!(
            !execution.may(action, &other),
            "TaskExecutionRole may {action} {other}"
        );
    }
}
