//! Provisioning the database through the tunnel: the database with its
//! encoding and collation, the application role and its password in SSM,
//! the migrations under an advisory lock, the seeds; or, with `--check`,
//! only reading what is there. `update-resources` calls [`provision`] or
//! [`sanity_check`] and renders the [`Report`].

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::interrupt::Listener;
use futures_util::FutureExt;
use serde::Serialize;

use crate::aws::ssm;
use crate::config::StackConfig;
use crate::db::migrations::{self, Migration};
use crate::db::postgres::Login;
use crate::db::provision::{self, DatabaseState, RoleState};
use crate::db::route::Tunnel;
use crate::error::{InputError, Interrupted, Problem};
use crate::secret::Secret;
use crate::ui::{confirm, Printer};

/// Length of the generated application role password.
pub const APP_PASSWORD_LENGTH: usize = 40;
/// How long to wait for another operator's migration lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// What the stack file asks for, read from disk before any connection.
pub struct Wanted {
    pub migrations: Vec<Migration>,
    pub migrations_dir: Option<PathBuf>,
    pub seeds: Option<(String, String)>,
}

pub fn read_wanted(stack: &StackConfig) -> Result<Wanted, InputError> {
    let migrations_dir = stack
        .database
        .migrations
        .as_ref()
        .map(|dir| stack.resolve(dir));
    let migrations = match &migrations_dir {
        Some(dir) => migrations::read_folder(dir)?,
        None => Vec::new(),
    };
    let seeds = match &stack.database.seeds {
        Some(path) => {
            let resolved = stack.resolve(path);
            let sql = std::fs::read_to_string(&resolved).map_err(|error| {
                InputError::one(
                    Problem::new(format!("cannot read seeds: {error}")).in_file(&resolved),
                )
            })?;
            Some((path.display().to_string(), sql))
        }
        None => None,
    };
    Ok(Wanted {
        migrations,
        migrations_dir,
        seeds,
    })
}

