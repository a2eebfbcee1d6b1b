//! `logs <STACK>`: the stack's CloudWatch log group, every stream merged in
//! time order; `--follow` until Ctrl-C. The reading is `ops::logs`; this file
//! turns the arguments into a request and the events into lines.

use std::cell::Cell;

use super::Context;
use crate::aws::logs::LogEvent;
use crate::aws::Aws;
use crate::cli::LogsArgs;
use crate::error::{InputError, Interrupted};
use crate::ops::logs::{self, bounds};
use crate::rfc3339;
use crate::ui::push_escaped;
use crate::ui::Printer;
use crate::validation;

/// What has been written to stdout so far.
#[derive(Clone, Copy, Default)]
struct Written {
    events: u64,
    /// The newest timestamp written.
    newest: Option<i64>,
}

pub async fn run(context: &Context, args: &LogsArgs) -> anyhow::Result<()> {
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let (start, end) = bounds::range(
        &args.since,
        args.until.as_deref(),
        args.follow,
        logs::now_ms(),
    )?;
    for service in &args.service {
        stack.service_named(service).map_err(InputError::one)?;
    }
    let request = logs::Request {
        stack: &stack,
        services: &args.service,
        filter: args.filter.as_deref(),
        start,
        end,
        follow: args.follow,
    };
    // Ctrl-C from here on, at any await: the normal end of --follow (exit
    // 0), an interruption of a read (130). Either way what was printed is
    // whole lines: each write of lines happens between two awaits.
    let mut interrupt = crate::interrupt::listen()?;
    let written = Cell::new(Written::default());
    let mut out = |events: &[LogEvent]| {
        write_events(&context.printer, events)?;
        let so_far = written.get();
        written.set(Written {
            events: so_far.events + events.len() as u64,
            newest: events
                .iter()
                .map(|event| event.timestamp)
                .chain(so_far.newest)
                .max(),
        });
        Ok(())
    };
    let reading = async {
        let aws = Aws::load(&context.aws, Some(&stack)).await?;
        logs::read(&aws, &request, &mut out).await
    };
    let group = tokio::select! {
        group = reading => group?,
        _ = interrupt.recv() => {
            if args.follow {
                return Ok(());
            }
            return Err(Interrupted(interrupted_read(args, start, end, written.get())).into());
        }
    };
    if written.get().events == 0 {
        context.printer.info(no_events(&group, args, start, end));
    }
    Ok(())
}

/// One event on one line: time, stream, message.
fn format_line(event: &LogEvent, out: &mut String) {
    out.push_str(&rfc3339::millis(event.timestamp));
    out.push(' ');
    push_escaped(&event.stream, out);
    out.push(' ');
    // Line breaks at the end of a message are already gone (aws::logs).
    push_escaped(&event.message, out);
    out.push('\n');
}

fn write_events(printer: &Printer, events: &[LogEvent]) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut out = String::with_capacity(events.len() * 96);
    for event in events {
        if printer.is_json() {
            out.push_str(&serde_json::to_string(event)?);
            out.push('\n');
        } else {
            format_line(event, &mut out);
        }
    }
    printer.data(&out)
}

