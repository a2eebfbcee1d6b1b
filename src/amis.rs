//! The machine images of the ECS hosts and the bastion, chosen by stackup and
//! kept until asked for newer ones.
//!
//! A template parameter of type `AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>`
//! is resolved again at every update (CloudFormation user guide, "Systems
//! Manager parameter types"): each create-stack run after AWS publishes a new
//! AMI would replace the bastion (new address, new host key: tunnel and console
//! then refuse it) and roll the ECS hosts. So stackup reads AWS's public AMI
//! parameters itself, passes plain image ids, shows them in the plan, and keeps
//! the ids a stack runs until `--refresh-amis` (or an instance type of another
//! architecture) asks for others.

use std::collections::BTreeMap;

/// The CPU architecture an instance type runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// The architecture of an EC2 instance type: Graviton families carry a `g`
/// right after their generation (`t4g`, `m7g`, `c6gn`, `x2gd`, `im4gn`,
/// `g5g`), and `a1` is the first Graviton (EC2 user guide, "Instance type
/// naming conventions"); every other family is x86_64 (`g5` is an x86 GPU
/// family: its `g` is the series, before the generation).
pub fn architecture_of(instance_type: &str) -> Architecture {
    let family = instance_type.split('.').next().unwrap_or_default();
    if family == "a1" {
        return Architecture::Arm64;
    }
    let series_end = family
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(family.len());
    let after_generation = family[series_end..].trim_start_matches(|c: char| c.is_ascii_digit());
    if after_generation.starts_with('g') {
        Architecture::Arm64
    } else {
        Architecture::X86_64
    }
}

/// The two images a platform stack runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The ECS hosts: the ECS-optimised Amazon Linux 2023.
    Hosts,
    Bastion,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Hosts, Role::Bastion];

    /// The platform template's parameter that takes the image id.
    pub fn template_parameter(self) -> &'static str {
        match self {
            Role::Hosts => "EcsAmiId",
            Role::Bastion => "BastionAmiId",
        }
    }

    /// The template parameter holding the instance type the image runs on.
    pub fn instance_type_parameter(self) -> &'static str {
        match self {
            Role::Hosts => "ClusterInstanceType",
            Role::Bastion => "BastionInstanceType",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Hosts => "ECS hosts",
            Role::Bastion => "bastion",
        }
    }

    /// AWS's public SSM parameter naming the newest image for `architecture`
    /// (ECS developer guide, "Retrieving Amazon ECS-optimized Linux AMI
    /// metadata"; EC2 user guide, "Query for the latest Amazon Linux AMI IDs").
    pub fn public_parameter(self, architecture: Architecture) -> &'static str {
        match (self, architecture) {
            (Role::Hosts, Architecture::X86_64) => {
                "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
            }
            (Role::Hosts, Architecture::Arm64) => {
                "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
            }
            (Role::Bastion, Architecture::X86_64) => {
                "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
            }
            (Role::Bastion, Architecture::Arm64) => {
                "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
            }
        }
    }
}

/// What the plan does with one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The image the stack runs, kept.
    Keep(String),
    /// The newest image, read from AWS's public parameter: for a new stack,
    /// `--refresh-amis`, or an instance type of another architecture.
    Newest {
        parameter: &'static str,
        why: &'static str,
    },
}

/// Keep the image the stack runs unless a refresh is asked for or the
/// instance type moves to another architecture (`current` holds the platform
/// stack's parameters, when it exists).
pub fn choose(
    role: Role,
    instance_type: &str,
    current: Option<&BTreeMap<String, String>>,
    refresh: bool,
) -> Choice {
    let architecture = architecture_of(instance_type);
    let newest = |why| Choice::Newest {
        parameter: role.public_parameter(architecture),
        why,
    };
    let Some(current) = current else {
        return newest("a new stack");
    };
    let running = current
        .get(role.template_parameter())
        .filter(|value| value.starts_with("ami-"));
    let running_architecture = current
        .get(role.instance_type_parameter())
        .map(|instance_type| architecture_of(instance_type));
    match running {
        _ if refresh => newest("--refresh-amis"),
        // Before stackup chose images, the stack resolved a public parameter.
        None => newest("the stack followed AWS's newest image until now"),
        Some(_) if running_architecture != Some(architecture) => {
            newest("the instance type's architecture changes")
        }
        Some(ami) => Choice::Keep(ami.clone()),
    }
}

/// One image as the plan shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Chosen {
    pub role: &'static str,
    pub architecture: &'static str,
    pub ami: String,
    /// "kept", or where the newest came from and why.
    pub source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graviton_types_are_arm64() {
        for arm in [
            "t4g.small",
            "m7g.large",
            "c7g.xlarge",
            "c6gn.large",
            "x2gd.medium",
            "im4gn.large",
            "g5g.xlarge",
            "a1.medium",
            "m8g.large",
            "r7gd.large",
            "hpc7g.4xlarge",
        ] {
            assert_eq!(architecture_of(arm), Architecture::Arm64, "{arm}");
        }
        for x86 in [
            "t3.small",
            "m5.large",
            "c5n.large",
            "g5.xlarge",
            "m7i.large",
            "m6a.large",
            "inf2.xlarge",
            "t2.micro",
            "mac2.metal",
        ] {
            assert_eq!(architecture_of(x86), Architecture::X86_64, "{x86}");
        }
    }

    #[test]
    fn an_image_is_kept_until_asked_or_the_architecture_changes() {
        let running: BTreeMap<String, String> = [
            ("EcsAmiId", "ami-0123456789abcdef0"),
            ("ClusterInstanceType", "t3.small"),
            (
                "BastionAmiId",
                "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
            ),
            ("BastionInstanceType", "t3.micro"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        assert_eq!(
            choose(Role::Hosts, "t3.large", Some(&running), false),
            Choice::Keep("ami-0123456789abcdef0".into())
        );
        assert!(matches!(
            choose(Role::Hosts, "t3.small", Some(&running), true),
            Choice::Newest {
                why: "--refresh-amis",
                ..
            }
        ));
        assert_eq!(
            choose(Role::Hosts, "t4g.small", Some(&running), false),
            Choice::Newest {
                parameter:
                    "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
                why: "the instance type's architecture changes"
            }
        );
        // A stack made before stackup chose images held the public parameter.
        assert!(matches!(
            choose(Role::Bastion, "t3.micro", Some(&running), false),
            Choice::Newest {
                why: "the stack followed AWS's newest image until now",
                ..
            }
        ));
        assert!(matches!(
            choose(Role::Bastion, "t4g.micro", None, false),
            Choice::Newest {
                parameter: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
                why: "a new stack"
            }
        ));
    }
}
