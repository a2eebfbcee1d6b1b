//! `tunnel <STACK> [--local-port PORT]`: a local port forwarded to the
//! database through the bastion, until Ctrl-C.

use serde::Serialize;

use super::Context;
use crate::aws::cloudformation::CloudFormation;
use crate::aws::Aws;
use crate::cli::TunnelArgs;
use crate::config::SslMode;
use crate::db::route::{Route, Tunnel};
use crate::error::{Failure, InputError, Problem};
use crate::validation;

#[derive(Serialize)]
struct Listening {
    local_address: String,
    database: String,
    bastion: String,
    psql: String,
    password_parameter: String,
}

pub async fn run(context: &Context, args: &TunnelArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    // The port first: a port in use is the operator's to change, and says so
    // before any call.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.local_port))
        .await
        .map_err(|error| {
            InputError::one(
                Problem::new(format!(
                    "--local-port {}: cannot listen on 127.0.0.1:{}: {error}",
                    args.local_port, args.local_port
                ))
                .fix("choose another port with --local-port (0 picks a free one)"),
            )
        })?;
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
    let route = Route::resolve(&stack, &platform.outputs)?;
    let local = listener.local_addr()?;
    let mut tunnel = Tunnel::open(route.clone()).await?;

    // psql checks the chain (verify-ca): the host name it sees is 127.0.0.1,
    // not the database's, so verify-full cannot match through a forward.
    let ssl = match (stack.database.sslmode, &stack.database.ca_file) {
        (SslMode::VerifyFull, Some(ca_file)) => format!(
            "sslmode=verify-ca sslrootcert={}",
            std::path::absolute(stack.resolve(ca_file))?.display()
        ),
        _ => "sslmode=require".to_string(),
    };
    let password_parameter = stack.app_password_parameter();
    let listening = Listening {
        local_address: local.to_string(),
        database: format!("{}:{}", route.database_host, route.database_port),
        bastion: route.ssh.to_string(),
        psql: format!(
            "psql \"host=127.0.0.1 port={} dbname={} user={} {ssl}\"",
            local.port(),
            stack.database.name,
            stack.database.app_user
        ),
        password_parameter: password_parameter.clone(),
    };
    // Ctrl-C is the normal end; SIGTERM and SIGHUP (a service manager, a
    // dropped session) end it the same way, closing the SSH session;
    // listening before the address is printed, which is when a caller
    // may signal.
    let mut interrupt = crate::interrupt::listen()?;
    if printer.is_json() {
        printer.json_line(&listening)?;
    } else {
        printer.data(&format!("{}\n", listening.psql))?;
    }
    printer.info(format!(
        "forwarding {local} to {} through {}; Ctrl-C stops it",
        listening.database, listening.bastion
    ));
    // The aws CLI reads the same place stackup does: this region, this
    // endpoint (a local cloud), this profile.
    let mut reach = format!(" --region {}", aws.region());
    if let Some(endpoint) = aws.sdk_config().endpoint_url() {
        reach.push_str(&format!(" --endpoint-url {endpoint}"));
    }
    if let Some(profile) = &context.aws.profile {
        reach.push_str(&format!(" --profile {profile}"));
    }
    printer.info(format!(
        "the password is the SSM SecureString {password_parameter} (for example: PGPASSWORD=$(aws ssm get-parameter --with-decryption --name {password_parameter}{reach} --query Parameter.Value --output text))"
    ));

    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = interrupt.recv() => break,
        };
        let (mut client, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                printer.warn(format!("accepting a connection failed: {error}"));
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        if tunnel.is_closed() {
            printer.warn("the SSH session to the bastion ended; reconnecting");
            tunnel = Tunnel::open(route.clone()).await?;
        }
        let mut channel = match tunnel.open_stream().await {
            Ok(channel) => channel,
            Err(error) => {
                printer.warn(format!("connection from {peer} dropped: {error:#}"));
                continue;
            }
        };
        tracing::info!(%peer, "forwarding a connection");
        tokio::spawn(async move {
            if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut channel).await {
                tracing::debug!(%peer, %error, "forwarded connection ended");
            }
        });
    }
    printer.info("tunnel closed");
    tunnel.close().await;
    Ok(())
}
