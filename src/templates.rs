//! CloudFormation templates: the built-in ones compiled into the binary, or the
//! stack file's own (`[templates]`), and their offline checks.
//!
//! The offline check catches what would otherwise fail half-way through a
//! change set: invalid JSON, a `Ref`, `Fn::GetAtt`, `Fn::Sub` or `Condition`
//! that names nothing, a parameter without a default that stackup cannot
//! supply, and an output stackup needs that the template does not declare.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::StackConfig;
use crate::error::Problem;

pub const BUILTIN_NETWORK: &str = include_str!("../stacks/network.json");
pub const BUILTIN_PLATFORM: &str = include_str!("../stacks/platform.json");

/// The two CloudFormation stacks of a stackup stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Network,
    Platform,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Network => "network",
            Layer::Platform => "platform",
        }
    }

    /// Parameters stackup can supply to this layer's template.
    pub fn supplied_parameters(self) -> &'static [&'static str] {
        match self {
            Layer::Network => NETWORK_PARAMETERS,
            Layer::Platform => PLATFORM_PARAMETERS,
        }
    }

    /// Outputs stackup reads from this layer.
    pub fn required_outputs(self) -> &'static [&'static str] {
        match self {
            Layer::Network => NETWORK_OUTPUTS,
            Layer::Platform => PLATFORM_OUTPUTS,
        }
    }
}

pub const NETWORK_PARAMETERS: &[&str] = &[
    "StackId",
    "VpcCidr",
    "AzCount",
    "AvailabilityZone1",
    "AvailabilityZone2",
    "AvailabilityZone3",
    "PublicSubnet1Cidr",
    "PublicSubnet2Cidr",
    "PublicSubnet3Cidr",
    "PrivateSubnet1Cidr",
    "PrivateSubnet2Cidr",
    "PrivateSubnet3Cidr",
    "DataSubnet1Cidr",
    "DataSubnet2Cidr",
    "DataSubnet3Cidr",
    "NatMode",
    "EnableS3Endpoint",
    "BastionIngressCidr1",
    "BastionIngressCidr2",
    "BastionIngressCidr3",
    "BastionIngressCidr4",
    "BastionIngressCidr5",
    "BastionIngressCidr6",
    "AppPort",
    "DistributionPortMin",
    "DistributionPortMax",
];

pub const PLATFORM_PARAMETERS: &[&str] = &[
    "StackId",
    "NetworkStackName",
    "AzCount",
    "ClusterInstanceType",
    "ClusterHosts",
    "ClusterMaxHosts",
    "EcsAmiId",
    "BastionInstanceType",
    "BastionAmiId",
    "BastionKeyName",
    "DatabaseInstanceClass",
    "DatabaseEngineVersion",
    "DatabaseParameterFamily",
    "DatabaseAllowMajorVersionUpgrade",
    "DatabaseAllocatedStorage",
    "DatabaseMultiAz",
    "DatabaseDeletionProtection",
    "DatabaseMasterUsername",
    "DatabaseMasterPassword",
    "DeployTrustedPrincipals",
    "ImagesStackId",
    "DatabaseBackupRetentionDays",
    "LogRetentionDays",
    "AppPort",
    "HealthCheckPath",
    "HealthCheckHttpCodes",
    "DatabaseMaxAllocatedStorage",
    "CertificateArn",
    "PublicSubnetIds",
    "PrivateSubnetIds",
    "DataSubnetIds",
];

pub const NETWORK_OUTPUTS: &[&str] = &["VpcId"];

pub const PLATFORM_OUTPUTS: &[&str] = &[
    "ClusterName",
    "LogGroupName",
    "TaskExecutionRoleArn",
    "TaskRoleArn",
    "TargetGroupArn",
    "PrivateSubnetIds",
    "AppSecurityGroup",
    "BastionPublicIp",
    "DatabaseEndpointAddress",
    "DatabaseEndpointPort",
];

const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// A template with where it came from.
#[derive(Clone, Debug)]
pub struct Template {
    pub layer: Layer,
    /// `None` for the built-in template.
    pub file: Option<PathBuf>,
    pub text: String,
    pub body: Value,
}

