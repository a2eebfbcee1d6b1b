//! `[database]`: names, roles, engine, storage, backups and TLS.

use super::*;

/// Server encodings PostgreSQL accepts for a database (client-only ones excluded).
pub(super) const POSTGRES_ENCODINGS: &[&str] = &[
    "UTF8",
    "SQL_ASCII",
    "EUC_JP",
    "EUC_CN",
    "EUC_KR",
    "EUC_TW",
    "EUC_JIS_2004",
    "LATIN1",
    "LATIN2",
    "LATIN3",
    "LATIN4",
    "LATIN5",
    "LATIN6",
    "LATIN7",
    "LATIN8",
    "LATIN9",
    "LATIN10",
    "ISO_8859_5",
    "ISO_8859_6",
    "ISO_8859_7",
    "ISO_8859_8",
    "KOI8R",
    "KOI8U",
    "WIN866",
    "WIN874",
    "WIN1250",
    "WIN1251",
    "WIN1252",
    "WIN1253",
    "WIN1254",
    "WIN1255",
    "WIN1256",
    "WIN1257",
    "WIN1258",
    "MULE_INTERNAL",
];

pub(super) const RESERVED_DATABASE_NAMES: &[&str] =
    &["postgres", "template0", "template1", "rdsadmin"];
pub(super) const RESERVED_ROLE_NAMES: &[&str] = &[
    "rdsadmin",
    "rdsrepladmin",
    "rds_superuser",
    "public",
    "pg_monitor",
];

