//! The subnet plan: one public, one private and one data subnet per AZ.
//!
//! CloudFormation's `Fn::Cidr` is not used (README, "Subnet plan"): the plan is computed
//! here so that `create-stack --dry-run` can show it and tests can check it.
//!
//! For a VPC of prefix /P the plan is:
//! - private subnets (where hosts and awsvpc tasks take their addresses) are the
//!   first three quarters, /P+2 each, one per AZ;
//! - the last quarter is cut into eight /P+5 blocks: blocks 0-2 are the public
//!   subnets, blocks 4-6 the data subnets.
//!
//! Room for three AZs is always kept, so going from two AZs to three adds
//! subnets without moving the existing ones, and the same input always gives
//! the same plan.

use std::fmt;

use ipnet::Ipv4Net;
use serde::Serialize;

/// The largest VPC AWS allows.
pub const LARGEST_VPC_PREFIX: u8 = 16;
/// The smallest VPC that still gives every tier enough addresses.
pub const SMALLEST_VPC_PREFIX: u8 = 22;
/// AWS keeps five addresses of every subnet for itself.
const ADDRESSES_RESERVED_BY_AWS: u64 = 5;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneSubnets {
    pub availability_zone: String,
    pub public: Ipv4Net,
    pub private: Ipv4Net,
    pub data: Ipv4Net,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubnetPlan {
    pub vpc: Ipv4Net,
    pub zones: Vec<ZoneSubnets>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    HostBitsSet { given: Ipv4Net, network: Ipv4Net },
    TooLarge { given: Ipv4Net },
    TooSmall { given: Ipv4Net },
    ZoneCount { count: usize },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::HostBitsSet { given, network } => write!(
                f,
                "{given} is not a network address (host bits are set); the network is {network}"
            ),
            PlanError::TooLarge { given } => write!(
                f,
                "{given} is larger than AWS allows for a VPC (/{LARGEST_VPC_PREFIX} at most)"
            ),
            PlanError::TooSmall { given } => write!(
                f,
                "{given} is too small: a VPC needs at least /{SMALLEST_VPC_PREFIX} so that each \
                 public and data subnet has {} usable addresses and each private subnet {}",
                usable_addresses(SMALLEST_VPC_PREFIX + 5),
                usable_addresses(SMALLEST_VPC_PREFIX + 2),
            ),
            PlanError::ZoneCount { count } => {
                write!(f, "{count} availability zones: the plan needs 2 or 3")
            }
        }
    }
}

impl std::error::Error for PlanError {}

fn usable_addresses(prefix: u8) -> u64 {
    (1u64 << (32 - u32::from(prefix))) - ADDRESSES_RESERVED_BY_AWS
}

/// Check a VPC CIDR on its own (before the AZs are known).
pub fn check_vpc_cidr(vpc: Ipv4Net) -> Result<(), PlanError> {
    if vpc.trunc() != vpc {
        return Err(PlanError::HostBitsSet {
            given: vpc,
            network: vpc.trunc(),
        });
    }
    if vpc.prefix_len() < LARGEST_VPC_PREFIX {
        return Err(PlanError::TooLarge { given: vpc });
    }
    if vpc.prefix_len() > SMALLEST_VPC_PREFIX {
        return Err(PlanError::TooSmall { given: vpc });
    }
    Ok(())
}

/// The plan for `vpc` over the given zones (2 or 3, in order).
pub fn plan(vpc: Ipv4Net, zones: &[String]) -> Result<SubnetPlan, PlanError> {
    check_vpc_cidr(vpc)?;
    if !(2..=3).contains(&zones.len()) {
        return Err(PlanError::ZoneCount { count: zones.len() });
    }
    let prefix = vpc.prefix_len();
    let quarters: Vec<Ipv4Net> = subnets(vpc, prefix + 2);
    let small_blocks: Vec<Ipv4Net> = subnets(quarters[3], prefix + 5);
    let zones = zones
        .iter()
        .enumerate()
        .map(|(index, zone)| ZoneSubnets {
            availability_zone: zone.clone(),
            public: small_blocks[index],
            private: quarters[index],
            data: small_blocks[4 + index],
        })
        .collect();
    Ok(SubnetPlan { vpc, zones })
}

