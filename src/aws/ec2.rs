//! EC2: availability zones.

use aws_sdk_ec2::types::Filter;
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
