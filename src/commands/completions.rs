//! `completions <SHELL>`: a completion script on stdout.

use clap::CommandFactory;

use super::Context;
use crate::cli::{Cli, CompletionsArgs};

pub fn run(context: &Context, args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "stackup", &mut script);
    context.printer.data(&String::from_utf8_lossy(&script))
}