/// The most bytes of TemplateBody CloudFormation takes in one request
/// (CloudFormation quotas, "Template body size in a request"); stackup sends
/// templates as compact JSON and has no S3 bucket to send a larger one through.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// A template parameter as declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterInfo {
    pub has_default: bool,
    pub no_echo: bool,
}

impl Template {
    /// The template for `layer`: the stack file's own, or the built-in one.
    pub fn load(stack: &StackConfig, layer: Layer) -> Result<Template, Problem> {
        let own = match layer {
            Layer::Network => stack.templates.network.as_ref(),
            Layer::Platform => stack.templates.platform.as_ref(),
        };
        let (file, text) = match own {
            Some(path) => {
                let resolved = stack.resolve(path);
                let text = std::fs::read_to_string(&resolved).map_err(|error| {
                    Problem::new(format!("cannot read template: {error}")).in_file(&resolved)
                })?;
                (Some(resolved), text)
            }
            None => (
                None,
                match layer {
                    Layer::Network => BUILTIN_NETWORK,
                    Layer::Platform => BUILTIN_PLATFORM,
                }
                .to_string(),
            ),
        };
        Template::parse(layer, file, text)
    }

    pub fn parse(layer: Layer, file: Option<PathBuf>, text: String) -> Result<Template, Problem> {
        let body: Value = serde_json::from_str(&text).map_err(|error| {
            let problem = Problem::new(format!("is not valid JSON: {error}"))
                .at_line(Some(error.line()))
                .fix("correct the JSON syntax at that line (stackup reads JSON templates only)");
            match &file {
                Some(path) => problem.in_file(path),
                None => problem.at_key(format!("built-in {} template", layer.name())),
            }
        })?;
        Ok(Template {
            layer,
            file,
            text,
            body,
        })
    }

    /// How the template is named in messages.
    pub fn display_name(&self) -> String {
        match &self.file {
            Some(path) => path.display().to_string(),
            None => format!("built-in {} template", self.layer.name()),
        }
    }

