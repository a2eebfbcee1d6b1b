//! EC2: availability zones, instances.

use std::time::SystemTime;

use aws_sdk_ec2::types::{Filter, Instance};
use aws_sdk_ec2::Client;

use super::errors::AwsResultExt;

/// The region's available availability zones (not local or wavelength zones), by name.
pub async fn available_zones(client: &Client) -> anyhow::Result<Vec<String>> {
    let output = client
        .describe_availability_zones()
        .filters(Filter::builder().name("state").values("available").build())
        .send()
        .await
        .aws_context(|| "listing availability zones")?;
    let mut zones: Vec<String> = output
        .availability_zones()
        .iter()
        .filter(|zone| {
            zone.zone_type()
                .is_none_or(|kind| kind == "availability-zone")
        })
        .filter_map(|zone| zone.zone_name().map(str::to_string))
        .collect();
    zones.sort();
    Ok(zones)
}

/// The EC2 instances with these ids (none asked, no call made). Ids that no
/// longer exist are left out.
pub async fn describe_instances(
    client: &Client,
    instance_ids: &[String],
) -> anyhow::Result<Vec<aws_sdk_ec2::types::Instance>> {
    let is_not_found =
        |error: &anyhow::Error| super::errors::class_of(error) == Some(super::ErrorClass::NotFound);
    let mut instances = Vec::new();
    // Requests stay well under the limit of 1000 ids.
    for chunk in instance_ids.chunks(200) {
        match describe_instance_ids(client, chunk).await {
            Ok(found) => instances.extend(found),
            // One unknown id fails the whole request: ask for each on its own.
            Err(error) if is_not_found(&error) => {
                for id in chunk {
                    match describe_instance_ids(client, std::slice::from_ref(id)).await {
                        Ok(found) => instances.extend(found),
                        Err(error) if is_not_found(&error) => {}
                        Err(error) => return Err(error),
                    }
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok(instances)
}

/// An EC2 instance as plain values, for callers that only read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceInfo {
    pub instance_id: Option<String>,
    pub availability_zone: Option<String>,
    pub instance_type: Option<String>,
    /// pending, running, stopping, ...
    pub state: Option<String>,
    pub launch_time: Option<SystemTime>,
}

impl From<&Instance> for InstanceInfo {
    fn from(instance: &Instance) -> Self {
        InstanceInfo {
            instance_id: instance.instance_id().map(str::to_string),
            availability_zone: instance
                .placement()
                .and_then(|placement| placement.availability_zone())
                .map(str::to_string),
            instance_type: instance
                .instance_type()
                .map(|kind| kind.as_str().to_string()),
            state: instance
                .state()
                .and_then(|state| state.name())
                .map(|name| name.as_str().to_string()),
            launch_time: instance
                .launch_time()
                .and_then(|time| SystemTime::try_from(*time).ok()),
        }
    }
}

/// [`describe_instances`], as plain values.
pub async fn instances(
    client: &Client,
    instance_ids: &[String],
) -> anyhow::Result<Vec<InstanceInfo>> {
    let instances = describe_instances(client, instance_ids).await?;
    Ok(instances.iter().map(InstanceInfo::from).collect())
}

async fn describe_instance_ids(
    client: &Client,
    instance_ids: &[String],
) -> anyhow::Result<Vec<aws_sdk_ec2::types::Instance>> {
    let mut instances = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let output = client
            .describe_instances()
            .set_instance_ids(Some(instance_ids.to_vec()))
            .set_next_token(next_token.clone())
            .send()
            .await
            .aws_context(|| format!("describing EC2 instances {}", instance_ids.join(", ")))?;
        instances.extend(
            output
                .reservations()
                .iter()
                .flat_map(|reservation| reservation.instances())
                .cloned(),
        );
        next_token = output.next_token().map(str::to_string);
        if next_token.is_none() {
            return Ok(instances);
        }
    }
}

/// The private IPv4 address of an instance.
pub async fn private_ip(client: &Client, instance: &str) -> anyhow::Result<Option<String>> {
    let output = client
        .describe_instances()
        .instance_ids(instance)
        .send()
        .await
        .aws_context(|| format!("describing instance {instance}"))?;
    Ok(output
        .reservations()
        .iter()
        .flat_map(|reservation| reservation.instances())
        .find_map(|found| found.private_ip_address().map(str::to_string)))
}