#[derive(Default, Serialize)]
pub struct Report {
    pub stack: String,
    pub database: String,
    pub database_created: bool,
    pub role: String,
    pub role_created: bool,
    pub role_password_reset: bool,
    pub migrations_applied: Vec<String>,
    pub seeds_applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

/// The role's state as seen by logging in with the stored password.
pub enum RolePlan {
    Create(Secret),
    Reset(Secret, &'static str),
    Keep(Secret),
}

#[expect(
    clippy::too_many_arguments,
    reason = "the provisioning's whole context; called once"
)]
pub async fn provision(
    printer: &Printer,
    yes: bool,
    stack: &StackConfig,
    wanted: &Wanted,
    tunnel: &Tunnel,
    master: &Login,
    admin: &tokio_postgres::Client,
    ssm_client: &aws_sdk_ssm::Client,
) -> anyhow::Result<Report> {
    let database = &stack.database;
    let password_parameter = stack.app_password_parameter();
    let stored_password = ssm::get_secret(ssm_client, &password_parameter).await?;
    let role_state: Option<RoleState> = provision::role(admin, &database.app_user).await?;
    let database_state: Option<DatabaseState> = provision::database(admin, &database.name).await?;
    if let Some(state) = &database_state {
        check_database_settings(stack, state)?;
    }
    let app_login = |password: Secret| Login {
        user: database.app_user.clone(),
        password,
        database: database.name.clone(),
    };

    // Decide about the role: can the stored password log in?
    let role_plan = match (&role_state, stored_password) {
        (None, password) => {
            RolePlan::Create(password.unwrap_or_else(|| Secret::generate(APP_PASSWORD_LENGTH)))
        }
        (Some(_), None) => RolePlan::Reset(
            Secret::generate(APP_PASSWORD_LENGTH),
            "its password is not in SSM",
        ),
        (Some(state), Some(password)) if state.is_too_powerful() || !state.can_login => {
            RolePlan::Reset(
                password,
                "it has more powers than owning its database, or cannot log in",
            )
        }
        (Some(_), Some(password)) if database_state.is_some() => {
            match tunnel.connect(&app_login(password.clone())).await {
                Ok(_) => RolePlan::Keep(password),
                Err(_) => RolePlan::Reset(password, "the password in SSM was refused"),
            }
        }
        (Some(_), Some(password)) => RolePlan::Keep(password),
    };

    // Which migrations are pending (read as the master user: the role may not work yet).
    let applied = match &database_state {
        Some(_) => {
            let reader = tunnel
                .connect(&Login {
                    database: database.name.clone(),
                    ..master.clone()
                })
                .await?;
            migrations::applied(&reader.client).await?
        }
        None => Vec::new(),
    };
    let dir = wanted.migrations_dir.clone().unwrap_or_default();
    let pending = migrations::pending(&wanted.migrations, &applied, &dir)?;
    let seeds_due = match (&wanted.seeds, &database_state) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some((_, sql)), Some(_)) => {
            !pending.is_empty() || {
                let reader = tunnel
                    .connect(&Login {
                        database: database.name.clone(),
                        ..master.clone()
                    })
                    .await?;
                let table_exists: bool = reader
                    .client
                    .query_one("SELECT to_regclass('stackup_seeds') IS NOT NULL", &[])
                    .await?
                    .get(0);
                !table_exists
                    || migrations::seeds_checksum(&reader.client).await?
                        != Some(migrations::checksum(sql))
            }
        }
    };
    let close_database = database_state
        .as_ref()
        .is_some_and(|state| state.public_can_connect);

    // Show the plan.
    let mut steps = Vec::new();
    match &database_state {
        None => steps.push(format!(
            "create database {} ({}, collation {}, from template0, owned by {})",
            database.name, database.encoding, database.collation, database.app_user
        )),
        Some(_) if close_database => steps.push(format!(
            "revoke PUBLIC access to database {}",
            database.name
        )),
        Some(_) => {}
    }
    match &role_plan {
        RolePlan::Create(_) => steps.push(format!(
            "create role {} (LOGIN only: no superuser, createdb or createrole), password in SSM {password_parameter}",
            database.app_user
        )),
        RolePlan::Reset(_, why) => steps.push(format!(
            "reset role {} to LOGIN only with the password in SSM {password_parameter} ({why})",
            database.app_user
        )),
        RolePlan::Keep(_) => {}
    }
    for migration in &pending {
        steps.push(format!("apply migration {}", migration.file_name));
    }
    if seeds_due {
        if let Some((file, _)) = &wanted.seeds {
            steps.push(format!("run seeds {file}"));
        }
    }
    let mut report = Report {
        stack: stack.name.clone(),
        database: database.name.clone(),
        role: database.app_user.clone(),
        ..Default::default()
    };
    if steps.is_empty() {
        printer.success(format!(
            "nothing to do: database {}, role {}, {} migration(s) and seeds are up to date",
            database.name,
            database.app_user,
            wanted.migrations.len()
        ));
        return Ok(report);
    }
    printer.info(format!("update-resources {} will:", stack.stack_id()));
    for step in &steps {
        printer.info(format!("  - {step}"));
    }
    if !confirm("Make these changes", yes).await? {
        anyhow::bail!("cancelled: nothing was changed");
    }

    // The role first (its password is stored before it is used), then the database.
    let app_password = match role_plan {
        RolePlan::Create(password) => {
            let password = ssm::create_secret(
                ssm_client,
                &password_parameter,
                password,
                "PostgreSQL application role password (stackup)",
                &crate::secrets_key::key_alias(stack),
            )
            .await?;
            provision::create_role(admin, &database.app_user, &password).await?;
            printer.success(format!("created role {}", database.app_user));
            report.role_created = true;
            password
        }
        RolePlan::Reset(password, _) => {
            ssm::put_secret(
                ssm_client,
                &password_parameter,
                &password,
                "PostgreSQL application role password (stackup)",
                &crate::secrets_key::key_alias(stack),
            )
            .await?;
            provision::reset_role(admin, &database.app_user, &password).await?;
            printer.success(format!("reset role {}", database.app_user));
            report.role_password_reset = true;
            password
        }
        RolePlan::Keep(password) => password,
    };
    if database_state.is_none() {
        provision::create_database(
            admin,
            &database.name,
            &database.app_user,
            &database.encoding,
            &database.collation,
        )
        .await
        .map_err(|error| explain_create_database(stack, error))?;
        printer.success(format!("created database {}", database.name));
        report.database_created = true;
    } else if close_database {
        provision::close_to_public(admin, &database.name, &database.app_user).await?;
    }

    // Migrations and seeds, as the application role, under the advisory lock.
    let mut app = tunnel.connect(&app_login(app_password)).await?;
    migrations::lock(&app.client, LOCK_TIMEOUT, || {
        printer.info(
            "waiting for the migration lock: another update-resources is migrating this database",
        )
    })
    .await?;
    let outcome = migrate(printer, yes, tunnel, &mut app, wanted, &dir, &mut report).await;
    if !tunnel.is_closed() {
        let _ = migrations::unlock(&app.client).await;
    }
    outcome?;
    Ok(report)
}

