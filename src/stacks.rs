//! The plan of a stackup stack: which AZs, which subnets, and what each
//! CloudFormation stack (network, then platform) receives as parameters and tags.
//! Pure: computed from the stack file, the region's zones and the templates.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::cloudformation::ParameterValue;
use crate::config::{AvailabilityZones, StackConfig};
use crate::error::{InputError, Problem};
use crate::network::{self, SubnetPlan};
use crate::secret::Secret;
use crate::templates::{Layer, Template};

/// RDS keeps automated backups this many days.
pub const DATABASE_BACKUP_RETENTION_DAYS: u32 = 7;

/// The template parameter that carries an `[upstream]` stack's name:
/// `shared` becomes `UpstreamSharedStackName`.
pub fn upstream_parameter_name(name: &str) -> String {
    let pascal: String = name
        .split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect();
    format!("Upstream{pascal}StackName")
}

/// The zones to use: the named ones, or the first N available ones in order.
pub fn choose_zones(
    stack: &StackConfig,
    region: &str,
    available: &[String],
) -> Result<Vec<String>, InputError> {
    match &stack.network.availability_zones {
        AvailabilityZones::Count(count) => {
            if available.len() < *count {
                return Err(InputError::one(
                    Problem::new(format!(
                        "region {region} has {} available zone(s), the stack asks for {count}",
                        available.len()
                    ))
                    .in_file(&stack.file)
                    .at_key("network.availability_zones")
                    .fix(format!(
                        "set availability_zones = {}",
                        available.len().clamp(2, 3)
                    )),
                ));
            }
            Ok(available[..*count].to_vec())
        }
        AvailabilityZones::Named(names) => {
            let missing: Vec<&String> = names
                .iter()
                .filter(|name| !available.contains(name))
                .collect();
            if !missing.is_empty() {
                return Err(InputError::one(
                    Problem::new(format!(
                        "{} not an available zone of region {region}",
                        missing
                            .iter()
                            .map(|name| format!("\"{name}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                            + if missing.len() == 1 { " is" } else { " are" }
                    ))
                    .in_file(&stack.file)
                    .at_key("network.availability_zones")
                    .fix(format!("choose from {}", available.join(", "))),
                ));
            }
            Ok(names.clone())
        }
    }
}

/// One CloudFormation stack to create or update.
#[derive(Clone, Debug)]
pub struct LayerPlan {
    pub layer: Layer,
    pub stack_name: String,
    pub template: Template,
    pub parameters: Vec<(String, ParameterValue)>,
    pub tags: BTreeMap<String, String>,
}

/// Platform parameters whose values are the network stack's outputs of the
/// same name: the subnet lists. Imported with Fn::ImportValue they could never
/// change (CloudFormation refuses to update an export another stack imports),
/// so a stack could not grow from 2 to 3 zones; passed as parameters, the
/// network updates first and the platform follows with the new lists.
pub const FROM_NETWORK: &[&str] = &["PublicSubnetIds", "PrivateSubnetIds", "DataSubnetIds"];

impl LayerPlan {
    /// Fill the parameters of [`FROM_NETWORK`] from the network stack's
    /// outputs (a stack not created yet leaves a note in their place).
    pub fn fill_from_network(&mut self, network_outputs: Option<&BTreeMap<String, String>>) {
        for (key, value) in &mut self.parameters {
            if FROM_NETWORK.contains(&key.as_str()) {
                *value = match network_outputs.and_then(|outputs| outputs.get(key)) {
                    Some(output) => ParameterValue::Plain(output.clone()),
                    None => ParameterValue::Plain(format!(
                        "(the network stack's output {key}, once it exists)"
                    )),
                };
            }
        }
    }

    /// Give each service the Cloud Map slot the running platform stack
    /// (`current_parameters`) gives it (see `discovery`): bad input when the
    /// template has slots and the stack file more services than slots.
    pub fn keep_discovery_slots(
        &mut self,
        stack: &StackConfig,
        current_parameters: Option<&BTreeMap<String, String>>,
    ) -> Result<(), InputError> {
        let declared = self.template.parameters();
        if !declared.contains_key(&crate::discovery::slot_parameter(0)) {
            return Ok(());
        }
        for (key, value) in crate::discovery::parameters(stack, current_parameters)? {
            if !declared.contains_key(&key) {
                continue;
            }
            match self.parameters.iter_mut().find(|(name, _)| *name == key) {
                Some((_, slot)) => *slot = value,
                None => self.parameters.push((key, value)),
            }
        }
        Ok(())
    }

    /// The template as sent: compact JSON (TemplateBody is limited to 51,200 bytes).
    pub fn template_body(&self) -> String {
        self.template.body.to_string()
    }

    /// Parameters for display: NoEcho ones masked.
    pub fn displayed_parameters(&self) -> BTreeMap<String, String> {
        let declared = self.template.parameters();
        self.parameters
            .iter()
            .map(|(key, value)| {
                let shown = match value {
                    ParameterValue::Secret(_) => "****".to_string(),
                    ParameterValue::Plain(_)
                        if declared.get(key).is_some_and(|info| info.no_echo) =>
                    {
                        "****".to_string()
                    }
                    ParameterValue::Plain(value) => value.clone(),
                };
                (key.clone(), shown)
            })
            .collect()
    }
}

/// The whole plan, shown by `create-stack --dry-run`.
#[derive(Clone, Debug, Serialize)]
pub struct PlanSummary {
    pub stack_id: String,
    pub region: String,
    pub availability_zones: Vec<String>,
    pub subnets: SubnetPlan,
    pub nat: String,
    /// The images of the ECS hosts and the bastion (see `amis`).
    pub amis: Vec<crate::amis::Chosen>,
    pub stacks: Vec<LayerSummary>,
    /// A major engine upgrade this run makes (see `engine_upgrade`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_upgrade: Option<crate::engine_upgrade::EngineUpgrade>,
    /// What the settings add to the bill by the hour (see `costs`).
    pub billed_hourly: crate::costs::Billed,
    /// What a replaced bastion means for known_hosts (see `bastion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bastion_replaced: Option<String>,
    /// What replacing the ECS hosts means for their tasks (see `host_roll`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts_replaced: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerSummary {
    pub layer: &'static str,
    pub stack_name: String,
    pub template: String,
    pub template_sha256: String,
    /// "create", "update", or what blocks it.
    pub action: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// What an update replaces (CloudFormation makes a new one, deletes the old).
    pub replaces: Vec<crate::replacement::Replacement>,
}

/// The tag holding the SHA-256 of the template a stack was last applied with.
pub const TEMPLATE_TAG: &str = "stackup:template-sha256";

fn tags(stack: &StackConfig, template: &Template) -> BTreeMap<String, String> {
    let mut tags = stack.tags.clone();
    tags.insert("stackup:app".into(), stack.app.clone());
    tags.insert("stackup:environment".into(), stack.environment.clone());
    tags.insert("stackup:version".into(), stack.version.to_string());
    tags.insert(TEMPLATE_TAG.into(), template.sha256());
    tags
}

fn plain(value: impl ToString) -> ParameterValue {
    ParameterValue::Plain(value.to_string())
}

/// Keep only the parameters the template declares: a stack file's own template
/// may use fewer than the built-in one.
fn declared_only(
    template: &Template,
    parameters: Vec<(String, ParameterValue)>,
) -> Vec<(String, ParameterValue)> {
    let declared = template.parameters();
    parameters
        .into_iter()
        .filter(|(key, _)| declared.contains_key(key))
        .collect()
}

fn upstream_parameters(stack: &StackConfig) -> Vec<(String, ParameterValue)> {
    stack
        .upstream
        .iter()
        .map(|(name, stack_name)| (upstream_parameter_name(name), plain(stack_name)))
        .collect()
}

pub fn network_layer(stack: &StackConfig, template: Template, subnets: &SubnetPlan) -> LayerPlan {
    let zone = |index: usize| subnets.zones.get(index);
    let mut parameters = vec![
        ("StackId".to_string(), plain(stack.stack_id())),
        ("VpcCidr".to_string(), plain(subnets.vpc)),
        ("AzCount".to_string(), plain(subnets.zones.len())),
        ("NatMode".to_string(), plain(stack.network.nat.as_str())),
        (
            "EnableS3Endpoint".to_string(),
            plain(stack.network.s3_endpoint),
        ),
        // Always with `nat = "none"`: the stack file cannot turn them off then
        // (`endpoints::read_settings`).
        (
            "EnableInterfaceEndpoints".to_string(),
            plain(stack.network.endpoints),
        ),
        ("AppPort".to_string(), plain(stack.load_balancer.port)),
        (
            "DistributionPortMin".to_string(),
            plain(stack.cluster.distribution_ports.0),
        ),
        (
            "DistributionPortMax".to_string(),
            plain(stack.cluster.distribution_ports.1),
        ),
    ];
    for index in 0..3 {
        let number = index + 1;
        let (name, public, private, data) = match zone(index) {
            Some(zone) => (
                zone.availability_zone.clone(),
                zone.public.to_string(),
                zone.private.to_string(),
                zone.data.to_string(),
            ),
            None => Default::default(),
        };
        parameters.push((format!("AvailabilityZone{number}"), plain(name)));
        parameters.push((format!("PublicSubnet{number}Cidr"), plain(public)));
        parameters.push((format!("PrivateSubnet{number}Cidr"), plain(private)));
        parameters.push((format!("DataSubnet{number}Cidr"), plain(data)));
    }
    for index in 0..crate::config::MAX_BASTION_INGRESS {
        let value = stack
            .network
            .bastion_ingress
            .get(index)
            .map(|cidr| cidr.to_string())
            .unwrap_or_default();
        parameters.push((format!("BastionIngressCidr{}", index + 1), plain(value)));
    }
    parameters.extend(upstream_parameters(stack));
    LayerPlan {
        layer: Layer::Network,
        stack_name: stack.network_stack_name(),
        tags: tags(stack, &template),
        parameters: declared_only(&template, parameters),
        template,
    }
}

pub fn platform_layer(
    stack: &StackConfig,
    template: Template,
    zone_count: usize,
    master_password: Secret,
    amis: &[crate::amis::Chosen],
) -> LayerPlan {
    let database = &stack.database;
    let mut parameters: Vec<(String, ParameterValue)> = crate::amis::Role::ALL
        .iter()
        .zip(amis)
        .map(|(role, chosen)| (role.template_parameter().to_string(), plain(&chosen.ami)))
        .collect();
    parameters.extend(vec![
        ("StackId".to_string(), plain(stack.stack_id())),
        (
            "NetworkStackName".to_string(),
            plain(stack.network_stack_name()),
        ),
        ("AzCount".to_string(), plain(zone_count)),
        (
            "ClusterInstanceType".to_string(),
            plain(&stack.cluster.instance_type),
        ),
        ("ClusterHosts".to_string(), plain(stack.cluster.hosts)),
        (
            "ClusterMaxHosts".to_string(),
            plain(stack.cluster.max_hosts.max(2)),
        ),
        (
            "BastionInstanceType".to_string(),
            plain(&stack.bastion.instance_type),
        ),
        (
            "BastionKeyName".to_string(),
            plain(stack.bastion.key_name.clone().unwrap_or_default()),
        ),
        (
            "DatabaseInstanceClass".to_string(),
            plain(&database.instance_class),
        ),
        (
            "DatabaseEngineVersion".to_string(),
            plain(&database.engine_version),
        ),
        (
            "DatabaseParameterFamily".to_string(),
            plain(database.parameter_family()),
        ),
        // "true" only for the run that changes the major version
        // (`engine_upgrade::allow_for_this_run`).
        (
            "DatabaseAllowMajorVersionUpgrade".to_string(),
            plain("false"),
        ),
        (
            "DatabaseAllocatedStorage".to_string(),
            plain(database.allocated_storage),
        ),
        ("DatabaseMultiAz".to_string(), plain(database.multi_az)),
        (
            "DatabaseDeletionProtection".to_string(),
            plain(database.deletion_protection),
        ),
        (
            "DatabaseMasterUsername".to_string(),
            plain(&database.master_user),
        ),
        // Only for a stack file's own template that still declares it: the
        // built-in one reads the password with a dynamic reference
        // (`{{resolve:ssm-secure:...}}`), so it never passes as a parameter.
        (
            "DatabaseMasterPassword".to_string(),
            ParameterValue::Secret(master_password),
        ),
        (
            "DeployTrustedPrincipals".to_string(),
            plain(stack.deploy.trusted_principals.join(",")),
        ),
        // The images stack's repositories (`<app>-<environment>/...`): what
        // the deploy role may push to and the tasks may pull from.
        (
            "ImagesStackId".to_string(),
            plain(crate::images::images_stack_id(stack)),
        ),
        (
            "DatabaseBackupRetentionDays".to_string(),
            plain(database.backup_retention_days),
        ),
        (
            "DatabaseMaxAllocatedStorage".to_string(),
            plain(database.max_allocated_storage.unwrap_or(0)),
        ),
        (
            "HealthCheckHttpCodes".to_string(),
            plain(&stack.load_balancer.healthy_codes),
        ),
        (
            "CertificateArn".to_string(),
            plain(
                stack
                    .load_balancer
                    .certificate_arn
                    .clone()
                    .unwrap_or_default(),
            ),
        ),
        (
            "LogRetentionDays".to_string(),
            plain(stack.logs.retention_days),
        ),
        ("AppPort".to_string(), plain(stack.load_balancer.port)),
        (
            "HealthCheckPath".to_string(),
            plain(&stack.load_balancer.health_check_path),
        ),
    ]);
    parameters.extend(FROM_NETWORK.iter().map(|key| (key.to_string(), plain(""))));
    // Cloud Map slots in name order; `keep_discovery_slots` keeps a running
    // stack's (and refuses more services than slots).
    parameters.extend(crate::discovery::parameters(stack, None).unwrap_or_default());
    parameters.extend(upstream_parameters(stack));
    LayerPlan {
        layer: Layer::Platform,
        stack_name: stack.platform_stack_name(),
        tags: tags(stack, &template),
        parameters: declared_only(&template, parameters),
        template,
    }
}

/// The subnet plan, with the stack file named in errors.
pub fn subnet_plan(stack: &StackConfig, zones: &[String]) -> Result<SubnetPlan, InputError> {
    network::plan(stack.network.cidr, zones).map_err(|error| {
        InputError::one(
            Problem::new(error.to_string())
                .in_file(&stack.file)
                .at_key("network.cidr"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_names_become_parameters() {
        assert_eq!(upstream_parameter_name("shared"), "UpstreamSharedStackName");
        assert_eq!(
            upstream_parameter_name("org-dns"),
            "UpstreamOrgDnsStackName"
        );
    }
}
