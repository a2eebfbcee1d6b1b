//! SQL migrations: `NNN_name.sql`, with `NNN_name.down.sql` to reverse it.
//!
//! Files are read and checked before any connection (bad names and duplicate
//! versions are input errors). Pending migrations are applied in version
//! order, each in its own transaction together with its row in
//! `schema_migrations` (version, name, SHA-256 of the file), all under a
//! PostgreSQL advisory lock so that two operators never migrate at once. An
//! applied migration whose file changed is an error that names it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::error::{Failure, InputError, Problem};

/// The advisory lock every stackup migration takes ("stackup" in ASCII).
pub const LOCK_KEY: i64 = 0x0073_7461_636b_7570;

#[derive(Clone, Debug)]
pub struct Migration {
    pub version: u64,
    pub name: String,
    /// The file name, for messages.
    pub file_name: String,
    pub sql: String,
    pub checksum: String,
    pub down: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub version: u64,
    pub name: String,
    pub checksum: String,
}

pub fn checksum(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Split `001_create_accounts.sql` into (1, "create_accounts", is_down).
fn parse_name(file_name: &str) -> Option<(u64, String, bool)> {
    let (stem, down) = match file_name.strip_suffix(".down.sql") {
        Some(stem) => (stem, true),
        None => (file_name.strip_suffix(".sql")?, false),
    };
    let (digits, name) = stem.split_once('_')?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    Some((digits.parse().ok()?, name.to_string(), down))
}

/// Read every migration of a folder, in version order.
pub fn read_folder(dir: &Path) -> Result<Vec<Migration>, InputError> {
    let mut problems = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|error| {
        InputError::one(Problem::new(format!(
            "cannot read the migrations folder {}: {error}",
            dir.display()
        )))
    })?;
    let mut ups: BTreeMap<u64, Migration> = BTreeMap::new();
    let mut downs: BTreeMap<u64, (String, String, PathBuf)> = BTreeMap::new();
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    files.sort();
    for path in files {
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !file_name.ends_with(".sql") {
            continue;
        }
        let Some((version, name, is_down)) = parse_name(&file_name) else {
            problems.push(
                Problem::new("is not named like a migration")
                    .in_file(&path)
                    .fix("name migrations NNN_what_it_does.sql (and NNN_what_it_does.down.sql to reverse it), NNN being its version number"),
            );
            continue;
        };
        let sql = match std::fs::read_to_string(&path) {
            Ok(sql) => sql,
            Err(error) => {
                problems.push(Problem::new(format!("cannot read: {error}")).in_file(&path));
                continue;
            }
        };
        if sql.trim().is_empty() {
            problems.push(
                Problem::new("is empty")
                    .in_file(&path)
                    .fix("write the migration's SQL, or remove the file"),
            );
            continue;
        }
        if is_down {
            downs.insert(version, (file_name, sql, path));
            continue;
        }
        if let Some(existing) = ups.get(&version) {
            problems.push(
                Problem::new(format!(
                    "has the same version {version} as {}",
                    existing.file_name
                ))
                .in_file(&path)
                .fix("give every migration its own version number"),
            );
            continue;
        }
        ups.insert(
            version,
            Migration {
                version,
                name,
                file_name,
                checksum: checksum(&sql),
                sql,
                down: None,
            },
        );
    }
    // A gap is a migration lost (a bad merge, a file not committed) or a typo
    // in a number; the first version may be above 1 (an old history squashed).
    for (previous, next) in ups.values().zip(ups.values().skip(1)) {
        let expected = previous.version + 1;
        if next.version != expected {
            let width = next.file_name.find('_').unwrap_or_default();
            let renamed = format!("{expected:0width$}_{}.sql", next.name);
            problems.push(
                Problem::new(format!(
                    "is version {}, but version {expected} is missing (the migration before it is {})",
                    next.version, previous.file_name
                ))
                .in_file(dir.join(&next.file_name))
                .fix(format!(
                    "rename it {renamed}, or restore the missing migration; versions go up by one"
                )),
            );
        }
    }
    for (version, (file_name, sql, path)) in downs {
        match ups.get_mut(&version) {
            Some(migration) => migration.down = Some((file_name, sql)),
            None => problems.push(
                Problem::new(format!(
                    "reverses version {version}, which has no migration"
                ))
                .in_file(&path)
                .fix("rename it after its migration (NNN_name.down.sql), or remove it"),
            ),
        }
    }
    if problems.is_empty() {
        Ok(ups.into_values().collect())
    } else {
        Err(InputError::new(problems))
    }
}