pub async fn migrate(
    printer: &Printer,
    _yes: bool,
    tunnel: &Tunnel,
    app: &mut crate::db::postgres::Connected,
    wanted: &Wanted,
    dir: &std::path::Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    // Ctrl-C from here on stops between two steps, or cancels the one running.
    let mut interrupt = crate::interrupt::listen()?;
    migrations::ensure_table(&app.client).await?;
    // Read again under the lock: another operator may have migrated meanwhile.
    let applied = migrations::applied(&app.client).await?;
    let pending = migrations::pending(&wanted.migrations, &applied, dir)?;
    // Where the database stands, for the message of a run that stops.
    let mut at = applied.iter().max_by_key(|row| row.version).map(|row| {
        wanted
            .migrations
            .iter()
            .find(|migration| migration.version == row.version)
            .map(|migration| migration.file_name.clone())
            .unwrap_or_else(|| format!("version {} ({})", row.version, row.name))
    });
    let again = format!(
        "Run `stackup update-resources {}` again to continue",
        report.stack
    );
    let database_at = |at: &Option<String>| match at {
        Some(last) => format!("the database is at {last}"),
        None => "the database has no migration applied".to_string(),
    };
    for migration in pending {
        let file = &migration.file_name;
        if interrupt.recv().now_or_never().is_some() {
            return Err(Interrupted(format!(
                "stopped before {file}, which was not started; {}. {again}",
                database_at(&at)
            ))
            .into());
        }
        printer.info(format!("applying {file}"));
        let cancel = app.cancel.clone();
        let outcome = guarded(
            tunnel,
            &mut interrupt,
            &cancel,
            file,
            migrations::apply(&mut app.client, migration),
        )
        .await?;
        match outcome {
            Guarded::Done(()) => {}
            Guarded::RolledBack => {
                return Err(Interrupted(format!(
                    "Ctrl-C during {file}: it was cancelled on the server and its transaction rolled back, so {file} was not applied and {}. {again}",
                    database_at(&at)
                ))
                .into())
            }
            Guarded::CommittedFirst(()) => {
                report.migrations_applied.push(file.clone());
                return Err(Interrupted(format!(
                    "Ctrl-C during {file}, which had committed before it could be stopped: the database is at {file}. {again}"
                ))
                .into());
            }
        }
        printer.success(format!("applied {file}"));
        report.migrations_applied.push(file.clone());
        at = Some(file.clone());
    }
    if let Some((file, sql)) = &wanted.seeds {
        let current = migrations::seeds_checksum(&app.client).await?;
        if !report.migrations_applied.is_empty() || current != Some(migrations::checksum(sql)) {
            if interrupt.recv().now_or_never().is_some() {
                return Err(Interrupted(format!(
                    "stopped before the seeds {file}, which were not run; every migration is applied ({}). {again}",
                    database_at(&at)
                ))
                .into());
            }
            let cancel = app.cancel.clone();
            let outcome = guarded(
                tunnel,
                &mut interrupt,
                &cancel,
                file,
                migrations::seed(&mut app.client, file, sql),
            )
            .await?;
            match outcome {
                Guarded::Done(()) | Guarded::CommittedFirst(()) => {}
                Guarded::RolledBack => {
                    return Err(Interrupted(format!(
                        "Ctrl-C during the seeds {file}: they were cancelled on the server and their transaction rolled back; every migration is applied ({}). {again}",
                        database_at(&at)
                    ))
                    .into())
                }
            }
            printer.success(format!("ran seeds {file}"));
            report.seeds_applied = true;
        }
    }
    Ok(())
}

