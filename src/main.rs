//! Parse the command line, set up tracing, run the command, map the outcome to
//! an exit code (0 success, 1 failure, 2 bad usage or input, 130 interrupted).

// Everything reaches the user through `ui` (stdout for data, stderr lines
// that a closed stderr cannot turn into a panic).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use stackup::aws::AwsError;
use stackup::cli::{Cli, Command};
use stackup::error::{
    exit_status_of, ExitStatus, Failure, Hints, InputError, Interrupted, RemoteExit,
};
use stackup::ui::stderr_color;

fn init_tracing(verbose: u8, no_color: bool) {
    let default = match verbose {
        // The SDK's own warnings (each credential source that had nothing,
        // say) are noise next to the error stackup reports; -v shows them.
        0 => "error,stackup=warn",
        1 => "warn,stackup=debug",
        _ => "info,stackup=trace,aws_config=debug,aws_smithy_runtime=debug,russh=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_color(no_color))
        .event_format(Diagnostics {
            plain: verbose == 0,
            full: tracing_subscriber::fmt::format(),
        })
        .finish()
        .with(payload_cap())
        .init();
}

/// How a diagnostic reads. Without `-v` only warnings and errors are shown,
/// and they read as the printer's own (`warning: ...`, `error: ...`): a
/// retry notice is news for the operator, not a log record. With `-v` every
/// event carries its time, level and target.
struct Diagnostics {
    plain: bool,
    full: tracing_subscriber::fmt::format::Format,
}

impl<S, N> FormatEvent<S, N> for Diagnostics
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = *event.metadata().level();
        let label = match level {
            tracing::Level::ERROR => ("31", "error:"),
            tracing::Level::WARN => ("33", "warning:"),
            _ => ("", ""),
        };
        if !self.plain || label.1.is_empty() {
            return self.full.format_event(context, writer, event);
        }
        if writer.has_ansi_escapes() {
            write!(writer, "\x1b[{}m{}\x1b[0m ", label.0, label.1)?;
        } else {
            write!(writer, "{} ", label.1)?;
        }
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Whatever RUST_LOG asks for, libraries that log payloads stay below the
/// level where they do: the AWS SDK writes whole response bodies and parsed
/// outputs at trace (secrets included: CloudFormation parameters, anything a
/// service echoes), SigV4 its canonical requests; tokio-postgres writes every
/// statement at debug (CREATE ROLE carries the password verifier); russh
/// traces packets.
fn payload_cap() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("aws_smithy_runtime", LevelFilter::DEBUG)
        .with_target("aws_smithy_runtime_api", LevelFilter::DEBUG)
        .with_target("aws_sigv4", LevelFilter::DEBUG)
        .with_target("tokio_postgres", LevelFilter::INFO)
        .with_target("russh", LevelFilter::DEBUG)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version go to stdout and succeed; usage errors exit 2.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    init_tracing(cli.global.verbose, cli.global.no_color);
    if let Some(endpoint) = &cli.global.endpoint_url {
        // --endpoint-url sends every AWS call there, a profile's own STS call
        // (assuming its role) too: that provider reads only the environment.
        // Set while this is the only thread, before the runtime starts.
        std::env::set_var("AWS_ENDPOINT_URL", endpoint);
    }
    let runtime = match runtime_for(&cli.command) {
        Ok(runtime) => runtime,
        Err(error) => {
            stackup::ui::stderr_line(format_args!(
                "error: cannot start the async runtime: {error}"
            ));
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(stackup::commands::run(cli));
    // Background tasks (progress ticks, idle connections) must not delay the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(remote) = error.downcast_ref::<RemoteExit>() {
                // The remote command has said what it had to say.
                return ExitCode::from(remote.0);
            }
            let status = exit_status_of(&error);
            if status == ExitStatus::Success {
                return ExitCode::SUCCESS;
            }
            report(&error);
            ExitCode::from(status as u8)
        }
    }
}

/// A worker thread per core for the commands that work while they wait:
/// `logs` parses the pages of several slices at once, `tunnel` and `console`
/// relay both ways. The others only wait on AWS, SSH or PostgreSQL one answer
/// at a time and run on this thread: no worker threads to start and wake for
/// every answer, which is most of the CPU a deploy-release of its own spends.
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match command {
        Command::Logs(_) | Command::Tunnel(_) | Command::Console(_) => {
            tokio::runtime::Builder::new_multi_thread()
        }
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build()
}

fn report(error: &anyhow::Error) {
    if let Some(interrupted) = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Interrupted>())
    {
        // Not an error: the message says what was left and what to run next.
        stackup::ui::stderr_line(format_args!("interrupted: {interrupted}"));
        return;
    }
    if let Some(input) = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<InputError>())
    {
        for problem in &input.problems {
            stackup::ui::stderr_line(format_args!("error: {problem}"));
        }
        if input.problems.len() > 1 {
            stackup::ui::stderr_line(format_args!("{} problems found", input.problems.len()));
        }
        return;
    }
    // The message (after what was being done), then every hint of the
    // failure on its own line: hints are said once, at the end, one way.
    let mut message = String::new();
    let mut hints: Vec<String> = Vec::new();
    for (index, cause) in error.chain().enumerate() {
        if index > 0 {
            message.push_str(": ");
        }
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            message.push_str(&failure.message);
            hints.extend(failure.hints.iter().cloned());
        } else if let Some(aws) = cause.downcast_ref::<AwsError>() {
            message.push_str(&aws.message());
            hints.extend(aws.hints());
        } else {
            message.push_str(&cause.to_string());
        }
    }
    stackup::ui::stderr_line(format_args!("error: {message}{}", Hints(&hints)));
}
