//! `update-resources <STACK> [--check]`: through the SSH tunnel, the database
//! with its encoding and collation, the application role, migrations, seeds.

use super::Context;
use crate::aws::cloudformation::CloudFormation;
use crate::aws::{ssm, Aws};
use crate::cli::UpdateResourcesArgs;
use crate::db::postgres::Login;
use crate::db::route::{Route, Tunnel};
use crate::error::{Failure, InputError, Problem};
use crate::ops::update_database::{provision, read_wanted, sanity_check};
use crate::validation;

pub async fn run(context: &Context, args: &UpdateResourcesArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let wanted = read_wanted(&stack)?;
    if args.check {
        let missing: Vec<Problem> = wanted
            .migrations
            .iter()
            .filter(|migration| migration.down.is_none())
            .map(|migration| {
                let dir = wanted.migrations_dir.clone().unwrap_or_default();
                Problem::new("has no down file, so the check cannot roll it back")
                    .in_file(dir.join(&migration.file_name))
                    .fix(format!(
                        "write {}",
                        migration.file_name.replace(".sql", ".down.sql")
                    ))
            })
            .collect();
        if !missing.is_empty() {
            return Err(InputError::new(missing).into());
        }
    }

    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let platform = CloudFormation::new(aws.cloudformation())
        .describe(&stack.platform_stack_name())
        .await?
        .ok_or_else(|| {
            Failure::new(format!(
                "the platform stack {} does not exist",
                stack.platform_stack_name()
            ))
            .hint(format!("run `stackup create-stack {}` first", stack.name))
        })?;
    let ssm_client = aws.ssm();
    let master_parameter = stack.master_password_parameter();
    let master_password = ssm::get_secret(&ssm_client, &master_parameter)
        .await?
        .ok_or_else(|| {
            Failure::new(format!(
                "the database master password {master_parameter} is missing from SSM"
            ))
            .hint(format!(
                "run `stackup create-stack {}` to create it",
                stack.name
            ))
        })?;
    let route = Route::resolve(&stack, &platform.outputs)?;
    printer.info(format!(
        "connecting to {}:{} through {}",
        route.database_host, route.database_port, route.ssh
    ));
    let tunnel = Tunnel::open(route).await?;
    let master = Login {
        user: stack.database.master_user.clone(),
        password: master_password.clone(),
        database: "postgres".to_string(),
    };
    let admin = tunnel.connect(&master).await?;

    let result = if args.check {
        sanity_check(
            &context.printer,
            context.global.yes,
            &stack,
            &wanted,
            &tunnel,
            &master,
        )
        .await
    } else {
        provision(
            &context.printer,
            context.global.yes,
            &stack,
            &wanted,
            &tunnel,
            &master,
            &admin.client,
            &ssm_client,
        )
        .await
    };
    drop(admin);
    tunnel.close().await;
    let report = result?;
    if printer.is_json() {
        printer.json(&report)
    } else {
        let mut text = String::new();
        if let Some(check) = &report.check {
            text.push_str(&format!("{check}\n"));
        } else {
            text.push_str(&format!(
                "database {}: {}\nrole {}: {}\n",
                report.database,
                if report.database_created {
                    "created"
                } else {
                    "exists"
                },
                report.role,
                if report.role_created {
                    "created"
                } else if report.role_password_reset {
                    "password reset"
                } else {
                    "exists"
                }
            ));
            if report.migrations_applied.is_empty() {
                text.push_str("migrations: none pending\n");
            } else {
                text.push_str(&format!(
                    "migrations applied: {}\n",
                    report.migrations_applied.join(", ")
                ));
            }
            text.push_str(&format!(
                "seeds: {}\n",
                if report.seeds_applied {
                    "applied"
                } else {
                    "unchanged"
                }
            ));
        }
        printer.data(&text)
    }
}
