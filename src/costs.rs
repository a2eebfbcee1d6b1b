//! What a stack's settings add to the bill by the hour, counted for the plan
//! (`create-stack --dry-run`): NAT gateways, interface endpoints (billed per
//! endpoint per zone), a Multi-AZ database (a standby instance and its
//! storage) and public IPv4 addresses (Elastic IPs: the bastion's and one per
//! NAT gateway). The README's "What it costs" gives the prices; this only
//! counts, so that the plan says what a setting turns on. Counted for the
//! built-in templates.

use serde::Serialize;

use crate::config::{NatMode, StackConfig};

/// The hourly-billed resources a stack's settings create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Billed {
    pub nat_gateways: usize,
    /// Interface endpoints, each billed once per zone it has an interface in.
    pub interface_endpoints: usize,
    pub zones: usize,
    pub multi_az_databases: usize,
    /// Elastic IPs (public IPv4 addresses, billed hourly since February 2024).
    pub elastic_ips: usize,
}

/// The bastion's Elastic IP (its stable address).
const BASTION_ELASTIC_IPS: usize = 1;

pub fn count(stack: &StackConfig, zones: usize) -> Billed {
    let nat_gateways = match stack.network.nat {
        NatMode::None => 0,
        NatMode::Single => 1,
        NatMode::PerAz => zones,
    };
    Billed {
        nat_gateways,
        interface_endpoints: if stack.network.endpoints {
            crate::endpoints::INTERFACE_SERVICES.len()
        } else {
            0
        },
        zones,
        multi_az_databases: usize::from(stack.database.multi_az),
        // Each NAT gateway has an Elastic IP of its own.
        elastic_ips: BASTION_ELASTIC_IPS + nat_gateways,
    }
}

fn counted(count: usize, one: &str, many: &str) -> Option<String> {
    match count {
        0 => None,
        1 => Some(format!("1 {one}")),
        _ => Some(format!("{count} {many}")),
    }
}

impl Billed {
    /// `billed hourly: 1 NAT gateway, 9 interface endpoints x 2 AZs, 2 Elastic IPs`.
    pub fn line(&self) -> String {
        let endpoints = counted(
            self.interface_endpoints,
            "interface endpoint",
            "interface endpoints",
        )
        .map(|endpoints| format!("{endpoints} x {} AZs", self.zones));
        let items: Vec<String> = [
            counted(self.nat_gateways, "NAT gateway", "NAT gateways"),
            endpoints,
            counted(
                self.multi_az_databases,
                "Multi-AZ database",
                "Multi-AZ databases",
            ),
            counted(self.elastic_ips, "Elastic IP", "Elastic IPs"),
        ]
        .into_iter()
        .flatten()
        .collect();
        format!(
            "billed hourly besides the instances: {} (prices: README, \"What it costs\")",
            if items.is_empty() {
                "nothing".to_string()
            } else {
                items.join(", ")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(nat: NatMode, endpoints: bool, multi_az: bool) -> StackConfig {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut stack = crate::config::load(dir, "local").expect("stacks/local.toml");
        stack.network.nat = nat;
        stack.network.endpoints = endpoints;
        stack.database.multi_az = multi_az;
        stack
    }

    #[test]
    fn each_setting_that_bills_by_the_hour_is_counted() {
        // One NAT gateway with its address, and the bastion's.
        let single = count(&stack(NatMode::Single, false, false), 2);
        assert_eq!(
            single,
            Billed {
                nat_gateways: 1,
                interface_endpoints: 0,
                zones: 2,
                multi_az_databases: 0,
                elastic_ips: 2,
            }
        );
        assert_eq!(
            single.line(),
            "billed hourly besides the instances: 1 NAT gateway, 2 Elastic IPs (prices: README, \"What it costs\")"
        );

        // A NAT gateway per zone, the endpoints on request, a standby database.
        let per_az = count(&stack(NatMode::PerAz, true, true), 3);
        assert_eq!(
            per_az.line(),
            "billed hourly besides the instances: 3 NAT gateways, 9 interface endpoints x 3 AZs, 1 Multi-AZ database, 4 Elastic IPs (prices: README, \"What it costs\")"
        );

        // No NAT: the endpoints instead, and only the bastion's address.
        let without_nat = count(&stack(NatMode::None, true, false), 2);
        assert_eq!(
            without_nat.line(),
            "billed hourly besides the instances: 9 interface endpoints x 2 AZs, 1 Elastic IP (prices: README, \"What it costs\")"
        );
    }
}
