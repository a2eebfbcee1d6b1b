//! `[tags]`, `[network]` and `[upstream]`.

use super::*;

pub(super) fn read_tags(root: &TableReader) -> Option<BTreeMap<String, String>> {
    let Some(table) = root.table("tags") else {
        return if root.has("tags") {
            None
        } else {
            Some(BTreeMap::new())
        };
    };
    let mut tags = BTreeMap::new();
    let mut ok = true;
    for (key, value) in table.named_strings("\"value\"") {
        let lowered = key.value.to_ascii_lowercase();
        if lowered.starts_with("aws:") || lowered.starts_with("stackup:") {
            table.diagnostics().report(
                Some(&key.span),
                &table.key_path(&key.value),
                "tag keys starting with aws: or stackup: are reserved",
                Some("rename the tag".to_string()),
            );
            ok = false;
        } else if key.value.len() > 128 || value.value.len() > 256 {
            table.diagnostics().report(
                Some(&key.span),
                &table.key_path(&key.value),
                "AWS tags are limited to 128 characters of key and 256 of value",
                Some("shorten it".to_string()),
            );
            ok = false;
        } else {
            tags.insert(key.value, value.value);
        }
    }
    ok.then_some(tags)
}

pub(super) fn read_network(root: &TableReader, region: Option<&str>) -> Option<NetworkConfig> {
    let Some(table) = root.table("network") else {
        if !root.has("network") {
            root.missing_table(
                "network",
                "cidr = \"10.20.0.0/16\"\n    bastion_ingress = [\"203.0.113.7/32\"]",
            );
        }
        return None;
    };
    let diagnostics = table.diagnostics();
    let cidr = match table.required_string("cidr", "\"10.20.0.0/16\"") {
        Some(found) => read_cidr(&table, table.key_path("cidr"), &found).and_then(|cidr| {
            match network::check_vpc_cidr(cidr) {
                Ok(()) => Some(cidr),
                Err(error) => {
                    diagnostics.report(
                        Some(&found.span),
                        "network.cidr",
                        error.to_string(),
                        Some(format!(
                            "use a prefix from /{} to /{}, for example \"10.20.0.0/16\"",
                            network::LARGEST_VPC_PREFIX,
                            network::SMALLEST_VPC_PREFIX
                        )),
                    );
                    None
                }
            }
        }),
        None => None,
    };

    let availability_zones = match table.value("availability_zones") {
        None => Some(AvailabilityZones::Count(2)),
        Some(value) if value.get_ref().is_integer() => table
            .integer("availability_zones", 2..4, "2")
            .map(|found| AvailabilityZones::Count(found.value as usize)),
        Some(value) if value.get_ref().is_array() => {
            let names =
                table.string_array("availability_zones", "[\"us-east-1a\", \"us-east-1b\"]")?;
            let mut zones = Vec::new();
            let mut ok = true;
            for name in &names.value {
                let in_region = region.is_none_or(|region| {
                    name.value.starts_with(region) && name.value.len() > region.len()
                });
                if !in_region {
                    diagnostics.report(
                        Some(&name.span),
                        "network.availability_zones",
                        format!(
                            "\"{}\" is not an availability zone of region {}",
                            name.value,
                            region.unwrap_or("?")
                        ),
                        Some("list zones of the stack's region, such as \"us-east-1a\", or give a count: availability_zones = 2".to_string()),
                    );
                    ok = false;
                } else if zones.contains(&name.value) {
                    diagnostics.report(
                        Some(&name.span),
                        "network.availability_zones",
                        format!("\"{}\" is listed twice", name.value),
                        Some("list each zone once".to_string()),
                    );
                    ok = false;
                } else {
                    zones.push(name.value.clone());
                }
            }
            if ok && !(2..=3).contains(&zones.len()) {
                diagnostics.report(
                    Some(&names.span),
                    "network.availability_zones",
                    format!(
                        "{} listed: a stack uses 2 or 3 zones",
                        if zones.len() == 1 {
                            "only 1 zone".to_string()
                        } else {
                            format!("{} zones", zones.len())
                        }
                    ),
                    Some("list 2 or 3 zones, or give a count: availability_zones = 2".to_string()),
                );
                ok = false;
            }
            ok.then_some(AvailabilityZones::Named(zones))
        }
        Some(value) => {
            diagnostics.report(
                Some(&value.span()),
                "network.availability_zones",
                "expected a count (2 or 3) or a list of zone names",
                Some("write availability_zones = 2, or availability_zones = [\"us-east-1a\", \"us-east-1b\"]".to_string()),
            );
            None
        }
    };

    let nat = read_choice(
        &table,
        "nat",
        &[
            ("none", NatMode::None),
            ("single", NatMode::Single),
            ("per-az", NatMode::PerAz),
        ],
        NatMode::Single,
    );
    let allow_anywhere = table
        .boolean("allow_bastion_from_anywhere")
        .map(|found| found.value)
        .unwrap_or(false);
    let bastion_ingress = match table.string_array("bastion_ingress", "[\"203.0.113.7/32\"]") {
        None => {
            if !table.has("bastion_ingress") {
                table.missing("bastion_ingress", "[\"203.0.113.7/32\"]");
            }
            None
        }
        Some(list) => {
            let mut cidrs = Vec::new();
            let mut ok = true;
            for (index, entry) in list.value.iter().enumerate() {
                let key = format!("network.bastion_ingress[{index}]");
                match read_cidr(&table, key.clone(), entry) {
                    Some(cidr) if cidr.prefix_len() == 0 && !allow_anywhere => {
                        diagnostics.report(
                            Some(&entry.span),
                            &key,
                            "opens SSH on the bastion to the whole internet",
                            Some("list the addresses that need SSH, such as your office's \"203.0.113.7/32\", or set allow_bastion_from_anywhere = true in [network] if you really mean it".to_string()),
                        );
                        ok = false;
                    }
                    Some(cidr) => cidrs.push(cidr),
                    None => ok = false,
                }
            }
            // Halves (or any pieces) that add up to every address are the whole internet too.
            let covers_everything = Ipv4Net::aggregate(&cidrs)
                .iter()
                .any(|merged| merged.prefix_len() == 0);
            if ok && covers_everything && !allow_anywhere {
                diagnostics.report(
                    Some(&list.span),
                    "network.bastion_ingress",
                    format!(
                        "{} together cover every IPv4 address: SSH on the bastion would be open to the whole internet",
                        cidrs
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some("list the addresses that need SSH, such as your office's \"203.0.113.7/32\", or set allow_bastion_from_anywhere = true in [network] if you really mean it".to_string()),
                );
                ok = false;
            }
            if ok && cidrs.is_empty() {
                diagnostics.report(
                    Some(&list.span),
                    "network.bastion_ingress",
                    "is empty: nobody could reach the bastion",
                    Some(
                        "list the addresses that need SSH, such as [\"203.0.113.7/32\"]"
                            .to_string(),
                    ),
                );
                ok = false;
            }
            if ok && cidrs.len() > MAX_BASTION_INGRESS {
                diagnostics.report(
                    Some(&list.span),
                    "network.bastion_ingress",
                    format!(
                        "{} entries: at most {MAX_BASTION_INGRESS} are supported",
                        cidrs.len()
                    ),
                    Some("merge neighbouring addresses into wider CIDRs".to_string()),
                );
                ok = false;
            }
            ok.then_some(cidrs)
        }
    };
    let (s3_endpoint, endpoints) = crate::endpoints::read_settings(&table, nat);
    table.finish();
    Some(NetworkConfig {
        cidr: cidr?,
        availability_zones: availability_zones?,
        nat: nat?,
        bastion_ingress: bastion_ingress?,
        s3_endpoint: s3_endpoint?,
        endpoints: endpoints?,
    })
}

/// The network template has one parameter per bastion ingress CIDR.
pub const MAX_BASTION_INGRESS: usize = 6;

/// `[upstream]`: each key becomes the template parameter
/// `Upstream<Key>StackName` (see [`crate::stacks::upstream_parameter_name`]);
/// the values are stack names. Returns each stack name with its key's line.
pub(super) fn read_upstream(root: &TableReader) -> Option<BTreeMap<String, (String, usize)>> {
    let Some(table) = root.table("upstream") else {
        return if root.has("upstream") {
            None
        } else {
            Some(BTreeMap::new())
        };
    };
    let mut upstream = BTreeMap::new();
    // parameter name -> the key that first gave it
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    let mut ok = true;
    for (key, value) in table.named_strings("\"org-shared-v1\"") {
        let valid_key = key
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && key
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_key {
            table.diagnostics().report(
                Some(&key.span),
                &table.key_path(&key.value),
                format!(
                    "\"{}\" cannot name a template parameter",
                    key.value.escape_debug()
                ),
                Some(
                    "name the upstream entry with letters, digits, - and _, starting with a letter, such as shared"
                        .to_string(),
                ),
            );
            ok = false;
            continue;
        }
        let parameter = crate::stacks::upstream_parameter_name(&key.value);
        if let Some(first) = parameters.get(&parameter) {
            table.diagnostics().report(
                Some(&key.span),
                &table.key_path(&key.value),
                format!(
                    "upstream.{first} and upstream.{} both become the template parameter {parameter}",
                    key.value
                ),
                Some(format!(
                    "keep one of upstream.{first} and upstream.{}, or rename one",
                    key.value
                )),
            );
            ok = false;
            continue;
        }
        parameters.insert(parameter, key.value.clone());
        let valid_stack_name = value
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && value
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && value.value.len() <= 128;
        if !valid_stack_name {
            table.diagnostics().report(
                Some(&value.span),
                &table.key_path(&key.value),
                format!("\"{}\" is not a CloudFormation stack name", value.value),
                Some("give the upstream stack's name: letters, digits and hyphens, starting with a letter".to_string()),
            );
            ok = false;
        } else {
            let line = table.diagnostics().source().line_of(key.span.start);
            upstream.insert(key.value, (value.value, line));
        }
    }
    ok.then_some(upstream)
}