/// The migrations still to apply; an applied one whose file changed is an error.
pub fn pending<'m>(
    migrations: &'m [Migration],
    applied: &[Applied],
    dir: &Path,
) -> Result<Vec<&'m Migration>, InputError> {
    let applied: BTreeMap<u64, &Applied> = applied.iter().map(|row| (row.version, row)).collect();
    let mut problems = Vec::new();
    let mut pending = Vec::new();
    for migration in migrations {
        match applied.get(&migration.version) {
            Some(row) if row.checksum != migration.checksum && row.name != migration.name => problems.push(
                Problem::new(format!(
                    "has number {} of a migration applied under another name, {:?}, with other contents (schema_migrations)",
                    migration.version, row.name
                ))
                .in_file(dir.join(&migration.file_name))
                .fix(format!(
                    "restore migration {} {:?} as it was applied and give this one the next free number",
                    row.version, row.name
                )),
            ),
            Some(row) if row.checksum != migration.checksum => problems.push(
                Problem::new(format!(
                    "was changed after it was applied (checksum {} in schema_migrations, {} on disk)",
                    &row.checksum[..12.min(row.checksum.len())],
                    &migration.checksum[..12]
                ))
                .in_file(dir.join(&migration.file_name))
                .fix("restore the applied version and put the change in a new migration"),
            ),
            Some(_) => {}
            None => pending.push(migration),
        }
    }
    if problems.is_empty() {
        Ok(pending)
    } else {
        Err(InputError::new(problems))
    }
}

pub async fn ensure_table(client: &Client) -> anyhow::Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                applied_by text NOT NULL DEFAULT current_user
            );
            CREATE TABLE IF NOT EXISTS stackup_seeds (
                id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );",
        )
        .await?;
    Ok(())
}

/// Applied migrations; none when the table does not exist yet.
pub async fn applied(client: &Client) -> anyhow::Result<Vec<Applied>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Applied {
            version: row.get::<_, i64>(0) as u64,
            name: row.get(1),
            checksum: row.get(2),
        })
        .collect())
}