    /// SHA-256 of the template text, for the `stackup:template-sha256` tag.
    pub fn sha256(&self) -> String {
        let digest = Sha256::digest(self.text.as_bytes());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    pub fn parameters(&self) -> BTreeMap<String, ParameterInfo> {
        section(&self.body, "Parameters")
            .map(|parameters| {
                parameters
                    .iter()
                    .map(|(name, declaration)| {
                        (
                            name.clone(),
                            ParameterInfo {
                                has_default: declaration.get("Default").is_some(),
                                no_echo: declaration
                                    .get("NoEcho")
                                    .is_some_and(|flag| flag == true || flag == "true"),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn outputs(&self) -> BTreeSet<String> {
        section(&self.body, "Outputs")
            .map(|outputs| outputs.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every problem the template has, offline. `extra_supplied` are further
    /// parameters stackup supplies for this stack (`Upstream<Name>StackName`).
    pub fn check(&self, extra_supplied: &[String]) -> Vec<Problem> {
        let mut problems = Vec::new();
        let problem = |message: String, fix: &str| {
            let problem = Problem::new(message).fix(fix);
            match &self.file {
                Some(path) => problem.in_file(path),
                None => problem.at_key(self.display_name()),
            }
        };
        let Some(resources) =
            section(&self.body, "Resources").filter(|resources| !resources.is_empty())
        else {
            problems.push(problem(
                "has no Resources".into(),
                "a CloudFormation template needs a \"Resources\" object",
            ));
            return problems;
        };
        let sent = self.body.to_string().len();
        if sent > TEMPLATE_BODY_LIMIT {
            problems.push(problem(
                format!(
                    "is {sent} bytes as sent (compact JSON); CloudFormation takes at most {TEMPLATE_BODY_LIMIT} bytes of TemplateBody in a request (CloudFormation quotas, \"Template body size in a request\")"
                ),
                "make it smaller: move resources into a stack of their own (stackup creates stacks in order, and a later one can import an earlier one's exports), or shorten descriptions and metadata",
            ));
        }
        let parameters = self.parameters();
        let conditions: BTreeSet<String> = section(&self.body, "Conditions")
            .map(|conditions| conditions.keys().cloned().collect())
            .unwrap_or_default();
        let resource_names: BTreeSet<&str> = resources.keys().map(String::as_str).collect();
        let is_value = |name: &str| {
            parameters.contains_key(name)
                || resource_names.contains(name)
                || PSEUDO_PARAMETERS.contains(&name)
        };

        for (name, resource) in resources {
            if resource.get("Type").and_then(Value::as_str).is_none() {
                problems.push(problem(
                    format!("resource {name} has no Type"),
                    "add \"Type\": \"AWS::...\"",
                ));
            }
        }

        let mut references = Vec::new();
        collect_references(&self.body, &mut Vec::new(), &mut references);
        // A name used in several places is one problem, not one per use.
        let mut reported = BTreeSet::new();
        for reference in references {
            let ok = match &reference {
                Reference::Ref(name) => is_value(name),
                Reference::GetAtt(name) => resource_names.contains(name.as_str()),
                Reference::Sub(name, locals) => {
                    let base = name.split('.').next().unwrap_or_default();
                    locals.contains(name)
                        || is_value(name)
                        || (name.contains('.') && resource_names.contains(base))
                }
                Reference::Condition(name) => conditions.contains(name),
            };
            if !ok {
                let (what, name) = match &reference {
                    Reference::Ref(name) => ("Ref", name),
                    Reference::GetAtt(name) => ("Fn::GetAtt", name),
                    Reference::Sub(name, _) => ("Fn::Sub", name),
                    Reference::Condition(name) => ("condition", name),
                };
                if !reported.insert((what, name.clone())) {
                    continue;
                }
                let line = self
                    .text
                    .find(&format!("\"{name}\""))
                    .or_else(|| self.text.find(&format!("${{{name}}}")))
                    .map(|offset| self.text[..offset].matches('\n').count() + 1);
                problems.push(
                    problem(
                        format!("{what} names {name}, which the template does not declare"),
                        "declare it under Parameters, Resources or Conditions, or correct the name",
                    )
                    .at_line(line),
                );
            }
        }

        let supplied = self.layer.supplied_parameters();
        for (name, info) in &parameters {
            if !info.has_default
                && !supplied.contains(&name.as_str())
                && !extra_supplied.contains(name)
            {
                problems.push(problem(
                    format!("parameter {name} has no Default and stackup does not supply it"),
                    &format!(
                        "give it a Default, or use only parameters stackup supplies: {}",
                        supplied.join(", ")
                    ),
                ));
            }
        }
        let outputs = self.outputs();
        for required in self.layer.required_outputs() {
            if !outputs.contains(*required) {
                problems.push(problem(
                    format!("has no output {required}, which stackup reads"),
                    &format!("add an output named {required}"),
                ));
            }
        }
        problems
    }
}

fn section<'v>(body: &'v Value, name: &str) -> Option<&'v serde_json::Map<String, Value>> {
    body.get(name).and_then(Value::as_object)
}

enum Reference {
    Ref(String),
    GetAtt(String),
    /// A `${Name}` in a Fn::Sub string, with the names its variable map defines.
    Sub(String, Vec<String>),
    Condition(String),
}

fn collect_references(value: &Value, path: &mut Vec<String>, found: &mut Vec<Reference>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("Ref", Value::String(name)) => found.push(Reference::Ref(name.clone())),
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(name)) = parts.first() {
                            found.push(Reference::GetAtt(name.clone()));
                        }
                    }
                    ("Fn::GetAtt", Value::String(dotted)) => {
                        found.push(Reference::GetAtt(
                            dotted.split('.').next().unwrap_or_default().to_string(),
                        ));
                    }
                    ("Fn::Sub", Value::String(text)) => {
                        found.extend(
                            sub_names(text)
                                .into_iter()
                                .map(|name| Reference::Sub(name, Vec::new())),
                        );
                    }
                    ("Fn::Sub", Value::Array(parts)) => {
                        let locals: Vec<String> = parts
                            .get(1)
                            .and_then(Value::as_object)
                            .map(|variables| variables.keys().cloned().collect())
                            .unwrap_or_default();
                        if let Some(Value::String(text)) = parts.first() {
                            found.extend(
                                sub_names(text)
                                    .into_iter()
                                    .map(|name| Reference::Sub(name, locals.clone())),
                            );
                        }
                    }
                    // A resource's or output's `Condition`, and the first argument of Fn::If.
                    ("Condition", Value::String(name)) if path.len() == 2 => {
                        found.push(Reference::Condition(name.clone()));
                    }
                    ("Fn::If", Value::Array(parts)) => {
                        if let Some(Value::String(name)) = parts.first() {
                            found.push(Reference::Condition(name.clone()));
                        }
                    }
                    ("Condition", Value::String(name))
                        if path.first().is_some_and(|section| section == "Conditions") =>
                    {
                        found.push(Reference::Condition(name.clone()));
                    }
                    _ => {}
                }
                path.push(key.clone());
                collect_references(item, path, found);
                path.pop();
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_references(item, path, found);
            }
        }
        _ => {}
    }
}

/// The `${Name}` references of a Fn::Sub string (`${!Literal}` excluded).
fn sub_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            names.push(name.trim().to_string());
        }
        rest = &after[end + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(body: Value) -> Template {
        Template {
            layer: Layer::Network,
            file: Some("t.json".into()),
            text: body.to_string(),
            body,
        }
    }

    #[test]
    fn built_in_templates_pass_their_own_checks() {
        for (layer, text) in [
            (Layer::Network, BUILTIN_NETWORK),
            (Layer::Platform, BUILTIN_PLATFORM),
        ] {
            let template = Template::parse(layer, None, text.to_string()).expect("valid JSON");
            let problems = template.check(&[]);
            assert!(problems.is_empty(), "{layer:?}: {problems:#?}");
        }
    }

    #[test]
    fn dangling_references_are_found() {
        let problems = template(json!({
            "Parameters": {"Mystery": {"Type": "String"}},
            "Resources": {"Vpc": {"Type": "AWS::EC2::VPC", "Condition": "Nope",
                "Properties": {"CidrBlock": {"Ref": "VpcCidr"}, "Tags": [{"Key": "x", "Value": {"Fn::Sub": "${AWS::StackName}-${Missing}-${!Literal}"}}]}}},
            "Outputs": {"VpcId": {"Value": {"Fn::GetAtt": ["Gone", "VpcId"]}}}
        }))
        .check(&[]);
        let messages: Vec<String> = problems
            .iter()
            .map(|problem| problem.message.clone())
            .collect();
        assert_eq!(messages.len(), 5, "{messages:#?}");
        assert!(messages.iter().any(|m| m.contains("Ref names VpcCidr")));
        assert!(messages.iter().any(|m| m.contains("Fn::Sub names Missing")));
        assert!(messages.iter().any(|m| m.contains("Fn::GetAtt names Gone")));
        assert!(messages.iter().any(|m| m.contains("condition names Nope")));
        assert!(messages
            .iter()
            .any(|m| m.contains("parameter Mystery has no Default")));
    }

    #[test]
    fn a_template_over_cloudformations_body_limit_is_refused_before_any_call() {
        let padding = "x".repeat(TEMPLATE_BODY_LIMIT);
        let problems = template(json!({
            "Description": padding,
            "Resources": {"Vpc": {"Type": "AWS::EC2::VPC"}}
        }))
        .check(&[]);
        let size = |problems: &[Problem]| {
            problems
                .iter()
                .filter(|problem| problem.message.contains("bytes as sent (compact JSON)"))
                .map(|problem| problem.message.clone())
                .collect::<Vec<_>>()
        };
        let said = size(&problems);
        assert_eq!(said.len(), 1, "{problems:#?}");
        assert!(said[0].contains("at most 51200 bytes"), "{said:?}");
        // The limit is on what is sent, the compact form: a file over it
        // only by its indentation is fine.
        let resources: serde_json::Map<String, Value> = (0..1400)
            .map(|index| (format!("Vpc{index:04}"), json!({"Type": "AWS::EC2::VPC"})))
            .collect();
        let body = json!({ "Resources": resources });
        let indented = serde_json::to_string_pretty(&body).expect("JSON");
        assert!(indented.len() > TEMPLATE_BODY_LIMIT);
        let under = Template::parse(Layer::Network, Some("t.json".into()), indented).expect("JSON");
        assert_eq!(size(&under.check(&[])), Vec::<String>::new());
    }

    #[test]
    fn the_built_in_templates_leave_room_under_the_body_limit() {
        for (name, text) in [("network", BUILTIN_NETWORK), ("platform", BUILTIN_PLATFORM)] {
            let sent = serde_json::from_str::<Value>(text)
                .expect("valid JSON")
                .to_string()
                .len();
            // A tenth of the limit kept free, so that the next resource added
            // is not the one that makes create-stack fail on AWS.
            assert!(
                sent < TEMPLATE_BODY_LIMIT * 9 / 10,
                "the built-in {name} template is {sent} bytes as sent; the limit is {TEMPLATE_BODY_LIMIT}"
            );
        }
    }

    #[test]
    fn sha256_is_hex_of_the_text() {
        let template = template(json!({}));
        assert_eq!(template.sha256().len(), 64);
    }
}

/// What moto accepts but drops silently, checked in the built-in templates
/// themselves (README, "Creating, updating and deleting a stack").
#[cfg(test)]
mod design_tests {
    use super::*;
    use serde_json::json;