/// How a guarded step ended.
pub enum Guarded<T> {
    Done(T),
    /// Ctrl-C: the step was cancelled on the server; its transaction rolled back.
    RolledBack,
    /// Ctrl-C came as the step committed: it is done.
    CommittedFirst(T),
}

/// How long a cancelled step may take to report that it stopped.
pub const CANCEL_WAIT: Duration = Duration::from_secs(15);

/// Run database work (one transaction). If the SSH link dies, cancel the
/// statement on the server over a fresh channel, so that its transaction
/// rolls back now instead of whenever the server notices. If the operator
/// presses Ctrl-C, cancel it over the live link and wait for the work to say
/// how it ended: rolled back, or committed just before the cancel arrived.
pub async fn guarded<T>(
    tunnel: &Tunnel,
    interrupt: &mut Listener,
    cancel: &tokio_postgres::CancelToken,
    what: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Guarded<T>> {
    let link_died = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if tunnel.is_closed() {
                return;
            }
        }
    };
    let mut work = std::pin::pin!(work);
    let reason = tokio::select! {
        result = &mut work => {
            match result {
                Err(error) if tunnel.is_closed() => {
                    tracing::debug!(%error, "work failed with the link down");
                    "the SSH link to the bastion died"
                }
                other => return other.map(Guarded::Done),
            }
        }
        _ = link_died => "the SSH link to the bastion died",
        _ = interrupt.recv() => {
            tunnel.cancel(cancel).await.map_err(|error| {
                anyhow::Error::new(Interrupted(format!(
                    "Ctrl-C during {what}: cancelling it on the server failed ({error:#}); PostgreSQL rolls its transaction back when it notices the lost connection, and schema_migrations lists only what was committed. Run update-resources again to continue"
                )))
            })?;
            return match tokio::time::timeout(CANCEL_WAIT, work).await {
                Ok(Ok(value)) => Ok(Guarded::CommittedFirst(value)),
                Ok(Err(error)) => {
                    tracing::debug!(error = format!("{error:#}"), "the cancelled step ended");
                    Ok(Guarded::RolledBack)
                }
                Err(_) => Err(Interrupted(format!(
                    "Ctrl-C during {what}: it was cancelled on the server but did not stop within {}; PostgreSQL rolls its transaction back when the connection closes, and schema_migrations lists only what was committed. Run update-resources again to continue",
                    humantime::format_duration(CANCEL_WAIT)
                ))
                .into()),
            };
        }
    };
    let cancelled = match tunnel.cancel(cancel).await {
        Ok(()) => "it was cancelled on the server, so its transaction was rolled back".to_string(),
        Err(error) => format!("cancelling it on the server failed ({error:#}); PostgreSQL rolls its transaction back when it notices the lost connection"),
    };
    Err(crate::error::Failure::new(format!(
        "{reason} during {what}: {cancelled}. schema_migrations lists only what was committed"
    ))
    .hint("run update-resources again to continue")
    .into())
}

