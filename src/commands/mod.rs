//! One file per command: each orchestrates the library and prints through `ui`.

mod build;
mod cluster;
mod completions;
mod console;
mod create_stack;
mod delete_stack;
mod deploy_release;
mod logs;
mod rollback;
mod status;
mod tunnel;
mod update_resources;
mod validate;

use crate::aws::AwsOptions;
use crate::cli::{Cli, Command, GlobalArgs};
use crate::ui::Printer;

/// What every command gets: settings resolved once from flags and environment.
pub struct Context {
    pub global: GlobalArgs,
    pub printer: Printer,
    pub aws: AwsOptions,
}

impl Context {
    pub fn new(global: &GlobalArgs) -> Self {
        Context {
            printer: Printer::new(
                global.output,
                global.no_color,
                global.no_progress,
                global.verbose,
            ),
            aws: AwsOptions {
                profile: global.profile.clone(),
                region: global.region.clone(),
                endpoint_url: global.endpoint_url.clone(),
                destination: Default::default(),
            },
            global: global.clone(),
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let context = Context::new(&cli.global);
    let outcome = match cli.command {
        Command::Validate(args) => validate::run(&context, &args),
        Command::Build(args) => build::run(&context, &args).await,
        Command::CreateStack(args) => create_stack::run(&context, &args).await,
        Command::DeleteStack(args) => delete_stack::run(&context, &args).await,
        Command::UpdateResources(args) => update_resources::run(&context, &args).await,
        Command::Tunnel(args) => tunnel::run(&context, &args).await,
        Command::DeployRelease(args) => deploy_release::run(&context, &args).await,
        Command::Rollback(args) => rollback::run(&context, &args).await,
        Command::Status(args) => status::run(&context, &args).await,
        Command::Logs(args) => logs::run(&context, &args).await,
        Command::Console(args) => console::run(&context, &args).await,
        Command::Cluster(args) => cluster::run(&context, &args).await,
        Command::Completions(args) => completions::run(&context, &args),
    };
    outcome.map_err(|error| crate::aws::errors::noted_with(error, context.aws.destination.get()))
}