/// Take the migration lock, waiting (with `on_wait` told once) up to `timeout`.
pub async fn lock(
    client: &Client,
    timeout: Duration,
    on_wait: impl FnOnce(),
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut on_wait = Some(on_wait);
    loop {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .await?
            .get(0);
        if taken {
            return Ok(());
        }
        if let Some(notify) = on_wait.take() {
            notify();
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::new(format!(
                "another operator has held the migration lock for {}",
                humantime::format_duration(timeout)
            ))
            .hint("try again when their update-resources has finished")
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn unlock(client: &Client) -> anyhow::Result<()> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    Ok(())
}

/// Apply one migration and record it, in one transaction.
pub async fn apply(client: &mut Client, migration: &Migration) -> anyhow::Result<()> {
    let transaction = client.transaction().await?;
    transaction
        .batch_execute(&migration.sql)
        .await
        .map_err(|error| {
            failed(
                format!(
                    "migration {} failed and was rolled back",
                    migration.file_name
                ),
                &error,
            )
            .hint(format!(
                "correct {} and run update-resources again; the migrations before it stay applied",
                migration.file_name
            ))
        })?;
    transaction
        .execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[
                &(migration.version as i64),
                &migration.name,
                &migration.checksum,
            ],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Reverse one migration with its down file and forget it, in one transaction.
pub async fn revert(client: &mut Client, migration: &Migration) -> anyhow::Result<()> {
    let (file_name, sql) = migration
        .down
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("{} has no down file", migration.file_name))?;
    let transaction = client.transaction().await?;
    transaction
        .batch_execute(sql)
        .await
        .map_err(|error| failed(format!("{file_name} failed and was rolled back"), &error))?;
    transaction
        .execute(
            "DELETE FROM schema_migrations WHERE version = $1",
            &[&(migration.version as i64)],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Whether the seeds file must run: after new migrations, or when it changed.
pub async fn seeds_checksum(client: &Client) -> anyhow::Result<Option<String>> {
    Ok(client
        .query_opt("SELECT checksum FROM stackup_seeds WHERE id = 1", &[])
        .await?
        .map(|row| row.get(0)))
}

/// Run the seeds file and record its checksum, in one transaction.
pub async fn seed(client: &mut Client, file_name: &str, sql: &str) -> anyhow::Result<()> {
    let transaction = client.transaction().await?;
    transaction.batch_execute(sql).await.map_err(|error| {
        failed(
            format!("seeds {file_name} failed and were rolled back"),
            &error,
        )
        .hint(format!(
            "correct {file_name} and run update-resources again"
        ))
    })?;
    transaction
        .execute(
            "INSERT INTO stackup_seeds (id, checksum) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()",
            &[&checksum(sql)],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// A database error with PostgreSQL's message and detail.
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            text
        }
        None => error.to_string(),
    }
}

/// What failed, with PostgreSQL's error and, as the failure's first hint, the
/// HINT the server gave with it (its own advice on what to change).
fn failed(what: String, error: &tokio_postgres::Error) -> Failure {
    let failure = Failure::new(format!("{what}: {}", describe(error)));
    match error.as_db_error().and_then(|db| db.hint()) {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, sql) in files {
            std::fs::write(dir.path().join(name), sql).expect("write");
        }
        dir
    }

    #[test]
    fn migrations_are_ordered_by_number_not_by_text() {
        let dir = folder(&[
            ("10_ten.sql", "SELECT 10;"),
            ("9_nine.sql", "SELECT 9;"),
            ("9_nine.down.sql", "SELECT -9;"),
            ("README.md", "not SQL"),
        ]);
        let migrations = read_folder(dir.path()).expect("valid");
        let versions: Vec<u64> = migrations
            .iter()
            .map(|migration| migration.version)
            .collect();
        assert_eq!(versions, vec![9, 10]);
        assert!(migrations[0].down.is_some());
        assert!(migrations[1].down.is_none());
    }

    #[test]
    fn bad_names_duplicates_and_orphan_downs_are_all_reported() {
        let dir = folder(&[
            ("1_a.sql", "SELECT 1;"),
            ("001_b.sql", "SELECT 1;"),
            ("create_users.sql", "SELECT 1;"),
            ("7_seven.down.sql", "SELECT 1;"),
            ("3_empty.sql", "  \n"),
        ]);
        let error = read_folder(dir.path()).expect_err("invalid");
        assert_eq!(error.problems.len(), 4, "{error}");
    }

    #[test]
    fn a_gap_in_the_versions_names_the_file_and_its_new_name() {
        let dir = folder(&[
            ("001_a.sql", "SELECT 1;"),
            ("002_b.sql", "SELECT 2;"),
            ("004_d.sql", "SELECT 4;"),
        ]);
        let error = read_folder(dir.path()).expect_err("a gap");
        assert_eq!(error.problems.len(), 1, "{error}");
        let problem = &error.problems[0];
        assert!(problem.message.contains("version 3 is missing"), "{error}");
        assert!(problem.message.contains("002_b.sql"), "{error}");
        assert!(
            problem
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("rename it 003_d.sql"),
            "{error}"
        );
        // Starting above 1 is fine: an old history may have been squashed.
        let dir = folder(&[("005_e.sql", "SELECT 5;"), ("006_f.sql", "SELECT 6;")]);
        assert_eq!(read_folder(dir.path()).expect("valid").len(), 2);
    }

    #[test]
    fn an_edited_applied_migration_is_named() {
        let dir = folder(&[("1_a.sql", "SELECT 1;"), ("2_b.sql", "SELECT 2;")]);
        let migrations = read_folder(dir.path()).expect("valid");
        let applied = vec![Applied {
            version: 1,
            name: "a".into(),
            checksum: checksum("SELECT 0;"),
        }];
        let error = pending(&migrations, &applied, dir.path()).expect_err("changed");
        assert!(error.to_string().contains("1_a.sql"));
        let applied = vec![Applied {
            version: 1,
            name: "a".into(),
            checksum: checksum("SELECT 1;"),
        }];
        let pending = pending(&migrations, &applied, dir.path()).expect("ok");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].file_name, "2_b.sql");
        // Another migration under an applied number: both names in the message.
        let applied = vec![Applied {
            version: 1,
            name: "create_accounts".into(),
            checksum: checksum("SELECT 0;"),
        }];
        let error = super::pending(&migrations, &applied, dir.path()).expect_err("renamed");
        let text = error.to_string();
        assert!(
            text.contains("1_a.sql") && text.contains("\"create_accounts\""),
            "{text}"
        );
    }
}