pub fn check_database_settings(stack: &StackConfig, state: &DatabaseState) -> anyhow::Result<()> {
    let database = &stack.database;
    let same_collation =
        normalise_locale(&state.collation) == normalise_locale(&database.collation);
    if !state.encoding.eq_ignore_ascii_case(&database.encoding) || !same_collation {
        return Err(InputError::one(
            Problem::new(format!(
                "database {} exists with encoding {} and collation {}, but the stack file asks for {} and {}; PostgreSQL cannot change them in place",
                database.name, state.encoding, state.collation, database.encoding, database.collation
            ))
            .in_file(&stack.file)
            .at_key("database.encoding")
            .fix("set encoding and collation to the existing values, or dump, recreate and restore the database"),
        )
        .into());
    }
    Ok(())
}

/// `C.UTF-8` and `C.utf8` name the same locale.
pub fn normalise_locale(locale: &str) -> String {
    locale.to_ascii_lowercase().replace("utf-8", "utf8")
}

pub fn explain_create_database(stack: &StackConfig, error: anyhow::Error) -> anyhow::Error {
    let text = format!("{error:#}");
    if text.contains("locale") || text.contains("collation") {
        return InputError::one(
            Problem::new(format!(
                "the database server does not know collation {}: {text}",
                stack.database.collation
            ))
            .in_file(&stack.file)
            .at_key("database.collation")
            .fix("use a locale the server has, such as \"en_US.UTF-8\" on RDS or \"C.UTF-8\""),
        )
        .into();
    }
    error.context(format!("creating database {}", stack.database.name))
}

/// The sanity cycle on a throwaway database: create, migrate, seed, roll back
/// every migration, migrate, seed, drop (also when a step fails).
pub async fn sanity_check(
    printer: &Printer,
    _yes: bool,
    stack: &StackConfig,
    wanted: &Wanted,
    tunnel: &Tunnel,
    master: &Login,
) -> anyhow::Result<Report> {
    let database = &stack.database;
    let suffix: String = Secret::generate(8).expose().to_ascii_lowercase();
    let throwaway = format!("{}_check_{suffix}", database.name);
    let admin = tunnel.connect(master).await?;
    printer.info(format!("sanity check on throwaway database {throwaway}"));
    provision::create_database(
        &admin.client,
        &throwaway,
        &master.user,
        &database.encoding,
        &database.collation,
    )
    .await
    .map_err(|error| explain_create_database(stack, error))?;
    let cycle = async {
        let mut connection = tunnel
            .connect(&Login {
                database: throwaway.clone(),
                ..master.clone()
            })
            .await?;
        migrations::ensure_table(&connection.client).await?;
        let seeds = wanted.seeds.as_ref();
        let step = |name: &str| printer.info(format!("  {name}"));
        for round in ["migrate", "migrate again"] {
            step(round);
            for migration in &wanted.migrations {
                migrations::apply(&mut connection.client, migration).await?;
            }
            if let Some((file, sql)) = seeds {
                step("seed");
                migrations::seed(&mut connection.client, file, sql).await?;
            }
            if round == "migrate" {
                step("roll back every migration");
                for migration in wanted.migrations.iter().rev() {
                    migrations::revert(&mut connection.client, migration).await?;
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    let dropped = provision::drop_database(&admin.client, &throwaway).await;
    cycle?;
    dropped?;
    let summary = format!(
        "sanity check passed: {} migration(s) applied, rolled back and applied again, seeds run twice, on {throwaway} (dropped)",
        wanted.migrations.len()
    );
    printer.success(&summary);
    Ok(Report {
        stack: stack.name.clone(),
        database: throwaway,
        role: master.user.clone(),
        migrations_applied: wanted
            .migrations
            .iter()
            .map(|migration| migration.file_name.clone())
            .collect(),
        seeds_applied: wanted.seeds.is_some(),
        check: Some(summary),
        ..Default::default()
    })
}