pub(super) fn read_database(
    root: &TableReader,
    config_dir: &Path,
    local_ca: bool,
) -> Option<DatabaseConfig> {
    let Some(table) = root.table("database") else {
        if !root.has("database") {
            root.missing_table("database", "name = \"demo\"");
        }
        return None;
    };
    let diagnostics = table.diagnostics();
    let name = if table.has("name") {
        read_sql_identifier(&table, "name", "\"demo\"", RESERVED_DATABASE_NAMES)
    } else {
        table.missing("name", "\"demo\"");
        None
    };
    let master_user = if table.has("master_user") {
        read_sql_identifier(&table, "master_user", "\"postgres\"", RESERVED_ROLE_NAMES)
            .map(|found| found.value)
    } else {
        Some("postgres".to_string())
    };
    let app_user =
        match read_sql_identifier(&table, "app_user", "\"demo_app\"", RESERVED_ROLE_NAMES) {
            Some(found) => Some(found.value),
            None if table.has("app_user") => None,
            None => name.as_ref().map(|name| format!("{}_app", name.value)),
        };
    if let (Some(master), Some(app)) = (&master_user, &app_user) {
        if master == app {
            diagnostics.report(
                Some(table.span()),
                "database.app_user",
                "the application role must differ from the master user",
                Some("set app_user to another name, such as \"demo_app\"".to_string()),
            );
        }
    }
    let encoding = match table.string("encoding", "\"UTF8\"") {
        None if table.has("encoding") => None,
        None => Some("UTF8".to_string()),
        Some(found) => {
            let normalised = found.value.to_ascii_uppercase().replace(['-', '_'], "");
            let known = POSTGRES_ENCODINGS
                .iter()
                .find(|known| known.replace('_', "") == normalised);
            match known {
                Some(known) if **known == found.value => Some(found.value),
                Some(known) => {
                    diagnostics.report(
                        Some(&found.span),
                        "database.encoding",
                        format!("\"{}\" is spelt differently by PostgreSQL", found.value),
                        Some(format!("write encoding = \"{known}\"")),
                    );
                    None
                }
                None => {
                    diagnostics.report(
                        Some(&found.span),
                        "database.encoding",
                        format!("\"{}\" is not a PostgreSQL server encoding", found.value),
                        Some("write encoding = \"UTF8\" (or another server encoding PostgreSQL lists)".to_string()),
                    );
                    None
                }
            }
        }
    };
    let collation = match table.string("collation", "\"en_US.UTF-8\"") {
        None if table.has("collation") => None,
        None => Some("en_US.UTF-8".to_string()),
        Some(found) => {
            let valid = !found.value.is_empty()
                && found.value.len() <= 63
                && found
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
            if valid {
                Some(found.value)
            } else {
                diagnostics.report(
                    Some(&found.span),
                    "database.collation",
                    format!("\"{}\" is not a locale name", found.value),
                    Some(
                        "write a locale such as \"en_US.UTF-8\", \"C.UTF-8\" or \"C\"".to_string(),
                    ),
                );
                None
            }
        }
    };
    let engine_version = match table.string("engine_version", "\"16\"") {
        None if table.has("engine_version") => None,
        None => Some("16".to_string()),
        Some(found) => {
            let mut parts = found.value.split('.');
            let major = parts.next().and_then(|major| major.parse::<u32>().ok());
            let rest_ok = parts.all(|part| part.parse::<u32>().is_ok());
            match major {
                Some(major) if rest_ok && (13..=30).contains(&major) => Some(found.value),
                _ => {
                    diagnostics.report(
                        Some(&found.span),
                        "database.engine_version",
                        format!("\"{}\" is not a supported PostgreSQL version (13 or later)", found.value),
                        Some("write a major version such as engine_version = \"16\", or a full one such as \"16.4\"".to_string()),
                    );
                    None
                }
            }
        }
    };
    let instance_class = match table.string("instance_class", "\"db.t4g.micro\"") {
        None if table.has("instance_class") => None,
        None => Some("db.t4g.micro".to_string()),
        Some(found) if found.value.starts_with("db.") && found.value.split('.').count() == 3 => {
            Some(found.value)
        }
        Some(found) => {
            diagnostics.report(
                Some(&found.span),
                "database.instance_class",
                format!("\"{}\" is not an RDS instance class", found.value),
                Some("write it like instance_class = \"db.t4g.micro\"".to_string()),
            );
            None
        }
    };
    let allocated_storage = match table.integer("allocated_storage", 20..65537, "20") {
        Some(found) => Some(found.value as u32),
        None if table.has("allocated_storage") => None,
        None => Some(20),
    };
    let max_allocated_storage = match table.integer("max_allocated_storage", 21..65537, "100") {
        Some(found)
            if allocated_storage.is_some_and(|allocated| found.value <= i64::from(allocated)) =>
        {
            table.diagnostics().report(
                Some(&found.span),
                "database.max_allocated_storage",
                format!(
                    "{} is not above allocated_storage ({}): storage autoscaling needs room to grow",
                    found.value,
                    allocated_storage.unwrap_or_default()
                ),
                Some("set it above allocated_storage (RDS grows storage up to it when the database fills), or leave it out to keep the size fixed".to_string()),
            );
            None
        }
        Some(found) => Some(Some(found.value as u32)),
        None if table.has("max_allocated_storage") => None,
        None => Some(None),
    };
    let backup_retention_days = match table.integer("backup_retention_days", 1..36, "7") {
        Some(found) => Some(found.value as u32),
        None if table.has("backup_retention_days") => None,
        None => Some(crate::stacks::DATABASE_BACKUP_RETENTION_DAYS),
    };
    let multi_az = table
        .boolean("multi_az")
        .map(|found| found.value)
        .unwrap_or(false);
    let deletion_protection = table
        .boolean("deletion_protection")
        .map(|found| found.value)
        .unwrap_or(true);
    let migrations = if table.has("migrations") {
        read_existing_path(&table, "migrations", None, config_dir, true).map(Some)
    } else {
        Some(None)
    };
    let seeds = if table.has("seeds") {
        read_existing_path(&table, "seeds", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    // A CA bundle is given to verify the server with: ca_file alone turns
    // verification on (the one setting `validate` suggests on AWS).
    let default_sslmode = if table.has("ca_file") {
        SslMode::VerifyFull
    } else {
        SslMode::Require
    };
    let sslmode = read_choice(
        &table,
        "sslmode",
        &[
            ("require", SslMode::Require),
            ("verify-full", SslMode::VerifyFull),
        ],
        default_sslmode,
    );
    let ca_file = if table.has("ca_file") {
        read_existing_path(&table, "ca_file", None, config_dir, false).map(Some)
    } else {
        Some(None)
    };
    if sslmode == Some(SslMode::VerifyFull) && !table.has("ca_file") && !local_ca {
        diagnostics.report(
            Some(table.span()),
            "database.sslmode",
            "verify-full needs a CA bundle to verify the server against",
            Some("set ca_file to the RDS bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem), or use sslmode = \"require\"".to_string()),
        );
    }
    table.finish();
    Some(DatabaseConfig {
        name: name?.value,
        master_user: master_user?,
        app_user: app_user?,
        encoding: encoding?,
        collation: collation?,
        engine_version: engine_version?,
        instance_class: instance_class?,
        allocated_storage: allocated_storage?,
        max_allocated_storage: max_allocated_storage?,
        backup_retention_days: backup_retention_days?,
        multi_az,
        deletion_protection,
        migrations: migrations?,
        seeds: seeds?,
        sslmode: sslmode?,
        ca_file: ca_file?,
    })
}