    fn resource(text: &str, name: &str) -> Value {
        let body: Value = serde_json::from_str(text).expect("template");
        body["Resources"][name]["Properties"].clone()
    }

    #[test]
    fn the_target_group_fits_awsvpc_tasks_behind_tls_offload() {
        let group = resource(BUILTIN_PLATFORM, "TargetGroup");
        assert_eq!(group["TargetType"], "ip");
        // Healthy on what the stack file says (200 unless told): a redirect
        // to a login page is no proof of health.
        assert_eq!(
            group["Matcher"]["HttpCode"],
            json!({"Ref": "HealthCheckHttpCodes"})
        );
        assert_eq!(
            group["TargetGroupAttributes"],
            json!([{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
        );
    }

    #[test]
    fn the_database_forces_tls_and_is_encrypted_and_private() {
        assert_eq!(
            resource(BUILTIN_PLATFORM, "DatabaseParameterGroup")["Parameters"]["rds.force_ssl"],
            "1"
        );
        let database = resource(BUILTIN_PLATFORM, "Database");
        assert_eq!(database["StorageEncrypted"], true);
        assert_eq!(database["PubliclyAccessible"], false);
    }

    #[test]
    fn the_execution_role_reads_only_this_stacks_parameters() {
        let role = resource(BUILTIN_PLATFORM, "TaskExecutionRole");
        let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements");
        let ssm: Vec<&Value> = statements
            .iter()
            .filter(|statement| statement["Action"].to_string().contains("ssm:"))
            .collect();
        assert!(!ssm.is_empty());
        // Each names parameters of this stack, never the whole prefix (which
        // holds the master password); tests/iam_policies.rs proves the
        // whole matrix of who reads what.
        for statement in ssm {
            let resources = match &statement["Resource"] {
                Value::Array(items) => items.clone(),
                one => vec![one.clone()],
            };
            for resource in resources {
                let arn = resource["Fn::Sub"].as_str().expect("Fn::Sub");
                assert!(arn.contains(":parameter/stackup/${StackId}/"), "{arn}");
                assert!(!arn.ends_with(":parameter/stackup/${StackId}/*"), "{arn}");
            }
        }
    }

    #[test]
    fn hosts_that_fail_health_checks_are_replaced() {
        let group = resource(BUILTIN_PLATFORM, "AutoScalingGroup");
        assert_eq!(group["HealthCheckType"], "EC2");
        assert!(group["HealthCheckGracePeriod"].as_u64().is_some());
    }

    #[test]
    fn public_addresses_only_in_public_subnets() {
        for tier in ["Private", "Data"] {
            let subnet = resource(BUILTIN_NETWORK, &format!("{tier}Subnet1"));
            assert_ne!(subnet["MapPublicIpOnLaunch"], true, "{tier}");
        }
    }
}
