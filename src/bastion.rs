//! What a replaced bastion means for the operator.
//!
//! The bastion's address is an Elastic IP (the platform template's
//! `BastionAddress`), which CloudFormation moves to the new instance when it
//! replaces the bastion (a new image, a new instance type's architecture): the
//! address in known_hosts, in firewalls and in DNS stays right. The SSH host
//! key does not: a new instance makes new host keys at its first boot, so the
//! next tunnel, update-resources or console refuses it as CHANGED
//! (`db::ssh`), as it must. The plan says so before the update, with what to
//! do: check the new key against the instance's console output (EC2 user
//! guide "Get console output": cloud-init prints the host keys' fingerprints)
//! and replace the known_hosts line.

use std::collections::BTreeMap;

use crate::config::StackConfig;
use crate::replacement::Replacement;

/// The bastion's logical id in the platform template.
const BASTION: &str = "Bastion";

/// The plan's note when this update replaces the bastion; `None` otherwise.
/// `outputs` are the running platform stack's (its address, when it has one).
pub fn replacement_note(
    stack: &StackConfig,
    replaced: &[Replacement],
    outputs: Option<&BTreeMap<String, String>>,
) -> Option<String> {
    let replacement = replaced
        .iter()
        .find(|replacement| replacement.logical_id == BASTION)?;
    let address = outputs
        .and_then(|outputs| outputs.get("BastionPublicIp"))
        .map_or("<its address>", String::as_str);
    let known_hosts = stack.ssh.known_hosts.display();
    Some(format!(
        "the bastion is replaced ({}): it keeps its address {address} (an Elastic IP), but the new instance has new SSH host keys, \
         so the next tunnel, update-resources or console refuses it as CHANGED. Once it runs, compare the fingerprint that message shows \
         with the instance's console output (`aws ec2 get-console-output --instance-id <the new BastionInstanceId>`), then run \
         `ssh-keygen -R {address} -f {known_hosts}` and add the line the message prints",
        replacement.because.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> StackConfig {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        crate::config::load(dir, "local").expect("stacks/local.toml")
    }

    #[test]
    fn a_replaced_bastion_is_said_with_its_address_and_the_known_hosts_fix() {
        let platform: serde_json::Value =
            serde_json::from_str(include_str!("../stacks/platform.json")).expect("platform.json");
        let parameters = |ami: &str| {
            BTreeMap::from([
                ("BastionAmiId".to_string(), ami.to_string()),
                ("AppPort".to_string(), "4000".to_string()),
            ])
        };
        let replaced = crate::replacement::predict(
            &platform,
            &parameters("ami-old"),
            &platform,
            &parameters("ami-new"),
        );
        let ids: Vec<&str> = replaced.iter().map(|r| r.logical_id.as_str()).collect();
        assert_eq!(ids, vec!["Bastion"], "the address is not replaced with it");
        let outputs = BTreeMap::from([("BastionPublicIp".to_string(), "198.51.100.7".to_string())]);
        let note = replacement_note(&stack(), &replaced, Some(&outputs)).expect("a note");
        assert!(note.contains("keeps its address 198.51.100.7"), "{note}");
        assert!(
            note.contains("ImageId (parameter BastionAmiId: \"ami-old\" -> \"ami-new\")"),
            "{note}"
        );
        assert!(
            note.contains("ssh-keygen -R 198.51.100.7 -f .local-cloud/ssh/known_hosts"),
            "{note}"
        );
        assert_eq!(
            replacement_note(&stack(), &[], Some(&outputs)),
            None,
            "nothing to say when the bastion stays"
        );
    }
}
