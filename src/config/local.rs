//! `[ssh]`, `[templates]` and `[local]`.

use super::*;

pub(super) fn read_ssh(root: &TableReader, config_dir: &Path) -> Option<SshConfig> {
    let default = || SshConfig {
        user: "ec2-user".into(),
        identity: None,
        known_hosts: PathBuf::from("~/.ssh/known_hosts"),
    };
    let Some(table) = root.table("ssh") else {
        return if root.has("ssh") {
            None
        } else {
            Some(default())
        };
    };
    let user = match table.string("user", "\"ec2-user\"") {
        Some(found)
            if !found.value.is_empty()
                && found
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) =>
        {
            Some(found.value)
        }
        Some(found) => {
            table.diagnostics().report(
                Some(&found.span),
                "ssh.user",
                format!("\"{}\" is not a user name", found.value),
                Some("write it like user = \"ec2-user\"".to_string()),
            );
            None
        }
        None if table.has("user") => None,
        None => Some("ec2-user".to_string()),
    };
    let identity = if table.has("identity") {
        read_existing_path(&table, "identity", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    let known_hosts = match table.string("known_hosts", "\"~/.ssh/known_hosts\"") {
        Some(found) => Some(PathBuf::from(found.value)),
        None if table.has("known_hosts") => None,
        None => Some(default().known_hosts),
    };
    table.finish();
    Some(SshConfig {
        user: user?,
        identity: identity?,
        known_hosts: known_hosts?,
    })
}

pub(super) fn read_templates(root: &TableReader, config_dir: &Path) -> Option<TemplateFiles> {
    let Some(table) = root.table("templates") else {
        return if root.has("templates") {
            None
        } else {
            Some(TemplateFiles::default())
        };
    };
    let network = if table.has("network") {
        read_existing_path(&table, "network", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    let platform = if table.has("platform") {
        read_existing_path(&table, "platform", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    table.finish();
    Some(TemplateFiles {
        network: network?,
        platform: platform?,
    })
}

pub(super) fn read_local(root: &TableReader, config_dir: &Path) -> Option<LocalConfig> {
    let table = root.table("local")?;
    let endpoint_url = table
        .string("endpoint_url", "\"http://127.0.0.1:4566\"")
        .and_then(|found| {
            if found.value.starts_with("http://") || found.value.starts_with("https://") {
                Some(found.value)
            } else {
                table.diagnostics().report(
                    Some(&found.span),
                    "local.endpoint_url",
                    format!("\"{}\" is not an http:// or https:// URL", found.value),
                    Some("write it like endpoint_url = \"http://127.0.0.1:4566\"".to_string()),
                );
                None
            }
        });
    let local = LocalConfig {
        endpoint_url,
        bastion: read_host_port(&table, "bastion"),
        database: read_host_port(&table, "database"),
        hosts: read_host_port(&table, "hosts"),
        ssh_user: table
            .string("ssh_user", "\"stackup\"")
            .map(|found| found.value),
        identity: table
            .has("identity")
            .then(|| read_existing_path(&table, "identity", None, config_dir, false))
            .flatten(),
        known_hosts: table
            .string("known_hosts", "\".local-cloud/ssh/known_hosts\"")
            .map(|found| resolve_path(config_dir, Path::new(&found.value))),
        ca_file: table
            .has("ca_file")
            .then(|| read_existing_path(&table, "ca_file", None, config_dir, false))
            .flatten(),
    };
    table.finish();
    Some(local)
}
