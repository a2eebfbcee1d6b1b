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