fn subnets(network: Ipv4Net, prefix: u8) -> Vec<Ipv4Net> {
    // The prefixes are checked above, so this cannot fail; an empty list would
    // only mean a bug in the checks.
    network
        .subnets(prefix)
        .map(|iterator| iterator.collect())
        .unwrap_or_default()
}

impl SubnetPlan {
    /// Every subnet with its tier and AZ, for display.
    pub fn rows(&self) -> Vec<(&'static str, &str, Ipv4Net)> {
        let mut rows = Vec::new();
        for (tier, pick) in [
            (
                "public",
                (|zone: &ZoneSubnets| zone.public) as fn(&ZoneSubnets) -> Ipv4Net,
            ),
            ("private", |zone: &ZoneSubnets| zone.private),
            ("data", |zone: &ZoneSubnets| zone.data),
        ] {
            for zone in &self.zones {
                rows.push((tier, zone.availability_zone.as_str(), pick(zone)));
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(count: usize) -> Vec<String> {
        ["us-east-1a", "us-east-1b", "us-east-1c"][..count]
            .iter()
            .map(|zone| zone.to_string())
            .collect()
    }

    fn net(text: &str) -> Ipv4Net {
        text.parse().expect("test CIDR")
    }

    #[test]
    fn plan_for_a_slash_16_over_two_zones() {
        let plan = plan(net("10.20.0.0/16"), &zones(2)).expect("plans");
        assert_eq!(plan.zones[0].private, net("10.20.0.0/18"));
        assert_eq!(plan.zones[1].private, net("10.20.64.0/18"));
        assert_eq!(plan.zones[0].public, net("10.20.192.0/21"));
        assert_eq!(plan.zones[1].public, net("10.20.200.0/21"));
        assert_eq!(plan.zones[0].data, net("10.20.224.0/21"));
        assert_eq!(plan.zones[1].data, net("10.20.232.0/21"));
    }

    #[test]
    fn adding_a_third_zone_keeps_existing_subnets() {
        let two = plan(net("10.0.0.0/20"), &zones(2)).expect("plans");
        let three = plan(net("10.0.0.0/20"), &zones(3)).expect("plans");
        assert_eq!(two.zones[..], three.zones[..2]);
    }

    #[test]
    fn subnets_never_overlap_and_stay_inside_the_vpc() {
        for prefix in LARGEST_VPC_PREFIX..=SMALLEST_VPC_PREFIX {
            let vpc = Ipv4Net::new([172, 16, 0, 0].into(), prefix)
                .expect("valid")
                .trunc();
            let plan = plan(vpc, &zones(3)).expect("plans");
            let all: Vec<Ipv4Net> = plan.rows().into_iter().map(|(_, _, net)| net).collect();
            assert_eq!(all.len(), 9);
            for (index, subnet) in all.iter().enumerate() {
                assert!(vpc.contains(subnet), "{subnet} outside {vpc}");
                assert!(usable_addresses(subnet.prefix_len()) >= 27);
                for other in &all[index + 1..] {
                    assert!(
                        !subnet.contains(other) && !other.contains(subnet),
                        "{subnet} overlaps {other}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_vpcs_are_explained() {
        assert_eq!(
            check_vpc_cidr(net("10.20.0.1/16")),
            Err(PlanError::HostBitsSet {
                given: net("10.20.0.1/16"),
                network: net("10.20.0.0/16")
            })
        );
        assert!(matches!(
            check_vpc_cidr(net("10.0.0.0/8")),
            Err(PlanError::TooLarge { .. })
        ));
        assert!(matches!(
            check_vpc_cidr(net("10.0.0.0/24")),
            Err(PlanError::TooSmall { .. })
        ));
        assert!(matches!(
            plan(net("10.0.0.0/16"), &zones(1)),
            Err(PlanError::ZoneCount { count: 1 })
        ));
    }
}