/// `logs` of the same stack, services and filter over `[start, end)`, as a
/// command to run: each word quoted as the shell reads it back.
fn logs_command(args: &LogsArgs, start: i64, end: i64) -> String {
    let mut words = vec!["stackup".to_owned(), "logs".to_owned(), args.stack.clone()];
    for service in &args.service {
        words.extend(["--service".to_owned(), service.clone()]);
    }
    if let Some(filter) = &args.filter {
        words.extend(["--filter".to_owned(), filter.clone()]);
    }
    words.extend([
        "--since".to_owned(),
        rfc3339::millis(start),
        "--until".to_owned(),
        rfc3339::millis(end),
    ]);
    // Only a NUL byte cannot be quoted, and no argument holds one.
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// What an interrupted read printed and the command that prints the rest.
/// The range is written in time order, each millisecond whole, so every event
/// up to the newest written was printed.
fn interrupted_read(args: &LogsArgs, start: i64, end: i64, written: Written) -> String {
    match written.newest {
        None => format!(
            "no event was printed; run `{}` to read the range",
            logs_command(args, start, end)
        ),
        Some(newest) if newest + 1 >= end => {
            format!("all {} events of the range were printed", written.events)
        }
        Some(newest) => format!(
            "{} events were printed, the last at {}; run `{}` for the rest",
            written.events,
            rfc3339::millis(newest),
            logs_command(args, newest + 1, end)
        ),
    }
}

/// On stderr when a range holds no event, so that an empty stdout is known
/// to be an answer.
fn no_events(group: &str, args: &LogsArgs, start: i64, end: i64) -> String {
    let mut narrowed: Vec<String> = args
        .service
        .iter()
        .map(|service| format!("--service {service}"))
        .collect();
    if let Some(filter) = &args.filter {
        narrowed.push(format!("--filter {filter}"));
    }
    let narrowed = if narrowed.is_empty() {
        String::new()
    } else {
        format!(" ({})", narrowed.join(", "))
    };
    format!(
        "no events in {group}{narrowed} between {} and {}",
        rfc3339::millis(start),
        rfc3339::millis(end)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs_args(since: &str, until: Option<&str>) -> LogsArgs {
        LogsArgs {
            stack: "local".into(),
            service: Vec::new(),
            since: since.into(),
            until: until.map(str::to_owned),
            filter: None,
            follow: false,
        }
    }

    #[test]
    fn the_default_since_is_clap_s() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["stackup", "logs", "local"]).expect("parses");
        match cli.command {
            crate::cli::Command::Logs(args) => assert_eq!(args.since, bounds::DEFAULT_SINCE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_interrupted_read_names_the_command_for_the_rest() {
        let mut args = logs_args("1h", None);
        args.service = vec!["web".into()];
        args.filter = Some("\"timed out\" isn't".into());
        let (start, end) = (1_767_225_600_000, 1_767_225_660_000);
        assert_eq!(
            interrupted_read(
                &args,
                start,
                end,
                Written {
                    events: 3,
                    newest: Some(start + 499)
                }
            ),
            "3 events were printed, the last at 2026-01-01T00:00:00.499Z; run \
             `stackup logs local --service web --filter \"\\\"timed out\\\" isn't\" \
             --since 2026-01-01T00:00:00.500Z --until 2026-01-01T00:01:00.000Z` for the rest"
        );
        assert!(interrupted_read(&args, start, end, Written::default())
            .starts_with("no event was printed; run `stackup logs local --service web"));
        assert_eq!(
            interrupted_read(
                &args,
                start,
                end,
                Written {
                    events: 7,
                    newest: Some(end - 1)
                }
            ),
            "all 7 events of the range were printed"
        );
    }

    /// The command for the rest, given to a real shell, reads back as the
    /// words it was made of, whatever the filter holds.
    #[test]
    fn the_command_for_the_rest_reads_back_in_a_shell_as_its_words() {
        let filters = [
            "ERROR",
            "\"timed out\" isn't",
            "a=b, 100% {x}",
            "$HOME `id` \\ !bang ^caret",
            "tab\there\nnewline",
            "café ✓",
            "'",
            "",
        ];
        for filter in filters {
            let mut args = logs_args("1h", None);
            args.service = vec!["web".into(), "worker-2".into()];
            args.filter = Some(filter.into());
            let command = logs_command(&args, 1_767_225_600_500, 1_767_225_660_000);
            // `printf '%s\0'` prints each word the shell read, ended by a NUL.
            let script = format!(
                "set -- {}; printf '%s\\0' \"$@\"",
                &command["stackup ".len()..]
            );
            let output = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .expect("sh runs");
            assert!(output.status.success(), "{command}");
            let read_back: Vec<String> = String::from_utf8(output.stdout)
                .expect("utf-8")
                .split_terminator('\0')
                .map(str::to_owned)
                .collect();
            assert_eq!(
                read_back,
                [
                    "logs",
                    "local",
                    "--service",
                    "web",
                    "--service",
                    "worker-2",
                    "--filter",
                    filter,
                    "--since",
                    "2026-01-01T00:00:00.500Z",
                    "--until",
                    "2026-01-01T00:01:00.000Z"
                ],
                "{command}"
            );
        }
    }

    #[test]
    fn an_empty_range_names_the_group_what_narrowed_it_and_the_range() {
        let mut args = logs_args("1h", None);
        assert_eq!(
            no_events("/stackup/demo", &args, 0, 1_000),
            "no events in /stackup/demo between 1970-01-01T00:00:00.000Z and 1970-01-01T00:00:01.000Z"
        );
        args.service = vec!["web".into()];
        args.filter = Some("ERROR".into());
        assert!(no_events("/stackup/demo", &args, 0, 1_000)
            .starts_with("no events in /stackup/demo (--service web, --filter ERROR) between "));
    }

    #[test]
    fn a_text_line_is_one_line_per_event_without_terminal_escapes() {
        let line = |message: &str| {
            let mut out = String::new();
            format_line(
                &LogEvent {
                    timestamp: 0,
                    stream: "web/web/1".into(),
                    message: message.into(),
                    id: "a".into(),
                },
                &mut out,
            );
            out
        };
        let prefix = "1970-01-01T00:00:00.000Z web/web/1 ";
        assert_eq!(line("plain"), format!("{prefix}plain\n"));
        assert_eq!(
            line("first\nsecond\r\nthird"),
            format!("{prefix}first\\nsecond\\r\\nthird\n")
        );
        assert_eq!(
            line("\u{1b}[31mred\u{1b}[0m\tdone"),
            format!("{prefix}\\u{{1b}}[31mred\\u{{1b}}[0m\tdone\n")
        );
        assert_eq!(
            line("c1 \u{9b}2J, bell \u{7}, del \u{7f}, caf\u{e9}"),
            format!("{prefix}c1 \\u{{9b}}2J, bell \\u{{7}}, del \\u{{7f}}, caf\u{e9}\n")
        );
        assert_eq!(line("ünïcödé ✓").lines().count(), 1);
    }
}
